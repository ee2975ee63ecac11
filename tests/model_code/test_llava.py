"""The LLaVA chat-completions handler, loaded from its packaged artifact like a SageMaker endpoint.

The handler is the CPU/local twin of the DJL LMI 0.31 endpoint: these tests hold it to DJL's behaviour (its
response fields, its default ``max_tokens``, its prompt) and to the limits both share with serving.properties.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from tests.model_code.conftest import JSON, MODEL_CODE, b64, encode, photo


def data_uri(image: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{b64(image)}"


def image_part(image: bytes) -> dict:
    return {"type": "image_url", "image_url": {"url": data_uri(image)}}


def chat(image: bytes | None, text: str = "what is in this image", **options: object) -> dict:
    parts = [image_part(image)] if image is not None else []
    return {"messages": [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}], **options}


@pytest.fixture(scope="module")
def llava(artifact_handler):
    return artifact_handler("llava")


def serving_properties() -> dict[str, str]:
    lines = (MODEL_CODE / "llava" / "serving.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def djl_json_chat(tokens: list[str], finish_reason: str, prompt_tokens: int, logprobs: list | None) -> dict:
    """What DJL LMI 0.31's ``_json_chat_output_formatter`` (djl_python/output_formatter.py) sends for a sequence of
    generated token texts, replayed as it does it: a JSON prefix cut at the content, each token's text appended,
    and the tail spliced on at the last token. ``logprobs`` is ``[(text, logprob), ...]`` or ``None``."""
    head = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 0,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}],
    }
    body = ""
    for i, text in enumerate(tokens):
        if i == 0:
            body = json.dumps(head, ensure_ascii=False)[:-5]
        body += json.dumps(text, ensure_ascii=False)[1:-1]
        if i == len(tokens) - 1:
            content = None
            if logprobs is not None:
                content = {
                    "content": [
                        {
                            "token": t,
                            "logprob": lp,
                            "bytes": (b := [ord(c) for c in t] if t else None),
                            "top_logprobs": [{"token": t, "logprob": lp, "bytes": b}],
                        }
                        for t, lp in logprobs
                    ]
                }
            tail = {
                "choices": [{"logprobs": content, "finish_reason": finish_reason}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt_tokens + len(tokens),
                },
            }
            body += f'"}}, {json.dumps(tail, ensure_ascii=False)[14:]}'
    return json.loads(body)


def shape(value: Any) -> Any:
    """The fields and value types of a JSON value, recursively (what "field for field" compares)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return (
        "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__
    )


def test_llava_answers_field_for_field_as_djl_lmi_does(llava, jpeg_bytes):
    answer = llava.call(json.dumps(chat(jpeg_bytes, max_tokens=4, temperature=0)), JSON)
    usage = answer["usage"]
    (choice,) = answer["choices"]
    assert answer["id"].startswith("chatcmpl-") and isinstance(answer["created"], int)
    assert choice["finish_reason"] in ("eos_token", "length")  # DJL maps vLLM's "stop" to "eos_token"
    assert 1 <= usage["completion_tokens"] <= 4
    assert usage["prompt_tokens"] > 16  # the image's tokens are counted in the prompt
    tokens = [choice["message"]["content"]] + [""] * (usage["completion_tokens"] - 1)
    djl = djl_json_chat(tokens, choice["finish_reason"], usage["prompt_tokens"], None)
    assert shape(answer) == shape(djl)  # no "model" key: DJL LMI 0.31 sends none
    assert answer["choices"] == djl["choices"] and answer["usage"] == djl["usage"]


