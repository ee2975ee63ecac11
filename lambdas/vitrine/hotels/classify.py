"""Hotel classification: every object under ``hotels/{hotel_id}/`` ends classified or rejected with its reason.

``hotel.json`` upserts the hotel (its text is what covers are scored against). Each image is checked from
its header (size, type, pixel count: hostile images are refused before any pixel is decoded), asked the
label question through the chat VLM — one batched request in-process, bounded concurrent requests to vLLM
— and its answer parsed to exactly one label (:mod:`vitrine.hotels.labels`), the raw answer and a
confidence kept. Idempotent by key and S3 sequencer/ETag, as catalog ingestion: the same event twice
changes nothing, a replaced image is classified again, a removed one leaves the gallery. A model that is
down makes the events ``retry``; a model that refuses one image rejects that image only.

Every change that can move a hotel's cover marks the hotel changed in the same write; the debounced
scoring job (:mod:`vitrine.hotels.covers`) sweeps those marks. Until it runs, the hotel's cover is chosen
again from what is stored (so a removed cover is replaced at once).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

from common import imaging
from vitrine.errors import BadInput, NotFound
from vitrine.hotels.domain import HotelImage, HotelImageStatus
from vitrine.hotels.gallery import cover_chooser
from vitrine.hotels.hotel_json import check_hotel_id, parse_hotel
from vitrine.hotels.labels import LabelSet
from vitrine.hotels.ports import HotelCatalog
from vitrine.kernel.events import ObjectEvent, sequencer_after
from vitrine.kernel.outcomes import Outcome, failure, skipped
from vitrine.kernel.ports import ObjectStore
from vitrine.models.chat_vlm import ChatAnswer, ChatQuestion, ChatVlm

PREFIX = "hotels/"
METADATA = "hotel.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_TOKENS = 24
"""Enough for "this is a photo of Surrounding environment and attractions."; the label comes first."""


class HotelVerdict(StrEnum):
    """The hotel job's final statuses, beside the kernel's ``skipped`` and ``retry``."""

    CLASSIFIED = "classified"
    REJECTED = "rejected"
    REMOVED = "removed"
    HOTEL = "hotel"
    """A ``hotel.json`` was saved."""


def image_id_for(bucket: str, key: str) -> str:
    """A stable id per object: the key of its ledger row, and the id the API and the pin use."""
    return hashlib.sha1(f"{bucket}/{key}".encode()).hexdigest()[:32]


def split_key(key: str) -> tuple[str, str]:
    """``hotels/{hotel_id}/{name}`` → (hotel_id, name); :class:`BadInput` for any other layout."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX or not parts[1] or not parts[2]:
        raise BadInput(f"key {key!r} is not laid out as hotels/{{hotel_id}}/{{file}}")
    return check_hotel_id(parts[1]), parts[2]


# -- one photo → one label ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What the model said of a photo and the label it maps to; ``error`` when it gave no answer."""

    label: str
    confidence: float
    raw_answer: str
    matched: bool
    error: str = ""


class PhotoClassifier:
    """The label question through the chat VLM, answers parsed to the label set."""

    def __init__(self, vlm: ChatVlm, labels: LabelSet, max_tokens: int = MAX_TOKENS) -> None:
        self.vlm = vlm
        self.labels = labels
        self.max_tokens = max_tokens

    def _read(self, answer: ChatAnswer) -> Classification:
        if not answer.ok:  # not a chat completion: the model misbehaved; the photo is kept, labelled fallback
            return Classification(self.labels.fallback, 0.0, "", False, answer.error)
        parse = self.labels.parse(answer.text)
        return Classification(parse.label, parse.confidence(answer.probability), answer.text, parse.matched)

    def classify_many(self, photos: Sequence[tuple[bytes, str]]) -> list[Classification]:
        """One classification per (image, content type), in order. The endpoint's errors propagate:
        :class:`Unavailable` (down) and :class:`BadInput` (it refused an image of the batch)."""
        questions = [ChatQuestion(image, kind, self.labels.prompt) for image, kind in photos]
        return [self._read(answer) for answer in self.vlm.ask_many(questions, self.max_tokens)]


# -- events → ledger ----------------------------------------------------------------------------------


