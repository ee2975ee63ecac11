"""``vitrine models ...``: build tiny offline models and package SageMaker artifacts."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from vitrine.errors import ConfigError
from vitrine_dev.modelkit.tiny import MODELS


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
    vendoring = package.add_mutually_exclusive_group()
    vendoring.add_argument(
        "--wheels",
        type=Path,
        metavar="DIR",
        help="folder of pre-downloaded wheels: vendor the ones the requirements need into code/wheels/ "
        "so the endpoint installs them offline",
    )
    vendoring.add_argument(
        "--download-wheels",
        action="store_true",
        help="fill a temporary wheel folder with pip download (needs PyPI), then vendor as --wheels does",
    )
    vendoring.add_argument(
        "--no-wheels",
        action="store_true",
        help="ship no wheels: only for an endpoint WITH network access (the CDK app's endpoints have none)",
    )
    package.set_defaults(func=cmd_package)


NO_INSTALL = {"llava"}
"""Models whose container installs nothing from requirements.txt (DJL LMI serves LLaVA from the weights)."""


def cmd_tiny(args: argparse.Namespace) -> int:
    """Build the requested tiny models and print where each one is."""
    from vitrine_dev.modelkit.tiny import build_tiny

    for model, folder in build_tiny(args.out, args.models or MODELS, overwrite=args.overwrite).items():
        print(f"{model}\t{folder}")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """Write the artifact; print each vendored wheel, then the artifact's path and size."""
    from vitrine_dev.modelkit import model_code_dir
    from vitrine_dev.modelkit.package import download_wheels, package_model, select_wheels

    code = model_code_dir()
    requirements = code / args.model / "requirements.txt"
    installs = args.model not in NO_INSTALL
    if installs and not (args.wheels or args.download_wheels or args.no_wheels):
        raise ConfigError(
            f"{args.model} installs {requirements.name} at start and the endpoints run network-isolated: pass "
            "--download-wheels (or --wheels DIR) to ship its wheels, or --no-wheels for an endpoint with network"
        )
    with tempfile.TemporaryDirectory(prefix="vitrine-wheels-") as scratch:
        wheels = download_wheels(requirements, Path(scratch)) if args.download_wheels else args.wheels
        out = package_model(args.model, args.weights, args.out, code, wheels_dir=wheels)
        if wheels is not None:
            for wheel in select_wheels(requirements.read_text(encoding="utf-8"), wheels):
                print(f"vendored\tcode/wheels/{wheel.name}\t{wheel.stat().st_size} bytes")
    size = out.stat().st_size
    print(f"{out}\t{size} bytes ({size / 2**20:.1f} MiB)")
    return 0
