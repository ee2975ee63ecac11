"""The demo's models: trained once on the synthetic shop by the project's own entry points, committed, installed.

``make demo-models`` (:func:`build`) draws the demo catalog (``vitrine prepare``'s: 240 products, seed 7) and
renders its products into new street scenes (street seed 1007: never the demo's own street photos), then runs
``model_code/dino_embed/train.py`` with the recipe below, measures it on the demo's street photos (with the
crops ingestion makes: the detector's boxes); it trains the hotel labeller (``model_code/llava/train.py``) on
synthetic hotels and measures it on the demo's own hotels; it teaches the demo embedder's tower product attributes
(``blip2_attributes/train.py --stage vision``: ``blip2_encoder``, the image encoder BLIP-2 bases read, not served); and
writes each model's folder to ``demo-models/<model>/`` with its
``metrics.json``, ``loss_curve.png``, ``training_summary.json`` and a ``VITRINE_DEMO_MODEL`` file saying how it
was made; ``demo-models/RECIPE.json`` and ``README.md`` hold the commands, seeds and figures.

``vitrine prepare`` (:func:`install`) copies them into ``VITRINE_HOME/models`` in place of the tiny random
ones, when the store they fill is still empty (the catalog for the embedder: vectors of different weights never
share an index; the hotels for the labeller) and no ``VITRINE_<MODEL>_DIR`` names other weights.
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

VIT = ("--image-size", "96", "--patch-size", "16", "--hidden-size", "128", "--layers", "4", "--heads", "4")


@dataclass(frozen=True)
class Recipe:
    model: str
    runs: tuple[tuple[str, ...], ...]
    """The training runs in order; each after the first starts from the one before (``--base-model``)."""
    base: str | None = None
    """The random base (:func:`vitrine_dev.modelkit.base.build_base`) the first run starts from (None: the
    script builds from scratch)."""
    data: str = "search"
    """What it learns from: ``search`` (the demo catalog and street photos), ``hotels`` (labelled galleries) or
    ``attributes`` (product photos with their attribute values)."""
    serves: bool = True
    """Installed by ``vitrine prepare`` and measured by its own evaluation; False for a part other models are
    built from (the BLIP-2 base's image encoder), measured by its run's own validation."""

    @property
    def job(self) -> str:
        """The local store whose contents the model's outputs fill (install only while it is empty)."""
        return "catalog" if self.data == "search" else "hotels"

    @property
    def args(self) -> tuple[str, ...]:
        """The first run's arguments (``make quality`` trains with these)."""
        return self.runs[0]


LLAVA_ALL_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA on every linear layer of the language model: the base is random, not a pretrained LLM, so the q/v-only
adapter of the published recipe has too little to work with."""
TRAIN_HOTELS, TRAIN_HOTEL_SEED = 120, 101
DEMO_HOTELS, DEMO_HOTEL_SEED = 24, 11
"""The demo's hotels (``vitrine prepare``'s); the labeller trains on other hotels (seed 101), never these."""
ENCODER_PRODUCTS, ENCODER_SEED, ENCODER_TEST_PRODUCTS, ENCODER_TEST_SEED = 3000, 303, 80, 404
"""The product photos the BLIP-2 image encoder learns attributes from (and is checked on): seeds of their own,
so neither ``make quality``'s attribute products (101 to train, 23 to test) nor the demo catalog's."""

DETECTOR_MODEL = "grounding_dino"
DETECTOR = "{detector}"
"""Stands for the demo's detector folder (the tiny random one ``vitrine prepare`` serves) in a recipe."""

