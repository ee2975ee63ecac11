"""Settings, read once from the environment and validated at start.

Nothing else in Vitrine reads ``os.environ``: every adapter gets what it needs from :class:`Settings`,
so a missing or invalid setting stops start-up with one line naming it, not a failure deep in a request.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vitrine.errors import ConfigError

MODEL_NAMES = ("grounding_dino", "dino_embed", "llava", "ranker", "blip2_attributes")
"""The five SageMaker models; each has a folder under ``model_code/``."""

ENV_PREFIX = "VITRINE_"


class Settings(BaseSettings):
    """Every setting Vitrine reads. Environment variable = ``VITRINE_`` + the field name in capitals."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    profile: Literal["local", "cloud"] = Field("local", description="local: embedded adapters; cloud: AWS")
    home: Path = Field(Path(".vitrine"), description="local state folder (catalog, index, objects, models)")
    model_profile: Literal["tiny", "local", "cloud"] = Field(
        "tiny",
        description="tiny: random offline models (wiring only); local: small real models; cloud: published",
    )
    model_code_dir: Path | None = Field(
        None, description="where model_code/ lives (default: found beside lambdas/)"
    )

    # Per-model weights: a folder (extracted artifact), or a hub id where a hub is reachable.
    grounding_dino_dir: str | None = Field(None, description="weights folder of GroundingDINO")
    dino_embed_dir: str | None = Field(None, description="weights folder of the DINO ViT embedder")
    llava_dir: str | None = Field(None, description="weights folder of LLaVA-NeXT (tagger, hotel classes)")
    ranker_dir: str | None = Field(None, description="weights folder of the cover ranker")
    blip2_attributes_dir: str | None = Field(None, description="weights folder of BLIP-2 (+ LoRA adapter)")

    # Cloud adapters.
    aws_region: str = Field("us-east-1", description="region of every AWS client (cloud)")
    bucket: str | None = Field(None, description="catalog bucket (cloud)")
    uploads_bucket: str | None = Field(None, description="bucket for shoppers' photo uploads (cloud)")
    catalog_url: str | None = Field(None, description="SQLAlchemy URL; local default: SQLite under home")
    db_secret_arn: str | None = Field(None, description="Secrets Manager secret with host/username/password")
    db_name: str = Field("vitrine", description="catalog database name on Aurora")
    opensearch_endpoint: str | None = Field(None, description="https://... of the OpenSearch domain (cloud)")
    opensearch_index: str = Field("vitrine-products", description="k-NN index of image vectors")
    embedding_dim: int = Field(384, gt=0, description="vector size of dino_embed (DINO ViT-S/16: 384)")
    endpoint_prefix: str = Field("vitrine", description="SageMaker endpoint names are <prefix>-<model>")
    endpoint_timeout_s: float = Field(30.0, gt=0, description="read timeout of model and AWS calls")
    bedrock_text_model_id: str = Field(
        "anthropic.claude-3-haiku-20240307-v1:0", description="Claude model that writes descriptions"
    )
    bedrock_tagger_model_id: str = Field(
        "anthropic.claude-3-haiku-20240307-v1:0",
        description="Claude model that tags images (VITRINE_TAGGER=bedrock)",
    )
    idempotency_table: str | None = Field(
        None, description="DynamoDB table guarding ingestion records (cloud)"
    )
    tagger: Literal["model", "bedrock", "off"] = Field(
        "model", description="model: the llava endpoint; bedrock: Claude; off: tag nothing (all images kept)"
    )

    # Visual search.
    detect_prompt: str = Field("clothes . pants . hats . shoes", description="GroundingDINO text prompt")
    box_threshold: float = Field(0.3, ge=0, le=1, description="GroundingDINO box score threshold")
    text_threshold: float = Field(0.25, ge=0, le=1, description="GroundingDINO text score threshold")
    match_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="cosine under which a hit is not confident (default: `vitrine calibrate`'s, else 0.35)",
    )
    duplicate_threshold: float = Field(
        0.985, ge=0, le=1, description="cosine above which an image is a near-duplicate"
    )
    max_image_bytes: int = Field(15 * 1024 * 1024, gt=0, description="largest photo accepted, in bytes")
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="largest photo accepted, in pixels (bombs refused)"
    )
    filter_rules: Path | None = Field(
        None, description="JSON rules for images not to index (default: built in)"
    )

    # Local server.
    port: int = Field(8000, gt=0, lt=65536, validation_alias="PORT", description="port of `vitrine serve`")

    @model_validator(mode="after")
    def _cloud_needs_its_resources(self) -> Settings:
        """A cloud profile without its bucket or index would fail on the first request: fail now instead."""
        if self.profile == "cloud":
            for name in ("bucket", "opensearch_endpoint"):
                if not getattr(self, name):
                    raise ValueError(f"{ENV_PREFIX}{name.upper()} is required when VITRINE_PROFILE=cloud")
            if not (self.catalog_url or self.db_secret_arn):
                raise ValueError(
                    f"{ENV_PREFIX}DB_SECRET_ARN or {ENV_PREFIX}CATALOG_URL is required when VITRINE_PROFILE=cloud"
                )
        return self

    def model_dir(self, model: str) -> str | None:
        """The configured weights of one model, or None when the profile's default applies."""
        return getattr(self, f"{model}_dir")

    def endpoint_name(self, model: str) -> str:
        """The SageMaker endpoint that serves ``model`` in the cloud profile."""
        return f"{self.endpoint_prefix}-{model.replace('_', '-')}"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    if loc:
        field = str(loc[0])
        name = "PORT" if field == "port" else f"{ENV_PREFIX}{field.upper()}"
        return f"invalid setting {name}: {first['msg']}"
    return f"invalid settings: {first['msg'].removeprefix('Value error, ')}"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` with a one-line message naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once (Lambda cold start, CLI start)."""
    return load_settings()
