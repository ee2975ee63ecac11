"""The ports: what pipelines need from the outside world, as small Protocols.

Each port has a local adapter (the embedded default) and a cloud adapter in :mod:`vitrine.adapters`.
Pipelines import these and :mod:`vitrine.domain` only; :mod:`vitrine.wiring` picks the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from vitrine.domain import GeneratedText, ImageTags, IndexItem, ObjectInfo, Product, ProductImage, SearchHit
from vitrine.events import ObjectEvent


@runtime_checkable
class ObjectStore(Protocol):
    """A bucket: the catalog's images and metadata, and shoppers' uploads."""

    name: str

    def get(self, key: str) -> bytes:
        """The object's bytes; :class:`~vitrine.errors.NotFound` if absent."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store (or replace) an object."""

    def head(self, key: str) -> ObjectInfo:
        """Metadata; :class:`~vitrine.errors.NotFound` if absent."""

    def delete(self, key: str) -> None:
        """Remove an object; absent is fine."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order."""

    def presign_upload(
        self, key: str, content_type: str, max_bytes: int, expires_s: int = 300
    ) -> dict[str, Any]:
        """A form upload the browser can POST to directly: ``{"url", "fields", "key"}``."""

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A URL a browser can GET the object from."""


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

    def count_images(self) -> dict[str, int]:
        """How many images are in each status."""


@runtime_checkable
class VectorIndex(Protocol):
    """k-NN over L2-normalised image embeddings (cosine = inner product)."""

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Add or replace vectors by id."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""

    def search(self, vector: Sequence[float], k: int = 5, category: str | None = None) -> list[SearchHit]:
        """The ``k`` best *products* (hits collapsed per product), optionally of one category."""

    def count(self) -> int:
        """How many vectors are live."""


@runtime_checkable
class ModelEndpoint(Protocol):
    """One model, called with the bytes and content type a SageMaker endpoint gets.

    Raises :class:`~vitrine.errors.BadInput` when the model refuses the input (4xx) and
    :class:`~vitrine.errors.Unavailable` when it fails or times out.
    """

    name: str

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes: ...


@runtime_checkable
class ImageTagger(Protocol):
    """Tags a catalog image (model present, angle, whole or partial...) to decide whether to index it."""

    name: str

    def tag(self, image: bytes, content_type: str) -> ImageTags: ...

    def tag_many(self, images: Sequence[tuple[bytes, str]]) -> list[ImageTags]:
        """Tags of each (image, content type), in order: batched or concurrent, as the model serves best."""


@runtime_checkable
class TextWriter(Protocol):
    """Writes text (product descriptions) from facts it is given, and nothing else."""

    name: str

    def write(self, instructions: str, facts: dict[str, Any]) -> GeneratedText: ...


@runtime_checkable
class EventGuard(Protocol):
    """Lets one invocation at a time process an object event (SQS delivers at least once, concurrently)."""

    def claim(self, event: ObjectEvent) -> Literal["new", "done", "busy"]:
        """``new``: process it; ``done``: already processed; ``busy``: another invocation has it now."""

    def complete(self, event: ObjectEvent) -> None: ...

    def release(self, event: ObjectEvent, reason: str) -> None:
        """Forget the claim after a transient failure, so a redelivery processes the event."""
