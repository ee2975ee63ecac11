"""ModelTagger with a recording fake endpoint: the chat-completions body it sends, how it reads answers."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest

from vitrine.catalog.ports import ImageTagger
from vitrine.catalog.tagging import TAG_PROMPT
from vitrine.catalog.vlm_tagger import ModelTagger
from vitrine.errors import Unavailable
from vitrine.models.chat_vlm import ChatVlm

GOOD_TAGS = {
    "has_model": True,
    "model_count": 1,
    "real_world_scene": False,
    "worn": True,
    "angle": "front",
    "whole_or_partial": "whole",
}


@dataclass
class RecordingEndpoint:
    """Answers with a fixed response (or raises it) and keeps every request it got."""

    answer: bytes | Exception
    name: str = "llava"
    requests: list[tuple[bytes, str, str]] = field(default_factory=list)

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        self.requests.append((body, content_type, accept))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _completion(content: object) -> bytes:
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    ).encode()


def test_model_tagger_sends_one_user_message_with_the_image_and_the_shared_prompt() -> None:
    endpoint = RecordingEndpoint(_completion(json.dumps(GOOD_TAGS)))

    ModelTagger(ChatVlm(endpoint)).tag(b"\x89PNG pixels", "image/png")

    [(body, content_type, accept)] = endpoint.requests
    assert (content_type, accept) == ("application/json", "application/json")
    request = json.loads(body)
    assert request == {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": "data:image/png;base64," + base64.b64encode(b"\x89PNG pixels").decode()
                        },
                    },
                    {"type": "text", "text": TAG_PROMPT},
                ],
            }
        ],
        "max_tokens": 200,
        "temperature": 0,
    }


def test_model_tagger_parses_the_answer_into_tags() -> None:
    answer = "Here you go:\n```json\n" + json.dumps(GOOD_TAGS) + "\n```"
    tagger = ModelTagger(ChatVlm(RecordingEndpoint(_completion(answer))))

    tags = tagger.tag(b"jpeg", "image/jpeg")

    assert isinstance(tagger, ImageTagger)
    assert tags.valid
    assert (tags.has_model, tags.model_count, tags.worn, tags.angle) == (True, 1, True, "front")


def test_model_tagger_answer_failing_the_schema_keeps_the_image_with_a_reason() -> None:
    tags = ModelTagger(ChatVlm(RecordingEndpoint(_completion('{"has_model": "maybe"}')))).tag(
        b"jpeg", "image/jpeg"
    )

    assert not tags.valid
    assert "missing keys" in tags.reason


@pytest.mark.parametrize(
    "response",
    [b"<html>502 Bad Gateway</html>", b'{"choices": []}', b'{"error": "oops"}', _completion(None)],
    ids=["not-json", "no-choices", "no-choices-key", "null-content"],
)
def test_model_tagger_malformed_response_gives_invalid_tags_not_an_error(response: bytes) -> None:
    tags = ModelTagger(ChatVlm(RecordingEndpoint(response))).tag(b"jpeg", "image/jpeg")

    assert not tags.valid
    assert tags.reason.startswith("llava answered badly")


def test_model_tagger_lets_an_unavailable_endpoint_propagate() -> None:
    with pytest.raises(Unavailable):
        ModelTagger(ChatVlm(RecordingEndpoint(Unavailable("endpoint down")))).tag(b"jpeg", "image/jpeg")


def test_model_tagger_tag_many_in_process_sends_one_batched_request() -> None:
    sent: list[dict] = []

    class Batching:
        name = "llava"

        def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
            request = json.loads(body)
            sent.append(request)
            answer = {"choices": [{"message": {"role": "assistant", "content": json.dumps(GOOD_TAGS)}}]}
            return json.dumps({"responses": [answer for _ in request["requests"]]}).encode()

    tags = ModelTagger(ChatVlm(Batching(), batch_requests=True)).tag_many(
        [(b"a", "image/jpeg"), (b"b", "image/png")]
    )
    assert [t.valid for t in tags] == [True, True] and len(sent) == 1
    parts = [r["messages"][0]["content"][0]["image_url"]["url"] for r in sent[0]["requests"]]
    assert parts == ["data:image/jpeg;base64,YQ==", "data:image/png;base64,Yg=="]


def test_model_tagger_tag_many_for_sagemaker_sends_single_requests() -> None:
    sent: list[dict] = []

    class Single:
        name = "llava"

        def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
            sent.append(json.loads(body))
            return json.dumps({"choices": [{"message": {"content": json.dumps(GOOD_TAGS)}}]}).encode()

    tags = ModelTagger(ChatVlm(Single())).tag_many(
        [(b"a", "image/jpeg"), (b"b", "image/jpeg"), (b"c", "image/jpeg")]
    )
    assert len(tags) == 3 and all(t.valid for t in tags)
    assert len(sent) == 3 and all("messages" in r and "requests" not in r for r in sent)
