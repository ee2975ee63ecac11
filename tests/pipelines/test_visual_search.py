"""Visual search over a real FAISS index and SQLite catalog, with JSON-contract fake models."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import jpeg
from tests.fakes import detector, embedder, vector_for
from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.domain import Product, ProductImage
from vitrine.errors import BadInput, TooLarge
from vitrine.kernel.types import IndexItem
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder
from vitrine.models.invoke import b64
from vitrine.search.visual_search import VisualSearch

SHOES = {"box": [0.5, 0.5, 0.9, 0.9], "score": 0.7, "label": "shoes"}
HAT = {"box": [0.1, 0.0, 0.4, 0.2], "score": 0.5, "label": "hats"}


@pytest.fixture
def parts(tmp_path: Path):
    store = FolderStore(tmp_path / "bucket")
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'c.db'}")
    index = FaissIndex(tmp_path / "index")
    photo = jpeg(pattern=6)
    for number in range(8):
        code = f"P-{number}"
        catalog.upsert_product(
            Product(
                code,
                name=f"Product {number}",
                brand="Acme",
                category="shoes",
                price=10.0 + number,
                currency="EUR",
            )
        )
        for view in range(2):  # two images per product: results must still be distinct products
            data = (
                photo
                if (number, view) == (3, 0)
                else jpeg((number * 30, view * 90, 20), pattern=3 + number + view)
            )
            key = f"products/{code}/v{view}.jpg"
            store.put(key, data, "image/jpeg")
            image_id = f"{code}-{view}"
            catalog.save_image(ProductImage(image_id, code, key, "indexed"))
            index.upsert([IndexItem(image_id, vector_for(b64(data)), code, "shoes")])
    return store, catalog, index, photo


def search_with(parts, boxes, threshold: float = 0.5) -> VisualSearch:
    store, catalog, index, _ = parts
    return VisualSearch(
        store,
        catalog,
        index,
        Detector(detector(boxes), "shoes .", 0.3, 0.25),
        Embedder(embedder()),
        match_threshold=threshold,
        max_image_bytes=1_000_000,
        max_image_pixels=4_000_000,
    )


def test_nothing_detected_says_so(parts) -> None:
    answer = search_with(parts, []).search(parts[3])
    assert answer["status"] == "no_object" and "could not find" in answer["message"]


def test_several_items_ask_the_shopper_to_choose(parts) -> None:
    answer = search_with(parts, [SHOES, HAT]).search(parts[3])
    assert answer["status"] == "choose"
    assert [b["label"] for b in answer["boxes"]] == ["shoes", "hats"]


def test_one_item_goes_straight_to_distinct_products_best_first(parts) -> None:
    answer = search_with(parts, [SHOES]).search(parts[3])
    assert answer["status"] == "results" and answer["box"] == SHOES["box"]
    codes = [r["product_code"] for r in answer["results"]]
    assert len(codes) == 5 == len(set(codes))
    assert codes[0] == "P-3" and answer["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    first = answer["results"][0]
    assert first["product"]["name"] == "Product 3" and first["product"]["price"] == 13.0
    assert first["image_url"] == "/api/objects/products/P-3/v0.jpg"
    assert answer["confident"] is True
    assert all(not r["confident"] for r in answer["results"][1:])  # unrelated images score far below 0.5


def test_a_chosen_box_skips_detection(parts) -> None:
    search = search_with(parts, [SHOES, HAT])
    answer = search.search(parts[3], box=[0, 0, 1, 1], k=3)
    assert answer["status"] == "results" and len(answer["results"]) == 3
    assert search.detector.endpoint.requests == []
    assert search.embedder.endpoint.requests[0]["boxes"] == [[0.0, 0.0, 1.0, 1.0]]


def test_weak_best_match_is_flagged_not_presented_as_a_hit(parts) -> None:
    answer = search_with(parts, [SHOES]).search(jpeg((1, 200, 90), pattern=5), box=[0, 0, 1, 1])
    assert answer["status"] == "results" and answer["confident"] is False


def test_category_filter(parts) -> None:
    answer = search_with(parts, []).search(parts[3], box=[0, 0, 1, 1], category="hats")
    assert answer["results"] == []


@pytest.mark.parametrize("box", [[0, 0, 2, 1], [0.5, 0, 0.2, 1], [0, 0, 1], ["a", 0, 1, 1]])
def test_bad_box_is_refused(parts, box) -> None:
    with pytest.raises(BadInput, match="box"):
        search_with(parts, []).search(parts[3], box=box)


def test_not_an_image_and_too_large_are_refused_before_any_model(parts) -> None:
    search = search_with(parts, [SHOES])
    with pytest.raises(BadInput):
        search.search(b"hello, I am text")
    with pytest.raises(TooLarge):
        search.search(jpeg(size=(3000, 3000), pattern=1))
    assert search.detector.endpoint.requests == []


def test_k_out_of_range_is_refused(parts) -> None:
    with pytest.raises(BadInput, match="k must be"):
        search_with(parts, []).search(parts[3], k=21)
