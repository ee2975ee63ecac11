"""What every stack after Network and Data shares: the deployment settings, the VPC and the data tier.

Models, ingestion, API, backfill, hotels and descriptions all receive the same three handles, and those that run
Vitrine handlers build their functions the same way (``lambdas/`` code, the dependencies layer, app subnets, the
data-clients group, an environment derived from ``vitrine.config``, a database user of their own, a fixed role
name). Both live here once, so each stack's own file
says only what is particular to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.bundling import dependencies_layer, handler_code
from infra.config import InfraConfig
from infra.constructs.vitrine_function import VitrineFunction
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack
from vitrine.config import environment


class PlatformStack(Stack):
    """A stack placed in the shared VPC next to the data tier; subclasses add their own stack handles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        network: NetworkStack,
        data: DataStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.network = network
        self.data = data

    def handler_function(
        self,
        construct_id: str,
        *,
        function: str,
        description: str,
        failure_handling: str,
        timeout: Duration,
        writes_catalog: bool,
        aws_settings: Mapping[str, str] | None = None,
        memory_size: int = 1536,
        name: str | None = None,
    ) -> VitrineFunction:
        """``handlers.<function>.handler`` as a :class:`VitrineFunction`, with the role name the search domain
        maps (:meth:`InfraConfig.function_role_name` of ``name``, default ``function``), its own database user
        (the writer, or the read-only user when ``writes_catalog`` is false) and the settings of
        :meth:`settings_environment`."""
        name = name or function
        vitrine_function = VitrineFunction(
            self,
            construct_id,
            handler=f"handlers.{function}.handler",
            code=handler_code(),
            layer=self._dependencies_layer(),
            vpc=self.network.vpc,
            subnets=self.network.app_subnets,
            security_groups=[self.data.clients],
            environment={
                **self.settings_environment(
                    db_secret_arn=self.data.database_secret(write=writes_catalog).secret_arn,
                    **(aws_settings or {}),
                ),
                "POWERTOOLS_SERVICE_NAME": f"vitrine-{name}",
            },
            description=description,
            failure_handling=failure_handling,
            timeout=timeout,
            memory_size=memory_size,
            role_name=self.config.function_role_name(name),
        )
        self.data.grant_database_credentials(vitrine_function.role, write=writes_catalog)
        return vitrine_function

    def settings_environment(self, **aws_settings: str) -> dict[str, str]:
        """The Lambda environment, derived from ``vitrine.config`` (the infrastructure spells no name itself):
        the cloud profile, the data tier's resources, and this deployment's model, ingestion and description
        settings. Ingestion describes the products it saves only when the descriptions job is deployed (else
        there is no attribute endpoint to call); the writer's model is the one the roles may invoke."""
        describes = self.config.runs("descriptions")
        descriptions: dict[str, str] = {"at_ingest": "true" if describes else "false"}
        if describes:
            descriptions["writer_model_id"] = self.config.writer_model_id()
        return environment(
            {"profile": "cloud"},
            aws={**self.data.aws_settings(), **aws_settings},
            search={"embedding_dim": self.config.embedding_dim},
            models={"endpoint_prefix": self.config.prefix},
            ingest={"tagger": self.config.tagger},
            descriptions=descriptions,
        )

    def _dependencies_layer(self) -> lambda_.ILayerVersion:
        """One layer per stack, however many functions it holds."""
        existing = self.node.try_find_child("Dependencies")
        return existing if isinstance(existing, lambda_.LayerVersion) else dependencies_layer(self)
