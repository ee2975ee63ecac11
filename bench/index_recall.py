"""Recall and latency of the local vector index (FAISS HNSW) against exact search, measured in one run.

Both answer the same question the shopper asks: the 5 best *products* for a new photo. The baseline is
an exact inner-product scan (``IndexFlatIP``) of the same normalised vectors, collapsed to products the
same way, so the ratios show only what HNSW trades: a little recall for a lot less time per query.

Data is embedding-like (category centres -> products -> photos), never uniform noise: on noise every
point is about as far from every other and any recall figure is meaningless.

Usage: ``python bench/index_recall.py [--vectors 20000] [--dim 384] [--queries 500]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import faiss
import numpy as np

from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.kernel.types import IndexItem, SearchHit, collapse_to_products

K = 5
IMAGES_PER_PRODUCT = 4
CATEGORIES = 50
PRODUCT_SPREAD = 0.8  # product vs its category centre (per-dim std): same-category products ~0.45 cosine
PHOTO_NOISE = 0.75  # photo vs its product: two photos of one product ~0.75 cosine


def make_photos(vectors: int, dim: int, queries: int, seed: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Catalog photos, their product codes, and new photos of random products to search with."""
    rng = np.random.default_rng(seed)
    products = vectors // IMAGES_PER_PRODUCT
    centres = rng.normal(0, 1, (CATEGORIES, dim))
    products_at = centres[rng.integers(0, CATEGORIES, products)] + rng.normal(
        0, PRODUCT_SPREAD, (products, dim)
    )
    owner = np.repeat(np.arange(products), IMAGES_PER_PRODUCT)
    photos = products_at[owner] + rng.normal(0, PHOTO_NOISE, (len(owner), dim))
    asked = rng.integers(0, products, queries)
    probes = products_at[asked] + rng.normal(0, PHOTO_NOISE, (queries, dim))
    return photos.astype(np.float32), [f"P{p}" for p in owner], probes.astype(np.float32)


def exact_search(flat: faiss.IndexFlatIP, codes: list[str], probe: np.ndarray) -> list[SearchHit]:
    """The baseline: scan every vector, keep enough images to fill K products, collapse."""
    scores, labels = flat.search(probe[None, :], K * IMAGES_PER_PRODUCT * 4)
    hits = (SearchHit(codes[i], float(s), str(i)) for s, i in zip(scores[0], labels[0], strict=True))
    return collapse_to_products(hits, K)


def timed(
    search: Callable[[np.ndarray], list[SearchHit]], probes: np.ndarray
) -> tuple[list[list[SearchHit]], list[float]]:
    """Each probe searched alone, as a shopper's request is: per-query latency, not batch throughput."""
    answers, seconds = [], []
    for probe in probes:
        start = time.perf_counter()
        answers.append(search(probe))
        seconds.append(time.perf_counter() - start)
    return answers, seconds


def p95_ms(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20)[-1] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    photos, codes, probes = make_photos(args.vectors, args.dim, args.queries, args.seed)
    unit = photos / np.linalg.norm(photos, axis=1, keepdims=True)
    unit_probes = probes / np.linalg.norm(probes, axis=1, keepdims=True)

    start = time.perf_counter()
    hnsw = FaissIndex(None, dim=args.dim)
    for first in range(0, len(photos), 2000):  # batches, as ingestion sends them
        batch = range(first, min(first + 2000, len(photos)))
        hnsw.upsert([IndexItem(id=str(i), vector=photos[i], product_code=codes[i]) for i in batch])
    build_hnsw = time.perf_counter() - start
    start = time.perf_counter()
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(unit)
    build_flat = time.perf_counter() - start

    # One request is one thread: OpenMP spreading a single query over 2 shared cores costs more than it
    # saves (a flat scan measured ~10x slower), so both sides are timed single-threaded.
    build_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    exact, exact_s = timed(lambda probe: exact_search(flat, codes, probe), unit_probes)
    approx, hnsw_s = timed(lambda probe: hnsw.search(probe, k=K), probes)

    recall = statistics.fmean(
        len({h.product_code for h in a} & {h.product_code for h in e}) / K
        for a, e in zip(approx, exact, strict=True)
    )
    first_right = statistics.fmean(
        a[0].product_code == e[0].product_code for a, e in zip(approx, exact, strict=True)
    )
    hnsw_ms, exact_ms = statistics.fmean(hnsw_s) * 1e3, statistics.fmean(exact_s) * 1e3

    print(
        f"{len(photos)} vectors x {args.dim}, {len(photos) // IMAGES_PER_PRODUCT} products in {CATEGORIES} "
        f"categories, {args.queries} queries; HNSW M=16 efConstruction=128 efSearch=128; "
        f"build threads={build_threads}, query threads=1"
    )
    print(f"build: hnsw {build_hnsw:.1f} s, exact {build_flat:.2f} s")
    print(f"recall@{K} (distinct products, vs exact): {recall:.3f}; same top product: {first_right:.3f}")
    print(f"latency per query, mean: hnsw {hnsw_ms:.3f} ms, exact {exact_ms:.3f} ms")
    print(f"latency per query, p95:  hnsw {p95_ms(hnsw_s):.3f} ms, exact {p95_ms(exact_s):.3f} ms")
    print(f"hnsw/exact: recall x{recall:.3f}, time x{hnsw_ms / exact_ms:.3f}")
    print(f"hnsw_recall_at_5={recall:.3f} hnsw_speedup={exact_ms / hnsw_ms:.2f}")


if __name__ == "__main__":
    main()
