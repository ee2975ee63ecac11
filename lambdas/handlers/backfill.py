"""Lambda entry point for the catalog backfill: a Step Functions Distributed Map over an S3 listing sends
batches of existing objects here, and they go through exactly the per-object code (and the event guard)
that live ingestion runs. A batch whose every object must be retried raises, so the Map retries it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from handlers.ingest import catalog

logger = Logger(service="vitrine-backfill")
tracer = Tracer(service="vitrine-backfill")
metrics = Metrics(namespace="Vitrine", service="vitrine-backfill")
backfill = catalog.observed_by(logger, metrics, "Backfill")


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return backfill.backfill(event, context)
