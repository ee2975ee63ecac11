"""The description job end to end on the local profile: `vitrine ingest` of a product without a
description, then the API (through its Lambda handler) shows attributes, a checked description of at least
40 characters labelled as not AI-written, and provenance; the operator route describes again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.descriptions.conftest import product_folder
from vitrine.adapters.local.offline_writer import LABEL
from vitrine.descriptions.schema import load_schemas

TOPS = [attribute.name for attribute in load_schemas().schemas["tops"].attributes]


@pytest.fixture(scope="module")
def ingested(local_home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Given a product folder whose product.json has no description, when `vitrine ingest` runs on it."""
    from vitrine_dev.cli import main

    root = product_folder(
        tmp_path_factory.mktemp("drop"),
        "DS-1",
        {"name": "Oxford shirt", "brand": "Kestrel", "category": "shirt", "price": 39.5, "currency": "EUR"},
        photos=2,
    )
    assert main(["ingest", str(root), "--quiet"]) == 0
    return "DS-1"


def test_ingest_describes_a_product_without_a_description(api, ingested: str) -> None:
    status, view, _ = api("GET", f"/api/products/{ingested}")

    assert status == 200, view
    assert view["product"]["name"] == "Oxford shirt"
    assert [a["name"] for a in view["attributes"]] == TOPS
    assert all(0 <= a["confidence"] <= 1 and isinstance(a["raw"], str) for a in view["attributes"])
    description = view["description"]
    assert description is not None, view["state"]
    assert len(description["text"]) >= 40
    assert description["writer"] == LABEL and description["ai_generated"] is False
    assert "Oxford shirt by Kestrel" in description["text"]
    provenance = view["provenance"]
    assert provenance["attribute_model"] == "blip2_attributes"
    assert provenance["writer"] == LABEL
    assert provenance["image_key"] == f"products/{ingested}/01-front.jpg"
    assert provenance["schema_name"] == "tops" and provenance["described_at"] > 0
    stated = {a["name"]: a["value"] for a in view["attributes"] if a["stated"]}
    assert provenance["attributes_used"] == stated  # only what the photo said went to the writer
    assert view["state"]["status"] == "described"
    assert [p["key"] for p in view["photos"]] == [
        provenance["image_key"],
        f"products/{ingested}/02-front.jpg",
    ]


def test_operator_route_describes_again(api, ingested: str, operator_headers: dict[str, str]) -> None:
    _, before, _ = api("GET", f"/api/products/{ingested}")

    status, answer, _ = api("POST", f"/api/ops/products/{ingested}/describe", headers=operator_headers)

    assert status == 200, answer
    assert answer["status"] == "described" and answer["reason"] == ""
    _, after, _ = api("GET", f"/api/products/{ingested}")
    assert (
        after["description"]["text"] == before["description"]["text"]
    )  # the offline writer is deterministic
    assert len(after["description"]["text"]) >= 40
    assert after["provenance"]["described_at"] >= before["provenance"]["described_at"]
    assert after["provenance"]["attributes_used"] == before["provenance"]["attributes_used"]


def test_operator_route_needs_an_operator_and_a_product(api, ingested: str, operator_headers) -> None:
    assert api("POST", f"/api/ops/products/{ingested}/describe")[0] == 401
    status, body, _ = api("POST", "/api/ops/products/NO-SUCH/describe", headers=operator_headers)
    assert (status, body["error"]) == (404, "not_found")
    assert api("GET", "/api/products/NO-SUCH")[0] == 404


def test_a_product_with_its_own_description_is_not_described(
    api, local_home: Path, tmp_path: Path, operator_headers
) -> None:
    from vitrine_dev.cli import main

    own = {"name": "Wool beanie", "category": "hat", "description": "Our own words about this beanie."}
    assert main(["ingest", str(product_folder(tmp_path, "DS-OWN", own)), "--quiet"]) == 0

    _, view, _ = api("GET", "/api/products/DS-OWN")
    assert view["description"] is None and view["state"] is None

    status, answer, _ = api("POST", "/api/ops/products/DS-OWN/describe", headers=operator_headers)
    assert status == 200 and answer["product"]["provenance"]["schema_name"] == "hats"


def test_ask_answers_about_the_photo_and_refuses_politely(api, ingested: str) -> None:
    status, answer, _ = api("POST", f"/api/products/{ingested}/ask", {"question": "Is it cotton?"})
    assert status == 200, answer
    assert answer["question"] == "Is it cotton?" and answer["answer"]
    assert answer["model"] == "blip2_attributes" and answer["photo"]["key"].endswith("01-front.jpg")

    empty = api("POST", f"/api/products/{ingested}/ask", {"question": "   "})
    long = api("POST", f"/api/products/{ingested}/ask", {"question": "why " * 100})
    assert (empty[0], empty[1]["error"]) == (400, "bad_input") and "Please type a question" in empty[1][
        "message"
    ]
    assert long[0] == 400 and "under 300 characters" in long[1]["message"]
    assert api("POST", "/api/products/NO-SUCH/ask", {"question": "Is it cotton?"})[0] == 404


def test_ask_is_rate_limited_per_client(api, ingested: str) -> None:
    client = {"X-Forwarded-For": "203.0.113.9", "CloudFront-Viewer-Address": "203.0.113.9:4711"}
    other = {"CloudFront-Viewer-Address": "198.51.100.7:1234"}
    statuses = [
        api("POST", f"/api/products/{ingested}/ask", {"question": "Colour?"}, client)[0] for _ in range(11)
    ]

    assert statuses == [200] * 10 + [429]
    status, body, headers = api("POST", f"/api/products/{ingested}/ask", {"question": "Colour?"}, client)
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "Please wait" in body["message"]
    assert api("POST", f"/api/products/{ingested}/ask", {"question": "Colour?"}, other)[0] == 200
