"""The synthetic hotels: one scene per label, exactly one cover per hotel carrying the mark of the theme its
text talks about, a decoy carrying another theme's mark, truth written beside, same seed same bytes."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitrine.hotels.labels import load_labels
from vitrine_dev.demo_hotels import COVER_LABELS, SCENES, THEMES, generate, render

LABELS = load_labels()


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            sha.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return sha.hexdigest()


def test_every_label_of_the_set_has_a_scene_and_every_cover_label_may_make_a_cover() -> None:
    assert set(SCENES) == set(LABELS.labels)
    assert all(LABELS.may_cover(label) for label in COVER_LABELS)


def test_scenes_of_different_labels_look_different() -> None:
    """Mean colour alone separates most labels: the scenes are drawn to be told apart."""
    means = {
        label: np.asarray(Image.open(io.BytesIO(render(label, np.random.default_rng(0))))).mean(axis=(0, 1))
        for label in SCENES
    }
    labels = list(means)
    distances = [np.linalg.norm(means[a] - means[b]) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    assert np.median(distances) > 30


def test_hotels_truth_one_cover_with_the_text_theme_and_a_decoy(tmp_path: Path) -> None:
    summary = generate(tmp_path, hotels=10)
    truth = json.loads((tmp_path / "hotels_truth.json").read_text())
    assert summary.hotels == 10 and len(truth["hotels"]) == 10 and truth["labels"] == list(LABELS.labels)
    for hotel in truth["hotels"]:
        folder = tmp_path / "hotels" / hotel["hotel_id"]
        metadata = json.loads((folder / "hotel.json").read_text())
        assert (
            metadata["name"] and metadata["city"] and THEMES[hotel["theme"]].words in metadata["description"]
        )
        assert 6 <= len(hotel["photos"]) <= 12
        covers = [p for p in hotel["photos"] if p["cover"]]
        assert len(covers) == 1 and covers[0]["file"] == hotel["cover"]
        assert covers[0]["mark"] == hotel["theme"] and covers[0]["label"] in COVER_LABELS
        decoys = [p for p in hotel["photos"] if p["mark"] and not p["cover"]]
        assert (
            len(decoys) == 1 and decoys[0]["mark"] != hotel["theme"] and LABELS.may_cover(decoys[0]["label"])
        )
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["hotel.json", *(p["file"] for p in hotel["photos"])]
        )


def test_same_seed_same_bytes_and_a_small_set_is_the_prefix_of_a_large_one(tmp_path: Path) -> None:
    generate(tmp_path / "a", hotels=3, seed=5)
    generate(tmp_path / "b", hotels=3, seed=5)
    generate(tmp_path / "c", hotels=5, seed=5)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    for hotel in ("demo-0001", "demo-0002", "demo-0003"):
        assert digest(tmp_path / "a" / "hotels" / hotel) == digest(tmp_path / "c" / "hotels" / hotel)


def test_a_fixed_gallery_size_and_refusals(tmp_path: Path) -> None:
    generate(tmp_path / "six", hotels=2, images_per_hotel=6)
    assert len(list((tmp_path / "six" / "hotels" / "demo-0001").glob("*.jpg"))) == 6
    with pytest.raises(FileExistsError):
        generate(tmp_path / "six", hotels=1)
    with pytest.raises(ValueError):
        generate(tmp_path / "none", hotels=0)
