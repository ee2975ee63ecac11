"""The hotel Lambda entry points over the local services: SQS partial batch responses, Distributed Map
batches, and the scheduled cover sweep."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.hotels.world import photo
from vitrine.kernel.events import s3_record, sqs_batch
from vitrine_dev.lambda_context import LocalContext


@pytest.fixture(scope="module")
def app(local_home: Path):
    from vitrine.wiring import services

    return services()


def put(app, key: str, data: bytes, sequencer: str) -> dict:
    app.store.put(key, data)
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return {
        "Records": [s3_record(app.store.name, key, "created", size=len(data), etag=etag, sequencer=sequencer)]
    }


def test_a_malformed_message_fails_alone_and_the_photos_of_the_others_are_classified(app) -> None:
    from handlers import hotels_classify

    notes = [
        put(app, "hotels/handler-1/hotel.json", json.dumps({"name": "Handler Inn"}).encode(), "01"),
        put(app, "hotels/handler-1/a.jpg", photo((10, 20, 30)), "02"),
        put(app, "hotels/handler-1/b.jpg", photo((30, 20, 10)), "03"),
    ]
    event = sqs_batch(notes)
    event["Records"].insert(1, {**event["Records"][0], "messageId": "broken", "body": "not json"})
    response = hotels_classify.handler(event, LocalContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    images = app.hotels().list_images("handler-1", status="classified")
    assert [i.key for i in images] == ["hotels/handler-1/a.jpg", "hotels/handler-1/b.jpg"]
    assert app.hotels().get_hotel("handler-1").dirty


def test_the_scheduled_sweep_scores_the_changed_hotels_once(app) -> None:
    from handlers import hotels_classify, hotels_cover

    hotels_classify.handler(
        sqs_batch([put(app, "hotels/handler-2/a.jpg", photo((1, 2, 3)), "04")]), LocalContext()
    )
    first = hotels_cover.handler({"quiet_s": 0}, LocalContext())
    assert first["scored"] >= 1 and first["failed"] == 0
    assert hotels_cover.handler({"quiet_s": 0}, LocalContext())["due"] == 0
    record = app.hotels().get_hotel("handler-2")
    assert not record.dirty and record.cover_image_id is not None
    # EventBridge's scheduled event: the settings' quiet period applies (60 s: nothing is due this instant)
    hotels_classify.handler(
        sqs_batch([put(app, "hotels/handler-2/b.jpg", photo((3, 2, 1)), "05")]), LocalContext()
    )
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert hotels_cover.handler(scheduled, LocalContext())["due"] == 0
    assert app.hotels().get_hotel("handler-2").dirty


def test_a_backfill_batch_goes_through_the_same_code_and_counts_every_outcome(app) -> None:
    from handlers import hotels_classify

    app.store.put("hotels/handler-3/a.jpg", photo((5, 5, 5)))
    app.store.put("hotels/handler-3/readme.txt", b"not a photo")
    items = [
        {"Key": "hotels/handler-3/a.jpg", "ETag": '"e1"', "Size": 1},
        {"Key": "hotels/handler-3/readme.txt", "ETag": '"e2"', "Size": 1},
    ]
    batch = {"Items": items, "BatchInput": {"bucket": app.store.name}}
    answer = hotels_classify.handler(batch, LocalContext())
    assert (answer["classified"], answer["rejected"], answer["failed"]) == (1, 1, [])
    again = hotels_classify.handler(batch, LocalContext())
    assert again["skipped"] == 2  # a listing has no sequencer: the ETag makes it a no-op


def test_a_truncated_photo_the_real_model_cannot_decode_is_rejected_the_rest_classified(app) -> None:
    from handlers import hotels_classify

    whole = photo((200, 100, 50), size=(320, 240))
    notes = [
        put(app, "hotels/handler-4/cut.jpg", whole[: len(whole) // 3], "06"),
        put(app, "hotels/handler-4/whole.jpg", whole, "07"),
    ]
    assert hotels_classify.handler(sqs_batch(notes), LocalContext()) == {"batchItemFailures": []}
    ledger = {i.key: i for i in app.hotels().list_images("handler-4")}
    assert ledger["hotels/handler-4/whole.jpg"].status == "classified"
    assert ledger["hotels/handler-4/cut.jpg"].status == "rejected"
    assert "refused" in ledger["hotels/handler-4/cut.jpg"].reason
