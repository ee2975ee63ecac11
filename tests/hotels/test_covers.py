"""Debounced cover scoring: ten new photos of a hotel are one scoring job; pins are kept until unpinned;
a failed run leaves the hotel for the next sweep; the ranker client splits large hotels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import JsonEndpoint
from tests.hotels.world import World, photo
from vitrine.errors import Unavailable
from vitrine.hotels.domain import CoverSource
from vitrine.models.cover_ranker import CoverRanker


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def ten_photos(world: World, hotel: str = "h1") -> list:
    events = [world.hotel_json(hotel)]
    for n in range(10):
        data = photo((20 * n, 100, 50))
        world.vlm.answers[data] = ["Pool", "Room", "Lobby", "Food and Dining", "Parking"][n % 5]
        events.append(world.put(f"hotels/{hotel}/p{n}.jpg", data))
    return events


def test_ten_image_events_for_one_hotel_are_one_scoring_job(world: World) -> None:
    events = ten_photos(world)
    for start in range(0, len(events), 3):  # delivered over several invocations, as SQS does
        world.ingest(*events[start : start + 3])
        world.clock.now += 5
    assert world.covers.sweep().runs == []  # still within the quiet period after the last change
    world.clock.now += 61
    summary = world.covers.sweep()
    assert summary.to_dict() == {"due": 1, "scored": 1, "busy": 0, "failed": 0, "gone": 0}
    assert len(world.ranker.requests) == 1  # every eligible photo in one request
    assert world.ranker.images_scored() == 6  # Food and Dining and Parking never make a cover
    assert json.loads(json.dumps(world.ranker.requests[0]))["text"] == "Hotel h1. Sea view and a rooftop pool"
    world.clock.now += 3600
    assert world.covers.sweep().runs == []  # nothing changed since: no job
    assert len(world.ranker.requests) == 1


def test_the_cover_is_the_best_eligible_score_and_never_a_never_cover_photo(world: World) -> None:
    food, pool, room = photo((250, 0, 0)), photo((0, 0, 250)), photo((0, 250, 0))
    world.vlm.answers = {food: "Food and Dining", pool: "Pool", room: "Room"}
    world.ranker.scores = {food: 9.0, pool: 0.5, room: 0.4}
    world.ingest(
        world.hotel_json("h1"),
        world.put("hotels/h1/food.jpg", food),
        world.put("hotels/h1/pool.jpg", pool),
        world.put("hotels/h1/room.jpg", room),
    )
    run = world.covers.sweep(quiet_s=0).runs[0]
    assert (run.cover_image_id, run.cover_source, run.scored) == (
        world.image_id("hotels/h1/pool.jpg"),
        CoverSource.RANKER,
        2,
    )
    assert world.image("hotels/h1/food.jpg").score is None
    assert world.image("hotels/h1/pool.jpg").score == 0.5


def test_a_pinned_cover_is_respected_by_later_runs_until_unpinned(world: World) -> None:
    pool, room = photo((0, 0, 250)), photo((0, 250, 0))
    world.vlm.answers = {pool: "Pool", room: "Room"}
    world.ranker.scores = {pool: 0.9, room: 0.1}
    world.ingest(
        world.hotel_json("h1"), world.put("hotels/h1/pool.jpg", pool), world.put("hotels/h1/room.jpg", room)
    )
    world.covers.sweep(quiet_s=0)
    room_id = world.image_id("hotels/h1/room.jpg")
    world.hotels.update_cover("h1", world.covers.choose, pin=room_id)
    world.ingest(world.put("hotels/h1/new.jpg", photo((1, 2, 3))))  # a change: a later run
    assert world.covers.sweep(quiet_s=0).runs[0].status == "scored"
    record = world.hotels.get_hotel("h1")
    assert (record.cover_image_id, record.cover_source) == (room_id, CoverSource.PINNED)
    assert world.covers.score_hotel("h1", force=True).cover_image_id == room_id  # an operator's rescore too
    record = world.hotels.update_cover("h1", world.covers.choose, pin=None)
    assert record.cover_image_id == world.image_id("hotels/h1/pool.jpg")


def test_exactly_one_cover_per_hotel_with_eligible_images(world: World) -> None:
    for hotel in ("a", "b", "c"):
        world.ingest(*ten_photos(world, hotel))
    world.covers.sweep(quiet_s=0)
    for hotel in ("a", "b", "c"):
        record = world.hotels.get_hotel(hotel)
        images = world.hotels.list_images(hotel, status="classified")
        assert sum(1 for i in images if i.image_id == record.cover_image_id) == 1
        cover = next(i for i in images if i.image_id == record.cover_image_id)
        assert cover.category not in world.covers.labels.never_cover


def test_a_ranker_that_is_down_fails_the_run_and_the_next_sweep_retries(world: World) -> None:
    world.ingest(*ten_photos(world))
    world.ranker.down = True
    assert world.covers.sweep(quiet_s=0).to_dict()["failed"] == 1
    assert world.hotels.get_hotel("h1").dirty
    world.ranker.down = False
    assert world.covers.sweep(quiet_s=0).to_dict()["scored"] == 1
    assert not world.hotels.get_hotel("h1").dirty


def test_a_photo_the_ranker_refuses_is_left_unscored_and_the_others_scored(world: World) -> None:
    bad, good = photo((1, 1, 1)), photo((2, 2, 2))
    world.vlm.answers = {bad: "Pool", good: "Pool"}
    world.ranker.refuse = {bad}
    world.ingest(
        world.hotel_json("h1"), world.put("hotels/h1/bad.jpg", bad), world.put("hotels/h1/good.jpg", good)
    )
    run = world.covers.sweep(quiet_s=0).runs[0]
    assert run.status == "scored" and run.scored == 1
    assert world.image("hotels/h1/bad.jpg").score is None
    assert run.cover_image_id == world.image_id("hotels/h1/good.jpg")


def test_a_hotel_without_hotel_json_gets_a_provisional_cover_and_is_scored_once_its_text_arrives(
    world: World,
) -> None:
    world.ingest(world.put("hotels/h1/a.jpg", photo((1, 1, 1))))
    run = world.covers.sweep(quiet_s=0).runs[0]
    assert (run.cover_source, run.scored, len(world.ranker.requests)) == (CoverSource.UNSCORED, 0, 0)
    world.ingest(world.hotel_json("h1"))
    run = world.covers.sweep(quiet_s=0).runs[0]
    assert (run.cover_source, run.scored) == (CoverSource.RANKER, 1)


def test_a_run_holding_the_hotel_makes_a_second_one_busy(world: World) -> None:
    world.ingest(*ten_photos(world))
    assert world.hotels.claim_scoring("h1", now=world.clock.now, lease_s=600) is not None
    assert world.covers.score_hotel("h1", force=True).status == "busy"
    assert world.covers.score_hotel("nope").status == "gone"


def test_the_ranker_client_splits_a_large_hotel_by_count_and_by_payload_size() -> None:
    endpoint = JsonEndpoint("ranker", lambda r: {"scores": [float(len(r["images"]))] * len(r["images"])})
    ranker = CoverRanker(endpoint, max_images=64, max_payload_bytes=10_000)
    scores = ranker.score("text", [b"x" * 10] * 130)
    assert [len(r["images"]) for r in endpoint.requests] == [64, 64, 2]
    assert scores == [64.0] * 128 + [2.0] * 2
    assert ranker.requests_for("t", [b"x" * 3000] * 5) == [[0, 1], [2, 3], [4]]


def test_the_ranker_client_refuses_answers_that_are_not_scores() -> None:
    for answer in (
        {"scores": [1.0]},
        {"scores": ["a", "b"]},
        {"scores": [float("nan"), 1.0]},
        {"nothing": 1},
    ):
        ranker = CoverRanker(JsonEndpoint("ranker", lambda r, a=answer: a))
        with pytest.raises(Unavailable):
            ranker.score("text", [b"a", b"b"])


def test_the_ranker_client_cuts_a_very_long_text() -> None:
    endpoint = JsonEndpoint("ranker", lambda r: {"scores": [0.0] * len(r["images"])})
    CoverRanker(endpoint).score("x" * 30_000, [b"a"])
    assert len(endpoint.requests[0]["text"]) == 10_000
