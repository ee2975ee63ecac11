"""What the API answers, as pydantic models: the OpenAPI document is generated from these, and every route
returns one of them (never a bare dict), so the document and the answers cannot drift apart.

:func:`documented` builds a route's ``responses=`` table: the 200 (its schema comes from the route's return
type) and each error status the route can return, all with the one error body :class:`ErrorBody`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from vitrine.catalog.domain import ImageStatus


class ErrorBody(BaseModel):
    """Every refused or failed request: a machine-readable kind and a sentence for a person."""

    error: Literal[
        "bad_input", "too_large", "unauthorized", "forbidden", "not_found", "unavailable", "internal"
    ] = Field(description="what kind of failure")
    message: str = Field(description="a readable sentence (never a stack trace)")


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input: not valid base64, a bad box, JSON nested too deeply, ...",
    401: "No operator identity: send `Authorization: Bearer <token>` (local) or sign in (Cognito)",
    403: "Signed in, but not in the operators group",
    404: "Not found",
    413: "Too large: the photo or the request body is over the limit",
    415: "Unsupported media type: a body that is not JSON, or a file that is not JPEG/PNG/WebP",
    422: "The request does not match the schema (the message names the field)",
    500: "Unexpected error on our side (logged)",
    503: "A model endpoint, the index, the catalog or the store is unavailable; retry after `Retry-After`",
}


def documented(ok: str, *statuses: int) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: 200 described as ``ok`` (schema from the return type), then ``statuses``
    and 500 with :class:`ErrorBody`."""
    table: dict[int, OpenAPIResponse] = {200: {"description": ok}}
    for status in sorted({*statuses, 500}):
        table[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return table


# -- POST /search -----------------------------------------------------------------------------------


class DetectedItem(BaseModel):
    """An item the detector found: where (normalised box), how sure, and what."""

    box: list[float] = Field(min_length=4, max_length=4, description="[x0, y0, x1, y1] in 0..1")
    score: float
    label: str


class ProductInfo(BaseModel):
    """A catalog product as ``products/{code}/product.json`` describes it."""

    code: str
    name: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None
    currency: str = ""
    url: str = ""
    extra: dict[str, Any] | None = Field(None, description="other fields of product.json")


class SearchResult(BaseModel):
    """One similar product: its best-matching catalog image and the match strength."""

    product_code: str
    score: float = Field(description="cosine similarity of the best image of the product")
    confident: bool = Field(description="score at or above the calibrated match threshold")
    match: float | None = Field(
        None,
        description="calibrated match figure: the share of results at this score that were the right product "
        "on the labelled photos the search was calibrated on (null until `vitrine calibrate`)",
    )
    image_url: str | None = Field(description="the matching catalog image (presigned on AWS)")
    product: ProductInfo


class NoObjectAnswer(BaseModel):
    status: Literal["no_object"]
    message: str
    timing_ms: dict[str, float] = Field(default_factory=dict)


class ChooseAnswer(BaseModel):
    status: Literal["choose"]
    message: str
    boxes: list[DetectedItem] = Field(description="the items found, best first: send one back as `box`")
    timing_ms: dict[str, float] = Field(default_factory=dict)


class ResultsAnswer(BaseModel):
    status: Literal["results"]
    box: list[float] = Field(min_length=4, max_length=4, description="the area that was matched")
    confident: bool = Field(description="the best result is a confident match")
    results: list[SearchResult]
    timing_ms: dict[str, float] = Field(default_factory=dict)


SearchAnswer = Annotated[NoObjectAnswer | ChooseAnswer | ResultsAnswer, Field(discriminator="status")]
"""What ``POST /search`` answers: ``no_object``, ``choose`` (boxes to pick from) or ``results``."""
SEARCH_ANSWER: TypeAdapter[NoObjectAnswer | ChooseAnswer | ResultsAnswer] = TypeAdapter(SearchAnswer)


# -- POST /uploads ----------------------------------------------------------------------------------


class UploadGrant(BaseModel):
    """Where and how the browser uploads the photo: a PUT to the local server, or an S3 form POST."""

    url: str
    method: Literal["PUT", "POST"]
    key: str = Field(description="send this as `upload_key` to POST /api/search")
    fields: dict[str, str] = Field(description="form fields (S3 POST) or headers (PUT) to send with it")


# -- GET /health ------------------------------------------------------------------------------------


class MatchThreshold(BaseModel):
    value: float
    source: str = Field(description="the setting, the calibration, or the default")


class CatalogSize(BaseModel):
    products: int
    images: dict[ImageStatus, int]


class IndexSize(BaseModel):
    vectors: int


class HealthAnswer(BaseModel):
    """The profile, the adapters in use and the catalog size; ``degraded`` (503) when a store is down."""

    status: Literal["ok", "degraded"]
    version: str
    profile: Literal["local", "cloud"]
    model_profile: str
    tiny_models: bool = Field(description="tiny random models: results are not meaningful")
    demo_models: list[str] = Field(
        default_factory=list,
        description="models trained on the synthetic demo data by the project's own training code "
        "(`make demo-models`): their answers mean something on the demo shop, not on real photos",
    )
    model_provenance: dict[str, str] = Field(
        default_factory=dict,
        description="per model: tiny (random weights), demo (trained on synthetic data), weights (a folder "
        "of real weights) or endpoint (a SageMaker endpoint)",
    )
    adapters: dict[str, str]
    match_threshold: MatchThreshold
    catalog: CatalogSize | None = None
    index: IndexSize | None = None
    reason: str | None = Field(None, description="why the service is degraded")


# -- GET /ops/ingest/report -------------------------------------------------------------------------


class IngestRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    product_code: str
    status: ImageStatus
    reason: str
    updated_at: float = Field(description="seconds since the epoch")


class IngestReport(BaseModel):
    """Counts per status (zeros included) and the latest records, newest first."""

    counts: dict[ImageStatus, int]
    items: list[IngestRecord]
