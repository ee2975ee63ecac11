"""Plain data the pipelines pass between ports. No I/O, no third-party imports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1), normalised to 0..1 of the image's width and height."""

ImageStatus = Literal["indexed", "rejected", "filtered", "duplicate", "removed"]


@dataclass(frozen=True)
class Product:
    """A catalog product, as described by ``products/{code}/product.json``."""

    code: str
    name: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None
    currency: str = ""
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "price": self.price,
            "currency": self.currency,
            "url": self.url,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class ProductImage:
    """One catalog image and what ingestion made of it: indexed, or why not.

    ``sequencer`` is the S3 event sequencer of the last event applied: an event whose sequencer is not
    greater is a duplicate or stale, which is what makes ingestion idempotent.
    """

    image_id: str
    product_code: str
    key: str
    status: ImageStatus
    reason: str = ""
    sequencer: str = ""
    version: str = ""
    tags: dict[str, Any] = field(default_factory=dict)
    box: Box | None = None
    updated_at: float = 0.0


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
class ImageTags:
    """What the tagger says of a catalog image (schema in :mod:`vitrine.tagging`).

    ``valid`` is False when the tagger's answer failed validation: the image is then kept (tags unknown)
    and ``reason`` records why, so a flaky tagger never loses an image.
    """

    has_model: bool | None = None
    model_count: int | None = None
    real_world_scene: bool | None = None
    worn: bool | None = None
    angle: str = "unknown"
    whole_or_partial: str = "unknown"
    valid: bool = True
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "has_model": self.has_model,
            "model_count": self.model_count,
            "real_world_scene": self.real_world_scene,
            "worn": self.worn,
            "angle": self.angle,
            "whole_or_partial": self.whole_or_partial,
            "valid": self.valid,
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass(frozen=True)
class GeneratedText:
    """Text written by a generator; ``writer`` says which, so offline text is labelled wherever it shows."""

    text: str
    writer: str
