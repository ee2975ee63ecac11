"""SageMakerEndpoint at the boto3 boundary: the exact invoke_endpoint request, and how failures map."""

from __future__ import annotations

import io
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from vitrine.adapters.aws.sagemaker_endpoint import SLOW_RETRY_AFTER_S, SageMakerEndpoint
from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.ports import ModelEndpoint

ENDPOINT = "vitrine-dino-embed"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client(
        "sagemaker-runtime", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def stub(client) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_sagemaker_endpoint_stubber_sends_body_and_content_types(client, stub: Stubber) -> None:
    stub.add_response(
        "invoke_endpoint",
        {"Body": _body(b'{"embeddings": [[1.0]]}'), "ContentType": "application/json"},
        {
            "EndpointName": ENDPOINT,
            "Body": b"\xff\xd8jpeg",
            "ContentType": "image/jpeg",
            "Accept": "application/json",
        },
    )
    endpoint = SageMakerEndpoint(client, ENDPOINT, name="dino_embed")

    answer = endpoint.invoke(b"\xff\xd8jpeg", "image/jpeg")

    assert answer == b'{"embeddings": [[1.0]]}'
    assert isinstance(endpoint, ModelEndpoint)
    assert endpoint.name == "dino_embed"


def test_sagemaker_endpoint_stubber_model_4xx_is_bad_input_with_the_models_message(
    client, stub: Stubber
) -> None:
    stub.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received client error (400) from primary with message ...",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": '{"error": "not an image"}'},
    )

    with pytest.raises(BadInput, match="not an image"):
        SageMakerEndpoint(client, ENDPOINT).invoke(b"text", "image/jpeg")


def test_sagemaker_endpoint_stubber_model_5xx_is_unavailable(client, stub: Stubber) -> None:
    stub.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received server error (500)",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "CUDA out of memory"},
    )

    with pytest.raises(Unavailable, match="CUDA out of memory"):
        SageMakerEndpoint(client, ENDPOINT).invoke(b"x", "image/jpeg")


def test_sagemaker_endpoint_stubber_validation_error_is_bad_input(client, stub: Stubber) -> None:
    stub.add_client_error("invoke_endpoint", "ValidationError", "Request body exceeds 6291456 bytes", 400)

    with pytest.raises(BadInput, match="exceeds"):
        SageMakerEndpoint(client, ENDPOINT).invoke(b"x", "image/jpeg")


def test_sagemaker_endpoint_stubber_missing_endpoint_is_unavailable_not_bad_input(
    client, stub: Stubber
) -> None:
    stub.add_client_error(
        "invoke_endpoint", "ValidationError", f"Endpoint {ENDPOINT} of account 1 not found.", 400
    )
    stub.add_client_error("invoke_endpoint", "ValidationError", f"Could not find endpoint {ENDPOINT}.", 400)
    endpoint = SageMakerEndpoint(client, ENDPOINT)

    with pytest.raises(BadInput):
        endpoint.invoke(b"x", "image/jpeg")
    with pytest.raises(Unavailable, match="Could not find endpoint"):
        endpoint.invoke(b"x", "image/jpeg")


@pytest.mark.parametrize(
    ("code", "status", "retry_after_s"),
    [
        ("ServiceUnavailable", 503, 5),
        ("ThrottlingException", 400, 5),
        ("InternalFailure", 500, 5),
        ("ModelNotReadyException", 429, SLOW_RETRY_AFTER_S),
    ],
)
def test_sagemaker_endpoint_stubber_service_failures_are_unavailable_with_a_retry_hint(
    client, stub: Stubber, code: str, status: int, retry_after_s: int
) -> None:
    stub.add_client_error("invoke_endpoint", code, "try later", status)

    with pytest.raises(Unavailable, match=code) as raised:
        SageMakerEndpoint(client, ENDPOINT).invoke(b"x", "image/jpeg")
    assert raised.value.retry_after_s == retry_after_s


def test_sagemaker_endpoint_read_timeout_is_unavailable(client) -> None:
    def time_out(**_: object) -> None:
        raise ReadTimeoutError(endpoint_url=f"https://runtime.sagemaker/endpoints/{ENDPOINT}/invocations")

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", time_out)

    with pytest.raises(Unavailable, match="did not answer"):
        SageMakerEndpoint(client, ENDPOINT).invoke(b"x", "image/jpeg")
