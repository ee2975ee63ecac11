"""The hotel job's domain: hotels, their images, and the scoring state of each hotel. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HotelImageStatus(StrEnum):
    """Where a hotel object ended: the ledger row's status."""

    CLASSIFIED = "classified"
    REJECTED = "rejected"
    REMOVED = "removed"


class CoverSource(StrEnum):
    """Why the cover is the cover: what an operator reads next to it."""

    PINNED = "pinned"
    """An operator chose it; later scoring runs keep it until it is unpinned."""
    RANKER = "ranker"
    """The best ranker score among the images whose category may make a cover."""
    UNSCORED = "unscored"
    """No score yet (the hotel has no text to score against): the most confident eligible image."""
    FALLBACK = "fallback"
    """Every image is in a never-cover category: the best of them, so the hotel still has a cover."""


@dataclass(frozen=True)
class Hotel:
    """A hotel as ``hotels/{hotel_id}/hotel.json`` describes it; fields we do not know are kept in ``extra``."""

    hotel_id: str
    name: str = ""
    description: str = ""
    city: str = ""
    stars: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the ranker scores images against: the name and the description."""
        return ". ".join(part.strip() for part in (self.name, self.description) if part.strip())


@dataclass(frozen=True)
class HotelRecord:
    """A hotel and its state: which cover, pinned or not, and whether its images changed since scoring.

    ``change_seq`` grows with every change that can move the cover (an image classified or removed, the
    text changed); ``scored_seq`` is the change the last scoring run saw. A hotel is *dirty* while
    ``change_seq > scored_seq``: that mark, written in the same transaction as the change, is what the
    debounced scoring job sweeps.
    """

    hotel: Hotel
    has_metadata: bool = False
    meta_sequencer: str = ""
    meta_version: str = ""
    cover_image_id: str | None = None
    cover_source: CoverSource | None = None
    pinned_image_id: str | None = None
    change_seq: int = 0
    scored_seq: int = 0
    changed_at: float = 0.0
    dirty_since: float | None = None
    scored_at: float | None = None
    updated_at: float = 0.0

    @property
    def hotel_id(self) -> str:
        return self.hotel.hotel_id

    @property
    def dirty(self) -> bool:
        return self.change_seq > self.scored_seq


@dataclass(frozen=True)
class HotelImage:
    """One object under ``hotels/{hotel_id}/`` and what classification made of it.

    ``raw_answer`` is the model's text, kept whatever the parse made of it; ``score`` is the ranker's
    (None until scored, and for images whose category never makes a cover).
    """

    image_id: str
    hotel_id: str
    key: str
    status: HotelImageStatus
    reason: str = ""
    category: str = ""
    raw_answer: str = ""
    confidence: float | None = None
    score: float | None = None
    sequencer: str = ""
    version: str = ""
    updated_at: float = 0.0
