"""Models: the five SageMaker endpoints, one :class:`ModelEndpoint` per ``model_code/<model>`` folder.

Endpoint names follow ``vitrine.config.Settings.endpoint_name`` (``<prefix>-<model with dashes>``), which
is how the Lambdas find them; artifacts and instance types come from context (see the deploy guide).
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
    """SageMaker models, endpoint configs, endpoints and their autoscaling."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config, network, data = self.config, self.network, self.data
        security_group = ec2.SecurityGroup(
            self,
            "ModelSecurityGroup",
            vpc=network.vpc,
            description="SageMaker model containers: no inbound, outbound to S3 for artifacts",
        )
        subnets = network.vpc.select_subnets(subnet_group_name="app").subnets
        default_artifacts = f"{config.prefix}-artifacts-{Aws.ACCOUNT_ID}-{config.region}"
        self.endpoints = {
            model: ModelEndpoint(
                self,
                "".join(part.title() for part in model.split("_")),
                model=model,
                endpoint_name=config.endpoint_name(model),
                artifact_uri=config.artifact_uri(model, default_artifacts),
                vpc_subnets=subnets,
                security_group=security_group,
                instance_type=config.instance_type(model),
                min_instances=config.endpoint_min_instances,
                max_instances=config.endpoint_max_instances,
                async_output_bucket=data.bucket_name_template("results")
                if model in config.async_models
                else None,
            )
            for model in MODEL_NAMES
        }

    def grant_invoke(self, grantee: iam.IGrantable, models: tuple[str, ...]) -> None:
        """Let ``grantee`` invoke exactly the named endpoints."""
        for model in models:
            self.endpoints[model].grant_invoke(grantee)
