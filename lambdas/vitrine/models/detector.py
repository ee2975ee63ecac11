"""The detector's client (GroundingDINO): photos in, the catalog's item classes found in them out."""

from __future__ import annotations

from collections.abc import Sequence

from vitrine.errors import Unavailable
from vitrine.kernel.ports import ModelEndpoint
from vitrine.kernel.types import Detection
from vitrine.models.invoke import b64, expect_list, invoke_json


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
        results = expect_list(answer, "results", self.endpoint, len(images))
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
