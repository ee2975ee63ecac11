"""The image embedder's client (DINO ViT): whole images or crops in, L2-normalised vectors out."""

from __future__ import annotations

from collections.abc import Sequence

from vitrine.kernel.ports import ModelEndpoint
from vitrine.kernel.types import Box
from vitrine.models.invoke import b64, expect_list, invoke_json


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
        vectors = expect_list(answer, "embeddings", self.endpoint, len(images))
        return [[float(v) for v in vector] for vector in vectors]
