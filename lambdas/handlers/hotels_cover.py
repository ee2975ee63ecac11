"""Lambda entry point for debounced cover scoring: an EventBridge schedule (every minute) sweeps the hotels
that classification marked changed and scores each once its photos and text have settled.

The event is EventBridge's scheduled event (its content is not read), or, for a run by hand or right after
``vitrine ingest`` locally, ``{"quiet_s": 0}`` to score every changed hotel now. The answer counts the runs;
a run that failed (the ranker or the database down) left its hotel marked, so the next sweep retries it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from vitrine.wiring import services

logger = Logger(service="vitrine-hotels-cover")
tracer = Tracer(service="vitrine-hotels-cover")
metrics = Metrics(namespace="Vitrine", service="vitrine-hotels-cover")


def quiet_override(event: dict[str, Any]) -> float | None:
    value = event.get("quiet_s") if isinstance(event, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = services().cover_scoring.sweep(quiet_s=quiet_override(event))
    for status, number in summary.to_dict().items():
        metrics.add_metric(name=f"CoverRuns_{status}", unit=MetricUnit.Count, value=number)
    for run in summary.runs:
        log = logger.info if run.status == "failed" else logger.debug
        log("cover run", extra={"hotel_id": run.hotel_id, "status": run.status, "reason": run.reason})
    return summary.to_dict()
