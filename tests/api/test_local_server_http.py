"""`vitrine serve` over real HTTP on 127.0.0.1: the same API, the page, local objects and uploads."""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path

import pytest

from tests.api.test_api_lambda_handler import street_photo


@pytest.fixture(scope="module")
def server(local_server) -> tuple[str, int]:
    return local_server.address


def request(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    connection = http.client.HTTPConnection(*server, timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def test_health_over_http(server) -> None:
    status, headers, data = request(server, "GET", "/api/health")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(data)["profile"] == "local"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_page_is_served_and_paths_cannot_escape_it(server) -> None:
    status, headers, data = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"] == "text/html" and b"<html" in data.lower()
    assert request(server, "GET", "/../pyproject.toml")[0] == 404
    assert request(server, "GET", "/%2e%2e/pyproject.toml")[0] == 404


def test_multipart_search_and_catalog_images(server, demo_catalog: Path) -> None:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="street.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + street_photo(demo_catalog)
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="box"\r\n\r\n0,0,1,1\r\n--{boundary}--\r\n'
        ).encode()
    )
    status, _, data = request(
        server, "POST", "/api/search", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    answer = json.loads(data)
    assert status == 200 and answer["status"] == "results"
    status, headers, image = request(server, "GET", answer["results"][0]["image_url"])
    assert status == 200 and headers["Content-Type"].startswith("image/") and len(image) > 1000
    assert request(server, "GET", "/api/objects/products/nope.jpg")[0] == 404


def test_presigned_upload_flow(server, demo_catalog: Path) -> None:
    photo = street_photo(demo_catalog)
    grant = json.loads(
        request(
            server,
            "POST",
            "/api/uploads",
            json.dumps({"content_type": "image/jpeg", "size": len(photo)}).encode(),
            {"Content-Type": "application/json"},
        )[2]
    )
    assert grant["method"] == "PUT"
    assert request(server, "PUT", grant["url"], b"GIF89a", {"Content-Type": "image/gif"})[0] == 415
    assert request(server, "PUT", grant["url"], photo, {"Content-Type": "image/jpeg"})[0] == 204
    assert request(server, "PUT", grant["url"], photo, {"Content-Type": "image/jpeg"})[0] == 400  # used once
    status, _, data = request(
        server,
        "POST",
        "/api/search",
        json.dumps({"upload_key": grant["key"], "box": [0, 0, 1, 1]}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and json.loads(data)["status"] == "results"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_oversized_body_is_refused_before_reading(server, stack, method) -> None:
    connection = http.client.HTTPConnection(*server, timeout=30)
    connection.putrequest(method, "/api/search")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(stack.settings.limits.max_image_bytes * 2))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"] == "too_large"
    assert response.will_close  # one answer, then the connection ends: no second response behind it
    connection.close()
