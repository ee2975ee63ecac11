"""Label accuracy on labelled hotel photos, with whole-label matching, and the confusion matrix (PNG).

Reads ``messages.jsonl`` (or ``labels.jsonl``: :mod:`common.datasets`); each photo is asked its row's prompt
through the served handler (``input_fn`` → ``predict_fn``, the chat-completions request the hotel job sends),
and the answer counts when it names exactly the true label (:func:`common.evaluation.match_label`).

    python model_code/llava/evaluate.py --model DIR --data DIR [--out DIR]
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`

from common.datasets import read_labelled_photos
from common.evaluation import label_scores, match_label, plot_confusion, write_json
from common.training import help_field, parse

QUESTION = "What does this hotel photo show?"
BATCH = 16


@dataclass
class EvaluateArguments:
    """Evaluate a LLaVA model on labelled hotel photos."""

    model: str = help_field("", help="weights folder (what model_fn loads)")
    data: Path = field(default=Path("."), metadata={"help": "folder with messages.jsonl or labels.jsonl"})
    out: Path | None = field(default=None, metadata={"help": "write metrics.json and confusion.png here"})
    max_tokens: int = help_field(24, help="tokens generated per answer")


def _request(image: Path, prompt: str, max_tokens: int) -> dict[str, Any]:
    uri = "data:image/jpeg;base64," + base64.b64encode(image.read_bytes()).decode()
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": uri}},
                    {"type": "text", "text": prompt},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def evaluate(model: str | Path, data: Path, out: Path | None = None, max_tokens: int = 24) -> dict[str, Any]:
    """Label accuracy of the weights in ``model`` on the photos of ``data`` (and the confusion PNG in ``out``)."""
    from llava import inference

    vlm = inference.model_fn(str(model))
    photos = read_labelled_photos(data)
    labels = sorted({p.label for p in photos})
    said: list[str] = []
    for start in range(0, len(photos), BATCH):
        chunk = photos[start : start + BATCH]
        body = json.dumps({"requests": [_request(p.image, p.prompt or QUESTION, max_tokens) for p in chunk]})
        prediction = inference.predict_fn(inference.input_fn(body, "application/json"), vlm)
        answer, _ = inference.output_fn(prediction, "application/json")
        said += [c["choices"][0]["message"]["content"] for c in json.loads(answer)["responses"]]
    scores = label_scores(
        [(p.label, match_label(a, labels)) for p, a in zip(photos, said, strict=True)], labels
    )
    figures: dict[str, Any] = {**scores.figures(), "photos": len(photos), "labels": len(labels)}
    figures["chance_label_accuracy"] = round(
        max(sum(p.label == lab for p in photos) for lab in labels) / len(photos), 4
    )
    figures["confusion"] = {"labels": scores.labels, "matrix": scores.matrix}
    figures["examples"] = [
        {"label": p.label, "answer": a} for p, a in list(zip(photos, said, strict=True))[:5]
    ]
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        plot_confusion(Path(out) / "confusion.png", scores, "hotel photo labels")
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(EvaluateArguments, argv)
    figures = evaluate(args.model, args.data, args.out, args.max_tokens)
    print(json.dumps({k: v for k, v in figures.items() if k != "confusion"}))
    if args.out:
        write_json(Path(args.out) / "metrics.json", figures)
    return figures


if __name__ == "__main__":
    main()
