"""The demo's models: trained once on the synthetic shop by the project's own entry points, committed, installed.

``make demo-models`` (:func:`build`) draws the demo catalog (``vitrine prepare``'s: 240 products, seed 7) and
renders its products into new street scenes (street seed 1007: never the demo's own street photos), then runs
``model_code/dino_embed/train.py`` and ``model_code/grounding_dino/train.py`` with the recipes below, measures
them on the demo's street photos and writes each model's folder to ``demo-models/<model>/`` with its
``metrics.json``, ``loss_curve.png``, ``training_summary.json`` and a ``VITRINE_DEMO_MODEL`` file saying how it
was made; ``demo-models/RECIPE.json`` holds the commands, seeds and figures (the README there says the same).

``vitrine prepare`` (:func:`install`) copies them into ``VITRINE_HOME/models`` in place of the tiny random
ones, when the home's catalog is still empty (vectors of different weights never share an index) and no
``VITRINE_<MODEL>_DIR`` names other weights.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitrine.config import REPO_MODEL_CODE, Settings

REPO = REPO_MODEL_CODE.parent
DEMO_MODELS = REPO / "demo-models"
MARKER = "VITRINE_DEMO_MODEL"
RECIPE_FILE = "RECIPE.json"
DEMO_PRODUCTS = 240
DEMO_SEED = 7
TRAIN_STREET_SEED = 1007
TRAIN_STREET_PHOTOS = 1000
TEST_STREET_PHOTOS = 40
DETECT_PROMPT = "clothes . pants . hats . shoes"
"""The service's default detection prompt (``VITRINE_SEARCH_DETECT_PROMPT``): the detector learns its phrases."""
LABEL_MAP = "shirt=clothes,hat=hats"
"""Demo categories → phrases of :data:`DETECT_PROMPT` (pants and shoes are their own phrase)."""


@dataclass(frozen=True)
class Recipe:
    model: str
    args: tuple[str, ...]
    base: str | None = None
    """A tiny builder whose random weights the run starts from (None: the script builds from scratch)."""


RECIPES = {
    "dino_embed": Recipe(
        "dino_embed",
        (
            *("--stage", "finetune", "--name", "demo-dino-vit-s96"),
            *(
                "--image-size",
                "96",
                "--patch-size",
                "16",
                "--hidden-size",
                "128",
                "--layers",
                "4",
                "--heads",
                "4",
            ),
            *("--steps", "800", "--batch-size", "64", "--lr", "1e-3", "--warmup-steps", "50"),
            *("--weight-decay", "0.05", "--eval-every", "200", "--seed", "0"),
        ),
    ),
    "grounding_dino": Recipe(
        "grounding_dino",
        (
            *("--prompt", DETECT_PROMPT, "--label-map", LABEL_MAP),
            *("--steps", "600", "--batch-size", "4", "--lr", "2e-4", "--warmup-steps", "30"),
            *("--eval-every", "200", "--seed", "0"),
        ),
        base="grounding_dino",
    ),
}


def run_training(
    model: str, data: Path, out: Path, args: list[str], *, validation: Path | None = None
) -> None:
    """``model_code/<model>/train.py`` in its own process, as a SageMaker job runs it."""
    command = [
        sys.executable,
        str(REPO_MODEL_CODE / model / "train.py"),
        "--train",
        str(data),
        "--model-dir",
        str(out),
    ]
    if validation:
        command += ["--validation", str(validation)]
    subprocess.run([*command, *args], check=True)


