"""``make quality`` shares the cores out in lanes (:func:`vitrine_dev.training.quality.plan_lanes`), and one model
that fails still lets the others report, the run failing by name."""

from __future__ import annotations

import json

import pytest

from vitrine_dev.training import quality


def test_two_lanes_hold_every_model_once_and_keep_shared_data_together():
    lanes = quality.plan_lanes(quality.QUALITY_MODELS, 2)
    assert len(lanes) == 2
    assert sorted(m for lane in lanes for m in lane) == sorted(quality.QUALITY_MODELS)
    assert any({"dino_embed", "grounding_dino"} <= set(lane) for lane in lanes)
    seconds = [sum(quality.LANE_SECONDS[m] for m in lane) for lane in lanes]
    assert max(seconds) < sum(seconds) * 0.65  # balanced, not one lane doing it all


def test_one_lane_keeps_the_order_asked_for():
    assert quality.plan_lanes(("ranker", "llava"), 1) == [("ranker", "llava")]
    assert quality.plan_lanes(("llava",), 2) == [("llava",)]


def test_a_model_that_fails_is_named_and_the_others_still_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(quality, "data_sets", lambda root, models: {m: (root, root) for m in models})

    def measure(root, model, sets, fresh):
        if model == "ranker":
            raise RuntimeError("ranker: train.py exited 1")
        report = {"trained": {"label_accuracy": 0.95}, "untrained": {}}
        quality._report(root, model).parent.mkdir(parents=True, exist_ok=True)
        quality._report(root, model).write_text(json.dumps(report))

    monkeypatch.setattr(quality, "measure", measure)
    (tmp_path / "reports").mkdir()
    quality._report(tmp_path, "ranker").write_text(
        json.dumps({"trained": {"cover_f1": 0.99}})
    )  # an old run's
    assert quality.run(tmp_path, models=("ranker", "llava"), lanes=1) == 1
    out = capsys.readouterr()
    summary = out.out.strip().splitlines()
    assert "failed: ranker" in summary[-2] and "below target: cover_f1" in summary[-2]
    assert summary[-1] == "cover_f1=none label_accuracy=0.9500"
    assert "train.py exited 1" in out.err


@pytest.mark.parametrize("cores, lanes", [(1, 1), (2, 2), (16, 2)])
def test_lanes_follow_the_cores(monkeypatch, cores, lanes):
    monkeypatch.setattr(quality.os, "cpu_count", lambda: cores)
    assert quality.default_lanes() == lanes
