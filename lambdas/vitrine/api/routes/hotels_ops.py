"""Operators' hotel routes, behind the operator identity (:mod:`vitrine.api.auth`):

- ``GET /ops/hotels/{hotel_id}``: the gallery with what the model answered, the cover's source, the pin, the
  rejected objects and why;
- ``PUT /ops/hotels/{hotel_id}/cover`` ``{"image_id"}`` pins a cover, ``DELETE`` unpins it (later scoring
  runs keep a pin until then);
- ``POST /ops/hotels/{hotel_id}/rescore`` scores the hotel now;
- ``POST /ops/classify`` ``{"image"}`` classifies one uploaded photo, to try the model out (nothing is stored).
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, Field

from common import imaging
from vitrine.api.auth import operator_only
from vitrine.api.responses import documented
from vitrine.api.routes.hotels import HOTEL_ID_PATTERN, HotelPhoto, gallery
from vitrine.api.routes.operations import OPERATOR_SECURITY
from vitrine.api.routes.search import decode_base64_image
from vitrine.errors import NotFound, Unavailable
from vitrine.hotels.domain import CoverSource, HotelImageStatus, HotelRecord
from vitrine.search.visual_search import imaging_error_to_domain
from vitrine.wiring import Services

HotelId = Annotated[str, Path(pattern=HOTEL_ID_PATTERN)]


class OpsPhoto(HotelPhoto):
    key: str
    raw_answer: str = Field(description="the model's answer, as it came")
    reason: str = Field(description="why the photo is labelled as it is when the model gave no answer")


class OpsObject(BaseModel):
    key: str
    status: HotelImageStatus
    reason: str
    updated_at: float = Field(description="seconds since the epoch")


class OpsHotelDetail(BaseModel):
    """A hotel as operators see it: the gallery in display order with the raw answers, the cover and why."""

    hotel_id: str
    name: str
    city: str
    has_metadata: bool = Field(description="false while only photos arrived (no hotel.json yet)")
    cover_image_id: str | None
    cover_source: CoverSource | None = Field(description="pinned, ranker, unscored or fallback")
    pinned_image_id: str | None
    scoring_pending: bool = Field(description="photos or text changed since the last scoring run")
    scored_at: float | None
    never_cover: list[str] = Field(description="categories that never make a cover (unless pinned)")
    images: list[OpsPhoto]
    rejected: list[OpsObject] = Field(description="objects of the hotel that were refused, and why")


class PinRequest(BaseModel):
    image_id: str = Field(min_length=1, max_length=64, description="a classified photo of this hotel")


class RescoreAnswer(BaseModel):
    status: Literal["scored", "failed"]
    reason: str
    scored: int = Field(description="photos the ranker scored")
    hotel: OpsHotelDetail


class ClassifyRequest(BaseModel):
    image: str = Field(description="base64 JPEG/PNG/WebP (a data: URI is accepted)")


class ClassifyAnswer(BaseModel):
    category: str = Field(description="one label of the label set")
    confidence: float
    matched: bool = Field(description="false: the answer named no label (or too many), so the fallback")
    raw_answer: str
    error: str | None = Field(description="why there is no answer (the model misbehaved)")
    labels: list[str] = Field(description="the label set asked about")


def ops_detail(services: Services, record: HotelRecord) -> OpsHotelDetail:
    images = gallery(services, record)
    objects = services.hotels().list_images(record.hotel_id, status=HotelImageStatus.REJECTED)
    return OpsHotelDetail(
        hotel_id=record.hotel_id,
        name=record.hotel.name,
        city=record.hotel.city,
        has_metadata=record.has_metadata,
        cover_image_id=record.cover_image_id,
        cover_source=record.cover_source,
        pinned_image_id=record.pinned_image_id,
        scoring_pending=record.dirty,
        scored_at=record.scored_at,
        never_cover=sorted(services.hotel_labels.never_cover),
        images=[
            OpsPhoto(
                image_id=image.image_id,
                url=services.store.url_for(image.key),
                category=image.category,
                confidence=image.confidence,
                score=image.score,
                is_cover=image.image_id == record.cover_image_id,
                key=image.key,
                raw_answer=image.raw_answer,
                reason=image.reason,
            )
            for image in images
        ],
        rejected=[
            OpsObject(key=o.key, status=o.status, reason=o.reason, updated_at=o.updated_at) for o in objects
        ],
    )


def make_router(services: Services) -> Router:
    router = Router()
    operator = operator_only(services.settings)
    ops = {"security": OPERATOR_SECURITY, "middlewares": [operator]}

    def record_of(hotel_id: str) -> HotelRecord:
        record = services.hotels().get_hotel(hotel_id)
        if record is None:
            raise NotFound(f"no hotel {hotel_id}")
        return record

    def set_pin(hotel_id: str, pin: str | None) -> OpsHotelDetail:
        record = services.hotels().update_cover(hotel_id, services.cover_scoring.choose, pin=pin)
        if record is None:
            raise NotFound(f"no hotel {hotel_id}")
        return ops_detail(services, record)

    @router.get(
        "/ops/hotels/<hotel_id>",
        summary="A hotel's gallery with the model's answers, the cover and why, and rejected objects",
        responses=documented("the hotel as operators see it", 401, 403, 404, 422, 503),
        **ops,
    )
    def get_hotel(hotel_id: HotelId) -> OpsHotelDetail:
        return ops_detail(services, record_of(hotel_id))

    @router.put(
        "/ops/hotels/<hotel_id>/cover",
        summary="Pin a cover: later scoring runs keep it until it is unpinned",
        responses=documented("the hotel with its pinned cover", 400, 401, 403, 404, 415, 422, 503),
        **ops,
    )
    def pin(hotel_id: HotelId, request: Annotated[PinRequest, Body()]) -> OpsHotelDetail:
        return set_pin(hotel_id, request.image_id)

    @router.delete(
        "/ops/hotels/<hotel_id>/cover",
        summary="Unpin the cover: the best-scored eligible photo is the cover again",
        responses=documented("the hotel with its chosen cover", 401, 403, 404, 422, 503),
        **ops,
    )
    def unpin(hotel_id: HotelId) -> OpsHotelDetail:
        return set_pin(hotel_id, None)

    @router.post(
        "/ops/hotels/<hotel_id>/rescore",
        summary="Score the hotel's photos against its text now and choose its cover",
        responses=documented("the run and the hotel after it", 401, 403, 404, 422, 503),
        **ops,
    )
    def rescore(hotel_id: HotelId) -> RescoreAnswer:
        record_of(hotel_id)
        run = services.cover_scoring.score_hotel(hotel_id, force=True)
        if run.status == "busy":
            raise Unavailable("a scoring run holds this hotel now; try again shortly", retry_after_s=10)
        if run.status == "gone":
            raise NotFound(f"no hotel {hotel_id}")
        return RescoreAnswer(
            status="scored" if run.status == "scored" else "failed",
            reason=run.reason,
            scored=run.scored,
            hotel=ops_detail(services, record_of(hotel_id)),
        )

    @router.post(
        "/ops/classify",
        summary="Classify one photo into the hotel label set (nothing is stored)",
        responses=documented("the label and the model's answer", 400, 401, 403, 413, 415, 422, 503),
        **ops,
    )
    def classify(request: Annotated[ClassifyRequest, Body()]) -> ClassifyAnswer:
        limits = services.settings.limits
        image = decode_base64_image(request.image, limits.max_image_bytes)
        try:
            mime = imaging.inspect(image, limits.max_image_bytes, limits.max_image_pixels)[0]
        except imaging.ImageError as error:
            raise imaging_error_to_domain(error) from None
        result = services.photo_classifier.classify_many([(image, mime)])[0]
        return ClassifyAnswer(
            category=result.label,
            confidence=result.confidence,
            matched=result.matched,
            raw_answer=result.raw_answer,
            error=result.error or None,
            labels=list(services.hotel_labels.labels),
        )

    return router
