"""Settings, read once from the environment and validated at start.

Nothing else in Vitrine reads ``os.environ``: every adapter gets what it needs from :class:`Settings`,
so a missing or invalid setting stops start-up with one line naming it, not a failure deep in a request.

Settings come in groups, one per concern; each group reads its own environment prefix, so the names stay
short (``VITRINE_AWS_BUCKET``, ``VITRINE_SEARCH_BOX_THRESHOLD``) and :func:`environment` derives them for
the infrastructure, which never spells an environment name by hand.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vitrine.errors import ConfigError

MODEL_NAMES = ("grounding_dino", "dino_embed", "llava", "ranker", "blip2_attributes", "clip_embed")
"""The SageMaker models; each has a folder under ``model_code/``."""

ENV_PREFIX = "VITRINE_"
REPO_MODEL_CODE = Path(__file__).resolve().parents[2] / "model_code"


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"{ENV_PREFIX}{prefix}", extra="ignore", frozen=True)


class ModelSettings(BaseSettings):
    """Where each model's weights are (local) or which endpoint serves it (cloud)."""

    model_config = _group("")

    model_profile: Literal["tiny", "local", "cloud"] = Field(
        "tiny",
        description="tiny: random offline models (wiring only); local: small real models; cloud: published",
    )
    model_code_dir: Path | None = Field(
        None, description="where model_code/ lives (default: the one beside lambdas/)"
    )
    grounding_dino_dir: str | None = Field(None, description="weights folder of GroundingDINO")
    dino_embed_dir: str | None = Field(None, description="weights folder of the DINO ViT embedder")
    llava_dir: str | None = Field(None, description="weights folder of LLaVA-NeXT (tagger, hotel classes)")
    ranker_dir: str | None = Field(None, description="weights folder of the cover ranker")
    blip2_attributes_dir: str | None = Field(None, description="weights folder of BLIP-2 (+ LoRA adapter)")
    clip_embed_dir: str | None = Field(None, description="weights folder of the CLIP/SigLIP dual encoder")
    endpoint_prefix: str = Field("vitrine", description="SageMaker endpoint names are <prefix>-<model>")
    endpoint_timeout_s: float = Field(30.0, gt=0, description="read timeout of model and AWS calls")

    def model_dir(self, model: str) -> str | None:
        """The configured weights of one model, or None when the profile's default applies."""
        return getattr(self, f"{model}_dir")

    def endpoint_name(self, model: str) -> str:
        """The SageMaker endpoint that serves ``model`` in the cloud profile."""
        return f"{self.endpoint_prefix}-{model.replace('_', '-')}"

    def code_dir(self) -> Path:
        """The ``model_code/`` folder the in-process adapter loads handlers from."""
        folder = self.model_code_dir or REPO_MODEL_CODE
        if not (folder / "common" / "imaging.py").is_file():
            raise ConfigError(f"no model_code folder at {folder}: set VITRINE_MODEL_CODE_DIR")
        return folder


class AwsSettings(BaseSettings):
    """The cloud profile's resources; the CDK app writes these into every function's environment."""

    model_config = _group("AWS_")

    region: str = Field("us-east-1", description="region of every AWS client")
    bucket: str | None = Field(None, description="catalog bucket")
    uploads_bucket: str | None = Field(None, description="bucket for shoppers' photo uploads")
    db_secret_arn: str | None = Field(
        None, description="Secrets Manager secret (host/username/password) of this function's DB user"
    )
    db_name: str = Field("vitrine", description="catalog database name on Aurora")
    opensearch_endpoint: str | None = Field(None, description="https://... of the OpenSearch domain")
    opensearch_index: str = Field("vitrine-products", description="k-NN index of image vectors")
    idempotency_table: str | None = Field(None, description="DynamoDB table guarding ingestion events")
    bedrock_text_model_id: str = Field(
        "anthropic.claude-3-haiku-20240307-v1:0", description="Claude model that writes descriptions"
    )
    bedrock_tagger_model_id: str = Field(
        "anthropic.claude-3-haiku-20240307-v1:0",
        description="Claude model that tags images (VITRINE_INGEST_TAGGER=bedrock)",
    )


class SearchSettings(BaseSettings):
    """Visual search: detection thresholds, embedding size, the confidence threshold."""

    model_config = _group("SEARCH_")

    detect_prompt: str = Field("clothes . pants . hats . shoes", description="GroundingDINO text prompt")
    box_threshold: float = Field(0.3, ge=0, le=1, description="GroundingDINO box score threshold")
    text_threshold: float = Field(0.25, ge=0, le=1, description="GroundingDINO text score threshold")
    embedding_dim: int = Field(384, gt=0, description="vector size of dino_embed (DINO ViT-S/16: 384)")
    match_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="score under which a hit is not confident (default: `vitrine calibrate`'s, else 0.35)",
    )


