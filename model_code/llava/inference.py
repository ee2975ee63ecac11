"""LLaVA-NeXT chat completions on transformers: the CPU/local twin of the DJL LMI (vLLM) endpoint.

In SageMaker the artifact is served by DJL LMI from ``serving.properties`` with vLLM rolling batch, which
speaks the OpenAI chat-completions schema. This handler takes and returns the same JSON, so a caller
cannot tell which one answered:

Request: ``{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url":
"data:image/jpeg;base64,..."}}, {"type": "text", "text": "..."}]}], "max_tokens": 200, "temperature": 0}``.
Response: ``{"id", "object": "chat.completion", "created", "model", "choices": [{"index": 0, "message":
{"role": "assistant", "content": "..."}, "finish_reason": "stop" | "length"}], "usage": {...}}``.

Bulk classification sends ``{"requests": [<chat request>, ...]}`` and gets ``{"responses": [...]}``: one
process batches them through ``generate`` (vLLM gets the same effect from concurrent single requests).
Images must be inline ``data:`` URIs: the endpoint has no network to fetch URLs from.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from common.imaging import b64decode_image, decode, inspect
from common.payload import MAX_BATCH, InputError, integer, json_response, number, read_json
from common.runtime import chunks, configure_torch, device, dtype_for, to_model

BATCH_SIZE = 8
DEFAULT_MAX_TOKENS = 256
MAX_NEW_TOKENS = 2048
MAX_IMAGES_PER_CHAT = 4
"""Mirrors ``option.limit_mm_per_prompt`` in serving.properties, so both endpoints refuse the same requests."""
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Vlm:
    """What ``model_fn`` loads."""

    model: Any
    processor: Any
    name: str
    target_px: int
    stop_ids: frozenset[int]
    context: int


@dataclass(frozen=True)
class Chat:
    """One chat request: the conversation in the processor's format, its images (checked, still encoded)."""

    conversation: list[dict[str, Any]]
    images: list[bytes]
    max_tokens: int
    temperature: float
    top_p: float


@dataclass(frozen=True)
class Query:
    chats: list[Chat]
    batch: bool


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Prediction:
    completions: list[Completion]
    model: str
    batch: bool


def model_fn(model_dir: str) -> Vlm:
    """Load the merged weights and the processor (with its chat template) from ``model_dir``; the weights
    go to :func:`device`, in half precision where there is a GPU (:func:`dtype_for`)."""
    target = device()
    configure_torch(target)
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"  # batched decoder-only generation continues from the right edge
    model = LlavaNextForConditionalGeneration.from_pretrained(model_dir, dtype=dtype_for(target, half=True))
    model = model.to(target).eval()
    eos = model.generation_config.eos_token_id
    stop = {eos} if isinstance(eos, int) else set(eos or ())
    stop.add(processor.tokenizer.eos_token_id)
    pinpoints = processor.image_processor.image_grid_pinpoints
    return Vlm(
        model=model,
        processor=processor,
        name=Path(model_dir).name,
        target_px=max(max(pair) for pair in pinpoints),
        stop_ids=frozenset(stop),
        context=model.config.text_config.max_position_embeddings,
    )


def _image_part(part: dict[str, Any]) -> bytes:
    """The bytes of an ``image_url`` part; only inline data URIs (there is nothing to fetch a URL with)."""
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InputError(
            "image_url.url must be a data:image/...;base64,... URI; this endpoint cannot fetch URLs"
        )
    image = b64decode_image(url)
    inspect(image)
    return image


