"""SageMaker artifact layout, tiny model builds, and the ``vitrine models`` commands."""

from __future__ import annotations

import argparse
import hashlib
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.model_code.conftest import MODEL_CODE
from vitrine.errors import ConfigError
from vitrine_dev.modelkit import commands, model_code_dir
from vitrine_dev.modelkit.package import package_model
from vitrine_dev.modelkit.tiny import MARKER, build_tiny, is_tiny


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vitrine")
    commands.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("model", ["grounding_dino", "dino_embed"])
def test_package_layout_is_sagemakers(model: str, tiny_model: Callable[[str], Path], tmp_path: Path) -> None:
    tarball = package_model(model, tiny_model(model), tmp_path / "model.tar.gz", MODEL_CODE)
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"config.json", "model.safetensors", "code/inference.py", "code/requirements.txt"} <= names
    assert {"code/common/__init__.py", "code/common/imaging.py", "code/common/payload.py"} <= names
    assert MARKER in names
    assert not any("__pycache__" in n or n.endswith("train.py") for n in names)


def test_package_is_reproducible(tiny_model: Callable[[str], Path], tmp_path: Path) -> None:
    first = package_model("dino_embed", tiny_model("dino_embed"), tmp_path / "a.tar.gz", MODEL_CODE)
    second = package_model("dino_embed", tiny_model("dino_embed"), tmp_path / "b.tar.gz", MODEL_CODE)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_package_refuses_a_folder_without_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        package_model("dino_embed", tmp_path, tmp_path / "model.tar.gz", MODEL_CODE)


def test_package_refuses_a_model_without_handler(tiny_model: Callable[[str], Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"inference\.py"):
        package_model("nope", tiny_model("dino_embed"), tmp_path / "model.tar.gz", MODEL_CODE)


def test_build_tiny_is_seeded_and_marks_its_folders(tmp_path: Path) -> None:
    first = build_tiny(tmp_path / "a", ["dino_embed"])["dino_embed"]
    second = build_tiny(tmp_path / "b", ["dino_embed"])["dino_embed"]
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert is_tiny(first) and not is_tiny(tmp_path)


def test_build_tiny_keeps_an_existing_model_unless_told(tmp_path: Path) -> None:
    folder = build_tiny(tmp_path, ["dino_embed"])["dino_embed"]
    (folder / "model.safetensors").write_bytes(b"kept")
    build_tiny(tmp_path, ["dino_embed"])
    assert (folder / "model.safetensors").read_bytes() == b"kept"
    build_tiny(tmp_path, ["dino_embed"], overwrite=True)
    assert (folder / "model.safetensors").read_bytes() != b"kept"


def test_build_tiny_refuses_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_tiny(tmp_path, ["resnet"])


def test_cli_models_tiny_then_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("models", "tiny", "--out", str(tmp_path / "models"), "--model", "dino_embed") == 0
    assert "dino_embed" in capsys.readouterr().out
    weights = tmp_path / "models" / "dino_embed"
    out = tmp_path / "dist" / "model.tar.gz"
    argv = ("models", "package", "dino_embed", "--weights", str(weights), "--out", str(out))
    with pytest.raises(ConfigError, match="--download-wheels"):  # it would pip-install at start, offline
        run_cli(*argv)
    assert not out.exists()
    assert run_cli(*argv, "--no-wheels") == 0
    assert str(out) in capsys.readouterr().out
    with tarfile.open(out) as archive:
        assert "code/inference.py" in archive.getnames()


def test_cli_models_rejects_unknown_model() -> None:
    with pytest.raises(SystemExit):
        run_cli("models", "tiny", "--out", "x", "--model", "resnet")


def test_model_code_dir_is_found_beside_lambdas() -> None:
    assert model_code_dir().resolve() == MODEL_CODE.resolve()
