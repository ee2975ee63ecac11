"""The chat VLM's client (LLaVA-NeXT): one image and a text prompt in, the model's answer text out.

The llava model serves the OpenAI chat-completions payload both in SageMaker (DJL LMI with vLLM) and
in-process, so every job that asks it something (catalog tagging, hotel classification) goes through this
client. vLLM batches concurrent requests itself (rolling batch), so against SageMaker the client sends up to
``concurrency`` single requests at a time; the in-process handler takes ``{"requests": [...]}`` and runs them
as one batch, so locally the client sends one batched request.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vitrine.kernel.concurrency import map_concurrently
from vitrine.kernel.ports import ModelEndpoint


@dataclass(frozen=True)
class ChatAnswer:
    """The answer text, or why there is none (``error``: the response was not a chat completion).

    ``token_logprobs`` are the sampled tokens' log-probabilities when the endpoint returned them.
    """

    text: str = ""
    error: str = ""
    token_logprobs: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def probability(self) -> float | None:
        """exp(sum of the answer's token log-probabilities): how sure the model was of the whole answer."""
        return math.exp(sum(self.token_logprobs)) if self.token_logprobs else None


@dataclass(frozen=True)
class ChatQuestion:
    """One image (bytes + content type) and the text asked about it."""

    image: bytes
    content_type: str
    prompt: str


def chat_request(
    question: ChatQuestion, max_tokens: int, *, logprobs: bool = False, system: str = ""
) -> dict[str, Any]:
    """One user message: the image as a data URL, then the prompt; greedy decoding for repeatable answers."""
    data_url = f"data:{question.content_type};base64,{base64.b64encode(question.image).decode('ascii')}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_url}},
                {"type": "text", "text": question.prompt},
            ],
        }
    )
    request: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
    if logprobs:
        request["logprobs"] = True
    return request


def read_answer(endpoint_name: str, completion: Any) -> ChatAnswer:
    """``choices[0].message.content`` (and log-probabilities) of a chat completion, or why it is not one."""
    try:
        choice = completion["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as error:
        return ChatAnswer(error=f"{endpoint_name} answered badly: not a chat completion ({error!r})")
    if not isinstance(content, str):
        return ChatAnswer(error=f"{endpoint_name} answered badly: chat completion content is not text")
    return ChatAnswer(text=content, token_logprobs=_logprobs(choice))


def _logprobs(choice: dict[str, Any]) -> tuple[float, ...]:
    try:
        return tuple(float(item["logprob"]) for item in choice["logprobs"]["content"])
    except (KeyError, TypeError, ValueError):
        return ()


class ChatVlm:
    """Asks a chat-completions VLM endpoint about images; :meth:`ask_many` batches as the endpoint serves best.

    Errors of the endpoint itself (:class:`~vitrine.errors.Unavailable`, :class:`~vitrine.errors.BadInput`)
    propagate, so the job decides between retry and reject; a response that is not a chat completion is
    the model misbehaving and comes back as a :class:`ChatAnswer` with ``error`` set.
    """

    def __init__(
        self,
        endpoint: ModelEndpoint,
        *,
        batch_requests: bool = False,
        concurrency: int = 8,
        logprobs: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.batch_requests = batch_requests
        self.concurrency = concurrency
        self.logprobs = logprobs

    def ask(self, question: ChatQuestion, max_tokens: int) -> ChatAnswer:
        body = json.dumps(chat_request(question, max_tokens, logprobs=self.logprobs)).encode()
        return read_answer(self.name, _json(self.endpoint.invoke(body, "application/json")))

    def ask_many(self, questions: Sequence[ChatQuestion], max_tokens: int) -> list[ChatAnswer]:
        """One answer per question, in order: one batched request in-process, bounded concurrency otherwise."""
        if len(questions) <= 1 or not self.batch_requests:
            return map_concurrently(lambda q: self.ask(q, max_tokens), questions, self.concurrency)
        requests = [chat_request(q, max_tokens, logprobs=self.logprobs) for q in questions]
        answer = _json(self.endpoint.invoke(json.dumps({"requests": requests}).encode(), "application/json"))
        responses = answer.get("responses") if isinstance(answer, dict) else None
        if not isinstance(responses, list) or len(responses) != len(questions):
            error = f"{self.name} answered the batch without {len(questions)} responses"
            return [ChatAnswer(error=error) for _ in questions]
        return [read_answer(self.name, response) for response in responses]


def _json(raw: bytes) -> Any:
    """The parsed body, or None: a body that is not JSON reads as "not a chat completion"."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