@dataclass
class _Work:
    event: ObjectEvent
    image_id: str
    hotel_id: str
    data: bytes = b""
    mime: str = ""


class HotelClassification:
    """Turns S3 object events under ``hotels/`` into hotels and classified images."""

    def __init__(
        self,
        store: ObjectStore,
        hotels: HotelCatalog,
        classifier: PhotoClassifier,
        *,
        max_image_bytes: int,
        max_image_pixels: int,
        batch_size: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hotels = hotels
        self.classifier = classifier
        self.choose = cover_chooser(classifier.labels.may_cover)
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self.batch_size = batch_size
        self.clock = clock

    def ingest(self, events: Sequence[ObjectEvent]) -> list[Outcome]:
        """Apply ``events`` in order; one outcome per event, in the same order."""
        outcomes: dict[int, Outcome] = {}
        pending: list[tuple[int, _Work]] = []
        touched: set[str] = set()
        for position, event in enumerate(events):
            try:
                outcome = self._route(event, touched)
            except Exception as error:  # one object's failure (catalog down, ...) never ends the batch
                outcome = failure(event.key, error)
            if isinstance(outcome, _Work):
                pending.append((position, outcome))
            else:
                outcomes[position] = outcome
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            results = self._images([work for _, work in chunk], touched)
            for (position, _), outcome in zip(chunk, results, strict=True):
                outcomes[position] = outcome
        for hotel_id in sorted(touched):
            with suppress(Exception):  # the hotel is marked changed: the scoring job sets its cover
                self.hotels.update_cover(hotel_id, self.choose)
        return [outcomes[i] for i in range(len(events))]

    def _route(self, event: ObjectEvent, touched: set[str]) -> Outcome | _Work:
        """The outcome of an event handled on its own, or the work of an image to classify in a batch."""
        image_id = image_id_for(event.bucket, event.key)
        try:
            hotel_id, name = split_key(event.key)
        except BadInput as error:
            return self._record(_Work(event, image_id, ""), HotelImageStatus.REJECTED, error.message, touched)
        work = _Work(event, image_id, hotel_id)
        stale = self._stale(work) if event.action == "created" else ""
        if stale:
            return skipped(event.key, stale)
        if name == METADATA:
            return self._hotel(work, touched)
        if not name.lower().endswith(IMAGE_SUFFIXES):
            reason = f"not an image ({', '.join(IMAGE_SUFFIXES)}) nor {METADATA}"
            return self._record(work, HotelImageStatus.REJECTED, reason, touched)
        if event.action == "removed":
            return self._remove(work, touched)
        return work

    # -- idempotency ---------------------------------------------------------------------------------

    def _stale(self, work: _Work) -> str:
        """Why this created-event changes nothing (duplicate or out of order), or '' to process it."""
        existing = self.hotels.get_image(work.image_id)
        sequencer, version, removed = (
            (existing.sequencer, existing.version, existing.status == HotelImageStatus.REMOVED)
            if existing
            else ("", "", False)
        )
        if existing is None and work.event.key.endswith("/" + METADATA):
            record = self.hotels.get_hotel(work.hotel_id)
            if record and record.has_metadata:
                sequencer, version, removed = record.meta_sequencer, record.meta_version, False
        event = work.event
        if event.sequencer and sequencer:
            if not sequencer_after(event.sequencer, sequencer):
                return "duplicate or out-of-order event: a newer one was already applied"
            return ""
        if event.version and event.version == version and not removed:
            return "this version was already ingested"
        return ""

    # -- hotel.json ----------------------------------------------------------------------------------

    def _hotel(self, work: _Work, touched: set[str]) -> Outcome:
        event = work.event
        if event.action == "removed":
            return skipped(event.key, f"{METADATA} removed: the hotel and its images are kept")
        try:
            hotel = parse_hotel(work.hotel_id, self.store.get(event.key))
        except NotFound:
            return skipped(event.key, "object no longer exists (a later event removed it)")
        except BadInput as error:
            return self._record(work, HotelImageStatus.REJECTED, error.message, touched)
        changed = self.hotels.save_hotel(
            hotel, sequencer=event.sequencer, version=event.version, now=self.clock()
        )
        self.hotels.delete_image(work.image_id)  # a fixed file clears its rejection
        if changed:
            touched.add(work.hotel_id)
        return Outcome(event.key, HotelVerdict.HOTEL, f"hotel {work.hotel_id} saved")

    # -- images --------------------------------------------------------------------------------------

    def _remove(self, work: _Work, touched: set[str]) -> Outcome:
        event = work.event
        existing = self.hotels.get_image(work.image_id)
        if (
            existing
            and event.sequencer
            and existing.sequencer
            and not sequencer_after(event.sequencer, existing.sequencer)
        ):
            return skipped(event.key, "duplicate or out-of-order removal")
        return self._record(work, HotelImageStatus.REMOVED, "object removed from the bucket", touched)

    def _images(self, works: list[_Work], touched: set[str]) -> list[Outcome]:
        """Fetch and check each image, classify the survivors together; each failure ends its own image."""
        results: dict[int, Outcome] = {}
        live = []
        for position, work in enumerate(works):
            try:
                work.data = self.store.get(work.event.key)
                work.mime = imaging.inspect(work.data, self.max_image_bytes, self.max_image_pixels)[0]
            except NotFound:
                results[position] = skipped(work.event.key, "object no longer exists")
            except imaging.ImageError as error:  # hostile or broken: refused from its header, with why
                results[position] = self._record(work, HotelImageStatus.REJECTED, error.message, touched)
            except Exception as error:
                results[position] = failure(work.event.key, error)
            else:
                live.append(position)
        for position, classification in self._classify([works[p] for p in live], live, results, touched):
            results[position] = self._record(
                works[position], HotelImageStatus.CLASSIFIED, classification.error, touched, classification
            )
        return [results[i] for i in range(len(works))]

    def _classify(
        self, works: list[_Work], positions: list[int], results: dict[int, Outcome], touched: set[str]
    ) -> list[tuple[int, Classification]]:
        """Classifications of the batch; if the model refuses one image, one by one so only it is rejected;
        if the model is down, every image of the batch is retried later."""
        if not works:
            return []
        try:
            classifications = self.classifier.classify_many([(w.data, w.mime) for w in works])
            return list(zip(positions, classifications, strict=True))
        except BadInput:
            pass
        except Exception as error:  # the model is down (or answered the batch badly): retry them all
            for position, work in zip(positions, works, strict=True):
                results[position] = failure(work.event.key, error)
            return []
        done = []
        for position, work in zip(positions, works, strict=True):
            try:
                done.append((position, self.classifier.classify_many([(work.data, work.mime)])[0]))
            except BadInput as error:
                reason = f"the model refused it: {error.message}"
                results[position] = self._record(work, HotelImageStatus.REJECTED, reason, touched)
            except Exception as error:
                results[position] = failure(work.event.key, error)
        return done

    # -- the ledger ----------------------------------------------------------------------------------

    def _record(
        self,
        work: _Work,
        status: HotelImageStatus,
        reason: str,
        touched: set[str],
        classification: Classification | None = None,
    ) -> Outcome:
        """Write the object's final state (the operator reads these rows). A classified image, or one that
        leaves the gallery, marks its hotel changed in the same write, and is ``touched``."""
        event = work.event
        try:
            previous = self.hotels.get_image(work.image_id) if status != HotelImageStatus.CLASSIFIED else None
            changed = bool(work.hotel_id) and (
                status == HotelImageStatus.CLASSIFIED
                or (previous is not None and previous.status == HotelImageStatus.CLASSIFIED)
            )
            self.hotels.save_image(
                HotelImage(
                    image_id=work.image_id,
                    hotel_id=work.hotel_id,
                    key=event.key,
                    status=status,
                    reason=reason,
                    category=classification.label if classification else "",
                    raw_answer=classification.raw_answer if classification else "",
                    confidence=classification.confidence if classification else None,
                    sequencer=event.sequencer,
                    version=event.version,
                    updated_at=self.clock(),
                ),
                changed=changed,
                now=self.clock(),
            )
        except Exception as error:  # the catalog failed while recording: the event is retried
            return failure(event.key, error)
        if changed:
            touched.add(work.hotel_id)
        return Outcome(event.key, status, reason)
