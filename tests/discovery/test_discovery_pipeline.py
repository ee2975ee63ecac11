"""Discovery over the real local adapters (folder bucket, SQLite catalog, the two-field FAISS index) with
JSON-contract fake models, so each test decides what the encoders answer.

Ingestion writes each indexed image's dual-encoder vector beside its DINO vector (and still works without a
dual encoder); text search applies the filters in the index query and checks them against the catalog; similar
products never include the product itself; a shopper's words re-rank a photo's matches."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import jpeg
from tests.fakes import JsonEndpoint, detector, embedder, vector_for
from vitrine.adapters.local.faiss_fields import FaissFieldIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.domain import ImageStatus, Product, ProductImage
from vitrine.catalog.filtering import load_rules
from vitrine.catalog.ingest import CatalogIngestion, image_id_for
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.types import TEXT_FIELD, Filters, IndexItem, SearchHit
from vitrine.models.detector import Detector
from vitrine.models.dual_encoder import DualEncoder
from vitrine.models.embedder import Embedder
from vitrine.search.discovery import RefinedIndex, SimilarProducts, TextSearch

BUCKET = "bucket"
TEXT_DIM = 8
MODEL = "fake-clip"


def text_vector(text: str) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).normal(size=TEXT_DIM)
    return (vector / np.linalg.norm(vector)).tolist()


def dual_encoder_endpoint(refuse: bytes | None = None) -> JsonEndpoint:
    """Images → a vector of their bytes; texts → a vector of their words; both unit, one model."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"dim": TEXT_DIM, "model": MODEL}
        if "images" in request:
            if refuse is not None and base64.b64encode(refuse).decode() in request["images"]:
                raise BadInput("the dual encoder cannot read this image")
            out["image_embeddings"] = [vector_for(i, TEXT_DIM) for i in request["images"]]
        if "texts" in request:
            out["text_embeddings"] = [text_vector(t) for t in request["texts"]]
        return out

    return JsonEndpoint("clip_embed", answer)


class World:
    def __init__(self, root: Path, with_dual_encoder: bool = True, refuse: bytes | None = None) -> None:
        self.store = FolderStore(root / "bucket", name=BUCKET)
        self.catalog = SqlCatalog(f"sqlite:///{root / 'catalog.db'}")
        self.index = FaissFieldIndex(root / "index")
        self.embed = embedder()
        self.dual = dual_encoder_endpoint(refuse)
        self.sequence = 0
        self.ingestion = CatalogIngestion(
            self.store,
            self.catalog,
            self.index,
            Detector(
                detector([{"box": [0.1, 0.1, 0.9, 0.9], "score": 0.8, "label": "shirt"}]), "x .", 0.3, 0.25
            ),
            Embedder(self.embed),
            None,
            load_rules(),
            max_image_bytes=2_000_000,
            max_image_pixels=4_000_000,
            duplicate_threshold=0.985,
            dual_encoder=DualEncoder(self.dual) if with_dual_encoder else None,
        )

    def put(self, key: str, data: bytes) -> ObjectEvent:
        info = self.store.put(key, data)
        self.sequence += 1
        return ObjectEvent(BUCKET, key, "created", f"{self.sequence:016X}", info.etag)

    def product(self, code: str, **fields: Any) -> ObjectEvent:
        return self.put(f"products/{code}/product.json", json.dumps({"name": code, **fields}).encode())


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_ingestion_writes_the_dual_encoder_vector_of_the_crop_beside_the_image_vector(world: World) -> None:
    world.ingestion.ingest([world.product("SH-1", category="shirt", price=30)])
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])

    assert outcome.status == "indexed"
    image_id = image_id_for(BUCKET, "products/SH-1/front.jpg")
    [request] = world.dual.requests
    assert request["boxes"] == [[0.1, 0.1, 0.9, 0.9]]  # the detected item, as the image field's crop
    assert world.index.vectors([image_id], TEXT_FIELD) == {
        image_id: pytest.approx(vector_for(request["images"][0], TEXT_DIM), abs=1e-6)
    }
    assert world.index.text_model == MODEL
    hits = world.index.search(
        vector_for(request["images"][0], TEXT_DIM),
        k=3,
        field=TEXT_FIELD,
        model=MODEL,
        filters=Filters(category="shirt", max_price=30),
    )
    assert [h.image_id for h in hits] == [image_id]


def test_ingestion_without_a_dual_encoder_indexes_the_image_field_only(tmp_path: Path) -> None:
    world = World(tmp_path, with_dual_encoder=False)
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    assert outcome.status == "indexed"
    assert world.index.count() == 1 and world.index.text.count() == 0 and world.dual.requests == []


def test_a_dual_encoder_that_is_down_retries_the_images_and_indexes_nothing(world: World) -> None:
    world.dual.down = True
    outcomes = world.ingestion.ingest(
        [
            world.put("products/SH-1/a.jpg", jpeg((10, 20, 30))),
            world.put("products/SH-1/b.jpg", jpeg(pattern=8)),
        ]
    )
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert world.index.count() == 0


