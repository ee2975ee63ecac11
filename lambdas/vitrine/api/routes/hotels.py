"""The travel site's hotel routes (public): ``GET /hotels`` (paged, by city) and ``GET /hotels/{hotel_id}``
(the hotel, its cover and its gallery in order). The answer models live here and in :mod:`.hotels_ops`."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from vitrine.api.responses import documented
from vitrine.errors import NotFound
from vitrine.hotels.domain import HotelImage, HotelImageStatus, HotelRecord
from vitrine.hotels.gallery import order_gallery
from vitrine.wiring import Services

MAX_PAGE = 100
HOTEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class HotelPhoto(BaseModel):
    """One photo of a hotel's gallery."""

    image_id: str
    url: str = Field(description="where a browser gets the photo (a presigned URL on AWS)")
    category: str = Field(description="one label of the label set")
    confidence: float | None = Field(
        description="how sure the classification is, 0..1 (answer probability x parse agreement)"
    )
    score: float | None = Field(
        description="the ranker's cover score; it only orders photos of this hotel. Null: not scored (a "
        "category that never makes a cover, or not scored yet)"
    )
    is_cover: bool


class HotelSummary(BaseModel):
    hotel_id: str
    name: str
    city: str
    stars: float | None
    cover: HotelPhoto | None = Field(description="null while the hotel has no classified photo")


class HotelPage(BaseModel):
    items: list[HotelSummary] = Field(description="hotels in id order")
    next_cursor: str | None = Field(description="send as `cursor` for the next page; null on the last page")


class HotelDetail(BaseModel):
    """A hotel as its ``hotel.json`` describes it, its cover, and its gallery in display order."""

    hotel_id: str
    name: str
    description: str
    city: str
    stars: float | None
    extra: dict[str, Any] = Field(description="the other fields of hotel.json")
    cover: HotelPhoto | None
    images: list[HotelPhoto] = Field(
        description="the cover first, then a category mix (no two photos of one category in a row while "
        "another category remains), best score first within a category"
    )


def gallery(services: Services, record: HotelRecord) -> list[HotelImage]:
    """The hotel's classified photos in display order."""
    images = services.hotels().list_images(record.hotel_id, status=HotelImageStatus.CLASSIFIED)
    cover = record.cover_image_id if any(i.image_id == record.cover_image_id for i in images) else None
    return order_gallery(images, cover)


def photo(services: Services, image: HotelImage, cover_id: str | None) -> HotelPhoto:
    return HotelPhoto(
        image_id=image.image_id,
        url=services.store.url_for(image.key),
        category=image.category,
        confidence=image.confidence,
        score=image.score,
        is_cover=image.image_id == cover_id,
    )


def hotel_detail(services: Services, record: HotelRecord) -> HotelDetail:
    photos = [photo(services, image, record.cover_image_id) for image in gallery(services, record)]
    hotel = record.hotel
    return HotelDetail(
        hotel_id=hotel.hotel_id,
        name=hotel.name,
        description=hotel.description,
        city=hotel.city,
        stars=hotel.stars,
        extra=hotel.extra,
        cover=next((p for p in photos if p.is_cover), None),
        images=photos,
    )


def make_router(services: Services) -> Router:
    router = Router()

    @router.get(
        "/hotels",
        summary="Hotels, paged in id order, optionally of one city, each with its cover",
        responses=documented("a page of hotels", 422, 503),
    )
    def list_hotels(
        city: Annotated[str | None, Query(max_length=200, description="only hotels of this city")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        cursor: Annotated[
            str | None, Query(max_length=128, description="`next_cursor` of the previous page")
        ] = None,
    ) -> HotelPage:
        records = services.hotels().list_hotels(city=city, limit=limit + 1, after=cursor)
        page, more = records[:limit], len(records) > limit
        covers = services.hotels().get_images([r.cover_image_id for r in page if r.cover_image_id])
        items = []
        for record in page:
            cover = covers.get(record.cover_image_id or "")
            live = cover is not None and cover.status == HotelImageStatus.CLASSIFIED
            items.append(
                HotelSummary(
                    hotel_id=record.hotel_id,
                    name=record.hotel.name,
                    city=record.hotel.city,
                    stars=record.hotel.stars,
                    cover=photo(services, cover, cover.image_id) if live and cover else None,
                )
            )
        return HotelPage(items=items, next_cursor=page[-1].hotel_id if more and page else None)

    @router.get(
        "/hotels/<hotel_id>",
        summary="A hotel, its cover and its gallery in display order",
        responses=documented("the hotel", 404, 422, 503),
    )
    def get_hotel(hotel_id: Annotated[str, Path(pattern=HOTEL_ID_PATTERN)]) -> HotelDetail:
        record = services.hotels().get_hotel(hotel_id)
        if record is None or not record.has_metadata:
            raise NotFound(f"no hotel {hotel_id}")
        return hotel_detail(services, record)

    return router
