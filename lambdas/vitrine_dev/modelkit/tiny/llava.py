"""A tiny random LLaVA-NeXT (CLIP vision tower + Mistral text model) with its processor, built offline.

It has the real model's shape — the same classes, processor, the hub's own chat template, the language model's
rope settings, the generation path — so the handler and the training script run unchanged on it and meet what a
hub folder brings; its answers are noise. The word-level tokenizer is trained on nothing: its vocabulary is the
words the hotel and tagging prompts use, so prompts tokenize to real ids rather than ``<unk>`` and the chat
template's markers survive a save/load round trip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitrine_dev.modelkit.tiny._shared import TINY_LAYERS, save_model, seeded, word_tokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 8
GRID_PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "[INST]", "[/INST]"]
WORDS = (
    "this is a photo of the an and with in on what which where describe answer one json object label "
    "lobby pool swimming room bedroom bathroom restaurant bar exterior facade gym spa beach view balcony "
    "kitchen breakfast meeting garden terrace suite bed has_model model_count real_world_scene worn angle "
    "whole_or_partial front back side top sole detail whole partial unknown true false person people shop "
    "product photos fashion image"
)

HUB_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\\n' + message['content'][0]['text'] + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '<\\\\s> '}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ ' ' }}{% endif %}"
)
"""llava-hf/llava-v1.6-mistral-7b-hf's own chat template, as its ``chat_template.json`` carries it: typed parts only,
and assistant turns closed by the literal text ``<\\s> `` rather than the EOS token. The tiny model ships it so
the tests meet what the hub's folder brings; serving and training replace it (``model_code/llava/artifact.py``)."""

HUB_TEXT_SHAPE = {"rope_theta": 1_000_000.0, "max_position_embeddings": 32768, "sliding_window": None}
"""The Mistral-7B-Instruct-v0.2 settings of the real language model that survive a save: a tiny model with
transformers' defaults instead (rope_theta 10,000) would hide a container that reads them wrongly."""

HUB_IMAGE_SHAPE = {
    "image_size": 336,
    "patch_size": 14,
    "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
}
"""The real model's CLIP-L/336 tower and anyres grid: what decides how many tokens an image takes."""


def hub_shaped_processor(tokenizer: Any) -> Any:
    """A LLaVA-NeXT processor with the real model's image settings (:data:`HUB_IMAGE_SHAPE`) around ``tokenizer``:
    it counts image tokens as the 7B model does, without weights."""
    from transformers import LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    side = HUB_IMAGE_SHAPE["image_size"]
    return LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            size={"shortest_edge": side},
            crop_size={"height": side, "width": side},
            image_grid_pinpoints=HUB_IMAGE_SHAPE["image_grid_pinpoints"],
        ),
        tokenizer=tokenizer,
        patch_size=HUB_IMAGE_SHAPE["patch_size"],
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def build_tokenizer() -> Any:
    """The tiny word-level tokenizer, with the real model's special tokens."""
    return word_tokenizer(
        WORDS.split(),
        SPECIAL_TOKENS,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",  # decoder-only batches generate from the right edge
    )


def build(out_dir: Path) -> None:
    """Write a tiny LLaVA-NeXT model folder (weights, config, processor, chat template) to ``out_dir``."""
    from transformers import (
        CLIPVisionConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        MistralConfig,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    words = build_tokenizer()
    ids = words.convert_tokens_to_ids
    vision = CLIPVisionConfig(**TINY_LAYERS, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32)
    text = MistralConfig(
        **TINY_LAYERS,
        **HUB_TEXT_SHAPE,
        vocab_size=len(words),
        num_key_value_heads=2,
        bos_token_id=ids("<s>"),
        eos_token_id=ids("</s>"),
        pad_token_id=ids("<pad>"),
    )
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=ids("<image>"),
        image_grid_pinpoints=GRID_PINPOINTS,
        vision_feature_layer=-2,  # the real model's: the tower's second-to-last layer
    )
    with seeded():
        model = LlavaNextForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = ids("<pad>")
    model.generation_config.eos_token_id = ids("</s>")
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            size={"shortest_edge": IMAGE_SIZE},
            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
            image_grid_pinpoints=GRID_PINPOINTS,
        ),
        tokenizer=words,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        chat_template=HUB_CHAT_TEMPLATE,
        num_additional_image_tokens=1,  # the CLIP tower's CLS token (NOTES: needed with a CLIP vision tower)
    )
    save_model(out_dir, model, processor)
