"""The real training entry points, run for two steps on synthetic images with tiny models, then served.

Like open_clip's CPU smoke test: it proves ``main()`` parses its SageMaker-style arguments, reads its
manifest, computes a finite loss, steps the optimiser and saves weights that ``model_fn`` loads.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from safetensors.torch import load_file

from tests.model_code.conftest import MODEL_CODE, train_args, write_images, write_jsonl

PHOTO = (160, 160)


def import_model_code(name: str) -> ModuleType:
    """``model_code/<model>/<file>`` as SageMaker's training toolkit would find it (model_code on the path)."""
    if str(MODEL_CODE) not in sys.path:
        sys.path.insert(0, str(MODEL_CODE))
    return importlib.import_module(name)


def changed_tensors(before: Path, after: Path) -> int:
    old, new = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return sum(1 for key, value in new.items() if key in old and not value.equal(old[key]))


def test_grounding_dino_train_main_two_steps_then_model_fn(
    tiny_model: Callable[[str], Path], tmp_path: Path, jpeg_bytes: bytes
) -> None:
    data = tmp_path / "train"
    images = write_images(data / "photos", 4, PHOTO)
    rows = [
        {"image": image, "boxes": [[0.1, 0.1, 0.5, 0.6], [0.4, 0.5, 0.9, 0.95]], "labels": ["shoes", "Hats"]}
        for image in images
    ]
    write_jsonl(data / "annotations.jsonl", rows)
    out = tmp_path / "model"
    train = import_model_code("grounding_dino.train")
    summary = train.main(
        train_args(
            data, out, tiny_model("grounding_dino"), "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3"
        )
    )
    assert summary["steps"] == 2 and summary["prompt"] == "hats . shoes ."
    assert math.isfinite(summary["first_loss"]) and math.isfinite(summary["last_loss"])
    assert changed_tensors(tiny_model("grounding_dino"), out) > 0
    handler = import_model_code("grounding_dino.inference")
    prediction = handler.predict_fn(handler.input_fn(jpeg_bytes, "image/jpeg"), handler.model_fn(str(out)))
    assert isinstance(prediction.results[0], list)


def test_dino_embed_train_main_two_steps_then_model_fn(
    tiny_model: Callable[[str], Path], tmp_path: Path, jpeg_bytes: bytes
) -> None:
    data = tmp_path / "train"
    street, catalog = write_images(data / "street", 4, PHOTO), write_images(data / "catalog", 4, PHOTO)
    pairs = [
        {"product": f"P{i}", "street": s, "catalog": c, "street_box": [0.0, 0.1, 0.9, 1.0] if i % 2 else None}
        for i, (s, c) in enumerate(zip(street, catalog, strict=True))
    ]
    write_jsonl(data / "pairs.jsonl", pairs)
    out = tmp_path / "model"
    train = import_model_code("dino_embed.train")
    options = ["--max-steps", "2", "--batch-size", "4", "--lr", "1e-3", "--name", "smoke-dino"]
    summary = train.main(train_args(data, out, tiny_model("dino_embed"), *options))
    assert summary["steps"] == 2 and math.isfinite(summary["last_loss"])
    assert changed_tensors(tiny_model("dino_embed"), out) > 0
    handler = import_model_code("dino_embed.inference")
    embeddings = handler.predict_fn(handler.input_fn(jpeg_bytes, "image/jpeg"), handler.model_fn(str(out)))
    assert embeddings.model == "smoke-dino" and len(embeddings.vectors[0]) == 32


def test_dino_embed_train_refuses_data_without_two_products(
    tiny_model: Callable[[str], Path], tmp_path: Path
) -> None:
    data = tmp_path / "train"
    street, catalog = write_images(data / "street", 2, PHOTO), write_images(data / "catalog", 2, PHOTO)
    pairs = [{"product": "P0", "street": s, "catalog": c} for s, c in zip(street, catalog, strict=True)]
    write_jsonl(data / "pairs.jsonl", pairs)
    train = import_model_code("dino_embed.train")
    with pytest.raises(ValueError, match="two different products"):
        train.main(train_args(data, tmp_path / "m", tiny_model("dino_embed")))
