"""Catalog ingestion: every object under ``products/`` ends indexed or recorded with the reason it is not.

Per image: validate → tag → filter (rules are data) → detect the main item → crop + embed → skip
near-duplicates → upsert the vector and the catalog record. Model calls are batched across the events of
one call. Idempotent by key and S3 sequencer/version: the same event twice changes nothing, a replaced
object replaces its vector, a removed one is removed. Transient failures (a model or store that is down)
are returned as ``retry`` so the event is redelivered; they are never recorded as rejections.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from common import imaging
from vitrine.catalog.domain import ImageTags, ProductImage
from vitrine.catalog.filtering import FilterRule, first_match
from vitrine.catalog.ports import Catalog, ImageTagger
from vitrine.catalog.product_json import parse_product
from vitrine.errors import BadInput, NotFound, Unavailable
from vitrine.kernel.events import ObjectEvent, sequencer_after
from vitrine.kernel.ports import ObjectStore, VectorIndex
from vitrine.kernel.types import Box, IndexItem
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder

PREFIX = "products/"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
OutcomeStatus = Literal[
    "indexed", "rejected", "filtered", "duplicate", "removed", "product", "skipped", "retry"
]


@dataclass(frozen=True)
class Outcome:
    """What happened to one event. ``retry`` means a transient failure: redeliver the event."""

    key: str
    status: OutcomeStatus
    reason: str = ""

    @property
    def retry(self) -> bool:
        return self.status == "retry"


@dataclass
class _Work:
    """An image event on its way through the stages."""

    event: ObjectEvent
    image_id: str
    code: str
    data: bytes = b""
    tags: ImageTags | None = None
    box: Box | None = None
    vector: list[float] = field(default_factory=list)


def image_id_for(bucket: str, key: str) -> str:
    """A stable id per object: the vector id in the index and the key of the catalog record."""
    return hashlib.sha1(f"{bucket}/{key}".encode()).hexdigest()[:32]


def split_key(key: str) -> tuple[str, str]:
    """``products/{code}/{name}`` → (code, name); :class:`BadInput` for any other layout."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX or not parts[1] or not parts[2]:
        raise BadInput(f"key {key!r} is not laid out as products/{{code}}/{{file}}")
    return parts[1], parts[2]


