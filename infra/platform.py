"""The whole deployment: every stack, wired in dependency order, in one region.

Which stacks exist follows ``vitrine:jobs``: the catalog job brings the ingestion and backfill stacks, the hotels
job the hotels stack, the descriptions job the descriptions stack; the network, data, models, API and frontend
stacks are always there (the models stack holds only the endpoints some deployed job calls).

Stacks are region-specific (container images and Bedrock ARNs are chosen per region at synth) and
account-agnostic: with no account in the environment, CDK uses ``Fn::GetAZs`` for the two AZs instead of
a context lookup, so ``cdk synth`` never needs credentials. ``cdk deploy`` fills in the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import App, Environment, Tags

from infra.config import InfraConfig, load_config
from infra.discovery import TextSearch, enable_text_search
from infra.stacks.api import ApiStack
from infra.stacks.backfill import BackfillStack
from infra.stacks.data import DataStack
from infra.stacks.descriptions import DescriptionsStack
from infra.stacks.frontend import FrontendStack
from infra.stacks.hotels import HotelsStack
from infra.stacks.ingestion import IngestionStack
from infra.stacks.models import ModelsStack
from infra.stacks.network import NetworkStack


@dataclass(frozen=True)
class Platform:
    """Handles on every stack, for the CDK app and the infrastructure tests."""

    config: InfraConfig
    network: NetworkStack
    data: DataStack
    models: ModelsStack
    ingestion: IngestionStack | None
    api: ApiStack
    frontend: FrontendStack
    backfill: BackfillStack | None
    hotels: HotelsStack | None = None
    descriptions: DescriptionsStack | None = None
    text_search: TextSearch | None = None


def build_platform(app: App) -> Platform:
    """Add Vitrine's stacks to ``app`` from its ``vitrine:*`` context."""
    config = load_config(app)
    env = Environment(region=config.region)
    name = config.prefix.title()
    network = NetworkStack(
        app,
        f"{name}-Network",
        config=config,
        env=env,
        description="Vitrine network: VPC, endpoints, flow logs",
    )
    data = DataStack(
        app,
        f"{name}-Data",
        config=config,
        network=network,
        env=env,
        description="Vitrine data: buckets, Aurora MySQL, OpenSearch",
    )
    # What every later stack receives (infra.stacks.base.PlatformStack).
    shared: dict[str, Any] = {"config": config, "network": network, "data": data, "env": env}
    models = ModelsStack(
        app, f"{name}-Models", **shared, description="Vitrine models: the SageMaker endpoints the jobs call"
    )
    ingestion = backfill = None
    if config.runs("catalog"):
        ingestion = IngestionStack(
            app,
            f"{name}-Ingestion",
            models=models,
            **shared,
            description="Vitrine ingestion: S3 → SQS → Lambda, idempotency",
        )
    api = ApiStack(
        app,
        f"{name}-Api",
        models=models,
        **shared,
        description="Vitrine API: API Gateway, WAF, operators' user pool, api Lambda",
    )
    frontend = FrontendStack(
        app,
        f"{name}-Frontend",
        config=config,
        api=api,
        env=env,
        description="Vitrine frontend: S3 + CloudFront, uploads bucket",
    )
    if ingestion is not None:
        backfill = BackfillStack(
            app,
            f"{name}-Backfill",
            ingestion=ingestion,
            **shared,
            description="Vitrine backfill: Distributed Map",
        )
    hotels = descriptions = None
    if config.runs("hotels"):
        hotels = HotelsStack(
            app,
            f"{name}-Hotels",
            models=models,
            **shared,
            description="Vitrine hotel images: classify on arrival and in bulk, debounced cover scoring",
        )
    if config.runs("descriptions"):
        descriptions = DescriptionsStack(
            app,
            f"{name}-Descriptions",
            models=models,
            **shared,
            description="Vitrine descriptions: scheduled sweep and Distributed Map backfill",
        )
    text_search = enable_text_search(config, models, api, ingestion, backfill) if config.text_search else None
    Tags.of(app).add("project", "vitrine")
    return Platform(
        config, network, data, models, ingestion, api, frontend, backfill, hotels, descriptions, text_search
    )
