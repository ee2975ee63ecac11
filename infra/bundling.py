"""Lambda code and dependencies layer, packaged without Docker.

The handler code is the runtime packages only, staged into one folder: ``lambdas/vitrine``,
``lambdas/handlers`` and ``model_code/common`` (the image code both sides import). ``lambdas/vitrine_dev``
(CLI, local server, demo, tiny models) never ships.

The dependencies layer is installed from ``infra/layer.lock``: every distribution the Lambda bundle needs,
pinned, with the sha256 of its one wheel for the Lambda platform (cp312, manylinux2014_x86_64), resolved from
pyproject's ``[project].dependencies`` by ``python -m infra.layer_lock``. The lock's own hash is the asset key,
so a new resolution is a new layer and the same lock is the same layer on every machine. Wheels are kept in a
cache folder (``VITRINE_LAYER_WHEELS``, default ``~/.cache/vitrine/layer-wheels``): when it holds every locked
wheel, synth installs with ``--no-index`` and needs no network; otherwise it downloads the missing ones first
and, without PyPI, stops with a message naming them. Tests skip the layer build with CDK's own switch (context
``aws:cdk:bundling-stacks = []``): the layer is then staged from the lock alone, unbuilt.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
PYPROJECT = ROOT / "pyproject.toml"
LAYER_LOCK = Path(__file__).with_name("layer.lock")
WHEEL_CACHE_VARIABLE = "VITRINE_LAYER_WHEELS"
DEFAULT_WHEEL_CACHE = Path.home() / ".cache" / "vitrine" / "layer-wheels"

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


@dataclass(frozen=True)
class Locked:
    """One line of the lock: a distribution, its version and the sha256 of its wheel for the Lambda platform."""

    name: str
    version: str
    sha256: str


_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s+--hash=sha256:([0-9a-f]{64})$")


def read_lock(lock: Path = LAYER_LOCK) -> list[Locked]:
    """The lock's entries; a malformed line stops synth with its number."""
    entries = []
    text = lock.read_text().replace("\\\n", " ")
    for number, line in enumerate(text.splitlines(), 1):
        line = " ".join(line.split("#", 1)[0].split())
        if not line:
            continue
        match = _LOCK_LINE.match(line)
        if not match:
            raise ValueError(f"{lock}:{number}: expected 'name==version --hash=sha256:<hex>', got {line!r}")
        entries.append(Locked(*match.groups()))
    if not entries:
        raise ValueError(f"{lock} locks nothing: run `python -m infra.layer_lock`")
    return entries


def lock_fingerprint(lock: Path = LAYER_LOCK) -> str:
    """The layer's asset key: the lock's content and the target platform, nothing else."""
    return hashlib.sha256("\n".join([*PIP_PLATFORM, lock.read_text()]).encode()).hexdigest()


