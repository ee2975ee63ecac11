"""Operator routes (``/api/ops/...``) need an operator; shopper routes stay public.

Locally: the token in ``VITRINE_HOME/operator-token`` as ``Authorization: Bearer`` over the real local server.
On AWS: the claims API Gateway's Cognito authorizer puts in the event, checked by the same app built with the
cloud profile's settings.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import stat
from pathlib import Path

import pytest

from tests.api.conftest import rest_event

REPORT = "/api/ops/ingest/report"


def get(address: tuple[str, int], path: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())  # headers: case-insensitive
    finally:
        connection.close()


# -- the local token -------------------------------------------------------------------------------


def test_token_is_made_once_owner_only(tmp_path: Path) -> None:
    from vitrine_dev.operator_token import ensure_token

    token = ensure_token(tmp_path / "home")
    path = tmp_path / "home" / "operator-token"
    assert len(token) >= 40 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token(tmp_path / "home") == token  # kept, not replaced
    path.chmod(0o644)
    assert ensure_token(tmp_path / "home") == token and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token(tmp_path / "other") != token


def test_local_server_refuses_the_report_without_the_token(local_server) -> None:
    status, headers, body = get(local_server.address, REPORT)
    assert status == 401 and body["error"] == "unauthorized" and "Bearer" in body["message"]
    assert headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-the-token", "Bearer ", "Basic b3BlcmF0b3I6c2VjcmV0", "not-even-a-scheme"],
)
def test_local_server_refuses_a_wrong_token(local_server, authorization: str) -> None:
    status, _, body = get(local_server.address, REPORT, {"Authorization": authorization})
    assert status == 401 and body["error"] == "unauthorized" and body["message"]


def test_local_server_serves_the_report_with_the_token(local_server, operator_token: str) -> None:
    assert local_server.operator_token == operator_token  # the server made (or read) the same file
    status, _, body = get(
        local_server.address,
        f"{REPORT}?status=indexed&limit=2",
        {"Authorization": f"Bearer {operator_token}"},
    )
    assert status == 200 and body["counts"]["indexed"] > 0
    assert len(body["items"]) == 2 and {item["status"] for item in body["items"]} == {"indexed"}


def test_shopper_routes_need_no_token(local_server) -> None:
    status, _, body = get(local_server.address, "/api/health")
    assert status == 200 and body["status"] == "ok"


# -- the Cognito authorizer's claims (cloud profile) ----------------------------------------------


@pytest.fixture(scope="module")
def cloud_app(stack):
    """The real API with the cloud profile's operator check (over the local adapters)."""
    from vitrine.api.app import build_app

    cloud = stack.settings.model_copy(update={"profile": "cloud"})
    return build_app(dataclasses.replace(stack, settings=cloud))


def resolve(app, event):
    from vitrine_dev.lambda_context import LocalContext

    response = app.resolve(event, LocalContext())
    return response["statusCode"], json.loads(response["body"])


def with_claims(claims: dict | None, path: str = REPORT) -> dict:
    event = rest_event("GET", path)
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    return event


SHOPPER_CLAIMS = {"sub": "u-1", "cognito:username": "alice", "email": "alice@example.com"}


def test_cloud_without_claims_is_401(cloud_app) -> None:
    status, body = resolve(cloud_app, with_claims(None))
    assert status == 401 and body["error"] == "unauthorized"


@pytest.mark.parametrize(
    "claims",
    [
        SHOPPER_CLAIMS,
        {**SHOPPER_CLAIMS, "cognito:groups": "shoppers"},
        {**SHOPPER_CLAIMS, "cognito:groups": "[editors]"},
    ],
    ids=["no-groups", "other-group", "other-group-bracketed"],
)
def test_cloud_signed_in_non_operator_is_403(cloud_app, claims: dict) -> None:
    status, body = resolve(cloud_app, with_claims(claims))
    assert status == 403 and body["error"] == "forbidden" and "operators" in body["message"]


@pytest.mark.parametrize(
    "groups", ["operators", "editors,operators", "[editors operators]", ["operators"]], ids=str
)
def test_cloud_operator_gets_the_report(cloud_app, groups) -> None:
    status, body = resolve(cloud_app, with_claims({**SHOPPER_CLAIMS, "cognito:groups": groups}))
    assert status == 200 and body["counts"]["indexed"] > 0


def test_cloud_ignores_a_bearer_token_without_claims(cloud_app, operator_token: str) -> None:
    event = with_claims(None)
    event["headers"]["Authorization"] = f"Bearer {operator_token}"  # the local token means nothing on AWS
    assert resolve(cloud_app, event)[0] == 401


def test_cloud_shopper_routes_stay_public(cloud_app) -> None:
    status, body = resolve(cloud_app, with_claims(None, "/api/health"))
    assert status == 200 and body["status"] == "ok"


# -- every operator route is guarded, no shopper route is -----------------------------------------


def test_every_ops_route_and_only_those_check_the_operator(cloud_app) -> None:
    from vitrine.api.auth import OPS_PREFIX, is_operator_check

    routes = cloud_app._static_routes + cloud_app._dynamic_routes
    assert any(route.path.startswith(OPS_PREFIX) for route in routes)
    for route in routes:
        guarded = any(is_operator_check(m) for m in route.middlewares)
        assert guarded == route.path.startswith(OPS_PREFIX), f"{route.method} {route.path}"
