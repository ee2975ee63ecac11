"""A tiny random BLIP-2 with a T5 language model (the shape of blip2-flan-t5-xl) and its processor.

T5 rather than OPT because the cloud model is Flan-T5: the handler and the LoRA targets (``q``, ``v``) are
exercised on the same architecture that ships. The vocabulary is the attribute questions' and answers'
words, so prompts tokenize to real ids offline.
"""

from __future__ import annotations

from pathlib import Path

from vitrine_dev.modelkit.tiny._shared import TINY_LAYERS, save_model, seeded, word_tokenizer

IMAGE_SIZE = 32
NUM_QUERY_TOKENS = 4
SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]
WORDS = (
    "question answer what which is are the a of this shirt dress trousers pants shoe shoes jacket coat skirt "
    "hat bag fabric material colour color pattern style sleeve sleeves length neckline collar fit closure "
    "cotton linen wool silk denim leather polyester knit red blue green black white grey gray yellow pink "
    "brown beige navy striped plain floral checked solid long short none not visible slim regular loose "
    "zip button buttons round v neck crew casual formal sporty"
)


def build(out_dir: Path) -> None:
    """Write a tiny BLIP-2 (T5) model folder with its processor to ``out_dir``."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        T5Config,
    )
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = word_tokenizer(
        WORDS.split(), SPECIAL_TOKENS, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    processor = Blip2Processor(
        image_processor=BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        num_query_tokens=NUM_QUERY_TOKENS,
    )  # adds its own <image> token to the tokenizer (NOTES: do not set tokenizer.image_token)
    vocab_size = len(processor.tokenizer)
    config = Blip2Config(
        vision_config=Blip2VisionConfig(**TINY_LAYERS, image_size=IMAGE_SIZE, patch_size=8),
        qformer_config=Blip2QFormerConfig(
            **TINY_LAYERS, vocab_size=vocab_size, encoder_hidden_size=TINY_LAYERS["hidden_size"]
        ),
        text_config=T5Config(
            vocab_size=vocab_size,
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            decoder_start_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        num_query_tokens=NUM_QUERY_TOKENS,
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"),
    )
    with seeded():
        model = Blip2ForConditionalGeneration(config).eval()
    save_model(out_dir, model, processor)
