"""Lambda entry point for S3 → SQS → Lambda catalog ingestion, with partial batch responses.

All S3 events of the SQS batch go through the pipeline together (model calls batched), under the event
guard; then Powertools' batch processor builds the partial response: a message fails (is redelivered, then
lands in the DLQ after maxReceiveCount) when it is malformed or one of its objects is to be retried. Bad
objects (not an image, a bomb...) do not fail their message: they are recorded as rejected. Nothing one
object does can fail the others' messages; the local index is saved whatever happens.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from vitrine.kernel.events import MalformedEvent, ObjectEvent, parse_notification
from vitrine.kernel.guarded import ingest_guarded
from vitrine.kernel.outcomes import Outcome
from vitrine.wiring import services

logger = Logger(service="vitrine-ingest")
tracer = Tracer(service="vitrine-ingest")
metrics = Metrics(namespace="Vitrine", service="vitrine-ingest")
ROUTINE = {"indexed", "product", "skipped"}
"""Outcomes logged at debug level: operators look for the objects that were not indexed."""


class RetryLater(Exception):
    """A message whose objects met a transient failure (model or store down): SQS delivers it again."""


def log_outcome(outcome: Outcome) -> None:
    metrics.add_metric(name=f"Objects_{outcome.status}", unit=MetricUnit.Count, value=1)
    log = logger.debug if outcome.status in ROUTINE else logger.info
    log("object ingested", extra={"key": outcome.key, "status": outcome.status, "reason": outcome.reason})


def verdicts(records: list[dict[str, Any]], context: Any = None) -> dict[str, str]:
    """Ingest every object of the batch; map each failing message id to the reason it must be retried."""
    app = services()
    failures: dict[str, str] = {}
    owners: list[tuple[str, ObjectEvent]] = []
    for record in records:
        message_id = record.get("messageId", "")
        try:
            owners += [(message_id, event) for event in parse_notification(record.get("body", ""))]
        except MalformedEvent as error:
            logger.error(
                "malformed message: it will go to the dead-letter queue", extra={"reason": error.message}
            )
            failures[message_id] = error.message
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        outcomes = ingest_guarded(
            [event for _, event in owners], app.catalog_ingestion.ingest, app.event_guard, remaining
        )
    finally:
        app.persist()
    for (message_id, _), outcome in zip(owners, outcomes, strict=True):
        log_outcome(outcome)
        if outcome.retry:
            failures[message_id] = f"{outcome.key}: {outcome.reason}"
    return failures


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = verdicts(event.get("Records", []), context)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in failures:
            raise RetryLater(failures[record.message_id])

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        context=context,
    )
