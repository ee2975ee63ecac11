"""SageMaker container images: repository and tag from ``infra/containers.toml``, registry from a region map.

The pin file is the one place a container version is chosen; the model requirements are tested against it
(``tests/infra/test_model_requirements.py``), so a transformers range the container's torch cannot run fails
the suite instead of an endpoint's start. A lookup at synth (SDK call, SSM parameter) would make ``cdk synth``
need credentials and network; the Deep Learning Containers registry accounts change only when AWS opens a
region, so a table is enough.
Source: https://github.com/aws/deep-learning-containers/blob/master/available_images.md
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PIN_FILE = Path(__file__).with_name("containers.toml")

DLC_ACCOUNT = "763104351884"
"""Registry account of the Deep Learning Containers in most commercial regions."""

DLC_ACCOUNT_BY_REGION = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-south-2": "772153158452",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ca-west-1": "204538143572",
    "eu-central-2": "380420809688",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
}
"""Regions whose registry is not :data:`DLC_ACCOUNT`."""

UNSUPPORTED_PREFIXES = ("cn-", "us-gov-", "us-iso")
"""Partitions with their own registries and ARNs; Vitrine does not target them."""


def pins() -> dict[str, dict[str, Any]]:
    """The pin file, one table per container."""
    return tomllib.loads(PIN_FILE.read_text())


@dataclass(frozen=True)
class ContainerImage:
    """One Deep Learning Container: its repository and tag."""

    repository: str
    tag: str

    def uri(self, region: str) -> str:
        """The image URI in ``region``; refuses partitions whose registries this table does not cover."""
        if region.startswith(UNSUPPORTED_PREFIXES):
            raise ValueError(f"no Deep Learning Container registry known for region {region!r}")
        account = DLC_ACCOUNT_BY_REGION.get(region, DLC_ACCOUNT)
        return f"{account}.dkr.ecr.{region}.amazonaws.com/{self.repository}:{self.tag}"

    def repository_arn(self, region: str) -> str:
        """The ECR repository ARN, for a pull permission scoped to this one repository."""
        account = DLC_ACCOUNT_BY_REGION.get(region, DLC_ACCOUNT)
        return f"arn:aws:ecr:{region}:{account}:repository/{self.repository}"


def _image(name: str) -> ContainerImage:
    pin = pins()[name]
    return ContainerImage(pin["repository"], pin["tag"])


PYTORCH_INFERENCE = _image("pytorch_inference")
"""Runs ``model_code/<model>/inference.py`` through the SageMaker inference toolkit (model_fn ... output_fn)."""

DJL_LMI = _image("djl_lmi")
"""DJL Large Model Inference with vLLM rolling batch: serves LLaVA-NeXT with an OpenAI chat-completions API."""


def image_for(model: str) -> ContainerImage:
    """LLaVA runs on DJL LMI (vLLM batching); every other model on the PyTorch inference container."""
    return DJL_LMI if model == "llava" else PYTORCH_INFERENCE
