"""The API as Lambda runs it: API Gateway REST events into handlers.api.handler, over the real local stack
(tiny in-process models, SQLite catalog, FAISS index, folder bucket) with a small demo catalog ingested."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import jpeg


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def street_photo(demo_catalog: Path) -> bytes:
    truth = json.loads((demo_catalog / "street" / "truth.json").read_text())
    return (demo_catalog / "street" / truth["photos"][0]["file"]).read_bytes()


def test_health_names_profile_and_adapters(call) -> None:
    status, body, _ = call("GET", "/api/health")
    assert status == 200 and body["status"] == "ok"
    assert (body["profile"], body["model_profile"], body["tiny_models"]) == ("local", "tiny", True)
    assert body["adapters"]["catalog"] == "sqlite" and body["adapters"]["vector_index"] == "faiss-hnsw"
    assert body["catalog"]["products"] == 12 and body["index"]["vectors"] > 0


def test_openapi_lists_the_routes(call) -> None:
    status, body, _ = call("GET", "/api/openapi.json")
    assert status == 200
    assert {"/search", "/uploads", "/health", "/ops/ingest/report"} <= set(body["paths"])
    assert "post" in body["paths"]["/search"] and body["servers"][0]["url"] == "/api"


def test_swagger_ui_is_served(call) -> None:
    from handlers.api import handler
    from tests.api.conftest import rest_event
    from vitrine_dev.lambda_context import LocalContext

    response = handler(rest_event("GET", "/api/docs"), LocalContext())
    assert response["statusCode"] == 200 and "swagger" in response["body"].lower()


def test_whole_photo_box_returns_at_most_five_distinct_products_with_metadata(call, demo_catalog) -> None:
    status, body, _ = call(
        "POST", "/api/search", {"image": b64(street_photo(demo_catalog)), "box": [0, 0, 1, 1]}
    )
    assert status == 200 and body["status"] == "results"
    codes = [r["product_code"] for r in body["results"]]
    assert 1 <= len(codes) <= 5 and len(set(codes)) == len(codes)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    for result in body["results"]:
        assert result["product"]["name"] and result["product"]["price"] is not None
        assert result["image_url"].startswith("/api/objects/products/" + result["product_code"] + "/")
        assert isinstance(result["confident"], bool)


def test_search_without_box_detects_items(call, demo_catalog) -> None:
    # The tiny detector is built to find several items on a street photo (see modelkit.tiny.grounding_dino).
    status, body, _ = call("POST", "/api/search", {"image": b64(street_photo(demo_catalog))})
    assert status == 200 and body["status"] == "choose"
    assert len(body["boxes"]) >= 2 and "pick the one" in body["message"]
    assert all(0 <= v <= 1 for b in body["boxes"] for v in b["box"])
    scores = [b["score"] for b in body["boxes"]]
    assert scores == sorted(scores, reverse=True) and all(b["label"] for b in body["boxes"])


@pytest.mark.parametrize(
    ("body", "status", "error", "words"),
    [
        ({"image": b64(b"hello, this is a text file")}, 415, "bad_input", "JPEG"),
        ({"image": "%%% not base64 %%%"}, 400, "bad_input", "base64"),
        ({"image": b64(jpeg()), "box": [0.5, 0.5, 0.1, 0.1]}, 400, "bad_input", "box"),
        ({"image": b64(jpeg()), "k": 50}, 422, "bad_input", "k"),
        ({}, 422, "bad_input", "exactly one"),
        ({"upload_key": "../../etc/passwd"}, 400, "bad_input", "upload_key"),
        ({"upload_key": "uploads/" + "0" * 32 + ".jpg"}, 404, "not_found", "upload"),
    ],
)
def test_bad_requests_get_a_readable_4xx(call, body, status, error, words) -> None:
    got_status, got, _ = call("POST", "/api/search", body)
    assert (got_status, got["error"]) == (status, error)
    assert words.lower() in got["message"].lower() and "Traceback" not in got["message"]


def test_too_large_photo_is_413(call, stack) -> None:
    huge = "A" * (stack.settings.limits.max_image_bytes * 4 // 3 + 100)
    status, body, _ = call("POST", "/api/search", {"image": huge})
    assert status == 413 and body["error"] == "too_large"


def test_not_json_is_refused(call) -> None:
    status, body, _ = call("POST", "/api/search", "this is not json")
    assert 400 <= status < 500 and body["message"]


def test_upload_then_search_by_key(call, stack, demo_catalog) -> None:
    photo = street_photo(demo_catalog)
    status, grant, _ = call("POST", "/api/uploads", {"content_type": "image/jpeg", "size": len(photo)})
    assert status == 200 and grant["key"].startswith("uploads/") and grant["url"].endswith(grant["key"])
    stack.uploads.accept_upload(grant["key"], photo, "image/jpeg")  # what the browser's PUT does locally
    status, body, _ = call("POST", "/api/search", {"upload_key": grant["key"], "box": [0, 0, 1, 1]})
    assert status == 200 and body["status"] == "results"


@pytest.mark.parametrize(
    ("request_body", "status"),
    [({"content_type": "image/gif", "size": 10}, 400), ({"content_type": "image/png", "size": 10**9}, 413)],
)
def test_upload_refuses_other_types_and_huge_sizes(call, request_body, status) -> None:
    assert call("POST", "/api/uploads", request_body)[0] == status


def test_ingest_report_lists_outcomes(call, operator_token) -> None:
    signed_in = {"Authorization": f"Bearer {operator_token}"}
    status, body, _ = call(
        "GET", "/api/ops/ingest/report", query={"status": "indexed", "limit": "3"}, headers=signed_in
    )
    assert status == 200 and body["counts"]["indexed"] > 0
    assert len(body["items"]) == 3 and {i["status"] for i in body["items"]} == {"indexed"}
    assert call("GET", "/api/ops/ingest/report", query={"status": "bogus"}, headers=signed_in)[0] == 422
    assert call("GET", "/api/ingest/report")[0] == 404  # the old public path is gone


def test_model_failure_is_503_with_retry_hint_not_a_trace(call, stack, demo_catalog, monkeypatch) -> None:
    from vitrine.errors import Unavailable

    def down(*args, **kwargs):
        raise Unavailable("model dino_embed timed out")

    monkeypatch.setattr(stack.endpoints["dino_embed"], "invoke", down)
    status, body, response = call(
        "POST", "/api/search", {"image": b64(street_photo(demo_catalog)), "box": [0, 0, 1, 1]}
    )
    assert status == 503 and body == {"error": "unavailable", "message": "model dino_embed timed out"}
    assert response["multiValueHeaders"].get("Retry-After") or response["headers"].get("Retry-After")


def test_unknown_route_is_404(call) -> None:
    assert call("GET", "/api/nope")[0] == 404


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "image/jpeg"])
def test_body_that_is_not_json_is_415_in_lambda_too(content_type) -> None:
    from handlers.api import handler
    from tests.api.conftest import rest_event
    from vitrine_dev.lambda_context import LocalContext

    event = rest_event("POST", "/api/search", json.dumps({"image": b64(jpeg())}))
    event["headers"]["Content-Type"] = content_type
    response = handler(event, LocalContext())
    body = json.loads(response["body"])
    assert (
        response["statusCode"] == 415
        and body["error"] == "bad_input"
        and "application/json" in body["message"]
    )


def test_json_nested_100000_deep_is_400_in_lambda_too(call) -> None:
    status, body, _ = call("POST", "/api/search", "[" * 100_000 + "]" * 100_000)
    assert status == 400 and body == {"error": "bad_input", "message": "the JSON body is nested too deeply"}
    assert call("GET", "/api/health")[0] == 200  # and the next request is fine
