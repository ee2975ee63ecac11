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


def test_a_cached_base_is_rebuilt_when_the_weights_it_reads_change(tmp_path: Path, monkeypatch) -> None:
    """``make demo-models`` retraining the encoder a BLIP-2 base reads makes the next run build it again."""
    from vitrine_dev.modelkit import base

    folder = build_base("blip2_embedder", tmp_path / "b")
    weights = folder / "model.safetensors"
    built = weights.stat().st_mtime_ns
    assert build_base("blip2_embedder", folder) == folder and weights.stat().st_mtime_ns == built

    retrained = tmp_path / "retrained"
    retrained.mkdir()
    (retrained / "model.safetensors").write_bytes(b"other weights")
    monkeypatch.setitem(base.BASE_INPUTS, "blip2_embedder", lambda: retrained)
    build_base("blip2_embedder", folder)
    assert weights.stat().st_mtime_ns != built


def test_the_encoder_base_reads_the_demo_embedder_exactly(tmp_path: Path) -> None:
    """The base ``--stage vision`` starts from: its vision tower computes what the committed demo ViT computes,
    and its queries start at zero."""
    import torch
    from transformers import Blip2ForConditionalGeneration, ViTModel

    from vitrine_dev.modelkit.base import image_encoder_dir

    encoder = image_encoder_dir()
    assert encoder is not None, "demo-models/dino_embed is committed"
    blip2 = Blip2ForConditionalGeneration.from_pretrained(build_base("blip2_embedder", tmp_path / "b"))
    vit = ViTModel.from_pretrained(encoder, add_pooling_layer=False)
    pixels = torch.randn(2, 3, vit.config.image_size, vit.config.image_size)
    with torch.no_grad():
        ours = blip2.vision_model(pixel_values=pixels).last_hidden_state
        theirs = vit(pixel_values=pixels).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.count_nonzero(blip2.query_tokens) == 0


def test_the_blip2_base_reads_the_taught_encoder_and_starts_the_rest_afresh(tmp_path: Path) -> None:
    """``make quality``'s BLIP-2 base: the committed attribute-taught tower with its image processing, and the
    same random Q-Former and language model as the encoder's own base (nothing else carried over)."""
    import torch
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    from vitrine_dev.modelkit.base import attribute_encoder_dir

    taught = attribute_encoder_dir()
    assert taught is not None, "demo-models/blip2_encoder is committed"
    base = build_base("blip2_attributes", tmp_path / "base")
    ours = Blip2ForConditionalGeneration.from_pretrained(base).state_dict()
    encoder = Blip2ForConditionalGeneration.from_pretrained(taught).state_dict()
    untaught = Blip2ForConditionalGeneration.from_pretrained(build_base("blip2_embedder", tmp_path / "e"))
    fresh = untaught.state_dict()
    tower = [k for k in ours if k.startswith("vision_model.")]
    assert tower and all(torch.equal(ours[k], encoder[k]) for k in tower)
    assert not all(torch.equal(ours[k], fresh[k]) for k in tower)  # the lesson is in the tower
    assert all(torch.equal(ours[k], fresh[k]) for k in ours if not k.startswith("vision_model."))
    sizes = Blip2Processor.from_pretrained(base).image_processor.size
    assert sizes == Blip2Processor.from_pretrained(taught).image_processor.size


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