def wheel_cache() -> Path:
    """Where locked wheels are kept between syntheses."""
    return Path(os.environ.get(WHEEL_CACHE_VARIABLE) or DEFAULT_WHEEL_CACHE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_wheels(entries: Sequence[Locked], cache: Path) -> list[Locked]:
    """The entries whose wheel (matched by its hash, so a corrupt download does not count) is not in ``cache``."""
    present = {_sha256(path) for path in cache.glob("*.whl")} if cache.is_dir() else set()
    return [entry for entry in entries if entry.sha256 not in present]


class LayerWheelsMissing(RuntimeError):
    """The lock needs wheels that are neither cached nor downloadable here."""


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def fetch_wheels(lock: Path, cache: Path) -> None:
    """Download the locked wheels that ``cache`` lacks (needs PyPI or a mirror); verify their hashes."""
    missing = missing_wheels(read_lock(lock), cache)
    if not missing:
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vitrine-lock-") as scratch:
        subset = Path(scratch) / "missing.lock"
        subset.write_text("".join(f"{e.name}=={e.version} --hash=sha256:{e.sha256}\n" for e in missing))
        run = _pip(
            "download",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            *PIP_PLATFORM,
            "--dest",
            str(cache),
            "-r",
            str(subset),
        )
    still = missing_wheels(missing, cache)
    if run.returncode != 0 or still:
        names = ", ".join(f"{e.name}=={e.version}" for e in still or missing)
        raise LayerWheelsMissing(
            f"The Lambda dependencies layer needs wheels that are not in {cache} and could not be downloaded: "
            f"{names}.\nsynth works offline once that folder holds every wheel of {lock.name}: run "
            f"`python -m infra.layer_lock --fetch` on a machine with PyPI (or a mirror) and copy the folder here, "
            f"or point {WHEEL_CACHE_VARIABLE} at a folder that holds them.\npip said: {run.stderr.strip()[-1500:]}"
        )


def install_layer(lock: Path, cache: Path, target: Path) -> None:
    """Install the lock into ``target`` from ``cache`` only (``--no-index``), fetching missing wheels first."""
    fetch_wheels(lock, cache)
    run = _pip(
        "install",
        "--no-index",
        "--find-links",
        str(cache),
        "--no-deps",
        "--require-hashes",
        "--no-compile",
        "--only-binary=:all:",
        *PIP_PLATFORM,
        "--target",
        str(target),
        "-r",
        str(lock),
    )
    if run.returncode != 0:
        raise RuntimeError(
            f"installing the Lambda dependencies layer from {cache} failed:\n{run.stderr[-4000:]}"
        )


@jsii.implements(ILocalBundling)
class LockedLayerBundling:
    """Installs the lock for the Lambda platform into ``<output>/python`` (the layer layout)."""

    def __init__(self, lock: Path, cache: Path | None = None) -> None:
        self._lock = lock
        self._cache = cache

    def try_bundle(self, output_dir: str, *args: object, **kwargs: object) -> bool:
        """Build the layer; a failure stops synth with its reason rather than falling back to a Docker build."""
        install_layer(self._lock, self._cache or wheel_cache(), Path(output_dir) / "python")
        return True


RUNTIME_PACKAGES = (LAMBDAS_DIR / "vitrine", LAMBDAS_DIR / "handlers", ROOT / "model_code" / "common")
"""What the function code holds: the runtime packages, nothing development-only, no third-party code."""


def stage_handler_source(target: Path, extra_modules: Sequence[Path] = ()) -> Path:
    """Copy :data:`RUNTIME_PACKAGES` (and ``extra_modules``, top level) into ``target``, emptied first."""
    if target.exists():
        shutil.rmtree(target)
    for package in RUNTIME_PACKAGES:
        shutil.copytree(package, target / package.name, ignore=shutil.ignore_patterns(*IGNORED))
    for module in extra_modules:
        shutil.copy2(module, target / module.name)
    return target


def handler_code(extra_modules: Sequence[Path] = ()) -> lambda_.Code:
    """The runtime packages as the function code; the asset hash is their content's.

    ``extra_modules`` are deploy-time handlers kept in ``infra/`` that run Vitrine code (the database users
    custom resource): they ship beside the packages, never in the Lambdas that serve requests.
    """
    staged = stage_handler_source(Path(tempfile.mkdtemp(prefix="vitrine-lambda-")) / "src", extra_modules)
    return lambda_.Code.from_asset(str(staged))


def dependencies_code(lock: Path = LAYER_LOCK, cache: Path | None = None) -> lambda_.Code:
    """The dependencies layer's content, keyed by the lock: rebuilt only when the lock (or platform) changes."""
    read_lock(lock)  # a malformed lock stops synth here, not halfway through a build
    source = Path(tempfile.mkdtemp(prefix="vitrine-layer-"))
    shutil.copy2(lock, source / lock.name)
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=lock_fingerprint(lock),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LockedLayerBundling(lock, cache),
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
        description="Vitrine Lambda dependencies: infra/layer.lock for cp312 x86_64",
    )
