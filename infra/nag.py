"""Accepting cdk-nag findings one by one, with the reason next to the code that causes them.

cdk-nag 3 reports a wildcard resource as ``AwsSolutions-IAM5[Resource::<ARN as nag prints it>]``. Grants on
Vitrine's own resources are therefore written as ARN templates with ``{partition}``, ``{account}`` (and
``{region}`` where the stack's region may be unresolved):
the same template gives the real ARN (CloudFormation pseudo parameters) and the finding id to accept, so a
scoped wildcard such as ``.../products/*`` is accepted exactly, and any other wildcard still fails synth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, Aws, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

_REAL = {"partition": Aws.PARTITION, "account": Aws.ACCOUNT_ID, "region": Aws.REGION}
_AS_NAG_PRINTS = {"partition": "<AWS::Partition>", "account": "<AWS::AccountId>", "region": "<AWS::Region>"}


def accept(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge finding ``rule`` (e.g. ``AwsSolutions-L1``) on ``scope`` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def resolve(template: str) -> str:
    """The ARN (or name) of a template, ``{partition}``, ``{account}``, ``{region}`` filled with pseudo parameters."""
    return template.format(**_REAL)


def grant_scoped(
    role: iam.IRole,
    actions: Sequence[str],
    arn_templates: Sequence[str],
    reason: str,
    conditions: dict[str, Any] | None = None,
) -> None:
    """Allow ``actions`` on the templated ARNs; a trailing wildcard is accepted on ``role`` with ``reason``."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions), resources=[resolve(t) for t in arn_templates], conditions=conditions
        )
    )
    for template in arn_templates:
        if "*" in template:
            accept(role, f"AwsSolutions-IAM5[Resource::{template.format(**_AS_NAG_PRINTS)}]", reason)
