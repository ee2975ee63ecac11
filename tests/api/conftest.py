"""API fixtures: API Gateway REST proxy events shaped like the recorded one in tests/fixtures/events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "events" / "apigw_rest_proxy.json").read_text()
)


def rest_event(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    event = copy.deepcopy(TEMPLATE)
    event.update(
        path=path,
        httpMethod=method,
        pathParameters={"proxy": path.removeprefix("/api/")},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=json.dumps(body) if body is not None and not isinstance(body, str) else body,
    )
    if body is not None:
        event["headers"]["Content-Type"] = "application/json"
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
    return event


@pytest.fixture(scope="session")
def call(stack):
    from handlers.api import handler
    from vitrine_dev.lambda_context import LocalContext

    def invoke(method: str, path: str, body: Any = None, query: dict[str, str] | None = None):
        response = handler(rest_event(method, path, body, query), LocalContext())
        return (
            response["statusCode"],
            json.loads(response["body"]) if response.get("body") else None,
            response,
        )

    return invoke
