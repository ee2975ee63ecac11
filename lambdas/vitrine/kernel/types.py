"""Plain data the pipelines pass between ports. No I/O, no third-party imports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vitrine.errors import BadInput, Unavailable

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


IMAGE_FIELD = "image"
"""The index's image-to-image field: DINO vectors (visual search, similar products)."""
TEXT_FIELD = "text"
"""The index's cross-modal field: the dual encoder's image vectors, searched with its text vectors."""
VECTOR_FIELDS = (IMAGE_FIELD, TEXT_FIELD)


@dataclass(frozen=True)
class IndexItem:
    """An image to index: the id is the image id, the product code lets hits collapse to products.

    ``vector`` is the image field's; ``text_vector`` (with the ``text_model`` that made it) the dual encoder's,
    when one is configured. ``category`` and ``price`` are what the filters see.
    """

    id: str
    vector: Sequence[float]
    product_code: str
    category: str = ""
    price: float | None = None
    text_vector: Sequence[float] | None = None
    text_model: str = ""


@dataclass(frozen=True)
class Filters:
    """What a shopper narrows a search to, applied inside the k-NN query by every index adapter.

    A product without a price never passes a price bound (it cannot be shown to be in range).
    ``exclude_product`` leaves one product out (its own "similar products").
    """

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude_product: str | None = None

    def __post_init__(self) -> None:
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise BadInput(f"{name} must be a number of at least 0")
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise BadInput("min_price must not exceed max_price")

    @property
    def priced(self) -> bool:
        """Whether a price bound is set."""
        return self.min_price is not None or self.max_price is not None

    def admits(self, product_code: str, category: str, price: float | None) -> bool:
        """Whether an image of this product, category and price passes (the rule every adapter applies)."""
        if self.exclude_product is not None and product_code == self.exclude_product:
            return False
        if self.category and category != self.category:
            return False
        if self.priced:
            if price is None:
                return False
            if self.min_price is not None and price < self.min_price:
                return False
            if self.max_price is not None and price > self.max_price:
                return False
        return True

    def public(self) -> dict[str, Any]:
        """The shopper's filters as the API echoes them (unset ones left out)."""
        named = {"category": self.category, "min_price": self.min_price, "max_price": self.max_price}
        return {name: value for name, value in named.items() if value not in (None, "")}


class ModelMismatch(Unavailable):
    """Vectors of one model met a field that holds another model's: spaces differ, so they must never mix.

    Re-embed the field with the new model (``replace_model``), or point at another index.
    """


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
