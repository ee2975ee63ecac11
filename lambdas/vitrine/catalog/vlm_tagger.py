"""The local-profile image tagger: the llava endpoint, asked in the OpenAI chat-completions format.

The llava model serves the chat-completions payload both in SageMaker (DJL LMI with vLLM) and in-process,
so this one adapter tags with either endpoint. It sends the shared :data:`~vitrine.catalog.tagging.TAG_PROMPT` and
validates with :func:`~vitrine.catalog.tagging.parse_tags`, exactly like the Bedrock tagger, so switching tagger
never changes what counts as a valid answer.

A failing endpoint (:class:`~vitrine.errors.Unavailable`, :class:`~vitrine.errors.BadInput`) propagates:
ingestion retries or rejects the image. A response that is not a chat completion is the model
misbehaving, not the image being bad: it gives invalid tags with the reason, and the image is kept.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from vitrine.catalog.domain import ImageTags
from vitrine.catalog.tagging import TAG_PROMPT, parse_tags
from vitrine.kernel.concurrency import map_concurrently
from vitrine.kernel.ports import ModelEndpoint

MAX_TOKENS = 200
"""The tag JSON is under 150 tokens; the cap stops a rambling model early."""


def chat_request(image: bytes, content_type: str) -> dict[str, Any]:
    """One user message: the image as a data URL, then the prompt; greedy decoding for repeatable tags."""
    data_url = f"data:{content_type};base64,{base64.b64encode(image).decode('ascii')}"
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "text", "text": TAG_PROMPT},
                ],
            }
        ],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }


def _answer_text(response: bytes) -> str:
    """``choices[0].message.content`` of a chat completion; ValueError when the response is not one."""
    try:
        content = json.loads(response)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f"not a chat completion ({type(error).__name__}: {error})") from None
    if not isinstance(content, str):
        raise ValueError("chat completion content is not text")
    return content


def _tags(endpoint: ModelEndpoint, response: bytes) -> ImageTags:
    try:
        answer = _answer_text(response)
    except ValueError as error:
        return ImageTags(valid=False, reason=f"{endpoint.name} answered badly: {error}")
    return parse_tags(answer)


class ModelTagger:
    """:class:`~vitrine.kernel.ports.ImageTagger` that asks a chat-completions VLM endpoint.

    ``batch_requests``: the in-process llava handler takes ``{"requests": [...]}`` and runs them as one
    batch; DJL LMI/vLLM takes single requests and batches concurrent ones itself (rolling batch), so for
    SageMaker the adapter sends ``concurrency`` single requests at a time instead.
    """

    def __init__(self, endpoint: ModelEndpoint, batch_requests: bool = False, concurrency: int = 8) -> None:
        self._endpoint = endpoint
        self._batch_requests = batch_requests
        self._concurrency = concurrency
        self.name = f"model:{endpoint.name}"

    def tag(self, image: bytes, content_type: str) -> ImageTags:
        body = json.dumps(chat_request(image, content_type)).encode("utf-8")
        return _tags(self._endpoint, self._endpoint.invoke(body, "application/json"))

    def tag_many(self, images: Sequence[tuple[bytes, str]]) -> list[ImageTags]:
        if len(images) <= 1 or not self._batch_requests:
            return map_concurrently(lambda item: self.tag(*item), images, self._concurrency)
        body = json.dumps({"requests": [chat_request(image, kind) for image, kind in images]}).encode("utf-8")
        answer = json.loads(self._endpoint.invoke(body, "application/json"))
        responses = answer.get("responses") if isinstance(answer, dict) else None
        if not isinstance(responses, list) or len(responses) != len(images):
            reason = f"{self._endpoint.name} answered the batch without {len(images)} responses"
            return [ImageTags(valid=False, reason=reason) for _ in images]
        return [_tags(self._endpoint, json.dumps(r).encode()) for r in responses]
