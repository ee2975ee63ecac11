"""cdk-nag (AWS Solutions + Serverless) and cfn-lint over the synthesized app: nothing left unexplained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.synthesis import Synthesis

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_cdk_nag_reports_no_unacknowledged_finding(synth: Synthesis) -> None:
    assert synth.violations() == []
    assert synth.error is None


def test_cfn_lint_finds_no_error_in_any_template(synth: Synthesis) -> None:
    templates = sorted(str(path) for path in synth.outdir.glob("*.template.json"))
    assert len(templates) == 7
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
    synth: Synthesis,
) -> None:
    """cdk-nag accepts ``Resource::*`` per construct; this holds every such statement to actions that cannot be
    scoped, so an acknowledgement can never hide a data-store grant on ``*``."""
    offenders = []
    for stack, template in synth.templates().items():
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


def test_compliance_resource_wildcards_live_in_policies_of_their_own(synth: Synthesis) -> None:
    """Vitrine's roles keep their resource-less actions apart (``ResourcelessActions``), where the
    acknowledgement sits: the roles' default policies hold no ``*`` resource."""
    for stack, template in synth.templates().items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy" or "DefaultPolicy" not in logical_id:
                continue
            if logical_id.startswith(("CustomCDK", "BucketNotificationsHandler", "CustomS3AutoDelete")):
                continue  # CDK's own singleton handlers
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            assert all(s.get("Resource") != "*" for s in statements), f"{stack}/{logical_id}"
