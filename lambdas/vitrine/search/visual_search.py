"""Visual search: a shopper's photo → the items in it → the five most similar products.

Decode (bounded) → detect; no item → say so; several and no box chosen → the boxes to pick from; one (or a
chosen box) → crop + embed → k-NN over catalog images, collapsed to distinct products → their metadata.
A best match under the calibrated threshold is flagged ``confident: false`` rather than shown as a hit, and
each result carries ``match``: the share of results at its score that were the right product when the search
was calibrated (:mod:`vitrine.search.calibration`), the figure the page shows instead of a raw cosine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common import imaging
from vitrine.catalog.ports import Catalog
from vitrine.errors import BadInput, TooLarge, UnsupportedType
from vitrine.kernel.ports import ObjectStore, VectorIndex
from vitrine.kernel.types import Box, SearchHit
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder

MAX_K = 20


def check_box(box: Sequence[float]) -> Box:
    """A normalised box the shopper chose; :class:`BadInput` with the reason when it is not one."""
    if len(box) != 4 or not all(isinstance(v, int | float) for v in box):
        raise BadInput("box must be four numbers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise BadInput("box must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return (x0, y0, x1, y1)


@dataclass
class Timer:
    """Milliseconds per stage, so latency can be split into model time and everything else."""

    clock: Callable[[], float] = time.perf_counter
    stages: dict[str, float] = field(default_factory=dict)

    def measure(self, stage: str, start: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + (self.clock() - start) * 1000


class VisualSearch:
    """The ``POST /api/search`` job, independent of HTTP."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        index: VectorIndex,
        detector: Detector,
        embedder: Embedder,
        *,
        match_threshold: float,
        max_image_bytes: int,
        max_image_pixels: int,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.index = index
        self.detector = detector
        self.embedder = embedder
        self.match_threshold = match_threshold
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self._calibration: Any = None
        self._calibration_read = False

    def match(self, score: float) -> float | None:
        """The calibrated match figure of ``score`` (None until the search is calibrated). The calibration is
        read from the store once, as the threshold is: a new one applies after a restart."""
        if not self._calibration_read:
            from vitrine.search.calibration import load  # calibration imports this module

            self._calibration = load(self.store)
            self._calibration_read = True
        return self._calibration.match(score) if self._calibration is not None else None

    def search(
        self, image: bytes, box: Sequence[float] | None = None, category: str | None = None, k: int = 5
    ) -> dict[str, Any]:
        """The answer for the page: ``no_object``, ``choose`` with boxes, or ``results``."""
        if not 1 <= k <= MAX_K:
            raise BadInput(f"k must be between 1 and {MAX_K}")
        chosen = check_box(box) if box is not None else None
        timer = Timer()
        start = timer.clock()
        try:
            imaging.inspect(image, self.max_image_bytes, self.max_image_pixels)
        except imaging.ImageError as error:
            raise imaging_error_to_domain(error) from None
        timer.measure("validate", start)
        if chosen is None:
            start = timer.clock()
            detections = self.detector.detect([image])[0]
            timer.measure("detect_model", start)
            if not detections:
                return {
                    "status": "no_object",
                    "message": "We could not find clothing, shoes or hats in this photo. "
                    "Try a closer photo, or search the whole photo.",
                    "timing_ms": timer.stages,
                }
            if len(detections) > 1:
                return {
                    "status": "choose",
                    "message": f"We found {len(detections)} items: pick the one you want to match.",
                    "boxes": [d.to_dict() for d in detections],
                    "timing_ms": timer.stages,
                }
            chosen = detections[0].box
        start = timer.clock()
        vector = self.embedder.embed([image], [chosen])[0]
        timer.measure("embed_model", start)
        start = timer.clock()
        hits = self.index.search(vector, k=k, category=category or None)
        timer.measure("index", start)
        start = timer.clock()
        results = self._describe(hits)
        timer.measure("catalog", start)
        return {
            "status": "results",
            "box": list(chosen),
            "confident": bool(results) and results[0]["confident"],
            "results": results,
            "timing_ms": timer.stages,
        }

    def _describe(self, hits: list[SearchHit]) -> list[dict[str, Any]]:
        products = self.catalog.get_products([h.product_code for h in hits])
        described = []
        for hit in hits:
            product = products.get(hit.product_code)
            image = self.catalog.get_image(hit.image_id)
            described.append(
                {
                    "product_code": hit.product_code,
                    "score": round(hit.score, 4),
                    "confident": hit.score >= self.match_threshold,
                    "match": self.match(hit.score),
                    "image_url": self.store.url_for(image.key) if image else None,
                    "product": product.to_dict() if product else {"code": hit.product_code},
                }
            )
        return described


def imaging_error_to_domain(error: imaging.ImageError) -> BadInput:
    """The shared image module's error as the domain's, keeping its status (413, 415 or 400)."""
    kind = {413: TooLarge, 415: UnsupportedType}.get(error.status_code, BadInput)
    return kind(error.message)
