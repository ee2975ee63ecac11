"""The synthetic sets leak no label: a model that cannot see what it is asked about scores near chance.

If a file name, an image's size, the order of the truth or a slip in the evaluation told the answer, a
label-blind model would score above chance and a trained model's figures would mean nothing. Each blind
model here reads only what a leak would expose (the bytes' hash, the photo's position in its gallery, the
commonest label) through the same readers and metrics ``make quality`` uses.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from common.datasets import read_attribute_questions, read_hotels, read_labelled_photos
from common.evaluation import attribute_scores, chance_cmc, cmc, cover_scores, label_scores
from common.search_data import read_search_set


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from vitrine_dev.demo import generate
    from vitrine_dev.training import synthetic

    root = tmp_path_factory.mktemp("leaks")
    generate(root / "search", products=40, street_photos=60, seed=3)
    return {
        "search": root / "search",
        "hotels": synthetic.hotel_set(root / "hotels", hotels=30, seed=5),
        "attributes": synthetic.attribute_set(root / "attributes", products=40, seed=5, side=64),
    }


def blind_vector(path: Path, box: object) -> np.ndarray:
    """A unit vector from the file's bytes and the box: all a leak through the data would give."""
    seed = int.from_bytes(hashlib.sha256(path.read_bytes() + repr(box).encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=16)
    return vector / np.linalg.norm(vector)


def test_search_blind_embedder_scores_chance(sets: dict[str, Path]) -> None:
    images = read_search_set(sets["search"])
    gallery = [i for i in images if not i.street]
    queries = [i for i in images if i.street]
    assert len(queries) >= 100 and not any(
        q.product in q.path.name for q in queries
    )  # no code in a street name
    scores = cmc(
        np.stack([blind_vector(q.path, q.box) for q in queries]),
        [q.product for q in queries],
        np.stack([blind_vector(g.path, g.box) for g in gallery]),
        [g.product for g in gallery],
    )
    chance = chance_cmc(40)
    spread = 3 * np.sqrt(chance[4] * (1 - chance[4]) / len(queries))
    assert abs(scores.cmc[4] - chance[4]) < spread, (scores.cmc, chance)
    assert scores.cmc[0] < 0.1


def test_covers_blind_ranker_scores_chance(sets: dict[str, Path]) -> None:
    """A ranker that prefers earlier (or later) photos: the cover's slot in its gallery tells nothing."""
    hotels, _ = read_hotels(sets["hotels"])
    photos = sum(len(h.images) for h in hotels)
    chance = len(hotels) / photos
    for order in (1.0, -1.0):
        figures = cover_scores([([order * -i for i in range(len(h.images))], h.cover) for h in hotels])
        assert figures["cover_rank_at_1"] < chance + 0.2
        assert figures["cover_f1"] < 0.5


def test_labels_blind_classifier_scores_the_commonest_share(sets: dict[str, Path]) -> None:
    photos = read_labelled_photos(sets["hotels"])
    labels = sorted({p.label for p in photos})
    commonest, count = Counter(p.label for p in photos).most_common(1)[0]
    scores = label_scores([(p.label, commonest) for p in photos], labels)
    assert scores.accuracy == pytest.approx(count / len(photos))
    assert scores.accuracy < 0.3  # far under the 0.9 target: the label set is not dominated by one label


def test_attributes_blind_reader_scores_far_under_target(sets: dict[str, Path]) -> None:
    questions = read_attribute_questions(sets["attributes"])
    commonest = {
        attribute: Counter(q.answer for q in questions if q.attribute == attribute).most_common(1)[0][0]
        for attribute in {q.attribute for q in questions}
    }
    figures = attribute_scores((q.attribute, q.answer, commonest[q.attribute]) for q in questions)
    # colour has 15 values and pattern 4: a reader that does not look cannot be near the 0.9 target
    assert figures["per_attribute"]["colour"] < 0.25 and figures["attribute_accuracy"] < 0.6
