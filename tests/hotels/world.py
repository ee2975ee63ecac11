"""A hotel world for pipeline tests: the real local adapters (folder bucket, SQLite hotel catalog) and
JSON-contract fakes of the two models, so each test decides what the models answer and counts the calls."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from tests.fakes import JsonEndpoint
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.hotels import SqlHotelCatalog
from vitrine.errors import BadInput
from vitrine.hotels.classify import HotelClassification, PhotoClassifier, image_id_for
from vitrine.hotels.covers import CoverScoring
from vitrine.hotels.labels import load_labels
from vitrine.kernel.events import ObjectEvent
from vitrine.models.chat_vlm import ChatVlm
from vitrine.models.cover_ranker import CoverRanker

BUCKET = "bucket"
LABELS = load_labels()


def photo(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48), kind: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, kind)
    return out.getvalue()


def png_bomb() -> bytes:
    """A PNG whose header claims 100000 × 100000 pixels, with a little real data after it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def _image_of(request: dict[str, Any]) -> bytes:
    url = request["messages"][-1]["content"][0]["image_url"]["url"]
    return base64.b64decode(url.split(",", 1)[1])


class Vlm(JsonEndpoint):
    """The llava endpoint's chat-completions contract (single and ``{"requests": [...]}``).

    ``answers`` maps an image's bytes to the answer text (default ``default``); ``refuse`` holds images the
    model answers 400 for; ``logprobs`` is attached to every choice when set."""

    def __init__(self) -> None:
        super().__init__("llava", self._answer)
        self.answers: dict[bytes, str] = {}
        self.default = "this is a photo of a Room."
        self.refuse: set[bytes] = set()
        self.logprobs: list[float] | None = None
        self.not_a_completion = False

    def _completion(self, request: dict[str, Any]) -> dict[str, Any]:
        image = _image_of(request)
        if image in self.refuse:
            raise BadInput("requests[0]: corrupt JPEG image")
        if self.not_a_completion:
            return {"generated_text": "Pool"}
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": self.answers.get(image, self.default)},
        }
        if self.logprobs is not None:
            choice["logprobs"] = {"content": [{"token": "t", "logprob": lp} for lp in self.logprobs]}
        return {"object": "chat.completion", "choices": [choice]}

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if "requests" in request:
            return {"responses": [self._completion(r) for r in request["requests"]]}
        return self._completion(request)

    def images_asked(self) -> int:
        return sum(len(r["requests"]) if "requests" in r else 1 for r in self.requests)


class Ranker(JsonEndpoint):
    """The ranker's ``{"text", "images"}`` contract; a photo's score is ``scores[bytes]`` (default: from its
    bytes' hash); ``refuse`` holds photos it answers 400 for."""

    def __init__(self) -> None:
        super().__init__("ranker", self._answer)
        self.scores: dict[bytes, float] = {}
        self.refuse: set[bytes] = set()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        images = [base64.b64decode(i) for i in request["images"]]
        if any(image in self.refuse for image in images):
            raise BadInput("images[0]: corrupt JPEG image")
        scores = [self.scores.get(i, int(hashlib.sha1(i).hexdigest()[:4], 16) / 65536) for i in images]
        return {"scores": scores, "best": scores.index(max(scores))}

    def images_scored(self) -> int:
        return sum(len(r["images"]) for r in self.requests)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, root: Path, *, batch_requests: bool = True) -> None:
        self.store = FolderStore(root / "bucket", name=BUCKET)
        self.hotels = SqlHotelCatalog(f"sqlite:///{root / 'catalog.db'}")
        self.vlm = Vlm()
        self.ranker = Ranker()
        self.clock = Clock()
        self.sequence = 0
        classifier = PhotoClassifier(ChatVlm(self.vlm, batch_requests=batch_requests, logprobs=True), LABELS)
        self.classification = HotelClassification(
            self.store,
            self.hotels,
            classifier,
            max_image_bytes=2_000_000,
            max_image_pixels=4_000_000,
            batch_size=4,
            clock=self.clock,
        )
        self.covers = CoverScoring(
            self.store,
            self.hotels,
            CoverRanker(self.ranker),
            LABELS,
            quiet_s=60,
            max_wait_s=900,
            lease_s=600,
            clock=self.clock,
        )

    def _sequencer(self) -> str:
        self.sequence += 1
        return f"{self.sequence:016X}"

    def put(self, key: str, data: bytes) -> ObjectEvent:
        info = self.store.put(key, data)
        return ObjectEvent(BUCKET, key, "created", self._sequencer(), info.etag.strip('"'), len(data))

    def hotel_json(self, hotel: str, **fields: Any) -> ObjectEvent:
        body = {
            "name": f"Hotel {hotel}",
            "description": "Sea view and a rooftop pool",
            "city": "Lisbon",
            **fields,
        }
        return self.put(f"hotels/{hotel}/hotel.json", json.dumps(body).encode())

    def remove(self, key: str) -> ObjectEvent:
        self.store.delete(key)
        return ObjectEvent(BUCKET, key, "removed", self._sequencer())

    def ingest(self, *events: ObjectEvent) -> dict[str, str]:
        return {o.key: o.status for o in self.classification.ingest(list(events))}

    def image(self, key: str):
        return self.hotels.get_image(image_id_for(BUCKET, key))

    def image_id(self, key: str) -> str:
        return image_id_for(BUCKET, key)
