"""Data: the catalog and results buckets, Aurora MySQL Serverless v2, and the OpenSearch k-NN domain.

Everything stateful lives here, retained on stack deletion, so the compute stacks can be torn down and
redeployed freely. Retained, but never in the way of a retry: what keeps a fixed name (the buckets and the
domain, which other stacks address by name) is retained *except on a failed create*
(``RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE``, CloudFormation's ``RetainExceptOnCreate``), so a rolled-back
first deploy removes them and the next try can create them again; the Aurora cluster, whose deletion
protection can block a rollback, is named after this stack's id, so a retry never collides with a leftover.
The uploads bucket is not here: it lives with the page that posts to it (``FrontendStack``), whose origin its
CORS rule names. Compute reaches the database and the domain through :attr:`DataStack.clients`, a
security group the data tier admits; a stack joins by attaching it, and nothing here names its consumers.
OpenSearch's fine-grained access control is set up here too (:class:`SearchSecurity`): a consumer's
``grant_index`` call both grants the IAM actions and maps its role to an index role of the domain.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct

import vitrine.adapters.sql
from infra.buckets import access_log_bucket, secure_bucket
from infra.bundling import dependencies_layer
from infra.config import InfraConfig
from infra.constructs.database_users import DatabaseUsers
from infra.constructs.search_security import SearchSecurity
from infra.nag import accept, grant_scoped, resolve
from infra.stacks.network import NetworkStack

DB_ADMIN = "vitrine_admin"
DB_NAME = "vitrine"
DB_READER = "vitrine_reader"
DB_WRITER = "vitrine_writer"
DB_USERS: dict[str, tuple[str, ...]] = {
    DB_READER: ("SELECT",),
    DB_WRITER: ("SELECT", "INSERT", "UPDATE", "DELETE"),
}
"""The application users and their privileges on the catalog database (every table of it: the catalog's, the hotel
job's ``hotels``/``hotel_images`` and the descriptions job's ``product_descriptions``). The schema is migrated at
deploy time (``DatabaseUsers``, every module of :func:`schema_migrations`), so no application user needs DDL; the
public API only reads."""
PRODUCT_INDEX = "vitrine-products"
"""The k-NN index Vitrine reads and writes (``VITRINE_AWS_OPENSEARCH_INDEX``)."""
INDEX_READ_ACTIONS = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
INDEX_WRITE_ACTIONS = ["es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"]
MYSQL_LOGS = {
    "audit": {"server_audit_logging": "1", "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL"},
    "error": {},
    "slowquery": {"slow_query_log": "1", "long_query_time": "1", "log_output": "FILE"},
}
"""Each exported log with the parameters that make Aurora write it (an export of a log that is off stays
empty). No general log: every statement of an ingestion-heavy catalog would be billed as log data."""


def schema_migrations() -> dict[str, list[int]]:
    """Every schema module of ``vitrine.adapters.sql`` (one with ``MIGRATIONS`` and ``migrate``) → its step
    versions. The deploy-time migration runs them all, and a new step (or module) changes this, so the next deploy
    of this stack applies it."""
    found = {}
    for info in pkgutil.iter_modules(vitrine.adapters.sql.__path__):
        module = importlib.import_module(f"{vitrine.adapters.sql.__name__}.{info.name}")
        if hasattr(module, "MIGRATIONS") and callable(getattr(module, "migrate", None)):
            found[module.__name__] = sorted(step.version for step in module.MIGRATIONS)
    return found


def stack_unique(stack: Stack) -> str:
    """8 hex digits of the stack's id: differs for every creation of the stack, so a name made with it is
    free again after a failed first deploy, whatever that deploy left behind."""
    return Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", stack.stack_id))))


class DataStack(Stack):
    """Buckets, catalog database and vector index."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        network: NetworkStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        vpc = network.vpc
        self.clients = ec2.SecurityGroup(
            self, "DataClients", vpc=vpc, description="Compute that may reach Aurora and OpenSearch"
        )

        # Fixed, account-scoped names: other stacks build ARNs and grants from the name, with no export to
        # pin this stack and with wildcards that cdk-nag can be told about exactly (see infra.nag).
        self.search_domain_name = f"{config.prefix}-search"
        access_logs = access_log_bucket(self, "AccessLogs")
        self.catalog_bucket = secure_bucket(
            self,
            "Catalog",
            bucket_name=self.bucket_name("catalog"),
            access_logs=access_logs,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
        )
        self.results_bucket = secure_bucket(
            self,
            "Results",
            bucket_name=self.bucket_name("results"),
            access_logs=access_logs,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        )

        self.database = self._database(network)
        self.search_security = SearchSecurity(
            self,
            "SearchSecurity",
            vpc=vpc,
            subnets=network.app_subnets,
            security_group=self.clients,
            domain_name=self.search_domain_name,
            index=PRODUCT_INDEX,
        )
        self.domain = self._search_domain(vpc, network.data_subnets)
        self.search_security.apply(f"https://{self.domain.domain_endpoint}")
        CfnOutput(self, "SearchEndpoint", value=f"https://{self.domain.domain_endpoint}")

    def _database(self, network: NetworkStack) -> rds.DatabaseCluster:
        """Aurora MySQL Serverless v2: a writer and a reader in another AZ; an admin user nobody serving requests
        uses, and per-application users (:data:`DB_USERS`) with their own rotated secrets."""
        vpc, subnets = network.vpc, network.data_subnets
        cluster_id = Fn.join("-", [f"{self.config.prefix}-catalog", stack_unique(self)])
        # Log groups made here, with retention, instead of CDK's log-retention Lambda: the exports find them.
        log_groups = [
            logs.LogGroup(
                self,
                f"DbLogs{kind.title()}",
                log_group_name=Fn.join("", ["/aws/rds/cluster/", cluster_id, f"/{kind}"]),
                retention=logs.RetentionDays.ONE_MONTH,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in MYSQL_LOGS
        ]
        engine = rds.DatabaseClusterEngine.aurora_mysql(version=rds.AuroraMysqlEngineVersion.VER_3_08_0)
        cluster = rds.DatabaseCluster(
            self,
            "CatalogDb",
            cluster_identifier=cluster_id,
            engine=engine,
            credentials=rds.Credentials.from_generated_secret(DB_ADMIN),
            default_database_name=DB_NAME,
            writer=rds.ClusterInstance.serverless_v2("Writer"),
            readers=[rds.ClusterInstance.serverless_v2("Reader", scale_with_writer=True)],
            serverless_v2_min_capacity=self.config.db_min_acu,
            serverless_v2_max_capacity=self.config.db_max_acu,
            vpc=vpc,
            vpc_subnets=subnets,
            port=3307,
            storage_encrypted=True,
            # Users sign in with their secrets (re-read after a rotation); IAM tokens would be a second path.
            iam_authentication=False,
            deletion_protection=self.config.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            backup=rds.BackupProps(retention=Duration.days(7)),
            cloudwatch_logs_exports=list(MYSQL_LOGS),
            parameter_group=rds.ParameterGroup(
                self,
                "DbParameters",
                engine=engine,
                parameters={
                    name: value for settings in MYSQL_LOGS.values() for name, value in settings.items()
                },
            ),
        )
        for log_group in log_groups:
            cluster.node.add_dependency(log_group)
        accept(
            cluster,
            "AwsSolutions-RDS6",
            "Each application signs in as its own database user with a rotated secret and re-reads it when the "
            "server refuses a rotated password; IAM tokens would be a second sign-in path to keep working.",
        )
        accept(
            cluster,
            "AwsSolutions-RDS14",
            "Recovery is point-in-time restore from 7 days of continuous backups; backtrack would bill every "
            "change record of an ingestion-heavy catalog for a second recovery path.",
        )
        cluster.add_rotation_single_user(automatically_after=Duration.days(30), vpc_subnets=subnets)
        cluster.connections.allow_default_port_from(self.clients, "Vitrine compute to the catalog")
        self.database_users = DatabaseUsers(
            self,
            "DbUsers",
            cluster=cluster,
            database=DB_NAME,
            users=DB_USERS,
            schemas=schema_migrations(),
            vpc=vpc,
            subnets=network.app_subnets,
            rotation_subnets=subnets,
            security_group=self.clients,
            layer=dependencies_layer(self),
        )
        return cluster

    def _search_domain(self, vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> opensearch.Domain:
        """OpenSearch with k-NN (faiss HNSW), in the VPC over two AZs, fine-grained access control."""
        domain_name = self.search_domain_name
        security_group = ec2.SecurityGroup(
            self, "SearchSecurityGroup", vpc=vpc, description="OpenSearch domain"
        )
        security_group.add_ingress_rule(self.clients, ec2.Port.tcp(443), "Vitrine compute to OpenSearch")
        slow_logs = logs.LogGroup(
            self, "SearchLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        masters = self.config.search_master_nodes
        domain = opensearch.Domain(
            self,
            "Search",
            domain_name=domain_name,
            version=opensearch.EngineVersion.OPENSEARCH_2_19,
            vpc=vpc,
            vpc_subnets=[subnets],
            security_groups=[security_group],
            zone_awareness=opensearch.ZoneAwarenessConfig(enabled=True, availability_zone_count=2),
            capacity=opensearch.CapacityConfig(
                data_nodes=self.config.search_data_nodes,
                data_node_instance_type=self.config.search_instance_type,
                master_nodes=masters or None,
                master_node_instance_type="m6g.large.search" if masters else None,
            ),
            ebs=opensearch.EbsOptions(
                volume_size=self.config.search_volume_gb, volume_type=ec2.EbsDeviceVolumeType.GP3
            ),
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            # The master user is the deploy-time function that writes Vitrine's roles and mappings.
            fine_grained_access_control=opensearch.AdvancedSecurityOptions(
                master_user_arn=self.search_security.master_role.role_arn
            ),
            logging=opensearch.LoggingOptions(
                slow_search_log_enabled=True,
                slow_search_log_group=slow_logs,
                slow_index_log_enabled=True,
                slow_index_log_group=slow_logs,
                app_log_enabled=True,
                app_log_group=slow_logs,
            ),
            suppress_logs_resource_policy=True,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        logs_policy = logs.ResourcePolicy(
            self,
            "SearchLogsPolicy",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("es.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[slow_logs.log_group_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": self.account}},
                )
            ],
        )
        # CreateDomain checks that OpenSearch may write the log groups: the policy must exist first.
        domain.node.add_dependency(logs_policy)
        # IAM gate in front of fine-grained access control: principals of this account only, on this domain.
        domain_arn = self.format_arn(service="es", resource="domain", resource_name=domain_name)
        cfn_domain = domain.node.default_child
        cfn_domain.access_policies = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{self.partition}:iam::{self.account}:root"},
                    "Action": [*INDEX_READ_ACTIONS, *INDEX_WRITE_ACTIONS],
                    "Resource": f"{domain_arn}/*",
                }
            ],
        }
        accept(
            domain,
            "AwsSolutions-OS3",
            "The domain is in private subnets, reachable only from the DataClients security group; IP "
            "allow-lists do not apply to VPC domains, and fine-grained access control checks every request.",
        )
        if not masters:
            accept(
                domain,
                "AwsSolutions-OS4",
                "Dedicated masters triple the idle cost of a pilot; set vitrine:searchMasterNodes=3 for "
                "production (the deploy guide says so).",
            )
        return domain

    def bucket_name(self, kind: str) -> str:
        """The name of the ``catalog``, ``uploads`` or ``results`` bucket, usable from any stack."""
        return resolve(self.config.bucket_name_template(kind))

    def bucket_name_template(self, kind: str) -> str:
        """The same name as a template with ``{account}`` unfilled, for :func:`infra.nag.grant_scoped`."""
        return self.config.bucket_name_template(kind)

    def grant_objects(self, role: iam.IRole, kind: str, prefix: str, actions: Sequence[str]) -> None:
        """Object ``actions`` on one bucket: every key under ``prefix`` when it ends with ``/``, else that one
        key. Also ``s3:ListBucket`` on the bucket, without a prefix condition: S3 answers a GET of a missing key
        with 404 only to a caller that may list the bucket, and the request context of a GET has no
        ``s3:prefix`` to match. The code relies on that 404 (an expired upload, no search calibration yet)."""
        name = self.config.bucket_name_template(kind)
        pattern = f"{prefix}*" if prefix.endswith("/") else prefix
        grant_scoped(
            role,
            actions,
            [f"arn:{{partition}}:s3:::{name}/{pattern}"],
            f"Objects under {prefix} of the {kind} bucket only: keys are not known in advance.",
        )
        grant_scoped(role, ["s3:ListBucket"], [f"arn:{{partition}}:s3:::{name}"], "")

    def database_secret(self, *, write: bool) -> Any:
        """The secret of the application user a function signs in as: the writer (ingestion, backfill) or the
        read-only user (the public API). Never the admin's."""
        return self.database_users.secrets[DB_WRITER if write else DB_READER]

    def grant_database_credentials(self, role: iam.IRole, *, write: bool) -> str:
        """Let ``role`` read its database user's secret (host, port, user, password); the secret's ARN, for the
        function's ``VITRINE_AWS_DB_SECRET_ARN``."""
        secret = self.database_secret(write=write)
        secret.grant_read(role)
        return secret.secret_arn

    def grant_index(self, role: iam.Role, *, write: bool) -> None:
        """The product index: search only, or search and write (ingestion, backfill). IAM lets the requests
        reach the domain; fine-grained access control maps the role by its fixed name to the matching index
        role, so the role must have one (``InfraConfig.function_role_name``)."""
        role_name = role.node.default_child.role_name if role.node.default_child else None
        if not role_name or Token.is_unresolved(role_name):
            raise ValueError(f"{role.node.path} needs a fixed role_name to be mapped in OpenSearch")
        self.search_security.add_backend_role(role_name, write=write)
        domain = f"arn:{{partition}}:es:{self.region}:{{account}}:domain/{self.search_domain_name}"
        actions = [*INDEX_WRITE_ACTIONS, *INDEX_READ_ACTIONS] if write else INDEX_READ_ACTIONS
        resources = [f"{domain}/{PRODUCT_INDEX}", f"{domain}/{PRODUCT_INDEX}/*"]
        if write:
            resources.append(f"{domain}/_bulk")
        grant_scoped(role, actions, resources, f"Documents and APIs of the {PRODUCT_INDEX} index only.")

    def aws_settings(self) -> dict[str, str]:
        """The ``aws`` settings group every Vitrine Lambda shares (``vitrine.config.AwsSettings``); the database
        secret is per function (:meth:`grant_database_credentials`)."""
        return {
            "bucket": self.bucket_name("catalog"),
            "uploads_bucket": self.bucket_name("uploads"),
            "db_name": DB_NAME,
            "opensearch_endpoint": f"https://{self.domain.domain_endpoint}",
            "opensearch_index": PRODUCT_INDEX,
            "region": self.region,
            "bedrock_text_model_id": self.config.bedrock_text_model_id,
            "bedrock_tagger_model_id": self.config.bedrock_tagger_model_id,
        }
