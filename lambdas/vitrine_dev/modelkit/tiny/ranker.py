"""A tiny random cover ranker: CLIP vision tower, BERT text encoder with a real hotel vocabulary, fresh head.

The folder is written by ``model_code/ranker/model.py`` itself (loaded from its file: ``model_code`` ships
to SageMaker on its own and is not a package ``vitrine`` depends on), so the tiny model has exactly the
layout the endpoint and training read. The vocabulary is whole hotel words, so hotel texts tokenize to
distinct ids — a test that trains the tiny ranker on text-dependent covers can actually learn.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from vitrine_dev.modelkit.tiny._shared import TINY_LAYERS, bert_tokenizer, seeded

IMAGE_SIZE = 32
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HOTEL_WORDS = (
    "hotel resort inn hostel motel lodge villa apartment suite room rooms bedroom bed beds bathroom shower "
    "pool swimming spa gym fitness sauna beach sea ocean lake mountain mountains view views city centre "
    "center downtown old town garden terrace balcony rooftop bar restaurant breakfast lobby reception "
    "exterior facade family families business luxury boutique budget modern historic cosy cozy quiet "
    "friendly stylish elegant spacious bright sunny beautiful stunning great best near close walk walking "
    "minutes station airport parking free wifi pets kids children outdoor indoor heated infinity private "
    "kitchen dining meeting conference wedding night nights stay guests a an the and or of in on at with "
    "to for from by our your this is are has have its stunning sunset sunrise palm tree trees white blue "
    "green red stone wood wooden marble glass star stars 1 2 3 4 5 , . ! - '"
)


def _model_module() -> ModuleType:
    """``model_code/ranker/model.py`` under a private name, without putting ``model_code`` on sys.path."""
    from vitrine_dev.modelkit import model_code_dir

    spec = importlib.util.spec_from_file_location(
        "vitrine_tiny_ranker_model", model_code_dir() / "ranker" / "model.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def build(out_dir: Path) -> None:
    """Write a tiny ranker folder (``image_encoder/``, ``text_encoder/``, head, config) to ``out_dir``."""
    from transformers import BertConfig, BertModel, CLIPVisionConfig, CLIPVisionModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model = _model_module()
    tokenizer = bert_tokenizer(SPECIAL_TOKENS + list(dict.fromkeys(HOTEL_WORDS.split())))
    with seeded():
        image_encoder = CLIPVisionModel(CLIPVisionConfig(**TINY_LAYERS, image_size=IMAGE_SIZE, patch_size=8))
        text_encoder = BertModel(
            BertConfig(**TINY_LAYERS, vocab_size=len(tokenizer), max_position_embeddings=128),
            add_pooling_layer=False,
        )
        ranker = model.CoverRanker(
            image_encoder,
            text_encoder,
            CLIPImageProcessorPil(
                size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
            ),
            tokenizer,
            model.RankerConfig(image_dim=32, text_dim=32, hidden_dim=32, max_text_tokens=64),
        )
    ranker.eval().save_pretrained(out_dir)
