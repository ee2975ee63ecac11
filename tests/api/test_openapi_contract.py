"""``/api/openapi.json`` documents every answer: a response schema for each route's 200, each status the
route can return (with the API's error body), and the operator security on ``/ops`` routes. The statuses
the routes really answer (provoked here through the Lambda handler) must all be in the document."""

from __future__ import annotations

import base64
import json

import pytest

from tests.api.test_api_lambda_handler import street_photo
from tests.conftest import jpeg

EXPECTED: dict[tuple[str, str], set[int]] = {
    ("post", "/search"): {200, 400, 404, 413, 415, 422, 500, 503},
    ("post", "/uploads"): {200, 400, 413, 415, 422, 500, 503},
    ("get", "/health"): {200, 500, 503},
    ("get", "/ops/ingest/report"): {200, 401, 403, 422, 500, 503},
    ("get", "/products/{code}"): {200, 404, 422, 500, 503},
    ("post", "/products/{code}/ask"): {200, 400, 404, 415, 422, 429, 500, 503},
    ("post", "/ops/products/{code}/describe"): {200, 401, 403, 404, 422, 500, 503},
    ("get", "/hotels"): {200, 422, 500, 503},
    ("get", "/hotels/{hotel_id}"): {200, 404, 422, 500, 503},
    ("get", "/ops/hotels/{hotel_id}"): {200, 401, 403, 404, 422, 500, 503},
    ("put", "/ops/hotels/{hotel_id}/cover"): {200, 400, 401, 403, 404, 415, 422, 500, 503},
    ("delete", "/ops/hotels/{hotel_id}/cover"): {200, 401, 403, 404, 422, 500, 503},
    ("post", "/ops/hotels/{hotel_id}/rescore"): {200, 401, 403, 404, 422, 500, 503},
    ("post", "/ops/classify"): {200, 400, 401, 403, 413, 415, 422, 500, 503},
    ("get", "/search/text"): {200, 400, 422, 500, 503},
    ("get", "/products/{code}/similar"): {200, 404, 422, 500, 503},
}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def spec(call) -> dict:
    status, body, _ = call("GET", "/api/openapi.json")
    assert status == 200
    return body


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_route_is_in_the_table(spec) -> None:
    assert {(method, path) for method, path, _ in operations(spec)} == set(EXPECTED)


def test_every_route_has_a_200_schema_and_lists_each_status_it_can_return(spec) -> None:
    schemas = spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        assert {int(code) for code in responses} == EXPECTED[(method, path)], f"{method} {path}"
        ok = responses["200"]["content"]["application/json"]["schema"]
        refs = [ok.get("$ref")] if "$ref" in ok else [one["$ref"] for one in ok.get("oneOf", [])]
        assert refs and all(ref and ref.split("/")[-1] in schemas for ref in refs), f"{method} {path}: {ok}"
        for code, response in responses.items():
            assert response.get("description"), f"{method} {path} {code}"
            if code != "200" and not (path == "/health" and code == "503"):
                assert response["content"]["application/json"]["schema"] == ERROR_BODY, (
                    f"{method} {path} {code}"
                )


def test_response_models_are_typed_not_free_form(spec) -> None:
    schemas = spec["components"]["schemas"]
    search = spec["paths"]["/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert search["discriminator"]["propertyName"] == "status"
    assert set(search["discriminator"]["mapping"]) == {"no_object", "choose", "results"}
    assert schemas["IngestRecord"]["properties"]["status"] == {"$ref": "#/components/schemas/ImageStatus"}
    assert set(schemas["ImageStatus"]["enum"]) == {"indexed", "rejected", "filtered", "duplicate", "removed"}
    assert {"error", "message"} <= set(schemas["ErrorBody"]["required"])
    assert {"status", "profile", "tiny_models", "adapters"} <= set(schemas["HealthAnswer"]["properties"])


def test_operator_routes_declare_the_operator_scheme_and_shopper_routes_none(spec) -> None:
    assert spec["components"]["securitySchemes"]["operator"]["scheme"] == "bearer"
    for _, path, operation in operations(spec):
        if path.startswith("/ops/"):
            assert operation["security"] == [{"operator": []}], path
        else:
            assert not operation.get("security"), path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_statuses_the_routes_really_answer_are_documented(
    spec, call, stack, demo_catalog, operator_token, monkeypatch
) -> None:
    """Provoke each failure the routes know of; every status seen must be in the document for that route."""
    from handlers.api import handler
    from tests.api.conftest import rest_event
    from vitrine.errors import Unavailable
    from vitrine_dev.lambda_context import LocalContext

    def raw_call(method: str, path: str, body: str, content_type: str) -> int:
        event = rest_event(method, path, body)
        event["headers"]["Content-Type"] = content_type
        return handler(event, LocalContext())["statusCode"]

    seen: dict[tuple[str, str], set[int]] = {key: set() for key in EXPECTED}
    photo = b64(street_photo(demo_catalog))
    for body in (
        {"image": photo, "box": [0, 0, 1, 1]},
        {"image": "%%%"},
        {"upload_key": "uploads/" + "0" * 32 + ".jpg"},
        {"image": "A" * (stack.settings.limits.max_image_bytes * 4 // 3 + 100)},
        {"image": b64(b"plain text")},
        {"image": b64(jpeg()), "k": 99},
    ):
        seen[("post", "/search")].add(call("POST", "/api/search", body)[0])
    seen[("post", "/search")].add(
        raw_call("POST", "/api/search", "[" * 100_000 + "]" * 100_000, "application/json")
    )
    seen[("post", "/search")].add(raw_call("POST", "/api/search", json.dumps({"image": photo}), "text/plain"))
    for body in (
        {"content_type": "image/png", "size": 10},
        {"content_type": "image/gif", "size": 10},
        {"content_type": "image/png", "size": 10**10},
        {"size": 10},
    ):
        seen[("post", "/uploads")].add(call("POST", "/api/uploads", body)[0])
    seen[("post", "/uploads")].add(raw_call("POST", "/api/uploads", "{}", "application/octet-stream"))
    signed_in = {"Authorization": f"Bearer {operator_token}"}
    for query, headers in (({}, {}), ({}, signed_in), ({"limit": "0"}, signed_in)):
        seen[("get", "/ops/ingest/report")].add(
            call("GET", "/api/ops/ingest/report", None, query, headers)[0]
        )
    seen[("get", "/health")].add(call("GET", "/api/health")[0])

    def down(*args, **kwargs):
        raise Unavailable("the catalog is down")

    monkeypatch.setattr(stack.endpoints["dino_embed"], "invoke", down)
    seen[("post", "/search")].add(call("POST", "/api/search", {"image": photo, "box": [0, 0, 1, 1]})[0])
    monkeypatch.setattr(stack.catalog, "count_products", down)
    seen[("get", "/health")].add(call("GET", "/api/health")[0])

    assert seen[("post", "/search")] >= {200, 400, 404, 413, 415, 422, 503}
    assert seen[("get", "/ops/ingest/report")] == {200, 401, 422}
    for (method, path), statuses in seen.items():
        documented = {int(code) for code in spec["paths"][path][method]["responses"]}
        assert statuses <= documented, f"{method} {path} answered {statuses - documented}, not documented"
