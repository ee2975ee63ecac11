"""The cover ranker's client: a hotel's text and its photos in, one score per photo out.

The ranker endpoint (``model_code/ranker``) takes ``{"text", "images": [b64, ...]}`` and answers
``{"scores": [...], "best": i}``. Scores only order the photos of one hotel, and each is computed from its
own (text, photo) pair, so a large hotel is split into several requests — at most :data:`MAX_IMAGES` photos
(the handler's limit per hotel) and :data:`MAX_PAYLOAD_BYTES` of JSON each (SageMaker's real-time payload
limit is 6 MB) — and the scores joined, in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vitrine.errors import Unavailable
from vitrine.kernel.ports import ModelEndpoint
from vitrine.models.invoke import b64, expect_list, invoke_json

MAX_IMAGES = 64
MAX_PAYLOAD_BYTES = 5_000_000
MAX_TEXT_CHARS = 10_000
"""The text sent is cut here (the handler refuses over 20,000 characters; its tokenizer keeps far fewer)."""


class CoverRanker:
    """Scores a hotel's photos as covers against its text (higher is better, within one hotel)."""

    def __init__(
        self,
        endpoint: ModelEndpoint,
        max_images: int = MAX_IMAGES,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.max_images = max_images
        self.max_payload_bytes = max_payload_bytes

    def requests_for(self, text: str, images: Sequence[bytes]) -> list[list[int]]:
        """The photos' positions, grouped into requests within both limits (a photo over the byte limit
        on its own still gets a request: the endpoint's answer, a refusal, says why)."""
        groups: list[list[int]] = []
        size = 0
        base = len(text.encode()) + 64
        for position, image in enumerate(images):
            encoded = 4 * math.ceil(len(image) / 3) + 4
            if not groups or len(groups[-1]) >= self.max_images or size + encoded > self.max_payload_bytes:
                groups.append([])
                size = base
            groups[-1].append(position)
            size += encoded
        return groups

    def score(self, text: str, images: Sequence[bytes]) -> list[float]:
        """One score per photo, in order. :class:`~vitrine.errors.BadInput` when the endpoint refuses a
        photo, :class:`~vitrine.errors.Unavailable` when it is down or answers badly."""
        scores: list[float] = []
        text = text[:MAX_TEXT_CHARS]
        for group in self.requests_for(text, images):
            answer = invoke_json(self.endpoint, {"text": text, "images": [b64(images[p]) for p in group]})
            values = expect_list(answer, "scores", self.endpoint, len(group))
            try:
                numbers = [float(value) for value in values]
            except (TypeError, ValueError):
                numbers = [math.nan]
            if not all(math.isfinite(n) for n in numbers):
                raise Unavailable(f"model {self.name} answered scores that are not finite numbers")
            scores.extend(numbers)
        return scores
