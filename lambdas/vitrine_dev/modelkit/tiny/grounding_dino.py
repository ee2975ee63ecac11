"""A tiny random GroundingDINO (Swin + BERT, 32-d), built offline for wiring and tests.

A freshly initialised GroundingDINO gives useless scores: its class logits are unscaled dot products, so
either every query saturates near 1 (and labels are noise over every token) or, with the published prior,
nothing clears ``box_threshold`` 0.3 — and its box head starts at zero, so boxes are the encoder's tiny
anchor proposals. Neither exercises detect -> choose -> crop -> embed -> search. So, after seeding:

* the logit gets a constant offset of -3 (a prior probability of 0.05): one feature of the decoder output
  and of the text encoder output is pinned to a constant (+1 and -3), and the remaining features are scaled
  by 0.3, so per-token logits spread around -3. A typical photo then has about ten queries over 0.3, spread
  over the prompt's phrases, which NMS (IoU 0.5) and the cap of 8 reduce to 2-6 boxes (measured on the
  test photos; -2 gave 3-8, mostly "clothes");
* the box head's last layer gets small random weights and a +1.5 width/height bias, so boxes depend on the
  image and cover a fair part of it.

Constraints found by measurement: ``decoder_layers`` >= 2 (1 breaks the tied box heads), images >= 128 px
(GroupNorm fails at 64 px), the tokenizer is ``BertTokenizer(vocab=...)`` (``vocab_file=`` is ignored), and
the special tokens keep BERT's ids (see ``BERT_IDS``).
"""

from __future__ import annotations

from pathlib import Path

from vitrine_dev.modelkit.tiny._shared import bert_tokenizer, save_model, seeded

VOCABULARY = [
    *("clothes", "pants", "hats", "shoes", "shirt", "t-shirt", "dress", "skirt", "jacket", "coat", "bag"),
    *("sneakers", "boots", "hat", "cap", "jeans", "shorts", "sweater", "hoodie", "top", "person"),
]
BERT_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}
"""GroundingDINO hard-codes BERT's ids of [CLS], [SEP], "." and "?" (phrase masks and the loss's label maps),
so the tiny vocabulary keeps them where bert-base-uncased has them and puts its words in between."""
LOGIT_OFFSET = (1.0, -3.0)
LOGIT_SCALE = 0.3
BOX_WEIGHT_STD = 0.3
BOX_SIZE_BIAS = 1.5


def build(out_dir: Path) -> None:
    """Write config, weights, tokenizer and image processor that ``model_fn`` loads."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    tokens = _vocabulary()
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=128,
            patch_size=4,
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(
            vocab_size=len(tokens),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_queries=30,
        max_text_len=64,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
    )
    with seeded():
        model = GroundingDinoForObjectDetection(config).eval()
        _make_it_answer(model)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 128, "longest_edge": 256})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=bert_tokenizer(tokens))
    save_model(out_dir, model, processor)


def _vocabulary() -> list[str]:
    """BERT's special ids in their places, our words after [MASK], unused slots filled with [unusedN]."""
    size = max(BERT_IDS.values()) + 1
    tokens = [f"[unused{i}]" for i in range(size)]
    for token, index in BERT_IDS.items():
        tokens[index] = token
    first_word = BERT_IDS["[MASK]"] + 1
    tokens[first_word : first_word + len(VOCABULARY)] = VOCABULARY
    return tokens


def _make_it_answer(model: object) -> None:
    """Shift and scale the class logits and spread the boxes (see the module docstring for why)."""
    import torch

    decoder_value, text_value = LOGIT_OFFSET
    with torch.no_grad():
        decoder_norm = model.model.decoder.layer_norm
        decoder_norm.weight.mul_(LOGIT_SCALE)
        decoder_norm.weight[0] = 0.0
        decoder_norm.bias.zero_()
        decoder_norm.bias[0] = decoder_value
        text_norm = model.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after
        text_norm.weight[0] = 0.0
        text_norm.bias[0] = text_value
        weight = torch.randn_like(model.bbox_embed[0].layers[-1].weight) * BOX_WEIGHT_STD
        bias = torch.tensor([0.0, 0.0, BOX_SIZE_BIAS, BOX_SIZE_BIAS])
        for head in (model.bbox_embed[0], model.model.decoder.bbox_embed[0]):
            head.layers[-1].weight.copy_(weight)
            head.layers[-1].bias.copy_(bias)
