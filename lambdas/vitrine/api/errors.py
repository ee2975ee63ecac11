"""Domain errors → HTTP answers with a readable message; never a stack trace.

Every answer that is not a 200 has the body of :class:`vitrine.api.responses.ErrorBody`:
``{"error": kind, "message": sentence}``.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from vitrine.api.auth import Forbidden, Unauthorized
from vitrine.errors import BadInput, NotFound, TooLarge, Unavailable, VitrineError

logger = Logger(child=True)

_KINDS: list[tuple[type[VitrineError], str]] = [
    (TooLarge, "too_large"),
    (BadInput, "bad_input"),
    (Unauthorized, "unauthorized"),
    (Forbidden, "forbidden"),
    (NotFound, "not_found"),
    (Unavailable, "unavailable"),
]


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": kind, "message": message},
        headers=headers,
    )


def too_deep(body: str | None) -> bool:
    """Whether ``body`` is JSON nested deeper than the parser's recursion limit."""
    try:
        json.loads(body or "null")
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


def install(app: APIGatewayRestResolver) -> None:
    """Register the handlers that turn exceptions into JSON error answers."""

    @app.exception_handler(VitrineError)
    def _domain(error: VitrineError) -> Response:
        kind = next((name for cls, name in _KINDS if isinstance(error, cls)), "internal")
        headers: dict[str, str] | None = None
        if isinstance(error, Unavailable):
            headers = {"Retry-After": str(error.retry_after_s)}
        elif isinstance(error, Unauthorized):
            headers = {"WWW-Authenticate": 'Bearer realm="vitrine-operators"'}
        if error.status_code >= 500:
            logger.warning("request failed", extra={"error": kind, "reason": error.message})
        return error_response(error.status_code, kind, error.message, headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error_response(422, "bad_input", f"{where}: {first['msg']}" if where else first["msg"])

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(error: RequestUnsupportedContentType) -> Response:
        sent = app.current_event.headers.get("content-type", "")
        return error_response(415, "bad_input", f"send the body as application/json, not {sent or 'untyped'}")

    @app.exception_handler(RecursionError)
    def _recursion(error: RecursionError) -> Response:
        # json.loads raises RecursionError (not a JSONDecodeError) on very deep nesting: the caller's fault.
        if too_deep(app.current_event.decoded_body):
            return error_response(400, "bad_input", "the JSON body is nested too deeply")
        logger.exception("unexpected recursion")
        return error_response(500, "internal", "Something went wrong on our side. It has been logged.")

    @app.not_found
    def _no_route(error: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such API route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(500, "internal", "Something went wrong on our side. It has been logged.")
