"""Detection quality on box annotations: recall at IoU 0.5 of the best detections and the top box's IoU.

Reads what ``train.py`` reads (``annotations.jsonl``, or the search layout's catalog and street boxes) and runs
the photos through the endpoint's ``input_fn`` → ``predict_fn`` with the service's prompt and thresholds.
Photos without an item (close-ups) count apart: the share for which nothing was detected.

    python model_code/grounding_dino/evaluate.py --model DIR --data DIR [--prompt "clothes . pants . hats . shoes"]
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from common.evaluation import write_json
from common.training import help_field, parse

BATCH = 16


@dataclass
class EvaluateArguments:
    """Evaluate a grounding_dino model on box annotations."""

    model: str = help_field("", help="weights folder (what model_fn loads)")
    data: Path = field(default=Path("."), metadata={"help": "annotations.jsonl folder or a search set"})
    prompt: str = help_field("clothes . pants . hats . shoes", help="the detection prompt")
    box_threshold: float = help_field(0.3, help="the service's box threshold")
    limit: int = help_field(400, help="photos evaluated at most (spread evenly over the set)")
    out: Path | None = field(default=None, metadata={"help": "write the figures as JSON here"})


def evaluate_detector(
    detector: Any, rows: Sequence[dict[str, Any]], prompt: str, box_threshold: float
) -> dict[str, Any]:
    from grounding_dino.train import detection_scores, predict

    predictions = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        predictions += predict(detector, [row["image"] for row in chunk], prompt, box_threshold)
    figures = detection_scores(predictions, rows)
    found = [len(p) for p, r in zip(predictions, rows, strict=True) if r["boxes"]]
    figures["detections_per_photo"] = round(sum(found) / max(1, len(found)), 2)
    figures["photos"] = len(rows)
    return figures


def evaluate(
    model: str | Path,
    data: Path,
    prompt: str = EvaluateArguments.prompt,
    box_threshold: float = 0.3,
    limit: int = 400,
) -> dict[str, Any]:
    """The figures of the weights in ``model`` on the annotated photos of ``data`` (at most ``limit``)."""
    from grounding_dino.inference import model_fn
    from grounding_dino.train import read_annotations

    rows = read_annotations(data)
    rows = rows[:: max(1, math.ceil(len(rows) / limit))]
    return evaluate_detector(model_fn(str(model)), rows, prompt, box_threshold)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(EvaluateArguments, argv)
    figures = evaluate(args.model, args.data, args.prompt, args.box_threshold, args.limit)
    print(json.dumps(figures))
    if args.out:
        write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