class IngestSettings(BaseSettings):
    """Catalog ingestion: tagging, filtering, near-duplicates, batching."""

    model_config = _group("INGEST_")

    tagger: Literal["model", "bedrock", "off"] = Field(
        "model", description="model: the llava endpoint; bedrock: Claude; off: tag nothing (all images kept)"
    )
    filter_rules: Path | None = Field(
        None, description="JSON rules for images not to index (default: built in)"
    )
    duplicate_threshold: float = Field(
        0.985, ge=0, le=1, description="cosine above which an image is a near-duplicate"
    )
    batch_size: int = Field(16, ge=1, le=256, description="images per batched model call")


class HotelSettings(BaseSettings):
    """Hotel images: the label set, the classification requests, the debounced cover scoring."""

    model_config = _group("HOTELS_")

    labels: Path | None = Field(
        None, description="JSON label set (labels, synonyms, never-cover labels; default: built in)"
    )
    concurrency: int = Field(
        8, ge=1, le=64, description="classification requests in flight to the llava endpoint (vLLM batches)"
    )
    logprobs: bool = Field(True, description="ask the endpoint for token log-probabilities (confidence)")
    cover_quiet_s: float = Field(
        60.0, ge=0, description="a hotel is scored once its images and text have not changed for this long"
    )
    cover_max_wait_s: float = Field(
        900.0, gt=0, description="a changed hotel is scored after this long even if its images keep changing"
    )
    cover_max_hotels: int = Field(100, ge=1, le=10_000, description="hotels scored per sweep at most")
    cover_lease_s: float = Field(
        600.0, gt=0, description="how long a scoring run holds a hotel before another sweep may take it"
    )


class DescriptionSettings(BaseSettings):
    """Product descriptions: attribute schemas, the writer, the text check, shoppers' questions."""

    model_config = _group("DESCRIPTIONS_")

    schemas: Path | None = Field(
        None, description="folder of attribute schemas per category (JSON; default: built in)"
    )
    writer_model_id: str | None = Field(
        None, description="Claude model that writes descriptions (default: VITRINE_AWS_BEDROCK_TEXT_MODEL_ID)"
    )
    max_tokens: int = Field(400, ge=50, le=4096, description="most tokens the writer may write")
    temperature: float = Field(0.1, ge=0, le=1, description="writer sampling temperature")
    writer_attempts: int = Field(
        4, ge=1, le=10, description="Converse attempts per text (botocore retries with backoff and jitter)"
    )
    language: str = Field("en", pattern=r"^[a-z]{2}$", description="language of descriptions (ISO 639-1)")
    tone: str = Field("friendly, factual", max_length=100, description="tone the writer is asked for")
    min_chars: int = Field(40, ge=1, description="shortest description stored")
    max_chars: int = Field(1200, ge=100, description="longest description stored")
    banned_claims: list[str] | None = Field(
        None, description="JSON list of claims a description may not make (default: built in)"
    )
    at_ingest: bool = Field(True, description="describe products that need it right after ingestion")
    inline_limit: int = Field(16, ge=0, le=256, description="products described per ingestion batch at most")
    max_new_tokens: int = Field(20, ge=1, le=128, description="answer length of the attribute model")
    ask_max_chars: int = Field(300, ge=10, le=500, description="longest shopper question accepted")
    ask_per_minute: int = Field(
        10, ge=1, le=1000, description="questions per client per minute (per instance)"
    )

    def writer_model(self, aws: AwsSettings) -> str:
        return self.writer_model_id or aws.bedrock_text_model_id


class DiscoverySettings(BaseSettings):
    """Cross-modal discovery: search by words with the dual encoder (clip_embed), and its re-ranking."""

    model_config = _group("DISCOVERY_")

    text_search: bool | None = Field(
        None,
        description="ingest the dual encoder's vectors and answer GET /api/search/text (default: on in the "
        "local profile, off in the cloud one unless the CDK app's vitrine:textSearch is on)",
    )
    text_dim: int = Field(
        768, gt=0, description="vector size of clip_embed (CLIP ViT-L/14-336: 768): the OpenSearch text field"
    )
    rerank_pool: int = Field(
        4, ge=1, le=20, description="POST /api/search with `text`: image hits re-ranked per product asked for"
    )
    rerank_text_weight: float = Field(
        0.5, ge=0, le=1, description="weight of the words' cosines (scaled among the candidates) in the order"
    )

    def enabled(self, profile: str) -> bool:
        """Whether text search runs in ``profile`` (the setting, else on locally and off in the cloud)."""
        return self.text_search if self.text_search is not None else profile == "local"


