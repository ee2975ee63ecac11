"""Lambda entry point for describing products outside ingestion: a sweep and the bulk backfill.

Ingestion describes the products it saves (``ProductDescribing.after_ingest``); this handler covers the rest:

* ``{"sweep": true}`` (an EventBridge schedule, or by hand): the products with no stored description —
  never attempted, pending, failed (throttled...) or rejected — up to ``limit`` (default 50) after ``after``;
* a Step Functions Distributed Map batch over an S3 listing of ``products/*/product.json`` (ItemBatcher
  input: ``{"Items": [{"Key": ...}, ...]}``) or ``{"codes": [...]}``: those products, described when they
  need it (``"force": true``: even when they do not).

The answer counts the outcomes and lists the failures; when every product of a batch failed transiently,
the handler raises so the Map state retries the batch and counts it against its failure tolerance.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from vitrine.catalog.ingest import split_key
from vitrine.errors import BadInput
from vitrine.wiring import services

logger = Logger(service="vitrine-describe")
tracer = Tracer(service="vitrine-describe")
metrics = Metrics(namespace="Vitrine", service="vitrine-describe")
SWEEP_LIMIT = 50


class BatchFailed(Exception):
    """Every product of the batch met a transient failure: the Map state retries the batch."""


def codes_from(event: dict[str, Any]) -> list[str]:
    """The product codes a backfill batch names (``Items`` of an S3 listing, or ``codes``), once each."""
    codes: dict[str, None] = {}
    for item in event.get("Items") or []:
        try:
            codes.setdefault(split_key(str(item.get("Key", "")))[0], None)
        except BadInput:
            logger.warning("not a product key: skipped", extra={"key": item.get("Key")})
    for code in event.get("codes") or []:
        if isinstance(code, str) and code:
            codes.setdefault(code, None)
    return list(codes)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = services()
    event = event if isinstance(event, dict) else {}
    if event.get("sweep"):
        limit = int(event.get("limit") or SWEEP_LIMIT)
        codes = app.descriptions().undescribed(after=str(event.get("after") or ""), limit=limit)
    else:
        codes = codes_from(event)
    outcomes = app.product_describing.describe_many(codes, force=event.get("force") is True)
    counts = Counter(outcome.status for outcome in outcomes)
    for status, count in counts.items():
        metrics.add_metric(name=f"Describe_{status}", unit=MetricUnit.Count, value=count)
    failed = [{"code": o.key, "reason": o.reason} for o in outcomes if o.retry]
    for failure in failed:
        logger.info("describing failed: retried later", extra=failure)
    if codes and not event.get("sweep") and len(failed) == len(codes):
        raise BatchFailed(f"all {len(codes)} products failed: {failed[0]['reason']}")
    return {"products": len(codes), **dict(counts), "failed": failed, "last": codes[-1] if codes else None}
