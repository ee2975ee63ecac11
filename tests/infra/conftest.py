"""The session fixture: the whole CDK app synthesized once, as ``cdk synth`` would, without pip or Docker."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.compliance import add_compliance_checks
from infra.platform import build_platform
from tests.infra.synthesis import Synthesis, app_context


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=app_context(), outdir=str(outdir))
    platform = build_platform(app)
    add_compliance_checks(app)
    try:
        app.synth()
        error = None
    except RuntimeError as failure:
        error = str(failure)
    return Synthesis(platform, outdir, error)
