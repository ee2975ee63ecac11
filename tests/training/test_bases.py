"""The random bases training starts from are cached, and rebuilt when their builder has changed."""

from __future__ import annotations

from pathlib import Path

from vitrine_dev.modelkit.base import BASE_MARKER, BASE_VERSIONS, build_base


def test_a_cached_base_is_reused_and_a_stale_one_rebuilt(tmp_path: Path) -> None:
    folder = build_base("llava", tmp_path / "llava")
    weights = folder / "model.safetensors"
    built = weights.stat().st_mtime_ns
    assert build_base("llava", folder) == folder and weights.stat().st_mtime_ns == built  # reused

    (folder / BASE_MARKER).write_text(f"llava {BASE_VERSIONS['llava'] - 1}\n")  # made by an older builder
    (folder / "leftover.txt").write_text("from the old base")
    build_base("llava", folder)
    assert (folder / BASE_MARKER).read_text() == f"llava {BASE_VERSIONS['llava']}\n"
    assert not (folder / "leftover.txt").exists() and (folder / "config.json").is_file()


def test_the_blip2_base_reads_the_demo_image_encoder_exactly(tmp_path: Path) -> None:
    """The BLIP-2 vision tower computes what the committed demo ViT computes, and its queries start at zero."""
    import torch
    from transformers import Blip2ForConditionalGeneration, ViTModel

    from vitrine_dev.modelkit.base import image_encoder_dir

    encoder = image_encoder_dir()
    assert encoder is not None, "demo-models/dino_embed is committed"
    blip2 = Blip2ForConditionalGeneration.from_pretrained(build_base("blip2_attributes", tmp_path / "b"))
    vit = ViTModel.from_pretrained(encoder, add_pooling_layer=False)
    pixels = torch.randn(2, 3, vit.config.image_size, vit.config.image_size)
    with torch.no_grad():
        ours = blip2.vision_model(pixel_values=pixels).last_hidden_state
        theirs = vit(pixel_values=pixels).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.count_nonzero(blip2.query_tokens) == 0


def test_the_blip2_base_says_every_attribute_value_as_written(tmp_path: Path) -> None:
    """What a shopper reads is the decoded answer: "polka-dot", not "polka - dot" (a hyphen between words
    still stands alone)."""
    from transformers import Blip2Processor

    from vitrine_dev.training.synthetic import PATTERN_VALUE, SOLE_VALUE

    tokenizer = Blip2Processor.from_pretrained(build_base("blip2_attributes", tmp_path / "b")).tokenizer
    for value in [*PATTERN_VALUE.values(), *SOLE_VALUE, "wide brim", "not visible"]:
        ids = tokenizer(value, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids, value
        assert tokenizer.decode(ids) == value
    assert (
        tokenizer.decode(tokenizer("plain - striped", add_special_tokens=False)["input_ids"])
        == "plain - striped"
    )
