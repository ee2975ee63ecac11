"""Cross-modal discovery: search by words, similar products, and the shopper's filters on every search.

* :class:`TextSearch` (``GET /api/search/text``): the words → the dual encoder's text vector → k-NN in the
  index's ``text`` field with the filters inside the query → distinct products.
* :class:`SimilarProducts` (``GET /api/products/{code}/similar``): the product's own image vectors (DINO, read
  back from the index, no model call) → k-NN of each in the ``image`` field with the product itself filtered out
  in the query → products ranked by their best match to any of its photos.
* :class:`RefinedIndex`: what ``POST /api/search`` searches when the shopper adds filters or words: the image
  field with the filters in the query and, with words, a pool of image hits re-ranked by how well each product's
  matching photo fits the words (each model's cosines scaled to 0..1 within the candidates, then weighted, so
  the photo's cosines and the words', which live on different scales, are never compared as they are).

Filters are applied by the index (so ``k`` products come back whenever ``k`` pass), then checked once more
against the catalog's current category and price, because the index's copy of them is one ingestion behind a
``product.json`` that just changed: a hit that fails is dropped and the index asked for more, so a price filter
never shows a product outside the range.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vitrine.catalog.domain import ImageStatus, Product
from vitrine.catalog.ports import Catalog
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.ports import ObjectStore, VectorIndex
from vitrine.kernel.types import IMAGE_FIELD, TEXT_FIELD, Filters, SearchHit, collapse_to_products
from vitrine.models.dual_encoder import DualEncoder

MAX_K = 20
MAX_QUERY_CHARS = 200
MAX_OWN_IMAGES = 16
"""Photos of a product whose neighbours "similar products" looks up (one k-NN each)."""
ATTEMPTS = 3
"""Index queries at most per search when the catalog check drops hits (each asks for twice as many)."""


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise BadInput(f"k must be between 1 and {MAX_K}")
    return k


def _passes(filters: Filters, code: str, product: Product | None) -> bool:
    """The catalog's current word on one hit (no filter: every hit passes, even of an unknown product)."""
    if not (filters.category or filters.priced):
        return code != filters.exclude_product
    if product is None:
        return False
    return filters.admits(code, product.category, product.price)


@dataclass
class Found:
    """Hits that passed the catalog check, with the catalog's products for them."""

    hits: list[SearchHit]
    products: dict[str, Product]


def checked(catalog: Catalog, search: Callable[[int], list[SearchHit]], filters: Filters, k: int) -> Found:
    """``search(n)`` (the index, filters inside) for ``k`` products that the catalog confirms pass ``filters``."""
    want = k
    for _ in range(ATTEMPTS):
        hits = search(want)
        products = catalog.get_products([hit.product_code for hit in hits])
        kept = [hit for hit in hits if _passes(filters, hit.product_code, products.get(hit.product_code))]
        wider = min(want * 2, max(want, MAX_K * 4))
        if len(kept) >= k or len(hits) < want or wider == want:
            break
        want = wider
    return Found(kept[:k], products)


def _scaled(scores: dict[str, float]) -> dict[str, float]:
    """Scores mapped onto 0..1 (lowest to highest); all equal: all 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    return {key: 1.0 if high == low else (value - low) / (high - low) for key, value in scores.items()}


def describe(store: ObjectStore, catalog: Catalog, found: Found) -> list[dict[str, Any]]:
    """Each hit as the page shows it: the product, its best-matching photo and the match strength."""
    described = []
    for hit in found.hits:
        product = found.products.get(hit.product_code)
        image = catalog.get_image(hit.image_id)
        described.append(
            {
                "product_code": hit.product_code,
                "score": round(hit.score, 4),
                "image_url": store.url_for(image.key) if image else None,
                "product": product.to_dict() if product else {"code": hit.product_code},
            }
        )
    return described


class TextSearch:
    """The ``GET /api/search/text`` job, independent of HTTP."""

    def __init__(
        self, store: ObjectStore, catalog: Catalog, index: VectorIndex, encoder: DualEncoder
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.index = index
        self.encoder = encoder

    def search(self, query: str, filters: Filters, k: int = 5) -> dict[str, Any]:
        words = " ".join(query.split())
        if not words:
            raise BadInput("type a few words to search for (q)")
        if len(words) > MAX_QUERY_CHARS:
            raise BadInput(f"q is over {MAX_QUERY_CHARS} characters")
        check_k(k)
        timing: dict[str, float] = {}
        start = time.perf_counter()
        encoded = self.encoder.embed_texts([words])
        timing["embed_model"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        vector = encoded.vectors[0]
        found = checked(
            self.catalog,
            lambda n: self.index.search(vector, n, filters=filters, field=TEXT_FIELD, model=encoded.model),
            filters,
            k,
        )
        timing["index"] = (time.perf_counter() - start) * 1000
        return {
            "query": words,
            "filters": filters.public(),
            "model": encoded.model,
            "results": describe(self.store, self.catalog, found),
            "timing_ms": timing,
        }


class SimilarProducts:
    """The ``GET /api/products/{code}/similar`` job: neighbours of the product's own photos, itself excluded."""

    def __init__(self, store: ObjectStore, catalog: Catalog, index: VectorIndex) -> None:
        self.store = store
        self.catalog = catalog
        self.index = index

    def similar(self, code: str, k: int = 5) -> dict[str, Any]:
        check_k(k)
        if code not in self.catalog.get_products([code]):
            raise NotFound(f"no product {code!r} in the catalog")
        own = self.catalog.list_images(status=ImageStatus.INDEXED, product_code=code, limit=MAX_OWN_IMAGES)
        vectors = self.index.vectors([image.image_id for image in own], IMAGE_FIELD)
        filters = Filters(exclude_product=code)

        def search(n: int) -> list[SearchHit]:
            hits = [
                hit for vector in vectors.values() for hit in self.index.search(vector, n, filters=filters)
            ]
            return collapse_to_products(hits, n)

        found = checked(self.catalog, search, filters, k) if vectors else Found([], {})
        return {
            "product_code": code,
            "photos_compared": len(vectors),
            "results": describe(self.store, self.catalog, found),
        }


