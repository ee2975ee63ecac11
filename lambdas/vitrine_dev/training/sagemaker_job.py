"""``vitrine train MODEL --sagemaker``: the same entry point as a SageMaker training job, built with boto3.

The ``sagemaker`` Python SDK is not used: its 2.x line (the one with the ``PyTorch`` estimator) would downgrade
packaging, attrs, protobuf and rich in this environment, and 3.x replaced estimators and pulls MLflow, FastAPI
and Flask. So this module does what the SDK's PyTorch estimator does, in the open:

1. ``source_dir=model_code``: ``model_code/`` is packed into ``sourcedir.tar.gz`` (caches left out) and uploaded
   to ``<output>/<job>/source/``;
2. ``CreateTrainingJob`` with the PyTorch training Deep Learning Container, the script-mode hyperparameters the
   training toolkit reads (``sagemaker_program`` = ``<model>/train.py``, ``sagemaker_submit_directory``, JSON-
   encoded values passed to the script as ``--name value``), the ``training`` (and ``validation``, ``model``)
   input channels, the output path, checkpoints synced from ``/opt/ml/checkpoints``, and metric definitions
   that read the script's ``step=N loss=X`` and ``validation name=value`` lines into CloudWatch.

Tests build the requests against botocore's ``Stubber``: nothing here calls AWS unless asked to.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINING_IMAGE = ("pytorch-training", "2.6.0-gpu-py312-cu124-ubuntu22.04-sagemaker")
"""The PyTorch training Deep Learning Container with the torch the inference container serves (2.6)."""
DLC_ACCOUNT = "763104351884"
SKIPPED = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
METRICS = {
    "dino_embed": ("rank_1", "rank_5", "recall_at_5"),
    "grounding_dino": ("box_recall_at_iou50", "top_box_iou"),
    "ranker": ("pair_accuracy", "cover_f1", "cover_rank_at_1"),
    "llava": ("label_accuracy",),
    "blip2_attributes": ("attribute_accuracy",),
}
"""Validation figures each script prints as ``validation name=value``."""
NUMBER = r"([0-9.eE+-]+)"


def metric_definitions(model: str) -> list[dict[str, str]]:
    """CloudWatch metric regexes over the script's log lines (the estimator's ``metric_definitions``)."""
    definitions = [{"Name": "train:loss", "Regex": rf"step=\d+ loss={NUMBER}"}]
    definitions += [
        {"Name": f"validation:{name}", "Regex": rf"validation .*{name}={NUMBER}"}
        for name in METRICS.get(model, ())
    ]
    return definitions


def dlc_account(region: str) -> str:
    """The Deep Learning Containers registry of ``region`` (``infra/images.py``'s table when importable)."""
    try:
        from infra.images import DLC_ACCOUNT_BY_REGION

        return DLC_ACCOUNT_BY_REGION.get(region, DLC_ACCOUNT)
    except ImportError:
        return DLC_ACCOUNT


def training_image(region: str) -> str:
    repository, tag = TRAINING_IMAGE
    return f"{dlc_account(region)}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


def split_s3(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
    if not match:
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
    return match.group(1), match.group(2).strip("/")


def pack_source(model_code: Path) -> bytes:
    """``model_code/`` as the ``sourcedir.tar.gz`` the training toolkit extracts into ``/opt/ml/code``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(Path(model_code).rglob("*")):
            relative = path.relative_to(model_code)
            if path.is_file() and not SKIPPED.intersection(relative.parts) and path.suffix != ".pyc":
                info = archive.gettarinfo(str(path), arcname=relative.as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
    return buffer.getvalue()


@dataclass(frozen=True)
class TrainingJob:
    """What one ``vitrine train MODEL --sagemaker`` asks for."""

    model: str
    role: str
    train_uri: str
    output_path: str
    region: str
    instance_type: str = "ml.g5.xlarge"
    instance_count: int = 1
    validation_uri: str | None = None
    base_model_uri: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str | None = None
    max_run_s: int = 24 * 3600
    volume_gb: int = 50
    spot: bool = False
    image_uri: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.job_name:
            return self.job_name
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return f"vitrine-{self.model.replace('_', '-')}-{stamp}"


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
    }


def create_request(job: TrainingJob, source_uri: str) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request (what the PyTorch estimator's ``fit`` sends)."""
    name = job.name
    hyperparameters = {key.replace("-", "_"): json.dumps(value) for key, value in job.hyperparameters.items()}
    hyperparameters |= {
        "sagemaker_program": json.dumps(f"{job.model}/train.py"),
        "sagemaker_submit_directory": json.dumps(source_uri),
        "sagemaker_region": json.dumps(job.region),
        "sagemaker_container_log_level": "20",
    }
    channels = [_channel("training", job.train_uri)]
    if job.validation_uri:
        channels.append(_channel("validation", job.validation_uri))
    if job.base_model_uri:
        channels.append(_channel("model", job.base_model_uri))
    bucket, prefix = split_s3(job.output_path)
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": job.role,
        "AlgorithmSpecification": {
            "TrainingImage": job.image_uri or training_image(job.region),
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(job.model),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "HyperParameters": hyperparameters,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": job.output_path},
        "ResourceConfig": {
            "InstanceType": job.instance_type,
            "InstanceCount": job.instance_count,
            "VolumeSizeInGB": job.volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": job.max_run_s},
        "CheckpointConfig": {
            "S3Uri": f"s3://{bucket}/{'/'.join(p for p in (prefix, name, 'checkpoints') if p)}",
            "LocalPath": "/opt/ml/checkpoints",
        },
        "EnableManagedSpotTraining": job.spot,
        "Tags": [
            {"Key": "vitrine:model", "Value": job.model},
            *({"Key": k, "Value": v} for k, v in job.tags.items()),
        ],
    }
    if job.spot:
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = job.max_run_s * 2
    return request


def start(job: TrainingJob, model_code: Path, s3: Any, sagemaker: Any) -> dict[str, Any]:
    """Upload the source, create the job; the request sent and SageMaker's answer."""
    bucket, prefix = split_s3(job.output_path)
    key = "/".join(p for p in (prefix, job.name, "source", "sourcedir.tar.gz") if p)
    s3.put_object(Bucket=bucket, Key=key, Body=pack_source(model_code))
    request = create_request(job, f"s3://{bucket}/{key}")
    answer = sagemaker.create_training_job(**request)
    return {"request": request, "response": answer}


def wait(sagemaker: Any, name: str, poll_s: float = 30.0) -> dict[str, Any]:
    """Poll until the job ends; its last description."""
    while True:
        description = sagemaker.describe_training_job(TrainingJobName=name)
        if description["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return description
        time.sleep(poll_s)
