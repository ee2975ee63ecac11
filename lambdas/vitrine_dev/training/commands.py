"""``vitrine train``, ``vitrine evaluate`` and ``vitrine quality``: the training entry points from the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vitrine.config import MODEL_NAMES

SEARCH_MODELS = ("dino_embed", "grounding_dino")
HOTEL_MODELS = ("ranker", "llava")


def add_parser(subparsers: Any) -> None:
    """Register ``train``, ``evaluate`` and ``quality``."""
    train = subparsers.add_parser(
        "train",
        help="train a model with its model_code/<model>/train.py, locally or as a SageMaker training job",
        description="Run model_code/MODEL/train.py on DIR (default: the synthetic data for that model, written "
        "under VITRINE_HOME/training/data). Arguments after `--` go to the script (`vitrine train dino_embed -- "
        "--steps 100`); `python model_code/MODEL/train.py --help` lists them.",
    )
    train.add_argument("model", choices=MODEL_NAMES)
    train.add_argument("--data", help="training data folder (with --sagemaker: an s3:// prefix)")
    train.add_argument("--validation", help="held-out data folder (with --sagemaker: an s3:// prefix)")
    train.add_argument(
        "--out",
        help="where the weights go (default VITRINE_HOME/training/models/MODEL; "
        "with --sagemaker: the s3:// output path)",
    )
    train.add_argument(
        "--base-model",
        help="weights to start from (default: the tiny random model where the "
        "script needs one; dino_embed starts from scratch)",
    )
    train.add_argument(
        "--from-pins",
        action="store_true",
        help="ranker: train on the covers operators pinned in VITRINE_HOME (better/worse pairs)",
    )
    cloud = train.add_argument_group("SageMaker training job")
    cloud.add_argument("--sagemaker", action="store_true", help="start a SageMaker training job instead")
    cloud.add_argument("--role", help="the job's execution role ARN")
    cloud.add_argument("--instance-type", default="ml.g5.xlarge", help="default ml.g5.xlarge")
    cloud.add_argument("--instance-count", type=int, default=1)
    cloud.add_argument("--job-name", help="default vitrine-MODEL-<UTC time>")
    cloud.add_argument("--region", help="default VITRINE_AWS_REGION")
    cloud.add_argument("--spot", action="store_true", help="managed spot training (resumes from checkpoints)")
    cloud.add_argument("--wait", action="store_true", help="wait for the job to end")
    train.set_defaults(func=cmd_train, script_args=[])

    evaluate = subparsers.add_parser(
        "evaluate",
        help="measure a model on labelled data in the published formats (the seeds' metrics)",
        description="Search: CMC rank-1..10 (catalog folders + street/truth.json). Detection: box recall. "
        "Covers: precision/recall/F1 and rank@1..5 (hotels.jsonl). Labels: accuracy with whole-label matching "
        "and a confusion matrix PNG (messages.jsonl). Attributes: accuracy per attribute, not visible apart "
        "(styles.csv + images).",
    )
    evaluate.add_argument("model", choices=MODEL_NAMES)
    evaluate.add_argument("--data", type=Path, required=True, metavar="DIR", help="the labelled data")
    evaluate.add_argument(
        "--weights", type=Path, metavar="DIR", help="the model folder (default: the one VITRINE_HOME serves)"
    )
    evaluate.add_argument("--control", action="store_true", help="also score the untrained model")
    evaluate.add_argument("--out", type=Path, metavar="DIR", help="write metrics.json (and PNGs) here")
    evaluate.set_defaults(func=cmd_evaluate)

    quality = subparsers.add_parser(
        "quality",
        help="train every model on the synthetic data and measure it against its untrained control",
        description="What `make quality` runs: one line per model (trained, then the untrained control on the "
        "same data), then search_recall_at_5=... search_rank_1=... cover_f1=... label_accuracy=... "
        "attribute_accuracy=... last.",
    )
    quality.add_argument("--work", type=Path, default=None, help="scratch folder (default .vitrine/quality)")
    quality.add_argument("--model", action="append", choices=list(MODEL_NAMES), help="only these models")
    quality.add_argument("--fresh", action="store_true", help="retrain models already trained in --work")
    quality.add_argument(
        "--lanes",
        type=int,
        default=None,
        help="models trained side by side, the threads shared out (default 2 where there are 2 cores or more)",
    )
    quality.set_defaults(func=cmd_quality)


def _home() -> Path:
    from vitrine.config import settings

    return settings().home.resolve()


def _script_args(args: argparse.Namespace) -> list[str]:
    """What followed ``--`` on the command line (``cli.main`` puts it there)."""
    return list(args.script_args or [])


def default_data(model: str, root: Path) -> tuple[Path, Path | None]:
    """The synthetic training (and validation) set of ``model`` under ``root``, written when missing."""
    from vitrine_dev.training import quality

    sets = quality.data_sets(root, models=(model,))
    return sets[model]


def default_base(model: str, root: Path) -> Path | None:
    """The untrained starting point the script needs (None: dino_embed builds its own from scratch)."""
    if model == "dino_embed":
        return None
    from vitrine_dev.training import quality

    return quality.base_model(model, root)


def cmd_train(args: argparse.Namespace) -> int:
    extra = _script_args(args)
    if args.sagemaker:
        return _train_sagemaker(args, extra)
    from vitrine_dev.training.runner import train_model

    root = _home() / "training"
    if args.from_pins:
        if args.model != "ranker":
            print("vitrine train: --from-pins trains the ranker", file=sys.stderr)
            return 2
        from vitrine.wiring import services
        from vitrine_dev.training.pins import export_pins

        exported = export_pins(services(), root / "data" / "pins")
        print(f"exported {exported.pairs} pairs from {exported.hotels} pinned hotels to {exported.folder}")
        if not exported.pairs:
            print(
                "vitrine train: no pinned cover to learn from (pin covers on the operator page)",
                file=sys.stderr,
            )
            return 1
        data, validation = exported.folder, None
    elif args.data:
        data, validation = Path(args.data), Path(args.validation) if args.validation else None
    else:
        data, validation = default_data(args.model, root / "data")
    out = Path(args.out) if args.out else root / "models" / args.model
    if validation:
        extra = ["--validation", str(validation), *extra]
    base = args.base_model or default_base(args.model, root)
    if base and "--base-model" not in extra:
        extra = ["--base-model", str(base), *extra]
    print(f"training {args.model} on {data} into {out}", flush=True)
    return train_model(args.model, data, out, extra)


def _hyperparameters(extra: list[str]) -> dict[str, str]:
    """``--name value`` pairs (and bare ``--flag``) as SageMaker hyperparameters."""
    values: dict[str, str] = {}
    index = 0
    while index < len(extra):
        token = extra[index]
        if not token.startswith("--"):
            raise ValueError(f"expected --name value, got {token!r}")
        name = token[2:].replace("-", "_")
        if index + 1 < len(extra) and not extra[index + 1].startswith("--"):
            values[name] = extra[index + 1]
            index += 2
        else:
            values[name] = "True"
            index += 1
    return values


def _train_sagemaker(args: argparse.Namespace, extra: list[str]) -> int:
    import boto3

    from vitrine.config import settings
    from vitrine_dev.modelkit import model_code_dir
    from vitrine_dev.training.sagemaker_job import TrainingJob, start, wait

    missing = [
        flag
        for flag, value in (("--role", args.role), ("--data", args.data), ("--out", args.out))
        if not value
    ]
    if missing:
        print(
            f"vitrine train --sagemaker: give {', '.join(missing)} (--data and --out as s3:// URIs)",
            file=sys.stderr,
        )
        return 2
    region = args.region or settings().aws.region
    job = TrainingJob(
        model=args.model,
        role=args.role,
        train_uri=args.data,
        output_path=args.out,
        region=region,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        validation_uri=args.validation,
        base_model_uri=args.base_model,
        hyperparameters=_hyperparameters(extra),
        job_name=args.job_name,
        spot=args.spot,
    )
    started = start(
        job,
        model_code_dir(),
        boto3.client("s3", region_name=region),
        boto3.client("sagemaker", region_name=region),
    )
    name = started["request"]["TrainingJobName"]
    print(f"started SageMaker training job {name}: {started['response'].get('TrainingJobArn', '')}")
    if args.wait:
        description = wait(boto3.client("sagemaker", region_name=region), name)
        print(
            f"{name}: {description['TrainingJobStatus']} {description.get('ModelArtifacts', {}).get('S3ModelArtifacts', '')}"
        )
        return 0 if description["TrainingJobStatus"] == "Completed" else 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vitrine_dev.training.runner import evaluate_model

    weights = args.weights
    if weights is None:
        from vitrine.config import settings
        from vitrine.wiring import local_model_dirs

        weights = Path(local_model_dirs(settings())[args.model])
    options: dict[str, Any] = {"control": args.control} if args.control else {}
    if args.out:
        options["out"] = args.out
    figures = evaluate_model(args.model, weights, args.data, **options)
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from vitrine_dev.training import quality

    return quality.run(
        args.work, models=tuple(args.model or quality.QUALITY_MODELS), fresh=args.fresh, lanes=args.lanes
    )
