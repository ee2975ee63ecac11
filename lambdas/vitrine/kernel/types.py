"""Plain data the pipelines pass between ports. No I/O, no third-party imports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1), normalised to 0..1 of the image's width and height."""


@dataclass(frozen=True)
class Detection:
    """An item found in a photo by the detector."""

    box: Box
    score: float
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": round(self.score, 4), "label": self.label}


@dataclass(frozen=True)
class IndexItem:
    """A vector to index: the id is the image id, the product code lets hits collapse to products."""

    id: str
    vector: Sequence[float]
    product_code: str
    category: str = ""


@dataclass(frozen=True)
class SearchHit:
    """The best-matching image of one product; ``score`` is the cosine similarity."""

    product_code: str
    score: float
    image_id: str


def collapse_to_products(hits: Iterable[SearchHit], k: int) -> list[SearchHit]:
    """Keep each product's best image, best first, at most ``k`` products.

    Shoppers want products, not five photos of the same shirt; every index adapter over-fetches images
    and collapses them here so the rule is the same whichever index answers.
    """
    best: dict[str, SearchHit] = {}
    for hit in hits:
        kept = best.get(hit.product_code)
        if kept is None or hit.score > kept.score:
            best[hit.product_code] = hit
    return sorted(best.values(), key=lambda h: h.score, reverse=True)[:k]


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object."""

    key: str
    size: int
    etag: str = ""
    version: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class GeneratedText:
    """Text written by a generator; ``writer`` says which, so offline text is labelled wherever it shows."""

    text: str
    writer: str