class RefinedIndex:
    """The index as one visual search sees it: the shopper's filters inside every k-NN query and, given the
    words' text vector, image hits re-ranked by the words (a pool of ``pool`` × k products, the order fused
    with weight ``text_weight`` on the words' order)."""

    def __init__(
        self,
        index: VectorIndex,
        catalog: Catalog,
        filters: Filters,
        text_vector: Sequence[float] | None = None,
        text_model: str = "",
        *,
        pool: int = 4,
        text_weight: float = 0.5,
    ) -> None:
        self.index = index
        self.catalog = catalog
        self.filters = filters
        self.text_vector = list(text_vector) if text_vector is not None else None
        self.text_model = text_model
        self.pool = pool
        self.text_weight = text_weight

    def search(
        self, vector: Sequence[float], k: int = 5, category: str | None = None, **_: Any
    ) -> list[SearchHit]:
        filters = replace(self.filters, category=category) if category else self.filters
        wanted = k if self.text_vector is None else k * self.pool
        found = checked(
            self.catalog, lambda n: self.index.search(vector, n, filters=filters), filters, wanted
        )
        if self.text_vector is None:
            return found.hits
        return self.rerank(found.hits)[:k]

    def rerank(self, hits: list[SearchHit]) -> list[SearchHit]:
        """``hits`` (best image first) in the fused order of the photo and the words: each list's cosines are
        scaled to 0..1 within the candidates (the two models' cosines live on different scales), then
        weighted; a photo without a text vector (of this model) scores 0 for the words."""
        text = self.index.vectors([hit.image_id for hit in hits], TEXT_FIELD, self.text_model)
        query = self.text_vector or []
        words = {
            hit.image_id: sum(a * b for a, b in zip(query, text[hit.image_id], strict=True))
            for hit in hits
            if hit.image_id in text
        }
        photo = _scaled({hit.image_id: hit.score for hit in hits})
        words = _scaled(words)

        def fused(hit: SearchHit) -> float:
            return (1 - self.text_weight) * photo[hit.image_id] + self.text_weight * words.get(
                hit.image_id, 0.0
            )

        return sorted(hits, key=fused, reverse=True)  # stable: ties keep the photo's order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)  # everything else is the index itself


@dataclass
class Reembedded:
    """What :func:`reembed_text_field` did."""

    images: int
    model: str
    failed: list[str]


def reembed_text_field(
    store: ObjectStore,
    catalog: Catalog,
    index: VectorIndex,
    encoder: DualEncoder,
    *,
    batch_size: int = 16,
    limit: int = 1_000_000,
) -> Reembedded:
    """Give every indexed image a text vector of the encoder's current model, from its stored photo and the
    item box ingestion found (no detector call); the image field is not touched.

    For a catalog ingested before text search was on, or after the dual encoder's weights changed: the first
    batch replaces the old model (``replace_model``; its vectors never answer again), so run it to the end.
    An image that cannot be read or embedded is listed in ``failed`` and keeps no text vector.
    """
    images = catalog.list_images(status=ImageStatus.INDEXED, limit=limit)
    done, failed, model, replacing = 0, [], "", True
    for start in range(0, len(images), batch_size):
        chunk, blobs = [], []
        for image in images[start : start + batch_size]:
            try:
                blobs.append(store.get(image.key))
                chunk.append(image)
            except Exception:
                failed.append(image.key)
        if not chunk:
            continue
        try:
            encoded = encoder.embed_images(blobs, [image.box for image in chunk])
        except Exception:
            failed.extend(image.key for image in chunk)
            continue
        vectors = {image.image_id: vector for image, vector in zip(chunk, encoded.vectors, strict=True)}
        index.set_vectors(TEXT_FIELD, vectors, encoded.model, replace_model=replacing)
        replacing, model, done = False, encoded.model, done + len(chunk)
    return Reembedded(done, model, failed)
