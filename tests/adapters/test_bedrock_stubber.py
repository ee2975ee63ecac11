"""Bedrock tagger and writer at the boto3 boundary (moto lacks Converse): exact requests, error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from vitrine.adapters.aws.bedrock import WRITER_SYSTEM_PROMPT, BedrockTagger, BedrockWriter
from vitrine.catalog.ports import ImageTagger
from vitrine.catalog.tagging import TAG_PROMPT
from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.ports import TextWriter

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TAGS = {
    "has_model": False,
    "model_count": 0,
    "real_world_scene": False,
    "worn": False,
    "angle": "sole",
    "whole_or_partial": "partial",
}
FACTS = {"category": "shirt", "color": "blue", "material": "100% cotton", "pattern": "not visible"}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def stub(client) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _answer(text: str, stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 12},
    }


def test_bedrock_tagger_stubber_sends_the_image_block_and_shared_prompt(client, stub: Stubber) -> None:
    stub.add_response(
        "converse",
        _answer(json.dumps(TAGS)),
        {
            "modelId": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"image": {"format": "webp", "source": {"bytes": b"RIFFwebp"}}},
                        {"text": TAG_PROMPT},
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 200, "temperature": 0.0},
        },
    )
    tagger = BedrockTagger(client, MODEL)

    tags = tagger.tag(b"RIFFwebp", "image/webp")

    assert isinstance(tagger, ImageTagger)
    assert tags.valid
    assert (tags.angle, tags.whole_or_partial, tags.has_model) == ("sole", "partial", False)


@pytest.mark.parametrize(("content_type", "image_format"), [("image/jpeg", "jpeg"), ("image/png", "png")])
def test_bedrock_tagger_stubber_names_the_image_format(
    client, stub: Stubber, content_type: str, image_format: str
) -> None:
    stub.add_response(
        "converse",
        _answer(json.dumps(TAGS)),
        {
            "modelId": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"image": {"format": image_format, "source": {"bytes": b"x"}}},
                        {"text": TAG_PROMPT},
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 200, "temperature": 0.0},
        },
    )

    assert BedrockTagger(client, MODEL).tag(b"x", content_type).valid


def test_bedrock_tagger_refuses_formats_converse_cannot_read(client) -> None:
    with pytest.raises(BadInput, match="image/tiff"):
        BedrockTagger(client, MODEL).tag(b"II*", "image/tiff")


def test_bedrock_tagger_stubber_invalid_or_cut_off_answers_keep_the_image(client, stub: Stubber) -> None:
    stub.add_response("converse", _answer("I cannot tell."))
    stub.add_response("converse", _answer('{"has_model": true, "model_co', "max_tokens"))
    tagger = BedrockTagger(client, MODEL)

    unparsable, cut_off = tagger.tag(b"x", "image/png"), tagger.tag(b"x", "image/png")

    assert not unparsable.valid and "no JSON object" in unparsable.reason
    assert not cut_off.valid and "max_tokens" in cut_off.reason


def test_bedrock_writer_stubber_sends_a_grounding_system_prompt_and_the_facts(client, stub: Stubber) -> None:
    text = "A blue shirt in 100% cotton."
    stub.add_response(
        "converse",
        _answer(f"  {text}\n"),
        {
            "modelId": MODEL,
            "system": [{"text": WRITER_SYSTEM_PROMPT}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "Describe it.\n\nFacts (JSON):\n" + json.dumps(FACTS, sort_keys=True)}
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 400, "temperature": 0.1},
        },
    )
    writer = BedrockWriter(client, MODEL)

    written = writer.write("Describe it.", FACTS)

    assert isinstance(writer, TextWriter)
    assert (written.text, written.writer) == (text, MODEL)
    assert "ONLY the facts" in WRITER_SYSTEM_PROMPT


# The checks of the text itself (empty, length, invented numbers and values) moved to the description job,
# which runs them on every writer's text: tests/descriptions/test_quality.py and test_writer_stubber.py.
@pytest.mark.parametrize(
    ("text", "stop_reason", "problem"),
    [
        ("A blue shirt in", "max_tokens", "did not finish"),
        ("", "content_filtered", "did not finish"),
    ],
    ids=["cut-off", "filtered"],
)
def test_bedrock_writer_stubber_text_failing_validation_is_unavailable(
    client, stub: Stubber, text: str, stop_reason: str, problem: str
) -> None:
    stub.add_response("converse", _answer(text, stop_reason))

    with pytest.raises(Unavailable, match=problem):
        BedrockWriter(client, MODEL).write("Describe it.", FACTS)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ValidationException", 400, BadInput),
        ("ThrottlingException", 429, Unavailable),
        ("ModelTimeoutException", 408, Unavailable),
        ("ServiceUnavailableException", 503, Unavailable),
        ("AccessDeniedException", 403, Unavailable),
    ],
)
def test_bedrock_stubber_service_errors_map_to_domain_errors(
    client, stub: Stubber, code: str, status: int, error: type[Exception]
) -> None:
    stub.add_client_error("converse", code, "nope", status)
    stub.add_client_error("converse", code, "nope", status)

    with pytest.raises(error, match=code if error is Unavailable else "nope"):
        BedrockTagger(client, MODEL).tag(b"x", "image/jpeg")
    with pytest.raises(error):
        BedrockWriter(client, MODEL).write("Describe it.", FACTS)


def test_bedrock_unreachable_is_unavailable(client) -> None:
    def unreachable(**_: object) -> None:
        raise EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.bedrock-runtime.Converse", unreachable)

    with pytest.raises(Unavailable, match="did not answer"):
        BedrockWriter(client, MODEL).write("Describe it.", FACTS)
