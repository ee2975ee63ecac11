"""Deployment settings, read once from CDK context (``cdk.json`` or ``cdk deploy -c vitrine:KEY=VALUE``).

Every value a deployer may change lives here with its default, so the stacks never call ``try_get_context``
themselves and an invalid value stops ``cdk synth`` with one line naming the key. Values given on the command
line arrive as strings; JSON values (numbers, booleans, objects) are parsed so both spellings work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from constructs import Construct

MODEL_NAMES = ("grounding_dino", "dino_embed", "llava", "ranker", "blip2_attributes", "clip_embed")
"""The SageMaker models (same names as ``vitrine.config.MODEL_NAMES`` and ``model_code/<model>``)."""

DETECT_AND_EMBED = ("grounding_dino", "dino_embed")
"""Endpoints both search and ingestion call; ingestion adds llava when it is the tagger."""
CLASSIFY_MODELS = ("llava",)
"""What classifies a hotel photo (``vitrine.hotels.classify``: the chat VLM): the hotel job's classifiers and the
operators' ``POST /api/ops/classify``."""
COVER_MODELS = ("ranker",)
"""What scores a hotel's photos for its cover (``vitrine.hotels.covers``): the cover sweep and the operators'
``POST /api/ops/hotels/{hotel_id}/rescore``."""
ATTRIBUTE_MODELS = ("blip2_attributes",)
"""What reads a product photo's attributes and answers shoppers' questions (``vitrine.models.attribute_reader``)."""
TEXT_SEARCH_MODELS = ("clip_embed",)
"""The dual encoder (``vitrine.models.dual_encoder``): the API's search by words and re-ranking, and ingestion's
second vector per image, when ``vitrine:textSearch`` is on (:mod:`infra.discovery`)."""

JOBS = ("search", "catalog", "hotels", "descriptions")
"""The jobs a deployment can run (``vitrine:jobs``). ``search``: the shopper's visual search (the API calls
the detector and the embedder in real time). ``catalog``: catalog ingestion and its backfill (the ingestion
and backfill stacks; detector, embedder, and llava when it tags). ``hotels``: hotel photos classified on
arrival and in bulk, covers scored on a schedule (the hotels stack; llava and the ranker, which the operator
API calls too). ``descriptions``: product attributes read from the photo and a grounded description written by
Claude, at ingestion, on a schedule and in bulk (the descriptions stack; BLIP-2, which the public API's
questions call too). A model's endpoint exists only when an enabled job calls it (``ModelsStack.grant_invoke``);
a new job adds its name here with the stack that runs it."""
DEFAULT_JOBS = ("search", "catalog")
"""What a deployment runs when ``vitrine:jobs`` is not given (``cdk.json`` says the same): each further job adds
at least one always-on GPU endpoint, so it is asked for by name."""

BUCKET_KINDS = ("catalog", "uploads", "results")

PRODUCTS_PREFIX = "products/"
"""Catalog objects of the visual-search job: ingested on arrival, served to shoppers as result images."""
HOTELS_PREFIX = "hotels/"
"""Objects of the hotel job (``vitrine.hotels.classify.PREFIX``): classified on arrival, served as gallery photos."""

CALIBRATION_KEY = "config/search-calibration.json"
"""The search calibration ``vitrine calibrate`` writes to the catalog bucket and the API reads at cold start
(same key as ``vitrine.search.calibration.CALIBRATION_KEY``)."""

DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_INSTANCE_TYPES = {"llava": "ml.g5.2xlarge"}
PREFIX = "vitrine:"


