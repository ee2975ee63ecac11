"""Lambda code and dependencies layer, packaged without Docker.

The handler code is the runtime packages only, staged into one folder: ``lambdas/vitrine``,
``lambdas/handlers`` and ``model_code/common`` (the image code both sides import). ``lambdas/vitrine_dev``
(CLI, local server, demo, tiny models) never ships. The dependencies layer is built by
``pip install --platform manylinux2014_x86_64 --only-binary=:all:`` on this machine, so ``cdk synth`` needs
PyPI but no Docker engine. Tests skip the layer build with CDK's own switch (context
``aws:cdk:bundling-stacks = []``): the layer is then staged from its source folder unbuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
PYPROJECT = ROOT / "pyproject.toml"

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12")
"""Must match :data:`RUNTIME` and :data:`ARCHITECTURE`: wheels for another ABI import-fail at cold start."""

IGNORED = ("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")

HEAVY_PACKAGES = ("torch", "transformers", "faiss")
"""Never in the bundle: they exceed Lambda's 250 MB limit and live in the SageMaker containers."""


def lambda_dependencies() -> list[str]:
    """The Lambda bundle's requirements: ``[project].dependencies`` of pyproject.toml, the one list to edit."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    dependencies = [str(item) for item in project["dependencies"]]
    heavy = [item for item in dependencies if item.lower().startswith(HEAVY_PACKAGES)]
    if heavy:
        raise ValueError(f"pyproject [project].dependencies must stay Lambda-sized; remove {heavy}")
    return dependencies


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Installs the dependencies for the Lambda platform into ``<output>/python`` (the layer layout)."""

    def __init__(self, requirements: list[str]) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *args: object, **kwargs: object) -> bool:
        """Run pip; a failure stops synth with pip's output rather than falling back to a Docker build."""
        target = Path(output_dir) / "python"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            *PIP_PLATFORM,
            "--only-binary=:all:",
            "--target",
            str(target),
            *self._requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"building the Lambda dependencies layer failed:\n{result.stderr[-4000:]}")
        return True


RUNTIME_PACKAGES = (LAMBDAS_DIR / "vitrine", LAMBDAS_DIR / "handlers", ROOT / "model_code" / "common")
"""What the function code holds: the runtime packages, nothing development-only, no third-party code."""


def stage_handler_source(target: Path) -> Path:
    """Copy :data:`RUNTIME_PACKAGES` into ``target`` (emptied first); the folder the asset is made from."""
    if target.exists():
        shutil.rmtree(target)
    for package in RUNTIME_PACKAGES:
        shutil.copytree(package, target / package.name, ignore=shutil.ignore_patterns(*IGNORED))
    return target


def handler_code() -> lambda_.Code:
    """The runtime packages as the function code; the asset hash is their content's."""
    staged = stage_handler_source(Path(tempfile.mkdtemp(prefix="vitrine-lambda-")) / "src")
    return lambda_.Code.from_asset(str(staged))


def dependencies_code() -> lambda_.Code:
    """The dependencies layer's content, rebuilt only when the requirement list or target platform changes."""
    requirements = lambda_dependencies()
    fingerprint = hashlib.sha256("\n".join([*PIP_PLATFORM, *requirements]).encode()).hexdigest()
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=fingerprint,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=PipLayerBundling(requirements),
        ),
    )


def dependencies_layer(scope: Construct, construct_id: str = "Dependencies") -> lambda_.LayerVersion:
    """The layer every Vitrine function of ``scope``'s stack uses (built once per synth, shared asset)."""
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=dependencies_code(),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Vitrine Lambda dependencies: pyproject [project].dependencies for cp312 x86_64",
    )
