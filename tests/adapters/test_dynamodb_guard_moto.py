"""The ingestion idempotency store on DynamoDB (moto), alone and inside the ingest handler."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from vitrine.adapters.aws.dynamodb_guard import DynamoDbEventGuard
from vitrine.kernel.events import ObjectEvent

EVENT = ObjectEvent("bucket", "products/SH-1/front.jpg", "created", "0A", "etag")


@pytest.fixture
def guard() -> Iterator[DynamoDbEventGuard]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="vitrine-idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbEventGuard("vitrine-idempotency", client=client)


def test_dynamodb_guard_moto_one_owner_at_a_time(guard: DynamoDbEventGuard) -> None:
    assert guard.claim(EVENT) == "new"
    assert guard.claim(EVENT) == "busy"  # a concurrent delivery of the same event
    guard.complete(EVENT)
    assert guard.claim(EVENT) == "done"
    assert guard.claim(ObjectEvent("bucket", EVENT.key, "created", "0B", "etag2")) == "new"  # a newer event


def test_dynamodb_guard_moto_release_lets_a_redelivery_retry(guard: DynamoDbEventGuard) -> None:
    assert guard.claim(EVENT) == "new"
    guard.release(EVENT, "model timed out")
    assert guard.claim(EVENT) == "new"


def test_dynamodb_guard_moto_ingest_handler_skips_done_and_retries_busy(guard, stack) -> None:
    from handlers.ingest import verdicts
    from tests.conftest import jpeg
    from vitrine.kernel.events import s3_record, sqs_batch

    info = stack.store.put("products/GD-1/front.jpg", jpeg((3, 140, 77), pattern=9), "image/jpeg")
    record = s3_record(stack.store.name, "products/GD-1/front.jpg", "created", etag=info.etag, sequencer="0C")
    event = sqs_batch([{"Records": [record]}])
    stack.event_guard = guard
    try:
        assert verdicts(event["Records"]) == {}
        assert stack.catalog.list_images(product_code="GD-1")[0].status == "indexed"
        assert verdicts(event["Records"]) == {}  # done: skipped without calling the models
        other = ObjectEvent(stack.store.name, "products/GD-1/front.jpg", "created", "0D", info.etag)
        guard.claim(other)  # another invocation is working on a newer event of the same object
        record2 = s3_record(
            stack.store.name, "products/GD-1/front.jpg", "created", etag=info.etag, sequencer="0D"
        )
        failures = verdicts(sqs_batch([{"Records": [record2]}])["Records"])
        assert list(failures.values()) == ["products/GD-1/front.jpg is being processed by another invocation"]
    finally:
        stack.event_guard = None
