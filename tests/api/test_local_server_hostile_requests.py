"""The real local server (waitress + the API Gateway adapter + the Lambda handler) against requests a
browser would never send: each is refused with a 4xx JSON answer that says why (or, for a stalled body, the
connection is closed by the timeout), and the server stays healthy after every one of them."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import STALL_TIMEOUT_S
from tests.api.test_api_lambda_handler import street_photo
from tests.conftest import jpeg

Address = tuple[str, int]


@pytest.fixture
def address(local_server) -> Iterator[Address]:
    """The server's address; after the test, the server must still answer /api/health with 200."""
    yield local_server.address
    status, _, body = request(local_server.address, "GET", "/api/health")
    assert status == 200 and json.loads(body)["status"] == "ok", "the server is not healthy after the test"


def request(address: Address, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw(address: Address, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is on a fresh connection; the one response that comes back."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def assert_refused(status: int, headers: dict[str, str], body: bytes, expected: int | None = None) -> dict:
    """A 4xx (``expected`` if given) whose body is the API's JSON error with a message."""
    assert 400 <= status < 500, (status, body[:300])
    if expected is not None:
        assert status == expected, (status, body[:300])
    assert headers["Content-Type"].startswith("application/json"), headers
    answer = json.loads(body)
    assert answer["error"] and answer["message"].strip() and "Traceback" not in answer["message"]
    return answer


# -- content types and JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/search", "text/plain", b'{"image": "aGVsbG8="}'),
        ("/api/search", "application/octet-stream", b"\x00\x01\x02"),
        ("/api/search", "image/jpeg", b"\xff\xd8\xff\xe0 not really"),
        ("/api/search", "application/xml", b"<search/>"),
        ("/api/uploads", "text/plain", b'{"content_type": "image/jpeg", "size": 10}'),
    ],
)
def test_wrong_content_type_is_415(address, path, content_type, body) -> None:
    status, headers, data = request(address, "POST", path, body, {"Content-Type": content_type})
    answer = assert_refused(status, headers, data, 415)
    assert "application/json" in answer["message"]


def test_json_nested_100000_deep_is_400(address) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    status, headers, data = request(
        address, "POST", "/api/search", deep, {"Content-Type": "application/json"}
    )
    assert "nested too deeply" in assert_refused(status, headers, data, 400)["message"]


def test_json_that_is_not_json_is_refused(address) -> None:
    status, headers, data = request(
        address, "POST", "/api/search", b"{nope", {"Content-Type": "application/json"}
    )
    assert_refused(status, headers, data, 422)


# -- multipart ---------------------------------------------------------------------------------------


def form(parts: list[tuple[bytes, bytes]], boundary: str) -> bytes:
    """A multipart body from (headers, payload) pairs."""
    out = b""
    for part_headers, payload in parts:
        out += f"--{boundary}\r\n".encode() + part_headers + b"\r\n\r\n" + payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def image_part(data: bytes) -> tuple[bytes, bytes]:
    return b'Content-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg', data


