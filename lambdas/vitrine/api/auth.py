"""Operator identity for the ``/ops/...`` routes (shopper routes stay public).

- **cloud**: API Gateway's Cognito user-pool authorizer has already checked the token; the claims it verified
  arrive in ``event["requestContext"]["authorizer"]["claims"]``. The caller must be in the ``operators``
  group (``cognito:groups``): no claims → 401, claims without the group → 403.
- **local**: ``vitrine serve`` keeps a random token in ``VITRINE_HOME/operator-token`` (made on first use by
  ``vitrine_dev.operator_token``); a request must send ``Authorization: Bearer <token>`` (401 otherwise). This
  module reads the file itself, so the Lambda code never imports development code.

:func:`operator_only` is a Powertools route middleware: every ``/ops`` route lists it in ``middlewares=``
(Powertools would make a router-wide middleware global), and a test checks that each one does.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from vitrine.config import Settings
from vitrine.errors import VitrineError

logger = Logger(child=True)

OPERATORS_GROUP = "operators"
OPERATOR_TOKEN_FILE = "operator-token"
"""The local token's file name under ``VITRINE_HOME``."""
OPS_PREFIX = "/ops/"
"""Routes under this prefix (``/api/ops/...`` from outside) are operators' routes."""


class Unauthorized(VitrineError):
    """No operator identity (or a wrong token)."""

    status_code = 401


class Forbidden(VitrineError):
    """A signed-in caller who is not an operator."""

    status_code = 403


def token_path(home: Path) -> Path:
    return home / OPERATOR_TOKEN_FILE


def groups_of(claims: dict[str, Any]) -> set[str]:
    """``cognito:groups`` as a set. API Gateway REST passes claims as strings (``"a,b"``; HTTP APIs and some
    tools write ``"[a b]"``); a decoded JWT has a list."""
    value = claims.get("cognito:groups")
    if value is None:
        return set()
    if isinstance(value, list | tuple):
        return {str(group) for group in value}
    return {group for group in re.split(r"[\s,]+", str(value).strip("[]")) if group}


def check_claims(event: dict[str, Any]) -> str:
    """The operator's user name from the authorizer's claims; :class:`Unauthorized` or :class:`Forbidden`."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims")
    if not isinstance(claims, dict) or not claims:
        raise Unauthorized("sign in as an operator: this route needs a Cognito token")
    if OPERATORS_GROUP not in groups_of(claims):
        raise Forbidden(f"your account is not in the '{OPERATORS_GROUP}' group")
    return str(claims.get("cognito:username") or claims.get("sub") or "operator")


def bearer_token(headers: dict[str, str] | Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (``headers`` is case-insensitive)."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def check_local_token(headers: dict[str, str] | Any, home: Path) -> str:
    """Compare the bearer token with ``home/operator-token`` in constant time."""
    sent = bearer_token(headers)
    if sent is None:
        raise Unauthorized(
            "operator routes need `Authorization: Bearer <token>`: the token is in "
            f"VITRINE_HOME/{OPERATOR_TOKEN_FILE}, printed by `vitrine serve`"
        )
    try:
        expected = token_path(home).read_text().strip()
    except OSError:
        expected = ""
    if not expected:
        raise Unauthorized(
            f"no operator token is set up: start `vitrine serve` to create {OPERATOR_TOKEN_FILE}"
        )
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthorized("that operator token is not the one in VITRINE_HOME/operator-token")
    return "local operator"


def operator_only(settings: Settings) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response]:
    """The middleware for ``settings.profile``: claims on AWS, the home's token locally."""
    cloud = settings.profile == "cloud"
    home = settings.home

    def require_operator(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        event = app.current_event
        who = check_claims(event.raw_event) if cloud else check_local_token(event.headers, home)
        app.append_context(operator=who)
        return next_middleware(app)

    require_operator.operator_check = True  # type: ignore[attr-defined]  # found by the route test
    return require_operator


def is_operator_check(middleware: Callable[..., Any]) -> bool:
    return getattr(middleware, "operator_check", False) is True
