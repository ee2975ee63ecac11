"""Lambda entry point for API Gateway (REST, proxy integration). The local server calls this same function."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from vitrine.api.app import build_app
from vitrine.wiring import services

logger = Logger(service="vitrine-api")
tracer = Tracer(service="vitrine-api")
metrics = Metrics(namespace="Vitrine", service="vitrine-api")
_per_thread = threading.local()


def app() -> APIGatewayRestResolver:
    """The resolver of this thread: a resolver keeps the current event on itself, so the threaded local
    server gives each thread its own (Lambda has one thread and so one resolver)."""
    resolver = getattr(_per_thread, "app", None)
    if resolver is None:
        resolver = _per_thread.app = build_app(services())
    return resolver


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return app().resolve(event, context)
