"""The `vitrine` command as an operator runs it (subprocesses, a fresh local home)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import jpeg

VITRINE = [sys.executable, "-m", "vitrine_dev.cli"]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["ingest"],
        ["prepare"],
        ["calibrate"],
        ["demo"],
        ["models"],
        ["models", "tiny"],
        ["models", "package"],
    ],
)
def test_every_subcommand_has_help(command: list[str]) -> None:
    done = subprocess.run([*VITRINE, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: vitrine")


def test_ingest_a_folder_twice_then_report(tmp_path: Path) -> None:
    source = tmp_path / "drop"
    (source / "products" / "CL-1").mkdir(parents=True)
    (source / "products" / "CL-1" / "product.json").write_text('{"name": "Red cap", "category": "hat"}')
    (source / "products" / "CL-1" / "front.jpg").write_bytes(jpeg(pattern=12))
    (source / "products" / "CL-1" / "notes.txt").write_text("not an image")
    (source / "readme.md").write_text("outside any ingested prefix")
    env = {**os.environ, "VITRINE_HOME": str(tmp_path / "home"), "VITRINE_PROFILE": "local"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*VITRINE, *args], capture_output=True, text=True, timeout=300, env=env)

    first = run("ingest", str(source), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "3 uploaded, 0 unchanged, 3 events dispatched, 0 to retry, 1 files outside" in first.stdout
    second = run("ingest", str(source), "--quiet")
    assert "0 uploaded, 3 unchanged" in second.stdout
    report = json.loads(run("ingest", "--report", "--json").stdout)
    assert report["counts"]["indexed"] == 1 and report["counts"]["rejected"] == 1
    rejected = [i for i in report["items"] if i["status"] == "rejected"]
    assert rejected[0]["key"] == "products/CL-1/notes.txt" and "not an image" in rejected[0]["reason"]
