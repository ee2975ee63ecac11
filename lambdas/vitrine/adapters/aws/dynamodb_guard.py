"""The ingestion idempotency store (cloud): a DynamoDB table, through Powertools' idempotency persistence layer.

SQS delivers at least once, sometimes to two Lambdas at the same time. The catalog ledger already makes a
repeated event change nothing, but both copies would still pay for the models; this guard lets exactly one
invocation process an object event, tells the others whether it is done (skip) or still running (retry).
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyPersistenceLayerError,
)

from vitrine.errors import Unavailable
from vitrine.kernel.events import ObjectEvent

Claim = Literal["new", "done", "busy"]


def _data(event: ObjectEvent) -> dict[str, Any]:
    return {
        "bucket": event.bucket,
        "key": event.key,
        "action": event.action,
        "sequencer": event.sequencer,
        "version": event.version,
    }


class DynamoDbEventGuard:
    """One record per object event: INPROGRESS while an invocation works on it, COMPLETED after."""

    def __init__(self, table_name: str, client: Any = None, expires_after_s: int = 24 * 3600) -> None:
        self.layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self.layer.configure(
            IdempotencyConfig(expires_after_seconds=expires_after_s), function_name="vitrine-ingest"
        )

    def claim(self, event: ObjectEvent, remaining_ms: int | None = None) -> Claim:
        """``new``: process it; ``done``: already processed; ``busy``: another invocation has it now.

        ``remaining_ms`` (the Lambda's remaining time) makes the claim die with the invocation: if it
        crashes or times out, a redelivery after that time claims the event again, instead of being
        ``busy`` until the record expires a day later and the message dead-letters.
        """
        try:
            self.layer.save_inprogress(data=_data(event), remaining_time_in_millis=remaining_ms)
            return "new"
        except IdempotencyItemAlreadyExistsError:
            try:
                record = self.layer.get_record(data=_data(event))
            except IdempotencyItemNotFoundError:  # expired between the two calls: claim it again
                return self.claim(event, remaining_ms)
            return "done" if record and record.status == "COMPLETED" else "busy"
        except IdempotencyPersistenceLayerError as error:
            raise Unavailable(f"idempotency store unavailable: {error}") from None

    def complete(self, event: ObjectEvent) -> None:
        self.layer.save_success(data=_data(event), result={})

    def release(self, event: ObjectEvent, reason: str) -> None:
        """A transient failure: forget the claim so the redelivered message is processed."""
        self.layer.delete_record(data=_data(event), exception=RuntimeError(reason))
