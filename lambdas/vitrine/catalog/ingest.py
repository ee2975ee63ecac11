"""Catalog ingestion: every object under ``products/`` ends indexed, or recorded with the reason it is not.

Per event, in order: admit (place the key, drop duplicate and stale events, handle ``product.json``,
removals and non-images at once) → read and check the image → tag → filter (rules are data) → detect the
main item → crop + embed (and, with a dual encoder, its text-space vector) → skip near-duplicates → index
the vectors, then write the ledger row. Model calls are batched across the images of one call.

Every failure ends its own object only. A model, the index, the store or the catalog that fails or times
out gives that object ``retry`` (its event is delivered again); an object that is itself bad (not an image,
a bomb, a refused input) is recorded ``rejected`` with the reason. Nothing here raises for a batch.

The index is written before the ledger, so a crash between the two leaves a vector whose ledger row is
missing (or older): the redelivered event is not stale, runs again and replaces that same vector, and a
failed ledger write removes the vector it just added. :func:`vitrine.catalog.reconcile.reconcile` mends
what a crash of the local profile leaves (vectors that never reached disk).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from common import imaging
from vitrine.catalog.domain import ImageStatus, ImageTags, ProductImage
from vitrine.catalog.filtering import FilterRule, first_match
from vitrine.catalog.ports import Catalog, ImageTagger
from vitrine.catalog.product_json import parse_product
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.events import ObjectEvent, sequencer_after
from vitrine.kernel.outcomes import Outcome, failure, skipped
from vitrine.kernel.ports import ObjectStore, VectorIndex
from vitrine.kernel.types import Box, IndexItem
from vitrine.models.detector import Detector
from vitrine.models.dual_encoder import DualEncoder
from vitrine.models.embedder import Embedder

PREFIX = "products/"
logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PRODUCT_SAVED = "product"
"""The outcome of a ``product.json`` that was saved (it has no ledger status of its own)."""


@dataclass
class _Image:
    """One image event on its way through the stages; ``outcome`` is set when it ends, early or not."""

    event: ObjectEvent
    image_id: str
    code: str
    previous: ProductImage | None = None
    data: bytes = b""
    tags: ImageTags | None = None
    box: Box | None = None
    vector: list[float] | None = None
    text_vector: list[float] | None = None
    text_model: str = ""
    outcome: Outcome | None = None


def image_id_for(bucket: str, key: str) -> str:
    """A stable id per object: the vector id in the index and the key of the catalog record."""
    return hashlib.sha1(f"{bucket}/{key}".encode()).hexdigest()[:32]


def split_key(key: str) -> tuple[str, str]:
    """``products/{code}/{name}`` → (code, name); :class:`BadInput` for any other layout."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX or not parts[1] or not parts[2]:
        raise BadInput(f"key {key!r} is not laid out as products/{{code}}/{{file}}")
    return parts[1], parts[2]


def _live(images: Sequence[_Image]) -> list[_Image]:
    return [image for image in images if image.outcome is None]


