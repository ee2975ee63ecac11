"""The real training entry points of the embedder and the detector, run for a few steps on the demo's own
synthetic data, then served.

Like open_clip's CPU smoke test: ``main()`` parses its SageMaker-style arguments, reads the published data
layout, and must *learn*: the loss falls over the steps and the weights change; the output is what
``model_fn`` loads, with the record of the run (``metrics.json``, ``loss_curve.png``) beside it, and a run
stopped at a checkpoint resumes where it stopped.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from safetensors.torch import load_file

from tests.model_code.conftest import MODEL_CODE, train_args, write_images, write_jsonl

PHOTO = (160, 160)
TINY_VIT = ("--image-size", "32", "--patch-size", "8", "--hidden-size", "32", "--layers", "2", "--heads", "2")


def import_model_code(name: str) -> ModuleType:
    """``model_code/<model>/<file>`` as SageMaker's training toolkit would find it (model_code on the path)."""
    if str(MODEL_CODE) not in sys.path:
        sys.path.insert(0, str(MODEL_CODE))
    return importlib.import_module(name)


def changed_tensors(before: Path, after: Path) -> int:
    old, new = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return sum(1 for key, value in new.items() if key in old and not value.equal(old[key]))


@pytest.fixture(scope="module")
def search_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny shop in the demo layout: 6 products with catalog views and boxes, 12 street photos."""
    from vitrine_dev.demo import generate

    out = tmp_path_factory.mktemp("search-set")
    generate(out, products=6, street_photos=12, seed=5)
    return out


def record(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_dino_embed_finetune_main_learns_product_ids_then_model_fn_serves_it(
    search_set: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    out = tmp_path / "model"
    train = import_model_code("dino_embed.train")
    options = ["--steps", "24", "--batch-size", "16", "--lr", "3e-3", "--name", "smoke-dino", *TINY_VIT]
    summary = train.main(
        ["--train", str(search_set), "--model-dir", str(out), "--val-fraction", "0", *options]
    )
    assert summary["steps"] == 24 and summary["loss_fell"], summary
    assert summary["products"] == 6 and summary["street_items"] > 0
    assert set(summary["aux_attributes"]) >= {"colour", "pattern"}
    history = record(out)
    assert len(history["losses"]) == 24 and all(math.isfinite(v) for v in history["losses"])
    assert (out / "loss_curve.png").read_bytes().startswith(b"\x89PNG")
    handler = import_model_code("dino_embed.inference")
    embeddings = handler.predict_fn(handler.input_fn(jpeg_bytes, "image/jpeg"), handler.model_fn(str(out)))
    assert embeddings.model == "smoke-dino" and len(embeddings.vectors[0]) == 32


def test_dino_embed_pretrain_is_self_distillation_and_feeds_finetune(
    search_set: Path, tmp_path: Path
) -> None:
    """Stage pretrain (no labels: student, EMA teacher, multi-crop, centring) writes a backbone the finetune
    stage starts from; the teacher's weights moved away from the random start."""
    pre, fine = tmp_path / "pretrain", tmp_path / "finetune"
    train = import_model_code("dino_embed.train")
    options = ["--steps", "8", "--batch-size", "8", "--lr", "1e-3", "--local-crops", "2", "--out-dim", "64"]
    common = ["--train", str(search_set), "--val-fraction", "0"]
    summary = train.main(
        [*common, "--model-dir", str(pre), "--stage", "pretrain", "--ema", "0.9", *options, *TINY_VIT]
    )
    assert summary["stage"] == "pretrain" and summary["steps"] == 8
    assert all(math.isfinite(v) for v in record(pre)["losses"])
    scratch = tmp_path / "scratch"
    train.main([*common, "--model-dir", str(scratch), "--steps", "0", *TINY_VIT])
    assert changed_tensors(scratch, pre) > 0  # the EMA teacher learned from the student
    summary = train.main(
        [*common, "--model-dir", str(fine), "--base-model", str(pre), "--steps", "4", "--batch-size", "8"]
    )
    assert summary["stage"] == "finetune" and changed_tensors(pre, fine) > 0


def test_dino_embed_validation_is_grouped_by_product_and_reports_cmc(
    search_set: Path, tmp_path: Path
) -> None:
    train = import_model_code("dino_embed.train")
    args = [
        "--train",
        str(search_set),
        "--model-dir",
        str(tmp_path / "m"),
        "--steps",
        "2",
        "--batch-size",
        "8",
    ]
    summary = train.main([*args, "--val-fraction", "0.34", *TINY_VIT])
    assert summary["validation_products"] == 2 and summary["products"] == 4  # no product on both sides
    assert {"rank_1", "rank_5", "recall_at_5"} <= set(summary["validation"])