def test_llava_logprobs_are_djl_lmis(llava, jpeg_bytes):
    answer = llava.call(json.dumps(chat(jpeg_bytes, max_tokens=3, temperature=0, logprobs=True)), JSON)
    (choice,) = answer["choices"]
    content = choice["logprobs"]["content"]
    assert len(content) == answer["usage"]["completion_tokens"]
    assert all(math.isfinite(item["logprob"]) and item["logprob"] <= 0 for item in content)
    pairs = [(item["token"], item["logprob"]) for item in content]
    djl = djl_json_chat(
        [t for t, _ in pairs], choice["finish_reason"], answer["usage"]["prompt_tokens"], pairs
    )
    assert shape(answer) == shape(djl) and answer["choices"][0]["logprobs"] == djl["choices"][0]["logprobs"]
    without = llava.call(json.dumps(chat(jpeg_bytes, max_tokens=3, temperature=0)), JSON)
    assert without["choices"][0]["logprobs"] is None
    assert without["choices"][0]["message"] == choice["message"]  # asking for them changes no answer


def test_llava_stop_token_ends_with_djls_eos_finish_reason(llava, jpeg_bytes):
    vocabulary = len(llava.model.processor.tokenizer)
    stops_at_once = dataclasses.replace(llava.model, stop_ids=frozenset(range(vocabulary)))
    query = llava.module.input_fn(json.dumps(chat(jpeg_bytes, max_tokens=5, temperature=0)), JSON)
    (completion,) = llava.module.predict_fn(query, stops_at_once).completions
    assert completion.finish_reason == "eos_token" and completion.completion_tokens == 1  # vLLM counts EOS


def test_llava_default_max_tokens_is_djl_lmis(llava, jpeg_bytes):
    request = chat(jpeg_bytes, temperature=0)
    (parsed,) = llava.module.input_fn(json.dumps(request), JSON).chats
    assert parsed.max_tokens == llava.module.LIMITS.default_max_tokens == 30  # DJL's vLLM default
    assert llava.call(json.dumps(request), JSON)["usage"]["completion_tokens"] <= 30


def test_llava_limits_table_is_what_serving_properties_configures(llava):
    limits, props = llava.module.LIMITS, serving_properties()
    assert props["engine"] == "Python"
    assert props["option.rolling_batch"] == "vllm"
    assert props["option.model_id"] == "/opt/ml/model"
    assert int(props["option.max_rolling_batch_size"]) == 64
    assert props["option.limit_mm_per_prompt"] == f"image={limits.images_per_chat}"
    assert int(props["option.max_model_len"]) == limits.context_tokens


def test_llava_context_holds_the_most_images_a_chat_may_send(llava):
    """Two anyres images are 5,856 tokens: four (the old limit) could not fit max_model_len 8192 at all."""
    limits = llava.module.LIMITS
    assert limits.images_per_chat * limits.image_tokens + limits.text_tokens <= limits.context_tokens
    assert limits.context_tokens <= llava.module.BATCH_TOKENS  # any one chat fits a batch


def test_llava_image_token_count_is_the_real_models(llava):
    """The limits' 2,928 tokens an image is what llava-v1.6-mistral's processor settings make of the largest
    anyres image (672 x 672); the other grids take fewer."""
    from vitrine_dev.modelkit.tiny.llava import HUB_IMAGE_SHAPE, build_tokenizer, hub_shaped_processor

    processor = hub_shaped_processor(build_tokenizer())
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    counts = {}
    for height, width in HUB_IMAGE_SHAPE["image_grid_pinpoints"]:
        inputs = processor(images=[photo((width, height))], text=["<image>"], return_tensors="pt")
        counts[(height, width)] = int((inputs["input_ids"] == image_id).sum())
    assert max(counts.values()) == counts[(672, 672)] == llava.module.LIMITS.image_tokens == 2928


def test_llava_refuses_what_djl_cannot_serve(llava, jpeg_bytes, png_bytes):
    three = {"messages": [{"role": "user", "content": [image_part(jpeg_bytes)]} for _ in range(3)]}
    assert "limit is 2" in llava.refusal(json.dumps(three), JSON).message
    two_in_one = {"messages": [{"role": "user", "content": [image_part(jpeg_bytes), image_part(png_bytes)]}]}
    assert "per message" in llava.refusal(json.dumps(two_in_one), JSON).message
    smuggled = chat(None, "<image>\nwhat is in this image")
    assert "<image>" in llava.refusal(json.dumps(smuggled), JSON).message


