"""Hotel cover scoring with the pairwise ranker: the SageMaker handler (also run in-process locally).

Request: ``{"text": "hotel name and description", "images": [b64, ...]}``.
Response: ``{"scores": [s, ...], "best": i}`` — scores only order the images of one hotel (the ranker was
trained on pairs of the same hotel), ``best`` is the argmax.
Batch: ``{"hotels": [{"text", "images"}, ...]}`` → ``{"results": [{"scores", "best"}, ...]}``; every
image of every hotel goes through the image encoder in shared batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.imaging import b64decode_image, decode, inspect
from common.payload import MAX_BATCH, InputError, json_response, read_json
from common.runtime import chunks, configure_torch, device, input_side

try:  # SageMaker: code/ (this folder, with model.py beside inference.py) is on sys.path
    from model import CoverRanker
except ModuleNotFoundError:  # in-process: model_code/ is on sys.path, this folder is the ranker package
    from ranker.model import CoverRanker

BATCH_SIZE = 16
MAX_HOTELS = 64
MAX_IMAGES = 256
"""Images in one request, all hotels together: bounds a request's memory and latency."""
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class Scorer:
    ranker: CoverRanker
    side: int


@dataclass(frozen=True)
class Hotel:
    text: str
    images: list[bytes]


@dataclass(frozen=True)
class Query:
    hotels: list[Hotel]
    batch: bool


@dataclass(frozen=True)
class Prediction:
    scores: list[list[float]]
    batch: bool


def model_fn(model_dir: str) -> Scorer:
    """Load the ranker folder (``image_encoder/``, ``text_encoder/``, head) written by ``save_pretrained``,
    on :func:`device` in float32 (the ranker is small; its scores need no half precision), whatever dtype the
    encoders were saved in."""
    import torch

    target = device()
    configure_torch(target)
    ranker = CoverRanker.from_pretrained(model_dir).to(device=target, dtype=torch.float32).eval()
    return Scorer(ranker=ranker, side=input_side(ranker.image_processor, 224))


def _hotel(value: Any, where: str) -> Hotel:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be an object with 'text' and 'images'")
    text, images = value.get("text"), value.get("images")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: 'text' must be a non-empty string (the hotel's name and description)")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: 'text' is over {MAX_TEXT_CHARS} characters")
    if not isinstance(images, list) or not images:
        raise InputError(f"{where}: 'images' must be a non-empty list of base64 images")
    if len(images) > MAX_BATCH:
        raise InputError(f"{where}: {len(images)} images; the limit per hotel is {MAX_BATCH}", 413)
    blobs = []
    for i, item in enumerate(images):
        try:
            blob = b64decode_image(item)
            inspect(blob)
        except ValueError as error:  # ImageError: keep its status, say which image it was
            raise type(error)(f"{where}: images[{i}]: {error.message}", error.status_code) from None
        blobs.append(blob)
    return Hotel(text=text, images=blobs)


def input_fn(body: bytes | str, content_type: str) -> Query:
    """One hotel, or ``{"hotels": [...]}``; images are checked from their headers only."""
    payload = read_json(body, content_type)
    if "hotels" not in payload:
        return Query(hotels=[_hotel(payload, "request")], batch=False)
    hotels = payload["hotels"]
    if not isinstance(hotels, list) or not hotels:
        raise InputError("'hotels' must be a non-empty list of {'text', 'images'}")
    if len(hotels) > MAX_HOTELS:
        raise InputError(f"{len(hotels)} hotels in one request; the limit is {MAX_HOTELS}", 413)
    parsed = [_hotel(hotel, f"hotels[{i}]") for i, hotel in enumerate(hotels)]
    total = sum(len(hotel.images) for hotel in parsed)
    if total > MAX_IMAGES:
        raise InputError(f"{total} images in one request; the limit is {MAX_IMAGES}", 413)
    return Query(hotels=parsed, batch=True)


def predict_fn(query: Query, scorer: Scorer) -> Prediction:
    """Every image through the image encoder ``BATCH_SIZE`` at a time, the texts in one pass, then the head,
    all on the ranker's device (its encode methods move their inputs); the scores come back to the CPU."""
    import torch

    ranker = scorer.ranker
    blobs = [blob for hotel in query.hotels for blob in hotel.images]
    with torch.inference_mode():
        image_vectors = torch.cat(
            [
                ranker.encode_images(ranker.pixels([decode(blob, target=scorer.side) for blob in batch]))
                for batch in chunks(blobs, BATCH_SIZE)
            ]
        )
        text_vectors = ranker.encode_text([hotel.text for hotel in query.hotels])
        owner = [h for h, hotel in enumerate(query.hotels) for _ in hotel.images]
        scores = ranker(text_vectors[torch.tensor(owner, device=text_vectors.device)], image_vectors)
    scores = scores.float().cpu()
    per_hotel = torch.split(scores, [len(hotel.images) for hotel in query.hotels])
    return Prediction(scores=[part.tolist() for part in per_hotel], batch=query.batch)


def _result(scores: list[float]) -> dict[str, Any]:
    shown = [round(s, 6) for s in scores]
    return {"scores": shown, "best": shown.index(max(shown))}  # ties go to the first, as the caller sees them


def output_fn(prediction: Prediction, accept: str) -> tuple[bytes, str]:
    """``{"scores", "best"}`` for one hotel, ``{"results": [...]}`` for a batch."""
    results = [_result(scores) for scores in prediction.scores]
    return json_response({"results": results} if prediction.batch else results[0], accept)
