"""JSON over a model endpoint: what every typed model client shares."""

from __future__ import annotations

import base64
import json
from typing import Any

from vitrine.errors import Unavailable
from vitrine.kernel.ports import ModelEndpoint


def invoke_json(endpoint: ModelEndpoint, payload: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to a model and parse its JSON answer; an answer that is not a JSON object is a model fault."""
    raw = endpoint.invoke(json.dumps(payload).encode(), "application/json", "application/json")
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Unavailable(f"model {endpoint.name} returned a non-JSON answer") from None
    if not isinstance(answer, dict):
        raise Unavailable(f"model {endpoint.name} returned {type(answer).__name__}, not an object")
    return answer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def expect_list(answer: dict[str, Any], name: str, endpoint: ModelEndpoint, length: int) -> list[Any]:
    value = answer.get(name)
    if not isinstance(value, list) or len(value) != length:
        raise Unavailable(f"model {endpoint.name} answered without {length} {name!r}")
    return value
