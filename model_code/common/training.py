"""What every ``train.py`` shares: SageMaker-compatible arguments, the data manifest, the run summary.

A SageMaker training job passes hyperparameters as ``--name value`` and locations as ``SM_*`` environment
variables; the same script run locally takes the same flags, so one entry point serves both.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def base_parser(description: str, default_base_model: str) -> argparse.ArgumentParser:
    """Arguments every training script takes; defaults come from the SageMaker environment when present."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "model")))
    parser.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAINING", "data/train"))
    )
    parser.add_argument(
        "--base-model",
        default=os.environ.get("SM_CHANNEL_MODEL", default_base_model),
        help="from_pretrained folder or hub id to start from (SageMaker: the 'model' input channel)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def read_manifest(folder: Path, name: str) -> list[dict[str, Any]]:
    """The JSON-lines manifest ``folder/name``; image paths in it are relative to ``folder``."""
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"training data has no {name} in {folder}")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows


def write_summary(model_dir: Path, summary: dict[str, Any]) -> None:
    """``training_summary.json`` beside the weights: how they were made travels with them."""
    (Path(model_dir) / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