class ContextError(ValueError):
    """A context value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class InfraConfig:
    """What the stacks need to know about one deployment. Defaults are sized for a pilot, not for idle cost 0."""

    region: str = "us-east-1"
    prefix: str = "vitrine"
    artifact_bucket: str | None = None
    model_artifacts: dict[str, str] | None = None
    instance_types: dict[str, str] | None = None
    endpoint_min_instances: int = 1
    endpoint_max_instances: int = 4
    artifact_digests: dict[str, str] | None = None
    jobs: tuple[str, ...] = DEFAULT_JOBS
    db_min_acu: float = 0.5
    db_max_acu: float = 8.0
    deletion_protection: bool = True
    search_instance_type: str = "r6g.large.search"
    search_data_nodes: int = 2
    search_master_nodes: int = 0
    search_volume_gb: int = 50
    embedding_dim: int = 384
    text_search: bool = False
    text_embedding_dim: int = 768
    tagger: str = "model"
    bedrock_text_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    bedrock_tagger_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    descriptions_writer_model_id: str | None = None
    backfill_prefix: str = "products/"
    backfill_batch_size: int = 20
    backfill_max_concurrency: int = 40
    backfill_tolerated_failure_percent: float = 5.0
    api_rate_limit: int = 50
    api_burst_limit: int = 100
    waf_requests_per_5min: int = 1000

    def __post_init__(self) -> None:
        """Refuse combinations that would only fail at deploy time, half an hour into ``cdk deploy``."""
        unknown = set(self.jobs) - set(JOBS)
        if unknown:
            raise ContextError(f"{PREFIX}jobs names unknown jobs {sorted(unknown)}; known: {list(JOBS)}")
        if self.text_search and "search" not in self.jobs:
            raise ContextError(f"{PREFIX}textSearch needs the search job: the API answers the words")
        for model, digest in (self.artifact_digests or {}).items():
            if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
                raise ContextError(
                    f"{PREFIX}artifactDigests.{model} must be the sha256 (64 hex digits) of its model.tar.gz"
                )
        if self.tagger not in ("model", "bedrock", "off"):
            raise ContextError(f"{PREFIX}tagger must be model, bedrock or off, not {self.tagger!r}")
        if self.search_data_nodes < 2 or self.search_data_nodes % 2:
            raise ContextError(f"{PREFIX}searchDataNodes must be even and >= 2 (zone awareness over two AZs)")
        if not 0 <= self.backfill_tolerated_failure_percent <= 100:
            raise ContextError(f"{PREFIX}backfillToleratedFailurePercent must be within 0..100")
        if self.endpoint_min_instances > self.endpoint_max_instances:
            raise ContextError(f"{PREFIX}endpointMinInstances exceeds {PREFIX}endpointMaxInstances")

    def instance_type(self, model: str) -> str:
        """The SageMaker instance type of one model: context first, then the built-in default."""
        configured = (self.instance_types or {}).get(model)
        return configured or DEFAULT_INSTANCE_TYPES.get(model, DEFAULT_INSTANCE_TYPE)

    def artifact_uri(self, model: str, default_bucket: str) -> str:
        """The ``model.tar.gz`` of one model: ``vitrine:modelArtifacts[model]``, else the documented layout."""
        configured = (self.model_artifacts or {}).get(model)
        if configured:
            if not configured.startswith("s3://"):
                raise ContextError(f"{PREFIX}modelArtifacts.{model} must be an s3:// URI, not {configured!r}")
            return configured
        return f"s3://{self.artifact_bucket or default_bucket}/models/{model}/model.tar.gz"

    def runs(self, job: str) -> bool:
        """Whether ``job`` (one of :data:`JOBS`) is deployed."""
        if job not in JOBS:
            raise KeyError(f"no job {job!r}")
        return job in self.jobs

    def writer_model_id(self) -> str:
        """The Claude model that writes product descriptions: ``vitrine:descriptionsWriterModelId``, else the
        text model (same fallback as ``vitrine.config.DescriptionSettings.writer_model``)."""
        return self.descriptions_writer_model_id or self.bedrock_text_model_id

    def bedrock_model_ids(self) -> tuple[str, ...]:
        """The Claude models deployed code calls (the tagger's, the descriptions writer's); none means no Bedrock
        runtime endpoint in the VPC."""
        models = []
        if self.runs("catalog") and self.tagger == "bedrock":
            models.append(self.bedrock_tagger_model_id)
        if self.runs("descriptions"):
            models.append(self.writer_model_id())
        return tuple(dict.fromkeys(models))

    def tagger_models(self) -> tuple[str, ...]:
        """The endpoints the image tagger calls (none when Bedrock tags or tagging is off)."""
        return ("llava",) if self.tagger == "model" else ()

    def bucket_name_template(self, kind: str) -> str:
        """The fixed, account-scoped name of the ``catalog``, ``uploads`` or ``results`` bucket, with
        ``{account}`` unfilled (see :mod:`infra.nag`). Fixed so other stacks build grants and ARNs from the name
        with no export between stacks; safe to retry because these buckets are retained except on a failed
        create (``RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE``)."""
        if kind not in BUCKET_KINDS:
            raise KeyError(f"no bucket kind {kind!r}")
        return f"{self.prefix}-{kind}-{{account}}-{self.region}"

    def function_role_name(self, function: str) -> str:
        """The fixed IAM role name of one Vitrine Lambda (``api``, ``ingest``, ``backfill``).

        Fixed so the data stack can map the role to an OpenSearch role before the function's stack exists;
        the region keeps deployments of one account in several regions apart (IAM names are global).
        """
        return f"{self.prefix}-{function}-{self.region}"

    def endpoint_name(self, model: str) -> str:
        """Same rule as ``vitrine.config.Settings.endpoint_name``: the Lambdas find endpoints by this name."""
        return f"{self.prefix}-{model.replace('_', '-')}"


_FIELDS = {
    "region": "region",
    "prefix": "prefix",
    "artifactBucket": "artifact_bucket",
    "modelArtifacts": "model_artifacts",
    "instanceTypes": "instance_types",
    "endpointMinInstances": "endpoint_min_instances",
    "endpointMaxInstances": "endpoint_max_instances",
    "artifactDigests": "artifact_digests",
    "jobs": "jobs",
    "dbMinCapacity": "db_min_acu",
    "dbMaxCapacity": "db_max_acu",
    "deletionProtection": "deletion_protection",
    "searchInstanceType": "search_instance_type",
    "searchDataNodes": "search_data_nodes",
    "searchMasterNodes": "search_master_nodes",
    "searchVolumeGb": "search_volume_gb",
    "embeddingDim": "embedding_dim",
    "textSearch": "text_search",
    "textEmbeddingDim": "text_embedding_dim",
    "tagger": "tagger",
    "bedrockTextModelId": "bedrock_text_model_id",
    "bedrockTaggerModelId": "bedrock_tagger_model_id",
    "descriptionsWriterModelId": "descriptions_writer_model_id",
    "backfillPrefix": "backfill_prefix",
    "backfillBatchSize": "backfill_batch_size",
    "backfillMaxConcurrency": "backfill_max_concurrency",
    "backfillToleratedFailurePercent": "backfill_tolerated_failure_percent",
    "apiRateLimit": "api_rate_limit",
    "apiBurstLimit": "api_burst_limit",
    "wafRequestsPer5Min": "waf_requests_per_5min",
}
"""Context key (after ``vitrine:``) → field. The deploy guide lists the same keys."""

_REMOVED = {
    "asyncModels": "an endpoint is asynchronous when the code that calls it is (ModelsStack.grant_invoke); "
    "a model no enabled job calls is not deployed at all (vitrine:jobs)",
}
"""Keys that no longer mean anything: given anyway, synth stops instead of silently ignoring them."""


def _coerce(key: str, raw: Any, default: Any) -> Any:
    """Give a context value the type of its default; strings from ``-c key=value`` are parsed as JSON first."""
    value = raw
    if isinstance(raw, str) and not isinstance(default, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError("expected true or false")
            return value
        if isinstance(default, int | float):
            return type(default)(value)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise TypeError("expected a JSON list")
            return tuple(str(item) for item in value)
        if key in ("modelArtifacts", "instanceTypes", "artifactDigests"):
            if not isinstance(value, dict):
                raise TypeError("expected a JSON object of model name to string")
            unknown = set(value) - set(MODEL_NAMES)
            if unknown:
                raise TypeError(f"unknown models {sorted(unknown)}")
            return {str(name): str(item) for name, item in value.items()}
        return str(value)
    except (TypeError, ValueError) as error:
        raise ContextError(f"invalid context {PREFIX}{key}: {error}") from None


def load_config(scope: Construct) -> InfraConfig:
    """Read every ``vitrine:*`` context value under ``scope`` into an :class:`InfraConfig`."""
    defaults = InfraConfig()
    values: dict[str, Any] = {}
    for key, why in _REMOVED.items():
        if scope.node.try_get_context(PREFIX + key) is not None:
            raise ContextError(f"context {PREFIX}{key} was removed: {why}")
    for key, field in _FIELDS.items():
        raw = scope.node.try_get_context(PREFIX + key)
        if raw is not None:
            values[field] = _coerce(key, raw, getattr(defaults, field))
    # The region must be concrete at synth: container images and Bedrock ARNs are chosen per region.
    values.setdefault("region", os.environ.get("CDK_DEFAULT_REGION") or defaults.region)
    return InfraConfig(**values)
