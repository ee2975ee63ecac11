"""Service routes: ``GET /health`` (public: the page shows the demo banner and the catalog size from it) and
the operators' ``GET /ops/ingest/report`` (what was indexed, and why not), behind the operator identity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from vitrine import __version__
from vitrine.api.auth import operator_only
from vitrine.api.responses import (
    CatalogSize,
    HealthAnswer,
    IndexSize,
    IngestRecord,
    IngestReport,
    MatchThreshold,
    documented,
)
from vitrine.catalog.domain import ImageStatus
from vitrine.errors import Unavailable
from vitrine.wiring import Services

DEMO_MARKER = "VITRINE_DEMO_MODEL"
"""A file in a model folder trained on the synthetic demo data (``make demo-models``); it says how."""
TINY_MARKER = "VITRINE_TINY_MODEL"
"""The tiny builders' marker (:data:`vitrine.adapters.local.inprocess_endpoint.TINY_MARKER`)."""

OPERATOR_SECURITY: list[dict[str, list[str]]] = [{"operator": []}]
"""The OpenAPI security requirement of operator routes (the scheme is declared in :mod:`vitrine.api.app`)."""


def build_ingest_report(services: Services, status: str | None = None, limit: int = 100) -> IngestReport:
    """Counts per status and the latest records."""
    records = services.catalog.list_images(status=status, limit=limit)
    return IngestReport(
        counts=services.catalog.count_images(),
        items=[IngestRecord.model_validate(record) for record in records],
    )


def ingest_report(services: Services, status: str | None = None, limit: int = 100) -> dict[str, Any]:
    """:func:`build_ingest_report` as plain JSON data, for ``vitrine ingest --report``."""
    return build_ingest_report(services, status, limit).model_dump(mode="json")


def model_provenance(services: Services) -> dict[str, str]:
    """Where each model's answers come from: ``tiny``, ``demo``, ``weights`` or ``endpoint``."""
    provenance = {}
    for name, endpoint in services.endpoints.items():
        folder = getattr(endpoint, "model_dir", None)
        if not folder:
            provenance[name] = "endpoint"
        elif (Path(folder) / TINY_MARKER).is_file():
            provenance[name] = "tiny"
        elif (Path(folder) / DEMO_MARKER).is_file():
            provenance[name] = "demo"
        else:
            provenance[name] = "weights"
    return provenance


def make_router(services: Services) -> Router:
    router = Router()
    s = services.settings
    operator = operator_only(s)

    @router.get(
        "/health",
        summary="Profile, adapters in use, and catalog size",
        responses={
            **documented("the service is up"),
            503: {"description": "degraded: the catalog or the index cannot be reached (`reason` says why)"},
        },
    )
    def health() -> Response[HealthAnswer]:
        provenance = model_provenance(services)
        answer = HealthAnswer(
            status="ok",
            version=__version__,
            profile=s.profile,
            model_profile=s.models.model_profile,
            tiny_models=services.tiny_models,
            demo_models=sorted(m for m, p in provenance.items() if p == "demo"),
            model_provenance=provenance,
            adapters=services.adapters,
            match_threshold=MatchThreshold(
                value=services.match_threshold[0], source=services.match_threshold[1]
            ),
        )
        status = 200
        try:
            answer.catalog = CatalogSize(
                products=services.catalog.count_products(), images=services.catalog.count_images()
            )
            answer.index = IndexSize(vectors=services.index.count())
        except Unavailable as error:
            answer.status, answer.reason = "degraded", error.message
            status = 503
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=answer)

    @router.get(
        "/ops/ingest/report",
        summary="Ingestion outcomes: counts per status and the latest records (operators only)",
        responses=documented("counts per status and the latest records, newest first", 401, 403, 422, 503),
        security=OPERATOR_SECURITY,
        middlewares=[operator],
    )
    def report(
        status: Annotated[ImageStatus | None, Query(description="only records of this status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> IngestReport:
        return build_ingest_report(services, status, limit)

    return router
