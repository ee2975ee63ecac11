"""A tiny random dual encoder (CLIP layout, 32-d, 32 px, patch 8), built offline for wiring and tests.

The tokenizer is ``model_code/clip_embed/vocabulary.py``'s word-level one over the demo shop's words (colours,
patterns, categories, fabrics, fits, brands, style nouns) and a few query words, so shoppers' words tokenize to
distinct ids and a tiny model fine-tuned on the demo can actually learn them. ``family="siglip"`` builds the
same size as ``SiglipModel`` (the handler serves both).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from vitrine_dev.modelkit.tiny._shared import TINY_LAYERS, save_model, seeded

MODEL_NAME = "tiny-clip"
IMAGE_SIZE = 32
MAX_TOKENS = 32
QUERY_WORDS = (
    "a an the and or with for of in by men women kids unisex plain striped checked polka-dot dotted solid "
    "stripes checks dots pattern patterned white gum sole long short sleeve sleeves shirt shirts tee top pants "
    "trousers jeans hat hats cap caps shoes boots sneakers trainers"
)


def _vocabulary_module() -> ModuleType:
    """``model_code/clip_embed/vocabulary.py`` under a private name (``model_code`` is not a package here)."""
    from vitrine_dev.modelkit import model_code_dir

    spec = importlib.util.spec_from_file_location(
        "vitrine_tiny_clip_vocabulary", model_code_dir() / "clip_embed" / "vocabulary.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def demo_words() -> list[str]:
    """Every word the demo shop's product texts use, and the query words shoppers add."""
    from vitrine_dev import demo

    texts = [
        *demo.ACCENTS,
        *demo.PATTERNS,
        *demo.PATTERN_WORDS.values(),
        *demo.CATEGORIES,
        *(word for words in demo.FABRICS.values() for word in words),
        *(word for words in demo.FITS.values() for word in words),
        *demo.BRANDS,
        *demo.SOLES,
        "short-sleeve shirt trousers cap boots",
        QUERY_WORDS,
    ]
    return _vocabulary_module().words_of(texts)


def build(out_dir: Path, family: str = "clip") -> None:
    """Write config, weights, tokenizer and image processor of a tiny CLIP (or SigLIP) to ``out_dir``."""
    vocabulary = _vocabulary_module()
    tokenizer = vocabulary.word_tokenizer(demo_words(), MAX_TOKENS)
    text = {**TINY_LAYERS, "vocab_size": len(tokenizer), "max_position_embeddings": MAX_TOKENS}
    vision = {**TINY_LAYERS, "image_size": IMAGE_SIZE, "patch_size": 8}
    if family == "clip":
        from transformers import CLIPConfig, CLIPModel
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        config = CLIPConfig(
            text_config={**text, **vocabulary.special_ids()}, vision_config=vision, projection_dim=32
        )
        model_class = CLIPModel
        processor = CLIPImageProcessorPil(
            size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
        )
    elif family == "siglip":
        from transformers import SiglipConfig, SiglipModel
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

        config = SiglipConfig(text_config={**text, **vocabulary.special_ids()}, vision_config=vision)
        model_class = SiglipModel
        processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    else:
        raise ValueError(f"family must be clip or siglip, not {family!r}")
    config.vitrine_model_name = f"{MODEL_NAME}" if family == "clip" else "tiny-siglip"
    with seeded():
        model = model_class(config).eval()
    save_model(out_dir, model, processor)
    tokenizer.save_pretrained(out_dir)
