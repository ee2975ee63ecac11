"""The serving container and the model requirements agree: no transformers release the pinned torch
cannot run (transformers disables PyTorch below its floor, and ``model_fn`` then fails at endpoint start)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from infra.config import MODEL_NAMES
from infra.images import PYTORCH_INFERENCE, image_for, pins

MODEL_CODE = Path(__file__).resolve().parents[2] / "model_code"
CANDIDATES = [
    Version(f"{major}.{minor}.{patch}")
    for major in (3, 4, 5, 6, 7)
    for minor in range(80)
    for patch in (0, 3)
]
"""Release numbers to probe a specifier with: a requirement may allow only what the pin allows."""


def _requirement(model: str, name: str) -> Requirement | None:
    for line in (MODEL_CODE / model / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-") and Requirement(line).name.lower() == name:
            return Requirement(line)
    return None


def _torch_floor_of_installed_transformers() -> tuple[Version, SpecifierSet]:
    """The transformers the suite runs, and the torch range it declares (its ``torch`` extra)."""
    installed = Version(metadata.version("transformers"))
    for item in metadata.requires("transformers") or []:
        requirement = Requirement(item)
        if requirement.name == "torch" and requirement.marker and "torch" in str(requirement.marker):
            return installed, requirement.specifier
    raise AssertionError("transformers declares no torch extra")


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_requirements_allow_only_the_pinned_transformers_range(model: str) -> None:
    pinned = SpecifierSet(pins()["pytorch_inference"]["transformers"])
    requirement = _requirement(model, "transformers")
    assert requirement is not None, f"{model}/requirements.txt must name transformers"
    allowed = [v for v in CANDIDATES if v in requirement.specifier]
    assert allowed, f"{model}: {requirement} allows nothing"
    beyond = [str(v) for v in allowed if v not in pinned]
    assert beyond == [], f"{model}: {requirement} allows {beyond[:3]}..., outside the pin {pinned}"
    assert _requirement(model, "torch") is None, f"{model}: the container's torch is the only torch"


def test_pinned_transformers_range_runs_on_the_pinned_torch() -> None:
    pin = pins()["pytorch_inference"]
    torch, pinned = Version(pin["torch"]), SpecifierSet(pin["transformers"])
    assert pin["tag"].startswith(f"{pin['torch']}-") and f"-py{pin['python'].replace('.', '')}-" in pin["tag"]
    installed, torch_floor = _torch_floor_of_installed_transformers()
    # Nothing above the minor release the suite runs (its patch releases keep its floor): a newer one may
    # raise the torch floor.
    beyond = [str(v) for v in CANDIDATES if v in pinned and v.release[:2] > installed.release[:2]]
    assert beyond == [], f"{pinned} reaches past transformers {installed}: {beyond[:3]}"
    assert installed in pinned
    assert torch in torch_floor, (
        f"transformers {installed} needs torch {torch_floor}; the container has {torch}"
    )


def test_images_are_read_from_the_pin_file() -> None:
    assert PYTORCH_INFERENCE.tag == pins()["pytorch_inference"]["tag"]
    assert {image_for(m).repository for m in MODEL_NAMES} == {"pytorch-inference", "djl-inference"}


def test_model_packager_vendors_wheels_for_the_container_python() -> None:
    from vitrine_dev.modelkit import package

    assert pins()["pytorch_inference"]["python"] == package.TARGET_PYTHON
