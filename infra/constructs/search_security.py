"""OpenSearch fine-grained access control, configured at deploy time instead of by hand.

The domain's master user is the role of a small custom-resource function (:mod:`search_roles_handler`, sent
inline) that runs in the VPC and puts two OpenSearch roles limited to one index, ``vitrine_reader`` (search,
count) and ``vitrine_writer`` (create the index, index and delete documents, bulk), and maps Lambda roles to
them. A stack joins with :meth:`SearchSecurity.add_backend_role` through ``DataStack.grant_index``; the role is
named by its fixed name, so the mapping is written with the data stack, before the Lambdas that need it run,
and the data stack never depends on its consumers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Aws, CustomResource, Duration, IStableAnyProducer, Lazy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.vitrine_function import VitrineFunction
from infra.nag import grant_scoped

HANDLER = Path(__file__).with_name("search_roles_handler.py")
READER = "vitrine_reader"
WRITER = "vitrine_writer"


def index_roles(index: str) -> dict[str, dict[str, Any]]:
    """The OpenSearch roles, as the security API's ``roles/<name>`` bodies: one index, nothing cluster-wide
    beyond the multi-document calls (``_bulk``, ``_msearch``) the client library sends."""
    return {
        READER: {
            "cluster_permissions": ["cluster_composite_ops_ro"],
            "index_permissions": [{"index_patterns": [index], "allowed_actions": ["read"]}],
        },
        WRITER: {
            "cluster_permissions": ["cluster_composite_ops"],
            "index_permissions": [
                {
                    "index_patterns": [index],
                    "allowed_actions": ["crud", "create_index", "indices:admin/get"],
                }
            ],
        },
    }


@jsii.implements(IStableAnyProducer)
class _Mappings:
    """The role mappings, read at synth once every stack has called ``add_backend_role``."""

    def __init__(self, role_names: dict[str, list[str]]) -> None:
        self._role_names = role_names

    def produce(self) -> Any:
        return {
            os_role: [f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{name}" for name in names]
            for os_role, names in self._role_names.items()
        }


class SearchSecurity(Construct):
    """The master-user function; :meth:`apply` writes the roles and mappings once the domain exists."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        domain_name: str,
        index: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._index = index
        self._role_names: dict[str, list[str]] = {READER: [], WRITER: []}
        self.function = VitrineFunction(
            self,
            "RolesMapper",
            handler="index.handler",
            code=lambda_.Code.from_inline(HANDLER.read_text()),
            layer=None,
            vpc=vpc,
            subnets=subnets,
            security_groups=[security_group],
            environment={},
            description="Deploy time: puts Vitrine's OpenSearch roles and role mappings (FGAC master user)",
            failure_handling="Invoked by CloudFormation, which waits for the answer the handler always "
            "sends and rolls the deploy back on a failure.",
            timeout=Duration.minutes(2),
            memory_size=256,
        )
        self.master_role = self.function.role
        grant_scoped(
            self.master_role,
            ["es:ESHttpGet", "es:ESHttpPut"],
            [f"arn:{{partition}}:es:{{region}}:{{account}}:domain/{domain_name}/_plugins/_security/api/*"],
            "The security API of Vitrine's own domain (roles and role mappings), nothing of its indices.",
        )

    def add_backend_role(self, role_name: str, *, write: bool) -> None:
        """Map the IAM role named ``role_name`` to the writer or the reader role."""
        names = self._role_names[WRITER if write else READER]
        if role_name not in names:
            names.append(role_name)

    def apply(self, endpoint: str) -> CustomResource:
        """The custom resource that writes roles and mappings; its properties change when a mapping does."""
        return CustomResource(
            self,
            "RolesMapping",
            service_token=self.function.function.function_arn,
            resource_type="Custom::OpenSearchRoles",
            properties={
                "Endpoint": endpoint,
                "Region": Stack.of(self).region,
                "Roles": index_roles(self._index),
                "Mappings": Lazy.any(_Mappings(self._role_names)),
            },
        )
