"""The dual encoder's client (CLIP or SigLIP, ``model_code/clip_embed``): photos and words in one space.

The endpoint takes ``{"images": [b64, ...], "boxes": [...]}`` and/or ``{"texts": [...]}`` and answers
``{"image_embeddings": [[...]], "text_embeddings": [[...]], "dim": d, "model": name}``, every vector
L2-normalised. ``model`` names the weights: the index stores it beside each vector and refuses to mix models.
Batches larger than the handler's limit are split here; every part must come from the same model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.ports import ModelEndpoint
from vitrine.kernel.types import Box
from vitrine.models.invoke import b64, expect_list, invoke_json

MAX_BATCH = 64
"""Images or texts per request (the handler refuses more)."""
MAX_TEXT_CHARS = 500
"""The longest text sent (the handler refuses over 1,000 characters; its tokenizer keeps far fewer)."""


@dataclass(frozen=True)
class Encoded:
    """Unit vectors, in request order, and the model that made them."""

    vectors: list[list[float]]
    model: str


class DualEncoder:
    """Image vectors (whole photos or crops) and text vectors in the same space."""

    def __init__(self, endpoint: ModelEndpoint, max_batch: int = MAX_BATCH) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.max_batch = max_batch

    def embed_images(self, images: Sequence[bytes], boxes: Sequence[Box | None]) -> Encoded:
        """One vector per image, cropped to its box when given."""
        if len(images) != len(boxes):
            raise ValueError("one box (or None) per image")
        requests = [
            {
                "images": [b64(image) for image in images[start : start + self.max_batch]],
                "boxes": [list(b) if b else None for b in boxes[start : start + self.max_batch]],
            }
            for start in range(0, len(images), self.max_batch)
        ]
        return self._join(requests, "image_embeddings")

    def embed_texts(self, texts: Sequence[str]) -> Encoded:
        """One vector per text; a blank text is the caller's mistake (:class:`BadInput`)."""
        cleaned = [" ".join(text.split())[:MAX_TEXT_CHARS] for text in texts]
        if any(not text for text in cleaned):
            raise BadInput("a text to embed is empty")
        requests = [
            {"texts": cleaned[start : start + self.max_batch]}
            for start in range(0, len(cleaned), self.max_batch)
        ]
        return self._join(requests, "text_embeddings")

    def _join(self, requests: list[dict[str, Any]], key: str) -> Encoded:
        vectors: list[list[float]] = []
        models: set[str] = set()
        for payload in requests:
            count = len(payload.get("images") or payload.get("texts") or [])
            answer = invoke_json(self.endpoint, payload)
            part = expect_list(answer, key, self.endpoint, count)
            model = answer.get("model")
            if not isinstance(model, str) or not model:
                raise Unavailable(f"model {self.name} answered without naming its weights ('model')")
            models.add(model)
            vectors.extend(_unit(vector, self.name) for vector in part)
        if len(models) > 1:
            raise Unavailable(f"model {self.name} answered from several weights at once: {sorted(models)}")
        return Encoded(vectors=vectors, model=models.pop() if models else "")


def _unit(vector: Any, name: str) -> list[float]:
    """A finite vector of unit length (what the handler promises; the index's cosine depends on it)."""
    try:
        numbers = [float(v) for v in vector]
    except (TypeError, ValueError):
        numbers = []
    norm = math.sqrt(sum(v * v for v in numbers))
    if not numbers or not math.isfinite(norm) or abs(norm - 1.0) > 1e-3:
        raise Unavailable(f"model {name} answered a vector that is not a finite unit vector")
    return numbers
