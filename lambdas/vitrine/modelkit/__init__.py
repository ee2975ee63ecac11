"""Model tooling the CLI offers: tiny offline models, SageMaker artifacts, and where ``model_code/`` lives.

Only light modules at import time: torch and transformers are imported inside the builders, so this
package is safe to import from the Lambda bundle's CLI wiring.
"""

from __future__ import annotations

from pathlib import Path

from vitrine.config import settings
from vitrine.errors import ConfigError


def model_code_dir() -> Path:
    """The ``model_code/`` folder: ``VITRINE_MODEL_CODE_DIR`` when set, else the one beside ``lambdas/``."""
    configured = settings().model_code_dir
    folder = configured or Path(__file__).resolve().parents[3] / "model_code"
    if not (folder / "common" / "imaging.py").is_file():
        raise ConfigError(f"no model_code folder at {folder}: set VITRINE_MODEL_CODE_DIR")
    return folder
