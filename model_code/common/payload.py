"""Request and response framing shared by the image handlers.

Every image model accepts the same shapes — raw image bytes, ``{"image": b64, ...}`` or
``{"images": [b64, ...], ...}`` — so the parsing and its error messages live here once.
Errors carry ``status_code`` and ``message`` like :class:`common.imaging.ImageError`, which is what the
in-process adapter and the SageMaker toolkit turn into a 4xx answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from common.imaging import MAX_BYTES, b64decode_image

JSON_TYPE = "application/json"
RAW_IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "application/x-image", "application/octet-stream"}
)
MAX_BATCH = 64
"""Images per request: bounds a request's memory and latency; callers split larger batches."""


class InputError(ValueError):
    """A request we refuse (bad JSON, a missing field, an out-of-range option); 4xx with a message."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class ImageRequest:
    """Encoded images (not decoded yet: each handler decodes at the size it needs) and the other fields."""

    images: list[bytes]
    fields: dict[str, Any] = field(default_factory=dict)
    batch: bool = False


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json(body: bytes | str) -> dict[str, Any]:
    """A JSON object from the body, or an :class:`InputError` saying what is wrong with it."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InputError("body must be a JSON object")
    return value


def read_json(body: bytes | str, content_type: str | None) -> dict[str, Any]:
    """The JSON object of a body that must be JSON: 415 for any other content type, then :func:`parse_json`.

    For handlers that take no raw image (their images arrive base64 inside the JSON), so they all refuse
    the same way and with the same message.
    """
    if _media_type(content_type) != JSON_TYPE:
        raise InputError(f"unsupported content type {content_type!r}: send {JSON_TYPE}", 415)
    return parse_json(body)


def read_image_request(
    body: bytes | str, content_type: str | None, max_bytes: int = MAX_BYTES
) -> ImageRequest:
    """Raw image bytes (one image) or JSON with ``image`` or ``images`` (base64), as :class:`ImageRequest`."""
    media = _media_type(content_type)
    if isinstance(body, str):
        body = body.encode()
    if media in RAW_IMAGE_TYPES:
        return ImageRequest(images=[bytes(body)])
    if media != JSON_TYPE:
        raise InputError(f"unsupported content type {content_type!r}: send an image or {JSON_TYPE}", 415)
    fields = parse_json(body)
    if "image" in fields and "images" in fields:
        raise InputError("send either 'image' or 'images', not both")
    if "image" in fields:
        return ImageRequest(images=[b64decode_image(fields.pop("image"), max_bytes)], fields=fields)
    images = fields.pop("images", None)
    if not isinstance(images, list) or not images:
        raise InputError("JSON must have 'image' (base64) or 'images' (a non-empty list of base64)")
    if len(images) > MAX_BATCH:
        raise InputError(f"{len(images)} images in one request; the limit is {MAX_BATCH}", 413)
    decoded = [b64decode_image(item, max_bytes) for item in images]
    return ImageRequest(images=decoded, fields=fields, batch=True)


def number(fields: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    """An optional numeric option within ``[low, high]``."""
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"'{name}' must be a number")
    if not low <= value <= high:
        raise InputError(f"'{name}' must be between {low} and {high}, got {value}")
    return float(value)


def integer(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An optional integer option within ``[low, high]``."""
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"'{name}' must be an integer")
    if not low <= value <= high:
        raise InputError(f"'{name}' must be between {low} and {high}, got {value}")
    return value


def json_response(payload: dict[str, Any], accept: str | None) -> tuple[bytes, str]:
    """``(body, content_type)`` — the SageMaker toolkit's convention; only JSON is offered."""
    media = _media_type(accept)
    if media not in ("", "*/*", JSON_TYPE, "application/*"):
        raise InputError(f"cannot answer as {accept!r}; accept {JSON_TYPE}", 406)
    return json.dumps(payload, separators=(",", ":")).encode(), JSON_TYPE
