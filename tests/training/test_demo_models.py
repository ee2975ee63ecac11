"""The demo models: installed by ``vitrine prepare`` in a fresh tiny-profile home, said so by ``/api/health``,
and never swapped under a catalog indexed with other weights or over an operator's own weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vitrine.config import ModelSettings, Settings
from vitrine_dev.training import demo_models


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the committed ``demo-models/`` folder."""
    folder = tmp_path / "demo-models"
    for model in demo_models.RECIPES:
        (folder / model).mkdir(parents=True)
        (folder / model / "config.json").write_text("{}")
        (folder / model / demo_models.MARKER).write_text(f"{model}: trained on synthetic data\n")
    monkeypatch.setattr(demo_models, "DEMO_MODELS", folder)
    return folder


def settings(home: Path, **models: str) -> Settings:
    return Settings(home=home, profile="local", models=ModelSettings(model_profile="tiny", **models))


def tiny(home: Path, model: str) -> Path:
    folder = home / "models" / model
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "VITRINE_TINY_MODEL").write_text("tiny\n")
    return folder


def test_a_fresh_home_gets_the_demo_models_in_place_of_tiny_ones(committed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    tiny(home, "dino_embed")
    served = [model for model, recipe in demo_models.RECIPES.items() if recipe.serves]
    assert demo_models.install(settings(home), {}) == served == ["dino_embed", "llava"]
    for model in served:
        assert (home / "models" / model / demo_models.MARKER).is_file()
    assert not (home / "models" / "blip2_encoder").exists()  # what BLIP-2 bases are built from, not served
    assert not (home / "models" / "dino_embed" / "VITRINE_TINY_MODEL").exists()
    assert demo_models.install(settings(home), {}) == []  # installed already


def test_a_catalog_indexed_with_tiny_vectors_keeps_its_models(committed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    tiny(home, "dino_embed")
    assert demo_models.install(settings(home), {"catalog": 12, "hotels": 3}) == []
    assert (home / "models" / "dino_embed" / "VITRINE_TINY_MODEL").is_file()


def test_each_model_waits_for_its_own_store_to_be_empty(committed: Path, tmp_path: Path) -> None:
    """Hotels labelled by the tiny labeller keep it; an empty catalog still gets the demo embedder."""
    home = tmp_path / "home"
    tiny(home, "dino_embed")
    tiny(home, "llava")
    assert demo_models.install(settings(home), {"catalog": 0, "hotels": 4}) == ["dino_embed"]
    assert (home / "models" / "llava" / "VITRINE_TINY_MODEL").is_file()


def test_configured_or_own_weights_are_never_replaced(committed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    own = home / "models" / "llava"
    own.mkdir(parents=True)
    (own / "config.json").write_text('{"mine": true}')
    installed = demo_models.install(settings(home, dino_embed_dir=str(tmp_path / "real")), {})
    assert installed == []
    assert json.loads((own / "config.json").read_text()) == {"mine": True}


def test_demo_models_teach_the_blip2_encoder_and_record_its_heads_on_unseen_products(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make demo-models --model blip2_encoder`` (a few steps here): BLIP-2's ``--stage vision`` on product
    photos of its own seed, recorded with its heads' figures on products it never saw."""
    recipe = demo_models.RECIPES["blip2_encoder"]
    short = {"6000": "3", "32": "4", "50": "1"}
    quick = dataclasses.replace(recipe, runs=(tuple(short.get(a, a) for a in recipe.runs[0]),))
    monkeypatch.setitem(demo_models.RECIPES, "blip2_encoder", quick)
    monkeypatch.setattr(demo_models, "ENCODER_PRODUCTS", 12)
    out = tmp_path / "out"
    record = demo_models.build(out, tmp_path / "work", ("blip2_encoder",))
    entry = record["models"]["blip2_encoder"]
    assert entry["commands"][0][1] == "model_code/blip2_attributes/train.py"
    assert "--stage" in entry["commands"][0] and "attribute_accuracy" in entry["test"]
    assert (out / "blip2_encoder" / "config.json").is_file()
    assert "## blip2_encoder" in (out / "README.md").read_text()


def test_the_committed_demo_models_say_how_they_were_made() -> None:
    """What ``make demo-models`` committed: the recipe (command, seed, figures) beside weights under 30 MB."""
    folder = demo_models.DEMO_MODELS
    if not (folder / demo_models.RECIPE_FILE).is_file():
        pytest.skip("demo-models/ not built (make demo-models)")
    recipe = json.loads((folder / demo_models.RECIPE_FILE).read_text())
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 30 * 2**20
    for model, entry in recipe["models"].items():
        assert (folder / model / demo_models.MARKER).is_file() and (folder / model / "metrics.json").is_file()
        assert all("--seed" in command for command in entry["commands"]) and entry["test"]
    search = recipe["models"]["dino_embed"]["test"]
    assert search["search_recall_at_5"] >= 0.9 > search["untrained"]["search_recall_at_5"]


def test_health_names_the_demo_models(stack, tmp_path: Path) -> None:
    """``/api/health``'s provenance reads the markers: tiny, demo or real weights, per model."""
    from vitrine.api.routes.operations import model_provenance

    provenance = model_provenance(stack)
    assert set(provenance) >= {"dino_embed", "grounding_dino", "llava"}
    assert set(provenance.values()) <= {"tiny", "demo", "weights", "endpoint"}

    class Endpoint:
        def __init__(self, folder: Path) -> None:
            self.model_dir = str(folder)

    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / demo_models.MARKER).write_text("trained\n")

    class Fake:
        endpoints = {"dino_embed": Endpoint(demo), "ranker": Endpoint(tmp_path), "llava": object()}  # noqa: RUF012

    assert model_provenance(Fake()) == {"dino_embed": "demo", "ranker": "weights", "llava": "endpoint"}
