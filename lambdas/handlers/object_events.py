"""The two triggers every object-ingesting job has, in one place: SQS messages carrying S3 events (with a
partial batch response) and Distributed Map backfill batches of an S3 listing.

Both run the job's per-object ingestion under the event guard (:func:`vitrine.kernel.guarded.ingest_guarded`),
so a live event and a backfill of the same object never both pay for the models, and both save the local
index whatever happens. A handler module builds one :class:`ObjectEventTrigger` with its job and its
Powertools logger and metrics, and its entry point is one line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from vitrine.kernel.events import MalformedEvent, ObjectEvent, parse_notification
from vitrine.kernel.guarded import Ingest, ingest_guarded
from vitrine.kernel.outcomes import Outcome
from vitrine.wiring import Services, services


class RetryLater(Exception):
    """A message whose objects met a transient failure (a model or store down): SQS delivers it again."""


class BatchFailed(Exception):
    """Every object of a backfill batch met a transient failure: the Map state retries the batch and counts
    it against its tolerated-failure threshold."""


def events_from_items(event: dict[str, Any]) -> list[ObjectEvent]:
    """ItemBatcher input (``Items`` from ListObjectsV2 + ``BatchInput.bucket``) as object events. A listing
    has no sequencer: the ETag makes an already ingested object a no-op."""
    bucket = event["BatchInput"]["bucket"]
    return [
        ObjectEvent(
            bucket,
            item["Key"],
            "created",
            version=str(item.get("ETag", "")).strip('"'),
            size=int(item.get("Size", 0)),
        )
        for item in event["Items"]
    ]


class ObjectEventTrigger:
    """One job's SQS and backfill entry points.

    ``job`` picks the job's ingestion from the process-wide services; ``routine`` outcomes are logged at
    debug level (operators look for the others); ``final_statuses`` are the backfill summary's keys, counted
    even when zero so the Map's results add up to the listing.
    """

    def __init__(
        self,
        job: Callable[[Services], Ingest],
        *,
        logger: Logger,
        metrics: Metrics,
        metric_prefix: str,
        routine: set[str],
        final_statuses: Sequence[str],
    ) -> None:
        self.job = job
        self.logger = logger
        self.metrics = metrics
        self.metric_prefix = metric_prefix
        self.routine = routine
        self.final_statuses = list(final_statuses)

    def observed_by(self, logger: Logger, metrics: Metrics, metric_prefix: str) -> ObjectEventTrigger:
        """The same job logged and counted by another function (the backfill of a live job)."""
        return ObjectEventTrigger(
            self.job,
            logger=logger,
            metrics=metrics,
            metric_prefix=metric_prefix,
            routine=self.routine,
            final_statuses=self.final_statuses,
        )

    def run(self, events: Sequence[ObjectEvent], context: Any) -> list[Outcome]:
        """The job over ``events`` under the guard; outcomes counted and logged; local state saved."""
        app = services()
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        try:
            outcomes = ingest_guarded(events, self.job(app), app.event_guard, remaining)
        finally:
            app.persist()
        for status, number in Counter(o.status for o in outcomes).items():
            # One data point per status and invocation: Powertools flushes at 100 points a metric.
            self.metrics.add_metric(
                name=f"{self.metric_prefix}_{status}", unit=MetricUnit.Count, value=number
            )
        for outcome in outcomes:
            log = self.logger.debug if outcome.status in self.routine else self.logger.info
            log(
                "object ingested",
                extra={"key": outcome.key, "status": outcome.status, "reason": outcome.reason},
            )
        return outcomes

    def verdicts(self, records: list[dict[str, Any]], context: Any = None) -> dict[str, str]:
        """Ingest every object of an SQS batch; each failing message id → why it must be retried."""
        failures: dict[str, str] = {}
        owners: list[tuple[str, ObjectEvent]] = []
        for record in records:
            message_id = record.get("messageId", "")
            try:
                owners += [(message_id, event) for event in parse_notification(record.get("body", ""))]
            except MalformedEvent as error:
                self.logger.error(
                    "malformed message: it will go to the dead-letter queue", extra={"reason": error.message}
                )
                failures[message_id] = error.message
        outcomes = self.run([event for _, event in owners], context)
        for (message_id, _), outcome in zip(owners, outcomes, strict=True):
            if outcome.retry:
                failures[message_id] = f"{outcome.key}: {outcome.reason}"
        return failures

    def from_queue(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The partial batch response: only messages that are malformed or hold an object to retry fail."""
        failures = self.verdicts(event.get("Records", []), context)

        def record_handler(record: SQSRecord) -> None:
            if record.message_id in failures:
                raise RetryLater(failures[record.message_id])

        return process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
            context=context,
        )

    def backfill(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """A Distributed Map batch: counts per final status and the objects to retry."""
        events = events_from_items(event)
        outcomes = self.run(events, context)
        counts = Counter(outcome.status for outcome in outcomes)
        failed = [{"key": o.key, "reason": o.reason} for o in outcomes if o.retry]
        if events and len(failed) == len(events):
            raise BatchFailed(f"all {len(events)} objects failed: {failed[0]['reason']}")
        return {**{status: counts.get(status, 0) for status in self.final_statuses}, "failed": failed}
