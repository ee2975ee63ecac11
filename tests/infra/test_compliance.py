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
