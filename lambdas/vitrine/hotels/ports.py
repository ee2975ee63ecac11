"""What the hotel job needs beyond the kernel's ports: the hotel catalog (Aurora MySQL / SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, runtime_checkable

from vitrine.hotels.domain import CoverSource, Hotel, HotelImage, HotelRecord

KEEP: Final = "keep"
"""``update_cover(pin=KEEP)``: leave the operator's pin as it is."""

ChooseCover = Callable[[str | None, Sequence[HotelImage]], tuple[str | None, CoverSource | None]]
"""(pinned image id or None, the hotel's classified images) → (cover image id, why); see ``gallery.choose_cover``."""


@runtime_checkable
class HotelCatalog(Protocol):
    """Hotels, the ledger of their objects, scores and covers.

    Every write that can move a hotel's cover also marks the hotel *changed* (``change_seq``, ``changed_at``,
    ``dirty_since``) in the same transaction, so the debounced scoring job can never miss a change.
    """

    def save_hotel(self, hotel: Hotel, *, sequencer: str, version: str, now: float) -> bool:
        """Insert or replace the hotel's metadata; True (and the hotel marked changed) when its text changed."""

    def get_hotel(self, hotel_id: str) -> HotelRecord | None: ...

    def list_hotels(
        self, *, city: str | None = None, limit: int = 20, after: str | None = None, described: bool = True
    ) -> list[HotelRecord]:
        """Hotels in id order after ``after`` (keyset paging), optionally of one city; ``described``: only
        those whose ``hotel.json`` arrived."""

    def count_hotels(self) -> int: ...

    def save_image(self, image: HotelImage, *, changed: bool, now: float) -> None:
        """Insert or replace the object's ledger row; ``changed`` marks its hotel changed (a bare hotel row
        is created for images that arrive before their ``hotel.json``)."""

    def get_image(self, image_id: str) -> HotelImage | None: ...

    def get_images(self, image_ids: Sequence[str]) -> dict[str, HotelImage]:
        """The ledger rows among ``image_ids`` that exist, keyed by id (a page of covers in one query)."""

    def delete_image(self, image_id: str) -> None:
        """Forget a ledger row (a rejected ``hotel.json`` that is now valid); absent is fine."""

    def list_images(self, hotel_id: str, status: str | None = None) -> list[HotelImage]:
        """The hotel's ledger rows in key order, optionally of one status."""

    def count_images(self) -> dict[str, int]:
        """How many hotel objects are in each status."""

    def due_for_scoring(self, *, now: float, quiet_s: float, max_wait_s: float, limit: int) -> list[str]:
        """Changed hotels whose last change is ``quiet_s`` old (or first change ``max_wait_s`` old) and that
        no scoring run holds; oldest change first."""

    def claim_scoring(self, hotel_id: str, *, now: float, lease_s: float, force: bool = False) -> int | None:
        """Take the hotel's scoring lease; the ``change_seq`` the run covers, or None when another run holds
        it (or, unless ``force``, the hotel is no longer changed)."""

    def save_scores(self, hotel_id: str, *, seq: int, scores: Mapping[str, float | None], now: float) -> None:
        """Store the run's scores, mark changes up to ``seq`` scored and release the lease."""

    def release_scoring(self, hotel_id: str) -> None:
        """Release the lease after a failed run: the hotel stays changed, a later sweep retries it."""

    def update_cover(
        self, hotel_id: str, choose: ChooseCover, *, pin: str | None = KEEP
    ) -> HotelRecord | None:
        """In one transaction: set (``pin``: an image id) or clear (None) the pin, or keep it, then store the
        cover ``choose`` picks from the classified images. A pin on an image that is not a classified image
        of the hotel raises :class:`~vitrine.errors.NotFound`; a kept pin whose image is gone is dropped.
        None when the hotel does not exist."""
