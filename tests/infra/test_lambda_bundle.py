"""The Lambda bundle: handlers import without torch, transformers or faiss; the layer list stays light."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