def build(
    out: Path = DEMO_MODELS, work: Path | None = None, models: tuple[str, ...] = tuple(RECIPES)
) -> dict[str, Any]:
    """Train the demo models into ``out`` (scratch data under ``work``); returns the recipe record."""
    from vitrine_dev.training import synthetic

    out = Path(out)
    work = Path(work or REPO / ".vitrine" / "demo-training")
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sets = synthetic.search_sets(
        work,
        products=DEMO_PRODUCTS,
        train_street=TRAIN_STREET_PHOTOS,
        test_street=TEST_STREET_PHOTOS,
        seed=DEMO_SEED,
        street_seed=TRAIN_STREET_SEED,
    )
    record: dict[str, Any] = {
        "made_by": "make demo-models (python -m vitrine_dev.training.demo_models)",
        "data": {
            "catalog": f"vitrine demo: {DEMO_PRODUCTS} products, seed {DEMO_SEED} (the catalog vitrine prepare ingests)",
            "train_street": f"{TRAIN_STREET_PHOTOS} street photos of those products, street seed {TRAIN_STREET_SEED}",
            "test_street": f"the demo's own {TEST_STREET_PHOTOS} street photos (seed {DEMO_SEED}), never trained on",
        },
        "models": {},
    }
    previous = out / RECIPE_FILE
    if previous.is_file():
        record["models"] = json.loads(previous.read_text()).get("models", {})
    for model in models:
        recipe = RECIPES[model]
        target = work / "models" / model
        if target.exists():
            shutil.rmtree(target)
        shutil.rmtree(Path(f"{target}.checkpoints"), ignore_errors=True)
        args = list(recipe.args)
        if recipe.base:
            from vitrine_dev.modelkit.tiny import build_tiny

            base = build_tiny(work / "base", [recipe.base])[recipe.base]
            args += ["--base-model", str(base)]
        begun = time.perf_counter()
        run_training(model, sets.train, target, args, validation=sets.test)
        seconds = round(time.perf_counter() - begun, 1)
        figures = evaluate(model, target, sets.test)
        command = [
            "python",
            f"model_code/{model}/train.py",
            "--train",
            "<search-train>",
            "--model-dir",
            "<out>",
            "--validation",
            "<search-test>",
            *recipe.args,
        ]
        (target / MARKER).write_text(
            f"{model}: trained on the synthetic demo shop by `make demo-models` "
            f"({' '.join(command)}); figures in metrics.json and ../{RECIPE_FILE}\n"
        )
        destination = out / model
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(target, destination)
        record["models"][model] = {
            "command": command,
            "base": f"tiny random {recipe.base} (vitrine models tiny)" if recipe.base else "from scratch",
            "train_seconds": seconds,
            "test": figures,
            "bytes": sum(p.stat().st_size for p in destination.rglob("*") if p.is_file()),
        }
    record["seconds"] = round(time.perf_counter() - started, 1)
    (out / RECIPE_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


def evaluate(model: str, weights: Path, data: Path) -> dict[str, Any]:
    """The model's own evaluation (``model_code/<model>/evaluate.py``) on ``data``."""
    from vitrine_dev.training.runner import evaluate_model

    return evaluate_model(model, weights, data, control=True)


def install(s: Settings, catalog_products: int) -> list[str]:
    """Copy the committed demo models into ``home/models`` for a tiny-profile home; the models installed.

    Only where the model is not configured (``VITRINE_<MODEL>_DIR``), the home holds no weights of its own
    (none, or tiny ones) and its catalog is empty: a catalog indexed with the tiny embedder keeps it, since
    its vectors would not match the demo embedder's (``make clean`` or a new ``VITRINE_HOME`` starts afresh).
    """
    if s.profile != "local" or s.models.model_profile != "tiny" or not DEMO_MODELS.is_dir():
        return []
    installed = []
    for model in RECIPES:
        source = DEMO_MODELS / model
        if s.models.model_dir(model) or not (source / "config.json").is_file():
            continue
        target = s.home.resolve() / "models" / model
        current = target / "config.json"
        if current.is_file() and (target / MARKER).is_file():
            continue  # installed already
        if current.is_file() and not (target / "VITRINE_TINY_MODEL").is_file():
            continue  # the operator's own weights
        if catalog_products > 0:
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
        installed.append(model)
    return installed


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Train the demo models on the synthetic shop (make demo-models)."
    )
    parser.add_argument(
        "--out", type=Path, default=DEMO_MODELS, help="where the models go (default demo-models/)"
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default .vitrine/demo-training)"
    )
    parser.add_argument("--model", action="append", choices=list(RECIPES), help="one model (default: all)")
    args = parser.parse_args(argv)
    record = build(args.out, args.work, tuple(args.model or RECIPES))
    for model, entry in record["models"].items():
        test = {k: v for k, v in entry["test"].items() if isinstance(v, int | float)}
        print(f"{model}: {json.dumps(test)} ({entry['train_seconds']} s, {entry['bytes'] / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
