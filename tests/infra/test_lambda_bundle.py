"""The Lambda bundle: handlers import without torch, transformers or faiss; the layer list stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from infra.bundling import HEAVY_PACKAGES, lambda_dependencies, stage_handler_source

BLOCKING_IMPORT = textwrap.dedent(
    """
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is not in the Lambda bundle")
            return None

    sys.meta_path.insert(0, Block())
    import handlers.api, handlers.ingest, handlers.backfill
    print(sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r}))
    """
)


def test_lambda_handlers_import_from_the_staged_asset_without_heavy_ml_libraries(tmp_path) -> None:
    staged = stage_handler_source(tmp_path / "asset")
    assert sorted(p.name for p in staged.iterdir()) == ["common", "handlers", "vitrine"]
    env = {**os.environ, "PYTHONPATH": str(staged), "POWERTOOLS_TRACE_DISABLED": "true"}
    code = BLOCKING_IMPORT.format(blocked={*HEAVY_PACKAGES, "vitrine_dev"})
    # -I: the installed project (vitrine_dev, the editable common) stays out of reach, as in Lambda.
    run = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(staged)!r}); " + code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_lambda_layer_requirements_are_the_light_project_dependencies() -> None:
    requirements = lambda_dependencies()
    assert any(item.startswith("aws-lambda-powertools") for item in requirements)
    assert not [item for item in requirements if item.lower().startswith(HEAVY_PACKAGES)]


FORBIDDEN_IN_ASSETS = ("vitrine_dev", "torch", "transformers")


def _asset_folders(outdir: Path) -> dict[str, Path]:
    """Asset hash → the folder cdk deploy would zip and upload (from the assets manifests of cdk.out)."""
    folders = {}
    for manifest in outdir.glob("*.assets.json"):
        for asset_hash, asset in json.loads(manifest.read_text())["files"].items():
            source = Path(asset["source"]["path"])
            folder = source if source.is_absolute() else outdir / source
            if folder.is_dir():
                folders[asset_hash] = folder
    return folders


def test_lambda_synthesized_code_assets_hold_no_dev_code_and_no_ml_libraries(synth) -> None:
    """What cdk deploy would upload: every function's code and every layer, as staged in cdk.out."""
    folders = _asset_folders(synth.outdir)
    checked = []
    for template in synth.templates().values():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                code = resource["Properties"]["Code"]
            elif resource["Type"] == "AWS::Lambda::LayerVersion":
                code = resource["Properties"]["Content"]
            else:
                continue
            key = code.get("S3Key")
            if not isinstance(key, str) or key.removesuffix(".zip") not in folders:
                continue
            folder = folders[key.removesuffix(".zip")]
            names = {part for path in folder.rglob("*") for part in path.relative_to(folder).parts}
            found = sorted(names & set(FORBIDDEN_IN_ASSETS))
            assert found == [], f"{logical_id}: {found} in {folder}"
            checked.append(resource["Type"])
            if str(resource["Properties"].get("Handler", "")).startswith("handlers."):
                assert {"vitrine", "handlers", "common"} <= {p.name for p in folder.iterdir()}
    assert checked.count("AWS::Lambda::Function") >= 5 and "AWS::Lambda::LayerVersion" in checked
