"""Data stack: encrypted, TLS-only buckets; Aurora and OpenSearch encrypted and inside the VPC."""

from __future__ import annotations

import json

from aws_cdk import App
from aws_cdk.assertions import Match, Template

from infra.config import load_config
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack
from tests.infra.synthesis import Synthesis, app_context, resources


def test_data_every_bucket_is_encrypted_private_and_tls_only(synth: Synthesis) -> None:
    template = synth.template("data")
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 4  # access logs, catalog, uploads, results
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
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"ExpirationInDays": 1, "Status": "Enabled"})]
            }
        },
    )


def test_data_aurora_is_serverless_v2_encrypted_iam_auth_in_data_subnets(synth: Synthesis) -> None:
    template = synth.template("data")
    template.has_resource_properties(
        "AWS::RDS::DBCluster",
        {
            "Engine": "aurora-mysql",
            "StorageEncrypted": True,
            "EnableIAMDatabaseAuthentication": True,
            "DeletionProtection": True,
            "EnableCloudwatchLogsExports": ["audit", "error", "general", "slowquery"],
            "ServerlessV2ScalingConfiguration": Match.object_like({"MinCapacity": 0.5}),
        },
    )
    for instance in resources(template, "AWS::RDS::DBInstance").values():
        assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
        assert instance["Properties"]["PubliclyAccessible"] is False
    subnet_group = next(iter(resources(template, "AWS::RDS::DBSubnetGroup").values()))
    assert all("datasubnet" in json.dumps(ref).lower() for ref in subnet_group["Properties"]["SubnetIds"])
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 1)


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
    network = NetworkStack(app, "Net")
    data = DataStack(app, "Data", config=config, network=network)
    Template.from_stack(data).has_resource_properties("AWS::RDS::DBCluster", {"DeletionProtection": False})
