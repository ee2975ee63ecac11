"""The LLaVA chat-completions handler, loaded from its packaged artifact like a SageMaker endpoint."""

from __future__ import annotations

import json

import pytest

from tests.model_code.conftest import JSON, MODEL_CODE, b64


def data_uri(image: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{b64(image)}"


def chat(image: bytes | None, text: str = "what is in this image", **options: object) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": data_uri(image)}}] if image is not None else []
    return {"messages": [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}], **options}


@pytest.fixture(scope="module")
def llava(artifact_handler):
    return artifact_handler("llava")


def test_llava_artifact_answers_in_the_openai_chat_completion_shape(llava, jpeg_bytes):
    answer = llava.call(json.dumps(chat(jpeg_bytes, max_tokens=4, temperature=0)), JSON)
    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-") and isinstance(answer["created"], int) and answer["model"]
    (choice,) = answer["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = answer["usage"]
    assert 1 <= usage["completion_tokens"] <= 4
    assert usage["prompt_tokens"] > 16  # the image's tokens are counted in the prompt
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


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
        assert answer["choices"][0]["finish_reason"] in ("stop", "length"), name


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


def test_llava_serving_properties_configure_djl_vllm_on_the_artifact(llava):
    lines = (MODEL_CODE / "llava" / "serving.properties").read_text().splitlines()
    props = dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    assert props["engine"] == "Python"
    assert props["option.rolling_batch"] == "vllm"
    assert props["option.model_id"] == "/opt/ml/model"
    assert int(props["option.max_rolling_batch_size"]) == 64 and int(props["option.max_model_len"]) > 0
    assert props["option.limit_mm_per_prompt"] == f"image={llava.module.MAX_IMAGES_PER_CHAT}"
