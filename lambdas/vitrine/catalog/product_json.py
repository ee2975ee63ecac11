"""``products/{code}/product.json``: the operator's product metadata, validated before it touches the catalog."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vitrine.catalog.domain import Product
from vitrine.errors import BadInput

MAX_PRODUCT_JSON_BYTES = 256 * 1024


class ProductDocument(BaseModel):
    """The fields we know; anything else is kept as ``extra`` (colour, fabric, fit...)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    code: str | None = None
    name: str = Field("", max_length=500)
    brand: str = Field("", max_length=200)
    category: str = Field("", max_length=100)
    price: float | None = Field(None, ge=0)
    currency: str = Field("", max_length=3)
    url: str = Field("", max_length=2000)

    @field_validator("category")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


def parse_product(code: str, data: bytes) -> Product:
    """The product described by ``data``; :class:`BadInput` says what is wrong, in one line."""
    if len(data) > MAX_PRODUCT_JSON_BYTES:
        raise BadInput(f"product.json is {len(data)} bytes; the limit is {MAX_PRODUCT_JSON_BYTES}")
    try:
        raw: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(f"product.json is not valid JSON: {error}") from None
    except RecursionError:
        raise BadInput("product.json is nested too deeply") from None
    if not isinstance(raw, dict):
        raise BadInput("product.json must hold a JSON object")
    try:
        doc = ProductDocument.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise BadInput(f"product.json field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if doc.code and doc.code != code:
        raise BadInput(f"product.json says code {doc.code!r} but lies under products/{code}/")
    return Product(
        code=code,
        name=doc.name,
        brand=doc.brand,
        category=doc.category,
        price=doc.price,
        currency=doc.currency.upper(),
        url=doc.url,
        extra=dict(doc.model_extra or {}),
    )
