"""Cover choice and gallery order: pure rules over a hotel's images."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vitrine.hotels.domain import CoverSource, HotelImage, HotelImageStatus
from vitrine.hotels.gallery import choose_cover, order_gallery
from vitrine.hotels.labels import load_labels

LABELS = load_labels()


def image(name: str, category: str, score: float | None = None, confidence: float | None = 0.5) -> HotelImage:
    return HotelImage(
        image_id=name,
        hotel_id="h",
        key=f"hotels/h/{name}.jpg",
        status=HotelImageStatus.CLASSIFIED,
        category=category,
        score=score,
        confidence=confidence,
    )


def test_the_best_scored_eligible_image_is_the_cover_never_a_never_cover_category() -> None:
    images = [image("food", "Food and Dining", 0.99), image("pool", "Pool", 0.7), image("room", "Room", 0.6)]
    assert choose_cover(None, images, LABELS.may_cover) == ("pool", CoverSource.RANKER)


def test_a_pin_wins_over_every_score_even_a_never_cover_category() -> None:
    images = [image("pool", "Pool", 0.9), image("food", "Food and Dining", 0.1)]
    assert choose_cover("food", images, LABELS.may_cover) == ("food", CoverSource.PINNED)


def test_a_pin_on_an_image_that_is_gone_is_ignored() -> None:
    images = [image("pool", "Pool", 0.9)]
    assert choose_cover("gone", images, LABELS.may_cover) == ("pool", CoverSource.RANKER)


def test_unscored_eligible_images_fall_back_to_the_most_confident() -> None:
    images = [image("a", "Room", None, 0.2), image("b", "Lobby", None, 0.9)]
    assert choose_cover(None, images, LABELS.may_cover) == ("b", CoverSource.UNSCORED)


def test_a_hotel_with_only_never_cover_photos_still_gets_one_marked_fallback() -> None:
    images = [image("a", "Parking", 0.1), image("b", "Other", 0.3)]
    assert choose_cover(None, images, LABELS.may_cover) == ("b", CoverSource.FALLBACK)


def test_no_images_no_cover() -> None:
    assert choose_cover(None, [], LABELS.may_cover) == (None, None)


def test_gallery_cover_first_then_a_category_mix_best_first_within_each() -> None:
    images = [
        image("pool1", "Pool", 0.9),
        image("pool2", "Pool", 0.8),
        image("pool3", "Pool", 0.1),
        image("room1", "Room", 0.7),
        image("room2", "Room", 0.2),
        image("lobby", "Lobby", 0.5),
    ]
    ordered = [i.image_id for i in order_gallery(images, "pool1")]
    assert ordered == ["pool1", "room1", "pool2", "lobby", "room2", "pool3"]


def test_a_category_repeats_only_when_it_is_the_last_one_left() -> None:
    images = [image(f"p{i}", "Pool", 1 - i / 10) for i in range(4)] + [image("r", "Room", 0.0)]
    assert [i.image_id for i in order_gallery(images, "p0")] == ["p0", "r", "p1", "p2", "p3"]


CATEGORIES = st.sampled_from(["Pool", "Room", "Lobby", "Bar", "Other"])
IMAGES = st.lists(
    st.tuples(CATEGORIES, st.none() | st.floats(-5, 5), st.none() | st.floats(0, 1)), max_size=30
).map(lambda rows: [image(f"i{n}", c, s, k) for n, (c, s, k) in enumerate(rows)])


@settings(max_examples=200, deadline=None)
@given(IMAGES, st.booleans())
def test_gallery_properties(images: list[HotelImage], with_cover: bool) -> None:
    cover, _ = choose_cover(None, images, LABELS.may_cover) if with_cover else (None, None)
    ordered = order_gallery(images, cover)
    assert sorted(i.image_id for i in ordered) == sorted(i.image_id for i in images)  # a permutation
    if cover:
        assert ordered[0].image_id == cover
    for position in range(1, len(ordered)):
        if ordered[position].category == ordered[position - 1].category:
            # a repeat only when nothing of another category is left
            assert all(i.category == ordered[position].category for i in ordered[position:])
    for category in {i.category for i in ordered}:
        run = [i for i in ordered[1 if cover else 0 :] if i.category == category]
        keys = [(i.score is None, -(i.score or 0), -(i.confidence or 0), i.key) for i in run]
        assert keys == sorted(keys)  # best first within each category