def test_llava_two_images_in_two_messages_are_served(llava, jpeg_bytes, png_bytes):
    request = {
        "messages": [
            {"role": "user", "content": [image_part(jpeg_bytes), {"type": "text", "text": "this one"}]},
            {"role": "assistant", "content": "a pool"},
            {"role": "user", "content": [image_part(png_bytes), {"type": "text", "text": "and this one"}]},
        ],
        "max_tokens": 2,
        "temperature": 0,
    }
    alone = llava.call(json.dumps(chat(jpeg_bytes, max_tokens=2, temperature=0)), JSON)
    answer = llava.call(json.dumps(request), JSON)
    assert answer["usage"]["prompt_tokens"] > 2 * alone["usage"]["prompt_tokens"] - 20


def test_llava_refuses_a_prompt_and_answer_beyond_the_context_as_vllm_does(llava, jpeg_bytes):
    body = json.dumps({"requests": [chat(jpeg_bytes, max_tokens=8), chat(jpeg_bytes, max_tokens=8192)]})
    error = llava.refusal(body, JSON)
    assert error.status_code == 400 and error.message.startswith("requests[1]:")
    assert "maximum context length is 8192" in error.message


def test_llava_prompt_is_the_one_djl_renders(llava, jpeg_bytes):
    """DJL flattens a message to ``"<image>\\n" + text`` and renders the tokenizer's template; the handler does
    the same, and gets ``[INST] <image>\\n{text} [/INST]`` (the hub template gave ``[INST]  [/INST]``)."""
    (parsed,) = llava.module.input_fn(json.dumps(chat(jpeg_bytes)), JSON).chats
    assert parsed.conversation == [{"role": "user", "content": "<image>\nwhat is in this image"}]
    prompt = llava.model.processor.tokenizer.apply_chat_template(
        parsed.conversation, tokenize=False, add_generation_prompt=True
    )
    assert prompt == "[INST] <image>\nwhat is in this image [/INST]"


def test_llava_batches_by_prompt_tokens_not_by_count(llava, jpeg_bytes, png_bytes, monkeypatch):
    """With a budget of about two image chats per ``generate``, five chats take three calls, each within the
    budget, and every answer is the one the chat gets alone."""
    requests = [chat(image, max_tokens=3, temperature=0) for image in (jpeg_bytes, png_bytes) * 2]
    requests.append(chat(None, "describe the pool", max_tokens=3, temperature=0))
    singles = [llava.call(json.dumps(r), JSON) for r in requests]
    budget = 2 * (singles[0]["usage"]["prompt_tokens"] + 3) + 1
    monkeypatch.setattr(llava.module, "BATCH_TOKENS", budget)
    model = llava.model.model
    generate, calls = model.generate, []

    def counting(**inputs: Any) -> Any:
        rows, width = inputs["input_ids"].shape
        calls.append(rows * (width + inputs["max_new_tokens"]))
        return generate(**inputs)

    monkeypatch.setattr(model, "generate", counting)
    batch = llava.call(json.dumps({"requests": requests}), JSON)["responses"]
    assert len(calls) == 3 and max(calls) <= budget
    for single, answer in zip(singles, batch, strict=True):
        assert answer["choices"][0]["message"] == single["choices"][0]["message"]
        assert answer["usage"] == single["usage"]


def test_llava_artifact_batch_gives_the_same_greedy_answers_in_order(llava, jpeg_bytes, png_bytes):
    requests = [
        chat(jpeg_bytes, max_tokens=5, temperature=0),
        chat(None, "describe the pool", max_tokens=3, temperature=0),
        chat(png_bytes, max_tokens=2, temperature=0),
        {
            "messages": [{"role": "user", "content": "describe the lobby"}],
            "max_tokens": 3,
            "temperature": 0.8,
        },
    ]
    batch = llava.call(json.dumps({"requests": requests}), JSON)["responses"]
    assert len(batch) == 4 and len({r["id"] for r in batch}) == 4
    for request, response in zip(requests[:3], batch[:3], strict=True):
        alone = llava.call(json.dumps(request), JSON)
        assert response["choices"][0]["message"] == alone["choices"][0]["message"]
        assert response["usage"] == alone["usage"]
    assert batch[2]["usage"]["completion_tokens"] <= 2  # each request keeps its own max_tokens


