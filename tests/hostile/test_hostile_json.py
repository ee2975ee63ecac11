"""Hostile JSON through the real local server: bad boxes, wrong types, unknown fields, deep nesting, bodies
and base64 strings far over the limits. Each is a 4xx whose JSON says why; none is a 5xx."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket

import pytest

from tests.hostile.client import JSON, answered, b64, post_json, request
from tests.hostile.files import encoded, photo

PHOTO = b64(encoded(photo(seed=9), "JPEG"))

BAD_BOXES = {
    "nan": b'{"image": "%s", "box": [NaN, 0, 1, 1]}',
    "infinity": b'{"image": "%s", "box": [0, 0, Infinity, 1]}',
    "overflowing_number": b'{"image": "%s", "box": [0, 0, 1e999, 1]}',
    "negative": b'{"image": "%s", "box": [-0.2, 0, 1, 1]}',
    "inverted": b'{"image": "%s", "box": [0.9, 0.9, 0.1, 0.1]}',
    "zero_area": b'{"image": "%s", "box": [0.5, 0, 0.5, 1]}',
    "five_numbers": b'{"image": "%s", "box": [0, 0, 1, 1, 1]}',
    "three_numbers": b'{"image": "%s", "box": [0, 0, 1]}',
    "empty": b'{"image": "%s", "box": []}',
    "strings": b'{"image": "%s", "box": ["0", "0", "one", "1"]}',
    "booleans": b'{"image": "%s", "box": [false, false, true, true]}',
    "nested": b'{"image": "%s", "box": [[0, 0], [1, 1]]}',
    "object": b'{"image": "%s", "box": {"x0": 0, "y0": 0, "x1": 1, "y1": 1}}',
}


@pytest.mark.parametrize("name", sorted(BAD_BOXES))
def test_bad_boxes_are_4xx(address, name: str) -> None:
    status, headers, body = post_json(address, "/api/search", BAD_BOXES[name] % PHOTO.encode())
    answer = answered(status, headers, body, {400, 422})
    assert "box" in answer["message"].lower(), answer


WRONG_TYPES = {
    "search": [
        {"image": 12345},
        {"image": ["aGVsbG8="]},
        {"image": {"data": PHOTO}},
        {"image": None, "upload_key": None},
        {"image": PHOTO, "k": "five"},
        {"image": PHOTO, "k": 2.5},
        {"image": PHOTO, "k": 0},
        {"image": PHOTO, "k": 10**30},
        {"image": PHOTO, "k": True},
        {"image": PHOTO, "category": 7},
        {"image": PHOTO, "category": "x" * 5000},
        {"upload_key": "../../etc/passwd"},
        {"upload_key": 42},
        {"image": PHOTO, "upload_key": "uploads/0123456789abcdef0123456789abcdef.jpg"},
        {"image": "not base64 at all!"},
        {"image": "data:image/jpeg;base64,////"},
        [],
        "just a string",
        None,
        12,
    ],
    "uploads": [
        {"content_type": 5, "size": 10},
        {"content_type": "image/jpeg", "size": -1},
        {"content_type": "image/jpeg", "size": "big"},
        {"content_type": "image/jpeg", "size": 10**40},
        {"content_type": "text/html", "size": 10},
        {"content_type": "image/jpeg"},
        {},
        [],
    ],
}


@pytest.mark.parametrize(
    ("route", "payload"), [(route, p) for route, payloads in WRONG_TYPES.items() for p in payloads], ids=repr
)
def test_wrong_types_are_4xx(address, route: str, payload) -> None:
    status, headers, body = post_json(address, f"/api/{route}", payload)
    answered(status, headers, body, {400, 404, 413, 415, 422})


@pytest.mark.parametrize(
    ("route", "payload"),
    [
        ("search", {"image": PHOTO, "categroy": "tops"}),  # a typo must not silently search everything
        ("search", {"image": PHOTO, "box": [0, 0, 1, 1], "__proto__": {"admin": True}}),
        ("uploads", {"content_type": "image/jpeg", "size": 10, "acl": "public-read"}),
    ],
    ids=["typo", "proto", "acl"],
)
def test_unknown_fields_are_422_naming_the_field(address, route: str, payload: dict) -> None:
    status, headers, body = post_json(address, f"/api/{route}", payload)
    answer = answered(status, headers, body, {422})
    unknown = next(k for k in payload if k not in ("image", "box", "content_type", "size"))
    assert unknown in answer["message"], answer


@pytest.mark.parametrize("depth", [500, 5000, 200_000])
@pytest.mark.parametrize("where", ["top", "box", "unknown_field"])
def test_deeply_nested_json_is_4xx(address, depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    body = {
        "top": nested,
        "box": f'{{"image": "{PHOTO}", "box": {nested}}}',
        "unknown_field": f'{{"image": "{PHOTO}", "extra": {nested}}}',
    }[where]
    status, headers, data = post_json(address, "/api/search", body.encode())
    answered(status, headers, data, {400, 413, 422})


def test_30_mb_body_is_413_before_it_is_read(address) -> None:
    """The server answers 413 as soon as it has the headers and closes; the client may still be sending."""
    head = (
        b"POST /api/search HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (30 * 1024 * 1024)
    )
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(30):
                sock.sendall(b"A" * (1024 * 1024))
        response = http.client.HTTPResponse(sock)
        response.begin()
        status, headers, data = response.status, dict(response.getheaders()), response.read()
    assert answered(status, headers, data, {413})["error"] == "too_large"


@pytest.mark.parametrize(("characters", "expected"), [(21_000_000, 413), (16_000_000, 415)])
def test_huge_base64_string_is_refused(address, characters: int, expected: int) -> None:
    """21 M characters: under the body limit, over the photo limit once decoded, so refused before it is
    decoded (413); 16 M: decodes to 12 MB of zeros, which is no image (415)."""
    status, headers, data = post_json(address, "/api/search", {"image": "A" * characters})
    answered(status, headers, data, {expected})


def test_json_with_a_lone_surrogate_and_nul_is_4xx(address) -> None:
    status, headers, data = post_json(
        address, "/api/search", b'{"image": "\\ud800\\u0000", "category": "\\udfff"}'
    )
    answered(status, headers, data, {400, 422})


def test_body_in_another_encoding_is_4xx(address) -> None:
    body = json.dumps({"image": PHOTO, "category": "café"}).encode("utf-16")
    status, headers, data = request(address, "POST", "/api/search", body, JSON)
    answered(status, headers, data, {400, 415, 422})


def test_declared_length_larger_than_the_body_does_not_hang_a_worker(address) -> None:
    connection = http.client.HTTPConnection(*address, timeout=30)
    connection.putrequest("POST", "/api/search")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", "100")
    connection.endheaders(b'{"image": ')
    connection.close()  # the client goes away mid-body
    status, _, _ = request(address, "GET", "/api/health")
    assert status == 200
