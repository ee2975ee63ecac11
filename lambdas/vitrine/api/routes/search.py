"""The shopper's routes: ``POST /search`` and ``POST /uploads`` (a presigned upload for large photos)."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vitrine.api.responses import SEARCH_ANSWER, SearchAnswer, UploadGrant, documented
from vitrine.errors import BadInput, NotFound, TooLarge
from vitrine.kernel.types import Filters
from vitrine.search.discovery import MAX_QUERY_CHARS
from vitrine.search.visual_search import MAX_K
from vitrine.wiring import Services

UPLOAD_KEY = re.compile(r"^uploads/[0-9a-f]{32}\.(jpg|png|webp)$")
UPLOAD_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
metrics = Metrics(namespace="Vitrine", service="vitrine-api")
"""The API handler's namespace and service: these metrics share its set. Without a namespace, the 100th
value of a metric that was never flushed (metrics disabled, as ``vitrine serve`` runs) made Powertools
serialise it here and fail the request with a 500."""


STRICT = ConfigDict(extra="forbid", strict=True)
"""Request bodies: an unknown field (a typo such as ``categroy``) or a value of the wrong type (``true`` as
a coordinate, ``"5"`` as k) is a 422 that names it, never silently ignored or coerced."""


class SearchRequest(BaseModel):
    """A photo (inline base64, or the key of an upload) and optionally the item to match."""

    model_config = STRICT

    image: str | None = Field(None, description="base64 JPEG/PNG/WebP (a data: URI is accepted)")
    upload_key: str | None = Field(None, description="key returned by POST /api/uploads, instead of image")
    box: list[float] | None = Field(
        None, description="[x0, y0, x1, y1] in 0..1: skip detection, match this item"
    )
    category: str | None = Field(None, max_length=100, description="only products of this category")
    min_price: float | None = Field(None, ge=0, description="only products at this price or above")
    max_price: float | None = Field(None, ge=0, description="only products at this price or below")
    text: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="words that re-rank the photo's matches (`in navy`, `linen`): the dual encoder's order of "
        "the candidates is fused with the photo's",
    )
    k: int = Field(5, ge=1, le=MAX_K, description="how many products")

    @model_validator(mode="after")
    def _one_source(self) -> SearchRequest:
        if bool(self.image) == bool(self.upload_key):
            raise ValueError("send exactly one of 'image' (base64) or 'upload_key'")
        return self


class UploadRequest(BaseModel):
    model_config = STRICT

    content_type: str = Field(description="image/jpeg, image/png or image/webp")
    size: int = Field(gt=0, description="bytes the browser will upload")


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """The bytes of an inline image; refuses oversized payloads before decoding them."""
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise TooLarge(f"image is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("image is not valid base64") from None


def make_router(services: Services) -> Router:
    router = Router()
    limits = services.settings.limits

    @router.post(
        "/search",
        summary="Find the products most similar to an item in a photo",
        responses=documented(
            "`no_object`, `choose` (the items to pick from) or `results` (at most k products)",
            400,
            404,
            413,
            415,
            422,
            503,
        ),
    )
    def search(request: Annotated[SearchRequest, Body()]) -> SearchAnswer:
        if request.upload_key:
            if not UPLOAD_KEY.match(request.upload_key):
                raise BadInput("upload_key is not a key returned by POST /api/uploads")
            try:
                image = services.uploads.get(request.upload_key)
            except NotFound:
                raise NotFound("that upload does not exist or has expired; upload the photo again") from None
        else:
            image = decode_base64_image(request.image or "", limits.max_image_bytes)
        filters = Filters(min_price=request.min_price, max_price=request.max_price)
        searcher = services.refined_visual_search(filters, request.text)
        answer = searcher.search(image, request.box, request.category, request.k)
        metrics.add_metric(name=f"Search_{answer['status']}", unit=MetricUnit.Count, value=1)
        return SEARCH_ANSWER.validate_python(answer)

    @router.post(
        "/uploads",
        summary="Get a presigned upload for a photo too large to send inline",
        responses=documented("where and how to upload the photo", 400, 413, 415, 422, 503),
    )
    def uploads(request: Annotated[UploadRequest, Body()]) -> UploadGrant:
        extension = UPLOAD_TYPES.get(request.content_type)
        if extension is None:
            raise BadInput(f"content_type must be one of {', '.join(UPLOAD_TYPES)}")
        if request.size > limits.max_image_bytes:
            raise TooLarge(f"photo is larger than {limits.max_image_bytes // (1024 * 1024)} MiB")
        key = f"uploads/{uuid.uuid4().hex}.{extension}"
        return UploadGrant.model_validate(
            services.uploads.presign_upload(key, request.content_type, limits.max_image_bytes)
        )

    return router
