"""Models: one SageMaker endpoint per model that a deployed job calls, one :class:`ModelEndpoint` each.

Endpoints follow the jobs: none is declared up front. A stack that calls a model asks for it through
:meth:`ModelsStack.grant_invoke`, which creates the endpoint on first use, so an endpoint exists exactly when
some deployed role may invoke it, and a job left out of ``vitrine:jobs`` costs nothing. The caller also says
how it calls: synchronously (a real-time endpoint, always on) or asynchronously (an asynchronous endpoint that
scales to zero); one endpoint cannot be both, so a model called both ways stops synth.

Endpoint names follow ``vitrine.config.ModelSettings.endpoint_name`` (``<prefix>-<model with dashes>``), which
is how the Lambdas find them; artifacts, their digests and instance types come from context (see the deploy
guide).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import MODEL_NAMES
from infra.constructs.model_endpoint import ModelEndpoint
from infra.stacks.base import PlatformStack


class ModelsStack(PlatformStack):
    """SageMaker models, endpoint configs, endpoints and their autoscaling, for the models jobs call."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.security_group = ec2.SecurityGroup(
            self,
            "ModelSecurityGroup",
            vpc=self.network.vpc,
            description="SageMaker model containers: no inbound, outbound to S3 for artifacts",
        )
        self._subnets = self.network.vpc.select_subnets(subnet_group_name="app").subnets
        self.endpoints: dict[str, ModelEndpoint] = {}

    def endpoint(self, model: str, *, asynchronous: bool = False) -> ModelEndpoint:
        """The endpoint of ``model``, created on the first call; ``asynchronous`` must match every caller's."""
        if model not in MODEL_NAMES:
            raise KeyError(f"no model {model!r}; known: {list(MODEL_NAMES)}")
        existing = self.endpoints.get(model)
        if existing is not None:
            if existing.is_async != asynchronous:
                raise ValueError(
                    f"{model} is called both synchronously and asynchronously; one endpoint serves one way"
                )
            return existing
        config = self.config
        default_artifacts = f"{config.prefix}-artifacts-{Aws.ACCOUNT_ID}-{config.region}"
        endpoint = ModelEndpoint(
            self,
            "".join(part.title() for part in model.split("_")),
            model=model,
            endpoint_name=config.endpoint_name(model),
            artifact_uri=config.artifact_uri(model, default_artifacts),
            artifact_digest=(config.artifact_digests or {}).get(model),
            vpc_subnets=self._subnets,
            security_group=self.security_group,
            instance_type=config.instance_type(model),
            min_instances=config.endpoint_min_instances,
            max_instances=config.endpoint_max_instances,
            async_output_bucket=config.bucket_name_template("results") if asynchronous else None,
        )
        self.endpoints[model] = endpoint
        return endpoint

    def grant_invoke(
        self, grantee: iam.IGrantable, models: tuple[str, ...], *, asynchronous: bool = False
    ) -> None:
        """Let ``grantee`` invoke exactly the named endpoints (deploying each on first use)."""
        for model in models:
            self.endpoint(model, asynchronous=asynchronous).grant_invoke(grantee)
