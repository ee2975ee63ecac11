"""Artifacts that carry their wheels: network-isolated endpoints install ``code/requirements.txt`` offline.

The wheels here are small but valid zips (``*.dist-info/METADATA``, ``WHEEL``, ``RECORD``), enough for the
packager's choice and for pip's own resolver, which proves the generated requirements file works for pip.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.model_code.conftest import MODEL_CODE
from tests.model_code.test_packaging import run_cli
from vitrine_dev.modelkit import package as packaging_module
from vitrine_dev.modelkit.package import download_command, package_model, select_wheels

pytest.importorskip("packaging")

HEADER = "--no-index\n--find-links /opt/ml/model/code/wheels\n"
LINUX = "cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"


def make_wheel(
    folder: Path, name: str, version: str, requires: Iterable[str] = (), tag: str = "py3-none-any"
) -> Path:
    """A minimal valid wheel ``<name>-<version>-<tag>.whl`` whose METADATA lists ``requires``."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    files = {
        f"{name}/__init__.py": "",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    wheel = folder / f"{name}-{version}-{tag}.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def hub_wheels(folder: Path, *, transformers_requires: Iterable[str] = ()) -> Path:
    """What ``dino_embed`` (transformers, safetensors) needs, plus decoys the packager must leave out."""
    requires = ["huggingface-hub>=1.0", 'torch>=2.2; extra == "torch"', 'tzdata; sys_platform == "win32"']
    make_wheel(folder, "transformers", "5.0.0", [*requires, *transformers_requires])
    make_wheel(folder, "transformers", "4.57.0")
    make_wheel(folder, "transformers", "6.0.0")
    make_wheel(folder, "huggingface_hub", "1.1.0")
    make_wheel(folder, "safetensors", "0.5.0", tag=LINUX)
    make_wheel(folder, "safetensors", "0.6.0", tag="cp38-abi3-macosx_11_0_arm64")
    make_wheel(folder, "unrelated", "1.0.0")
    return folder


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A from_pretrained-shaped folder: packaging only checks for config.json and copies the rest."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "dinov2"}')
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


def members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_artifact_carries_the_wheels_and_installs_from_them(weights: Path, tmp_path: Path) -> None:
    wheels = hub_wheels(tmp_path / "wheels", transformers_requires=["numpy>=1.17"])
    content = members(
        package_model("dino_embed", weights, tmp_path / "m.tar.gz", MODEL_CODE, wheels_dir=wheels)
    )
    vendored = {name.removeprefix("code/wheels/") for name in content if name.startswith("code/wheels/")}
    assert vendored == {
        "huggingface_hub-1.1.0-py3-none-any.whl",
        f"safetensors-0.5.0-{LINUX}.whl",
        "transformers-5.0.0-py3-none-any.whl",
    }
    original = (MODEL_CODE / "dino_embed" / "requirements.txt").read_text()
    assert content["code/requirements.txt"].decode() == HEADER + original
    assert (
        content["code/wheels/transformers-5.0.0-py3-none-any.whl"]
        == (wheels / "transformers-5.0.0-py3-none-any.whl").read_bytes()
    )
    assert {"config.json", "model.safetensors", "code/inference.py", "code/common/imaging.py"} <= set(content)


def test_without_wheels_the_requirements_are_untouched(weights: Path, tmp_path: Path) -> None:
    content = members(package_model("dino_embed", weights, tmp_path / "m.tar.gz", MODEL_CODE))
    assert content["code/requirements.txt"] == (MODEL_CODE / "dino_embed" / "requirements.txt").read_bytes()
    assert not any(name.startswith("code/wheels/") for name in content)


def test_vendored_artifact_is_reproducible(weights: Path, tmp_path: Path) -> None:
    wheels = hub_wheels(tmp_path / "wheels")
    first = package_model("dino_embed", weights, tmp_path / "a.tar.gz", MODEL_CODE, wheels_dir=wheels)
    second = package_model("dino_embed", weights, tmp_path / "b.tar.gz", MODEL_CODE, wheels_dir=wheels)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_a_missing_wheel_is_refused_naming_the_requirement(weights: Path, tmp_path: Path) -> None:
    wheels = hub_wheels(tmp_path / "wheels")
    (wheels / f"safetensors-0.5.0-{LINUX}.whl").unlink()
    with pytest.raises(FileNotFoundError, match=r"no wheel for requirement safetensors>=0\.4.*macosx"):
        package_model("dino_embed", weights, tmp_path / "m.tar.gz", MODEL_CODE, wheels_dir=wheels)
    assert not (tmp_path / "m.tar.gz").exists()


