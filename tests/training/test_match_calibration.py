"""The match figure a shopper sees is calibrated: the share of results at that score that were the right
product on the labelled photos, never the raw cosine."""

from __future__ import annotations

import argparse
from pathlib import Path

from vitrine.search.calibration import Calibration, Measured, fit, load


def test_fit_keeps_the_threshold_and_adds_recall_at_5_and_the_curve() -> None:
    measured = [
        Measured([(0.9, True), (0.5, False)]),
        Measured([(0.8, False), (0.7, True)]),
        Measured([(0.6, False), (0.55, False)]),
        Measured([]),
    ]
    result = fit(measured, min_precision=0.9, model="m")
    assert (result.samples, result.correct_top1, result.recall_at_5, result.model) == (4, 1, 0.5, "m")
    assert result.recall_at_1 == 0.25
    shares = [share for _, share in result.curve]
    assert shares == sorted(shares) and all(0 <= s <= 1 for s in shares)
    assert result.match(0.95) >= result.match(0.5)


def test_an_old_calibration_file_still_loads(tmp_path: Path) -> None:
    import json

    from vitrine.adapters.local.folder_store import FolderStore
    from vitrine.search.calibration import CALIBRATION_KEY

    store = FolderStore(tmp_path, name="bucket")
    old = {
        "threshold": 0.5,
        "precision": 0.9,
        "recall": 0.5,
        "samples": 3,
        "correct_top1": 2,
        "min_precision": 0.9,
        "created_at": 1.0,
    }
    store.put(CALIBRATION_KEY, json.dumps(old).encode(), "application/json")
    loaded = load(store)
    assert isinstance(loaded, Calibration) and loaded.curve == [] and loaded.match(0.7) is None


def test_search_results_carry_the_calibrated_match_after_calibrate(stack, demo_catalog: Path, capsys) -> None:
    from vitrine.wiring import build_services
    from vitrine_dev.cli import cmd_calibrate

    assert (
        cmd_calibrate(argparse.Namespace(truth=demo_catalog / "street" / "truth.json", min_precision=0.9))
        == 0
    )
    line = capsys.readouterr().out
    assert "find their product in the top 5 (recall@5" in line and "match threshold" in line
    fresh = build_services(stack.settings)  # what a restarted server reads
    photo = sorted((demo_catalog / "street").glob("*.jpg"))[0]
    import json

    truth = json.loads((demo_catalog / "street" / "truth.json").read_text())["photos"][0]
    answer = fresh.visual_search.search(photo.read_bytes(), box=truth["items"][0]["box"], k=5)
    assert answer["status"] == "results"
    calibration = load(stack.store)
    for result in answer["results"]:
        assert result["match"] == calibration.match(result["score"])
        assert 0.0 <= result["match"] <= 1.0
