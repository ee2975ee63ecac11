"""Product attributes by visual question answering with BLIP-2: the SageMaker handler (also run locally).

Request: ``{"image": b64, "questions": ["What is the fabric of the shirt?", ...]}`` → ``{"answers": [...]}``
(all questions in one ``generate`` call), or the single-prompt form ``{"image": b64, "prompt": "Question:
... Answer:"}`` → ``{"answer": "..."}``. Options: ``max_new_tokens`` (default 20).

A fine-tuned model arrives either merged or as a PEFT LoRA adapter in ``adapter/`` beside the base
weights; the adapter is merged at load time, so serving costs the same either way.

The image goes through the vision encoder and the Q-Former once per request, whatever the number of questions:
its query features are reused for every prompt (transformers' ``generate`` would encode one copy per prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.imaging import b64decode_image, decode, inspect
from common.payload import MAX_BATCH, InputError, integer, json_response, read_json
from common.runtime import configure_torch, device, input_side, to_model, weights_dtype

ADAPTER_DIR = "adapter"
MAX_QUESTION_CHARS = 500
QUESTION_FORMAT = "Question: {question} Answer:"
"""The BLIP-2 VQA prompt the Flan-T5 checkpoints and our LoRA training use."""


@dataclass(frozen=True)
class Answerer:
    model: Any
    processor: Any
    side: int


@dataclass(frozen=True)
class Query:
    image: bytes
    prompts: list[str]
    max_new_tokens: int
    single: bool
    """The single-prompt form: answer ``{"answer": ...}`` rather than ``{"answers": [...]}``."""


@dataclass(frozen=True)
class Prediction:
    answers: list[str]
    single: bool


def model_fn(model_dir: str) -> Answerer:
    """Load BLIP-2 and, when ``model_dir/adapter`` holds a LoRA adapter, merge it into the weights.

    The model goes to :func:`device` in half precision where there is a GPU, on the CPU in float32 where it fits
    (:func:`weights_dtype`); the dtype is given to ``from_pretrained`` rather than applied afterwards, so the
    modules BLIP-2 keeps in float32 (the Q-Former) stay there.

    A processor saved without ``num_query_tokens`` (older hub folders) writes no image tokens into the prompt, and
    ``generate`` then answers without looking at the image and says nothing; it takes the model's number.
    """
    target = device()
    configure_torch(target)
    dtype = weights_dtype(target, model_dir, half=True)
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    processor = Blip2Processor.from_pretrained(model_dir)
    model = Blip2ForConditionalGeneration.from_pretrained(model_dir, dtype=dtype)
    if getattr(processor, "num_query_tokens", None) is None:
        processor.num_query_tokens = model.config.num_query_tokens
    image_id = processor.tokenizer.convert_tokens_to_ids(str(processor.image_token))
    if image_id != model.config.image_token_id:
        raise ValueError(
            f"{model_dir}: the processor's image token has id {image_id}, the model expects "
            f"{model.config.image_token_id}: the query features would land nowhere"
        )
    adapter = Path(model_dir) / ADAPTER_DIR
    if (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model = model.to(target)
    if model.config.use_decoder_only_language_model:
        processor.tokenizer.padding_side = "left"  # an OPT-style model continues from the right edge
    return Answerer(model=model.eval(), processor=processor, side=input_side(processor.image_processor, 224))


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a non-empty string")
    if len(value) > MAX_QUESTION_CHARS:
        raise InputError(f"{name} is over {MAX_QUESTION_CHARS} characters")
    return value.strip()


def input_fn(body: bytes | str, content_type: str) -> Query:
    """``image`` plus either ``questions`` (a list) or ``prompt`` (one ready-made prompt)."""
    payload = read_json(body, content_type)
    if "image" not in payload:
        raise InputError("'image' (base64) is required")
    if ("questions" in payload) == ("prompt" in payload):
        raise InputError("send either 'questions' (a list) or 'prompt' (one string)")
    if "prompt" in payload:
        prompts = [_text(payload["prompt"], "'prompt'")]
    else:
        questions = payload["questions"]
        if not isinstance(questions, list) or not questions:
            raise InputError("'questions' must be a non-empty list of strings")
        if len(questions) > MAX_BATCH:
            raise InputError(f"{len(questions)} questions in one request; the limit is {MAX_BATCH}", 413)
        prompts = [
            QUESTION_FORMAT.format(question=_text(q, f"questions[{i}]")) for i, q in enumerate(questions)
        ]
    image = b64decode_image(payload["image"])  # after the cheap checks: a bad question costs no decoding
    inspect(image)
    return Query(
        image=image,
        prompts=prompts,
        max_new_tokens=integer(payload, "max_new_tokens", 20, 1, 128),
        single="prompt" in payload,
    )


def _generate(model: Any, pixel_values: Any, input_ids: Any, attention_mask: Any, **options: Any) -> Any:
    """BLIP-2's ``generate`` with the image encoded once for every row of ``input_ids``.

    ``pixel_values`` is one image; its query features (vision encoder, Q-Former, projection) fill the image
    tokens of each prompt, then the language model generates, as ``Blip2ForConditionalGeneration.generate``
    does after encoding one image per row.
    """
    features = model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
    embeddings = model.get_input_embeddings()(input_ids)
    features = features.to(embeddings.device, embeddings.dtype).expand(input_ids.shape[0], -1, -1)
    mask = model.get_placeholder_mask(input_ids, embeddings)
    if int(mask[..., 0].sum()) != features.shape[0] * features.shape[1]:
        raise ValueError("the prompts' image tokens do not match the model's query tokens")
    inputs = {"inputs_embeds": embeddings.masked_scatter(mask, features), "attention_mask": attention_mask}
    if not model.language_model.config.is_encoder_decoder:
        inputs["input_ids"] = input_ids
    return model.language_model.generate(**inputs, **options)


def predict_fn(query: Query, answerer: Answerer) -> Prediction:
    """All prompts about the image in one ``generate`` call on the model's device; the image is decoded and
    encoded once, and the generated ids come back to the CPU to be decoded."""
    import torch

    image = decode(query.image, target=answerer.side)
    # one image for every prompt: the processor still puts the image tokens in front of each of them
    inputs = answerer.processor(images=[image], text=query.prompts, padding=True, return_tensors="pt")
    inputs = to_model(inputs, answerer.model)
    with torch.inference_mode():
        output = _generate(
            answerer.model,
            inputs["pixel_values"],
            inputs["input_ids"],
            inputs["attention_mask"],
            max_new_tokens=query.max_new_tokens,
        ).cpu()
    if answerer.model.config.use_decoder_only_language_model:
        output = output[:, inputs["input_ids"].shape[1] :]  # a decoder-only model echoes the prompt
    answers = answerer.processor.batch_decode(output, skip_special_tokens=True)
    return Prediction(answers=[answer.strip() for answer in answers], single=query.single)


def output_fn(prediction: Prediction, accept: str) -> tuple[bytes, str]:
    """``{"answer": ...}`` for the single-prompt form, ``{"answers": [...]}`` otherwise, in question order."""
    if prediction.single:
        return json_response({"answer": prediction.answers[0]}, accept)
    return json_response({"answers": prediction.answers}, accept)
