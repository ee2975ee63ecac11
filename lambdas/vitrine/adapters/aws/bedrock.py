"""The cloud tagger and writer: Claude on Amazon Bedrock through the Converse API.

Converse is the model-agnostic Bedrock API: the same request shape works for every chat model, and images
travel as raw bytes in an ``image`` content block (formats: jpeg, png, gif, webp), not as base64 text.

Errors: ``ValidationException`` means Bedrock refused this request → :class:`~vitrine.errors.BadInput`;
everything else (throttling, model timeouts, service errors, missing model access, no answer) →
:class:`~vitrine.errors.Unavailable`.

Retries are botocore's (:func:`writer_client`: the ``standard`` mode retries throttling, 5xx, read timeouts
and dropped connections with exponential backoff and full jitter, within a retry quota), so this module
never loops; what is still failing after them arrives here once and becomes ``Unavailable`` with its code.
Written text is checked by the description job (:mod:`vitrine.descriptions.quality`), whichever writer
wrote it; this writer only refuses a text the model did not finish.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from vitrine.adapters.aws.errors import TRANSPORT_ERRORS, error_code, error_message, no_answer
from vitrine.catalog.domain import ImageTags
from vitrine.catalog.tagging import TAG_PROMPT, parse_tags
from vitrine.descriptions.quality import UnfinishedText
from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.concurrency import map_concurrently
from vitrine.kernel.types import GeneratedText

IMAGE_FORMATS = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
"""Content types Converse accepts in an image block, and the format name it wants."""

COMPLETE_STOP_REASONS = frozenset({"end_turn", "stop_sequence"})
"""Any other stop reason (max_tokens, content_filtered, guardrail_intervened...) means a partial answer."""

TAG_INFERENCE = {"maxTokens": 200, "temperature": 0.0}
TAG_CONCURRENCY = 4
"""Converse calls in flight while tagging a batch: enough to hide latency, few enough for default quotas."""
WRITE_MAX_TOKENS = 400
WRITE_TEMPERATURE = 0.1
WRITE_ATTEMPTS = 4
"""Converse attempts per text (the first and three retries) before a throttled writer is reported."""

WRITER_SYSTEM_PROMPT = (
    "You write product descriptions for an online shop. Use ONLY the facts in the user's message: do not "
    "add materials, colours, sizes, numbers, claims or anything else they do not state. Leave out any fact "
    'whose value is "not visible" or "unknown". Answer with the description text only: no title, no '
    "preamble, no markdown."
)


def writer_client(region: str, *, read_timeout_s: float, max_attempts: int = WRITE_ATTEMPTS) -> Any:
    """A ``bedrock-runtime`` client whose botocore retries cover throttling and timeouts: ``standard`` mode,
    ``max_attempts`` attempts in all, exponential backoff with full jitter between them."""
    import boto3

    config = Config(
        region_name=region,
        connect_timeout=5,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    return boto3.client("bedrock-runtime", config=config)


def converse(client: Any, model_id: str, **request: Any) -> tuple[str, str]:
    """Call Converse; the answer's text blocks joined, and the stop reason."""
    try:
        answer = client.converse(modelId=model_id, **request)
    except ClientError as error:
        code, message = error_code(error), error_message(error)
        if code == "ValidationException":
            raise BadInput(f"{model_id} refused the request: {message}") from error
        raise Unavailable(f"{model_id} unavailable: {code}: {message}") from error
    except TRANSPORT_ERRORS as error:
        raise no_answer(f"Bedrock {model_id}", error) from error
    blocks = answer.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block["text"] for block in blocks if "text" in block)
    return text, answer.get("stopReason", "")


class BedrockTagger:
    """:class:`~vitrine.kernel.ports.ImageTagger` on Claude: the shared prompt, validated by the shared parser."""

    def __init__(self, client: Any, model_id: str) -> None:
        self._client = client
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"

    def tag(self, image: bytes, content_type: str) -> ImageTags:
        image_format = IMAGE_FORMATS.get(content_type.lower())
        if image_format is None:
            accepted = ", ".join(IMAGE_FORMATS)
            raise BadInput(f"Bedrock cannot read {content_type!r} images; send one of {accepted}")
        image_block = {"image": {"format": image_format, "source": {"bytes": image}}}
        message = {"role": "user", "content": [image_block, {"text": TAG_PROMPT}]}
        text, stop_reason = converse(
            self._client, self.model_id, messages=[message], inferenceConfig=TAG_INFERENCE
        )
        if stop_reason not in COMPLETE_STOP_REASONS:
            return ImageTags(valid=False, reason=f"tagger answer incomplete (stopReason={stop_reason})")
        return parse_tags(text)

    def tag_many(self, images: Sequence[tuple[bytes, str]]) -> list[ImageTags]:
        """Concurrent Converse calls: Bedrock has no batch form for a few images."""
        return map_concurrently(lambda item: self.tag(*item), images, TAG_CONCURRENCY)


class BedrockWriter:
    """:class:`~vitrine.kernel.ports.TextWriter` on Claude, told to use only the facts. The description job
    checks what it writes (:func:`vitrine.descriptions.quality.text_problems`)."""

    ai_generated = True

    def __init__(
        self,
        client: Any,
        model_id: str,
        *,
        max_tokens: int = WRITE_MAX_TOKENS,
        temperature: float = WRITE_TEMPERATURE,
    ) -> None:
        self._client = client
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        self.inference = {"maxTokens": max_tokens, "temperature": temperature}

    def write(self, instructions: str, facts: dict[str, Any]) -> GeneratedText:
        """The model's text, stripped. :class:`~vitrine.descriptions.quality.UnfinishedText` when it stopped
        early (token limit, content filter); :class:`Unavailable` / :class:`BadInput` from :func:`converse`."""
        prompt = f"{instructions}\n\nFacts (JSON):\n{json.dumps(facts, ensure_ascii=False, sort_keys=True)}"
        text, stop_reason = converse(
            self._client,
            self.model_id,
            system=[{"text": WRITER_SYSTEM_PROMPT}],
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig=self.inference,
        )
        if stop_reason not in COMPLETE_STOP_REASONS:
            raise UnfinishedText(f"{self.model_id} did not finish the text (stopReason={stop_reason})")
        return GeneratedText(text=text.strip(), writer=self.model_id)
