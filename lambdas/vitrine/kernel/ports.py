"""The ports: what pipelines need from the outside world, as small Protocols.

Each port has a local adapter (the embedded default) and a cloud adapter in :mod:`vitrine.adapters`.
Pipelines import these and :mod:`vitrine.kernel.types` only; :mod:`vitrine.wiring` picks the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.types import GeneratedText, IndexItem, ObjectInfo, SearchHit


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
class VectorIndex(Protocol):
    """k-NN over L2-normalised image embeddings (cosine = inner product)."""

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Add or replace vectors by id."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""

    def search(self, vector: Sequence[float], k: int = 5, category: str | None = None) -> list[SearchHit]:
        """The ``k`` best *products* (hits collapsed per product), optionally of one category."""

    def set_category(self, ids: Sequence[str], category: str) -> None:
        """Change the category the filter sees for these vectors (unknown ids are ignored); the vectors stay."""

    def ids(self) -> set[str]:
        """Every live vector's id (reconciling the index with the ledger after a crash)."""

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
class TextWriter(Protocol):
    """Writes text (product descriptions) from facts it is given, and nothing else."""

    name: str

    def write(self, instructions: str, facts: dict[str, Any]) -> GeneratedText: ...


@runtime_checkable
class EventGuard(Protocol):
    """Lets one invocation at a time process an object event (SQS delivers at least once, concurrently)."""

    def claim(self, event: ObjectEvent, remaining_ms: int | None = None) -> Literal["new", "done", "busy"]:
        """``new``: process it; ``done``: already processed; ``busy``: another invocation has it now.

        ``remaining_ms``: the claimer's remaining time; a claim older than that is free to take again.
        """

    def complete(self, event: ObjectEvent) -> None: ...

    def release(self, event: ObjectEvent, reason: str) -> None:
        """Forget the claim after a transient failure, so a redelivery processes the event."""
