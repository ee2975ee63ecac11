"""``vitrine models ...``: build tiny offline models and package SageMaker artifacts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vitrine.modelkit.tiny import MODELS


def add_parser(subparsers: Any) -> None:
    """Register ``models tiny`` and ``models package`` on the CLI's subparsers."""
    models = subparsers.add_parser("models", help="build tiny offline models or SageMaker model artifacts")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    tiny = actions.add_parser(
        "tiny", help="write tiny random models (wiring and tests only) into DIR/<model>/, built offline"
    )
    tiny.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write the models into"
    )
    tiny.add_argument(
        "--model",
        action="append",
        choices=MODELS,
        dest="models",
        metavar="M",
        help=f"one model to build (repeatable; default: all of {', '.join(MODELS)})",
    )
    tiny.add_argument("--overwrite", action="store_true", help="rebuild folders that already hold a model")
    tiny.set_defaults(func=cmd_tiny)

    package = actions.add_parser(
        "package", help="build a SageMaker model.tar.gz: weights at the root, the handler under code/"
    )
    package.add_argument("model", choices=MODELS, help="which model_code/<model> handler to ship")
    package.add_argument(
        "--weights", type=Path, required=True, metavar="DIR", help="from_pretrained folder of the weights"
    )
    package.add_argument("--out", type=Path, required=True, metavar="FILE", help="the model.tar.gz to write")
    package.set_defaults(func=cmd_package)


def cmd_tiny(args: argparse.Namespace) -> int:
    """Build the requested tiny models and print where each one is."""
    from vitrine.modelkit.tiny import build_tiny

    for model, folder in build_tiny(args.out, args.models or MODELS, overwrite=args.overwrite).items():
        print(f"{model}\t{folder}")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """Write the artifact and print its path and size."""
    from vitrine.modelkit import model_code_dir
    from vitrine.modelkit.package import package_model

    out = package_model(args.model, args.weights, args.out, model_code_dir())
    print(f"{out}\t{out.stat().st_size} bytes")
    return 0