def _message(message: Any, images: list[bytes]) -> dict[str, Any]:
    """One OpenAI message as the processor's chat-template message; its images are appended to ``images``."""
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise InputError(f"each message needs a 'role' of {', '.join(ROLES)}")
    content = message.get("content")
    if isinstance(content, str):
        return {"role": message["role"], "content": [{"type": "text", "text": content}]}
    if not isinstance(content, list) or not content:
        raise InputError("message 'content' must be a string or a non-empty list of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url" and message["role"] == "user":
            images.append(_image_part(part))
            parts.append({"type": "image"})
        else:
            raise InputError("content parts must be {'type': 'text', 'text': str} or a user's image_url part")
    return {"role": message["role"], "content": parts}


def _chat(request: Any) -> Chat:
    """Validate one chat-completions request; unknown fields (``model``, ``stream``...) are ignored."""
    if not isinstance(request, dict):
        raise InputError("a chat request must be a JSON object")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("'messages' must be a non-empty list")
    images: list[bytes] = []
    conversation = [_message(message, images) for message in messages]
    if len(images) > MAX_IMAGES_PER_CHAT:
        raise InputError(f"{len(images)} images in one chat; the limit is {MAX_IMAGES_PER_CHAT}")
    return Chat(
        conversation=conversation,
        images=images,
        max_tokens=integer(request, "max_tokens", DEFAULT_MAX_TOKENS, 1, MAX_NEW_TOKENS),
        temperature=number(request, "temperature", 1.0, 0.0, 2.0),
        top_p=number(request, "top_p", 1.0, 0.0, 1.0),
    )


def input_fn(body: bytes | str, content_type: str) -> Query:
    """A chat request, or ``{"requests": [...]}``; errors in a batch name the request they come from."""
    payload = read_json(body, content_type)
    if "requests" not in payload:
        return Query(chats=[_chat(payload)], batch=False)
    requests = payload["requests"]
    if not isinstance(requests, list) or not requests:
        raise InputError("'requests' must be a non-empty list of chat requests")
    if len(requests) > MAX_BATCH:
        raise InputError(f"{len(requests)} requests in one batch; the limit is {MAX_BATCH}", 413)
    chats = []
    for i, request in enumerate(requests):
        try:
            chats.append(_chat(request))
        except ValueError as error:  # InputError and ImageError both carry status_code and message
            error.message = f"requests[{i}]: {error.message}"
            error.args = (error.message,)
            raise
    return Query(chats=chats, batch=True)


def _completion(tokens: list[int], chat: Chat, prompt_tokens: int, vlm: Vlm) -> Completion:
    """Cut one row of generated ids at its first stop token or at the request's own ``max_tokens``."""
    tokens = tokens[: chat.max_tokens]
    stop = next((i for i, token in enumerate(tokens) if token in vlm.stop_ids), None)
    kept = tokens if stop is None else tokens[:stop]
    return Completion(
        text=vlm.processor.tokenizer.decode(kept, skip_special_tokens=True).strip(),
        finish_reason="length" if stop is None else "stop",
        prompt_tokens=prompt_tokens,
        completion_tokens=len(tokens) if stop is None else stop + 1,
    )


def _generate(chats: list[Chat], vlm: Vlm) -> list[Completion]:
    """One ``generate`` call on the model's device for chats that share sampling settings."""
    import torch

    prompts = [vlm.processor.apply_chat_template(c.conversation, add_generation_prompt=True) for c in chats]
    images = [decode(blob, target=vlm.target_px) for chat in chats for blob in chat.images]
    inputs = vlm.processor(images=images or None, text=prompts, padding=True, return_tensors="pt")
    width = inputs["input_ids"].shape[1]
    new_tokens = max(chat.max_tokens for chat in chats)
    if width + new_tokens > vlm.context:
        raise InputError(
            f"prompt ({width} tokens) + max_tokens ({new_tokens}) exceeds the context of {vlm.context}"
        )
    first = chats[0]
    sampling = (
        {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
        if first.temperature > 0
        else {"do_sample": False}
    )
    with torch.inference_mode():
        output = vlm.model.generate(**to_model(inputs, vlm.model), max_new_tokens=new_tokens, **sampling)
    output = output.cpu()
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    rows = output[:, width:].tolist()
    return [_completion(row, chat, int(n), vlm) for row, chat, n in zip(rows, chats, lengths, strict=True)]


def predict_fn(query: Query, vlm: Vlm) -> Prediction:
    """Completions in request order; chats are batched by sampling settings, ``BATCH_SIZE`` at a time."""

    def settings(i: int) -> tuple[float, float]:
        chat = query.chats[i]
        return (chat.temperature, chat.top_p if chat.temperature > 0 else 1.0)

    done: dict[int, Completion] = {}
    order = sorted(range(len(query.chats)), key=settings)
    for _, group in groupby(order, key=settings):
        for indices in chunks(list(group), BATCH_SIZE):
            for i, completion in zip(indices, _generate([query.chats[i] for i in indices], vlm), strict=True):
                done[i] = completion
    return Prediction([done[i] for i in range(len(query.chats))], vlm.name, query.batch)


def _response(completion: Completion, model: str) -> dict[str, Any]:
    """The OpenAI chat.completion object, as DJL LMI returns it."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
    }


def output_fn(prediction: Prediction, accept: str) -> tuple[bytes, str]:
    """One chat.completion, or ``{"responses": [...]}`` in request order for a batch."""
    responses = [_response(c, prediction.model) for c in prediction.completions]
    return json_response({"responses": responses} if prediction.batch else responses[0], accept)