def _batches(images: Sequence[_Image], size: int) -> Iterator[list[_Image]]:
    for start in range(0, len(images), size):
        yield list(images[start : start + size])


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
        after_batch: Callable[[list[Outcome]], object] | None = None,
        dual_encoder: DualEncoder | None = None,
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
        self.dual_encoder = dual_encoder
        """The text field's encoder (CLIP/SigLIP); None: images are indexed with the image vector only."""
        self.after_batch = after_batch
        """Called with each call's outcomes once its images are indexed (describing the products saved or
        newly indexed: :meth:`vitrine.descriptions.describe.ProductDescribing.after_ingest`); never raises."""

    def ingest(self, events: Sequence[ObjectEvent]) -> list[Outcome]:
        """Apply ``events`` in order; one outcome per event, in the same order. Never raises."""
        admitted = [self._admit(event) for event in events]
        images = [item for item in admitted if isinstance(item, _Image)]
        for chunk in _batches(images, self.batch_size):
            self._read(chunk)
            self._tag_and_filter(chunk)
            self._detect(chunk)
            self._embed(chunk)
            self._embed_text_space(chunk)
            self._index(chunk)
        outcomes = [item.outcome if isinstance(item, _Image) else item for item in admitted]
        if self.after_batch is not None:
            try:  # describing is the next job's work: its failure never changes these outcomes
                self.after_batch(outcomes)  # type: ignore[arg-type]
            except Exception:
                logger.warning("the after-batch step failed; the describe sweep will catch up", exc_info=True)
        return outcomes  # type: ignore[return-value]

    # -- admission: everything that needs no model -----------------------------------------------------

    def _admit(self, event: ObjectEvent) -> Outcome | _Image:
        """The event's outcome when it needs no model, else the image to process."""
        try:
            return self._route(event)
        except Exception as error:  # one object's failure (catalog down, ...) never ends the batch
            return failure(event.key, error)

    def _route(self, event: ObjectEvent) -> Outcome | _Image:
        image_id = image_id_for(event.bucket, event.key)
        try:
            code, name = split_key(event.key)
        except BadInput as error:
            return self._record(_Image(event, image_id, ""), ImageStatus.REJECTED, error.message)
        previous = self.catalog.get_image(image_id)
        image = _Image(event, image_id, code, previous)
        stale = _stale(event, previous)
        if stale:
            return skipped(event.key, stale)
        if name == "product.json":
            return self._product(image)
        if not name.lower().endswith(IMAGE_SUFFIXES):
            return self._record(
                image, ImageStatus.REJECTED, "not an image (.jpg, .jpeg, .png, .webp) nor product.json"
            )
        if event.action == "removed":
            self.index.delete([image_id])
            return self._record(image, ImageStatus.REMOVED, "object removed from the bucket")
        return image

    def _product(self, image: _Image) -> Outcome:
        event, code = image.event, image.code
        if event.action == "removed":
            return skipped(event.key, "product.json removed: the product and its images are kept")
        try:
            product = parse_product(code, self.store.get(event.key))
        except NotFound:
            return skipped(event.key, "object no longer exists (a later event removed it)")
        except BadInput as error:
            return self._record(image, ImageStatus.REJECTED, error.message)
        before = self.catalog.get_products([code]).get(code)
        self.catalog.upsert_product(product)
        self.catalog.delete_image(image.image_id)  # a fixed file clears its rejection
        if before is None or (before.category, before.price) != (product.category, product.price):
            # Images that arrived before their product.json (or a price change) were indexed without its
            # category and price: the filters must see them. Only the index metadata changes; no model runs.
            indexed = self.catalog.list_images(status=ImageStatus.INDEXED, product_code=code, limit=100_000)
            ids = [i.image_id for i in indexed]
            if before is None or before.category != product.category:
                self.index.set_category(ids, product.category)
            if before is None or before.price != product.price:
                self.index.set_price(ids, product.price)
        return Outcome(event.key, PRODUCT_SAVED, f"product {code} saved")

    # -- the image stages ------------------------------------------------------------------------------

    def _end(self, image: _Image, error: Exception) -> None:
        """End one image on ``error``: its own fault is recorded, anything else is retried."""
        try:
            if isinstance(error, NotFound):
                image.outcome = skipped(image.event.key, "object no longer exists")
            elif isinstance(error, BadInput | imaging.ImageError):
                image.outcome = self._record(image, ImageStatus.REJECTED, error.message)
            else:
                image.outcome = failure(image.event.key, error)
        except Exception as during_record:  # the catalog failed while recording the rejection
            image.outcome = failure(image.event.key, during_record)

    def _each(self, images: Sequence[_Image], step: Callable[[_Image], None]) -> None:
        for image in _live(images):
            try:
                step(image)
            except Exception as error:
                self._end(image, error)

    def _batched(self, images: Sequence[_Image], call: Callable[[list[_Image]], None]) -> None:
        """``call`` on every live image at once; when the model refuses one input, one by one so only that
        image is rejected; when it fails otherwise, every image of the call is retried later."""
        live = _live(images)
        if not live:
            return
        try:
            call(live)
        except BadInput:
            self._each(live, lambda image: call([image]))
        except Exception as error:
            for image in live:
                self._end(image, error)

    def _read(self, images: list[_Image]) -> None:
        def read(image: _Image) -> None:
            image.data = self.store.get(image.event.key)
            imaging.inspect(image.data, self.max_image_bytes, self.max_image_pixels)

        self._each(images, read)

    def _tag_and_filter(self, images: list[_Image]) -> None:
        live = _live(images)
        if self.tagger is None or not live:
            return
        tagger = self.tagger

        def tag(batch: list[_Image]) -> None:
            answers = tagger.tag_many([(i.data, imaging.sniff(i.data)) for i in batch])
            for image, tags in zip(batch, answers, strict=True):
                image.tags = tags

        def tag_alone(image: _Image) -> None:
            """A refused image is kept, untagged, with why: a tagger's refusal never loses an image."""
            try:
                tag([image])
            except BadInput as error:
                image.tags = ImageTags(valid=False, reason=f"tagger refused the image: {error.message}")

        try:
            tag(live)
        except BadInput:
            self._each(live, tag_alone)
        except Exception as error:
            for image in live:
                self._end(image, error)

        def apply_rules(image: _Image) -> None:
            rule = first_match(self.rules, image.tags) if image.tags else None
            if rule:
                image.outcome = self._record(image, ImageStatus.FILTERED, f"{rule.name}: {rule.reason}")

        self._each(images, apply_rules)

    def _detect(self, images: list[_Image]) -> None:
        def detect(batch: list[_Image]) -> None:
            for image, found in zip(batch, self.detector.detect([i.data for i in batch]), strict=True):
                image.box = found[0].box if found else None  # nothing found: the whole image

        self._batched(images, detect)

    def _embed(self, images: list[_Image]) -> None:
        def embed(batch: list[_Image]) -> None:
            vectors = self.embedder.embed([i.data for i in batch], [i.box for i in batch])
            for image, vector in zip(batch, vectors, strict=True):
                image.vector = vector

        self._batched(images, embed)

    def _embed_text_space(self, images: list[_Image]) -> None:
        """The dual encoder's vector of each image (the space text search queries), when one is configured;
        like every model stage, a failure retries the images of the call, a refusal rejects only its image."""
        encoder = self.dual_encoder
        if encoder is None:
            return

        def embed(batch: list[_Image]) -> None:
            encoded = encoder.embed_images([i.data for i in batch], [i.box for i in batch])
            for image, vector in zip(batch, encoded.vectors, strict=True):
                image.text_vector, image.text_model = vector, encoded.model

        self._batched(images, embed)

    def _index(self, images: list[_Image]) -> None:
        self._each(images, self._index_one)

    def _index_one(self, image: _Image) -> None:
        assert image.vector is not None  # every live image was embedded
        duplicate = self._duplicate_of(image)
        if duplicate:
            image.outcome = self._record(
                image, ImageStatus.DUPLICATE, f"near-duplicate of {duplicate}, already indexed"
            )
            return
        product = self.catalog.get_products([image.code]).get(image.code)
        category, price = (product.category, product.price) if product else ("", None)
        self.index.upsert(
            [
                IndexItem(
                    image.image_id,
                    image.vector,
                    image.code,
                    category,
                    price=price,
                    text_vector=image.text_vector,
                    text_model=image.text_model,
                )
            ]
        )
        try:
            image.outcome = self._record(image, ImageStatus.INDEXED, "")
        except Exception:
            # Compensate: no vector may answer searches without its ledger row. A replaced image keeps
            # its (new) vector: its row still says indexed, and the retry rewrites the row.
            if not (image.previous and image.previous.status == ImageStatus.INDEXED):
                self.index.delete([image.image_id])
            raise

    def _duplicate_of(self, image: _Image) -> str:
        """The key of an image of the same product that this one nearly repeats, or ''."""
        assert image.vector is not None
        for hit in self.index.search(image.vector, k=10):
            if hit.product_code == image.code and hit.image_id != image.image_id:
                if hit.score >= self.duplicate_threshold:
                    other = self.catalog.get_image(hit.image_id)
                    return other.key if other else hit.image_id
                return ""
        return ""

    # -- the ledger ------------------------------------------------------------------------------------

    def _record(self, image: _Image, status: ImageStatus, reason: str) -> Outcome:
        """Write the object's final state: the operator's report reads these rows. An object that was
        indexed and is now refused leaves the index first, so the ledger never says "rejected" while a
        vector still answers searches (if the index is down, this raises and the object is retried)."""
        was_indexed = image.previous is not None and image.previous.status == ImageStatus.INDEXED
        if was_indexed and status not in (ImageStatus.INDEXED, ImageStatus.REMOVED):
            self.index.delete([image.image_id])
        self.catalog.save_image(
            ProductImage(
                image_id=image.image_id,
                product_code=image.code,
                key=image.event.key,
                status=status,
                reason=reason,
                sequencer=image.event.sequencer,
                version=image.event.version,
                tags=image.tags.to_dict() if image.tags else {},
                box=image.box,
                updated_at=self.clock(),
            )
        )
        return Outcome(image.event.key, status, reason)


def _stale(event: ObjectEvent, existing: ProductImage | None) -> str:
    """Why this event changes nothing (a duplicate or out of order), or '' to process it."""
    if existing is None:
        return ""
    if event.sequencer and existing.sequencer:
        if not sequencer_after(event.sequencer, existing.sequencer):
            return "duplicate or out-of-order event: a newer one was already applied"
        return ""
    if (
        event.action == "created"
        and event.version
        and event.version == existing.version
        and existing.status != ImageStatus.REMOVED
    ):
        return "this version was already ingested"
    return ""
