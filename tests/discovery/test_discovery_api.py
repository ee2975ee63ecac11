"""The discovery routes through the real Lambda handler and the local profile (tiny in-process models, SQLite,
the two-field FAISS index), over the demo catalog ingested by the session fixture: search by words with
filters, similar products, and POST /search narrowed by price and re-ranked by words. Every status a route
answers is in the OpenAPI document."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.api.test_api_lambda_handler import street_photo

TEXT = "/api/search/text"


@pytest.fixture(scope="module")
def prices(stack, demo_catalog: Path) -> dict[str, float]:
    codes = sorted(p.name for p in (demo_catalog / "products").iterdir() if p.is_dir())
    return {code: product.price for code, product in stack.catalog.get_products(codes).items()}


def test_ingestion_gave_every_indexed_image_a_text_vector_of_one_model(stack, demo_catalog) -> None:
    index = stack.index
    assert index.count() > 0 and index.text.ids() == index.ids()
    assert index.text_model == "tiny-clip"
    assert stack.adapters["vector_index"].startswith("faiss-hnsw")


def test_search_by_words_answers_distinct_products_in_the_dual_encoders_space(
    call, demo_catalog, prices
) -> None:
    status, body, _ = call("GET", TEXT, query={"q": "striped red shirt", "k": "5"})

    assert status == 200, body
    assert (
        body["query"] == "striped red shirt" and body["model"] == "tiny-clip" and body["tiny_models"] is True
    )
    codes = [r["product_code"] for r in body["results"]]
    assert len(codes) == 5 == len(set(codes)) and set(codes) <= set(prices)
    assert all(r["image_url"] and r["product"]["code"] == r["product_code"] for r in body["results"])
    assert [r["score"] for r in body["results"]] == sorted(
        (r["score"] for r in body["results"]), reverse=True
    )


def test_search_by_words_price_filters_hold_and_k_comes_back_when_k_exist(call, demo_catalog, prices) -> None:
    ordered = sorted(prices.values())
    low, high = ordered[2], ordered[8]  # seven products in range
    status, body, _ = call(
        "GET", TEXT, query={"q": "shoes", "min_price": str(low), "max_price": str(high), "k": "7"}
    )

    assert status == 200, body
    assert body["filters"] == {"category": None, "min_price": low, "max_price": high}
    found = [r["product"]["price"] for r in body["results"]]
    assert len(found) == 7 and all(low <= price <= high for price in found)

    status, body, _ = call("GET", TEXT, query={"q": "hat", "category": "hat", "max_price": str(ordered[-1])})
    assert status == 200 and body["results"]
    assert all(r["product"]["category"] == "hat" for r in body["results"])


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"q": "   "}, 400),
        ({"q": "shirt", "min_price": "50", "max_price": "10"}, 400),
        ({}, 422),
        ({"q": "shirt", "k": "0"}, 422),
        ({"q": "shirt", "k": "21"}, 422),
        ({"q": "shirt", "min_price": "-1"}, 422),
        ({"q": "shirt", "max_price": "cheap"}, 422),
        ({"q": "x" * 201}, 422),
    ],
)
def test_search_by_words_refusals(call, demo_catalog, query: dict[str, str], status: int) -> None:
    answered, body, _ = call("GET", TEXT, query=query)
    assert answered == status, body
    assert body["error"] == "bad_input" and body["message"]


def test_similar_products_excludes_the_product_itself(call, demo_catalog, prices) -> None:
    code = sorted(prices)[0]
    status, body, _ = call("GET", f"/api/products/{code}/similar", query={"k": "4"})

    assert status == 200, body
    codes = [r["product_code"] for r in body["results"]]
    assert body["product_code"] == code and body["photos_compared"] >= 1
    assert len(codes) == 4 == len(set(codes)) and code not in codes

    assert call("GET", "/api/products/NO-SUCH/similar")[0] == 404
    assert call("GET", f"/api/products/{code}/similar", query={"k": "99"})[0] == 422


def test_photo_search_takes_the_price_filters_and_words(call, demo_catalog, prices) -> None:
    photo = base64.b64encode(street_photo(demo_catalog)).decode()
    ordered = sorted(prices.values())
    body = {"image": photo, "box": [0, 0, 1, 1], "min_price": ordered[3], "max_price": ordered[9], "k": 5}

    status, plain, _ = call("POST", "/api/search", body)
    assert status == 200 and plain["status"] == "results", plain
    assert len(plain["results"]) == 5
    assert all(ordered[3] <= r["product"]["price"] <= ordered[9] for r in plain["results"])

    status, worded, _ = call("POST", "/api/search", {**body, "text": "polka-dot navy"})
    assert status == 200 and worded["status"] == "results", worded
    assert all(ordered[3] <= r["product"]["price"] <= ordered[9] for r in worded["results"])
    assert call("POST", "/api/search", {**body, "min_price": 90, "max_price": 10})[0] == 400
    assert call("POST", "/api/search", {**body, "text": ""})[0] == 422


def test_the_discovery_routes_are_documented_with_every_status_they_answer(call) -> None:
    status, spec, _ = call("GET", "/api/openapi.json")
    assert status == 200
    text = spec["paths"]["/search/text"]["get"]
    similar = spec["paths"]["/products/{code}/similar"]["get"]
    assert {int(c) for c in text["responses"]} == {200, 400, 422, 500, 503}
    assert {int(c) for c in similar["responses"]} == {200, 404, 422, 500, 503}
    assert text["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "TextSearchAnswer"
    )
    assert {p["name"] for p in text["parameters"]} == {"q", "category", "min_price", "max_price", "k"}
    assert not text.get("security") and not similar.get("security")  # shopper routes: public
    search_body = spec["components"]["schemas"]["SearchRequest"]["properties"]
    assert {"min_price", "max_price", "text"} <= set(search_body)


def test_search_by_words_is_unavailable_where_discovery_is_off(stack, call, monkeypatch) -> None:
    monkeypatch.setattr(stack, "text_search", None, raising=False)
    monkeypatch.delitem(stack.__dict__, "text_search")
    monkeypatch.setitem(stack.__dict__, "dual_encoder", None)
    status, body, response = call("GET", TEXT, query={"q": "shirt"})
    assert status == 503 and "not enabled" in body["message"]
    headers = response.get("multiValueHeaders") or {}
    assert headers.get("Retry-After") == ["3600"] or response.get("headers", {}).get("Retry-After") == "3600"
