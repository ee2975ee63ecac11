"""Cover scoring: once a hotel's images or text stop changing, score them with the ranker and keep one cover.

Debounced through the hotel catalog itself: every change marks the hotel changed in the same write
(:class:`~vitrine.hotels.ports.HotelCatalog`), and :meth:`CoverScoring.sweep` — run on a schedule in the
cloud, right after ``vitrine ingest`` locally — scores each hotel whose last change is at least ``quiet_s``
old (or whose first unscored change is ``max_wait_s`` old, so a hotel that never stops changing is still
scored). Ten images arriving together are one scoring run, not ten. A run takes a lease on the hotel, so two
sweeps never score it at once, and records the change it saw: a change made during the run leaves the hotel
changed for the next sweep.

A run scores every image whose category may make a cover (all of them when none may) against the hotel's
name and description, in one ranker request (split when large), stores the scores, and picks the cover
(:func:`vitrine.hotels.gallery.choose_cover`): an operator's pin is kept until it is unpinned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vitrine.errors import BadInput, NotFound, Unavailable
from vitrine.hotels.domain import CoverSource, HotelImage, HotelImageStatus
from vitrine.hotels.gallery import cover_chooser
from vitrine.hotels.labels import LabelSet
from vitrine.hotels.ports import HotelCatalog
from vitrine.kernel.concurrency import map_concurrently
from vitrine.kernel.ports import ObjectStore
from vitrine.models.cover_ranker import CoverRanker

RunStatus = Literal["scored", "busy", "failed", "gone"]


@dataclass(frozen=True)
class ScoringRun:
    """What one hotel's run did: ``busy`` (another run holds it), ``failed`` (retried by a later sweep),
    ``gone`` (no such hotel)."""

    hotel_id: str
    status: RunStatus
    reason: str = ""
    scored: int = 0
    cover_image_id: str | None = None
    cover_source: CoverSource | None = None


@dataclass
class SweepSummary:
    due: int = 0
    runs: list[ScoringRun] = field(default_factory=list)

    def count(self, status: RunStatus) -> int:
        return sum(1 for run in self.runs if run.status == status)

    def to_dict(self) -> dict[str, int]:
        return {"due": self.due, **{s: self.count(s) for s in ("scored", "busy", "failed", "gone")}}


class CoverScoring:
    """The debounced per-hotel scoring job, and the operator's rescore of one hotel."""

    def __init__(
        self,
        store: ObjectStore,
        hotels: HotelCatalog,
        ranker: CoverRanker,
        labels: LabelSet,
        *,
        quiet_s: float,
        max_wait_s: float,
        lease_s: float,
        max_hotels: int = 100,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hotels = hotels
        self.ranker = ranker
        self.labels = labels
        self.choose = cover_chooser(labels.may_cover)
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.lease_s = lease_s
        self.max_hotels = max_hotels
        self.concurrency = concurrency
        self.clock = clock

    def sweep(self, quiet_s: float | None = None) -> SweepSummary:
        """Score the hotels that are due (oldest change first, at most ``max_hotels``; the rest wait for the
        next sweep). ``quiet_s`` overrides the setting (``vitrine ingest`` sweeps with 0)."""
        due = self.hotels.due_for_scoring(
            now=self.clock(),
            quiet_s=self.quiet_s if quiet_s is None else quiet_s,
            max_wait_s=self.max_wait_s,
            limit=self.max_hotels,
        )
        return SweepSummary(due=len(due), runs=map_concurrently(self.score_hotel, due, self.concurrency))

    def score_hotel(self, hotel_id: str, *, force: bool = False) -> ScoringRun:
        """One hotel's run. ``force`` (an operator's rescore) runs even when nothing changed."""
        if self.hotels.get_hotel(hotel_id) is None:
            return ScoringRun(hotel_id, "gone", "no such hotel")
        seq = self.hotels.claim_scoring(hotel_id, now=self.clock(), lease_s=self.lease_s, force=force)
        if seq is None:
            return ScoringRun(hotel_id, "busy", "another run holds it, or nothing changed")
        try:
            record = self.hotels.get_hotel(hotel_id)
            images = self.hotels.list_images(hotel_id, status=HotelImageStatus.CLASSIFIED)
            scores = self._scores(record.hotel.text if record else "", images)
            self.hotels.save_scores(hotel_id, seq=seq, scores=scores, now=self.clock())
            updated = self.hotels.update_cover(hotel_id, self.choose)
        except Unavailable as error:
            self.hotels.release_scoring(hotel_id)
            return ScoringRun(hotel_id, "failed", error.message)
        except BaseException:
            self.hotels.release_scoring(hotel_id)
            raise
        return ScoringRun(
            hotel_id,
            "scored",
            scored=sum(1 for score in scores.values() if score is not None),
            cover_image_id=updated.cover_image_id if updated else None,
            cover_source=updated.cover_source if updated else None,
        )

    def _scores(self, text: str, images: Sequence[HotelImage]) -> dict[str, float | None]:
        """A score for every eligible image (every image when none is eligible); None for the others, for
        images the ranker refuses, and for all when the hotel has no text yet."""
        scores: dict[str, float | None] = {image.image_id: None for image in images}
        eligible = [image for image in images if self.labels.may_cover(image.category)] or list(images)
        if not text or not eligible:
            return scores
        fetched: list[tuple[str, bytes]] = []
        for image in eligible:
            try:
                fetched.append((image.image_id, self.store.get(image.key)))
            except NotFound:
                continue  # removed meanwhile: its removal event updates the ledger
        try:
            values = self.ranker.score(text, [data for _, data in fetched])
            scores.update(zip([image_id for image_id, _ in fetched], values, strict=True))
        except BadInput:  # the ranker refuses one photo: score one by one so only it goes unscored
            for image_id, data in fetched:
                try:
                    scores[image_id] = self.ranker.score(text, [data])[0]
                except BadInput:
                    scores[image_id] = None
        return scores
