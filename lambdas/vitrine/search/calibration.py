"""Calibrating search scores: the match figure a shopper sees, and the score under which a hit is not confident.

A cosine means different things for different models and catalogs, so both are measured: photos whose items
are known (the demo's ``street/truth.json``, or an operator's own labelled set in that format) are searched
with their true box, and each of the top five products is right or wrong. From that:

* the **match curve**: the share of results at a given score that were the right product (isotonic in the
  score, :func:`common.evaluation.precision_curve`) — what the page shows as "N% match", instead of a raw
  cosine that reads 99% for a wrong product;
* the **threshold**: the lowest top-1 score at which the confident hits are still right at least
  ``min_precision`` of the time (under it, the answer says "no close match");
* recall@1 and recall@5 of the labelled items: how good search is on this catalog with this model.

Stored in the bucket (``config/search-calibration.json``), so the local server and the Lambdas read the same
values at start; ``VITRINE_SEARCH_MATCH_THRESHOLD`` overrides the threshold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from common.evaluation import precision_at, precision_curve
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.ports import ObjectStore
from vitrine.search.visual_search import VisualSearch

CALIBRATION_KEY = "config/search-calibration.json"
DEFAULT_THRESHOLD = 0.35
"""Used until a calibration exists: a conservative cosine for DINO ViT-S/16 crops."""


TOP_K = 5


@dataclass(frozen=True)
class Calibration:
    threshold: float
    precision: float
    recall: float
    samples: int
    correct_top1: int
    min_precision: float
    created_at: float
    recall_at_5: float | None = None
    """Share of the labelled items whose product is among the top five results (None: an older file)."""
    curve: list[list[float]] = field(default_factory=list)
    """(lowest score, share of results at or above it, up to the next step, that were the right product)."""
    model: str = ""
    """The embedder the scores were measured with (a new model needs a new calibration)."""

    @property
    def recall_at_1(self) -> float:
        return round(self.correct_top1 / max(1, self.samples), 4)

    def match(self, score: float) -> float | None:
        """The calibrated match figure of a result with ``score``: the share of results at that score that
        were the right product on the labelled set (None without a curve)."""
        return precision_at(self.curve, score)


@dataclass(frozen=True)
class Measured:
    """One labelled item searched: the top results' (score, right product)."""

    top: list[tuple[float, bool]]

    @property
    def rank(self) -> int | None:
        return next((i for i, (_, ok) in enumerate(self.top, start=1) if ok), None)


def fit(measured: Sequence[Measured], min_precision: float = 0.9, model: str = "") -> Calibration:
    """The threshold (from the top-1 results), the match curve (from every top-five result) and recall@5."""
    if not measured:
        raise BadInput("calibration needs at least one labelled photo")
    top1 = [m.top[0] if m.top else (-1.0, False) for m in measured]
    base = fit_threshold(top1, min_precision)
    results = [hit for m in measured for hit in m.top]
    found = sum(1 for m in measured if m.rank is not None and m.rank <= TOP_K)
    curve = [[low, share] for low, share in precision_curve(results)] if results else []
    kept = {f.name: getattr(base, f.name) for f in fields(base)}
    return Calibration(
        **(kept | {"recall_at_5": round(found / len(measured), 4), "curve": curve, "model": model})
    )


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
    return [m.top[0] for m in measure_top(search, items, k=1) if m.top]


def measure_top(
    search: VisualSearch, items: Iterable[tuple[bytes, list[float], str]], k: int = TOP_K
) -> list[Measured]:
    """The top ``k`` results' (score, is the true product) of each labelled item, searched with its true box
    through the service's own search (embedder, index, collapsing to products)."""
    measured = []
    for image, box, code in items:
        results = search.search(image, box=box, k=k)["results"]
        measured.append(Measured([(r["score"], r["product_code"] == code) for r in results]))
    return measured


def save(store: ObjectStore, calibration: Calibration) -> None:
    store.put(CALIBRATION_KEY, json.dumps(asdict(calibration), indent=2).encode(), "application/json")


def load(store: ObjectStore) -> Calibration | None:
    """The stored calibration, or None when there is none (or it is unreadable: then the default applies)."""
    try:
        data: dict[str, Any] = json.loads(store.get(CALIBRATION_KEY))
        known = {f.name for f in fields(Calibration)}
        return Calibration(**{k: v for k, v in data.items() if k in known})
    except (NotFound, ValueError, TypeError):
        return None
