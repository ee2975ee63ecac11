"""``hotels/{hotel_id}/hotel.json``: the hotel's text and facts, validated before they touch the catalog."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vitrine.errors import BadInput
from vitrine.hotels.domain import Hotel

MAX_HOTEL_JSON_BYTES = 256 * 1024
HOTEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Ids are folder names in the bucket and path segments of the API: plain characters only."""


class HotelDocument(BaseModel):
    """The fields we know; anything else (amenities, address...) is kept as ``extra``."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    hotel_id: str | None = None
    name: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=20_000)
    city: str = Field("", max_length=200)
    stars: float | None = Field(None, ge=0, le=7)


def check_hotel_id(hotel_id: str) -> str:
    if not HOTEL_ID.match(hotel_id):
        raise BadInput(
            f"hotel id {hotel_id[:140]!r} must be 1-128 letters, digits, '.', '_' or '-' (not first)"
        )
    return hotel_id


def parse_hotel(hotel_id: str, data: bytes) -> Hotel:
    """The hotel described by ``data``; :class:`BadInput` says what is wrong, in one line."""
    if len(data) > MAX_HOTEL_JSON_BYTES:
        raise BadInput(f"hotel.json is {len(data)} bytes; the limit is {MAX_HOTEL_JSON_BYTES}")
    try:
        raw: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadInput(f"hotel.json is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise BadInput("hotel.json must hold a JSON object")
    try:
        doc = HotelDocument.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise BadInput(f"hotel.json field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if doc.hotel_id and doc.hotel_id != hotel_id:
        raise BadInput(f"hotel.json says hotel_id {doc.hotel_id!r} but lies under hotels/{hotel_id}/")
    return Hotel(
        hotel_id=hotel_id,
        name=doc.name,
        description=doc.description,
        city=doc.city,
        stars=doc.stars,
        extra=dict(doc.model_extra or {}),
    )
