"""Hostile files through every way a photo gets in: the search API inline, the page's upload path
(``POST /api/uploads`` → ``PUT`` the bytes → search by ``upload_key``), and catalog ingestion with the real
(tiny) models. Each ends as a search answer or a clear 4xx, or as an indexed or rejected-with-a-reason
object: never a 5xx, a crash, or an object left to retry forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.client import JSON, answered, b64, post_json, request
from tests.hostile.files import CASES, OK, Hostile
from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.ingest import CatalogIngestion
from vitrine.kernel.events import ObjectEvent

IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inline_search_answers_or_refuses_clearly(address, case: Hostile) -> None:
    status, headers, body = post_json(address, "/api/search", {"image": b64(case.data)})
    answered(status, headers, body, case.inline)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_upload_path_answers_or_refuses_clearly(address, case: Hostile) -> None:
    status, headers, body = post_json(
        address, "/api/uploads", {"content_type": case.content_type, "size": len(case.data)}
    )
    if status != 200:  # the grant itself refused (a type no photo has, an empty file): that is the answer
        answered(status, headers, body, {400, 413, 415, 422})
        return
    grant = json.loads(body)
    assert grant["method"] == "PUT" and grant["key"].startswith("uploads/")
    status, headers, body = request(
        address, "PUT", grant["url"], case.data, {"Content-Type": case.content_type}
    )
    answered(status, headers, body, {204})
    status, headers, body = post_json(
        address, "/api/search", {"upload_key": grant["key"], "box": [0, 0, 1, 1]}
    )
    answered(status, headers, body, case.inline)


def test_polyglot_served_back_stays_an_image(address, stack) -> None:
    """A JPEG carrying an HTML page in a comment is served back as the JPEG it is: ``image/jpeg``,
    ``nosniff``, and a policy that runs no inline script, so a browser never executes it."""
    case = next(c for c in CASES if c.name == "html_in_jpeg_comment")
    key = "hostile-test/page.jpg"  # outside products/: nothing lists or ingests it
    stack.store.put(key, case.data, "image/jpeg")
    try:
        status, headers, data = request(address, "GET", f"/api/objects/{key}")
    finally:
        stack.store.delete(key)
    assert status == 200 and data == case.data
    assert headers["Content-Type"] == "image/jpeg" and headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'self': no inline script
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_a_body_that_lies_about_its_type_is_415(address) -> None:
    png = next(c for c in CASES if c.name == "png_16_bit").data
    status, headers, body = request(address, "POST", "/api/search", png, {"Content-Type": "image/png"})
    answered(status, headers, body, {415})
    status, headers, body = request(
        address, "POST", "/api/search", json.dumps({"image": b64(png)}).encode(), JSON
    )
    answered(status, headers, body, OK)


@pytest.fixture
def ingestion(tmp_path: Path, stack) -> CatalogIngestion:
    """The configured pipeline (its real tiny models, tagger, rules and limits) over a bucket, catalog and
    index of this test's own, so the shared demo catalog is left as it is."""
    real = stack.catalog_ingestion
    return CatalogIngestion(
        FolderStore(tmp_path / "bucket", name="hostile"),
        SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}"),
        FaissIndex(None),
        real.detector,
        real.embedder,
        real.tagger,
        real.rules,
        max_image_bytes=real.max_image_bytes,
        max_image_pixels=real.max_image_pixels,
        duplicate_threshold=real.duplicate_threshold,
        batch_size=real.batch_size,
    )


def test_ingestion_indexes_or_rejects_every_hostile_file_with_a_reason(ingestion: CatalogIngestion) -> None:
    events, expected = [], {}
    for case in CASES:
        # under the name the file came with, and under a name that lies (every one claims to be a .jpg)
        for name in (case.filename, f"{case.name}-named.jpg"):
            key = f"products/HOSTILE-1/{name}"
            ingestion.store.put(key, case.data, case.content_type)
            events.append(ObjectEvent("hostile", key, "created", sequencer=f"{len(events) + 1:08X}"))
            expected[key] = case

    outcomes = ingestion.ingest(events)

    assert len(outcomes) == len(events)
    for outcome in outcomes:
        case = expected[outcome.key]
        assert not outcome.retry, f"{outcome.key} is left to retry: {outcome.reason}"
        if case.inline <= {400, 413, 415, 422}:  # refused by the API: refused by ingestion too
            assert outcome.status == "rejected", (outcome.key, outcome.status, outcome.reason)
        assert outcome.status in {"indexed", "rejected", "filtered", "duplicate"}, outcome
        if outcome.status != "indexed":
            assert outcome.reason.strip(), outcome
    by_key = {outcome.key: outcome for outcome in outcomes}
    for case in CASES:
        if case.inline == OK:  # a real photo, however odd, is never refused (tiny models see duplicates)
            outcome = by_key[f"products/HOSTILE-1/{case.filename}"]
            assert outcome.status in ("indexed", "filtered", "duplicate"), (case.name, outcome)
