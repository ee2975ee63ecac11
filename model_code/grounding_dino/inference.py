"""GroundingDINO open-vocabulary detector: the SageMaker handler (also run in-process locally).

Request: raw image bytes, or JSON ``{"image": b64, "prompt": "clothes . pants . hats . shoes",
"box_threshold": 0.3, "text_threshold": 0.25, "max_detections": 8}`` (``"images": [...]`` for a batch).
Response: ``{"detections": [{"box": [x0, y0, x1, y1], "score": s, "label": "shoes"}]}`` with boxes in 0..1,
best first; ``{"results": [{"detections": [...]}, ...]}`` for a batch.

Labels are prompt phrases, not decoded token soup: a query's score for a phrase is its best token's
probability, and its label is its best phrase. Class-agnostic NMS and a cap follow, because shoppers pick
from these boxes and overlapping near-duplicates are noise to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.imaging import decode, inspect
from common.payload import InputError, integer, json_response, number, read_image_request
from common.runtime import chunks, configure_torch, device, dtype_for, input_side, to_model

DEFAULT_PROMPT = "clothes . pants . hats . shoes"
BATCH_SIZE = 4
NMS_IOU = 0.5
MAX_PROMPT_CHARS = 1000


@dataclass(frozen=True)
class Detector:
    """What ``model_fn`` loads: the model, its processor, and the id of the phrase separator token."""

    model: Any
    processor: Any
    dot_id: int
    special_ids: frozenset[int]
    target_px: int


@dataclass(frozen=True)
class Query:
    """Header-checked images (decoded in ``predict_fn``, at the model's size) and the validated options."""

    images: list[bytes]
    prompt: str
    phrases: list[str]
    box_threshold: float
    text_threshold: float
    max_detections: int
    batch: bool


@dataclass(frozen=True)
class Prediction:
    """Detections per image, and whether the request was a batch (it shapes the response)."""

    results: list[list[dict[str, Any]]]
    batch: bool


def model_fn(model_dir: str) -> Detector:
    """Load weights and processor with ``from_pretrained`` (artifact folder, local folder or hub id), the
    weights on :func:`device` in float32: the score thresholds callers send were tuned at that precision."""
    target = device()
    configure_torch(target)
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    processor = AutoProcessor.from_pretrained(model_dir)
    model = GroundingDinoForObjectDetection.from_pretrained(model_dir)
    model = model.to(device=target, dtype=dtype_for(target)).eval()
    tokenizer = processor.tokenizer
    return Detector(
        model=model,
        processor=processor,
        dot_id=tokenizer.convert_tokens_to_ids("."),
        special_ids=frozenset(tokenizer.all_special_ids),
        target_px=input_side(processor.image_processor, default=800),
    )


def _phrases(prompt: Any) -> tuple[str, list[str]]:
    """GroundingDINO wants lower case phrases separated and ended by ' . '."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("'prompt' must be a non-empty string such as 'shoes . hats'")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"'prompt' is over {MAX_PROMPT_CHARS} characters")
    phrases = [part.strip() for part in prompt.lower().split(".") if part.strip()]
    if not phrases:
        raise InputError("'prompt' has no phrase: separate phrases with ' . '")
    return " . ".join(phrases) + " .", phrases


def input_fn(body: bytes | str, content_type: str) -> Query:
    """Validate the request; images are checked from their headers (type, size, pixel count) only."""
    request = read_image_request(body, content_type)
    prompt, phrases = _phrases(request.fields.get("prompt", DEFAULT_PROMPT))
    for image in request.images:
        inspect(image)
    return Query(
        images=request.images,
        prompt=prompt,
        phrases=phrases,
        box_threshold=number(request.fields, "box_threshold", 0.3, 0.0, 1.0),
        text_threshold=number(request.fields, "text_threshold", 0.25, 0.0, 1.0),
        max_detections=integer(request.fields, "max_detections", 8, 1, 100),
        batch=request.batch,
    )


def _phrase_of_token(input_ids: list[int], detector: Detector, count: int) -> list[int]:
    """For each token, the index of the prompt phrase it belongs to, or -1 for separators and specials."""
    owners, phrase = [], 0
    for token in input_ids:
        if token == detector.dot_id:
            owners.append(-1)
            phrase += 1
        elif token in detector.special_ids or phrase >= count:
            owners.append(-1)
        else:
            owners.append(phrase)
    return owners


def _nms(boxes: Any, scores: Any, iou: float, limit: int) -> list[int]:
    """Greedy class-agnostic non-maximum suppression (torchvision is not in our image), best first."""
    import torch

    order = torch.argsort(scores, descending=True)
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    kept: list[int] = []
    while order.numel() and len(kept) < limit:
        best = int(order[0])
        kept.append(best)
        rest = order[1:]
        top_left = torch.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = torch.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
        overlap = inter / (areas[best] + areas[rest] - inter).clamp(min=1e-9)
        order = rest[overlap <= iou]
    return kept


def _detections(logits: Any, pred_boxes: Any, owners: list[int], query: Query) -> list[dict[str, Any]]:
    """One image's detections: phrase scores, thresholds, boxes in 0..1, NMS and the cap."""
    import torch

    probs = logits[:, : len(owners)].sigmoid()
    columns = [[i for i, owner in enumerate(owners) if owner == p] for p in range(len(query.phrases))]
    per_phrase = torch.stack(
        [probs[:, cols].amax(dim=1) if cols else probs.new_zeros(len(probs)) for cols in columns], dim=1
    )
    phrase_scores, labels = per_phrase.max(dim=1)
    scores = probs.amax(dim=1)
    keep = (scores > query.box_threshold) & (phrase_scores > query.text_threshold)
    cx, cy, w, h = pred_boxes[keep].unbind(-1)
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).clamp(0.0, 1.0)
    scores, labels = scores[keep], labels[keep]
    return [
        {
            "box": [round(float(v), 4) for v in boxes[i]],
            "score": round(float(scores[i]), 4),
            "label": query.phrases[int(labels[i])],
        }
        for i in _nms(boxes, scores, NMS_IOU, query.max_detections)
    ]


def predict_fn(query: Query, detector: Detector) -> Prediction:
    """Detections per image, the images run in batches through one forward pass each on the model's
    device; logits and boxes come back to the CPU for the per-box work (thresholds, NMS, rounding)."""
    import torch

    results: list[list[dict[str, Any]]] = []
    for blobs in chunks(query.images, BATCH_SIZE):
        images = [decode(blob, target=detector.target_px) for blob in blobs]
        inputs = detector.processor(images=images, text=[query.prompt] * len(images), return_tensors="pt")
        limit = detector.model.config.max_text_len
        if inputs["input_ids"].shape[1] > limit:
            raise InputError(f"'prompt' is too long: the model reads {limit} tokens")
        owners = _phrase_of_token(inputs["input_ids"][0].tolist(), detector, len(query.phrases))
        with torch.inference_mode():
            outputs = detector.model(**to_model(inputs, detector.model))
        all_logits, all_boxes = outputs.logits.float().cpu(), outputs.pred_boxes.float().cpu()
        for logits, boxes in zip(all_logits, all_boxes, strict=True):
            results.append(_detections(logits, boxes, owners, query))
    return Prediction(results=results, batch=query.batch)


def output_fn(prediction: Prediction, accept: str) -> tuple[bytes, str]:
    """``{"detections": [...]}`` for one image, ``{"results": [...]}`` for a batch."""
    if not prediction.batch:
        return json_response({"detections": prediction.results[0]}, accept)
    return json_response({"results": [{"detections": d} for d in prediction.results]}, accept)
