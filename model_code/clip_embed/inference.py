"""The dual encoder (CLIP or SigLIP): the SageMaker handler (also run in-process locally).

Photos and words go into one space, so a shopper's words find catalog photos. The weights' config decides the
family: ``model_type`` ``clip`` loads ``CLIPModel``, ``siglip`` loads ``SiglipModel``.

Request: raw image bytes, or JSON with any of ``{"image": b64, "box": [x0, y0, x1, y1]}`` /
``{"images": [b64, ...], "boxes": [box or null, ...]}`` (boxes optional, in 0..1) and ``{"text": "..."}`` /
``{"texts": ["...", ...]}``; images and texts may come in one request.
Response: ``{"image_embeddings": [[...]], "text_embeddings": [[...]], "dim": d, "model": name}`` (each key only
when asked for), every vector the projected embedding L2-normalised, so the index's inner product is the
cosine. ``model`` names the weights: vectors of different weights must never share an index field.
Batched: :data:`BATCH_SIZE` images or texts per forward pass, up to :data:`~common.payload.MAX_BATCH` each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.imaging import b64decode_image, crop, decode, inspect
from common.payload import (
    JSON_TYPE,
    MAX_BATCH,
    InputError,
    json_response,
    parse_json,
    read_image_request,
)
from common.runtime import chunks, configure_torch, device, dtype_for, input_side, on_device, to_model

BATCH_SIZE = 32
MAX_TEXT_CHARS = 1000
FAMILIES = ("clip", "siglip")


@dataclass(frozen=True)
class DualEncoder:
    """What ``model_fn`` loads."""

    model: Any
    tokenizer: Any
    image_processor: Any
    family: str
    name: str
    dim: int
    side: int
    max_tokens: int


@dataclass(frozen=True)
class Query:
    """Header-checked images with their optional boxes, and texts."""

    images: list[bytes] = field(default_factory=list)
    boxes: list[Sequence[float] | None] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Embeddings:
    image_vectors: list[list[float]] | None
    text_vectors: list[list[float]] | None
    dim: int
    model: str


def _model_name(config: Any, model_dir: str) -> str:
    """A stable name for the weights: set by our builders and training, else the hub id, else the shape."""
    named = getattr(config, "vitrine_model_name", None)
    if named:
        return str(named)
    if not Path(model_dir).exists():
        return model_dir
    vision = config.vision_config
    return f"{config.model_type}-{vision.hidden_size}d-{vision.num_hidden_layers}l-p{vision.patch_size}"


def model_fn(model_dir: str) -> DualEncoder:
    """Load weights, tokenizer and image processor with ``from_pretrained`` (artifact folder, local folder or
    hub id), on :func:`device` in float32 (vectors already in an index were made at that precision)."""
    target = device()
    configure_torch(target)
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, CLIPModel, SiglipModel

    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type not in FAMILIES:
        raise ValueError(f"clip_embed serves {' or '.join(FAMILIES)} weights, not {config.model_type!r}")
    model_class = CLIPModel if config.model_type == "clip" else SiglipModel
    model = model_class.from_pretrained(model_dir)
    image_processor = AutoImageProcessor.from_pretrained(model_dir)
    return DualEncoder(
        model=model.to(device=target, dtype=dtype_for(target)).eval(),
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        image_processor=image_processor,
        family=config.model_type,
        name=_model_name(config, model_dir),
        dim=int(getattr(config, "projection_dim", 0) or getattr(config.text_config, "projection_size", 0)),
        side=input_side(image_processor, default=224),
        max_tokens=int(config.text_config.max_position_embeddings),
    )


def _texts(fields: dict[str, Any]) -> list[str]:
    if "text" in fields and "texts" in fields:
        raise InputError("send either 'text' or 'texts', not both")
    if "text" in fields:
        texts = [fields["text"]]
    elif "texts" in fields:
        texts = fields["texts"]
        if not isinstance(texts, list) or not texts:
            raise InputError("'texts' must be a non-empty list of strings")
    else:
        return []
    if len(texts) > MAX_BATCH:
        raise InputError(f"{len(texts)} texts in one request; the limit is {MAX_BATCH}", 413)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"texts[{i}] must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"texts[{i}] is over {MAX_TEXT_CHARS} characters")
    return [" ".join(text.split()) for text in texts]


def _images(fields: dict[str, Any]) -> tuple[list[bytes], list[Sequence[float] | None]]:
    if "image" in fields and "images" in fields:
        raise InputError("send either 'image' or 'images', not both")
    if "image" in fields:
        return [b64decode_image(fields["image"])], [fields.get("box")]
    if "images" not in fields:
        return [], []
    images = fields["images"]
    if not isinstance(images, list) or not images:
        raise InputError("'images' must be a non-empty list of base64 images")
    if len(images) > MAX_BATCH:
        raise InputError(f"{len(images)} images in one request; the limit is {MAX_BATCH}", 413)
    boxes = fields.get("boxes", [None] * len(images))
    if not isinstance(boxes, list) or len(boxes) != len(images):
        raise InputError("'boxes' must be a list with one box (or null) per image")
    return [b64decode_image(item) for item in images], boxes


def input_fn(body: bytes | str, content_type: str) -> Query:
    """Validate the request: images from their headers, boxes one per image, texts non-empty and bounded."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != JSON_TYPE:
        request = read_image_request(body, content_type)  # a raw image (or a 415 for anything else)
        images, boxes, texts = request.images, [None], []
    else:
        fields = parse_json(body)
        images, boxes = _images(fields)
        texts = _texts(fields)
        if not images and not texts:
            raise InputError("JSON must have 'image'/'images' (base64) and/or 'text'/'texts'")
    for image in images:
        inspect(image)
    return Query(images=images, boxes=boxes, texts=texts)


