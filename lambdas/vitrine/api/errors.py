"""Domain errors → HTTP answers with a readable message; never a stack trace."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from vitrine.errors import BadInput, NotFound, TooLarge, Unavailable, VitrineError

logger = Logger(child=True)

_KINDS: list[tuple[type[VitrineError], str]] = [
    (TooLarge, "too_large"),
    (BadInput, "bad_input"),
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


def install(app: APIGatewayRestResolver) -> None:
    """Register the handlers that turn exceptions into JSON error answers."""

    @app.exception_handler(VitrineError)
    def _domain(error: VitrineError) -> Response:
        kind = next((name for cls, name in _KINDS if isinstance(error, cls)), "internal")
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, Unavailable) else None
        if error.status_code >= 500:
            logger.warning("request failed", extra={"error": kind, "reason": error.message})
        return error_response(error.status_code, kind, error.message, headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error_response(422, "bad_input", f"{where}: {first['msg']}" if where else first["msg"])

    @app.not_found
    def _no_route(error: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such API route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(500, "internal", "Something went wrong on our side. It has been logged.")
