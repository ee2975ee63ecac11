"""A tiny random DINO ViT (v1 layout, 32-d, 64 px, patch 16), built offline for wiring and tests.

Its embeddings are deterministic functions of the pixels, so the same crop always finds itself in the
index — enough to exercise crop -> embed -> search; similar-looking products are not near each other.
"""

from __future__ import annotations

from pathlib import Path

from vitrine_dev.modelkit.tiny._shared import save_model, seeded

MODEL_NAME = "tiny-dino-vit"


def build(out_dir: Path) -> None:
    """Write config (no pooling layer: DINO checkpoints have none), weights and image processor."""
    from transformers import ViTConfig, ViTModel
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=64,
        patch_size=16,
    )
    config.vitrine_model_name = MODEL_NAME
    with seeded():
        model = ViTModel(config, add_pooling_layer=False).eval()
    processor = ViTImageProcessorPil(
        size={"height": 64, "width": 64}, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    )
    save_model(out_dir, model, processor)
