"""The Bedrock writer inside the describe pipeline, at the boto3 boundary (botocore's Stubber: moto lacks
Converse). Given a product whose photo's answers state five attributes and leave three not visible:

* the Converse request carries exactly those five attributes and the product's own facts, nothing else;
* a text that names a value of another allowed attribute is caught and written once more, told why;
* a text that fails twice is rejected with the reason (nothing stored as its description);
* a throttled writer is reported (the product's outcome is ``retry``, the record says why), never a crash;
  botocore's own retries (standard mode: backoff with jitter) are exercised on the HTTP path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.stub import Stubber

from tests.descriptions.world import ANSWERS, GIVEN, PRODUCT, World, make_world
from vitrine.adapters.aws.bedrock import WRITER_SYSTEM_PROMPT, BedrockWriter, writer_client
from vitrine.descriptions.domain import DescriptionStatus
from vitrine.kernel.outcomes import Verdict

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
FACTS = {
    "name": "Oxford shirt",
    "brand": "Kestrel",
    "category": "shirt",
    "price": 39.5,
    "currency": "EUR",
    **GIVEN,
}
GOOD = (
    "A navy striped cotton shirt by Kestrel, the Oxford shirt, with a button-down collar and long sleeves. "
    "It costs 39.5 EUR."
)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.fixture
def client():
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def sent(client) -> list[dict[str, Any]]:
    """Every Converse request's parameters, as the client was called."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.bedrock-runtime.Converse",
        lambda params, **_: calls.append(json.loads(json.dumps(params))),
    )
    return calls


@pytest.fixture
def stub(client) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answer(text: str, stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 100, "outputTokens": 40, "totalTokens": 140},
        "metrics": {"latencyMs": 300},
    }


def prompt(instructions: str) -> str:
    return f"{instructions}\n\nFacts (JSON):\n{json.dumps(FACTS, ensure_ascii=False, sort_keys=True)}"


def test_the_request_carries_only_the_given_attributes_and_the_product_facts(
    world: World, client, stub
) -> None:
    describing = world.describing(BedrockWriter(client, MODEL))
    stub.add_response(
        "converse",
        answer(GOOD),
        {
            "modelId": MODEL,
            "system": [{"text": WRITER_SYSTEM_PROMPT}],
            "messages": [{"role": "user", "content": [{"text": prompt(describing.instructions())}]}],
            "inferenceConfig": {"maxTokens": 400, "temperature": 0.1},
        },
    )

    outcome = describing.describe(PRODUCT.code)

    assert (outcome.status, outcome.reason) == ("described", "")
    record = world.descriptions.get(PRODUCT.code)
    assert record.text == GOOD
    assert record.provenance.writer == MODEL and record.provenance.ai_generated is True
    assert record.provenance.attributes_used == GIVEN
    assert record.provenance.attribute_model == "blip2_attributes"
    assert {r.name: r.value for r in record.attributes if not r.stated} == {
        "fit": "not visible",
        "neck": "not visible",
        "sleeve_styling": "not visible",
    }
    assert len(world.blip2.requests) == 1  # one batched request for the eight questions
    assert world.blip2.requests[0]["questions"] == list(ANSWERS)


def test_a_value_that_was_not_given_is_caught_and_written_again(world: World, client, stub, sent) -> None:
    describing = world.describing(BedrockWriter(client, MODEL))
    stub.add_response("converse", answer(GOOD.replace("long sleeves", "short sleeves")))
    stub.add_response("converse", answer(GOOD))

    outcome = describing.describe(PRODUCT.code)

    assert outcome.status == "described"
    assert len(sent) == 2
    retry_prompt = sent[1]["messages"][0]["content"][0]["text"]
    assert "Your previous text was refused" in retry_prompt
    assert "'short sleeve' (sleeve length 'short')" in retry_prompt
    assert world.descriptions.get(PRODUCT.code).text == GOOD


