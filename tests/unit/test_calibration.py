"""Calibrating the "no good match" threshold from labelled photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitrine.adapters.local.folder_store import FolderStore
from vitrine.errors import BadInput
from vitrine.search.calibration import fit_threshold, labelled_items, load, save


def test_lowest_threshold_that_keeps_precision() -> None:
    scored = [(0.95, True), (0.9, True), (0.85, True), (0.8, False), (0.7, True), (0.6, False), (0.5, False)]
    result = fit_threshold(scored, min_precision=0.8)
    assert result.threshold == 0.7  # 4 right of 5 at or above 0.7
    assert (result.precision, result.recall, result.samples, result.correct_top1) == (0.8, 1.0, 7, 4)
    assert fit_threshold(scored, min_precision=1.0).threshold == 0.85


def test_ties_are_never_split() -> None:
    # At 0.9 one hit is right and one wrong: a threshold cannot keep one and drop the other.
    assert fit_threshold([(0.9, True), (0.9, False), (0.5, True)], min_precision=0.9).precision == 0.0


def test_weak_model_gets_a_threshold_above_every_score() -> None:
    result = fit_threshold([(0.99, False), (0.98, True), (0.97, False)], min_precision=0.9)
    assert result.threshold > 0.99 and result.precision == 0.0


def test_no_samples_is_an_error() -> None:
    with pytest.raises(BadInput, match="at least one"):
        fit_threshold([])


def test_stored_in_the_bucket_and_read_back(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    assert load(store) is None
    result = fit_threshold([(0.8, True), (0.4, False)])
    save(store, result)
    assert load(store) == result
    store.put("config/search-calibration.json", b"{broken", "application/json")
    assert load(store) is None  # unreadable: the default applies rather than a crash


def test_labelled_items_read_the_demo_truth_format(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"jpeg")
    truth = {"photos": [{"file": "a.jpg", "items": [{"code": "SH-1", "box": [0, 0, 0.5, 0.5]}]}]}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    assert labelled_items(tmp_path / "truth.json") == [(b"jpeg", [0, 0, 0.5, 0.5], "SH-1")]
    with pytest.raises(BadInput, match="cannot read"):
        labelled_items(tmp_path / "missing.json")


def test_calibrate_command_on_the_demo_catalog_sets_the_api_threshold(
    stack, demo_catalog: Path, capsys
) -> None:
    import argparse

    from vitrine.search import calibration
    from vitrine.wiring import build_services
    from vitrine_dev.cli import cmd_calibrate

    assert (
        cmd_calibrate(argparse.Namespace(truth=demo_catalog / "street" / "truth.json", min_precision=0.9))
        == 0
    )
    stored = calibration.load(stack.store)
    assert stored is not None and stored.samples >= 3
    assert "match threshold" in capsys.readouterr().out
    fresh = build_services(stack.settings)  # what a restarted server or a new Lambda reads
    assert fresh.match_threshold == (stored.threshold, f"calibrated on {stored.samples} labelled items")