RECIPES = {
    "dino_embed": Recipe(
        "dino_embed",
        (
            # 1. product ids from scratch, on box crops of the catalog photos and the street items
            (
                *("--stage", "finetune", "--name", "demo-dino-vit-s96", *VIT),
                *("--steps", "800", "--batch-size", "64", "--lr", "1e-3", "--warmup-steps", "50"),
                *("--weight-decay", "0.05", "--eval-every", "200", "--seed", "0", "--whole-catalog", "false"),
            ),
            # 2. also on whole catalog photos: what ingestion embeds when the detector finds nothing
            (
                *("--stage", "finetune", "--name", "demo-dino-vit-s96"),
                *("--steps", "250", "--batch-size", "64", "--lr", "3e-4", "--warmup-steps", "20"),
                *("--weight-decay", "0.05", "--eval-every", "0", "--seed", "1", "--whole-catalog", "true"),
            ),
            # 3, 4. and on the catalog photos as the demo's detector cuts them: what ingestion embeds
            (
                *("--stage", "finetune", "--name", "demo-dino-vit-s96"),
                *("--steps", "350", "--batch-size", "64", "--lr", "3e-4", "--warmup-steps", "20"),
                *("--weight-decay", "0.05", "--eval-every", "0", "--seed", "2", "--whole-catalog", "true"),
                *("--ingest-detector", DETECTOR),
            ),
            (
                *("--stage", "finetune", "--name", "demo-dino-vit-s96"),
                *("--steps", "600", "--batch-size", "64", "--lr", "4e-4", "--warmup-steps", "20"),
                *("--weight-decay", "0.05", "--eval-every", "0", "--seed", "3", "--whole-catalog", "true"),
                *("--ingest-detector", DETECTOR),
            ),
        ),
    ),
    # the hotel labeller: LoRA on the language model, the projector and the output head trained in full (the
    # random base's head has never produced a label word), labels drawn towards balance (rare scenes seen more)
    "llava": Recipe(
        "llava",
        (
            (
                *("--steps", "400", "--batch-size", "8", "--lr", "3e-3", "--warmup-steps", "20"),
                *(
                    "--lora-targets",
                    LLAVA_ALL_LINEAR,
                    "--train-projector",
                    "true",
                    "--train-modules",
                    "lm_head",
                ),
                *("--balance", "0.5", "--eval-every", "0", "--seed", "0"),
            ),
        ),
        base="llava",
        data="hotels",
    ),
    # the image encoder BLIP-2 bases read (vitrine_dev.modelkit.base.ATTRIBUTE_ENCODER): the demo embedder's
    # tower taught product attribute values on random crops of photos no quality set holds
    "blip2_encoder": Recipe(
        "blip2_attributes",
        (
            (
                *("--stage", "vision", "--steps", "6000", "--batch-size", "32", "--lr", "1e-3"),
                *("--min-crop", "0.4", "--warmup-steps", "50", "--weight-decay", "0.05", "--seed", "0"),
            ),
        ),
        base="blip2_embedder",
        data="attributes",
        serves=False,
    ),
}
"""What ``make demo-models`` trains. The detector is not among them: ``grounding_dino/train.py`` runs (``make
quality`` measures it), but a DETR-style detector trained from random weights does not converge in a CPU
budget (box recall at IoU 0.5 stays under 0.05 after 3,000 steps), so the demo keeps the tiny detector and the
embedder learns the crops that detector makes of the catalog (runs 3 and 4)."""


def run_training(
    model: str, data: Path, out: Path, args: list[str], *, validation: Path | None = None
) -> None:
    """``model_code/<model>/train.py`` in its own process, as a SageMaker job runs it."""
    command = [sys.executable, str(REPO_MODEL_CODE / model / "train.py"), "--train", str(data)]
    command += ["--model-dir", str(out)]
    if validation:
        command += ["--validation", str(validation)]
    subprocess.run([*command, *args], check=True)


def commands(model: str) -> list[list[str]]:
    """The recipe's command lines as the record shows them (the folders by name, in angle brackets)."""
    recipe = RECIPES[model]
    lines = []
    for number, run in enumerate(recipe.runs, start=1):
        if number > 1:
            start = ["--base-model", f"<{model}-{number - 1}>"]
        else:
            start = ["--base-model", f"<random {recipe.base} base>"] if recipe.base else []
        shown = [f"<tiny {DETECTOR_MODEL}>" if arg == DETECTOR else arg for arg in run]
        lines.append(
            [
                *("python", f"model_code/{recipe.model}/train.py", "--train", f"<{recipe.data}-train>"),
                *("--validation", f"<{recipe.data}-test>", "--model-dir", f"<{model}-{number}>"),
                *start,
                *shown,
            ]
        )
    return lines


def demo_detector(work: Path) -> Path:
    """The detector ``vitrine prepare`` serves beside the demo embedder: the tiny one (seeded: the same
    weights, hence the same catalog crops, as in every fresh home)."""
    from vitrine_dev.modelkit.tiny import build_tiny

    return build_tiny(Path(work) / "detector", ["grounding_dino"])["grounding_dino"]


def search_sets(work: Path) -> Any:
    from vitrine_dev.training import synthetic

    return synthetic.search_sets(
        work,
        products=DEMO_PRODUCTS,
        train_street=TRAIN_STREET_PHOTOS,
        test_street=TEST_STREET_PHOTOS,
        seed=DEMO_SEED,
        street_seed=TRAIN_STREET_SEED,
    )


def hotel_sets(work: Path, hotels: int = TRAIN_HOTELS, test_hotels: int = DEMO_HOTELS) -> tuple[Path, Path]:
    """Labelled galleries: ``hotels`` training hotels (seed 101) and, as the test set, the first
    ``test_hotels`` of the demo's seed (by default the demo's own hotels; a larger set starts with them)."""
    from vitrine_dev.training import synthetic

    name = "hotels-train" if hotels == TRAIN_HOTELS else f"hotels-train-{hotels}"
    test_name = "hotels-test" if test_hotels == DEMO_HOTELS else f"hotels-test-{test_hotels}"
    train = synthetic.hotel_set(Path(work) / name, hotels=hotels, seed=TRAIN_HOTEL_SEED)
    test = synthetic.hotel_set(Path(work) / test_name, hotels=test_hotels, seed=DEMO_HOTEL_SEED)
    return train, test


