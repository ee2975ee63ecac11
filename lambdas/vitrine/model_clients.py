"""Typed clients over the raw model endpoints: they build the JSON the model handlers accept and check
what comes back, so pipelines deal in :class:`Detection` and vectors, never in payloads."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from vitrine.domain import Box, Detection
from vitrine.errors import Unavailable
from vitrine.ports import ModelEndpoint


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


def _field(answer: dict[str, Any], name: str, endpoint: ModelEndpoint, length: int) -> list[Any]:
    value = answer.get(name)
    if not isinstance(value, list) or len(value) != length:
        raise Unavailable(f"model {endpoint.name} answered without {length} {name!r}")
    return value


class Detector:
    """Open-vocabulary detection (GroundingDINO) of the catalog's item classes."""

    def __init__(
        self, endpoint: ModelEndpoint, prompt: str, box_threshold: float, text_threshold: float
    ) -> None:
        self.endpoint = endpoint
        self.prompt = prompt
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold

    def detect(self, images: Sequence[bytes]) -> list[list[Detection]]:
        """Detections per image, best first; one model call for the whole batch."""
        if not images:
            return []
        answer = invoke_json(
            self.endpoint,
            {
                "images": [b64(image) for image in images],
                "prompt": self.prompt,
                "box_threshold": self.box_threshold,
                "text_threshold": self.text_threshold,
            },
        )
        results = _field(answer, "results", self.endpoint, len(images))
        try:
            return [
                [
                    Detection(
                        box=tuple(float(v) for v in d["box"]), score=float(d["score"]), label=str(d["label"])
                    )
                    for d in result["detections"]
                ]
                for result in results
            ]
        except (KeyError, TypeError, ValueError):
            raise Unavailable(
                f"model {self.endpoint.name} answered detections of an unexpected shape"
            ) from None


class Embedder:
    """Image embeddings (DINO ViT, pooled CLS, L2-normalised) of whole images or normalised crops."""

    def __init__(self, endpoint: ModelEndpoint) -> None:
        self.endpoint = endpoint

    def embed(self, images: Sequence[bytes], boxes: Sequence[Box | None]) -> list[list[float]]:
        """One vector per image (cropped to its box when given); one model call for the whole batch."""
        if not images:
            return []
        answer = invoke_json(
            self.endpoint,
            {"images": [b64(image) for image in images], "boxes": [list(b) if b else None for b in boxes]},
        )
        vectors = _field(answer, "embeddings", self.endpoint, len(images))
        return [[float(v) for v in vector] for vector in vectors]
