"""Tiny, randomly initialised models, built offline: they exercise the wiring, they know nothing.

Each model has a module here with ``build(out_dir: Path) -> None`` that writes a folder its
``model_code/<model>/inference.py`` ``model_fn`` loads with ``from_pretrained`` — the same code path as
real weights. Builds are seeded, so the same tiny model (and the same test answers) comes out every time.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from vitrine.adapters.local.inprocess_endpoint import TINY_MARKER as MARKER
from vitrine.adapters.local.inprocess_endpoint import is_tiny
from vitrine.config import Settings

MODELS = ("grounding_dino", "dino_embed", "llava", "ranker", "blip2_attributes", "clip_embed")


__all__ = ["MARKER", "MODELS", "build_tiny", "ensure_tiny", "is_tiny"]


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
            importlib.import_module(f"vitrine_dev.modelkit.tiny.{model}").build(folder)
            (folder / MARKER).write_text(f"{model}: random weights, for wiring and tests only\n")
        built[model] = folder
    return built


def ensure_tiny(s: Settings) -> None:
    """Build the tiny models the local profile will load and does not have yet (milliseconds each, offline)."""
    if s.profile == "local" and s.models.model_profile == "tiny":
        build_tiny(s.home.resolve() / "models", [m for m in MODELS if not s.models.model_dir(m)])
