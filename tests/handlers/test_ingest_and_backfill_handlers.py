"""The ingestion Lambdas fed the event shapes AWS delivers: S3 notifications inside SQS records (partial
batch responses) and Step Functions Distributed Map item batches — over the real local stack."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import jpeg
from vitrine.kernel.events import s3_record, sqs_batch
from vitrine_dev.lambda_context import LocalContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def put(stack, key: str, data: bytes) -> dict:
    info = stack.store.put(key, data, "image/jpeg")
    return {
        "Records": [
            s3_record(
                stack.store.name,
                key,
                "created",
                size=len(data),
                etag=info.etag,
                sequencer=f"{int(info.version or 1):020X}" if info.version.isdigit() else "01",
            )
        ]
    }


def test_sqs_batch_with_a_malformed_message_fails_only_that_message(stack) -> None:
    from handlers.ingest import handler

    good = put(stack, "products/ZZ-1/front.jpg", jpeg((12, 200, 30), pattern=10))
    event = sqs_batch([good, {"not": "an s3 event"}])
    event["Records"].append({**event["Records"][0], "messageId": "garbage", "body": "{{{"})
    response = handler(event, LocalContext())
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["garbage", "local-1"]
    image = stack.catalog.list_images(product_code="ZZ-1")[0]
    assert image.status == "indexed"


def test_duplicate_s3_events_have_one_effect(stack) -> None:
    from handlers.ingest import handler

    notification = put(stack, "products/ZZ-2/front.jpg", jpeg((200, 20, 230), pattern=14))
    before = stack.index.count()
    for _ in range(3):
        assert handler(sqs_batch([notification]), LocalContext()) == {"batchItemFailures": []}
    assert stack.index.count() == before + 1
    assert len(stack.catalog.list_images(product_code="ZZ-2")) == 1


def test_object_removed_event_removes_the_vector(stack) -> None:
    from handlers.ingest import handler

    handler(
        sqs_batch([put(stack, "products/ZZ-3/front.jpg", jpeg((90, 90, 250), pattern=6))]), LocalContext()
    )
    count = stack.index.count()
    stack.store.delete("products/ZZ-3/front.jpg")
    removal = {
        "Records": [s3_record(stack.store.name, "products/ZZ-3/front.jpg", "removed", sequencer="F" * 20)]
    }
    assert handler(sqs_batch([removal]), LocalContext()) == {"batchItemFailures": []}
    assert stack.index.count() == count - 1
    assert stack.catalog.list_images(product_code="ZZ-3")[0].status == "removed"


def test_model_down_fails_the_message_for_redelivery(stack, monkeypatch) -> None:
    from handlers.ingest import handler
    from vitrine.errors import Unavailable

    def down(*args, **kwargs):
        raise Unavailable("model grounding_dino timed out")

    monkeypatch.setattr(stack.endpoints["grounding_dino"], "invoke", down)
    event = sqs_batch([put(stack, "products/ZZ-4/front.jpg", jpeg((5, 5, 90), pattern=20))])
    response = handler(event, LocalContext())  # reported per message, even when every message failed
    assert response == {"batchItemFailures": [{"itemIdentifier": "local-0"}]}
    assert stack.catalog.list_images(product_code="ZZ-4") == []


def test_recorded_s3_notification_of_an_object_already_gone_is_skipped_not_retried(stack) -> None:
    from handlers.ingest import handler
    from vitrine.catalog.ingest import image_id_for

    notification = json.loads((FIXTURES / "s3_put.json").read_text())  # its object is not in the bucket
    assert handler(sqs_batch([notification]), LocalContext()) == {"batchItemFailures": []}
    assert stack.catalog.get_image(image_id_for("vitrine-catalog", "products/SH 0001/front view.jpg")) is None


def test_backfill_batch_goes_through_the_same_ingestion(stack) -> None:
    from handlers.backfill import handler

    keys = []
    for number in range(3):
        key = f"products/BF-{number}/front.jpg"
        info = stack.store.put(key, jpeg((40 * number, 10, 160), pattern=4 + 3 * number), "image/jpeg")
        keys.append(
            {"Key": key, "Size": info.size, "ETag": f'"{info.etag}"', "LastModified": "2026-11-20T00:00:00Z"}
        )
    keys.append({"Key": "products/BF-9/notes.txt", "Size": 3, "ETag": '"x"'})
    stack.store.put("products/BF-9/notes.txt", b"abc", "text/plain")
    keys.append({"Key": "products/BF-0/product.json", "Size": 2, "ETag": '"p"'})
    stack.store.put(
        "products/BF-0/product.json", b'{"name": "Backfilled", "category": "shirt"}', "application/json"
    )
    event = {"Items": keys, "BatchInput": {"bucket": stack.store.name}}
    first = handler(event, LocalContext())
    assert first["indexed"] + first["duplicate"] == 3 and first["rejected"] == 1 and first["failed"] == []
    assert first["product"] == 1 and sum(v for k, v in first.items() if k != "failed") == len(keys)
    again = handler(event, LocalContext())  # a re-run of the map changes nothing
    assert again["skipped"] == 4 and again["indexed"] == 0 and again["product"] == 1  # metadata re-applied
