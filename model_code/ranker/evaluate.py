"""Cover quality on hotels with a known cover: precision / recall / F1 of the chosen cover and rank@1..5.

Reads ``hotels.jsonl`` (:mod:`common.datasets`); every hotel's photos are scored against its text by the
served module (``model_fn``'s ranker), the best-scored photo is the predicted cover.

    python model_code/ranker/evaluate.py --model DIR --data DIR
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder, for the served module

from common.datasets import read_hotels
from common.evaluation import cover_scores, write_json
from common.training import help_field, parse


@dataclass
class EvaluateArguments:
    """Evaluate a cover ranker on hotels.jsonl."""

    model: str = help_field("", help="ranker folder (what model_fn loads)")
    data: Path = field(default=Path("."), metadata={"help": "folder with hotels.jsonl"})
    out: Path | None = field(default=None, metadata={"help": "write the figures as JSON here"})


def evaluate(model: str | Path, data: Path) -> dict[str, Any]:
    """The cover figures of the ranker in ``model`` on the hotels of ``data``."""
    from model import CoverRanker
    from ranker.train import hotel_scores

    from common.runtime import configure_torch, device

    configure_torch()
    ranker = CoverRanker.from_pretrained(model).to(device()).eval()
    hotels, _ = read_hotels(data)
    scored = hotel_scores(ranker, hotels)
    figures: dict[str, Any] = cover_scores(scored)
    photos = sum(len(s) for s, _ in scored)
    figures |= {
        "hotels": len(hotels),
        "photos": photos,
        "chance_rank_at_1": round(len(hotels) / max(1, photos), 4),
    }
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
