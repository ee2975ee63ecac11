"""The shopper's product routes: ``GET /products/{code}`` (photos, attributes, description, provenance) and
``POST /products/{code}/ask`` (a free question about the product's photo: public, bounded, rate-limited per
client, refused politely)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from vitrine.api.product_responses import AskAnswer, AskRequest, ProductPhoto, ProductView, product_view
from vitrine.api.responses import ErrorBody, documented
from vitrine.wiring import Services

VIEWER_ADDRESS = "cloudfront-viewer-address"
"""``ip:port`` of the shopper, set by CloudFront (API Gateway's own source IP is CloudFront's edge there)."""
TOO_MANY: dict[int, OpenAPIResponse] = {
    429: {
        "description": "Too many questions from this client: ask again after `Retry-After` seconds",
        "content": {"application/json": {"model": ErrorBody}},
    }
}


def client_of(event: Any) -> str:
    """Who is asking, for the per-client limit: CloudFront's viewer address, else the source IP."""
    viewer = (event.headers or {}).get(VIEWER_ADDRESS) or ""
    if viewer:
        return viewer.rsplit(":", 1)[0].strip("[]")
    return event.request_context.identity.source_ip or "anonymous"


def make_router(services: Services) -> Router:
    router = Router()

    @router.get(
        "/products/<code>",
        summary="A product: its photos, the attributes read from its photo, its description and provenance",
        responses=documented("the product view", 404, 422, 503),
    )
    def get_product(code: str) -> ProductView:
        return product_view(services, code)

    @router.post(
        "/products/<code>/ask",
        summary="Ask a question about a product's photo (answered by the attribute model)",
        responses={**documented("the model's answer", 400, 404, 415, 422, 503), **TOO_MANY},
    )
    def ask(code: str, request: Annotated[AskRequest, Body()]) -> AskAnswer:
        answer = services.photo_questions.ask(code, request.question, client_of(router.current_event))
        return AskAnswer(
            question=answer.question,
            answer=answer.answer,
            model=answer.model,
            photo=ProductPhoto(key=answer.image_key, url=services.store.url_for(answer.image_key)),
            tiny_models=services.tiny_models,
        )

    return router
