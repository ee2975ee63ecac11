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


def count_rows(module, calls: list[int]):
    """A forward pre-hook on ``module`` that records how many rows (images) each call gets."""

    def record(_module, args, kwargs):
        first = args[0] if args else next(iter(kwargs.values()))
        calls.append(int(first.shape[0]))

    return module.register_forward_pre_hook(record, with_kwargs=True)


def test_blip2_encodes_the_image_once_whatever_the_number_of_questions(blip2, jpeg_bytes):
    model = blip2.model.model
    vision, qformer = [], []
    hooks = [count_rows(model.vision_model, vision), count_rows(model.qformer, qformer)]
    try:
        for questions in (QUESTIONS[:1], QUESTIONS, QUESTIONS * 4):
            vision.clear()
            qformer.clear()
            body = json.dumps({"image": b64(jpeg_bytes), "questions": questions, "max_new_tokens": 3})
            assert len(blip2.call(body, JSON)["answers"]) == len(questions)
            assert vision == [1] and qformer == [1], (len(questions), vision, qformer)
    finally:
        for hook in hooks:
            hook.remove()


def test_blip2_answers_are_transformers_own_generate(blip2, jpeg_bytes):
    """Reusing the image's features gives what ``generate`` gives with one copy of the image per prompt."""
    import torch

    from common.imaging import decode

    answerer, module = blip2.model, blip2.module
    prompts = [f"Question: {q} Answer:" for q in QUESTIONS]
    image = decode(jpeg_bytes, target=answerer.side)
    inputs = answerer.processor(images=[image] * 3, text=prompts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = answerer.model.generate(**inputs, max_new_tokens=6)
    query = module.input_fn(
        json.dumps({"image": b64(jpeg_bytes), "questions": QUESTIONS, "max_new_tokens": 6}), JSON
    )
    answers = module.predict_fn(query, answerer).answers
    assert answers == [a.strip() for a in answerer.processor.batch_decode(expected, skip_special_tokens=True)]


def test_blip2_model_fn_takes_num_query_tokens_from_the_model_when_the_processor_lacks_it(
    blip2, packaged_model, tmp_path, jpeg_bytes, png_bytes
):
    """A hub processor config without ``num_query_tokens`` writes no image tokens: the model then answers blind
    (``generate`` fills no placeholder and raises nothing). ``model_fn`` takes the number from the model."""
    folder = tmp_path / "hub-processor"
    shutil.copytree(packaged_model("blip2_attributes"), folder)
    config_path = folder / "processor_config.json"
    processor_config = json.loads(config_path.read_text())
    del processor_config["num_query_tokens"]
    config_path.write_text(json.dumps(processor_config))

    answerer = blip2.module.model_fn(str(folder))
    queries = answerer.model.config.num_query_tokens
    assert answerer.processor.num_query_tokens == queries
    image_id = answerer.model.config.image_token_id
    from common.imaging import decode

    ids = answerer.processor(images=[decode(jpeg_bytes)], text=["Question: q Answer:"])["input_ids"][0]
    assert ids.count(image_id) == queries

    seen = []
    encoder = answerer.model.language_model.get_encoder()
    hook = encoder.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(kwargs["inputs_embeds"].clone()), with_kwargs=True
    )
    try:
        for image in (jpeg_bytes, png_bytes):
            body = json.dumps({"image": b64(image), "questions": QUESTIONS[:1], "max_new_tokens": 1})
            blip2.module.output_fn(blip2.module.predict_fn(blip2.module.input_fn(body, JSON), answerer), JSON)
    finally:
        hook.remove()
    assert len(seen) == 2 and not seen[0].equal(seen[1])  # the language model sees the image
