"""A tiny random LLaVA-NeXT (CLIP vision tower + Llama-style text model) with its processor, built offline.

It has the real model's shape — the same classes, processor, chat template and generation path — so the
handler and the training script run unchanged on it; its answers are noise. The word-level tokenizer is
trained on nothing: its vocabulary is the words the hotel and tagging prompts use, so prompts tokenize to
real ids rather than ``<unk>`` and the chat template's markers survive a save/load round trip.
"""

from __future__ import annotations

from pathlib import Path

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

# The llava-v1.6-mistral template, extended to accept plain-string content as well as typed parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}{{ ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}{{ ' </s>' }}"
    "{% elif message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}{{ '\n' }}"
    "{% endif %}{% endfor %}"
)


def build(out_dir: Path) -> None:
    """Write a tiny LLaVA-NeXT model folder (weights, config, processor, chat template) to ``out_dir``."""
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tokenizer = word_tokenizer(
        WORDS.split(),
        SPECIAL_TOKENS,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",  # decoder-only batches generate from the right edge
    )
    ids = tokenizer.convert_tokens_to_ids
    vision = CLIPVisionConfig(**TINY_LAYERS, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32)
    text = LlamaConfig(
        **TINY_LAYERS,
        vocab_size=len(tokenizer),
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=ids("<s>"),
        eos_token_id=ids("</s>"),
        pad_token_id=ids("<pad>"),
    )
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=ids("<image>"),
        image_grid_pinpoints=GRID_PINPOINTS,
        vision_feature_layer=-1,
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
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,  # the CLIP tower's CLS token (NOTES: needed with a CLIP vision tower)
    )
    save_model(out_dir, model, processor)
