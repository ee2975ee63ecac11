"""What the product routes answer (``GET /products/{code}``, ``POST /products/{code}/ask``,
``POST /ops/products/{code}/describe``), as pydantic models, and :func:`product_view`, which builds the
product view from the catalog and the description store."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from vitrine.api.responses import ProductInfo
from vitrine.catalog.domain import ImageStatus
from vitrine.descriptions.describe import best_photo
from vitrine.descriptions.domain import DescriptionStatus
from vitrine.descriptions.schema import SchemaSet
from vitrine.errors import NotFound
from vitrine.wiring import Services

MAX_PHOTOS = 8


class ProductPhoto(BaseModel):
    key: str
    url: str = Field(description="where a browser can GET it (presigned on AWS)")


class AttributeChip(BaseModel):
    """One attribute read from the product's photo."""

    name: str = Field(description="the attribute's key in the schema (`sleeve_length`)")
    label: str = Field(description="for people (`Sleeve length`)")
    value: str = Field(
        description="an allowed value, or `not visible` / `unknown` when the photo did not tell"
    )
    stated: bool = Field(description="false for `not visible` / `unknown`: never given to the writer")
    confidence: float = Field(ge=0, le=1, description="how clearly the answer named the value")
    raw: str = Field(description="the attribute model's own answer")


class DescriptionText(BaseModel):
    text: str
    writer: str = Field(description="the model that wrote it, or `offline (not AI-generated)`")
    ai_generated: bool
    language: str


class DescriptionProvenance(BaseModel):
    """Where the stored attributes and description come from."""

    attribute_model: str
    writer: str
    ai_generated: bool
    attributes_used: dict[str, str] = Field(description="the only attributes the writer was given")
    image_key: str = Field(description="the photo the attributes were read from")
    schema_name: str = Field(description="the category's attribute schema")
    language: str
    described_at: float = Field(description="seconds since the epoch")


class DescriptionState(BaseModel):
    """How the last attempt to describe the product ended."""

    status: DescriptionStatus
    reason: str
    attempted_at: float = Field(description="seconds since the epoch")


class ProductView(BaseModel):
    """A product with its photos, the attributes read from its main photo, its description and provenance."""

    product: ProductInfo
    photos: list[ProductPhoto] = Field(description="indexed catalog photos, the main one first")
    attributes: list[AttributeChip]
    description: DescriptionText | None = Field(description="null until a description passed the check")
    provenance: DescriptionProvenance | None
    state: DescriptionState | None = Field(description="null when describing was never attempted")
    tiny_models: bool = Field(description="tiny random models: attributes and answers are not meaningful")


class AskRequest(BaseModel):
    question: str = Field("", max_length=2000, description="a question about the product's photo")


class AskAnswer(BaseModel):
    question: str
    answer: str = Field(description="the attribute model's answer about the photo")
    model: str
    photo: ProductPhoto
    tiny_models: bool


class DescribeAnswer(BaseModel):
    """What describing did (`described` or `rejected`, with why) and the product as it is now."""

    status: Literal["described", "rejected", "pending", "skipped"]
    reason: str
    product: ProductView


def _label(schemas: SchemaSet, category: str, name: str) -> str:
    schema = schemas.for_category(category)
    known = {attribute.name: attribute.label for attribute in schema.attributes}
    return known.get(name, name.replace("_", " ").capitalize())


def product_view(services: Services, code: str) -> ProductView:
    """The product view of ``code``; :class:`NotFound` for a product the catalog does not have."""
    product = services.catalog.get_products([code]).get(code)
    if product is None:
        raise NotFound(f"there is no product {code}")
    images = services.catalog.list_images(status=ImageStatus.INDEXED, product_code=code, limit=100)
    main = best_photo(images)
    ordered = sorted(images, key=lambda image: (image is not main, image.key))[:MAX_PHOTOS]
    record = services.descriptions().get(code)
    schemas = services.product_describing.schemas
    attributes, description, provenance, state = [], None, None, None
    if record is not None:
        attributes = [
            AttributeChip(
                name=reading.name,
                label=_label(schemas, product.category, reading.name),
                value=reading.value,
                stated=reading.stated,
                confidence=reading.confidence,
                raw=reading.raw,
            )
            for reading in record.attributes
        ]
        p = record.provenance
        if p is not None:
            provenance = DescriptionProvenance(
                attribute_model=p.attribute_model,
                writer=p.writer,
                ai_generated=p.ai_generated,
                attributes_used=p.attributes_used,
                image_key=p.image_key,
                schema_name=p.schema,
                language=p.language,
                described_at=p.described_at,
            )
            if record.text is not None:
                description = DescriptionText(
                    text=record.text, writer=p.writer, ai_generated=p.ai_generated, language=p.language
                )
        state = DescriptionState(status=record.status, reason=record.reason, attempted_at=record.attempted_at)
    return ProductView(
        product=ProductInfo.model_validate(product.to_dict()),
        photos=[ProductPhoto(key=i.key, url=services.store.url_for(i.key)) for i in ordered],
        attributes=attributes,
        description=description,
        provenance=provenance,
        state=state,
        tiny_models=services.tiny_models,
    )
