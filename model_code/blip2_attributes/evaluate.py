"""Attribute accuracy per attribute on product photos, ``not visible`` truths counted apart.

Reads ``styles.csv`` + images (or ``qa.jsonl``: :mod:`common.datasets`); every photo's questions go through the
served handler in one request (``input_fn`` → ``predict_fn``), and an answer counts when it is the true value
(case and punctuation aside).

    python model_code/blip2_attributes/evaluate.py --model DIR --data DIR
"""

from __future__ import annotations

import base64
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from common.datasets import AttributeQuestion, read_attribute_questions
from common.evaluation import attribute_scores, write_json
from common.training import help_field, parse


@dataclass
class EvaluateArguments:
    """Evaluate a BLIP-2 attribute model on styles.csv + images."""

    model: str = help_field("", help="weights folder (what model_fn loads)")
    data: Path = field(default=Path("."), metadata={"help": "folder with styles.csv (or qa.jsonl)"})
    out: Path | None = field(default=None, metadata={"help": "write the figures as JSON here"})


def evaluate(model: str | Path, data: Path) -> dict[str, Any]:
    """Attribute accuracy of the weights in ``model`` on ``data``."""
    from blip2_attributes import inference

    answerer = inference.model_fn(str(model))
    by_image: dict[Path, list[AttributeQuestion]] = defaultdict(list)
    for question in read_attribute_questions(data):
        by_image[question.image].append(question)
    rows = []
    examples = []
    for image, questions in by_image.items():
        body = json.dumps(
            {
                "image": base64.b64encode(image.read_bytes()).decode(),
                "questions": [q.question for q in questions],
                "max_new_tokens": 8,
            }
        )
        said = inference.predict_fn(inference.input_fn(body, "application/json"), answerer).answers
        rows += [(q.attribute, q.answer, a) for q, a in zip(questions, said, strict=True)]
        if len(examples) < 6:
            examples += [
                {"question": q.question, "truth": q.answer, "answer": a}
                for q, a in zip(questions[:2], said, strict=False)
            ]
    figures = attribute_scores(rows)
    figures["photos"] = len(by_image)
    figures["examples"] = examples[:6]
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(EvaluateArguments, argv)
    figures = evaluate(args.model, args.data)
    print(json.dumps(figures))
    if args.out:
        write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
