"""How the hostile-input tests talk to the real local server, and the check every answer must pass: a 2xx
the page understands, or a 4xx JSON error that says why; never a 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.api.test_local_server_hostile_requests import assert_refused, request

Address = tuple[str, int]
JSON = {"Content-Type": "application/json"}

__all__ = ["JSON", "Address", "answered", "b64", "post_json", "request"]


def answered(status: int, headers: dict[str, str], body: bytes, allowed: set[int] | frozenset[int]) -> dict:
    """The answer's JSON, after checking it is one of ``allowed`` and, if a refusal, a readable one."""
    assert status in allowed, (status, body[:300])
    assert status < 500, (status, body[:300])
    if status >= 400:
        return assert_refused(status, headers, body)
    answer = json.loads(body) if body else {}
    if "status" in answer:
        assert answer["status"] in ("results", "choose", "no_object"), answer
    return answer


def post_json(address: Address, path: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(address, "POST", path, body, JSON)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
