"""The operators' product route: ``POST /ops/products/{code}/describe`` reads the attributes and writes the
description again now (behind the operator identity)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from vitrine.api.auth import operator_only
from vitrine.api.product_responses import DescribeAnswer, product_view
from vitrine.api.responses import documented
from vitrine.api.routes.operations import OPERATOR_SECURITY
from vitrine.errors import NotFound, Unavailable
from vitrine.kernel.outcomes import Verdict
from vitrine.wiring import Services


def make_router(services: Services) -> Router:
    router = Router()
    operator = operator_only(services.settings)

    @router.post(
        "/ops/products/<code>/describe",
        summary="Describe a product now: attributes from its photo, a checked description (operators only)",
        responses=documented(
            "`described`, or `rejected` / `pending` with the reason, and the product as it is now",
            401,
            403,
            404,
            422,
            503,
        ),
        security=OPERATOR_SECURITY,
        middlewares=[operator],
    )
    def describe(code: str) -> DescribeAnswer:
        if code not in services.catalog.get_products([code]):
            raise NotFound(f"there is no product {code}")
        outcome = services.product_describing.describe(code, force=True)
        if outcome.status == Verdict.RETRY:
            raise Unavailable(f"describing {code} failed: {outcome.reason}", retry_after_s=30)
        return DescribeAnswer(
            status=outcome.status, reason=outcome.reason, product=product_view(services, code)
        )

    return router
