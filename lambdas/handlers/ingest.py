"""Lambda entry point for S3 → SQS → Lambda catalog ingestion, with partial batch responses.

All S3 events of the SQS batch go through the pipeline together, so model calls are batched; then
Powertools' batch processor builds the partial response: a message fails (and is redelivered, then lands
in the DLQ after maxReceiveCount) when it is malformed or one of its objects hit a transient failure.
Objects that are bad (not an image, a bomb...) do not fail the message: they are recorded as rejected.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from vitrine.kernel.events import MalformedEvent, ObjectEvent, parse_notification
from vitrine.wiring import services

logger = Logger(service="vitrine-ingest")
tracer = Tracer(service="vitrine-ingest")
metrics = Metrics(namespace="Vitrine", service="vitrine-ingest")


class RetryLater(Exception):
    """A message whose objects met a transient failure (model or store down): SQS delivers it again."""


def verdicts(records: list[dict[str, Any]]) -> dict[str, str]:
    """Ingest every object of the batch; map each failing message id to the reason it must be retried."""
    app = services()
    guard = app.event_guard
    failures: dict[str, str] = {}
    owners: list[tuple[str, ObjectEvent]] = []  # (message id, event) of the events this invocation processes
    for record in records:
        message_id = record.get("messageId", "")
        try:
            events = parse_notification(record.get("body", ""))
        except MalformedEvent as error:
            logger.error(
                "malformed message: it will go to the dead-letter queue", extra={"reason": error.message}
            )
            failures[message_id] = error.message
            continue
        for event in events:
            claim = guard.claim(event) if guard else "new"
            if claim == "new":
                owners.append((message_id, event))
            elif claim == "busy":
                failures[message_id] = f"{event.key} is being processed by another invocation"
    outcomes = app.catalog_ingestion.ingest([event for _, event in owners])
    app.persist()
    for (message_id, event), outcome in zip(owners, outcomes, strict=True):
        metrics.add_metric(name=f"Objects_{outcome.status}", unit=MetricUnit.Count, value=1)
        routine = outcome.status in ("indexed", "product", "skipped")
        log = logger.debug if routine else logger.info  # operators look for the objects that were not indexed
        log("object ingested", extra={"key": outcome.key, "status": outcome.status, "reason": outcome.reason})
        if outcome.retry:
            failures[message_id] = f"{outcome.key}: {outcome.reason}"
            if guard:
                guard.release(event, outcome.reason)
        elif guard:
            guard.complete(event)
    return failures


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = verdicts(event.get("Records", []))

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in failures:
            raise RetryLater(failures[record.message_id])

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )
