"""API fixtures: API Gateway REST proxy events shaped like the recorded one in tests/fixtures/events, and the
real local server (waitress + the API Gateway adapter) on a free port."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "events" / "apigw_rest_proxy.json").read_text()
)
STALL_TIMEOUT_S = 2
"""The local server's channel timeout in these tests: a stalled body is dropped after about this long."""


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
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
    event["headers"].update(headers or {})
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
    return event


@pytest.fixture(scope="session")
def call(stack):
    from handlers.api import handler
    from vitrine_dev.lambda_context import LocalContext

    def invoke(
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        response = handler(rest_event(method, path, body, query, headers), LocalContext())
        return (
            response["statusCode"],
            json.loads(response["body"]) if response.get("body") else None,
            response,
        )

    return invoke


@pytest.fixture(scope="session")
def operator_token(local_home: Path) -> str:
    """The local operator token of the test home (what `vitrine serve` prints)."""
    from vitrine_dev.operator_token import ensure_token

    return ensure_token(local_home)


@pytest.fixture(scope="session")
def local_server(stack) -> Iterator[Any]:
    """``vitrine serve``'s server (waitress + LocalApp) on 127.0.0.1, with a short stall timeout."""
    from vitrine_dev.server import LocalServer

    server = LocalServer(stack, "127.0.0.1", 0, channel_timeout_s=STALL_TIMEOUT_S).start()
    yield server
    server.close()
