"""Calibrating "no good match": the cosine score under which a search hit is flagged ``confident: false``.

A fixed number means different things for different models and catalogs, so the threshold is measured:
photos whose items are known (the demo's ``street/truth.json``, or an operator's own labelled set in that
format) are searched with their true box, and the top product is right or wrong. The threshold kept is the
lowest score at which the confident hits are still right at least ``min_precision`` of the time. It is
stored in the bucket (``config/search-calibration.json``), so the local server and the Lambdas read the same
value at start; ``VITRINE_SEARCH_MATCH_THRESHOLD`` overrides it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vitrine.errors import BadInput, NotFound
from vitrine.kernel.ports import ObjectStore
from vitrine.search.visual_search import VisualSearch

CALIBRATION_KEY = "config/search-calibration.json"
DEFAULT_THRESHOLD = 0.35
"""Used until a calibration exists: a conservative cosine for DINO ViT-S/16 crops."""


@dataclass(frozen=True)
class Calibration:
    threshold: float
    precision: float
    recall: float
    samples: int
    correct_top1: int
    min_precision: float
    created_at: float


def fit_threshold(scored: Iterable[tuple[float, bool]], min_precision: float = 0.9) -> Calibration:
    """The lowest threshold whose hits at or above it are right ≥ ``min_precision`` of the time.

    ``scored`` holds (top-1 score, top-1 is the right product). When no threshold reaches the precision
    (a weak model), the threshold sits above every score: nothing is presented as a confident match.
    """
    samples = sorted(scored, key=lambda s: s[0], reverse=True)
    if not samples:
        raise BadInput("calibration needs at least one labelled photo")
    correct_total = sum(ok for _, ok in samples)
    best: tuple[float, float, float] | None = None
    correct = 0
    for rank, (score, ok) in enumerate(samples, start=1):
        correct += ok
        precision = correct / rank
        if precision >= min_precision and (rank == len(samples) or samples[rank][0] < score):
            best = (score, precision, correct / max(correct_total, 1))
    if best is None:
        best = (min(1.0, samples[0][0] + 1e-6), 0.0, 0.0)
    return Calibration(
        threshold=round(best[0], 6),
        precision=round(best[1], 4),
        recall=round(best[2], 4),
        samples=len(samples),
        correct_top1=correct_total,
        min_precision=min_precision,
        created_at=time.time(),
    )


def labelled_items(truth_file: Path) -> list[tuple[bytes, list[float], str]]:
    """(photo bytes, true box, true product code) for every item of a ``truth.json``."""
    try:
        truth = json.loads(truth_file.read_text())
        return [
            ((truth_file.parent / photo["file"]).read_bytes(), list(item["box"]), item["code"])
            for photo in truth["photos"]
            for item in photo["items"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInput(f"cannot read labelled photos from {truth_file}: {error}") from None


def measure(
    search: VisualSearch, items: Iterable[tuple[bytes, list[float], str]]
) -> list[tuple[float, bool]]:
    """(top-1 score, top-1 is the true product) of each labelled item, searched with its true box."""
    scored = []
    for image, box, code in items:
        results = search.search(image, box=box, k=1)["results"]
        if results:
            scored.append((results[0]["score"], results[0]["product_code"] == code))
    return scored


def save(store: ObjectStore, calibration: Calibration) -> None:
    store.put(CALIBRATION_KEY, json.dumps(asdict(calibration), indent=2).encode(), "application/json")


def load(store: ObjectStore) -> Calibration | None:
    """The stored calibration, or None when there is none (or it is unreadable: then the default applies)."""
    try:
        data: dict[str, Any] = json.loads(store.get(CALIBRATION_KEY))
        return Calibration(**data)
    except (NotFound, ValueError, TypeError):
        return None
