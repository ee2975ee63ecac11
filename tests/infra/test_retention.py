"""A failed first deploy can be retried: nothing it keeps has a name the retry needs again.

CloudFormation keeps a resource after a rollback when its DeletionPolicy is ``Retain`` or ``Snapshot`` (and
cannot delete a database with deletion protection). Such a resource must not have a fixed physical name, or
the retry fails with "already exists". ``RetainExceptOnCreate`` (CDK's ``RETAIN_ON_UPDATE_OR_DELETE``) is
deleted by a rolled-back create, so it may keep a fixed name (the buckets and the domain other stacks address
by name); a name made from the stack's id is unique per creation.
"""

from __future__ import annotations

import json
from typing import Any

from tests.infra.synthesis import Synthesis

NAME_PROPERTIES = (
    "BucketName",
    "DomainName",
    "DBClusterIdentifier",
    "DBInstanceIdentifier",
    "TableName",
    "QueueName",
    "LogGroupName",
    "Name",
    "RoleName",
    "EndpointName",
    "StateMachineName",
    "UserPoolName",
)
KEPT_AFTER_ROLLBACK = ("Retain", "Snapshot")


def _kept_after_rollback(resource: dict[str, Any]) -> bool:
    properties = resource.get("Properties", {})
    return (
        resource.get("DeletionPolicy") in KEPT_AFTER_ROLLBACK or properties.get("DeletionProtection") is True
    )


def _fixed_name(properties: dict[str, Any]) -> str | None:
    for key in NAME_PROPERTIES:
        if key in properties and "AWS::StackId" not in json.dumps(properties[key]):
            return f"{key}={json.dumps(properties[key])[:80]}"
    return None


def test_retention_no_resource_kept_after_a_rollback_has_a_fixed_name(any_synth: Synthesis) -> None:
    offenders = []
    kept = 0
    for stack, template in any_synth.templates().items():
        for logical_id, resource in template["Resources"].items():
            if not _kept_after_rollback(resource):
                continue
            kept += 1
            name = _fixed_name(resource.get("Properties", {}))
            if name:
                offenders.append(f"{stack}/{logical_id} ({resource['Type']}): {name}")
    assert kept, "nothing is retained at all?"
    assert offenders == []


def test_retention_data_that_outlives_the_stack_is_kept_on_delete_but_not_on_a_failed_create(
    synth: Synthesis,
) -> None:
    data = synth.raw("data")["Resources"]
    policies = {
        resource["Type"]: resource.get("DeletionPolicy")
        for resource in data.values()
        if resource["Type"] in ("AWS::S3::Bucket", "AWS::OpenSearchService::Domain", "AWS::RDS::DBCluster")
    }
    assert policies == {
        "AWS::S3::Bucket": "RetainExceptOnCreate",
        "AWS::OpenSearchService::Domain": "RetainExceptOnCreate",
        "AWS::RDS::DBCluster": "Snapshot",
    }
    cluster = next(r for r in data.values() if r["Type"] == "AWS::RDS::DBCluster")
    assert "AWS::StackId" in json.dumps(cluster["Properties"]["DBClusterIdentifier"])
