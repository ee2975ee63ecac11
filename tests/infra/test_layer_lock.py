"""The Lambda dependencies layer: a hashed lock that follows pyproject, is the asset key, installs without
PyPI from cached wheels, and says plainly which wheels it needs when they are neither cached nor reachable."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.bundling import (
    HEAVY_PACKAGES,
    RUNTIME,
    LayerWheelsMissing,
    dependencies_code,
    install_layer,
    lambda_dependencies,
    lock_fingerprint,
    read_lock,
)

OFFLINE = {
    # No index at all, and nothing from this machine's pip configuration: only the cache folder counts.
    "PIP_CONFIG_FILE": "/dev/null",
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_EXTRA_INDEX_URL": "",
    "PIP_FIND_LINKS": "",
    "PIP_RETRIES": "0",
    "PIP_TIMEOUT": "2",
}


def test_layer_lock_pins_every_project_dependency_with_a_hash() -> None:
    locked = {canonicalize_name(entry.name): entry for entry in read_lock()}
    for item in lambda_dependencies():
        requirement = Requirement(item)
        entry = locked.get(canonicalize_name(requirement.name))
        assert entry is not None, (
            f"{requirement.name} is not in infra/layer.lock: run python -m infra.layer_lock"
        )
        assert requirement.specifier.contains(entry.version, prereleases=True), (
            f"{entry} breaks {requirement}"
        )
    assert not [name for name in locked if name.startswith(HEAVY_PACKAGES)]


def _wheel(folder: Path, name: str = "vitrinefake", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, so the install path runs without any index."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _lock_for(wheel: Path, lock: Path, name: str = "vitrinefake", version: str = "1.0") -> Path:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock.write_text(f"# test lock\n{name}=={version} \\\n    --hash=sha256:{digest}\n")
    return lock


def test_layer_installs_from_cached_wheels_without_any_index(tmp_path: Path, monkeypatch) -> None:
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    cache = tmp_path / "cache"
    lock = _lock_for(_wheel(cache), tmp_path / "layer.lock")

    install_layer(lock, cache, tmp_path / "out" / "python")

    assert (tmp_path / "out" / "python" / "vitrinefake" / "__init__.py").read_text() == "VALUE = 42\n"


def test_layer_without_its_wheels_and_without_pypi_names_what_it_needs(tmp_path: Path, monkeypatch) -> None:
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    lock = _lock_for(_wheel(tmp_path / "elsewhere"), tmp_path / "layer.lock")
    cache = tmp_path / "empty-cache"

    with pytest.raises(LayerWheelsMissing) as failure:
        install_layer(lock, cache, tmp_path / "out" / "python")

    message = str(failure.value)
    assert "vitrinefake==1.0" in message and str(cache) in message
    assert "python -m infra.layer_lock --fetch" in message and "VITRINE_LAYER_WHEELS" in message


def test_layer_refuses_a_cached_wheel_whose_hash_is_not_the_locked_one(tmp_path: Path, monkeypatch) -> None:
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    cache = tmp_path / "cache"
    lock = _lock_for(_wheel(cache), tmp_path / "layer.lock")
    (cache / "vitrinefake-1.0-py3-none-any.whl").write_bytes(b"tampered")

    with pytest.raises(LayerWheelsMissing, match=r"vitrinefake==1\.0"):
        install_layer(lock, cache, tmp_path / "out" / "python")


def _layer_key(lock: Path) -> str:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Layer")
    lambda_.LayerVersion(stack, "Deps", code=dependencies_code(lock), compatible_runtimes=[RUNTIME])
    layer = next(iter(Template.from_stack(stack).find_resources("AWS::Lambda::LayerVersion").values()))
    return json.dumps(layer["Properties"]["Content"]["S3Key"])


def test_layer_asset_key_is_the_lock_hash(tmp_path: Path) -> None:
    lock = _lock_for(_wheel(tmp_path / "w"), tmp_path / "layer.lock")
    elsewhere = tmp_path / "other" / "layer.lock"
    elsewhere.parent.mkdir()
    elsewhere.write_text(lock.read_text())
    first = _layer_key(lock)
    # The key is the lock's content only: the same lock elsewhere (another machine, checkout) is the same layer.
    assert lock_fingerprint(elsewhere) == lock_fingerprint(lock)
    assert _layer_key(elsewhere) == first
    lock.write_text(lock.read_text() + "# any change to the lock is a new layer\n")
    assert _layer_key(lock) != first
