"""The description job's domain: what was read from a product's photo, what was written, and from what. No I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from vitrine.catalog.domain import Product
from vitrine.descriptions.normalise import Reading

DESCRIBE_FLAG = "describe"
"""``"describe": true`` in ``product.json``: describe the product even when it has its own description."""
OWN_DESCRIPTION = "description"
"""A ``product.json`` field: the merchant's own description (then none is generated unless asked)."""


class DescriptionStatus(StrEnum):
    """How the last attempt to describe a product ended."""

    DESCRIBED = "described"
    """Attributes read, a text written and checked, both stored."""
    REJECTED = "rejected"
    """The written text failed the check twice (``reason`` says why): no text stored by this attempt."""
    FAILED = "failed"
    """A model, the writer or the store failed (throttled, timed out...): a later attempt may succeed."""
    PENDING = "pending"
    """Not attempted yet: the product has no indexed photo, or its turn has not come."""


@dataclass(frozen=True)
class Provenance:
    """Where a stored description comes from: which models, which attributes, which photo, when."""

    attribute_model: str
    writer: str
    ai_generated: bool
    attributes_used: dict[str, str]
    image_key: str
    schema: str
    language: str
    described_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute_model": self.attribute_model,
            "writer": self.writer,
            "ai_generated": self.ai_generated,
            "attributes_used": dict(self.attributes_used),
            "image_key": self.image_key,
            "schema": self.schema,
            "language": self.language,
            "described_at": self.described_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        return cls(
            attribute_model=str(data["attribute_model"]),
            writer=str(data["writer"]),
            ai_generated=bool(data["ai_generated"]),
            attributes_used={str(k): str(v) for k, v in data["attributes_used"].items()},
            image_key=str(data["image_key"]),
            schema=str(data["schema"]),
            language=str(data["language"]),
            described_at=float(data["described_at"]),
        )


@dataclass(frozen=True)
class ProductDescription:
    """A product's attributes and description, and how the last attempt to make them ended.

    ``attributes``, ``text`` and ``provenance`` are the last good result (a later attempt that fails or is
    rejected never erases them); ``status``, ``reason`` and ``attempted_at`` are the last attempt's.
    ``text`` is None until a text has passed the check; ``attributes`` may be there without it.
    """

    code: str
    status: DescriptionStatus
    reason: str = ""
    attributes: tuple[Reading, ...] = ()
    text: str | None = None
    provenance: Provenance | None = None
    fingerprint: str = ""
    """The product facts the last good result was made from (:func:`fingerprint`)."""
    attempted_at: float = 0.0
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def attempt(self, status: DescriptionStatus, reason: str, at: float) -> ProductDescription:
        """This record after an attempt that stored nothing new: the last good result stays."""
        return replace(self, status=status, reason=reason, attempted_at=at, attempts=self.attempts + 1)


def fingerprint(product: Product) -> str:
    """What a description depends on in ``product.json``: a changed name or price means a new one is due."""
    facts = product.to_dict()
    return hashlib.sha1(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def own_description(product: Product) -> str:
    value = product.extra.get(OWN_DESCRIPTION)
    return value.strip() if isinstance(value, str) else ""


def needs_description(product: Product, record: ProductDescription | None) -> bool:
    """Whether ingestion should describe ``product`` now.

    ``"describe": true`` → when nothing good is stored for this version of ``product.json``; otherwise only
    a product without its own description and without a stored one (failed or pending attempts included).
    """
    described = record is not None and record.text is not None
    if product.extra.get(DESCRIBE_FLAG) is True:
        return not (described and record is not None and record.fingerprint == fingerprint(product))
    if own_description(product):
        return False
    return not described