def test_a_text_that_fails_twice_is_rejected_with_the_reason(world: World, client, stub, sent) -> None:
    describing = world.describing(BedrockWriter(client, MODEL))
    stub.add_response("converse", answer(GOOD.replace("A navy", "A slim navy")))
    stub.add_response("converse", answer(GOOD + " It is eco-friendly."))

    outcome = describing.describe(PRODUCT.code)

    assert outcome.status == DescriptionStatus.REJECTED
    assert "failed the check 2 times" in outcome.reason and "eco friendly" in outcome.reason
    assert "'slim' (fit 'slim')" in sent[1]["messages"][0]["content"][0]["text"]
    record = world.descriptions.get(PRODUCT.code)
    assert record.status == DescriptionStatus.REJECTED and record.text is None
    assert record.reason == outcome.reason
    assert {r.name for r in record.attributes} >= set(GIVEN)  # the attributes are kept for the page


def test_an_unfinished_text_counts_as_a_failed_check(world: World, client, stub) -> None:
    describing = world.describing(BedrockWriter(client, MODEL))
    stub.add_response("converse", answer("A navy striped", "max_tokens"))
    stub.add_response("converse", answer(GOOD))

    assert describing.describe(PRODUCT.code).status == "described"


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ModelTimeoutException", "ServiceUnavailableException"]
)
def test_a_throttled_writer_is_reported_never_a_crash(world: World, client, stub, code: str) -> None:
    describing = world.describing(BedrockWriter(client, MODEL))
    stub.add_response("converse", answer(GOOD))
    stub.add_client_error("converse", code, "Too many requests, please wait", 429)

    assert describing.describe(PRODUCT.code).status == "described"
    outcome = describing.describe(PRODUCT.code, force=True)

    assert outcome.status == Verdict.RETRY and code in outcome.reason
    record = world.descriptions.get(PRODUCT.code)
    assert record.status == DescriptionStatus.FAILED and code in record.reason
    assert record.text == GOOD  # the good description stays


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _http(status: int, payload: dict[str, Any], error: str = "") -> AWSResponse:
    headers = {"Content-Type": "application/json", **({"x-amzn-ErrorType": error} if error else {})}
    return AWSResponse(
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        status,
        headers,
        _Body(json.dumps(payload).encode()),
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's backoff delays, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", delays.append)
    return delays


def _answering(client, responses: list[AWSResponse]) -> list[int]:
    sends: list[int] = []

    def send(**_: Any) -> AWSResponse:
        sends.append(1)
        return responses[min(len(sends), len(responses)) - 1]

    client.meta.events.register("before-send.bedrock-runtime.Converse", send)
    return sends


def test_botocore_retries_throttling_with_backoff_and_jitter_then_succeeds(world: World, sleeps) -> None:
    client = writer_client("us-east-1", read_timeout_s=5, max_attempts=4)
    throttled = _http(429, {"message": "Too many requests"}, "ThrottlingException")
    sends = _answering(client, [throttled, throttled, _http(200, answer(GOOD))])

    outcome = world.describing(BedrockWriter(client, MODEL)).describe(PRODUCT.code)

    assert outcome.status == "described" and len(sends) == 3
    assert len(sleeps) == 2 and all(0 <= d <= 2 ** (i + 1) for i, d in enumerate(sleeps))


def test_botocore_gives_up_after_its_attempts_and_the_product_is_reported(world: World, sleeps) -> None:
    client = writer_client("us-east-1", read_timeout_s=5, max_attempts=4)
    sends = _answering(client, [_http(429, {"message": "Too many requests"}, "ThrottlingException")])

    outcome = world.describing(BedrockWriter(client, MODEL)).describe(PRODUCT.code)

    assert len(sends) == 4 and len(sleeps) == 3 and len(set(sleeps)) == 3  # jittered: never the same wait
    assert outcome.status == Verdict.RETRY and "ThrottlingException" in outcome.reason
    assert world.descriptions.get(PRODUCT.code).status == DescriptionStatus.FAILED
