"""The one place that builds adapters from settings. Handlers, the local server and the CLI ask this
module for :class:`Services`; nothing else decides between local and cloud."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vitrine.calibration import DEFAULT_THRESHOLD
from vitrine.calibration import load as load_calibration
from vitrine.config import MODEL_NAMES, Settings, settings
from vitrine.errors import ConfigError
from vitrine.filtering import FilterRule, load_rules
from vitrine.model_clients import Detector, Embedder
from vitrine.pipelines.catalog_ingest import CatalogIngestion
from vitrine.pipelines.visual_search import VisualSearch
from vitrine.ports import (
    Catalog,
    EventGuard,
    ImageTagger,
    ModelEndpoint,
    ObjectStore,
    TextWriter,
    VectorIndex,
)


@dataclass
class Services:
    """Adapters for one profile, plus the pipelines built from them. Built once per process."""

    settings: Settings
    store: ObjectStore
    uploads: ObjectStore
    catalog: Catalog
    index: VectorIndex
    endpoints: dict[str, ModelEndpoint]
    tagger: ImageTagger | None
    writer: TextWriter
    rules: list[FilterRule]
    adapters: dict[str, str]
    tiny_models: bool = False
    event_guard: EventGuard | None = None

    @cached_property
    def detector(self) -> Detector:
        s = self.settings
        return Detector(self.endpoints["grounding_dino"], s.detect_prompt, s.box_threshold, s.text_threshold)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.endpoints["dino_embed"])

    @cached_property
    def catalog_ingestion(self) -> CatalogIngestion:
        s = self.settings
        return CatalogIngestion(
            self.store,
            self.catalog,
            self.index,
            self.detector,
            self.embedder,
            self.tagger,
            self.rules,
            max_image_bytes=s.max_image_bytes,
            max_image_pixels=s.max_image_pixels,
            duplicate_threshold=s.duplicate_threshold,
        )

    @cached_property
    def match_threshold(self) -> tuple[float, str]:
        """The confidence threshold and where it comes from: the setting, the calibration, or the default."""
        if self.settings.match_threshold is not None:
            return self.settings.match_threshold, "VITRINE_MATCH_THRESHOLD"
        calibration = load_calibration(self.store)
        if calibration:
            return calibration.threshold, f"calibrated on {calibration.samples} labelled items"
        return DEFAULT_THRESHOLD, "default (run `vitrine calibrate`)"

    @cached_property
    def visual_search(self) -> VisualSearch:
        s = self.settings
        return VisualSearch(
            self.store,
            self.catalog,
            self.index,
            self.detector,
            self.embedder,
            match_threshold=self.match_threshold[0],
            max_image_bytes=s.max_image_bytes,
            max_image_pixels=s.max_image_pixels,
        )

    def persist(self) -> None:
        """Save local state that lives in memory (the FAISS index) after a batch of writes."""
        save = getattr(self.index, "save", None)
        if callable(save):
            save()

    def warm(self) -> None:
        """Load every in-process model now, so the first shopper does not wait for it."""
        for endpoint in self.endpoints.values():
            load = getattr(endpoint, "load", None)
            if callable(load):
                load()


def _local(s: Settings) -> Services:
    from vitrine.adapters.faiss_index import FaissIndex
    from vitrine.adapters.folder_store import FolderStore
    from vitrine.adapters.inprocess_endpoint import InProcessEndpoint
    from vitrine.adapters.offline_writer import OfflineWriter
    from vitrine.adapters.sql_catalog import SqlCatalog

    home = s.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    from vitrine.modelkit import model_code_dir
    from vitrine.modelkit.tiny import is_tiny

    code_dir = s.model_code_dir or model_code_dir()
    dirs = local_model_dirs(s)
    endpoints: dict[str, ModelEndpoint] = {m: InProcessEndpoint(m, code_dir, d) for m, d in dirs.items()}
    catalog_url = s.catalog_url or f"sqlite:///{home / 'catalog.db'}"
    tiny = any(is_tiny(Path(d)) for d in dirs.values())
    tagger, tagger_name = _tagger(s, endpoints)
    return Services(
        settings=s,
        store=FolderStore(home / "bucket", name="bucket"),
        uploads=FolderStore(home / "uploads", name="uploads"),
        catalog=SqlCatalog(catalog_url),
        index=FaissIndex(home / "index"),
        endpoints=endpoints,
        tagger=tagger,
        writer=OfflineWriter(),
        rules=load_rules(s.filter_rules),
        adapters={
            "object_store": f"folder ({home / 'bucket'})",
            "catalog": catalog_url.split(":", 1)[0].split("+", 1)[0],
            "vector_index": "faiss-hnsw",
            "models": f"in-process model_code ({'tiny random weights' if tiny else s.model_profile})",
            "tagger": tagger_name,
            "writer": "offline (not AI-generated)",
        },
        tiny_models=tiny,
    )


def local_model_dirs(s: Settings) -> dict[str, str]:
    """Where each model's weights are in the local profile. With the tiny profile, missing models are
    built on the spot (milliseconds, offline); other profiles must name every folder."""
    dirs: dict[str, str] = {}
    missing: list[str] = []
    for model in MODEL_NAMES:
        configured = s.model_dir(model)
        if configured:
            dirs[model] = configured
        elif s.model_profile == "tiny":
            dirs[model] = str(s.home.resolve() / "models" / model)
        else:
            missing.append(model)
    if missing:
        raise ConfigError(
            f"invalid setting VITRINE_{missing[0].upper()}_DIR: required when VITRINE_MODEL_PROFILE="
            f"{s.model_profile} (the folder of the model's weights)"
        )
    defaults = [m for m in MODEL_NAMES if not s.model_dir(m)]
    if defaults:
        from vitrine.modelkit.tiny import build_tiny

        build_tiny(s.home.resolve() / "models", defaults)
    return dirs


def _tagger(s: Settings, endpoints: dict[str, ModelEndpoint]) -> tuple[ImageTagger | None, str]:
    if s.tagger == "off":
        return None, "off (every image kept)"
    if s.tagger == "bedrock":
        from vitrine.adapters.bedrock import BedrockTagger

        return BedrockTagger(_client(s, "bedrock-runtime"), s.bedrock_tagger_model_id), "bedrock"
    from vitrine.adapters.model_tagger import ModelTagger

    in_process = s.profile == "local"  # the in-process handler batches; vLLM batches concurrent requests
    return ModelTagger(endpoints["llava"], batch_requests=in_process), "llava endpoint"


def _client(s: Settings, service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=s.aws_region,
        connect_timeout=5,
        read_timeout=s.endpoint_timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4" if service == "s3" else None,  # presigned POST/GET work in every region
    )
    return boto3.client(service, config=config)


def _cloud(s: Settings) -> Services:
    from vitrine.adapters.bedrock import BedrockWriter
    from vitrine.adapters.db_secret import catalog_url_from_secret
    from vitrine.adapters.opensearch_index import OpenSearchIndex, connect
    from vitrine.adapters.s3_store import S3Store
    from vitrine.adapters.sagemaker_endpoint import SageMakerEndpoint
    from vitrine.adapters.sql_catalog import SqlCatalog

    runtime = _client(s, "sagemaker-runtime")
    endpoints: dict[str, ModelEndpoint] = {
        m: SageMakerEndpoint(runtime, s.endpoint_name(m), m) for m in MODEL_NAMES
    }
    s3 = _client(s, "s3")
    catalog_url = s.catalog_url or catalog_url_from_secret(
        _client(s, "secretsmanager"), s.db_secret_arn, s.db_name
    )
    tagger, tagger_name = _tagger(s, endpoints)
    guard = None
    if s.idempotency_table:
        from vitrine.adapters.dynamodb_guard import DynamoDbEventGuard

        guard = DynamoDbEventGuard(s.idempotency_table, client=_client(s, "dynamodb"))
    assert s.bucket and s.opensearch_endpoint  # checked by Settings for the cloud profile
    return Services(
        settings=s,
        store=S3Store(s3, s.bucket),
        uploads=S3Store(s3, s.uploads_bucket or s.bucket),
        catalog=SqlCatalog(catalog_url),
        index=OpenSearchIndex(
            connect(s.opensearch_endpoint, s.aws_region), s.opensearch_index, s.embedding_dim
        ),
        endpoints=endpoints,
        tagger=tagger,
        writer=BedrockWriter(_client(s, "bedrock-runtime"), s.bedrock_text_model_id),
        rules=load_rules(s.filter_rules),
        adapters={
            "object_store": f"s3 ({s.bucket})",
            "catalog": "aurora-mysql",
            "vector_index": f"opensearch ({s.opensearch_index})",
            "models": f"sagemaker ({s.endpoint_prefix}-*)",
            "tagger": tagger_name,
            "writer": f"bedrock ({s.bedrock_text_model_id})",
            "idempotency": f"dynamodb ({s.idempotency_table})" if guard else "catalog ledger only",
        },
        event_guard=guard,
    )


def build_services(s: Settings) -> Services:
    """Adapters for ``s.profile``; a misconfiguration raises :class:`ConfigError` naming the setting."""
    return _local(s) if s.profile == "local" else _cloud(s)


_services: Services | None = None
_services_lock = threading.Lock()


def services() -> Services:
    """The process-wide services (Lambda cold start, local server start), built on first use."""
    global _services
    with _services_lock:
        if _services is None:
            _services = build_services(settings())
        return _services


def reset() -> None:
    """Forget the process-wide services and settings (tests that change the environment)."""
    global _services
    with _services_lock:
        _services = None
    settings.cache_clear()
