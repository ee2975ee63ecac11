"""The one place that builds adapters from settings. Handlers, the local server and the CLI ask this
module for :class:`Services`; nothing else decides between local and cloud."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitrine.catalog.filtering import FilterRule, load_rules
from vitrine.catalog.ingest import CatalogIngestion
from vitrine.catalog.ports import Catalog, ImageTagger
from vitrine.catalog.reconcile import reconcile
from vitrine.config import MODEL_NAMES, Settings, env_name, settings
from vitrine.descriptions.ask import PhotoQuestions
from vitrine.descriptions.describe import ProductDescribing
from vitrine.descriptions.ports import DescriptionStore
from vitrine.errors import ConfigError, Unavailable
from vitrine.hotels.classify import HotelClassification, PhotoClassifier
from vitrine.hotels.covers import CoverScoring
from vitrine.hotels.labels import LabelSet, load_labels
from vitrine.hotels.ports import HotelCatalog
from vitrine.kernel.ports import EventGuard, ModelEndpoint, ObjectStore, TextWriter, VectorIndex
from vitrine.kernel.types import Filters
from vitrine.models.attribute_reader import AttributeReader
from vitrine.models.cover_ranker import CoverRanker
from vitrine.models.detector import Detector
from vitrine.models.dual_encoder import DualEncoder
from vitrine.models.embedder import Embedder
from vitrine.search.calibration import DEFAULT_THRESHOLD
from vitrine.search.calibration import load as load_calibration
from vitrine.search.discovery import RefinedIndex, SimilarProducts, TextSearch
from vitrine.search.visual_search import VisualSearch

if TYPE_CHECKING:
    from vitrine.adapters.sql.catalog import CredentialSource


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
    hotel_catalog: HotelCatalog | None = None
    description_store: DescriptionStore | None = None

    @cached_property
    def detector(self) -> Detector:
        s = self.settings
        return Detector(
            self.endpoints["grounding_dino"],
            s.search.detect_prompt,
            s.search.box_threshold,
            s.search.text_threshold,
        )

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.endpoints["dino_embed"])

    @cached_property
    def dual_encoder(self) -> DualEncoder | None:
        """The dual encoder (text search), or None where discovery is off (``VITRINE_DISCOVERY_TEXT_SEARCH``)."""
        endpoint = self.endpoints.get("clip_embed")
        enabled = self.settings.discovery.enabled(self.settings.profile)
        return DualEncoder(endpoint) if enabled and endpoint is not None else None

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
            max_image_bytes=s.limits.max_image_bytes,
            max_image_pixels=s.limits.max_image_pixels,
            duplicate_threshold=s.ingest.duplicate_threshold,
            batch_size=s.ingest.batch_size,
            dual_encoder=self.dual_encoder,
            after_batch=self.product_describing.after_ingest if s.descriptions.at_ingest else None,
        )

    # -- descriptions: attributes from the photo, a checked description, shoppers' questions -------------

    def descriptions(self) -> DescriptionStore:
        """The description store (same database as the product catalog, its own table)."""
        if self.description_store is None:
            raise ConfigError("these services were built without a description store")
        return self.description_store

    @cached_property
    def attribute_reader(self) -> AttributeReader:
        return AttributeReader(self.endpoints["blip2_attributes"], self.settings.descriptions.max_new_tokens)

    @cached_property
    def product_describing(self) -> ProductDescribing:
        from vitrine.descriptions.quality import DEFAULT_BANNED_CLAIMS, TextRules
        from vitrine.descriptions.schema import load_schemas

        d, limits = self.settings.descriptions, self.settings.limits
        rules = TextRules(
            language=d.language,
            min_chars=d.min_chars,
            max_chars=d.max_chars,
            banned_claims=tuple(d.banned_claims if d.banned_claims is not None else DEFAULT_BANNED_CLAIMS),
        )
        return ProductDescribing(
            self.store,
            self.catalog,
            self.descriptions(),
            self.attribute_reader,
            self.writer,
            load_schemas(d.schemas),
            rules,
            tone=d.tone,
            max_image_bytes=limits.max_image_bytes,
            max_image_pixels=limits.max_image_pixels,
            inline_limit=d.inline_limit,
        )

    @cached_property
    def photo_questions(self) -> PhotoQuestions:
        from vitrine.descriptions.ask import RateLimiter

        d = self.settings.descriptions
        return PhotoQuestions(
            self.store,
            self.catalog,
            self.attribute_reader,
            max_chars=d.ask_max_chars,
            limiter=RateLimiter(d.ask_per_minute, 60.0),
        )

    @cached_property
    def match_threshold(self) -> tuple[float, str]:
        """The confidence threshold and where it comes from: the setting, the calibration, or the default."""
        if self.settings.search.match_threshold is not None:
            return self.settings.search.match_threshold, env_name("search", "match_threshold")
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
            max_image_bytes=s.limits.max_image_bytes,
            max_image_pixels=s.limits.max_image_pixels,
        )

    # -- discovery: search by words, similar products, filters -----------------------------------------------

    @cached_property
    def text_search(self) -> TextSearch:
        if self.dual_encoder is None:
            raise Unavailable(
                "search by words is not enabled in this deployment "
                f"({env_name('discovery', 'text_search')}, the clip_embed model)",
                retry_after_s=3600,
            )
        return TextSearch(self.store, self.catalog, self.index, self.dual_encoder)

    @cached_property
    def similar_products(self) -> SimilarProducts:
        return SimilarProducts(self.store, self.catalog, self.index)

    def refined_visual_search(self, filters: Filters, text: str | None = None) -> VisualSearch:
        """Visual search whose k-NN has the shopper's ``filters`` inside and, with ``text``, re-ranks the image
        hits by the words (one dual-encoder call); the plain one when neither is given."""
        if filters == Filters() and not text:
            return self.visual_search
        vector, model = None, ""
        if text:
            encoded = self.text_search.encoder.embed_texts([text])
            vector, model = encoded.vectors[0], encoded.model
        d = self.settings.discovery
        refined = copy.copy(self.visual_search)
        refined.index = RefinedIndex(
            self.index,
            self.catalog,
            filters,
            vector,
            model,
            pool=d.rerank_pool,
            text_weight=d.rerank_text_weight,
        )
        return refined

    def hotels(self) -> HotelCatalog:
        """The hotel catalog (same database as the product catalog, its own tables)."""
        if self.hotel_catalog is None:
            raise ConfigError("these services were built without a hotel catalog")
        return self.hotel_catalog

    @cached_property
    def hotel_labels(self) -> LabelSet:
        return load_labels(self.settings.hotels.labels)

    @cached_property
    def photo_classifier(self) -> PhotoClassifier:
        from vitrine.models.chat_vlm import ChatVlm

        h = self.settings.hotels
        vlm = ChatVlm(
            self.endpoints["llava"],
            batch_requests=self.settings.profile == "local",  # in-process: one batch; vLLM: concurrent
            concurrency=h.concurrency,
            logprobs=h.logprobs,
        )
        return PhotoClassifier(vlm, self.hotel_labels)

    @cached_property
    def hotel_classification(self) -> HotelClassification:
        s = self.settings
        return HotelClassification(
            self.store,
            self.hotels(),
            self.photo_classifier,
            max_image_bytes=s.limits.max_image_bytes,
            max_image_pixels=s.limits.max_image_pixels,
            batch_size=s.ingest.batch_size,
        )

    @cached_property
    def cover_scoring(self) -> CoverScoring:
        h = self.settings.hotels
        return CoverScoring(
            self.store,
            self.hotels(),
            CoverRanker(self.endpoints["ranker"]),
            self.hotel_labels,
            quiet_s=h.cover_quiet_s,
            max_wait_s=h.cover_max_wait_s,
            lease_s=h.cover_lease_s,
            max_hotels=h.cover_max_hotels,
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
    from vitrine.adapters.local.faiss_fields import FaissFieldIndex
    from vitrine.adapters.local.folder_store import FolderStore
    from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint, is_tiny
    from vitrine.adapters.local.offline_writer import OfflineWriter
    from vitrine.adapters.sql.catalog import SqlCatalog

    home = s.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    code_dir = s.models.code_dir()
    dirs = local_model_dirs(s)
    endpoints: dict[str, ModelEndpoint] = {m: InProcessEndpoint(m, code_dir, d) for m, d in dirs.items()}
    catalog_url = s.catalog_url or f"sqlite:///{home / 'catalog.db'}"
    tiny = any(is_tiny(Path(d)) for d in dirs.values())
    tagger, tagger_name = _tagger(s, endpoints)
    services = Services(
        settings=s,
        store=FolderStore(home / "bucket", name="bucket"),
        uploads=FolderStore(home / "uploads", name="uploads"),
        catalog=SqlCatalog(catalog_url),
        index=FaissFieldIndex(home / "index"),
        endpoints=endpoints,
        tagger=tagger,
        writer=OfflineWriter(),
        rules=load_rules(s.ingest.filter_rules),
        adapters={
            "object_store": f"folder ({home / 'bucket'})",
            "catalog": catalog_url.split(":", 1)[0].split("+", 1)[0],
            "vector_index": "faiss-hnsw",
            "models": f"in-process model_code ({'tiny random weights' if tiny else s.models.model_profile})",
            "tagger": tagger_name,
            "writer": "offline (not AI-generated)",
        },
        tiny_models=tiny,
        hotel_catalog=_sql_hotels(catalog_url),
        description_store=_sql_descriptions(catalog_url),
    )
    # The local index lives in memory and reaches disk after each batch: a process that died mid-batch
    # leaves the ledger ahead of it. Mend that before anything reads or writes (milliseconds with FAISS).
    reconcile(services.catalog, services.index)
    return services


def local_model_dirs(s: Settings) -> dict[str, str]:
    """Where each model's weights are in the local profile. The tiny profile keeps them under
    ``home/models`` (``vitrine prepare`` builds them); other profiles must name every folder."""
    dirs: dict[str, str] = {}
    for model in MODEL_NAMES:
        if model == "clip_embed" and not s.discovery.enabled(s.profile):
            continue  # discovery off: ingestion and search run without a dual encoder
        configured = s.models.model_dir(model)
        if configured:
            dirs[model] = configured
        elif s.models.model_profile == "tiny":
            folder = s.home.resolve() / "models" / model
            if not (folder / "config.json").is_file():
                raise ConfigError(f"no {model} model in {folder.parent}: run `vitrine prepare` to build it")
            dirs[model] = str(folder)
        else:
            raise ConfigError(
                f"invalid setting {env_name('models', f'{model}_dir')}: required when "
                f"VITRINE_MODEL_PROFILE={s.models.model_profile} (the folder of the model's weights)"
            )
    return dirs


def _tagger(s: Settings, endpoints: dict[str, ModelEndpoint]) -> tuple[ImageTagger | None, str]:
    if s.ingest.tagger == "off":
        return None, "off (every image kept)"
    if s.ingest.tagger == "bedrock":
        from vitrine.adapters.aws.bedrock import BedrockTagger

        return BedrockTagger(_client(s, "bedrock-runtime"), s.aws.bedrock_tagger_model_id), "bedrock"
    from vitrine.catalog.vlm_tagger import ModelTagger
    from vitrine.models.chat_vlm import ChatVlm

    in_process = s.profile == "local"  # the in-process handler batches; vLLM batches concurrent requests
    return ModelTagger(ChatVlm(endpoints["llava"], batch_requests=in_process)), "llava endpoint"


def _sql_hotels(url: str, credentials: CredentialSource | None = None) -> HotelCatalog:
    from vitrine.adapters.sql.hotels import SqlHotelCatalog

    return SqlHotelCatalog(url, credentials)


def _sql_descriptions(url: str, credentials: CredentialSource | None = None) -> DescriptionStore:
    from vitrine.adapters.sql.descriptions import SqlDescriptionStore

    return SqlDescriptionStore(url, credentials)


def _bedrock_writer(s: Settings) -> TextWriter:
    """Claude through Converse, on a client whose botocore retries (standard mode: backoff with jitter)
    cover throttling and timeouts."""
    from vitrine.adapters.aws.bedrock import BedrockWriter, writer_client

    d = s.descriptions
    client = writer_client(
        s.aws.region, read_timeout_s=s.models.endpoint_timeout_s, max_attempts=d.writer_attempts
    )
    return BedrockWriter(client, d.writer_model(s.aws), max_tokens=d.max_tokens, temperature=d.temperature)


def _client(s: Settings, service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=s.aws.region,
        connect_timeout=5,
        read_timeout=s.models.endpoint_timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4" if service == "s3" else None,  # presigned POST/GET work in every region
    )
    return boto3.client(service, config=config)


def _cloud(s: Settings) -> Services:
    from vitrine.adapters.aws.db_secret import SecretCredentials
    from vitrine.adapters.aws.opensearch_index import OpenSearchIndex, connect
    from vitrine.adapters.aws.s3_store import S3Store
    from vitrine.adapters.aws.sagemaker_endpoint import SageMakerEndpoint
    from vitrine.adapters.sql.catalog import SqlCatalog

    runtime = _client(s, "sagemaker-runtime")
    endpoints: dict[str, ModelEndpoint] = {
        m: SageMakerEndpoint(runtime, s.models.endpoint_name(m), m) for m in MODEL_NAMES
    }
    s3 = _client(s, "s3")
    # With a secret, every engine re-reads it when the server refuses the password (after a rotation).
    credentials = (
        None if s.catalog_url else SecretCredentials(_client(s, "secretsmanager"), s.aws.db_secret_arn)
    )
    catalog_url = s.catalog_url or credentials.url(s.aws.db_name)  # type: ignore[union-attr]
    tagger, tagger_name = _tagger(s, endpoints)
    guard = None
    if s.aws.idempotency_table:
        from vitrine.adapters.aws.dynamodb_guard import DynamoDbEventGuard

        guard = DynamoDbEventGuard(s.aws.idempotency_table, client=_client(s, "dynamodb"))
    assert s.aws.bucket and s.aws.opensearch_endpoint  # checked by Settings for the cloud profile
    return Services(
        settings=s,
        store=S3Store(s3, s.aws.bucket),
        uploads=S3Store(s3, s.aws.uploads_bucket or s.aws.bucket),
        catalog=SqlCatalog(catalog_url, credentials),
        index=OpenSearchIndex(
            connect(s.aws.opensearch_endpoint, s.aws.region),
            s.aws.opensearch_index,
            s.search.embedding_dim,
            text_dim=s.discovery.text_dim if s.discovery.enabled(s.profile) else None,
        ),
        endpoints=endpoints,
        tagger=tagger,
        writer=_bedrock_writer(s),
        rules=load_rules(s.ingest.filter_rules),
        adapters={
            "object_store": f"s3 ({s.aws.bucket})",
            "catalog": "aurora-mysql",
            "vector_index": f"opensearch ({s.aws.opensearch_index})",
            "models": f"sagemaker ({s.models.endpoint_prefix}-*)",
            "tagger": tagger_name,
            "writer": f"bedrock ({s.descriptions.writer_model(s.aws)})",
            "idempotency": f"dynamodb ({s.aws.idempotency_table})" if guard else "catalog ledger only",
        },
        event_guard=guard,
        hotel_catalog=_sql_hotels(catalog_url, credentials),
        description_store=_sql_descriptions(catalog_url, credentials),
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
