"""Hotel classification over the real local adapters with JSON-contract fake models: every object ends
classified or rejected with its reason, one bad image never fails the others, idempotent by
key/sequencer/ETag, deletes remove the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hotels.world import LABELS, World, photo, png_bomb
from vitrine.hotels.domain import HotelImageStatus


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_each_photo_gets_one_label_of_the_set_the_raw_answer_and_a_confidence(world: World) -> None:
    pool, terrace, weird = photo((0, 0, 255)), photo((0, 255, 0)), photo((9, 9, 9))
    world.vlm.answers = {
        pool: "this is a photo of a pool",
        terrace: " this is a photo of Terrace/Patio.",
        weird: "hmm",
    }
    world.vlm.logprobs = [-0.1, -0.2]
    outcomes = world.ingest(
        world.hotel_json("h1"),
        world.put("hotels/h1/pool.jpg", pool),
        world.put("hotels/h1/terrace.jpg", terrace),
        world.put("hotels/h1/weird.jpg", weird),
    )
    assert set(outcomes.values()) == {"hotel", "classified"}
    images = {i.key.rsplit("/", 1)[1]: i for i in world.hotels.list_images("h1")}
    assert {k: i.category for k, i in images.items()} == {
        "pool.jpg": "Pool",
        "terrace.jpg": "Terrace/Patio",
        "weird.jpg": "Other",
    }
    assert images["terrace.jpg"].raw_answer == " this is a photo of Terrace/Patio."
    assert images["pool.jpg"].confidence == pytest.approx(0.7408, abs=1e-4)  # exp(-0.3) x agreement 1
    assert images["weird.jpg"].confidence == 0.0 and images["weird.jpg"].raw_answer == "hmm"
    assert all(i.category in LABELS.labels for i in images.values())


def test_the_published_prompt_goes_to_the_endpoint_as_a_chat_completion(world: World) -> None:
    world.ingest(
        world.put("hotels/h1/a.jpg", photo((1, 2, 3))), world.put("hotels/h1/b.jpg", photo((3, 2, 1)))
    )
    assert len(world.vlm.requests) == 1  # in-process: one batched request
    request = world.vlm.requests[0]["requests"][0]
    content = request["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert content[1] == {"type": "text", "text": LABELS.prompt}
    assert request["temperature"] == 0 and request["max_tokens"] <= 32 and request["logprobs"] is True


def test_against_vllm_the_photos_go_as_concurrent_single_requests(tmp_path: Path) -> None:
    world = World(tmp_path, batch_requests=False)
    world.ingest(*[world.put(f"hotels/h1/{n}.jpg", photo((n, 0, 0))) for n in range(3)])
    assert len(world.vlm.requests) == 3 and all("messages" in r for r in world.vlm.requests)


def test_one_bad_image_never_fails_the_others_and_hostile_ones_are_rejected_with_a_reason(
    world: World,
) -> None:
    good, refused = photo((10, 200, 10)), photo((200, 10, 10))
    world.vlm.refuse = {refused}
    outcomes = world.ingest(
        world.put("hotels/h1/good.jpg", good),
        world.put("hotels/h1/bomb.png", png_bomb()),
        world.put("hotels/h1/garbage.jpg", b"not an image at all"),
        world.put("hotels/h1/refused.jpg", refused),
        world.put("hotels/h1/notes.txt", b"hello"),
        world.put("hotels/h1/deep/x.jpg", good),
        world.put("hotels/bad id!/x.jpg", good),
    )
    assert outcomes == {
        "hotels/h1/good.jpg": "classified",
        "hotels/h1/bomb.png": "rejected",
        "hotels/h1/garbage.jpg": "rejected",
        "hotels/h1/refused.jpg": "rejected",
        "hotels/h1/notes.txt": "rejected",
        "hotels/h1/deep/x.jpg": "rejected",
        "hotels/bad id!/x.jpg": "rejected",
    }
    reasons = {k: world.image(k).reason for k in outcomes if outcomes[k] == "rejected"}
    assert "pixels" in reasons["hotels/h1/bomb.png"]
    assert "unsupported image type" in reasons["hotels/h1/garbage.jpg"]
    assert "model refused" in reasons["hotels/h1/refused.jpg"]
    assert "not an image" in reasons["hotels/h1/notes.txt"]
    assert "laid out as hotels/" in reasons["hotels/h1/deep/x.jpg"]
    assert "hotel id" in reasons["hotels/bad id!/x.jpg"]
    assert world.vlm.images_asked() == 4  # the batch of two, then each alone once the model refused it
    assert world.hotels.get_hotel("h1").cover_image_id == world.image_id("hotels/h1/good.jpg")


def test_a_model_that_is_down_retries_every_image_and_records_nothing(world: World) -> None:
    world.vlm.down = True
    outcomes = world.ingest(
        world.put("hotels/h1/a.jpg", photo((1, 1, 1))), world.put("hotels/h1/b.jpg", photo((2, 2, 2)))
    )
    assert set(outcomes.values()) == {"retry"}
    assert world.hotels.list_images("h1") == [] and world.hotels.get_hotel("h1") is None
    world.vlm.down = False
    events = [world.put("hotels/h1/a.jpg", photo((1, 1, 1)))]
    assert world.ingest(*events) == {"hotels/h1/a.jpg": "classified"}


def test_an_answer_that_is_not_a_chat_completion_keeps_the_photo_labelled_other_with_why(
    world: World,
) -> None:
    world.vlm.not_a_completion = True
    assert world.ingest(world.put("hotels/h1/a.jpg", photo((1, 1, 1)))) == {"hotels/h1/a.jpg": "classified"}
    image = world.image("hotels/h1/a.jpg")
    assert (image.category, image.confidence) == ("Other", 0.0) and "not a chat completion" in image.reason


def test_the_same_events_twice_change_nothing(world: World) -> None:
    events = [
        world.hotel_json("h1"),
        world.put("hotels/h1/a.jpg", photo((1, 1, 1))),
        world.put("hotels/h1/b.png", png_bomb()),
    ]
    world.ingest(*events)
    before = (world.hotels.get_hotel("h1"), world.hotels.list_images("h1"), world.vlm.images_asked())
    assert set(world.ingest(*events).values()) == {"skipped"}
    assert (world.hotels.get_hotel("h1"), world.hotels.list_images("h1"), world.vlm.images_asked()) == before


def test_a_listing_without_sequencer_is_a_no_op_by_etag(world: World) -> None:
    live = world.put("hotels/h1/a.jpg", photo((1, 1, 1)))
    world.ingest(live)
    listed = type(live)(live.bucket, live.key, "created", "", live.version, live.size)
    assert world.ingest(listed) == {"hotels/h1/a.jpg": "skipped"}


def test_an_older_event_after_a_newer_one_is_skipped(world: World) -> None:
    old = world.put("hotels/h1/a.jpg", photo((1, 1, 1)))
    new = world.put("hotels/h1/a.jpg", photo((2, 2, 2)))
    world.ingest(new)
    assert world.ingest(old) == {"hotels/h1/a.jpg": "skipped"}


def test_a_replaced_photo_is_classified_again_and_loses_its_old_score(world: World) -> None:
    world.ingest(world.hotel_json("h1"), world.put("hotels/h1/a.jpg", photo((1, 1, 1))))
    world.covers.sweep(quiet_s=0)
    assert world.image("hotels/h1/a.jpg").score is not None
    replaced = photo((0, 0, 250))
    world.vlm.answers[replaced] = "Pool."
    assert world.ingest(world.put("hotels/h1/a.jpg", replaced)) == {"hotels/h1/a.jpg": "classified"}
    image = world.image("hotels/h1/a.jpg")
    assert (image.category, image.score) == ("Pool", None)
    assert world.hotels.get_hotel("h1").dirty


def test_deleting_the_cover_removes_it_from_the_gallery_and_picks_another_at_once(world: World) -> None:
    a, b = photo((1, 1, 1)), photo((2, 2, 2))
    world.ranker.scores = {a: 0.9, b: 0.1}
    world.ingest(world.hotel_json("h1"), world.put("hotels/h1/a.jpg", a), world.put("hotels/h1/b.jpg", b))
    world.covers.sweep(quiet_s=0)
    assert world.hotels.get_hotel("h1").cover_image_id == world.image_id("hotels/h1/a.jpg")
    assert world.ingest(world.remove("hotels/h1/a.jpg")) == {"hotels/h1/a.jpg": "removed"}
    assert world.image("hotels/h1/a.jpg").status == HotelImageStatus.REMOVED
    record = world.hotels.get_hotel("h1")
    assert record.cover_image_id == world.image_id("hotels/h1/b.jpg") and record.dirty
    assert [i.key for i in world.hotels.list_images("h1", status="classified")] == ["hotels/h1/b.jpg"]


def test_an_image_created_again_after_its_removal_comes_back(world: World) -> None:
    data = photo((3, 3, 3))
    first = world.put("hotels/h1/a.jpg", data)
    world.ingest(first)
    world.ingest(world.remove("hotels/h1/a.jpg"))
    again = world.put("hotels/h1/a.jpg", data)  # same bytes, same ETag: a removed row does not block it
    assert world.ingest(again) == {"hotels/h1/a.jpg": "classified"}


def test_hotel_json_validated_kept_extras_rejection_cleared_when_fixed(world: World) -> None:
    bad = world.put("hotels/h1/hotel.json", b'{"description": "no name"}')
    assert world.ingest(bad) == {"hotels/h1/hotel.json": "rejected"}
    assert "name" in world.image("hotels/h1/hotel.json").reason
    assert world.ingest(world.hotel_json("h1", stars=4, amenities=["spa"])) == {
        "hotels/h1/hotel.json": "hotel"
    }
    record = world.hotels.get_hotel("h1")
    assert (
        record.hotel.name == "Hotel h1"
        and record.hotel.stars == 4
        and record.hotel.extra == {"amenities": ["spa"]}
    )
    assert world.image("hotels/h1/hotel.json") is None


def test_hotel_json_that_names_another_hotel_is_rejected(world: World) -> None:
    event = world.hotel_json("h1", hotel_id="h2")
    assert world.ingest(event) == {"hotels/h1/hotel.json": "rejected"}
    assert "hotels/h1/" in world.image("hotels/h1/hotel.json").reason


def test_removing_hotel_json_keeps_the_hotel(world: World) -> None:
    world.ingest(world.hotel_json("h1"))
    assert world.ingest(world.remove("hotels/h1/hotel.json")) == {"hotels/h1/hotel.json": "skipped"}
    assert world.hotels.get_hotel("h1").has_metadata


def test_a_catalog_that_fails_for_one_object_retries_that_object_only(world: World, monkeypatch) -> None:
    real = world.hotels.save_image

    def flaky(image, **kw):
        if image.key.endswith("b.jpg"):
            raise RuntimeError("deadlock found when trying to get lock")
        return real(image, **kw)

    monkeypatch.setattr(world.hotels, "save_image", flaky)
    outcomes = world.ingest(
        world.put("hotels/h1/a.jpg", photo((1, 1, 1))), world.put("hotels/h1/b.jpg", photo((2, 2, 2)))
    )
    assert outcomes == {"hotels/h1/a.jpg": "classified", "hotels/h1/b.jpg": "retry"}
