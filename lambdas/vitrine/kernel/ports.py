"""The ports: what pipelines need from the outside world, as small Protocols.

Each port has a local adapter (the embedded default) and a cloud adapter in :mod:`vitrine.adapters`.
Pipelines import these and :mod:`vitrine.kernel.types` only; :mod:`vitrine.wiring` picks the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.types import IMAGE_FIELD, Filters, GeneratedText, IndexItem, ObjectInfo, SearchHit


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
    """k-NN over L2-normalised image embeddings (cosine = inner product).

    Each image has up to two vector fields with one id and one set of metadata: ``image`` (DINO: visual
    search, similar products) and ``text`` (the dual encoder: searched with text vectors). An adapter
    without a text field raises :class:`~vitrine.errors.ConfigError` when asked for it.
    """

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Index (add or replace) images by id: metadata, image vector, and the text vector when the item
        carries one (a replaced image keeps no text vector of its old pixels). A text vector of another
        model than the field holds raises :class:`~vitrine.kernel.types.ModelMismatch`."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove images (every field) by id; unknown ids are ignored."""

    def search(
        self,
        vector: Sequence[float],
        k: int = 5,
        category: str | None = None,
        *,
        filters: Filters | None = None,
        field: str = IMAGE_FIELD,
        model: str = "",
    ) -> list[SearchHit]:
        """The ``k`` best *products* (hits collapsed per product) in ``field``, of ``category`` and within
        ``filters`` (applied in the k-NN query, so ``k`` products come back whenever ``k`` pass them).
        For the text field ``model`` names the query vector's model; another model's field raises
        :class:`~vitrine.kernel.types.ModelMismatch`."""

    def vectors(
        self, ids: Sequence[str], field: str = IMAGE_FIELD, model: str = ""
    ) -> dict[str, list[float]]:
        """The stored (unit) vectors of ``field`` for these ids; ids without one are left out, and so are text
        vectors of another model than ``model`` (when given)."""

    def set_vectors(
        self,
        field: str,
        vectors: Mapping[str, Sequence[float]],
        model: str = "",
        *,
        replace_model: bool = False,
    ) -> None:
        """Re-embed one field of these images (unknown ids are ignored): the other field and the metadata
        stay. ``replace_model`` lets vectors of a new ``model`` replace the field's old model (the old
        model's vectors then never answer again); without it a different model raises ``ModelMismatch``."""

    def set_category(self, ids: Sequence[str], category: str) -> None:
        """Change the category the filter sees for these vectors (unknown ids are ignored); the vectors stay."""

    def set_price(self, ids: Sequence[str], price: float | None) -> None:
        """Change the price the filter sees for these vectors (unknown ids are ignored); the vectors stay."""

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
