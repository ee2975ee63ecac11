"""What the description job needs beyond the kernel's and the catalog's ports: a store for its results."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from vitrine.descriptions.domain import ProductDescription


@runtime_checkable
class DescriptionStore(Protocol):
    """Products' attributes, descriptions and provenance (same database as the catalog, tables of its own)."""

    def get(self, code: str) -> ProductDescription | None: ...

    def save(self, record: ProductDescription) -> None:
        """Insert or replace the product's record (keyed by code)."""

    def undescribed(self, *, after: str = "", limit: int = 100) -> list[str]:
        """Codes of catalog products with no stored description (never attempted, pending, failed or
        rejected), in code order after ``after``: a sweep or a backfill pages through them."""
