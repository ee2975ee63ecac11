"""``vitrine train MODEL --sagemaker``: the training job's requests, checked at the boto3 boundary.

botocore's Stubber holds the exact calls (the source upload, then ``CreateTrainingJob``) and validates each
request against the service model, so a field SageMaker does not accept fails here, not in an account.
"""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from botocore.stub import ANY, Stubber

from vitrine_dev.modelkit import model_code_dir
from vitrine_dev.training.sagemaker_job import (
    TrainingJob,
    create_request,
    metric_definitions,
    pack_source,
    start,
)

ROLE = "arn:aws:iam::123456789012:role/vitrine-training"


def job(**changes) -> TrainingJob:
    fields = {
        "model": "dino_embed",
        "role": ROLE,
        "train_uri": "s3://vitrine-data/search/train/",
        "validation_uri": "s3://vitrine-data/search/test/",
        "output_path": "s3://vitrine-models/training",
        "region": "eu-west-1",
        "hyperparameters": {"stage": "finetune", "steps": "800", "batch-size": "64"},
        "job_name": "vitrine-dino-embed-test",
    }
    return TrainingJob(**(fields | changes))


def test_source_dir_is_model_code_packed_without_caches() -> None:
    with tarfile.open(fileobj=io.BytesIO(pack_source(model_code_dir())), mode="r:gz") as archive:
        names = archive.getnames()
    assert "dino_embed/train.py" in names and "common/training.py" in names and "ranker/model.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_create_training_job_request_is_the_pytorch_estimators() -> None:
    request = create_request(
        job(), "s3://vitrine-models/training/vitrine-dino-embed-test/source/sourcedir.tar.gz"
    )
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.6.0-gpu-py312-cu124-ubuntu22.04-sagemaker"
    )
    hyper = request["HyperParameters"]
    assert json.loads(hyper["sagemaker_program"]) == "dino_embed/train.py"
    assert json.loads(hyper["sagemaker_submit_directory"]).endswith("/source/sourcedir.tar.gz")
    assert json.loads(hyper["batch_size"]) == "64"  # --batch_size 64 reaches the script's dataclass
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["training", "validation"]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://vitrine-models/training"}
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
    }


def test_metric_definitions_read_the_scripts_log_lines() -> None:
    import re

    definitions = {d["Name"]: re.compile(d["Regex"]) for d in metric_definitions("dino_embed")}
    assert definitions["train:loss"].search("step=120 loss=3.5124").group(1) == "3.5124"
    line = "validation rank_1=0.8052 rank_5=0.9740 rank_10=1.0000 recall_at_5=0.9740"
    assert definitions["validation:rank_5"].search(line).group(1) == "0.9740"


@pytest.mark.parametrize("spot", [False, True])
def test_start_uploads_the_source_then_creates_the_job(spot: bool) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    sagemaker = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    spec = job(spot=spot, base_model_uri="s3://vitrine-models/base/dino/")
    key = "training/vitrine-dino-embed-test/source/sourcedir.tar.gz"
    expected = create_request(spec, f"s3://vitrine-models/{key}")
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/vitrine-dino-embed-test"
    with Stubber(s3) as s3_stub, Stubber(sagemaker) as sm_stub:
        s3_stub.add_response("put_object", {}, {"Bucket": "vitrine-models", "Key": key, "Body": ANY})
        sm_stub.add_response("create_training_job", {"TrainingJobArn": arn}, expected)
        started = start(spec, model_code_dir(), s3, sagemaker)
        s3_stub.assert_no_pending_responses()
        sm_stub.assert_no_pending_responses()
    assert started["response"]["TrainingJobArn"] == arn
    assert started["request"]["EnableManagedSpotTraining"] is spot
    assert [c["ChannelName"] for c in started["request"]["InputDataConfig"]] == [
        "training",
        "validation",
        "model",
    ]
    if spot:
        assert started["request"]["StoppingCondition"]["MaxWaitTimeInSeconds"] > 0


def test_cli_refuses_a_sagemaker_job_without_role_or_s3_locations(capsys) -> None:
    from vitrine_dev.cli import main

    assert main(["train", "dino_embed", "--sagemaker", "--data", "s3://b/d"]) == 2
    assert "--role" in capsys.readouterr().err
