"""Lambda entry point for S3 → SQS → Lambda catalog ingestion, with partial batch responses.

All S3 events of the SQS batch go through the catalog pipeline together (model calls batched), under the
event guard; a message fails (is redelivered, then lands in the DLQ after maxReceiveCount) only when it is
malformed or one of its objects is to be retried. Bad objects (not an image, a bomb...) are recorded as
rejected and do not fail their message. Plumbing: :mod:`handlers.object_events`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from handlers.object_events import ObjectEventTrigger
from vitrine.catalog.domain import ImageStatus
from vitrine.catalog.ingest import PRODUCT_SAVED
from vitrine.kernel.outcomes import Verdict

logger = Logger(service="vitrine-ingest")
tracer = Tracer(service="vitrine-ingest")
metrics = Metrics(namespace="Vitrine", service="vitrine-ingest")
catalog = ObjectEventTrigger(
    lambda app: app.catalog_ingestion.ingest,
    logger=logger,
    metrics=metrics,
    metric_prefix="Objects",
    routine={ImageStatus.INDEXED, PRODUCT_SAVED, Verdict.SKIPPED},
    final_statuses=[*ImageStatus, PRODUCT_SAVED, Verdict.SKIPPED],
)
verdicts = catalog.verdicts


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return catalog.from_queue(event, context)
