"""Tiny, randomly initialised models, built offline: they exercise the wiring, they know nothing.

Each model has a module here with ``build(out_dir: Path) -> None`` that writes a folder its
``model_code/<model>/inference.py`` ``model_fn`` loads with ``from_pretrained`` — the same code path as
real weights. Builds are seeded, so the same tiny model (and the same test answers) comes out every time.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

MODELS = ("grounding_dino", "dino_embed", "llava", "ranker", "blip2_attributes")

MARKER = "VITRINE_TINY_MODEL"
"""A file in every tiny model folder: the app shows "tiny model" wherever such weights answer."""


def is_tiny(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds tiny random weights built here."""
    return (Path(model_dir) / MARKER).is_file()


def build_tiny(out: Path, models: Sequence[str] = MODELS, *, overwrite: bool = False) -> dict[str, Path]:
    """Build each model into ``out/<model>/``; a folder with a config is kept unless ``overwrite``."""
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    built: dict[str, Path] = {}
    for model in models:
        folder = Path(out) / model
        if overwrite or not (folder / "config.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            importlib.import_module(f"vitrine.modelkit.tiny.{model}").build(folder)
            (folder / MARKER).write_text(f"{model}: random weights, for wiring and tests only\n")
        built[model] = folder
    return built
