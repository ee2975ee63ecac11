"""cdk-nag (AWS Solutions + Serverless) and cfn-lint over the synthesized app, with the default jobs and with every
job: nothing left unexplained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aws_cdk import Stack

from tests.infra.synthesis import Synthesis

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


STACKS = {
    "default jobs": {"Network", "Data", "Models", "Ingestion", "Api", "Frontend", "Backfill"},
    "all jobs": {
        "Network",
        "Data",
        "Models",
        "Ingestion",
        "Api",
        "Frontend",
        "Backfill",
        "Hotels",
        "Descriptions",
    },
}


def test_cdk_nag_reports_no_unacknowledged_finding(any_synth: Synthesis) -> None:
    assert any_synth.violations() == []
    assert any_synth.error is None


def test_compliance_stacks_follow_the_jobs(synth: Synthesis, synth_all_jobs: Synthesis) -> None:
    for synthesis, expected in ((synth, STACKS["default jobs"]), (synth_all_jobs, STACKS["all jobs"])):
        assert set(synthesis.templates()) == {f"Vitrine-{name}" for name in expected}, synthesis.jobs


def test_cfn_lint_finds_no_error_in_any_template(any_synth: Synthesis) -> None:
    synth = any_synth
    templates = sorted(str(path) for path in synth.outdir.glob("*.template.json"))
    assert len(templates) == (9 if "hotels" in synth.jobs else 7)
    run = subprocess.run(
        [str(CFN_LINT), "--format", "json", *templates], capture_output=True, text=True, check=False
    )
    findings = json.loads(run.stdout or "[]")
    errors = [f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == []


RESOURCELESS_ACTIONS = {
    # ENIs for functions and models in the VPC
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    # traces, metrics, image pulls, log delivery
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # CDK's own deploy-time handlers: CloudFront invalidation of the page, the products/ notification
    "cloudfront:CreateInvalidation",
    "cloudfront:GetInvalidation",
    "s3:PutBucketNotification",
}
"""Actions AWS authorises on no resource narrower than ``*``."""


def test_compliance_wildcard_resources_grant_only_actions_without_resource_permissions(
    any_synth: Synthesis,
) -> None:
    """cdk-nag accepts ``Resource::*`` per construct; this holds every such statement to actions that cannot be
    scoped, so an acknowledgement can never hide a data-store grant on ``*``."""
    offenders = []
    for stack, template in any_synth.templates().items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if statement.get("Resource") != "*" and statement.get("Resource") != ["*"]:
                    continue
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                offenders += [f"{stack}/{logical_id}: {a}" for a in actions if a not in RESOURCELESS_ACTIONS]
    assert offenders == []


def test_compliance_resource_wildcards_live_in_policies_of_their_own(any_synth: Synthesis) -> None:
    """Vitrine's roles keep their resource-less actions apart (``ResourcelessActions``), where the
    acknowledgement sits: the roles' default policies hold no ``*`` resource."""
    for stack, template in any_synth.templates().items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy" or "DefaultPolicy" not in logical_id:
                continue
            if logical_id.startswith(("CustomCDK", "BucketNotificationsHandler", "CustomS3AutoDelete")):
                continue  # CDK's own singleton handlers
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            assert all(s.get("Resource") != "*" for s in statements), f"{stack}/{logical_id}"


def test_compliance_resource_star_is_acknowledged_only_on_resourceless_policies(any_synth: Synthesis) -> None:
    """Every ``AwsSolutions-IAM5[Resource::*]`` acknowledgement of Vitrine's own constructs sits on a
    ``ResourcelessActions`` policy, so it covers nothing granted later on the role (the state machines included:
    ``trace_and_log``)."""
    stacks = [s for s in vars(any_synth.platform).values() if isinstance(s, Stack)]
    acknowledged = []
    for stack in stacks:
        for construct in stack.node.find_all():
            path = construct.node.path
            if "/".join(path.split("/")[1:2]).startswith(("CustomCDK", "BucketNotifications", "Custom::")):
                continue  # CDK's own singleton handlers
            for entry in construct.node.metadata:
                data = entry.data if isinstance(entry.data, dict) else {}
                if "Annotation::AwsSolutions-IAM5[Resource::*]" in data:
                    acknowledged.append(path)
                    assert path.endswith("/ResourcelessActions"), path
    assert acknowledged
