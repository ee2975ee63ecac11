"""Operators' routes: ``GET /health`` and ``GET /ingest/report`` (what was indexed, and why not)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from vitrine import __version__
from vitrine.catalog.domain import ImageStatus
from vitrine.errors import Unavailable
from vitrine.wiring import Services


def ingest_report(services: Services, status: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Counts per status and the latest records; shared by the API route and ``vitrine ingest --report``."""
    records = services.catalog.list_images(status=status, limit=limit)
    return {
        "counts": services.catalog.count_images(),
        "items": [
            {
                "key": r.key,
                "product_code": r.product_code,
                "status": r.status,
                "reason": r.reason,
                "updated_at": r.updated_at,
            }
            for r in records
        ],
    }


def make_router(services: Services) -> Router:
    router = Router()
    s = services.settings

    @router.get("/health", summary="Profile, adapters in use, and catalog size")
    def health() -> Response[dict[str, Any]]:
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "profile": s.profile,
            "model_profile": s.models.model_profile,
            "tiny_models": services.tiny_models,
            "adapters": services.adapters,
            "match_threshold": {"value": services.match_threshold[0], "source": services.match_threshold[1]},
        }
        status = 200
        try:
            body["catalog"] = {
                "products": services.catalog.count_products(),
                "images": services.catalog.count_images(),
            }
            body["index"] = {"vectors": services.index.count()}
        except Unavailable as error:
            body.update(status="degraded", reason=error.message)
            status = 503
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)

    @router.get("/ingest/report", summary="Ingestion outcomes: counts per status and the latest records")
    def report(
        status: Annotated[ImageStatus | None, Query(description="only records of this status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return ingest_report(services, status, limit)

    return router