def field(name: str, value: bytes) -> tuple[bytes, bytes]:
    return f'Content-Disposition: form-data; name="{name}"'.encode(), value


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unknown field", "unknown form fields"),
        ("non-utf8 field", "not UTF-8"),
        ("k not a number", "k must be"),
        ("box not numbers", "box must be"),
        ("part without a name", "cannot be parsed"),
        ("image sent as text", "no 'image' file"),
        ("no parts at all", ""),
        ("no boundary", "cannot be parsed"),
        ("truncated", "cannot be parsed"),
    ],
)
def test_bad_multipart_forms_are_4xx(address, demo_catalog: Path, case: str, words: str) -> None:
    photo = street_photo(demo_catalog)
    boundary = uuid.uuid4().hex
    content_type = f"multipart/form-data; boundary={boundary}"
    bodies = {
        "unknown field": form([image_part(photo), field("colour", b"red")], boundary),
        "non-utf8 field": form([image_part(photo), field("category", b"\xff\xfe\xfa caf\xe9")], boundary),
        "k not a number": form([image_part(photo), field("k", b"five")], boundary),
        "box not numbers": form([image_part(photo), field("box", b"left,top,right,bottom")], boundary),
        "part without a name": form([(b"Content-Type: text/plain", b"hello")], boundary),
        "image sent as text": form([field("image", base64.b64encode(jpeg()))], boundary),
        "no parts at all": f"--{boundary}--\r\n".encode(),
        "no boundary": form([image_part(photo)], boundary),
        "truncated": form([image_part(photo)], boundary)[: len(photo) // 2],
    }
    if case == "no boundary":
        content_type = "multipart/form-data"
    status, headers, data = request(
        address, "POST", "/api/search", bodies[case], {"Content-Type": content_type}
    )
    answer = assert_refused(status, headers, data)
    assert words.lower() in answer["message"].lower()


def test_good_multipart_form_still_searches(address, demo_catalog: Path) -> None:
    boundary = uuid.uuid4().hex
    body = form(
        [image_part(street_photo(demo_catalog)), field("box", b"0,0,1,1"), field("k", b"3")], boundary
    )
    status, _, data = request(
        address, "POST", "/api/search", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    answer = json.loads(data)
    assert status == 200 and answer["status"] == "results" and 1 <= len(answer["results"]) <= 3


# -- HTTP framing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "10, 20"])
def test_bad_content_length_is_400(address, length: str) -> None:
    status, headers, data = raw(
        address,
        f"POST /api/search HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}".encode(),
    )
    assert "Content-Length" in assert_refused(status, headers, data, 400)["message"]
    assert headers.get("Connection", "").lower() == "close"


def test_garbage_request_line_is_400(address) -> None:
    assert_refused(*raw(address, b"NOT HTTP AT ALL\r\n\r\n"), 400)


def test_too_big_body_is_413_before_it_is_read(address, stack) -> None:
    connection = http.client.HTTPConnection(*address, timeout=30)
    connection.putrequest("POST", "/api/uploads")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(stack.settings.limits.max_image_bytes * 2))
    connection.endheaders()  # and no body: the answer must not wait for it
    response = connection.getresponse()
    answer = assert_refused(response.status, dict(response.getheaders()), response.read(), 413)
    assert answer["error"] == "too_large" and "MiB" in answer["message"]
    connection.close()


def test_stalled_body_is_closed_by_the_timeout_and_holds_no_worker(address, local_server) -> None:
    stalled = []
    started = time.monotonic()
    for _ in range(6):  # more than the server's worker threads
        sock = socket.create_connection(address, timeout=30)
        sock.sendall(
            b"POST /api/search HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"image": "'
        )
        stalled.append(sock)
    # While they stall, other requests are served: waitress reads bodies in its I/O loop, not in workers.
    status, _, _ = request(address, "GET", "/api/health")
    assert status == 200
    for sock in stalled:
        with contextlib.suppress(ConnectionResetError):  # closed by the server, with nothing sent
            assert sock.recv(1024) == b""
        sock.close()
    elapsed = time.monotonic() - started
    assert elapsed < min(30, STALL_TIMEOUT_S + 10), f"stalled connections were closed after {elapsed:.1f} s"


def test_chunked_body_is_parsed_as_the_body_not_as_the_next_request(address, demo_catalog: Path) -> None:
    payload = json.dumps(
        {"image": base64.b64encode(street_photo(demo_catalog)).decode(), "box": [0, 0, 1, 1]}
    )
    chunks = [payload[i : i + 7000].encode() for i in range(0, len(payload), 7000)]
    connection = http.client.HTTPConnection(*address, timeout=60)
    connection.request(
        "POST",
        "/api/search",
        body=iter(chunks),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200 and answer["status"] == "results"
    # The same connection carries on with the next request: the chunked body was consumed whole.
    connection.request("GET", "/api/health")
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["status"] == "ok"
    connection.close()


class _SharedStream(io.BufferedReader):
    """One buffered reader for several responses on one socket (a response closes its reader when done)."""

    def close(self) -> None:
        pass


class _Pipelined:
    """What ``http.client.HTTPResponse`` needs of a socket, handing every response the same reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.stream = _SharedStream(socket.SocketIO(sock, "rb"))

    def makefile(self, *args: object, **kwargs: object) -> _SharedStream:
        return self.stream


def test_pipelined_chunked_request_then_next_request(address) -> None:
    body = json.dumps({"content_type": "image/jpeg", "size": 1000}).encode()
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:9], body[9:]))
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(
            b"POST /api/uploads HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
            b"GET /api/health HTTP/1.1\r\nHost: local\r\n\r\n"
        )
        replies = _Pipelined(sock)
        answers = []
        for _ in range(2):
            response = http.client.HTTPResponse(replies)  # type: ignore[arg-type]
            response.begin()
            answers.append((response.status, json.loads(response.read())))
    (upload_status, grant), (health_status, health) = answers
    assert upload_status == 200 and grant["method"] == "PUT" and grant["key"].startswith("uploads/")
    assert health_status == 200 and health["status"] == "ok"


def test_bad_chunk_framing_is_400(address) -> None:
    status, headers, data = raw(
        address,
        b"POST /api/search HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    assert_refused(status, headers, data, 400)
