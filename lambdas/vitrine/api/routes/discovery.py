"""The shopper's discovery routes: ``GET /search/text`` (products for words, with filters) and
``GET /products/{code}/similar`` (products whose photos are nearest this product's own)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from vitrine.api.discovery_responses import SimilarAnswer, TextSearchAnswer
from vitrine.api.responses import documented
from vitrine.kernel.types import Filters
from vitrine.search.discovery import MAX_K, MAX_QUERY_CHARS
from vitrine.wiring import Services


def make_router(services: Services) -> Router:
    router = Router()

    @router.get(
        "/search/text",
        summary="Find products by words (a dual encoder puts words and catalog photos in one space)",
        responses=documented("at most k distinct products, best first", 400, 422, 503),
    )
    def text_search(
        q: Annotated[
            str,
            Query(
                min_length=1, max_length=MAX_QUERY_CHARS, description="the words: `blue striped linen shirt`"
            ),
        ],
        category: Annotated[
            str | None, Query(max_length=100, description="only products of this category")
        ] = None,
        min_price: Annotated[
            float | None, Query(ge=0, description="only products at this price or above")
        ] = None,
        max_price: Annotated[
            float | None, Query(ge=0, description="only products at this price or below")
        ] = None,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="how many products")] = 5,
    ) -> TextSearchAnswer:
        filters = Filters(category=category or None, min_price=min_price, max_price=max_price)
        answer = services.text_search.search(q, filters, k)
        return TextSearchAnswer.model_validate({**answer, "tiny_models": services.tiny_models})

    @router.get(
        "/products/<code>/similar",
        summary="Products whose photos are nearest this product's own (the product itself excluded)",
        responses=documented("at most k other products, best first", 404, 422, 503),
    )
    def similar(
        code: str, k: Annotated[int, Query(ge=1, le=MAX_K, description="how many products")] = 5
    ) -> SimilarAnswer:
        return SimilarAnswer.model_validate(services.similar_products.similar(code, k))

    return router
