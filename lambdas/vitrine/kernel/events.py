"""S3 event notifications: parsing what S3 (directly or through SQS) sends, and building the same records
for files on disk so ``vitrine ingest`` exercises exactly the code path Lambda runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus, unquote_plus

from vitrine.errors import BadInput


class MalformedEvent(BadInput):
    """A message that is not an S3 event notification we can act on."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object created or removed in a bucket.

    ``sequencer`` orders events of the same key (S3 guarantees it grows); ``version`` is the ETag (the
    content's identity, which a backfill listing also has), else the versionId. Together they make
    ingestion idempotent.
    """

    bucket: str
    key: str
    action: Literal["created", "removed"]
    sequencer: str = ""
    version: str = ""
    size: int = 0


def _one(record: dict[str, Any]) -> ObjectEvent:
    try:
        name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = obj["key"]
    except (KeyError, TypeError) as error:
        raise MalformedEvent(f"S3 event record lacks {error}") from None
    if not (
        isinstance(name, str) and isinstance(bucket, str) and isinstance(key, str) and isinstance(obj, dict)
    ):
        raise MalformedEvent("S3 event record has an eventName, bucket name or object key that is not text")
    key = unquote_plus(key)
    try:
        size = int(obj.get("size") or 0)
    except (TypeError, ValueError, OverflowError):
        raise MalformedEvent(
            f"S3 event record has a size that is not a number: {obj.get('size')!r}"
        ) from None
    if name.startswith("ObjectCreated:"):
        action: Literal["created", "removed"] = "created"
    elif name.startswith("ObjectRemoved:"):
        action = "removed"
    else:
        raise MalformedEvent(f"unsupported S3 event {name!r}")
    return ObjectEvent(
        bucket=bucket,
        key=key,
        action=action,
        sequencer=str(obj.get("sequencer", "")),
        version=str(obj.get("eTag") or obj.get("versionId") or "").strip('"'),
        size=max(size, 0),
    )


def parse_notification(body: str | dict[str, Any]) -> list[ObjectEvent]:
    """The object events in an S3 notification (an SQS message body or the notification itself).

    S3's ``s3:TestEvent`` (sent when notifications are configured) carries no object and yields nothing.
    """
    try:
        message = json.loads(body) if isinstance(body, str) else body
    except json.JSONDecodeError as error:
        raise MalformedEvent(f"message body is not JSON: {error.msg}") from None
    except RecursionError:
        raise MalformedEvent("message body is JSON nested too deeply") from None
    if not isinstance(message, dict):
        raise MalformedEvent("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("message has no S3 'Records' list")
    return [_one(record) for record in records]


def sequencer_after(new: str, old: str) -> bool:
    """True when ``new`` orders after ``old``. S3 sequencers are hex strings of varying length, compared as
    numbers; an event without a sequencer (a backfill) is never 'after' one that has one."""
    if not old:
        return True
    if not new:
        return False
    return int(new, 16) > int(old, 16)


def s3_record(
    bucket: str,
    key: str,
    action: Literal["created", "removed"],
    *,
    size: int = 0,
    etag: str = "",
    version: str = "",
    sequencer: str = "",
) -> dict[str, Any]:
    """An S3 event notification record in the shape S3 sends (key URL-encoded as S3 does)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if action == "created":
        obj.update(size=size, eTag=etag)
    if version:
        obj["versionId"] = version
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "local",
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eventName": "ObjectCreated:Put" if action == "created" else "ObjectRemoved:Delete",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def sqs_batch(notifications: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """An SQS event for Lambda whose messages each carry one S3 notification, as S3 → SQS delivers them."""
    records = []
    for index, notification in enumerate(notifications):
        records.append(
            {
                "messageId": f"local-{index}",
                "receiptHandle": f"local-{index}",
                "body": json.dumps(notification),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:000000000000:vitrine-ingest",
                "awsRegion": "local",
            }
        )
    return {"Records": records}