def test_a_dual_encoder_refusing_one_image_rejects_only_that_image(tmp_path: Path) -> None:
    bad = jpeg((10, 200, 30), pattern=16)
    world = World(tmp_path, refuse=bad)
    outcomes = world.ingestion.ingest(
        [world.put("products/SH-1/a.jpg", jpeg()), world.put("products/SH-1/b.jpg", bad)]
    )
    assert [o.status for o in outcomes] == ["indexed", "rejected"]
    assert "dual encoder" in outcomes[1].reason


def test_a_price_change_in_product_json_reaches_the_filters_without_model_calls(world: World) -> None:
    world.ingestion.ingest([world.product("SH-1", category="shirt", price=30)])
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    vector = vector_for(world.dual.requests[0]["images"][0], TEXT_DIM)
    calls = len(world.dual.requests), len(world.embed.requests)

    world.ingestion.ingest([world.product("SH-1", category="shirt", price=80)])

    assert (len(world.dual.requests), len(world.embed.requests)) == calls
    assert world.index.search(vector, 5, field=TEXT_FIELD, filters=Filters(max_price=50)) == []
    assert len(world.index.search(vector, 5, field=TEXT_FIELD, filters=Filters(min_price=50))) == 1


# -- text search and its filters ------------------------------------------------------------------------


