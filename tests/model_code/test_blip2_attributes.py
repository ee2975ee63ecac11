"""The BLIP-2 attribute handler, loaded from its packaged artifact, with and without a LoRA adapter."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.model_code.conftest import JSON, b64


@pytest.fixture(scope="module")
def blip2(artifact_handler):
    return artifact_handler("blip2_attributes")


QUESTIONS = ["What is the fabric of the shirt?", "What colour is it?", "Is it long or short sleeve?"]


def test_blip2_artifact_answers_every_question_in_order(blip2, jpeg_bytes):
    answers = blip2.call(json.dumps({"image": b64(jpeg_bytes), "questions": QUESTIONS}), JSON)["answers"]
    assert len(answers) == 3 and all(isinstance(a, str) and a for a in answers)
    for question, answer in zip(QUESTIONS, answers, strict=True):
        prompt = f"Question: {question} Answer:"
        alone = blip2.call(json.dumps({"image": b64(jpeg_bytes), "prompt": prompt}), JSON)
        assert alone == {"answer": answer}  # batching the questions does not change an answer


def test_blip2_artifact_accepts_data_uris_and_odd_images(blip2, odd_images, png_bytes):
    uri = "data:image/png;base64," + b64(png_bytes)
    assert len(blip2.call(json.dumps({"image": uri, "questions": QUESTIONS[:1]}), JSON)["answers"]) == 1
    for name in ("cmyk_jpeg", "exif_rotated_jpeg", "palette_alpha_png"):
        body = json.dumps({"image": b64(odd_images[name]), "questions": QUESTIONS[:1], "max_new_tokens": 2})
        assert len(blip2.call(body, JSON)["answers"]) == 1, name


def test_blip2_artifact_refuses_bad_images_with_their_status(blip2, bad_images, bad_image_status):
    for name, image in bad_images.items():
        error = blip2.refusal(json.dumps({"image": b64(image), "questions": QUESTIONS}), JSON)
        assert error.status_code == bad_image_status[name], (name, error.message)


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (b"", 400, "not valid JSON"),
        (b"{", 400, "not valid JSON"),
        ({"questions": QUESTIONS}, 400, "'image'"),
        ({"image": "AAAA"}, 400, "either"),
        ({"image": "AAAA", "questions": QUESTIONS, "prompt": "x"}, 400, "either"),
        ({"image": "AAAA", "questions": []}, 400, "non-empty list"),
        ({"image": "AAAA", "questions": ["ok", 3]}, 400, "questions[1]"),
        ({"image": "AAAA", "questions": ["q"] * 65}, 413, "limit"),
    ],
)
def test_blip2_artifact_refuses_bad_requests_with_a_message(blip2, payload, status, words):
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    error = blip2.refusal(body, JSON)
    assert error.status_code == status and words in error.message


def test_blip2_artifact_refuses_other_content_types(blip2, jpeg_bytes):
    assert blip2.refusal(jpeg_bytes, "image/jpeg").status_code == 415


def test_blip2_model_fn_merges_a_lora_adapter_found_in_the_artifact(
    blip2, packaged_model, tmp_path, jpeg_bytes
):
    import torch
    from peft import LoraConfig, get_peft_model

    folder = tmp_path / "with-adapter"
    shutil.copytree(packaged_model("blip2_attributes"), folder)
    base = blip2.model.model
    peft_model = get_peft_model(
        type(base).from_pretrained(folder), LoraConfig(r=4, target_modules=["q", "v"])
    )
    with torch.no_grad():
        for name, weight in peft_model.named_parameters():
            if "lora_B" in name:
                weight.normal_(std=1.0, generator=torch.Generator().manual_seed(1))
    peft_model.save_pretrained(folder / "adapter")

    merged = blip2.module.model_fn(str(folder)).model
    names = [n for n, _ in base.named_parameters() if n.endswith("SelfAttention.q.weight")]
    assert names and "PeftModel" not in type(merged).__name__
    base_weights, merged_weights = dict(base.named_parameters()), dict(merged.named_parameters())
    assert not torch.equal(base_weights[names[0]], merged_weights[names[0]])