def _draft_side(side: int, box: Sequence[float] | None) -> int:
    """How large to decode so that the crop still has ``side`` pixels on its smaller side."""
    if box is None:
        return side
    try:
        fraction = min(float(box[2]) - float(box[0]), float(box[3]) - float(box[1]))
    except (TypeError, ValueError, IndexError):
        return side
    return math.ceil(side / fraction) if 0 < fraction < 1 else side


def _pooled(output: Any) -> Any:
    """The projected embedding: transformers 5 returns it as ``pooler_output`` of a model output."""
    return output if hasattr(output, "dim") else output.pooler_output


def text_inputs(encoder: DualEncoder, texts: Sequence[str]) -> dict[str, Any]:
    """Token ids as each family was trained: CLIP pads to the longest text (with a mask), SigLIP always pads
    to its full length and takes no mask (its pooled token is the last position)."""
    if encoder.family == "siglip":
        tokens = encoder.tokenizer(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=encoder.max_tokens,
            return_tensors="pt",
        )
        return {"input_ids": tokens["input_ids"]}
    tokens = encoder.tokenizer(
        list(texts), padding=True, truncation=True, max_length=encoder.max_tokens, return_tensors="pt"
    )
    return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}


def embed_texts(encoder: DualEncoder, texts: Sequence[str]) -> Any:
    """Unit text vectors (a tensor on the model's device); what training and evaluation call too."""
    import torch

    inputs = on_device(text_inputs(encoder, texts), next(encoder.model.parameters()).device)
    features = _pooled(encoder.model.get_text_features(**inputs))
    return torch.nn.functional.normalize(features.float(), dim=-1)


def embed_pixels(encoder: DualEncoder, pixel_values: Any) -> Any:
    """Unit image vectors of processed pixels (a tensor on the model's device)."""
    import torch

    features = _pooled(encoder.model.get_image_features(pixel_values=pixel_values))
    return torch.nn.functional.normalize(features.float(), dim=-1)


def embed_images(encoder: DualEncoder, images: Sequence[Any]) -> Any:
    """Unit image vectors of PIL images through the endpoint's own image processor."""
    inputs = to_model(encoder.image_processor(images=list(images), return_tensors="pt"), encoder.model)
    return embed_pixels(encoder, inputs["pixel_values"])


def predict_fn(query: Query, encoder: DualEncoder) -> Embeddings:
    """Images and texts, ``BATCH_SIZE`` per forward pass on the model's device."""
    import torch

    image_vectors: list[list[float]] | None = None
    text_vectors: list[list[float]] | None = None
    with torch.inference_mode():
        if query.images:
            image_vectors = []
            for batch in chunks(list(zip(query.images, query.boxes, strict=True)), BATCH_SIZE):
                pictures = []
                for blob, box in batch:
                    picture = decode(blob, target=_draft_side(encoder.side, box))
                    pictures.append(picture if box is None else crop(picture, box))
                image_vectors.extend(embed_images(encoder, pictures).cpu().tolist())
        if query.texts:
            text_vectors = []
            for batch in chunks(query.texts, BATCH_SIZE):
                text_vectors.extend(embed_texts(encoder, batch).cpu().tolist())
    return Embeddings(image_vectors, text_vectors, dim=encoder.dim, model=encoder.name)


def output_fn(prediction: Embeddings, accept: str) -> tuple[bytes, str]:
    """``{"image_embeddings"?, "text_embeddings"?, "dim", "model"}``."""
    payload: dict[str, Any] = {"dim": prediction.dim, "model": prediction.model}
    if prediction.image_vectors is not None:
        payload["image_embeddings"] = prediction.image_vectors
    if prediction.text_vectors is not None:
        payload["text_embeddings"] = prediction.text_vectors
    return json_response(payload, accept)
