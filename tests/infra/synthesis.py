"""The synthesized app as the infrastructure tests see it: templates, cdk-nag findings, helpers.

Two syntheses per test session, with cdk-nag on and the layer build skipped: ``conftest.synth`` with the
default jobs of ``cdk.json`` and ``conftest.synth_all_jobs`` with every job of ``infra.config.JOBS`` (the
hotels and descriptions stacks, the ranker and BLIP-2 endpoints, and the grants they bring elsewhere).

The app gets the same context as ``cdk synth`` (``cdk.json``), plus CDK's own switch that skips asset
bundling, so the suite needs neither PyPI nor Docker. Validation failures do not abort the session: the
templates are still written, and the compliance test reads the validation report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.compliance import add_compliance_checks
from infra.config import JOBS
from infra.platform import Platform, build_platform

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


def app_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context, bundling skipped, a fixed region: what ``make synth`` sees, minus pip."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:bundling-stacks": [], "vitrine:region": REGION, **overrides}


ALL_JOBS = {"vitrine:jobs": list(JOBS)}
"""The context override that deploys every job."""


def synthesize(outdir: Path, **context: Any) -> Synthesis:
    """The whole app with ``app_context(**context)``, synthesized into ``outdir`` as ``cdk synth`` would (cdk-nag
    on); a validation failure is kept in :attr:`Synthesis.error` rather than raised."""
    app = App(context=app_context(**context), outdir=str(outdir))
    platform = build_platform(app)
    add_compliance_checks(app)
    try:
        app.synth()
        error = None
    except RuntimeError as failure:
        error = str(failure)
    return Synthesis(platform, outdir, error)


@dataclass
class Synthesis:
    platform: Platform
    outdir: Path
    error: str | None

    @property
    def jobs(self) -> tuple[str, ...]:
        return self.platform.config.jobs

    def template(self, stack: str) -> Template:
        """The synthesized template of one stack, by attribute name on :class:`Platform` (``"api"``...)."""
        name = getattr(self.platform, stack).stack_name
        return Template.from_json(json.loads((self.outdir / f"{name}.template.json").read_text()))

    def raw(self, stack: str) -> dict[str, Any]:
        """The synthesized template of one stack as JSON, by attribute name on :class:`Platform`."""
        name = getattr(self.platform, stack).stack_name
        return json.loads((self.outdir / f"{name}.template.json").read_text())

    def templates(self) -> dict[str, dict[str, Any]]:
        """Stack name → template of every stack."""
        return {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in self.outdir.glob("*.template.json")
        }

    def violations(self) -> list[str]:
        """``rule at construct path`` for every unacknowledged cdk-nag finding."""
        report_path = self.outdir / "validation-report.json"
        if not report_path.exists():
            return []
        report = json.loads(report_path.read_text())
        return [
            f"{violation['ruleName']} at {construct['constructPath']}"
            for plugin in report["pluginReports"]
            for violation in plugin["violations"]
            for construct in violation["violatingConstructs"]
        ]


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource of one CloudFormation type."""
    return template.find_resources(kind)


def vitrine_functions(template: Template) -> dict[str, dict[str, Any]]:
    """The Lambda functions that run Vitrine handlers (not CDK's own deploy-time helpers)."""
    return {
        logical_id: resource
        for logical_id, resource in resources(template, "AWS::Lambda::Function").items()
        if str(resource["Properties"].get("Handler", "")).startswith("handlers.")
    }