def training_sets(recipe: Recipe, work: Path) -> tuple[Path, Path]:
    """The (train, test) folders ``recipe`` learns from and is measured on."""
    if recipe.data == "hotels":
        return hotel_sets(work)
    if recipe.data == "attributes":
        from vitrine_dev.training import synthetic

        return (
            synthetic.attribute_set(
                Path(work) / "attributes-train", products=ENCODER_PRODUCTS, seed=ENCODER_SEED
            ),
            synthetic.attribute_set(
                Path(work) / "attributes-test", products=ENCODER_TEST_PRODUCTS, seed=ENCODER_TEST_SEED
            ),
        )
    sets = search_sets(work)
    return sets.train, sets.test


def build(
    out: Path = DEMO_MODELS, work: Path | None = None, models: tuple[str, ...] = tuple(RECIPES)
) -> dict[str, Any]:
    """Train the demo models into ``out`` (scratch data under ``work``); returns the recipe record."""
    from vitrine_dev.modelkit.base import build_base

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(work or REPO / ".vitrine" / "demo-training")
    work.mkdir(parents=True, exist_ok=True)
    for model in models:
        recipe = RECIPES[model]
        train, test = training_sets(recipe, work)
        previous = build_base(recipe.base, work / "base" / recipe.base) if recipe.base else None
        begun = time.perf_counter()
        detector = demo_detector(work) if any(DETECTOR in run for run in recipe.runs) else None
        for number, run in enumerate(recipe.runs, start=1):
            target = work / "models" / f"{model}-{number}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(Path(f"{target}.checkpoints"), ignore_errors=True)
            args = [str(detector) if arg == DETECTOR else arg for arg in run]
            args += ["--base-model", str(previous)] if previous else []
            run_training(recipe.model, train, target, args, validation=test)
            previous = target
        assert previous is not None
        adopt(model, previous, round(time.perf_counter() - begun, 1), out=out, test=test, work=work)
    return json.loads((out / RECIPE_FILE).read_text())


def adopt(
    model: str,
    trained: Path,
    seconds: float,
    *,
    out: Path = DEMO_MODELS,
    test: Path,
    work: Path,
    note: str = "",
) -> dict[str, Any]:
    """Measure ``trained`` (the recipe's last run) on the demo's own data (street photos, hotels), mark it,
    copy it to ``out/<model>`` and write its entry into the record; the entry."""
    figures = evaluate(model, trained, test, work)
    (trained / MARKER).write_text(
        f"{model}: trained on the synthetic demo shop by `make demo-models`; the commands, seeds and figures "
        f"are in ../{RECIPE_FILE} and ../README.md, the curves in metrics.json and loss_curve.png\n"
    )
    destination = Path(out) / model
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(trained, destination)
    recipe = RECIPES[model]
    entry = {
        "commands": commands(model),
        "base": f"the random {recipe.base} base (vitrine_dev.modelkit.base)"
        if recipe.base
        else "from scratch",
        "train_seconds": seconds,
        **({"note": note} if note else {}),
        "test": figures,
        "bytes": sum(p.stat().st_size for p in destination.rglob("*") if p.is_file()),
    }
    path = Path(out) / RECIPE_FILE
    record = json.loads(path.read_text()) if path.is_file() else {}
    record.update(
        {
            "made_by": "make demo-models (python -m vitrine_dev.training.demo_models)",
            "data": {
                "catalog": f"vitrine demo: {DEMO_PRODUCTS} products, seed {DEMO_SEED} (the catalog vitrine prepare ingests)",
                "train_street": f"{TRAIN_STREET_PHOTOS} street photos of those products, street seed {TRAIN_STREET_SEED}",
                "test_street": f"the demo's own {TEST_STREET_PHOTOS} street photos (seed {DEMO_SEED}), never trained on",
                "train_hotels": f"{TRAIN_HOTELS} synthetic hotels, seed {TRAIN_HOTEL_SEED}",
                "test_hotels": f"the demo's own {DEMO_HOTELS} hotels (seed {DEMO_HOTEL_SEED}, what vitrine prepare loads), never trained on",
                "encoder_photos": f"{ENCODER_PRODUCTS} synthetic product photos with their attribute values, seed {ENCODER_SEED}",
            },
        }
    )
    record.setdefault("models", {})[model] = entry
    path.write_text(json.dumps(record, indent=1) + "\n")
    (Path(out) / "README.md").write_text(readme(record))
    return entry


