"""Model tooling the CLI offers: tiny offline models, SageMaker artifacts, and where ``model_code/`` lives."""

from __future__ import annotations

from pathlib import Path

from vitrine.config import settings


def model_code_dir() -> Path:
    """The ``model_code/`` folder: ``VITRINE_MODEL_CODE_DIR`` when set, else the one beside ``lambdas/``."""
    return settings().models.code_dir()
