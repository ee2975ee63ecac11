"""``vitrine train`` and ``vitrine evaluate`` as an operator runs them (subprocesses, a fresh home)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VITRINE = [sys.executable, "-m", "vitrine_dev.cli"]


def run(args: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VITRINE_HOME": str(home), "VITRINE_PROFILE": "local", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*VITRINE, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("command", [["train"], ["evaluate"], ["quality"]])
def test_training_subcommands_have_help(command: list[str], tmp_path: Path) -> None:
    done = run([*command, "--help"], tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: vitrine")


def test_train_passes_what_follows_the_dashes_to_the_entry_point(tmp_path: Path) -> None:
    from vitrine_dev.modelkit.tiny import build_tiny
    from vitrine_dev.training.synthetic import hotel_set

    data = hotel_set(tmp_path / "hotels", hotels=3, seed=2)
    base = build_tiny(tmp_path / "tiny", ["ranker"])["ranker"]
    out = tmp_path / "ranker"
    done = run(
        [
            "train",
            "ranker",
            "--data",
            str(data),
            "--out",
            str(out),
            "--base-model",
            str(base),
            "--",
            "--steps",
            "3",
            "--batch-size",
            "4",
        ],
        tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pair_accuracy=" in done.stdout
    assert json.loads((out / "training_summary.json").read_text())["steps"] == 3

    done = run(["evaluate", "ranker", "--data", str(data), "--weights", str(out)], tmp_path / "home")
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert {"cover_f1", "cover_rank_at_1", "cover_rank_at_5"} <= set(figures) and figures["hotels"] == 3


def test_evaluate_search_prints_cmc_and_the_untrained_control(tmp_path: Path) -> None:
    from vitrine_dev.demo import generate
    from vitrine_dev.modelkit.tiny import build_tiny

    generate(tmp_path / "shop", products=6, street_photos=4, seed=2)
    tiny = build_tiny(tmp_path / "tiny", ["dino_embed"])["dino_embed"]
    done = run(
        ["evaluate", "dino_embed", "--data", str(tmp_path / "shop"), "--weights", str(tiny), "--control"],
        tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert len(figures["cmc"]) == 10 and figures["cmc"] == sorted(figures["cmc"])
    assert figures["products"] == 6 and "search_rank_1" in figures["untrained"]