def test_a_wheel_outside_the_specifier_is_refused(tmp_path: Path) -> None:
    make_wheel(tmp_path, "transformers", "4.57.0")
    with pytest.raises(FileNotFoundError, match=r"transformers<6,>=5\.0; found versions 4\.57\.0"):
        select_wheels("transformers>=5.0,<6\n", tmp_path)


def test_a_missing_dependency_is_refused_naming_who_needs_it(tmp_path: Path) -> None:
    wheels = hub_wheels(tmp_path)
    (wheels / "huggingface_hub-1.1.0-py3-none-any.whl").unlink()
    with pytest.raises(FileNotFoundError, match=r"huggingface-hub>=1\.0 \(needed by transformers 5\.0\.0\)"):
        select_wheels("transformers>=5.0,<6\n", wheels)


def test_names_match_after_pep_503_normalisation(tmp_path: Path) -> None:
    make_wheel(tmp_path, "huggingface_hub", "1.1.0")
    assert [w.name for w in select_wheels("Huggingface.Hub>=1  # comment\n", tmp_path)] == [
        "huggingface_hub-1.1.0-py3-none-any.whl"
    ]


def test_requested_extras_pull_their_dependencies(tmp_path: Path) -> None:
    make_wheel(tmp_path, "peft", "0.13.0", ['accelerate>=1; extra == "train"'])
    make_wheel(tmp_path, "accelerate", "1.2.0")
    assert len(select_wheels("peft>=0.13\n", tmp_path)) == 1
    assert len(select_wheels("peft[train]>=0.13\n", tmp_path)) == 2


def test_pip_options_in_requirements_cannot_be_vendored(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"-r other\.txt"):
        select_wheels("-r other.txt\n", tmp_path)


def test_pip_resolves_the_artifact_offline(weights: Path, tmp_path: Path) -> None:
    """pip itself reads the shipped requirements file and finds every project among the shipped wheels."""
    pip_version = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    )
    version = (
        tuple(int(p) for p in pip_version.stdout.split()[1].split(".")[:2]) if pip_version.stdout else ()
    )
    if version < (22, 2):
        pytest.skip("pip --dry-run needs pip 22.2")
    wheels = hub_wheels(tmp_path / "wheels")
    tarball = package_model("dino_embed", weights, tmp_path / "m.tar.gz", MODEL_CODE, wheels_dir=wheels)
    root = tmp_path / "opt-ml-model"
    with tarfile.open(tarball) as archive:
        archive.extractall(root, filter="data")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-index",
            "--find-links", str(root / "code" / "wheels"), "-r", str(root / "code" / "requirements.txt"),
            "--dry-run", "--ignore-installed", "--target", str(tmp_path / "target"), "--report", str(report),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    installed = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert installed == {"transformers": "5.0.0", "huggingface_hub": "1.1.0", "safetensors": "0.5.0"}


def test_download_command_targets_the_serving_container(tmp_path: Path) -> None:
    argv = download_command(tmp_path / "requirements.txt", tmp_path / "wheels", python="/py")
    assert argv == [
        "/py", "-m", "pip", "download", "-r", str(tmp_path / "requirements.txt"), "--only-binary=:all:",
        "--platform", "manylinux2014_x86_64", "--python-version", "3.12", "--implementation", "cp",
        "-d", str(tmp_path / "wheels"),
    ]  # fmt: skip


def test_cli_package_with_wheels_prints_what_it_vendored(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = hub_wheels(tmp_path / "wheels")
    out = tmp_path / "m.tar.gz"
    argv = ("models", "package", "dino_embed", "--weights", str(weights), "--out", str(out))
    assert run_cli(*argv, "--wheels", str(wheels)) == 0
    printed = capsys.readouterr().out
    assert "vendored\tcode/wheels/transformers-5.0.0-py3-none-any.whl\t" in printed
    assert "unrelated" not in printed
    assert f"{out}\t{out.stat().st_size} bytes (" in printed
    with pytest.raises(SystemExit):
        run_cli(*argv, "--wheels", str(wheels), "--download-wheels")


def test_cli_download_wheels_vendors_what_pip_downloaded(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pip download`` needs PyPI: stand in for it with a folder filled the same way, checking what it gets."""
    calls: list[Path] = []

    def fake_download(requirements: Path, dest: Path) -> Path:
        calls.append(requirements)
        return hub_wheels(dest)

    monkeypatch.setattr(packaging_module, "download_wheels", fake_download)
    out = tmp_path / "m.tar.gz"
    assert (
        run_cli(
            "models",
            "package",
            "dino_embed",
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--download-wheels",
        )
        == 0
    )
    assert len(calls) == 1 and calls[0].samefile(MODEL_CODE / "dino_embed" / "requirements.txt")
    assert "code/wheels/safetensors-0.5.0-" in capsys.readouterr().out
    assert f"code/wheels/safetensors-0.5.0-{LINUX}.whl" in members(out)