def test_llava_artifact_accepts_odd_but_valid_images(llava, odd_images):
    for name in ("cmyk_jpeg", "exif_rotated_jpeg", "palette_alpha_png", "webp"):
        answer = llava.call(json.dumps(chat(odd_images[name], max_tokens=1, temperature=0)), JSON)
        assert answer["choices"][0]["finish_reason"] in ("eos_token", "length"), name


def test_llava_artifact_refuses_bad_images_with_their_status(llava, bad_images, bad_image_status):
    for name, image in bad_images.items():
        error = llava.refusal(json.dumps(chat(image, max_tokens=1)), JSON)
        assert error.status_code == bad_image_status[name], (name, error.message)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"", JSON, 400, "not valid JSON"),
        (b"{not json", JSON, 400, "not valid JSON"),
        (b"[]", JSON, 400, "JSON object"),
        (b"{}", JSON, 400, "messages"),
        (json.dumps({"messages": [{"role": "robot", "content": "hi"}]}), JSON, 400, "role"),
        (json.dumps(chat(None, max_tokens=0)), JSON, 400, "max_tokens"),
        (json.dumps(chat(None, temperature=5)), JSON, 400, "temperature"),
        (json.dumps(chat(None, logprobs="yes")), JSON, 400, "logprobs"),
        (json.dumps({"requests": []}), JSON, 400, "requests"),
        (json.dumps(chat(None)), "text/csv", 415, "content type"),
    ],
)
def test_llava_artifact_refuses_bad_requests_with_a_message(llava, body, content_type, status, words):
    error = llava.refusal(body, content_type)
    assert error.status_code == status and words in error.message


def test_llava_artifact_refuses_remote_image_urls_it_cannot_fetch(llava):
    request = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}]}
        ]
    }
    assert "data:" in llava.refusal(json.dumps(request), JSON).message


def test_llava_artifact_batch_error_names_the_request(llava, jpeg_bytes, bad_images):
    body = json.dumps({"requests": [chat(jpeg_bytes), chat(bad_images["text"])]})
    error = llava.refusal(body, JSON)
    assert error.status_code == 415 and error.message.startswith("requests[1]:")


def test_llava_artifact_refuses_non_json_accept(llava, jpeg_bytes):
    assert (
        llava.refusal(json.dumps(chat(jpeg_bytes, max_tokens=1)), JSON, accept="text/csv").status_code == 406
    )


def test_llava_model_fn_refuses_on_the_cpu_a_model_too_large_for_float32(llava, packaged_model, monkeypatch):
    """A 7B model is ~30 GB in float32: on a CPU without the memory, ``model_fn`` says so instead of swapping;
    where the CPU has bfloat16 and half the memory is enough, it loads bfloat16."""
    import torch

    module, root = llava.module, str(packaged_model("llava"))
    monkeypatch.setenv("VITRINE_DEVICE", "cpu")
    helpers = module.weights_dtype.__globals__  # the artifact's own common.runtime
    parameters = helpers["checkpoint_parameters"](root)
    monkeypatch.setitem(helpers, "available_memory", lambda: parameters * 3)  # float32 needs 4 bytes each
    monkeypatch.setitem(helpers, "cpu_has_bfloat16", lambda: False)
    with pytest.raises(MemoryError, match=r"GiB in float32.*serve it on a GPU"):
        module.model_fn(root)
    monkeypatch.setitem(helpers, "cpu_has_bfloat16", lambda: True)
    loaded = module.model_fn(root)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    answer = llava.module.output_fn(
        module.predict_fn(
            module.input_fn(json.dumps(chat(encode(photo(), "JPEG"), max_tokens=2)), JSON), loaded
        ),
        JSON,
    )
    assert json.loads(answer[0])["object"] == "chat.completion"
