"""The seeds' metrics (``model_code/common/evaluation.py``) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from common.evaluation import (
    NOT_VISIBLE,
    attribute_scores,
    chance_cmc,
    cmc,
    cover_scores,
    label_scores,
    match_label,
    plot_confusion,
    precision_at,
    precision_curve,
)


def test_cmc_ranks_distinct_products_by_their_best_photo() -> None:
    gallery = np.eye(4, dtype=np.float32)  # photos 0 and 1 are product A, 2 is B, 3 is C
    products = ["A", "A", "B", "C"]
    queries = np.array([[0.0, 0.9, 0.1, 0.0], [0.6, 0.0, 0.0, 0.8], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    scores = cmc(queries, ["A", "A", "Z"], gallery, products, ranks=3)
    # query 1: A by its second photo (0.9); query 2: C (0.8) before A (0.6); query 3's product is not there
    assert scores.ranks == [1, 2, 4]
    assert scores.cmc == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert scores.top[0][0] == (pytest.approx(0.9), True)
    assert chance_cmc(4, ranks=3) == [0.25, 0.5, 0.75]


def test_cover_scores_precision_recall_f1_and_rank_at_n() -> None:
    hotels = [([0.1, 0.9, 0.3], 1), ([0.8, 0.2, 0.5], 2), ([0.1, 0.2, 0.3, 0.4], 0)]
    figures = cover_scores(hotels)
    assert (
        figures["cover_precision"]
        == figures["cover_recall"]
        == figures["cover_f1"]
        == pytest.approx(1 / 3, abs=1e-4)
    )
    assert figures["cover_rank_at_1"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["cover_rank_at_2"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["cover_rank_at_4"] == 1.0


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("this is a photo of Pool.", "Pool"),
        ("this is a photo of terrace / patio .", "Terrace/Patio"),
        ("THIS IS A PHOTO OF LAUNDRY ROOM", "Laundry Room"),  # not Room: the longer label holds it
        ("a room", "Room"),
        ("pool or spa", None),  # two labels: no whole answer
        ("poolside", None),  # a word that contains a label is not the label
        ("", None),
    ],
)
def test_whole_label_matching(answer: str, label: str | None) -> None:
    labels = ["Pool", "Spa", "Room", "Laundry Room", "Terrace/Patio"]
    assert match_label(answer, labels) == label


def test_label_scores_confusion_matrix_with_a_none_column(tmp_path) -> None:
    scores = label_scores([("Pool", "Pool"), ("Pool", "Spa"), ("Spa", None), ("Spa", "Spa")], ["Pool", "Spa"])
    assert scores.accuracy == 0.5 and scores.unmatched == 1
    assert scores.matrix == [[1, 1, 0], [0, 1, 1]]
    assert plot_confusion(tmp_path / "c.png", scores)
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_attribute_accuracy_per_attribute_with_not_visible_apart() -> None:
    rows = [
        ("colour", "red", "Red."),
        ("colour", "navy", "blue"),
        ("pattern", "striped", "striped"),
        ("fabric", NOT_VISIBLE, "not visible"),
        ("fabric", NOT_VISIBLE, "cotton"),
    ]
    figures = attribute_scores(rows)
    assert figures["per_attribute"] == {"colour": 0.5, "pattern": 1.0}
    assert figures["attribute_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["not_visible_accuracy"] == 0.5 and figures["not_visible_answers"] == 2


def test_precision_curve_is_monotone_and_reads_back_per_score() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 400)
    right = rng.uniform(0, 1, 400) < scores  # the higher the score, the likelier right
    curve = precision_curve(zip(scores.tolist(), right.tolist(), strict=True))
    shares = [share for _, share in curve]
    assert shares == sorted(shares) and len(curve) > 3
    assert precision_at(curve, 0.95) > 0.8 > 0.3 > precision_at(curve, 0.05)
    assert precision_at(curve, -5) == curve[0][1] and precision_at([], 0.5) is None