class CatalogIngestion:
    """Turns S3 object events under ``products/`` into catalog rows and index vectors."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        index: VectorIndex,
        detector: Detector,
        embedder: Embedder,
        tagger: ImageTagger | None,
        rules: list[FilterRule],
        *,
        max_image_bytes: int,
        max_image_pixels: int,
        duplicate_threshold: float,
        batch_size: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.index = index
        self.detector = detector
        self.embedder = embedder
        self.tagger = tagger
        self.rules = rules
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self.duplicate_threshold = duplicate_threshold
        self.batch_size = batch_size
        self.clock = clock

    # -- entry point ---------------------------------------------------------------------------------

    def ingest(self, events: Sequence[ObjectEvent]) -> list[Outcome]:
        """Apply ``events`` in order; one outcome per event, in the same order."""
        outcomes: dict[int, Outcome] = {}
        pending: list[tuple[int, _Work]] = []
        for position, event in enumerate(events):
            try:
                code, name = split_key(event.key)
            except BadInput as error:
                outcomes[position] = self._reject_unplaceable(event, error.message)
                continue
            work = _Work(event, image_id_for(event.bucket, event.key), code)
            stale = self._stale(work) if event.action == "created" else ""
            if stale:
                outcomes[position] = Outcome(event.key, "skipped", stale)
            elif name == "product.json":
                outcomes[position] = self._product(event, code)
            elif not name.lower().endswith(IMAGE_SUFFIXES):
                outcomes[position] = self._record(
                    work, "rejected", "not an image (.jpg, .jpeg, .png, .webp) nor product.json"
                )
            elif event.action == "removed":
                outcomes[position] = self._remove(event, code)
            else:
                pending.append((position, work))
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            for (position, _), outcome in zip(chunk, self._images([w for _, w in chunk]), strict=True):
                outcomes[position] = outcome
        return [outcomes[i] for i in range(len(events))]

    # -- products ------------------------------------------------------------------------------------

    def _product(self, event: ObjectEvent, code: str) -> Outcome:
        if event.action == "removed":
            return Outcome(event.key, "skipped", "product.json removed: the product and its images are kept")
        try:
            product = parse_product(code, self.store.get(event.key))
        except NotFound:
            return Outcome(event.key, "skipped", "object no longer exists (a later event removed it)")
        except BadInput as error:
            return self._record(
                _Work(event, image_id_for(event.bucket, event.key), code), "rejected", error.message
            )
        except Unavailable as error:
            return Outcome(event.key, "retry", error.message)
        before = self.catalog.get_products([code]).get(code)
        self.catalog.upsert_product(product)
        self.catalog.delete_image(image_id_for(event.bucket, event.key))  # a fixed file clears its rejection
        if before is None or before.category != product.category:
            self._reindex_product(event.bucket, code)
        return Outcome(event.key, "product", f"product {code} saved")

    def _reindex_product(self, bucket: str, code: str) -> None:
        """Images that arrived before their product.json were indexed without a category: index them again
        so the category filter finds them."""
        indexed = self.catalog.list_images(status="indexed", product_code=code)
        works = [
            _Work(
                ObjectEvent(bucket, image.key, "created", image.sequencer, image.version),
                image.image_id,
                code,
            )
            for image in indexed
        ]
        if works:
            self._images(works, tag=False)  # their tags already passed the filter

    # -- images --------------------------------------------------------------------------------------

    def _stale(self, work: _Work) -> str:
        """Why this created-event changes nothing (duplicate or out of order), or '' to process it."""
        existing = self.catalog.get_image(work.image_id)
        if existing is None:
            return ""
        event = work.event
        if event.sequencer and existing.sequencer:
            if not sequencer_after(event.sequencer, existing.sequencer):
                return "duplicate or out-of-order event: a newer one was already applied"
            return ""
        if event.version and event.version == existing.version and existing.status != "removed":
            return "this version was already ingested"
        return ""

    def _remove(self, event: ObjectEvent, code: str) -> Outcome:
        work = _Work(event, image_id_for(event.bucket, event.key), code)
        existing = self.catalog.get_image(work.image_id)
        if (
            existing
            and event.sequencer
            and existing.sequencer
            and not sequencer_after(event.sequencer, existing.sequencer)
        ):
            return Outcome(event.key, "skipped", "duplicate or out-of-order removal")
        try:
            self.index.delete([work.image_id])
        except Unavailable as error:
            return Outcome(event.key, "retry", error.message)
        return self._record(work, "removed", "object removed from the bucket")

    def _images(self, works: list[_Work], tag: bool = True) -> list[Outcome]:
        """The stages for a batch of image events; each stage's failures end their own item only."""
        results: dict[int, Outcome] = {}
        live = self._fetch_and_check(works, results)
        if tag:
            live = self._tag_and_filter(live, works, results)
        live = self._detect(live, works, results)
        live = self._embed(live, works, results)
        for position in live:
            results[position] = self._index_one(works[position])
        return [results[i] for i in range(len(works))]

    def _fetch_and_check(self, works: list[_Work], results: dict[int, Outcome]) -> list[int]:
        live = []
        for position, work in enumerate(works):
            try:
                work.data = self.store.get(work.event.key)
                imaging.inspect(work.data, self.max_image_bytes, self.max_image_pixels)
            except NotFound:
                results[position] = Outcome(work.event.key, "skipped", "object no longer exists")
            except Unavailable as error:
                results[position] = Outcome(work.event.key, "retry", error.message)
            except imaging.ImageError as error:
                results[position] = self._record(work, "rejected", error.message)
            else:
                live.append(position)
        return live

    def _tag_and_filter(self, live: list[int], works: list[_Work], results: dict[int, Outcome]) -> list[int]:
        if self.tagger is None or not live:
            return live
        tagger = self.tagger
        try:
            tags = tagger.tag_many([(works[p].data, imaging.sniff(works[p].data)) for p in live])
        except Unavailable as error:
            for position in live:
                results[position] = Outcome(works[position].event.key, "retry", error.message)
            return []
        except BadInput:  # one image the tagger cannot read: tag one by one so only it goes untagged
            tags = [self._tag_one(tagger, works[p]) for p in live]
        kept = []
        for position, image_tags in zip(live, tags, strict=True):
            work = works[position]
            if image_tags is None:
                results[position] = Outcome(work.event.key, "retry", "tagger unavailable")
                continue
            work.tags = image_tags
            rule = first_match(self.rules, image_tags)
            if rule:
                results[position] = self._record(work, "filtered", f"{rule.name}: {rule.reason}")
            else:
                kept.append(position)
        return kept

    @staticmethod
    def _tag_one(tagger: ImageTagger, work: _Work) -> ImageTags | None:
        """Tags of one image; None when the tagger is down. A refused image is kept, untagged, with why."""
        try:
            return tagger.tag(work.data, imaging.sniff(work.data))
        except Unavailable:
            return None
        except BadInput as error:
            return ImageTags(valid=False, reason=f"tagger refused the image: {error.message}")

    def _batched(
        self,
        live: list[int],
        works: list[_Work],
        results: dict[int, Outcome],
        call: Callable[[list[_Work]], None],
    ) -> list[int]:
        """Run ``call`` on the whole batch; if the model refuses one input, retry one by one so only that
        image is rejected; if the model is down, every image of the batch is retried later."""
        items = [works[p] for p in live]
        try:
            call(items)
            return live
        except Unavailable as error:
            for position in live:
                results[position] = Outcome(works[position].event.key, "retry", error.message)
            return []
        except BadInput:
            pass
        kept = []
        for position in live:
            try:
                call([works[position]])
                kept.append(position)
            except Unavailable as error:
                results[position] = Outcome(works[position].event.key, "retry", error.message)
            except BadInput as error:
                results[position] = self._record(works[position], "rejected", error.message)
        return kept

    def _detect(self, live: list[int], works: list[_Work], results: dict[int, Outcome]) -> list[int]:
        def call(items: list[_Work]) -> None:
            for item, detections in zip(items, self.detector.detect([i.data for i in items]), strict=True):
                item.box = detections[0].box if detections else None  # nothing found: the whole image

        return self._batched(live, works, results, call)

    def _embed(self, live: list[int], works: list[_Work], results: dict[int, Outcome]) -> list[int]:
        def call(items: list[_Work]) -> None:
            vectors = self.embedder.embed([i.data for i in items], [i.box for i in items])
            for item, vector in zip(items, vectors, strict=True):
                item.vector = vector

        return self._batched(live, works, results, call)

    def _index_one(self, work: _Work) -> Outcome:
        try:
            duplicate = self._duplicate_of(work)
            if duplicate:
                return self._record(work, "duplicate", f"near-duplicate of {duplicate}, already indexed")
            product = self.catalog.get_products([work.code]).get(work.code)
            self.index.upsert(
                [IndexItem(work.image_id, work.vector, work.code, product.category if product else "")]
            )
        except Unavailable as error:
            return Outcome(work.event.key, "retry", error.message)
        return self._record(work, "indexed", "")

    def _duplicate_of(self, work: _Work) -> str:
        """The key of an image of the same product that this one nearly repeats, or ''."""
        for hit in self.index.search(work.vector, k=10):
            if hit.product_code == work.code and hit.image_id != work.image_id:
                if hit.score >= self.duplicate_threshold:
                    other = self.catalog.get_image(hit.image_id)
                    return other.key if other else hit.image_id
                return ""
        return ""

    # -- the ledger ----------------------------------------------------------------------------------

    def _record(
        self,
        work: _Work,
        status: Literal["indexed", "rejected", "filtered", "duplicate", "removed"],
        reason: str,
    ) -> Outcome:
        """Write the object's final state: the operator's report reads these rows. An object that was
        indexed and is now refused leaves the index first; if the index is down, the event is retried
        rather than recorded, so the ledger never says "rejected" while a vector still answers searches."""
        if status != "indexed" and status != "removed":
            previous = self.catalog.get_image(work.image_id)
            if previous and previous.status == "indexed":
                try:
                    self.index.delete([work.image_id])
                except Unavailable as error:
                    return Outcome(work.event.key, "retry", error.message)
        self.catalog.save_image(
            ProductImage(
                image_id=work.image_id,
                product_code=work.code,
                key=work.event.key,
                status=status,
                reason=reason,
                sequencer=work.event.sequencer,
                version=work.event.version,
                tags=work.tags.to_dict() if work.tags else {},
                box=work.box,
                updated_at=self.clock(),
            )
        )
        return Outcome(work.event.key, status, reason)

    def _reject_unplaceable(self, event: ObjectEvent, reason: str) -> Outcome:
        return self._record(_Work(event, image_id_for(event.bucket, event.key), ""), "rejected", reason)
