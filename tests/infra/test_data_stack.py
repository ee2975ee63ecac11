"""Data stack: encrypted, TLS-only buckets; Aurora and OpenSearch encrypted and inside the VPC; every exported
log actually written; the domain created after its log policy; per-application database users."""

from __future__ import annotations

import importlib
import json

from aws_cdk import App
from aws_cdk.assertions import Match, Template

from infra.config import load_config
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack
from tests.infra.synthesis import Synthesis, app_context, resources
from vitrine.adapters.sql.catalog import MIGRATIONS


def test_data_every_bucket_is_encrypted_private_and_tls_only(synth: Synthesis) -> None:
    template = synth.template("data")
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # access logs, catalog, results (uploads live with the page: FrontendStack)
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    secured = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in resources(template, "AWS::S3::BucketPolicy").values()
        if "aws:SecureTransport" in json.dumps(policy)
    }
    assert secured == set(buckets)


def test_data_catalog_is_versioned_and_logged_uploads_expire_in_a_day(synth: Synthesis) -> None:
    template = synth.template("data")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "Catalog/"}),
        },
    )
    synth.template("frontend").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"ExpirationInDays": 1, "Status": "Enabled"})]
            }
        },
    )


def test_data_aurora_is_serverless_v2_encrypted_in_data_subnets(synth: Synthesis) -> None:
    template = synth.template("data")
    template.has_resource_properties(
        "AWS::RDS::DBCluster",
        {
            "Engine": "aurora-mysql",
            "StorageEncrypted": True,
            # Nobody signs in with IAM tokens: users have rotated secrets, re-read on a refused password.
            "EnableIAMDatabaseAuthentication": False,
            "DeletionProtection": True,
            "ServerlessV2ScalingConfiguration": Match.object_like({"MinCapacity": 0.5}),
        },
    )
    for instance in resources(template, "AWS::RDS::DBInstance").values():
        assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
        assert instance["Properties"]["PubliclyAccessible"] is False
    subnet_group = next(iter(resources(template, "AWS::RDS::DBSubnetGroup").values()))
    assert all("datasubnet" in json.dumps(ref).lower() for ref in subnet_group["Properties"]["SubnetIds"])
    # The admin (single user) and each application user (multi-user: alternates with a _clone twin).
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 3)


LOG_SWITCHES = {"audit": "server_audit_logging", "slowquery": "slow_query_log", "general": "general_log"}


def test_data_aurora_writes_every_log_it_exports(synth: Synthesis) -> None:
    template = synth.template("data")
    cluster = next(iter(resources(template, "AWS::RDS::DBCluster").values()))["Properties"]
    group = resources(template, "AWS::RDS::DBClusterParameterGroup")[
        cluster["DBClusterParameterGroupName"]["Ref"]
    ]
    parameters = group["Properties"]["Parameters"]
    exported = cluster["EnableCloudwatchLogsExports"]
    assert "error" in exported and "slowquery" in exported
    for log in exported:
        if log in LOG_SWITCHES:
            assert parameters.get(LOG_SWITCHES[log]) == "1", f"{log} is exported but never written"


def test_data_opensearch_domain_is_created_after_its_log_resource_policy(synth: Synthesis) -> None:
    template = synth.template("data")
    policies = resources(template, "AWS::Logs::ResourcePolicy")
    domain = next(iter(resources(template, "AWS::OpenSearchService::Domain").values()))
    log_groups = json.dumps(domain["Properties"]["LogPublishingOptions"])
    (policy_id,) = [pid for pid, p in policies.items() if "es.amazonaws.com" in json.dumps(p)]
    assert policy_id in domain.get("DependsOn", [])
    assert "SearchLogs" in log_groups


def test_data_database_users_are_created_at_deploy_time_read_only_for_the_api(synth: Synthesis) -> None:
    template = synth.template("data")
    (users,) = resources(template, "Custom::DatabaseUsers").values()
    properties = users["Properties"]
    privileges = {json.dumps(u["SecretArn"]): u["Privileges"] for u in properties["Users"]}
    assert sorted(map(tuple, privileges.values())) == [("SELECT",), ("SELECT", "INSERT", "UPDATE", "DELETE")]
    admin = json.dumps(properties["AdminSecretArn"])
    assert admin not in privileges
    assert properties["Schemas"]["vitrine.adapters.sql.catalog"] == sorted(
        step.version for step in MIGRATIONS
    )
    # Every schema module with migrations is migrated at deploy time (no application user has DDL): the hotel
    # and description tables exist whatever the jobs, so the read-only API finds them on a fresh deploy.
    assert set(properties["Schemas"]) == {
        "vitrine.adapters.sql.catalog",
        "vitrine.adapters.sql.hotels",
        "vitrine.adapters.sql.descriptions",
    }
    for name, versions in properties["Schemas"].items():
        assert versions == sorted(step.version for step in importlib.import_module(name).MIGRATIONS)
    creator = next(
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "database_users_handler.handler"
    )
    assert "DataClients" in json.dumps(creator["Properties"]["VpcConfig"])


def test_data_opensearch_in_vpc_encrypted_tls12_zone_aware_with_fgac_and_slow_logs(synth: Synthesis) -> None:
    template = synth.template("data")
    template.has_resource_properties(
        "AWS::OpenSearchService::Domain",
        {
            "VPCOptions": Match.object_like({"SubnetIds": Match.any_value()}),
            "EncryptionAtRestOptions": {"Enabled": True},
            "NodeToNodeEncryptionOptions": {"Enabled": True},
            "DomainEndpointOptions": Match.object_like(
                {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}
            ),
            "ClusterConfig": Match.object_like(
                {"ZoneAwarenessEnabled": True, "ZoneAwarenessConfig": {"AvailabilityZoneCount": 2}}
            ),
            "AdvancedSecurityOptions": Match.object_like(
                {"Enabled": True, "InternalUserDatabaseEnabled": False}
            ),
            "LogPublishingOptions": Match.object_like(
                {
                    "SEARCH_SLOW_LOGS": Match.object_like({"Enabled": True}),
                    "INDEX_SLOW_LOGS": Match.object_like({"Enabled": True}),
                }
            ),
        },
    )


def test_data_deletion_protection_follows_the_context_flag() -> None:
    app = App(context=app_context(**{"vitrine:deletionProtection": "false"}))
    config = load_config(app)
    network = NetworkStack(app, "Net", config=config)
    data = DataStack(app, "Data", config=config, network=network)
    Template.from_stack(data).has_resource_properties("AWS::RDS::DBCluster", {"DeletionProtection": False})