class LimitSettings(BaseSettings):
    """What any untrusted image may be: refused before decoding when larger."""

    model_config = _group("LIMITS_")

    max_image_bytes: int = Field(15 * 1024 * 1024, gt=0, description="largest photo accepted, in bytes")
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="largest photo accepted, in pixels (bombs refused)"
    )


class Settings(BaseSettings):
    """Every setting Vitrine reads: the profile, the local home, and one group per concern."""

    model_config = _group("")

    profile: Literal["local", "cloud"] = Field("local", description="local: embedded adapters; cloud: AWS")
    home: Path = Field(Path(".vitrine"), description="local state folder (catalog, index, objects, models)")
    catalog_url: str | None = Field(None, description="SQLAlchemy URL; local default: SQLite under home")
    port: int = Field(8000, gt=0, lt=65536, validation_alias="PORT", description="port of `vitrine serve`")
    models: ModelSettings = Field(default_factory=ModelSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    hotels: HotelSettings = Field(default_factory=HotelSettings)
    descriptions: DescriptionSettings = Field(default_factory=DescriptionSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @model_validator(mode="after")
    def _cloud_needs_its_resources(self) -> Settings:
        """A cloud profile without its bucket or index would fail on the first request: fail now instead."""
        if self.profile == "cloud":
            for name in ("bucket", "opensearch_endpoint"):
                if not getattr(self.aws, name):
                    raise ValueError(f"{env_name('aws', name)} is required when VITRINE_PROFILE=cloud")
            if not (self.catalog_url or self.aws.db_secret_arn):
                raise ValueError(
                    f"{env_name('aws', 'db_secret_arn')} or VITRINE_CATALOG_URL is required when "
                    "VITRINE_PROFILE=cloud"
                )
        return self


GROUPS: dict[str, type[BaseSettings]] = {
    "models": ModelSettings,
    "aws": AwsSettings,
    "search": SearchSettings,
    "ingest": IngestSettings,
    "limits": LimitSettings,
    "hotels": HotelSettings,
    "descriptions": DescriptionSettings,
    "discovery": DiscoverySettings,
}


def env_name(group: str | None, field: str) -> str:
    """The environment variable of one setting (``group`` None: a top-level one such as ``profile``)."""
    if group is None:
        if field == "port":
            return "PORT"
        if field not in Settings.model_fields or field in GROUPS:
            raise KeyError(f"no top-level setting {field!r}")
        return f"{ENV_PREFIX}{field.upper()}"
    cls = GROUPS[group]
    if field not in cls.model_fields:
        raise KeyError(f"no setting {field!r} in group {group!r}")
    return f"{cls.model_config['env_prefix']}{field.upper()}"


def all_env_names() -> set[str]:
    """Every environment variable Vitrine reads (what an infra test checks functions against)."""
    names = {env_name(None, f) for f in Settings.model_fields if f not in GROUPS}
    return names | {env_name(g, f) for g, cls in GROUPS.items() for f in cls.model_fields}


def environment(values: dict[str, Any] | None = None, **groups: dict[str, Any]) -> dict[str, str]:
    """Environment variables for ``values`` (top-level settings) and per-group ``groups`` settings.

    ``environment({"profile": "cloud"}, aws={"bucket": name})`` → ``{"VITRINE_PROFILE": "cloud",
    "VITRINE_AWS_BUCKET": name}``. An unknown setting raises, so the infrastructure cannot write a name
    that Vitrine would ignore.
    """
    out = {env_name(None, k): str(v) for k, v in (values or {}).items()}
    for group, fields in groups.items():
        out.update({env_name(group, k): str(v) for k, v in fields.items()})
    return out


def _one_line(error: ValidationError, group: str | None = None) -> str:
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc") or ()]
    if loc and loc[0] in GROUPS and len(loc) > 1:
        group, loc = loc[0], loc[1:]
    if loc:
        try:
            name = env_name(group, loc[0])
        except KeyError:
            name = loc[0]
        return f"invalid setting {name}: {first['msg']}"
    return f"invalid settings: {first['msg'].removeprefix('Value error, ')}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` with a one-line message naming the setting.

    Overrides of a group are dicts (``load_settings(aws={"bucket": "b"})``); the group's other fields still
    come from the environment.
    """
    try:
        groups = {}
        for group, cls in GROUPS.items():
            try:
                groups[group] = cls(**overrides.pop(group, {}))
            except ValidationError as error:
                raise ConfigError(_one_line(error, group)) from None
        return Settings(**overrides, **groups)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once (Lambda cold start, CLI start)."""
    return load_settings()
