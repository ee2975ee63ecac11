"""The API, defined once: Lambda resolves API Gateway events with it and ``vitrine serve`` feeds it the
same events built from local HTTP requests."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from vitrine import __version__
from vitrine.api import errors
from vitrine.api.routes import discovery, hotels, hotels_ops, operations, products, products_ops, search
from vitrine.wiring import Services

API_PREFIX = "/api"
OPERATOR_SCHEME = HTTPBearer(
    description="Operators only. Local: the token in VITRINE_HOME/operator-token (printed by `vitrine serve`). "
    "AWS: a Cognito ID token of a user in the `operators` group, checked by API Gateway's authorizer."
)


def build_app(services: Services) -> APIGatewayRestResolver:
    """A resolver with every route, request validation, the error mapping, OpenAPI and Swagger UI.

    Routes are declared without the ``/api`` prefix, which CloudFront and the local server both add.
    """
    app = APIGatewayRestResolver(strip_prefixes=[API_PREFIX], enable_validation=True)
    app.include_router(search.make_router(services))
    app.include_router(operations.make_router(services))
    app.include_router(hotels.make_router(services))
    app.include_router(hotels_ops.make_router(services))
    app.include_router(products.make_router(services))
    app.include_router(products_ops.make_router(services))
    app.include_router(discovery.make_router(services))
    errors.install(app)
    app.configure_openapi(
        title="Vitrine API",
        version=__version__,
        summary="Visual product search and catalog ingestion",
        servers=[{"url": API_PREFIX}],
        security_schemes={"operator": OPERATOR_SCHEME},
    )
    app.enable_swagger(path="/docs", title="Vitrine API")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return without_impossible_422(
            app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
        )

    return app


def without_impossible_422(spec: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents a 422 on every operation; one with no parameters and no body cannot fail
    validation, so its 422 goes (the routes' own 422s, with our error body, stay)."""
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if not operation.get("parameters") and not operation.get("requestBody"):
                operation.get("responses", {}).pop("422", None)
    return spec
