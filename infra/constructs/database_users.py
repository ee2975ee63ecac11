"""Per-application database users, created at deploy time, each with its own rotated secret.

No Lambda that serves requests signs in as the cluster's admin user. Each application user has a generated
secret (host, port, username, password; ``masterarn`` for the rotation), a custom resource
(:mod:`database_users_handler`, run as admin) creates the user with exactly its privileges and migrates the
schema (every module of ``vitrine.adapters.sql`` with migrations), and Secrets Manager rotates the secret with the multi-user strategy: it alternates between the
user and a ``_clone`` twin, so the credentials a warm function holds stay valid for a whole rotation period,
and the function re-reads the secret when the server refuses them (``vitrine.adapters.aws.db_secret``).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.bundling import handler_code
from infra.constructs.vitrine_function import VitrineFunction

HANDLER = Path(__file__).with_name("database_users_handler.py")


class DatabaseUsers(Construct):
    """One secret and one database user per entry of ``users`` (user name → privileges on ``database``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: rds.DatabaseCluster,
        database: str,
        users: dict[str, tuple[str, ...]],
        schemas: dict[str, list[int]],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        rotation_subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        layer: lambda_.ILayerVersion,
        rotate_after: Duration = Duration.days(30),
    ) -> None:
        super().__init__(scope, construct_id)
        assert cluster.secret is not None
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        for name in users:
            secret = rds.DatabaseSecret(
                self, f"{_title(name)}Secret", username=name, master_secret=cluster.secret
            )
            self.secrets[name] = secret.attach(cluster)
        self.function = VitrineFunction(
            self,
            "Creator",
            handler=f"{HANDLER.stem}.handler",
            code=handler_code(extra_modules=[HANDLER]),
            layer=layer,
            vpc=vpc,
            subnets=subnets,
            security_groups=[security_group],
            environment={"POWERTOOLS_SERVICE_NAME": "vitrine-database-users"},
            description="Deploy time: creates Vitrine's per-application database users and migrates the schema",
            failure_handling="Invoked by CloudFormation, which waits for the answer the handler always "
            "sends and rolls the deploy back on a failure.",
            timeout=Duration.minutes(5),
            memory_size=512,
        )
        cluster.secret.grant_read(self.function.role)
        for secret in self.secrets.values():
            secret.grant_read(self.function.role)
        self.resource = CustomResource(
            self,
            "Users",
            service_token=self.function.function.function_arn,
            resource_type="Custom::DatabaseUsers",
            properties={
                "AdminSecretArn": cluster.secret.secret_arn,
                "Database": database,
                "Users": [
                    {"SecretArn": self.secrets[name].secret_arn, "Privileges": list(privileges)}
                    for name, privileges in users.items()
                ],
                # Schema module → its migration versions: a new step changes the properties, so the deploy
                # runs it.
                "Schemas": schemas,
            },
        )
        # The cluster and its instances only: the rotations below add security-group rules under the cluster
        # construct that depend on this resource.
        for child in cluster.node.find_all():
            if isinstance(child, rds.CfnDBCluster | rds.CfnDBInstance):
                self.resource.node.add_dependency(child)
        for name, secret in self.secrets.items():
            rotation = cluster.add_rotation_multi_user(
                f"{_title(name)}Rotation",
                secret=secret,
                automatically_after=rotate_after,
                vpc_subnets=rotation_subnets,
            )
            # The first rotation clones the user: it must exist by then.
            rotation.node.add_dependency(self.resource)


def _title(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