TESTED_ON = {
    "search": "the demo's own street photos (never trained on)",
    "hotels": "the demo's own hotels' photos (never trained on)",
    "attributes": f"{ENCODER_TEST_PRODUCTS} product photos of seed {ENCODER_TEST_SEED} (never trained on), read by the stage's heads",
}


def readme(record: dict[str, Any]) -> str:
    """``demo-models/README.md``: what these weights are, how to make them again, what they score."""
    lines = [
        "# Demo models (trained on synthetic data)",
        "",
        "What `vitrine prepare` serves instead of tiny random models in a fresh `VITRINE_HOME`: small models",
        "trained by the project's own `model_code/<model>/train.py` on the synthetic shop `vitrine demo` draws.",
        "They know that shop, not real photos; real weights (`VITRINE_<MODEL>_DIR`) replace them.",
        "`blip2_encoder` is not served: it is the image encoder the BLIP-2 bases of `make quality` and",
        "`vitrine train blip2_attributes` read, in place of the pretrained one the published BLIP-2 freezes.",
        "",
        "Rebuild: `make demo-models` (fixed seeds; the same data every time).",
        "",
        "Data: " + "; ".join(record["data"].values()) + ".",
        "",
    ]
    for model, entry in record["models"].items():
        test = {k: v for k, v in entry["test"].items() if isinstance(v, int | float)}
        lines += [f"## {model}", ""]
        lines += [f"- run {n}: `{' '.join(c)}`" for n, c in enumerate(entry["commands"], start=1)]
        lines += [
            f"- start: {entry['base']}; training took {entry['train_seconds']} s; {entry['bytes'] / 2**20:.1f} MiB",
            f"- on {TESTED_ON[RECIPES[model].data] if model in RECIPES else 'its test set'}: `{json.dumps(test)}`",
        ]
        if "as_ingested" in entry["test"]:
            ingested = {k: v for k, v in entry["test"]["as_ingested"].items() if isinstance(v, int | float)}
            lines.append(
                f"- with the catalog cut as ingestion cuts it (the demo detector's boxes): `{json.dumps(ingested)}`"
            )
        if "untrained" in entry["test"]:
            control = {k: v for k, v in entry["test"]["untrained"].items() if isinstance(v, int | float)}
            lines.append(f"- the same model untrained: `{json.dumps(control)}`")
        lines += ["- curves: `metrics.json` and `loss_curve.png` in the folder", ""]
    return "\n".join(lines)


def evaluate(model: str, weights: Path, data: Path, work: Path) -> dict[str, Any]:
    """The model's own evaluation (``model_code/<model>/evaluate.py``) on ``data``, with the untrained
    control (under ``untrained``)."""
    from vitrine_dev.training.runner import evaluate_model

    recipe = RECIPES[model]
    if not recipe.serves:  # no handler serves it: its run's own validation is the measure
        return json.loads((Path(weights) / "training_summary.json").read_text())["validation"]
    if recipe.base:
        from vitrine_dev.modelkit.base import build_base

        figures = evaluate_model(model, weights, data)
        base = build_base(recipe.base, Path(work) / "base" / recipe.base)
        figures["untrained"] = evaluate_model(model, base, data)
        return figures
    figures = evaluate_model(model, weights, data, control=True)
    if model == "dino_embed":
        detector = demo_detector(Path(weights).parent)
        ingested = evaluate_model(model, weights, data, detector=detector, prompt=DETECT_PROMPT)
        figures["as_ingested"] = {k: v for k, v in ingested.items() if k.startswith("search_") or k == "cmc"}
    return figures


def install(s: Settings, filled: dict[str, int]) -> list[str]:
    """Copy the committed demo models into ``home/models`` for a tiny-profile home; the models installed.

    ``filled`` counts what each local store already holds (``catalog``: products, ``hotels``: hotels). A model
    is installed only where it is not configured (``VITRINE_<MODEL>_DIR``), the home holds no weights of its
    own for it (none, or tiny ones) and the store its outputs fill is empty: a catalog indexed with the tiny
    embedder keeps it, since its vectors would not match the demo embedder's, and hotels labelled by the tiny
    labeller keep their labels (``make clean`` or a new ``VITRINE_HOME`` starts afresh).
    """
    if s.profile != "local" or s.models.model_profile != "tiny" or not DEMO_MODELS.is_dir():
        return []
    installed = []
    for model, recipe in RECIPES.items():
        source = DEMO_MODELS / model
        if not recipe.serves or s.models.model_dir(model) or not (source / "config.json").is_file():
            continue
        target = s.home.resolve() / "models" / model
        current = target / "config.json"
        if current.is_file() and (target / MARKER).is_file():
            continue  # installed already
        if current.is_file() and not (target / "VITRINE_TINY_MODEL").is_file():
            continue  # the operator's own weights
        if filled.get(recipe.job, 0) > 0:
            continue
        shutil.rmtree(target, ignore_errors=True)
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
