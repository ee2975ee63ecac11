"""cdk-nag on every synth: the AWS Solutions and Serverless packs.

Findings fail ``cdk synth``. Each accepted finding is acknowledged next to the resource that causes it,
with the reason, through ``Validations.of(construct).acknowledge`` (cdk-nag 3's API).
"""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks


def add_compliance_checks(app: App) -> None:
    """Run both packs over every stack of ``app`` when it synthesizes."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
