"""What the discovery routes answer (``GET /search/text``, ``GET /products/{code}/similar``), as pydantic models:
the OpenAPI document is generated from them, as for every other route."""

from __future__ import annotations

from pydantic import BaseModel, Field

from vitrine.api.responses import ProductInfo


class DiscoveryResult(BaseModel):
    """One product found: its best-matching catalog photo and the match strength."""

    product_code: str
    score: float = Field(
        description="cosine similarity of the best photo: to the words (text search; dual-encoder cosines are "
        "small, about 0.1 to 0.4) or to the product's own photos (similar products)"
    )
    image_url: str | None = Field(description="the matching catalog photo (presigned on AWS)")
    product: ProductInfo


class AppliedFilters(BaseModel):
    """The filters the search applied (inside the k-NN query, then checked against the catalog)."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None


class TextSearchAnswer(BaseModel):
    """At most k distinct products for the words, best first."""

    query: str = Field(description="the words searched, whitespace collapsed")
    filters: AppliedFilters
    model: str = Field(description="the dual encoder whose space was searched")
    tiny_models: bool = Field(description="tiny random models: results are not meaningful")
    results: list[DiscoveryResult]
    timing_ms: dict[str, float] = Field(default_factory=dict)


class SimilarAnswer(BaseModel):
    """At most k other products whose photos are nearest this product's own (the product itself excluded)."""

    product_code: str
    photos_compared: int = Field(description="indexed photos of the product whose neighbours were looked up")
    results: list[DiscoveryResult]
