"""The VectorIndex contract: every index adapter must pass the same suite.

Add an adapter by adding a harness to :data:`HARNESSES`: ``open()`` returns an index over the same storage
each time it is called (so a second call is a "reopen"), ``flush(index)`` makes writes durable and
searchable (FAISS: save, which also compacts; a search engine: refresh).

Data is embedding-like: category centres, product centroids around them, images around the product,
because recall on uniform noise means nothing (every point is about as far from every other).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.errors import BadInput, ConfigError
from vitrine.kernel.ports import VectorIndex
from vitrine.kernel.types import IndexItem

DIM = 32


@dataclass
class Harness:
    open: Callable[[], VectorIndex]
    flush: Callable[[VectorIndex], None]


def _faiss(tmp_path: Path) -> Harness:
    folder = tmp_path / "index"
    return Harness(open=lambda: FaissIndex(folder), flush=lambda index: index.save())


HARNESSES: dict[str, Callable[[Path], Harness]] = {"faiss": _faiss}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return HARNESSES[request.param](tmp_path)


@dataclass
class Clusters:
    """Clustered vectors: ``centroids[p]`` is product ``P{p}``; ``items`` are its images."""

    centroids: np.ndarray
    items: list[IndexItem]

    def near(self, product: int, rng: np.random.Generator, noise: float = 0.05) -> list[float]:
        """A new photo of ``product``: its centroid plus noise (not one of the indexed vectors)."""
        return (self.centroids[product] + rng.normal(0, noise, DIM)).tolist()


def make_clusters(products: int, images_per_product: int, seed: int = 0, categories: int = 2) -> Clusters:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (categories, DIM))
    centroids = np.stack([centres[p % categories] + rng.normal(0, 0.6, DIM) for p in range(products)])
    items = [
        IndexItem(
            id=f"P{p}-{i}",
            vector=(centroids[p] + rng.normal(0, 0.05, DIM)).tolist(),
            product_code=f"P{p}",
            category=f"c{p % categories}",
        )
        for p in range(products)
        for i in range(images_per_product)
    ]
    return Clusters(centroids, items)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def clusters() -> Clusters:
    return make_clusters(products=60, images_per_product=3)


@pytest.fixture
def filled(harness: Harness, clusters: Clusters) -> Iterator[VectorIndex]:
    index = harness.open()
    index.upsert(clusters.items)
    harness.flush(index)
    yield index


def test_index_same_vector_scores_cosine_one_for_its_own_product(
    filled: VectorIndex, clusters: Clusters
) -> None:
    item = clusters.items[7]
    hits = filled.search(item.vector, k=5)
    assert hits[0].product_code == item.product_code
    assert hits[0].image_id == item.id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_index_new_photo_finds_its_product_first(
    filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    found = [filled.search(clusters.near(p, rng), k=5)[0].product_code for p in range(0, 60, 3)]
    assert found == [f"P{p}" for p in range(0, 60, 3)]


def test_index_hits_are_distinct_products(
    filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    hits = filled.search(clusters.near(4, rng), k=5)
    assert len(hits) == 5
    assert len({hit.product_code for hit in hits}) == 5


def test_index_scale_of_a_vector_does_not_change_its_score(filled: VectorIndex, clusters: Clusters) -> None:
    vector = np.asarray(clusters.items[0].vector)
    assert filled.search((vector * 37.5).tolist(), k=1)[0].score == pytest.approx(1.0, abs=1e-4)


def test_index_category_filter_returns_only_that_category(
    filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    query = clusters.near(0, rng)  # P0 is in c0
    hits = filled.search(query, k=5, category="c1")
    assert len(hits) == 5
    assert {int(hit.product_code[1:]) % 2 for hit in hits} == {1}
    assert filled.search(query, k=5, category="no-such-category") == []


def test_index_set_category_moves_vectors_to_another_filter_and_keeps_them(
    harness: Harness, filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    p0 = [item.id for item in clusters.items if item.product_code == "P0"]
    filled.set_category([*p0, "never-indexed"], "sale")
    harness.flush(filled)
    hits = filled.search(clusters.near(0, rng), k=5, category="sale")
    assert [hit.product_code for hit in hits] == ["P0"]
    assert filled.count() == len(clusters.items)


def test_index_ids_are_the_live_vectors(harness: Harness, filled: VectorIndex, clusters: Clusters) -> None:
    filled.delete(["P5-0"])
    harness.flush(filled)
    assert filled.ids() == {item.id for item in clusters.items} - {"P5-0"}


def test_index_rare_category_is_found_beyond_the_first_fetch(
    harness: Harness, rng: np.random.Generator
) -> None:
    clusters = make_clusters(products=1000, images_per_product=1)
    rare = IndexItem(
        id="rare-1", vector=clusters.near(0, rng, noise=0.8), product_code="RARE", category="rare"
    )
    index = harness.open()
    index.upsert([*clusters.items, rare])
    harness.flush(index)
    hits = index.search(clusters.near(151, rng), k=5, category="rare")  # far away: P151 is in c1
    assert [hit.image_id for hit in hits] == ["rare-1"]


def test_index_upsert_of_existing_id_moves_its_vector(
    harness: Harness, filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    moved = clusters.items[0]  # an image of P0, re-labelled as a photo of P10
    filled.upsert(
        [IndexItem(id=moved.id, vector=clusters.near(10, rng, 0.01), product_code="P10", category="c0")]
    )
    harness.flush(filled)
    assert filled.count() == len(clusters.items)
    near_p0 = filled.search(moved.vector, k=60)
    assert moved.id not in {hit.image_id for hit in near_p0}
    top = filled.search(clusters.near(10, rng, 0.01), k=1)[0]
    assert (top.product_code, top.image_id) == ("P10", moved.id)


def test_index_delete_removes_vectors_and_ignores_unknown_ids(
    harness: Harness, filled: VectorIndex, clusters: Clusters, rng: np.random.Generator
) -> None:
    filled.delete(["P5-0", "P5-1", "P5-2", "never-indexed"])
    harness.flush(filled)
    assert filled.count() == len(clusters.items) - 3
    hits = filled.search(clusters.near(5, rng), k=60)
    assert "P5" not in {hit.product_code for hit in hits}


def test_index_k_larger_than_catalog_returns_every_product(
    harness: Harness, rng: np.random.Generator
) -> None:
    clusters = make_clusters(products=3, images_per_product=4)
    index = harness.open()
    index.upsert(clusters.items)
    harness.flush(index)
    hits = index.search(clusters.near(1, rng), k=10)
    assert sorted(hit.product_code for hit in hits) == ["P0", "P1", "P2"]


def test_index_empty_answers_no_hits(harness: Harness) -> None:
    index = harness.open()
    assert index.count() == 0
    assert index.search([1.0] * DIM, k=5) == []


def test_index_survives_reopen(harness: Harness, filled: VectorIndex, clusters: Clusters) -> None:
    probe = clusters.items[20]
    before = filled.search(probe.vector, k=5)
    reopened = harness.open()
    assert reopened.count() == len(clusters.items)
    assert reopened.search(probe.vector, k=5) == before
    with pytest.raises(BadInput):
        reopened.upsert([IndexItem(id="x", vector=[1.0] * (DIM + 1), product_code="X")])


def test_index_many_deletes_keep_results_right(harness: Harness, rng: np.random.Generator) -> None:
    clusters = make_clusters(products=100, images_per_product=3)
    index = harness.open()
    index.upsert(clusters.items)
    harness.flush(index)
    gone = [item.id for item in clusters.items if int(item.product_code[1:]) % 10 < 7]
    index.delete(gone)
    harness.flush(index)
    kept = [p for p in range(100) if p % 10 >= 7]
    for reader in (index, harness.open()):
        assert reader.count() == len(clusters.items) - len(gone)
        found = [reader.search(clusters.near(p, rng), k=5) for p in kept]
        assert [hits[0].product_code for hits in found] == [f"P{p}" for p in kept]
        assert all(int(hit.product_code[1:]) % 10 >= 7 for hits in found for hit in hits)


@pytest.mark.parametrize(
    "vector",
    [[1.0] * (DIM - 1), [0.0] * DIM, [float("nan")] + [1.0] * (DIM - 1)],
    ids=["wrong-dim", "zero", "nan"],
)
def test_index_refuses_bad_vectors(filled: VectorIndex, clusters: Clusters, vector: list[float]) -> None:
    with pytest.raises(BadInput):
        filled.upsert([IndexItem(id="bad", vector=vector, product_code="BAD")])
    with pytest.raises(BadInput):
        filled.search(vector, k=5)
    assert filled.count() == len(clusters.items)


def test_index_bad_vector_in_a_batch_changes_nothing(harness: Harness, clusters: Clusters) -> None:
    index = harness.open()
    index.upsert(clusters.items[:3])
    batch = [clusters.items[3], IndexItem(id="bad", vector=[0.0] * DIM, product_code="BAD")]
    with pytest.raises(BadInput):
        index.upsert(batch)
    assert index.count() == 3


def test_index_two_threads_upserting_while_searching(harness: Harness, clusters: Clusters) -> None:
    index = harness.open()
    index.upsert(clusters.items[:1])
    halves = [clusters.items[1::2], clusters.items[2::2]]
    errors: list[BaseException] = []

    def write(items: list[IndexItem]) -> None:
        try:
            for start in range(0, len(items), 5):
                index.upsert(items[start : start + 5])
                index.search(items[start].vector, k=3)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    harness.flush(index)
    assert index.count() == len(clusters.items)


# -- FAISS only: what the contract cannot see through the port ------------------------------------------


def test_faiss_dim_is_learned_from_the_first_upsert_and_stored(tmp_path: Path) -> None:
    index = FaissIndex(tmp_path / "index")
    assert index.dim is None
    index.upsert([IndexItem(id="a", vector=[1.0, 2.0, 3.0], product_code="A")])
    index.save()
    assert FaissIndex(tmp_path / "index").dim == 3
    with pytest.raises(ConfigError, match="3-d"):
        FaissIndex(tmp_path / "index", dim=384)


def test_faiss_save_compacts_tombstones_and_leaves_one_index_file(tmp_path: Path, clusters: Clusters) -> None:
    folder = tmp_path / "index"
    index = FaissIndex(folder)
    index.upsert(clusters.items)
    index.save()
    index.delete([item.id for item in clusters.items[:60]])  # a third of the graph
    assert index.tombstones() == 60
    index.save()
    assert index.tombstones() == 0
    assert index.count() == len(clusters.items) - 60
    assert sorted(p.name for p in folder.iterdir()) == ["ids.json", "index-00000002.faiss"]


def test_faiss_few_tombstones_wait_for_a_later_rebuild(tmp_path: Path, clusters: Clusters) -> None:
    index = FaissIndex(tmp_path / "index")
    index.upsert(clusters.items)
    index.delete([clusters.items[0].id])
    index.save()
    assert index.tombstones() == 1
    index.rebuild()
    assert index.tombstones() == 0
    assert index.search(clusters.items[1].vector, k=1)[0].image_id == clusters.items[1].id


def test_faiss_interrupted_save_keeps_the_previous_index(
    tmp_path: Path, clusters: Clusters, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "index"
    index = FaissIndex(folder)
    index.upsert(clusters.items[:30])
    index.save()
    index.upsert(clusters.items[30:])

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("vitrine.adapters.local.faiss_index.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save()
    monkeypatch.undo()
    assert FaissIndex(folder).count() == 30


def test_faiss_module_imports_without_loading_faiss() -> None:
    code = "import sys, vitrine.adapters.local.faiss_index; print('faiss' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