def test_dino_embed_training_resumes_from_its_checkpoint(search_set: Path, tmp_path: Path) -> None:
    """A run stopped after 4 steps and started again for 8 continues at step 5 with the same batches: its
    losses equal an uninterrupted run's."""
    train = import_model_code("dino_embed.train")
    base = ["--train", str(search_set), "--val-fraction", "0", "--batch-size", "8", "--lr", "1e-3", *TINY_VIT]
    whole = tmp_path / "whole"
    train.main([*base, "--model-dir", str(whole), "--steps", "8", "--checkpoint-every", "0"])
    parts = tmp_path / "parts"
    train.main([*base, "--model-dir", str(parts), "--steps", "4", "--checkpoint-every", "4"])
    summary = train.main([*base, "--model-dir", str(parts), "--steps", "8", "--checkpoint-every", "4"])
    assert summary["resumed_from"] == 4 and summary["steps"] == 8
    assert record(parts)["losses"] == pytest.approx(record(whole)["losses"], rel=1e-4)


def test_dino_embed_train_refuses_data_without_two_products(tmp_path: Path) -> None:
    from vitrine_dev.demo import generate

    generate(tmp_path / "one", products=1, street_photos=1, seed=1)
    train = import_model_code("dino_embed.train")
    with pytest.raises(ValueError, match="two different products"):
        train.main(
            [
                "--train",
                str(tmp_path / "one"),
                "--model-dir",
                str(tmp_path / "m"),
                "--val-fraction",
                "0",
                *TINY_VIT,
            ]
        )


def test_grounding_dino_train_main_learns_boxes_of_the_search_layout_then_model_fn(
    tiny_model: Callable[[str], Path], search_set: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    """Catalog boxes (products_truth.json) and street boxes, mapped to the service's prompt's phrases."""
    out = tmp_path / "model"
    train = import_model_code("grounding_dino.train")
    options = ["--steps", "12", "--batch-size", "4", "--lr", "1e-3", "--val-fraction", "0"]
    options += ["--prompt", "clothes . pants . hats . shoes", "--label-map", "shirt=clothes,hat=hats"]
    summary = train.main(train_args(search_set, out, tiny_model("grounding_dino"), *options))
    assert summary["steps"] == 12 and summary["prompt"] == "clothes . pants . hats . shoes ."
    # random photos each step make a 12-step DETR loss noisy: learning is asserted on a fixed batch below
    assert all(math.isfinite(v) for v in record(out)["losses"])
    assert changed_tensors(tiny_model("grounding_dino"), out) > 0
    handler = import_model_code("grounding_dino.inference")
    prediction = handler.predict_fn(handler.input_fn(jpeg_bytes, "image/jpeg"), handler.model_fn(str(out)))
    assert isinstance(prediction.results[0], list)


def test_grounding_dino_train_reads_annotations_jsonl_and_learns_them(
    tiny_model: Callable[[str], Path], tmp_path: Path
) -> None:
    """Every step on the same four photos (the batch is the whole set): the DETR loss must fall."""
    data = tmp_path / "train"
    images = write_images(data / "photos", 4, PHOTO)
    rows = [
        {"image": image, "boxes": [[0.1, 0.1, 0.5, 0.6], [0.4, 0.5, 0.9, 0.95]], "labels": ["shoes", "Hats"]}
        for image in images
    ]
    write_jsonl(data / "annotations.jsonl", rows)
    train = import_model_code("grounding_dino.train")
    options = ["--steps", "15", "--batch-size", "4", "--lr", "1e-3", "--max-grad-norm", "1.0"]
    options += ["--val-fraction", "0", "--negatives", "0"]
    summary = train.main(train_args(data, tmp_path / "m", tiny_model("grounding_dino"), *options))
    assert summary["steps"] == 15 and summary["prompt"] == "hats . shoes ."
    assert summary["loss_fell"], record(tmp_path / "m")["losses"]
    assert changed_tensors(tiny_model("grounding_dino"), tmp_path / "m") > 0
    with pytest.raises(ValueError, match="not phrases of the prompt"):
        train.main(
            train_args(data, tmp_path / "n", tiny_model("grounding_dino"), "--prompt", "bags", "--steps", "1")
        )
