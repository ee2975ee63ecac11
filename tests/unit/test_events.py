"""S3 event notifications in the shapes S3 and S3 → SQS deliver (fixtures under tests/fixtures/events)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitrine.kernel.events import MalformedEvent, parse_notification, s3_record, sequencer_after, sqs_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def test_s3_put_notification_as_s3_sends_it() -> None:
    [event] = parse_notification((FIXTURES / "s3_put.json").read_text())
    assert event.bucket == "vitrine-catalog"
    assert event.key == "products/SH 0001/front view.jpg"  # S3 URL-encodes keys: '+' is a space
    assert event.action == "created" and event.sequencer == "0055AED6DCD90281E5"
    assert event.version == "9b2cf535f27731c974343645a3985328" and event.size == 1024


def test_removal_and_test_event() -> None:
    [event] = parse_notification((FIXTURES / "s3_delete.json").read_text())
    assert event.action == "removed" and event.key == "products/SH-0001/old.jpg"
    assert parse_notification('{"Service": "Amazon S3", "Event": "s3:TestEvent"}') == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": 1}', "no S3 'Records'"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "lacks"),
        (
            '{"Records": [{"eventName": "ObjectRestore:Post", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}',
            "unsupported",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_notification(body)


def test_built_records_round_trip_through_sqs() -> None:
    notification = {"Records": [s3_record("b", "products/X 1/a+b.jpg", "created", etag="e", sequencer="0A")]}
    batch = sqs_batch([notification])
    [event] = parse_notification(batch["Records"][0]["body"])
    assert event.key == "products/X 1/a+b.jpg" and event.sequencer == "0A" and event.version == "e"


def test_sequencers_compare_as_hex_numbers_of_any_length() -> None:
    assert sequencer_after("0055AED6DCD90281E6", "0055AED6DCD90281E5")
    assert sequencer_after("100", "FF")
    assert not sequencer_after("0A", "0A")
    assert not sequencer_after("", "0A") and sequencer_after("0A", "")
