"""LLaVA-NeXT chat completions on transformers: the CPU/local twin of the DJL LMI (vLLM) endpoint.

In SageMaker the artifact is served by DJL LMI 0.31 from ``serving.properties`` with vLLM rolling batch, which
speaks the OpenAI chat-completions schema. This handler takes the same requests, refuses the same ones, builds
the same prompt and answers field for field as DJL LMI does, so a caller cannot tell which one answered:

Request: ``{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url":
"data:image/jpeg;base64,..."}}, {"type": "text", "text": "..."}]}], "max_tokens": 200, "temperature": 0}``.
Response (DJL's ``json_chat`` output): ``{"id", "object": "chat.completion", "created", "choices": [{"index": 0,
"message": {"role": "assistant", "content": "..."}, "logprobs": null | {"content": [...]}, "finish_reason":
"eos_token" | "length"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}`` — no ``model`` key,
and DJL's ``eos_token`` where OpenAI says ``stop``.

What both endpoints accept is one table, :data:`LIMITS`, which ``serving.properties`` repeats (a test holds them
together). Like DJL, each message becomes one string before the chat template sees it (``"<image>\\n"`` and the
texts joined by newlines), and the prompt is rendered by the tokenizer's template, the one in the artifact.

Bulk classification sends ``{"requests": [<chat request>, ...]}`` and gets ``{"responses": [...]}``: one
process batches them through ``generate``, as many at a time as :data:`BATCH_TOKENS` allows (vLLM gets the same
effect from concurrent single requests). Images must be inline ``data:`` URIs: the endpoint has no network.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from common.imaging import b64decode_image, decode, inspect
from common.payload import MAX_BATCH, InputError, integer, json_response, number, read_json
from common.runtime import configure_torch, device, to_model, weights_dtype

try:  # SageMaker: code/ (this folder) is on sys.path
    from artifact import CHAT_TEMPLATE, IMAGE_TOKEN
except ModuleNotFoundError:  # in-process: model_code/ is on sys.path, this folder is the llava package
    from llava.artifact import CHAT_TEMPLATE, IMAGE_TOKEN


@dataclass(frozen=True)
class ChatLimits:
    """What a chat may ask of either LLaVA endpoint."""

    images_per_chat: int
    """``option.limit_mm_per_prompt=image=N`` in serving.properties."""
    context_tokens: int
    """``option.max_model_len``: a chat's prompt, image tokens included, plus its ``max_tokens``."""
    default_max_tokens: int
    """``max_tokens`` when a request names none: DJL LMI 0.31's own default for vLLM (not configurable)."""
    images_per_message: int = 1
    """DJL LMI 0.31 writes one ``<image>`` per message whatever its image count; vLLM then fails the request."""
    image_tokens: int = 2928
    """The most tokens one llava-v1.6 anyres image takes: a 672 x 672 grid (2,304), a newline per row (48) and the
    336 px overview (576)."""
    text_tokens: int = 1024
    """What a chat with the most images still has for its text and its answer."""


LIMITS = ChatLimits(images_per_chat=2, context_tokens=8192, default_max_tokens=30)

BATCH_TOKENS = 16_384
"""Rows x (longest prompt + largest ``max_tokens``) of one ``generate`` call, what its KV cache grows to: 2 GiB in
float16 for Mistral-7B (128 KiB a token), which an A10G holds beside the 14.5 GB of weights. A chat needs at most
:attr:`ChatLimits.context_tokens`, so any one chat fits; batching by count instead (eight chats of four images)
asked for ~94k tokens, about 11 GiB."""

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Vlm:
    """What ``model_fn`` loads."""

    model: Any
    processor: Any
    target_px: int
    stop_ids: frozenset[int]
    context: int


@dataclass(frozen=True)
class Chat:
    """One chat request: the conversation as DJL hands it to the chat template (string contents), its images
    (checked, still encoded) and its sampling settings."""

    conversation: list[dict[str, str]]
    images: list[bytes]
    max_tokens: int
    temperature: float
    top_p: float
    logprobs: bool


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
    logprobs: list[tuple[str, float]] | None
    """(token text, log-probability) of every generated token, the stop token included, when asked for."""


@dataclass(frozen=True)
class Prediction:
    completions: list[Completion]
    batch: bool