class Shop:
    """``count`` products with prices, one photo each, indexed with text vectors, and the catalog rows."""

    def __init__(self, root: Path, count: int = 40, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.store = FolderStore(root / "bucket", name=BUCKET)
        self.catalog = SqlCatalog(f"sqlite:///{root / 'catalog.db'}")
        self.index = FaissFieldIndex(None)
        self.prices: dict[str, float] = {}
        items = []
        for n in range(count):
            code, price = f"P{n:02d}", float(rng.integers(10, 200)) + 0.99
            category = ("shirt", "hat")[n % 2]
            self.catalog.upsert_product(Product(code, name=code, category=category, price=price))
            key = f"products/{code}/front.jpg"
            image_id = image_id_for(BUCKET, key)
            self.catalog.save_image(ProductImage(image_id, code, key, ImageStatus.INDEXED))
            vector = rng.normal(size=TEXT_DIM)
            items.append(
                IndexItem(
                    image_id,
                    rng.normal(size=4).tolist(),
                    code,
                    category,
                    price,
                    (vector / np.linalg.norm(vector)).tolist(),
                    MODEL,
                )
            )
            self.prices[code] = price
        self.index.upsert(items)
        self.search = TextSearch(self.store, self.catalog, self.index, DualEncoder(dual_encoder_endpoint()))


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


def test_a_price_filter_never_returns_a_product_outside_the_range_and_returns_k_when_k_exist(
    shop: Shop,
) -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        low, high = sorted(float(v) for v in rng.integers(0, 220, 2))
        k = int(rng.integers(1, 8))
        answer = shop.search.search(f"words {low}", Filters(min_price=low, max_price=high), k)
        prices = [r["product"]["price"] for r in answer["results"]]
        assert all(low <= p <= high for p in prices), (low, high, prices)
        in_range = sum(low <= p <= high for p in shop.prices.values())
        assert len(prices) == min(k, in_range), (low, high, k)
        assert len({r["product_code"] for r in answer["results"]}) == len(prices)  # distinct products


def test_filters_combine_category_and_price(shop: Shop) -> None:
    answer = shop.search.search("a hat", Filters(category="hat", max_price=120), 20)
    assert answer["results"] and all(
        r["product"]["category"] == "hat" and r["product"]["price"] <= 120 for r in answer["results"]
    )
    assert answer["filters"] == {"category": "hat", "max_price": 120} and answer["model"] == MODEL


def test_a_price_the_index_has_not_caught_up_with_is_checked_against_the_catalog(shop: Shop) -> None:
    cheap = sorted(shop.prices, key=shop.prices.get)[:6]
    moved = cheap[0]
    shop.catalog.upsert_product(
        Product(moved, name=moved, category="shirt", price=999.0)
    )  # the index says cheap
    cap = shop.prices[cheap[-1]]

    answer = shop.search.search("cheap", Filters(max_price=cap), 5)

    codes = [r["product_code"] for r in answer["results"]]
    assert moved not in codes and len(codes) == 5
    assert all(r["product"]["price"] <= cap for r in answer["results"])


@pytest.mark.parametrize(("query", "k"), [("   ", 5), ("x" * 201, 5), ("shirt", 0), ("shirt", 21)])
def test_text_search_refuses_blank_or_long_words_and_k_out_of_range(shop: Shop, query: str, k: int) -> None:
    with pytest.raises(BadInput):
        shop.search.search(query, Filters(), k)


def test_filters_refuse_a_range_that_cannot_hold_anything() -> None:
    with pytest.raises(BadInput, match="exceed"):
        Filters(min_price=50, max_price=10)
    with pytest.raises(BadInput):
        Filters(min_price=float("nan"))
    assert Filters(max_price=10).admits("P", "shirt", None) is False  # no price: not shown to be in range
    assert Filters(exclude_product="P").admits("P", "", 1.0) is False


# -- similar products -------------------------------------------------------------------------------------


def test_similar_products_are_other_products_nearest_its_own_photos(shop: Shop) -> None:
    similar = SimilarProducts(shop.store, shop.catalog, shop.index)
    own = image_id_for(BUCKET, "products/P03/front.jpg")
    shop.index.upsert(  # a second photo of P03, and a product that looks just like it
        [
            IndexItem("p03-b", [1.0, 0.0, 0.0, 0.0], "P03", "hat", shop.prices["P03"]),
            IndexItem("twin", [0.99, 0.1, 0.0, 0.0], "TWIN", "hat", 5.0),
        ]
    )
    shop.catalog.upsert_product(Product("TWIN", category="hat", price=5.0))
    shop.catalog.save_image(ProductImage("p03-b", "P03", "products/P03/b.jpg", ImageStatus.INDEXED))

    answer = similar.similar("P03", k=6)

    codes = [r["product_code"] for r in answer["results"]]
    assert "P03" not in codes and len(codes) == 6 and codes[0] == "TWIN"
    assert answer["photos_compared"] == 2 and own in shop.index.ids()
    with pytest.raises(NotFound):
        similar.similar("NOPE", 3)


def test_similar_products_of_a_product_without_indexed_photos_is_empty(shop: Shop) -> None:
    shop.catalog.upsert_product(Product("NEW", category="hat"))
    answer = SimilarProducts(shop.store, shop.catalog, shop.index).similar("NEW", 5)
    assert answer == {"product_code": "NEW", "photos_compared": 0, "results": []}


# -- words re-ranking a photo's matches -------------------------------------------------------------------


class Ranked:
    """An index answering fixed image hits, with text vectors the test chooses."""

    def __init__(self, hits: list[SearchHit], text: dict[str, list[float]]) -> None:
        self.hits, self.text, self.asked = hits, text, []

    def search(self, vector, k=5, category=None, *, filters=None, field="image", model=""):
        self.asked.append((k, filters))
        return self.hits[:k]

    def vectors(self, ids, field="image", model=""):
        return {i: self.text[i] for i in ids if i in self.text}


class Everything:
    def get_products(self, codes):
        return {code: Product(code, category="shirt", price=10.0) for code in codes}


def test_words_move_the_product_whose_photo_fits_them_up_and_the_filters_stay_in_the_query() -> None:
    hits = [SearchHit(f"P{n}", 0.9 - n * 0.01, f"i{n}") for n in range(8)]
    words = [1.0, 0.0]
    text = {f"i{n}": [0.0, 1.0] for n in range(8)} | {"i5": [1.0, 0.0]}  # only P5's photo fits the words
    index = Ranked(hits, text)
    filters = Filters(min_price=5)

    photo_only = RefinedIndex(index, Everything(), filters, words, MODEL, pool=4, text_weight=0.0)
    assert [h.product_code for h in photo_only.search([0.0], k=2)] == ["P0", "P1"]
    assert index.asked[-1] == (8, filters)  # k × pool candidates, filters inside the query

    refined = RefinedIndex(index, Everything(), filters, words, MODEL, pool=4, text_weight=0.5)
    assert refined.search([0.0], k=2)[0].product_code == "P5"
    scores = {h.product_code: h.score for h in refined.search([0.0], k=8)}
    assert scores["P5"] == pytest.approx(0.85)  # the score shown stays the photo's cosine


def test_without_words_a_refined_search_is_the_filtered_image_search() -> None:
    hits = [SearchHit(f"P{n}", 0.9, f"i{n}") for n in range(3)]
    index = Ranked(hits, {})
    refined = RefinedIndex(index, Everything(), Filters(max_price=50))
    assert refined.search([0.0], k=3, category="shirt") == hits
    assert index.asked == [(3, Filters(category="shirt", max_price=50))]


def test_re_embedding_the_text_field_of_a_catalog_ingested_without_it(tmp_path: Path) -> None:
    from vitrine.search.discovery import reembed_text_field

    world = World(tmp_path, with_dual_encoder=False)
    world.ingestion.ingest([world.product("SH-1", category="shirt", price=20)])
    world.ingestion.ingest(
        [world.put("products/SH-1/a.jpg", jpeg()), world.put("products/SH-1/b.jpg", jpeg(pattern=8))]
    )
    image_vectors = world.index.vectors(sorted(world.index.ids()))
    assert world.index.text.count() == 0

    done = reembed_text_field(world.store, world.catalog, world.index, DualEncoder(world.dual), batch_size=1)

    assert (done.images, done.model, done.failed) == (2, MODEL, [])
    assert world.index.text.ids() == world.index.ids() and world.index.text_model == MODEL
    assert world.index.vectors(sorted(world.index.ids())) == image_vectors  # the image field untouched
    assert all(
        request["boxes"] == [[0.1, 0.1, 0.9, 0.9]] for request in world.dual.requests
    )  # the ledger's box
