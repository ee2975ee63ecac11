"""The API, defined once: Lambda resolves API Gateway events with it and ``vitrine serve`` feeds it the
same events built from local HTTP requests."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from vitrine import __version__
from vitrine.api import errors
from vitrine.api.routes import operations, search
from vitrine.wiring import Services

API_PREFIX = "/api"


def build_app(services: Services) -> APIGatewayRestResolver:
    """A resolver with every route, request validation, the error mapping, OpenAPI and Swagger UI.

    Routes are declared without the ``/api`` prefix, which CloudFront and the local server both add.
    """
    app = APIGatewayRestResolver(strip_prefixes=[API_PREFIX], enable_validation=True)
    app.include_router(search.make_router(services))
    app.include_router(operations.make_router(services))
    errors.install(app)
    app.configure_openapi(
        title="Vitrine API",
        version=__version__,
        summary="Visual product search and catalog ingestion",
        servers=[{"url": API_PREFIX}],
    )
    app.enable_swagger(path="/docs", title="Vitrine API")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)

    return app