def model_fn(model_dir: str) -> Vlm:
    """Load the merged weights and the processor from ``model_dir``, with :data:`CHAT_TEMPLATE` as the chat
    template whatever the folder carries (a hub folder brings one that cannot read DJL's string contents).

    The weights go to :func:`device`, in half precision where there is a GPU; on the CPU in float32, or bfloat16
    where float32 would not fit and the CPU has it, else a clear refusal (:func:`weights_dtype`).
    """
    target = device()
    configure_torch(target)
    dtype = weights_dtype(target, model_dir, half=True)
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    processor = AutoProcessor.from_pretrained(model_dir)
    if getattr(processor, "image_token", IMAGE_TOKEN) != IMAGE_TOKEN:
        raise ValueError(
            f"{model_dir}: the processor's image token is not {IMAGE_TOKEN}, which DJL LMI writes"
        )
    processor.chat_template = CHAT_TEMPLATE
    processor.tokenizer.chat_template = CHAT_TEMPLATE
    processor.tokenizer.padding_side = "left"  # batched decoder-only generation continues from the right edge
    model = LlavaNextForConditionalGeneration.from_pretrained(model_dir, dtype=dtype)
    model = model.to(target).eval()
    eos = model.generation_config.eos_token_id
    stop = {eos} if isinstance(eos, int) else set(eos or ())
    stop.add(processor.tokenizer.eos_token_id)
    pinpoints = processor.image_processor.image_grid_pinpoints
    return Vlm(
        model=model,
        processor=processor,
        target_px=max(max(pair) for pair in pinpoints),
        stop_ids=frozenset(stop),
        context=min(LIMITS.context_tokens, model.config.text_config.max_position_embeddings),
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


def _message(message: Any, images: list[bytes]) -> dict[str, str]:
    """One OpenAI message flattened as DJL LMI 0.31 does (``"<image>\\n" + "\\n".join(texts)``); its images are
    appended to ``images``."""
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise InputError(f"each message needs a 'role' of {', '.join(ROLES)}")
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        texts, count = [content], 0
    elif isinstance(content, list) and content:
        texts, count = [], 0
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and role == "user":
                images.append(_image_part(part))
                count += 1
            else:
                raise InputError(
                    "content parts must be {'type': 'text', 'text': str} or a user's image_url part"
                )
        if count > LIMITS.images_per_message:
            raise InputError(
                f"{count} images in one message; the limit is {LIMITS.images_per_message} per message "
                "(send more images in separate messages)"
            )
    else:
        raise InputError("message 'content' must be a string or a non-empty list of parts")
    if any(IMAGE_TOKEN in text for text in texts):
        raise InputError(f"message text may not contain {IMAGE_TOKEN}: send images as image_url parts")
    text = "\n".join(texts)
    return {"role": role, "content": f"{IMAGE_TOKEN}\n{text}" if count else text}


def _chat(request: Any) -> Chat:
    """Validate one chat-completions request; unknown fields (``model``, ``stream``...) are ignored."""
    if not isinstance(request, dict):
        raise InputError("a chat request must be a JSON object")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("'messages' must be a non-empty list")
    images: list[bytes] = []
    conversation = [_message(message, images) for message in messages]
    if len(images) > LIMITS.images_per_chat:
        raise InputError(f"{len(images)} images in one chat; the limit is {LIMITS.images_per_chat}")
    logprobs = request.get("logprobs", False)
    if not isinstance(logprobs, bool):
        raise InputError("'logprobs' must be true or false")
    return Chat(
        conversation=conversation,
        images=images,
        max_tokens=integer(request, "max_tokens", LIMITS.default_max_tokens, 1, LIMITS.context_tokens),
        temperature=number(request, "temperature", 1.0, 0.0, 2.0),
        top_p=number(request, "top_p", 1.0, 0.0, 1.0),
        logprobs=logprobs,
    )


def _named(error: ValueError, where: str) -> ValueError:
    """``error`` (InputError or ImageError: both carry ``status_code`` and ``message``) prefixed with ``where``."""
    error.message = f"{where}: {error.message}"
    error.args = (error.message,)
    return error


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
        except ValueError as error:
            raise _named(error, f"requests[{i}]") from None
    return Query(chats=chats, batch=True)


@dataclass(frozen=True)
class _Prepared:
    """A chat made ready for ``generate``: its prompt, its decoded images and its prompt's length in tokens."""

    chat: Chat
    prompt: str
    pictures: list[Any]
    tokens: int


def _prepare(chat: Chat, vlm: Vlm) -> _Prepared:
    """Render the prompt as DJL does (the tokenizer's chat template) and measure it with its image tokens."""
    template = vlm.processor.tokenizer.apply_chat_template
    prompt = template(chat.conversation, tokenize=False, add_generation_prompt=True)
    pictures = [decode(blob, target=vlm.target_px) for blob in chat.images]
    tokens = vlm.processor(images=pictures or None, text=[prompt], return_tensors="pt")["input_ids"].shape[1]
    return _Prepared(chat=chat, prompt=prompt, pictures=pictures, tokens=int(tokens))


def _batches(prepared: list[_Prepared], indices: list[int], budget: int) -> list[list[int]]:
    """``indices`` (shortest prompt first) cut into consecutive batches whose rows x (longest prompt + largest
    ``max_tokens``) stays within ``budget``; a chat that exceeds it alone runs alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(indices, key=lambda i: prepared[i].tokens):
        grown = [*current, i]
        width = max(prepared[j].tokens for j in grown) + max(prepared[j].chat.max_tokens for j in grown)
        if current and len(grown) * width > budget:
            batches.append(current)
            grown = [i]
        current = grown
    if current:
        batches.append(current)
    return batches


def _completion(
    tokens: list[int], logprobs: list[float] | None, prepared: _Prepared, prompt_tokens: int, vlm: Vlm
) -> Completion:
    """Cut one row of generated ids at its first stop token (kept, as vLLM counts it) or at its ``max_tokens``."""
    chat = prepared.chat
    tokens = tokens[: chat.max_tokens]
    stop = next((i for i, token in enumerate(tokens) if token in vlm.stop_ids), None)
    counted = tokens if stop is None else tokens[: stop + 1]
    text_of = vlm.processor.tokenizer.decode
    return Completion(
        text=text_of(counted, skip_special_tokens=True).strip(),
        finish_reason="length" if stop is None else "eos_token",
        prompt_tokens=prompt_tokens,
        completion_tokens=len(counted),
        logprobs=(
            [
                (text_of([token], skip_special_tokens=True), lp)
                for token, lp in zip(counted, logprobs, strict=False)
            ]
            if chat.logprobs and logprobs is not None
            else None
        ),
    )


def _generate(batch: list[_Prepared], vlm: Vlm) -> list[Completion]:
    """One ``generate`` call on the model's device for chats that share sampling settings."""
    import torch

    pictures = [picture for prepared in batch for picture in prepared.pictures]
    prompts = [prepared.prompt for prepared in batch]
    inputs = vlm.processor(images=pictures or None, text=prompts, padding=True, return_tensors="pt")
    width = inputs["input_ids"].shape[1]
    first = batch[0].chat
    options: dict[str, Any] = {"max_new_tokens": max(prepared.chat.max_tokens for prepared in batch)}
    if first.temperature > 0:
        options |= {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
    else:
        options["do_sample"] = False
    scores = any(prepared.chat.logprobs for prepared in batch)
    if scores:
        options |= {"output_logits": True, "return_dict_in_generate": True}
    with torch.inference_mode():
        output = vlm.model.generate(**to_model(inputs, vlm.model), **options)
    sequences = (output.sequences if scores else output).cpu()[:, width:]
    logprobs: list[list[float]] | list[None] = [None] * len(batch)
    if scores:  # the raw next-token distribution, as vLLM reports it for greedy decoding
        logits = torch.stack(output.logits, dim=1).float().cpu().log_softmax(dim=-1)
        logprobs = logits.gather(-1, sequences.unsqueeze(-1)).squeeze(-1).tolist()
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    return [
        _completion(row, row_logprobs, prepared, int(n), vlm)
        for row, row_logprobs, prepared, n in zip(sequences.tolist(), logprobs, batch, lengths, strict=True)
    ]


def predict_fn(query: Query, vlm: Vlm) -> Prediction:
    """Completions in request order. Each chat must fit the context as vLLM requires (prompt + ``max_tokens``);
    chats that share sampling settings are batched within :data:`BATCH_TOKENS`."""
    prepared = [_prepare(chat, vlm) for chat in query.chats]
    for i, item in enumerate(prepared):
        if item.tokens + item.chat.max_tokens > vlm.context:
            error = InputError(
                f"this model's maximum context length is {vlm.context} tokens; the request asks for "
                f"{item.tokens + item.chat.max_tokens} ({item.tokens} in the messages, "
                f"{item.chat.max_tokens} in the completion)"
            )
            raise _named(error, f"requests[{i}]") if query.batch else error

    def settings(i: int) -> tuple[float, float]:
        chat = query.chats[i]
        return (chat.temperature, chat.top_p if chat.temperature > 0 else 1.0)

    done: dict[int, Completion] = {}
    for _, group in groupby(sorted(range(len(prepared)), key=settings), key=settings):
        for indices in _batches(prepared, list(group), BATCH_TOKENS):
            for i, completion in zip(indices, _generate([prepared[i] for i in indices], vlm), strict=True):
                done[i] = completion
    return Prediction([done[i] for i in range(len(prepared))], query.batch)


def _logprobs(completion: Completion) -> dict[str, Any] | None:
    """DJL LMI's ``logprobs``: one entry per token, itself as its only top log-probability; ``bytes`` are the
    text's code points (DJL's ``ord`` of each character), ``None`` for a token without text (the stop token)."""
    if completion.logprobs is None:
        return None
    content = []
    for token, logprob in completion.logprobs:
        points = [ord(c) for c in token] if token else None
        entry = {"token": token, "logprob": logprob, "bytes": points}
        content.append({**entry, "top_logprobs": [dict(entry)]})
    return {"content": content}


def _response(completion: Completion) -> dict[str, Any]:
    """The chat.completion object exactly as DJL LMI 0.31's ``json_chat`` formatter writes it."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "logprobs": _logprobs(completion),
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
    responses = [_response(c) for c in prediction.completions]
    return json_response({"responses": responses} if prediction.batch else responses[0], accept)
