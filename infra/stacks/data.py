"""Data: the catalog and uploads buckets, Aurora MySQL Serverless v2, and the OpenSearch k-NN domain.

Everything stateful lives here, retained on stack deletion, so the compute stacks can be torn down and
redeployed freely. Compute reaches the database and the domain through :attr:`DataStack.clients`, a
security group the data tier admits; a stack joins by attaching it, and nothing here names its consumers.
OpenSearch's fine-grained access control is set up here too (:class:`SearchSecurity`): a consumer's
``grant_index`` call both grants the IAM actions and maps its role to an index role of the domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.buckets import access_log_bucket, secure_bucket
from infra.config import InfraConfig
from infra.constructs.search_security import SearchSecurity
from infra.nag import accept, grant_scoped, resolve
from infra.stacks.network import NetworkStack

DB_ADMIN = "vitrine_admin"
DB_NAME = "vitrine"
PRODUCT_INDEX = "vitrine-products"
"""The k-NN index Vitrine reads and writes (``VITRINE_OPENSEARCH_INDEX``)."""
INDEX_READ_ACTIONS = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
INDEX_WRITE_ACTIONS = ["es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"]
MYSQL_LOGS = ["audit", "error", "general", "slowquery"]


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
        self._bucket_names = {
            kind: f"{config.prefix}-{kind}-{{account}}-{config.region}"
            for kind in ("catalog", "uploads", "results")
        }
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
        self.uploads_bucket = secure_bucket(
            self,
            "Uploads",
            bucket_name=self.bucket_name("uploads"),
            access_logs=access_logs,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(1))],
            # Browsers POST straight to S3 with a presigned form; the signature, not the origin, is the gate.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=["*"],
                    allowed_headers=["content-type"],
                    max_age=600,
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.results_bucket = secure_bucket(
            self,
            "Results",
            bucket_name=self.bucket_name("results"),
            access_logs=access_logs,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        )

        self.database = self._database(vpc, network.data_subnets)
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

    def _database(self, vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> rds.DatabaseCluster:
        """Aurora MySQL Serverless v2: a writer and a reader in another AZ, generated and rotated secret."""
        cluster_id = f"{self.config.prefix}-catalog"
        # Log groups made here, with retention, instead of CDK's log-retention Lambda: the exports find them.
        log_groups = [
            logs.LogGroup(
                self,
                f"DbLogs{kind.title()}",
                log_group_name=f"/aws/rds/cluster/{cluster_id}/{kind}",
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
            iam_authentication=True,
            deletion_protection=self.config.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            backup=rds.BackupProps(retention=Duration.days(7)),
            cloudwatch_logs_exports=MYSQL_LOGS,
            parameter_group=rds.ParameterGroup(
                self,
                "DbParameters",
                engine=engine,
                parameters={
                    "server_audit_logging": "1",
                    "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
                },
            ),
        )
        for log_group in log_groups:
            cluster.node.add_dependency(log_group)
        accept(
            cluster,
            "AwsSolutions-RDS14",
            "Recovery is point-in-time restore from 7 days of continuous backups; backtrack would bill every "
            "change record of an ingestion-heavy catalog for a second recovery path.",
        )
        cluster.add_rotation_single_user(automatically_after=Duration.days(30), vpc_subnets=subnets)
        cluster.connections.allow_default_port_from(self.clients, "Vitrine compute to the catalog")
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
            removal_policy=RemovalPolicy.RETAIN,
        )
        logs.ResourcePolicy(
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
        return resolve(self._bucket_names[kind])

    def bucket_name_template(self, kind: str) -> str:
        """The same name as a template with ``{account}`` unfilled, for :func:`infra.nag.grant_scoped`."""
        return self._bucket_names[kind]

    def grant_objects(self, role: iam.IRole, kind: str, prefix: str, actions: Sequence[str]) -> None:
        """Object ``actions`` on one bucket: every key under ``prefix`` when it ends with ``/``, else that one
        key. Also ``s3:ListBucket`` on the bucket, without a prefix condition: S3 answers a GET of a missing key
        with 404 only to a caller that may list the bucket, and the request context of a GET has no
        ``s3:prefix`` to match. The code relies on that 404 (an expired upload, no search calibration yet)."""
        name = self._bucket_names[kind]
        pattern = f"{prefix}*" if prefix.endswith("/") else prefix
        grant_scoped(
            role,
            actions,
            [f"arn:{{partition}}:s3:::{name}/{pattern}"],
            f"Objects under {prefix} of the {kind} bucket only: keys are not known in advance.",
        )
        grant_scoped(role, ["s3:ListBucket"], [f"arn:{{partition}}:s3:::{name}"], "")

    def grant_database_credentials(self, role: iam.IRole) -> None:
        """Read the catalog database credentials (the secret holds host, port, user and password)."""
        self.database.secret.grant_read(role)

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

    def lambda_environment(self) -> dict[str, str]:
        """The settings every Vitrine Lambda reads (see ``lambdas/vitrine/config.py``)."""
        return {
            "VITRINE_PROFILE": "cloud",
            "VITRINE_BUCKET": self.bucket_name("catalog"),
            "VITRINE_UPLOADS_BUCKET": self.bucket_name("uploads"),
            "VITRINE_DB_SECRET_ARN": self.database.secret.secret_arn,
            "VITRINE_DB_NAME": DB_NAME,
            "VITRINE_OPENSEARCH_ENDPOINT": f"https://{self.domain.domain_endpoint}",
            "VITRINE_OPENSEARCH_INDEX": PRODUCT_INDEX,
            "VITRINE_EMBEDDING_DIM": str(self.config.embedding_dim),
            "VITRINE_ENDPOINT_PREFIX": self.config.prefix,
            "VITRINE_AWS_REGION": self.region,
            "VITRINE_BEDROCK_TEXT_MODEL_ID": self.config.bedrock_text_model_id,
            "VITRINE_BEDROCK_TAGGER_MODEL_ID": self.config.bedrock_tagger_model_id,
            "VITRINE_TAGGER": self.config.tagger,
        }
