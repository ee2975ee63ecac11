"""Which image is the cover, and the order the gallery shows: pure functions over a hotel's images.

* Cover: an operator's pin wins; else the best ranker score among images whose category may make a cover
  (``never_cover`` in ``labels.json``); an eligible image without a score yet (no text to score against)
  falls back to the most confident; a hotel whose every image is in a never-cover category still gets the
  best of them, marked ``fallback``.
* Gallery: the cover first, then a category mix — never two photos of one category in a row while another
  category still has photos — best first within each category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from vitrine.hotels.domain import CoverSource, HotelImage

RankKey = tuple[bool, float, float, str]


def rank_key(image: HotelImage) -> RankKey:
    """Sorts best first: scored before unscored, higher score, higher confidence, then the key (stable)."""
    return (
        image.score is None,
        -(image.score if image.score is not None else 0.0),
        -(image.confidence if image.confidence is not None else 0.0),
        image.key,
    )


def cover_chooser(
    may_cover: Callable[[str], bool],
) -> Callable[[str | None, Sequence[HotelImage]], tuple[str | None, CoverSource | None]]:
    """A ``choose`` for :meth:`~vitrine.hotels.ports.HotelCatalog.update_cover` with the label set's rule."""

    def choose(pinned: str | None, images: Sequence[HotelImage]) -> tuple[str | None, CoverSource | None]:
        return choose_cover(pinned, images, may_cover)

    return choose


def choose_cover(
    pinned: str | None, images: Sequence[HotelImage], may_cover: Callable[[str], bool]
) -> tuple[str | None, CoverSource | None]:
    """(cover image id, why) among ``images`` (the hotel's classified images); (None, None) for none."""
    if pinned and any(image.image_id == pinned for image in images):
        return pinned, CoverSource.PINNED
    eligible = [image for image in images if may_cover(image.category)]
    if eligible:
        best = min(eligible, key=rank_key)
        return best.image_id, CoverSource.RANKER if best.score is not None else CoverSource.UNSCORED
    if images:
        return min(images, key=rank_key).image_id, CoverSource.FALLBACK
    return None, None


def order_gallery(images: Iterable[HotelImage], cover_id: str | None) -> list[HotelImage]:
    """The cover, then a category mix: at each step the best next photo of a category other than the one
    just shown; a category repeats only when it is the only one left."""
    remaining = sorted(images, key=rank_key)
    ordered: list[HotelImage] = []
    cover = next((image for image in remaining if image.image_id == cover_id), None)
    if cover is not None:
        remaining.remove(cover)
        ordered.append(cover)
    queues: dict[str, list[HotelImage]] = {}
    for image in remaining:  # best first within each category
        queues.setdefault(image.category, []).append(image)
    last = cover.category if cover is not None else None
    while queues:
        others = [category for category in queues if category != last] or [last]
        # The best head among the other categories; on a tie, the category with more photos left.
        category = min(others, key=lambda c: (rank_key(queues[c][0]), -len(queues[c])))
        ordered.append(queues[category].pop(0))
        if not queues[category]:
            del queues[category]
        last = category
    return ordered
