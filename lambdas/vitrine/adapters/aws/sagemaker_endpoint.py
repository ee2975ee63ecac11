"""The cloud model endpoint: SageMaker runtime ``invoke_endpoint`` through an injected boto3 client.

The local in-process endpoint gets exactly the same bytes and content type, so the only thing this
adapter adds is the translation of SageMaker's failures into the two errors pipelines understand:

* the model refused the input → :class:`~vitrine.errors.BadInput`, carrying the model's own message.
  SageMaker wraps every container error in ``ModelError`` (HTTP 424); the container's status is in
  ``OriginalStatusCode`` and its body in ``OriginalMessage``. A ``ValidationError`` means SageMaker
  itself refused the request (payload too large, bad content type).
* anything else (a 5xx from the container, throttling, a model still loading, no answer in time, an
  endpoint that does not exist) → :class:`~vitrine.errors.Unavailable` with a retry hint.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from vitrine.adapters.aws.errors import TRANSPORT_ERRORS, error_code, error_message, no_answer
from vitrine.errors import BadInput, Unavailable

SLOW_RETRY_CODES = frozenset({"ModelNotReadyException"})
"""The model is still loading onto a new instance: a retry in seconds would only fail again."""

SLOW_RETRY_AFTER_S = 30


def _model_error(endpoint: str, error: ClientError) -> Exception:
    """Decide between the model refusing the input and the model failing."""
    status = int(error.response.get("OriginalStatusCode") or 0)
    message = str(error.response.get("OriginalMessage") or error_message(error))
    if 400 <= status < 500:
        return BadInput(f"{endpoint} refused the input: {message}")
    return Unavailable(f"{endpoint} failed ({status or 'no status'}): {message}")


def _mapped(endpoint: str, error: ClientError) -> Exception:
    code = error_code(error)
    if code == "ModelError":
        return _model_error(endpoint, error)
    message = error_message(error)
    if code == "ValidationError" and "Could not find endpoint" not in message:
        return BadInput(f"{endpoint} refused the request: {message}")
    retry_after_s = SLOW_RETRY_AFTER_S if code in SLOW_RETRY_CODES else 5
    return Unavailable(f"{endpoint} unavailable: {code}: {message}", retry_after_s=retry_after_s)


class SageMakerEndpoint:
    """:class:`~vitrine.kernel.ports.ModelEndpoint` backed by a real-time SageMaker endpoint."""

    def __init__(self, client: Any, endpoint_name: str, name: str | None = None) -> None:
        self._client = client
        self.endpoint_name = endpoint_name
        self.name = name or endpoint_name

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        try:
            answer = self._client.invoke_endpoint(
                EndpointName=self.endpoint_name, Body=body, ContentType=content_type, Accept=accept
            )
            return answer["Body"].read()
        except ClientError as error:
            raise _mapped(self.endpoint_name, error) from error
        except TRANSPORT_ERRORS as error:
            raise no_answer(self.endpoint_name, error) from error
