"""The seeds' own metrics, computed one way for training's validation, ``vitrine evaluate`` and calibration.

* search: CMC rank-1..10 over distinct products (a query's rank is that of its product among the products
  ordered by their best-scoring gallery image, as the search API collapses hits);
* covers: precision / recall / F1 of "this photo is the cover" and rank@1..5 of the true cover in the order
  the ranker gives a hotel's photos;
* labels: accuracy with whole-label matching (an answer counts when it names exactly the true label) and a
  confusion matrix (PNG);
* attributes: accuracy per attribute, ``not visible`` truths counted apart (a model is right to say it).

numpy only (matplotlib for the PNG), so the same functions run inside a SageMaker job and on a laptop.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NOT_VISIBLE = "not visible"
RANKS = 10


# --- search -------------------------------------------------------------------------------------------


@dataclass
class SearchScores:
    """CMC and, per query, the rank of its product and the scores of the top products (for calibration)."""

    cmc: list[float]
    ranks: list[int]
    top: list[list[tuple[float, bool]]] = field(default_factory=list)

    def figures(self, prefix: str = "") -> dict[str, float]:
        named = {f"{prefix}rank_{n}": round(self.cmc[n - 1], 4) for n in (1, 5, 10) if n <= len(self.cmc)}
        return named | {f"{prefix}recall_at_5": round(self.cmc[min(4, len(self.cmc) - 1)], 4)}


def cmc(
    queries: np.ndarray,
    query_products: Sequence[str],
    gallery: np.ndarray,
    gallery_products: Sequence[str],
    ranks: int = RANKS,
    keep_top: int = 5,
) -> SearchScores:
    """CMC over distinct products: ``cmc[n-1]`` is the share of queries whose product is in the top ``n``.

    Vectors are compared by inner product (L2-normalised: the cosine). A query whose product has no gallery
    image counts as a miss at every rank.
    """
    queries = np.asarray(queries, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    products = sorted(set(gallery_products))
    column = {p: i for i, p in enumerate(products)}
    owner = np.array([column[p] for p in gallery_products])
    scores = queries @ gallery.T  # (q, g)
    best = np.full((len(queries), len(products)), -np.inf, dtype=np.float32)
    for index in range(len(products)):
        members = owner == index
        if members.any():
            best[:, index] = scores[:, members].max(axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    found, top = [], []
    for row, product in enumerate(query_products):
        ranked = order[row]
        truth = column.get(product)
        found.append(int(np.nonzero(ranked == truth)[0][0]) + 1 if truth is not None else len(products) + 1)
        top.append([(float(best[row, c]), products[c] == product) for c in ranked[:keep_top]])
    hits = np.array(found)
    curve = [float((hits <= n).mean()) if len(hits) else 0.0 for n in range(1, ranks + 1)]
    return SearchScores(cmc=curve, ranks=found, top=top)


def chance_cmc(products: int, ranks: int = RANKS) -> list[float]:
    """What a model that ranks products at random scores: n / products at rank n."""
    return [min(1.0, n / max(1, products)) for n in range(1, ranks + 1)]


# --- covers -------------------------------------------------------------------------------------------


def cover_scores(hotels: Iterable[tuple[Sequence[float], int]]) -> dict[str, float]:
    """``hotels``: (the ranker's score per photo, the index of the true cover) per hotel.

    The predicted cover is the best-scored photo; precision, recall and F1 are of the "is the cover"
    decision over every photo (one predicted and one true cover per hotel), and rank@n is the share of
    hotels whose true cover is among the ``n`` best-scored photos.
    """
    tp = fp = fn = 0
    ranks = []
    for scores, cover in hotels:
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        predicted = int(order[0])
        tp += predicted == cover
        fp += predicted != cover
        fn += predicted != cover
        ranks.append(int(np.nonzero(order == cover)[0][0]) + 1)
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    hits = np.array(ranks)
    result = {"cover_precision": precision, "cover_recall": recall, "cover_f1": f1}
    result |= {f"cover_rank_at_{n}": float((hits <= n).mean()) if len(hits) else 0.0 for n in range(1, 6)}
    return {k: round(v, 4) for k, v in result.items()}


# --- labels -------------------------------------------------------------------------------------------


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[^\W_]+", text.lower())) + " "


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The one label ``answer`` names as a whole, else None. Words are compared (case and punctuation aside:
    "terrace / patio" names Terrace/Patio), and a label must appear whole: "Pool or Spa" names two and counts
    as none, and a label only inside a longer one ("Room" in "Laundry Room") does not count on its own.
    """
    text = _words(answer)
    found = [label for label in labels if _words(label) in text]
    longest = [
        label
        for label in found
        if not any(label != other and _words(label) in _words(other) for other in found)
    ]
    return longest[0] if len(longest) == 1 else None


@dataclass
class LabelScores:
    accuracy: float
    labels: list[str]
    matrix: list[list[int]]
    unmatched: int

    def figures(self) -> dict[str, float]:
        return {"label_accuracy": round(self.accuracy, 4), "label_unmatched": self.unmatched}


def label_scores(pairs: Iterable[tuple[str, str | None]], labels: Sequence[str]) -> LabelScores:
    """(true label, predicted label or None) pairs → accuracy and the confusion matrix (rows: truth; the last
    column counts answers that named no label)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * (len(labels) + 1) for _ in labels]
    total = correct = unmatched = 0
    for truth, predicted in pairs:
        total += 1
        correct += predicted == truth
        unmatched += predicted is None
        matrix[index[truth]][index[predicted] if predicted in index else len(labels)] += 1
    return LabelScores(correct / max(1, total), list(labels), matrix, unmatched)


def plot_confusion(path: Path, scores: LabelScores, title: str = "labels") -> bool:
    """The confusion matrix as a PNG (rows: true label; columns: predicted, then 'none'); False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    matrix = np.array(scores.matrix, dtype=float)
    size = max(5.0, 0.32 * len(scores.labels) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size), dpi=100)
    axis.imshow(matrix, cmap="Blues")
    names = [*scores.labels, "(none)"]
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axis.set_yticks(range(len(scores.labels)), scores.labels, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            axis.text(col, row, int(value), ha="center", va="center", fontsize=6)
    axis.set_title(f"{title}: accuracy {scores.accuracy:.3f}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


# --- attributes ---------------------------------------------------------------------------------------


def normalise_answer(answer: str | None) -> str:
    """Words only: case, punctuation and spacing aside ("Polka-dot." and "polka - dot" are one answer)."""
    return " ".join(re.findall(r"[^\W_]+", str(answer or "").lower()))


def attribute_scores(rows: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """(attribute, true value, answer) rows → accuracy per attribute and overall, with truths that are
    ``not visible`` reported apart (``not_visible_accuracy``): they test whether a model says so."""
    right: dict[str, int] = Counter()
    seen: dict[str, int] = Counter()
    hidden_right = hidden_seen = 0
    for attribute, truth, answer in rows:
        truth, answer = normalise_answer(truth), normalise_answer(answer)
        if truth == NOT_VISIBLE:
            hidden_seen += 1
            hidden_right += answer == NOT_VISIBLE
            continue
        seen[attribute] += 1
        right[attribute] += answer == truth
    per = {a: round(right[a] / seen[a], 4) for a in sorted(seen)}
    total = sum(seen.values())
    return {
        "attribute_accuracy": round(sum(right.values()) / max(1, total), 4),
        "per_attribute": per,
        "not_visible_accuracy": round(hidden_right / hidden_seen, 4) if hidden_seen else None,
        "answers": total,
        "not_visible_answers": hidden_seen,
    }


# --- calibration --------------------------------------------------------------------------------------


def precision_curve(samples: Iterable[tuple[float, bool]], min_bin: int = 5) -> list[tuple[float, float]]:
    """P(right product | score) as a non-decreasing step function: (lowest score of a step, its precision).

    Pool-adjacent-violators (isotonic regression) over the (score, right) samples, then steps merged until
    each holds ``min_bin`` samples, so a lone lucky score does not read as certainty. The figure a shopper
    sees for a result is the precision of the step its score falls in.
    """
    ordered = sorted(samples, key=lambda s: s[0])
    blocks: list[list[float]] = []  # [total right, count, lowest score]
    for score, ok in ordered:
        blocks.append([float(ok), 1.0, float(score)])
        while len(blocks) > 1 and (
            blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1] or blocks[-2][1] < min_bin
        ):
            right, count, _ = blocks.pop()
            blocks[-1][0] += right
            blocks[-1][1] += count
    if len(blocks) > 1 and blocks[-1][1] < min_bin:
        right, count, _ = blocks.pop()
        blocks[-1][0] += right
        blocks[-1][1] += count
    return [(round(low, 6), round(right / count, 4)) for right, count, low in blocks]


def precision_at(curve: Sequence[Sequence[float]], score: float) -> float | None:
    """The precision of the step ``score`` falls in (below the first step: the first step's)."""
    if not curve:
        return None
    value = curve[0][1]
    for low, precision in curve:
        if score >= low:
            value = precision
    return float(value)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1, default=float) + "\n")
