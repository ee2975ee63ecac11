"""DINO ViT image embeddings: the SageMaker handler (also run in-process locally).

Request: raw image bytes, or JSON ``{"image": b64, "box": [x0, y0, x1, y1]}`` (box optional, in 0..1) or
``{"images": [b64, ...], "boxes": [box or null, ...]}``.
Response: ``{"embeddings": [[...]], "dim": d, "model": name}`` — the CLS token of the last layer,
L2-normalised so that the index's inner product is the cosine. ``model`` names the weights, because vectors
of different weights must never share an index.

Accepts the DINO v1 layout (``ViTModel``, e.g. ViT-S/16) and ``Dinov2Model``, chosen by the config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.imaging import crop, decode, inspect
from common.payload import InputError, json_response, read_image_request
from common.runtime import chunks, configure_torch, device, dtype_for, input_side, to_model

BATCH_SIZE = 32


@dataclass(frozen=True)
class Embedder:
    """What ``model_fn`` loads."""

    model: Any
    image_processor: Any
    name: str
    dim: int
    side: int


@dataclass(frozen=True)
class Query:
    """Header-checked images and their optional crop boxes (validated against 0..1 when applied)."""

    images: list[bytes]
    boxes: list[Sequence[float] | None]


@dataclass(frozen=True)
class Embeddings:
    """The vectors and which weights made them (``output_fn`` does not see the model)."""

    vectors: list[list[float]]
    dim: int
    model: str


def _model_name(config: Any, model_dir: str) -> str:
    """A stable name for the weights: set by our builders and training, else the hub id, else the shape."""
    named = getattr(config, "vitrine_model_name", None)
    if named:
        return str(named)
    if not Path(model_dir).exists():
        return model_dir
    return f"{config.model_type}-{config.hidden_size}d-{config.num_hidden_layers}l-p{config.patch_size}"


def model_fn(model_dir: str) -> Embedder:
    """Load weights and image processor with ``from_pretrained`` (artifact folder, local folder or hub id),
    the weights on :func:`device` in float32 (vectors already in an index were made at that precision)."""
    target = device()
    configure_torch(target)
    from transformers import AutoConfig, AutoImageProcessor, Dinov2Model, ViTModel

    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type == "vit":
        model = ViTModel.from_pretrained(model_dir, add_pooling_layer=False)
    elif config.model_type == "dinov2":
        model = Dinov2Model.from_pretrained(model_dir)
    else:
        raise ValueError(f"dino_embed serves 'vit' or 'dinov2' weights, not {config.model_type!r}")
    image_processor = AutoImageProcessor.from_pretrained(model_dir)
    return Embedder(
        model=model.to(device=target, dtype=dtype_for(target)).eval(),
        image_processor=image_processor,
        name=_model_name(config, model_dir),
        dim=config.hidden_size,
        side=input_side(image_processor, default=224),
    )


def input_fn(body: bytes | str, content_type: str) -> Query:
    """Validate the request: images from their headers, boxes matched one to one with the images."""
    request = read_image_request(body, content_type)
    for image in request.images:
        inspect(image)
    if request.batch:
        boxes = request.fields.get("boxes", [None] * len(request.images))
        if not isinstance(boxes, list) or len(boxes) != len(request.images):
            raise InputError("'boxes' must be a list with one box (or null) per image")
    else:
        boxes = [request.fields.get("box")]
    return Query(images=request.images, boxes=boxes)


def _draft_side(side: int, box: Sequence[float] | None) -> int:
    """How large to decode so that the crop still has ``side`` pixels on its smaller side."""
    if box is None:
        return side
    try:
        fraction = min(float(box[2]) - float(box[0]), float(box[3]) - float(box[1]))
    except (TypeError, ValueError, IndexError):
        return side
    return math.ceil(side / fraction) if 0 < fraction < 1 else side


def _pixels(blob: bytes, box: Sequence[float] | None, side: int) -> Any:
    image = decode(blob, target=_draft_side(side, box))
    return image if box is None else crop(image, box)


def predict_fn(query: Query, embedder: Embedder) -> Embeddings:
    """One unit vector per image, ``BATCH_SIZE`` images per forward pass on the model's device."""
    import torch

    vectors: list[list[float]] = []
    pairs = list(zip(query.images, query.boxes, strict=True))
    for batch in chunks(pairs, BATCH_SIZE):
        images = [_pixels(blob, box, embedder.side) for blob, box in batch]
        inputs = to_model(embedder.image_processor(images=images, return_tensors="pt"), embedder.model)
        with torch.inference_mode():
            cls = embedder.model(pixel_values=inputs["pixel_values"]).last_hidden_state[:, 0]
        vectors.extend(torch.nn.functional.normalize(cls.float(), dim=-1).cpu().tolist())
    return Embeddings(vectors=vectors, dim=embedder.dim, model=embedder.name)


def output_fn(prediction: Embeddings, accept: str) -> tuple[bytes, str]:
    """``{"embeddings": [[...]], "dim": d, "model": name}``."""
    payload = {"embeddings": prediction.vectors, "dim": prediction.dim, "model": prediction.model}
    return json_response(payload, accept)
