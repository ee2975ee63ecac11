"""The dual encoder's training entry point on CPU, like open_clip's smoke test: the real ``main()`` on a small
synthetic shop (the demo generator's products, photos and product.json attributes), from the tiny CLIP and from
scratch as SigLIP. The loss falls, the weights change, ``model_fn`` serves what was saved under the name given,
and the evaluation harness prints the figure ``make quality`` reports."""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

MODEL_CODE = Path(__file__).resolve().parents[2] / "model_code"


def model_code(name: str):
    if str(MODEL_CODE) not in sys.path:
        sys.path.insert(0, str(MODEL_CODE))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vitrine_dev.demo import generate

    out = tmp_path_factory.mktemp("shop")
    generate(out, products=8, street_photos=1, seed=3)
    return out


def changed_tensors(before: Path, after: Path) -> int:
    old, new = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return sum(1 for key, value in new.items() if key in old and not value.equal(old[key]))


def test_clip_embed_train_from_the_tiny_clip_lowers_the_loss_then_serves(
    shop: Path, tiny_model: Callable[[str], Path], tmp_path: Path
) -> None:
    train = model_code("clip_embed.train")
    out = tmp_path / "model"
    options = [
        "--steps",
        "30",
        "--batch-size",
        "8",
        "--lr",
        "3e-3",
        "--val-fraction",
        "0",
        "--progress",
        "false",
    ]
    summary = train.main(
        [
            "--train",
            str(shop),
            "--model-dir",
            str(out),
            "--base-model",
            str(tiny_model("clip_embed")),
            *options,
            "--name",
            "smoke-clip",
        ]
    )

    assert summary["steps"] == 30 and summary["loss_fell"] is True
    assert math.isfinite(summary["last_loss"]) and summary["last_loss"] < summary["first_loss"]
    assert summary["products"] == 8 and summary["family"] == "clip"
    assert changed_tensors(tiny_model("clip_embed"), out) > 10
    assert (out / "metrics.json").is_file() and (out / "tokenizer.json").is_file()
    handler = model_code("clip_embed.inference")
    encoder = handler.model_fn(str(out))
    query = handler.input_fn(b'{"texts": ["striped red shirt"]}', "application/json")
    assert handler.predict_fn(query, encoder).model == "smoke-clip"


def test_clip_embed_train_siglip_from_scratch_validates_text_recall(shop: Path, tmp_path: Path) -> None:
    train = model_code("clip_embed.train")
    out = tmp_path / "siglip"
    size = [
        "--image-size",
        "32",
        "--vision-width",
        "32",
        "--text-width",
        "32",
        "--vision-layers",
        "1",
        "--text-layers",
        "1",
        "--max-tokens",
        "16",
    ]
    summary = train.main(
        [
            "--train",
            str(shop),
            "--model-dir",
            str(out),
            "--family",
            "siglip",
            *size,
            "--steps",
            "12",
            "--batch-size",
            "6",
            "--lr",
            "3e-3",
            "--val-fraction",
            "0.25",
            "--progress",
            "false",
        ]
    )

    assert summary["family"] == "siglip" and summary["validation_products"] == 2
    assert set(summary["validation"]) >= {"text_rank_1", "text_recall_at_5"}
    assert math.isfinite(summary["last_loss"])
    encoder = model_code("clip_embed.inference").model_fn(str(out))
    assert encoder.family == "siglip" and encoder.dim == 32
    assert encoder.tokenizer.convert_ids_to_tokens(encoder.tokenizer("striped")["input_ids"])[1] == "striped"


def test_clip_embed_evaluate_prints_text_recall_at_5(
    shop: Path, tiny_model: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    evaluate = model_code("clip_embed.evaluate")
    out = shop.parent / "figures.json"
    figures = evaluate.main(
        ["--model", str(tiny_model("clip_embed")), "--data", str(shop), "--control", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert f"text_recall_at_5={figures['text_recall_at_5']:.4f}" in printed
    assert 0 <= figures["text_recall_at_5"] <= 1 and "text_recall_at_5" in figures["untrained"]
    assert evaluate.text_recall_at_5(tiny_model("clip_embed"), shop) == figures["text_recall_at_5"]
    assert json.loads(out.read_text())["text_recall_at_5"] == figures["text_recall_at_5"]


def test_clip_embed_captions_name_attributes_and_match_every_product_that_has_them() -> None:
    texts = model_code("clip_embed.texts")
    red = texts.product_text(
        "A",
        {
            "name": "Striped red linen shirt",
            "colour": "red",
            "pattern": "stripes",
            "fabric": "linen",
            "category": "shirt",
            "brand": "Kestrel",
        },
    )
    other = texts.product_text("B", {"colour": "red", "pattern": "dots", "category": "shirt"})
    assert texts.query_for(red) == "striped red shirt"
    rng = np.random.default_rng(0)
    captions = [texts.caption(red, rng) for _ in range(200)]
    assert all(c.matches(red) for c in captions)
    assert any(c.matches(other) for c in captions) and not all(c.matches(other) for c in captions)
    assert any(c.text == "striped red linen shirt" for c in captions)  # the name, lower-cased
    assert any("by kestrel" in c.text for c in captions)
