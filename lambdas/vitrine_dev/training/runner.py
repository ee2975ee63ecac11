"""Running ``model_code/<model>/train.py`` and ``evaluate.py`` from ``vitrine``: as SageMaker runs them.

Training runs in a child process (``python model_code/<model>/train.py ...``), the entry point exactly as a
training job starts it, so what works here works there. Evaluation imports ``model_code/<model>/evaluate.py``
in-process (model_code on ``sys.path``, as the endpoint's toolkit puts ``code/`` there) and calls its
``evaluate``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from vitrine.config import MODEL_NAMES

EVALUATED = ("dino_embed", "grounding_dino", "ranker", "llava", "blip2_attributes")


def model_code() -> Path:
    from vitrine_dev.modelkit import model_code_dir

    return model_code_dir()


def entry_point(model: str) -> Path:
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODEL_NAMES)}")
    return model_code() / model / "train.py"


def train_command(model: str, data: Path, out: Path, extra: Sequence[str] = ()) -> list[str]:
    """The argv of one local training run."""
    return [sys.executable, str(entry_point(model)), "--train", str(data), "--model-dir", str(out), *extra]


def train_model(model: str, data: Path, out: Path, extra: Sequence[str] = (), *, quiet: bool = False) -> int:
    """Run the entry point; its exit status. Unless ``quiet`` its output goes to this terminal; quiet keeps
    the errors (stderr) but not the progress nor the libraries' deprecation notices."""
    output = subprocess.DEVNULL if quiet else None
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"} if quiet else None
    command = train_command(model, data, out, extra)
    return subprocess.run(command, stdout=output, env=env, check=False).returncode


def evaluation_module(model: str) -> ModuleType:
    """``model_code/<model>/evaluate.py`` imported with model_code on ``sys.path``."""
    if model not in EVALUATED:
        raise ValueError(f"no evaluation for {model!r}; choose from {', '.join(EVALUATED)}")
    code = str(model_code())
    if code not in sys.path:
        sys.path.insert(0, code)
    return importlib.import_module(f"{model}.evaluate")


def evaluate_model(model: str, weights: Path | str, data: Path, **options: Any) -> dict[str, Any]:
    """The figures of ``weights`` (a folder) on ``data`` from the model's own evaluation."""
    return evaluation_module(model).evaluate(str(weights), Path(data), **options)
