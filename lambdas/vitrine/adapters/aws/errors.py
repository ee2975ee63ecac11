"""What every boto3-backed adapter needs to turn botocore failures into domain errors.

S3, SageMaker runtime, Bedrock and Secrets Manager fail in the same two ways: the service answers with an
error code (a :class:`ClientError`), or the request never gets an answer (connection refused, timeouts).
The second kind is always worth a retry, so each adapter maps it to :class:`~vitrine.errors.Unavailable`
and only has to decide what its own error codes mean.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from vitrine.errors import Unavailable

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (BotoConnectionError, HTTPClientError)
"""No answer from the service: endpoint unreachable, connect or read timeout, connection closed."""


def error_code(error: ClientError) -> str:
    """The service's error code (``NoSuchKey``, ``ThrottlingException``...), or '' when it sent none."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """The service's own message, which is what an operator needs to see."""
    return str(error.response.get("Error", {}).get("Message", "")) or str(error)


def no_answer(service: str, error: Exception) -> Unavailable:
    """The error for a request that got no answer; the caller may retry."""
    return Unavailable(f"{service} did not answer: {error}")
