"""Lambda entry point for the backfill: a Step Functions Distributed Map over an S3 listing sends batches
of existing objects here, and they go through exactly the per-object code that live ingestion runs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from vitrine.catalog.domain import ImageStatus
from vitrine.catalog.ingest import PRODUCT_SAVED
from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.guarded import ingest_guarded
from vitrine.kernel.outcomes import Verdict
from vitrine.wiring import services

logger = Logger(service="vitrine-backfill")
tracer = Tracer(service="vitrine-backfill")
metrics = Metrics(namespace="Vitrine", service="vitrine-backfill")


BACKFILL_STATUSES = [*ImageStatus, PRODUCT_SAVED, Verdict.SKIPPED]
"""Every final outcome, counted even when zero so the Map's results add up to the listing."""


class BatchFailed(Exception):
    """Every object of the batch met a transient failure: the Map state retries the batch and counts it
    against its tolerated-failure threshold."""


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


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    events = events_from_items(event)
    app = services()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:  # the same guard as live ingestion: a live event and a backfill never both run the models
        outcomes = ingest_guarded(events, app.catalog_ingestion.ingest, app.event_guard, remaining)
    finally:
        app.persist()
    counts = Counter(outcome.status for outcome in outcomes)
    for status, count in counts.items():
        metrics.add_metric(name=f"Backfill_{status}", unit=MetricUnit.Count, value=count)
    failed = [{"key": o.key, "reason": o.reason} for o in outcomes if o.retry]
    if events and len(failed) == len(events):
        raise BatchFailed(f"all {len(events)} objects failed: {failed[0]['reason']}")
    # Every outcome is counted (product.json files too), so the Map's results add up to the listing.
    summary = {status: counts.get(status, 0) for status in BACKFILL_STATUSES}
    return {**summary, "failed": failed}
