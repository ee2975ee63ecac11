"""The ingestion idempotency store on DynamoDB (moto), alone and inside the ingest handler."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from vitrine.adapters.aws.dynamodb_guard import DynamoDbEventGuard
from vitrine.kernel.events import ObjectEvent
from vitrine_dev.lambda_context import LocalContext

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


def test_dynamodb_guard_moto_ingest_handler_skips_done_and_retries_busy(guard, stack, monkeypatch) -> None:
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
        calls: list[str] = []
        for name, endpoint in stack.endpoints.items():
            real = endpoint.invoke
            monkeypatch.setattr(
                endpoint, "invoke", lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
            )
        assert verdicts(event["Records"]) == {}  # done: skipped
        assert calls == []  # ... without calling any model
        other = ObjectEvent(stack.store.name, "products/GD-1/front.jpg", "created", "0D", info.etag)
        guard.claim(other)  # another invocation is working on a newer event of the same object
        record2 = s3_record(
            stack.store.name, "products/GD-1/front.jpg", "created", etag=info.etag, sequencer="0D"
        )
        failures = verdicts(sqs_batch([{"Records": [record2]}])["Records"])
        assert list(failures.values()) == ["products/GD-1/front.jpg: being processed by another invocation"]
    finally:
        stack.event_guard = None


class ShortLambda(LocalContext):
    """A Lambda context with little time left: its claims expire soon after it dies."""

    def __init__(self, remaining_ms: int) -> None:
        super().__init__()
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Crash(BaseException):
    """The invocation dies (killed, timed out): nothing after this point runs in it."""


def _message(stack, key: str, color: tuple[int, int, int], sequencer: str) -> dict:
    from tests.conftest import jpeg
    from vitrine.kernel.events import s3_record

    info = stack.store.put(key, jpeg(color, pattern=7), "image/jpeg")
    return {"Records": [s3_record(stack.store.name, key, "created", etag=info.etag, sequencer=sequencer)]}


def test_dynamodb_guard_moto_claims_of_a_crashed_invocation_expire_with_its_remaining_time(
    guard, stack, monkeypatch
) -> None:
    import time

    from handlers import ingest
    from vitrine.kernel import guarded
    from vitrine.kernel.events import sqs_batch

    event = sqs_batch([_message(stack, "products/CR-1/front.jpg", (10, 200, 90), "1A")])
    stack.event_guard = guard
    real_ingest = stack.catalog_ingestion.ingest
    try:

        def crash(events):
            raise Crash

        monkeypatch.setattr(stack.catalog_ingestion, "ingest", crash)
        monkeypatch.setattr(guarded, "_release", lambda *args: None)  # a dead process releases nothing
        with pytest.raises(Crash):
            ingest.handler(event, ShortLambda(remaining_ms=300))
        monkeypatch.setattr(stack.catalog_ingestion, "ingest", real_ingest)
        # Redelivered while the crashed invocation could still be running: busy, the message is retried.
        early = ingest.handler(event, ShortLambda(remaining_ms=60_000))
        assert early["batchItemFailures"] == [{"itemIdentifier": "local-0"}]
        time.sleep(0.4)  # past the dead invocation's remaining time (the visibility timeout exceeds it)
        late = ingest.handler(event, ShortLambda(remaining_ms=60_000))
        assert late["batchItemFailures"] == []
        assert stack.catalog.list_images(product_code="CR-1")[0].status == "indexed"
    finally:
        stack.event_guard = None


def test_dynamodb_guard_moto_one_failing_catalog_write_leaves_only_that_object_claimable(
    guard, stack, monkeypatch
) -> None:
    from handlers import ingest
    from vitrine.errors import Unavailable
    from vitrine.kernel.events import sqs_batch

    keys = [f"products/PB-{n}/front.jpg" for n in range(3)]
    messages = [_message(stack, key, (40 * n, 90, 200 - 30 * n), f"2{n}") for n, key in enumerate(keys)]
    event = sqs_batch(messages)
    save = stack.catalog.save_image

    def flaky_save(image):
        if image.key == keys[1]:
            raise Unavailable("catalog connection dropped")
        save(image)

    stack.event_guard = guard
    try:
        monkeypatch.setattr(stack.catalog, "save_image", flaky_save)
        response = ingest.handler(event, ShortLambda(remaining_ms=60_000))
        assert response["batchItemFailures"] == [{"itemIdentifier": "local-1"}]
        events = [ObjectEvent(stack.store.name, k, "created", f"2{n}") for n, k in enumerate(keys)]
        records = [guard.layer.get_record(data=guarded_data(e, stack)) for e in (events[0], events[2])]
        assert [r.status for r in records] == ["COMPLETED", "COMPLETED"]
        assert stack.index.ids().isdisjoint({stack_image_id(stack, keys[1])})  # compensated
        monkeypatch.setattr(stack.catalog, "save_image", save)
        redelivery = ingest.handler(sqs_batch([messages[1]]), ShortLambda(remaining_ms=60_000))
        assert redelivery["batchItemFailures"] == []  # its claim was released: the redelivery ran
        assert stack.catalog.get_image(stack_image_id(stack, keys[1])).status == "indexed"
    finally:
        stack.event_guard = None


def guarded_data(event: ObjectEvent, stack) -> dict:
    """The guard's record key for ``event`` as the handler claimed it (etag from the stored object)."""
    from vitrine.adapters.aws.dynamodb_guard import _data

    etag = stack.store.head(event.key).etag.strip('"')
    return _data(ObjectEvent(event.bucket, event.key, event.action, event.sequencer, etag))


def stack_image_id(stack, key: str) -> str:
    from vitrine.catalog.ingest import image_id_for

    return image_id_for(stack.store.name, key)
