"""The catalog's domain: products, their images, and what the tagger says of an image. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vitrine.kernel.types import Box


class ImageStatus(StrEnum):
    """Where a catalog object ended: the ledger row's status, the report's filter, the CLI's choices."""

    INDEXED = "indexed"
    REJECTED = "rejected"
    FILTERED = "filtered"
    DUPLICATE = "duplicate"
    REMOVED = "removed"


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
class ImageTags:
    """What the tagger says of a catalog image (schema in :mod:`vitrine.catalog.tagging`).

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
