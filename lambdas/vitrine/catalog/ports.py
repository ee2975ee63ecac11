"""What catalog ingestion needs beyond the kernel's ports: the catalog database and an image tagger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from vitrine.catalog.domain import ImageTags, Product, ProductImage


@runtime_checkable
class Catalog(Protocol):
    """Products and what ingestion did with each image (Aurora MySQL in the cloud, SQLite locally)."""

    def upsert_product(self, product: Product) -> None: ...

    def get_products(self, codes: Sequence[str]) -> dict[str, Product]:
        """The products among ``codes`` that exist, keyed by code."""

    def count_products(self) -> int: ...

    def save_image(self, image: ProductImage) -> None:
        """Insert or replace the image's record (keyed by ``image_id``)."""

    def get_image(self, image_id: str) -> ProductImage | None: ...

    def delete_image(self, image_id: str) -> None:
        """Forget a record (absent is fine): an object that was rejected and is now accepted."""

    def list_images(
        self, status: str | None = None, product_code: str | None = None, limit: int = 1000
    ) -> list[ProductImage]:
        """Image records, newest first, optionally of one status or product."""

    def image_ids(self, status: str) -> set[str]:
        """The ids of every image record in ``status`` (reconciling the ledger with the index)."""

    def count_images(self) -> dict[str, int]:
        """How many images are in each status."""


@runtime_checkable
class ImageTagger(Protocol):
    """Tags a catalog image (model present, angle, whole or partial...) to decide whether to index it."""

    name: str

    def tag(self, image: bytes, content_type: str) -> ImageTags: ...

    def tag_many(self, images: Sequence[tuple[bytes, str]]) -> list[ImageTags]:
        """Tags of each (image, content type), in order: batched or concurrent, as the model serves best."""
