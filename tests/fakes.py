"""Model endpoints that speak the real JSON contracts with controllable answers, for pipeline edge cases
(a model that refuses one image, one that is down). The real models are exercised in tests/api and
tests/model_code; these fakes let a test decide what the detector sees."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from vitrine.errors import BadInput, Unavailable


class JsonEndpoint:
    """A ModelEndpoint whose answer comes from ``answer(request) -> dict``; records every request."""

    def __init__(self, name: str, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.name = name
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.down = False

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        request = json.loads(body)
        self.requests.append(request)
        if self.down:
            raise Unavailable(f"model {self.name} timed out")
        return json.dumps(self.answer(request)).encode()


def vector_for(image_b64: str, dim: int = 128) -> list[float]:
    """Identical images → identical vectors; different images → unrelated ones."""
    seed = int(hashlib.sha256(base64.b64decode(image_b64)).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).normal(size=dim)
    return (vector / np.linalg.norm(vector)).tolist()


def embedder(refuse: bytes | None = None) -> JsonEndpoint:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        images = request["images"]
        if refuse is not None and base64.b64encode(refuse).decode() in images:
            raise BadInput("model refused an image")
        return {"embeddings": [vector_for(i) for i in images], "dim": 128, "model": "fake"}

    return JsonEndpoint("dino_embed", answer)


def detector(boxes: list[dict[str, Any]]) -> JsonEndpoint:
    return JsonEndpoint("grounding_dino", lambda r: {"results": [{"detections": boxes} for _ in r["images"]]})
