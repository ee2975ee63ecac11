"""The local vector index: FAISS HNSW over L2-normalised vectors, so inner product = cosine.

HNSW in FAISS cannot remove a vector, and labels are positions (0, 1, 2...) rather than our ids. So the
adapter keeps its own map: label -> (image id, product, category) for live vectors only. A vector whose
label is not in the map is a tombstone (deleted, or replaced by a newer upsert of the same id); searches
skip it, and :meth:`FaissIndex.rebuild` re-adds only the live vectors once tombstones pile up.

On disk (``path``): ``ids.json`` (the map, the dimension and the name of the index file) and
``index-<generation>.faiss``. A save writes a new index file, then swaps ``ids.json`` in with one atomic
rename, then deletes the old index file: a crash at any point leaves a consistent pair to reopen.

faiss is imported inside functions: the ``vitrine`` package must import without it (the Lambda bundle).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vitrine.errors import BadInput, ConfigError
from vitrine.kernel.types import IMAGE_FIELD, Filters, IndexItem, SearchHit, collapse_to_products

_MAP_FILE = "ids.json"
_FORMAT = 1
OVERFETCH = 4
"""Images fetched per product wanted: products have several images each (OpenSearch uses the same)."""

# The graph's parameters, chosen by bench/index_scale.py (README, Performance): at 300,000 clustered 384-d
# vectors M 32 / efSearch 256 keeps recall@5 of distinct products at 0.999 (0.995 at 128, 0.963 at 64) where
# the former M 16 / efSearch 128 fell to 0.939 at 200,000; recall falls as the catalog grows, so the margin is
# for the million the product promises. The OpenSearch mapping uses the same numbers (opensearch_index.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256


def hnsw_index(dim: int, m: int, ef_construction: int, ef_search: int) -> Any:
    """An empty ``IndexHNSWFlat`` over inner product with these parameters (the benchmark builds the same)."""
    import faiss

    index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    return index


@dataclass(frozen=True)
class _Entry:
    """What a live label stands for."""

    id: str
    product_code: str
    category: str
    price: float | None = None


class FaissIndex:
    """:class:`~vitrine.kernel.ports.VectorIndex` over ``faiss.IndexHNSWFlat`` (inner product), kept in memory
    and persisted under ``path`` by :meth:`save` (``path=None``: memory only, for tests and one-shot runs).

    ``dim`` may stay unknown until the first upsert (tiny models choose their own width); once known it
    is stored, and a vector or query of another width is refused with :class:`BadInput`.
    All methods take one lock: the local server is threaded and FAISS indexes are not safe to mutate
    while being searched.
    """

    def __init__(
        self,
        path: Path | None,
        dim: int | None = None,
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
        compact_above: float = 0.2,
    ) -> None:
        self._path = path
        self._m = m
        self._ef_construction = ef_construction
        self._ef_search = ef_search
        self._compact_above = compact_above
        self._lock = threading.RLock()
        self._index: Any = None
        self._dim: int | None = None
        self._entries: dict[int, _Entry] = {}
        self._labels: dict[str, int] = {}
        self._generation = 0
        if path is not None and (path / _MAP_FILE).exists():
            self._load(path)
        if dim is not None:
            if self._dim is not None and self._dim != dim:
                raise ConfigError(
                    f"the vector index at {path} holds {self._dim}-d vectors, but {dim}-d were configured; "
                    "re-ingest the catalog or point at another index folder"
                )
            self._dim = dim

    @property
    def dim(self) -> int | None:
        return self._dim

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

    def tombstones(self) -> int:
        """Vectors still in the graph that no longer count (deleted or replaced)."""
        with self._lock:
            return self._stored() - len(self._entries)

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Add or replace vectors by id. The whole batch is validated before anything changes."""
        if not items:
            return
        if any(item.text_vector is not None for item in items):
            raise ConfigError("this FAISS index has no text field (the local profile's FaissFieldIndex has)")
        with self._lock:
            vectors = self._normalised([item.vector for item in items], [item.id for item in items])
            if self._index is None:
                self._dim = vectors.shape[1]
                self._index = self._new_index(self._dim)
            first = self._index.ntotal
            self._index.add(vectors)
            for offset, item in enumerate(items):
                self._retire(item.id)
                label = first + offset
                self._labels[item.id] = label
                self._entries[label] = _Entry(item.id, item.product_code, item.category, item.price)

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for image_id in ids:
                self._retire(image_id)

    def set_category(self, ids: Sequence[str], category: str) -> None:
        with self._lock:
            for image_id in ids:
                label = self._labels.get(image_id)
                if label is not None:
                    self._entries[label] = replace(self._entries[label], category=category)

    def set_price(self, ids: Sequence[str], price: float | None) -> None:
        with self._lock:
            for image_id in ids:
                label = self._labels.get(image_id)
                if label is not None:
                    self._entries[label] = replace(self._entries[label], price=price)

    def metadata(self, ids: Sequence[str]) -> dict[str, tuple[str, str, float | None]]:
        """(product code, category, price) of these ids; unknown ids are left out."""
        with self._lock:
            entries = [self._entries[self._labels[i]] for i in ids if i in self._labels]
            return {e.id: (e.product_code, e.category, e.price) for e in entries}

    def vectors(
        self, ids: Sequence[str], field: str = IMAGE_FIELD, model: str = ""
    ) -> dict[str, list[float]]:
        """The stored unit vectors of these ids (read back from the graph's flat storage)."""
        _only_image_field(field)
        with self._lock:
            found = {i: self._labels[i] for i in ids if i in self._labels}
            return {i: self._index.reconstruct(label).tolist() for i, label in found.items()}

    def set_vectors(
        self,
        field: str,
        vectors: Mapping[str, Sequence[float]],
        model: str = "",
        *,
        replace_model: bool = False,
    ) -> None:
        """New vectors for images already indexed (unknown ids are ignored); their metadata stays."""
        _only_image_field(field)
        with self._lock:
            known = [(i, self._entries[self._labels[i]]) for i in vectors if i in self._labels]
            self.upsert([IndexItem(i, vectors[i], e.product_code, e.category, e.price) for i, e in known])

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._labels)

    def search(
        self,
        vector: Sequence[float],
        k: int = 5,
        category: str | None = None,
        *,
        filters: Filters | None = None,
        field: str = IMAGE_FIELD,
        model: str = "",
    ) -> list[SearchHit]:
        """The ``k`` best products. HNSW answers first, over-fetching images; if tombstones, the filters
        (category, price) or several images per product leave fewer than ``k`` products, it fetches
        ``OVERFETCH`` times wider, and the last resort is an exact scan of every stored vector. The bound:
        at most ``log4(n / 4k)`` + 1 graph searches, then one exact scan of the ``n`` stored vectors, so a
        rare category or a narrow price range is never missed and ``k`` products come back when ``k`` pass."""
        if k <= 0:
            raise BadInput("k must be at least 1")
        _only_image_field(field)
        filters = filters or Filters()
        if category:
            filters = replace(filters, category=category)
        with self._lock:
            if self._index is None or not self._entries:
                return []
            query = self._normalised([vector], ["query"])
            stored = self._stored()
            fetch = min(k * OVERFETCH, stored)
            while True:
                exhaustive = fetch >= stored
                searcher = self._flat_storage() if exhaustive else self._index
                scores, labels = searcher.search(query, fetch)
                hits = collapse_to_products(self._hits(scores[0], labels[0], filters), k)
                if len(hits) >= k or exhaustive:
                    return hits
                fetch = min(fetch * OVERFETCH, stored)

    def rebuild(self) -> None:
        """Re-add only the live vectors to a fresh graph, dropping every tombstone."""
        with self._lock:
            if self._index is None:
                return
            live = sorted(self._entries)
            vectors = self._index.reconstruct_n(0, self._stored())[live] if live else None
            index = self._new_index(self._index.d)
            if vectors is not None:
                index.add(vectors)
            self._entries = {new: self._entries[old] for new, old in enumerate(live)}
            self._labels = {entry.id: label for label, entry in self._entries.items()}
            self._index = index

    def save(self) -> None:
        """Compact if tombstones exceed ``compact_above`` of the graph, then persist atomically.

        The local profile calls this after each ingest batch; search never waits on a disk write between.
        """
        with self._lock:
            stored = self._stored()
            if stored and (stored - len(self._entries)) / stored > self._compact_above:
                self.rebuild()
            if self._path is None or self._index is None:
                return
            self._write(self._path)

    # -- internals -------------------------------------------------------------------------------------

    def _stored(self) -> int:
        return 0 if self._index is None else self._index.ntotal

    def _retire(self, image_id: str) -> None:
        label = self._labels.pop(image_id, None)
        if label is not None:
            del self._entries[label]

    def _hits(self, scores: np.ndarray, labels: np.ndarray, filters: Filters) -> list[SearchHit]:
        hits = []
        for score, label in zip(scores.tolist(), labels.tolist(), strict=True):
            entry = self._entries.get(label)  # -1 (no result) and tombstones are absent
            if entry is None or not filters.admits(entry.product_code, entry.category, entry.price):
                continue
            hits.append(SearchHit(product_code=entry.product_code, score=float(score), image_id=entry.id))
        return hits

    def _normalised(self, vectors: Sequence[Sequence[float]], names: Sequence[str]) -> np.ndarray:
        """float32 rows of unit length; refuses ragged, wrong-width, non-finite or zero vectors."""
        try:
            array = np.asarray(vectors, dtype=np.float32)
        except ValueError:
            raise BadInput("vectors must all have the same length") from None
        if array.ndim != 2 or array.shape[1] == 0:
            raise BadInput("each vector must be a non-empty list of numbers")
        if self._dim is not None and array.shape[1] != self._dim:
            raise BadInput(f"vector has {array.shape[1]} dimensions; this index holds {self._dim}")
        norms = np.linalg.norm(array, axis=1)
        for name, norm in zip(names, norms.tolist(), strict=True):
            if not np.isfinite(norm):
                raise BadInput(f"vector {name!r} has non-finite values")
            if norm == 0:
                raise BadInput(f"vector {name!r} is all zeros: it has no direction to compare")
        return np.ascontiguousarray(array / norms[:, None])

    def _new_index(self, dim: int) -> Any:
        return hnsw_index(dim, self._m, self._ef_construction, self._ef_search)

    def _flat_storage(self) -> Any:
        import faiss

        return faiss.downcast_index(self._index.storage)

    def _write(self, path: Path) -> None:
        import faiss

        path.mkdir(parents=True, exist_ok=True)
        previous = self._generation
        self._generation += 1
        index_file = _index_file(self._generation)
        faiss.write_index(self._index, str(path / index_file))
        mapping = {
            "format": _FORMAT,
            "dim": self._dim,
            "index_file": index_file,
            "entries": [
                [label, e.id, e.product_code, e.category, e.price] for label, e in self._entries.items()
            ],
        }
        temp = path / f"{_MAP_FILE}.tmp"
        temp.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
        os.replace(temp, path / _MAP_FILE)
        if previous:
            (path / _index_file(previous)).unlink(missing_ok=True)

    def _load(self, path: Path) -> None:
        import faiss

        mapping = json.loads((path / _MAP_FILE).read_text(encoding="utf-8"))
        if mapping.get("format") != _FORMAT:
            raise ConfigError(f"the vector index at {path} has an unknown format; re-ingest the catalog")
        self._index = faiss.read_index(str(path / mapping["index_file"]))
        self._index.hnsw.efSearch = self._ef_search
        self._dim = mapping["dim"]
        self._generation = int(mapping["index_file"].removeprefix("index-").removesuffix(".faiss"))
        # [label, id, product, category, price]; indexes written before prices were kept have no price
        self._entries = {row[0]: _Entry(*row[1:]) for row in mapping["entries"]}
        self._labels = {entry.id: label for label, entry in self._entries.items()}


def _only_image_field(field: str) -> None:
    if field != IMAGE_FIELD:
        raise ConfigError(f"this FAISS index holds the {IMAGE_FIELD!r} field only, not {field!r}")


def _index_file(generation: int) -> str:
    return f"index-{generation:08d}.faiss"
