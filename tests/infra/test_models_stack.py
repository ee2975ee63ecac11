"""Models stack: an endpoint for each model a deployed job calls (named as the Lambdas expect), each with its own
narrow role and autoscaling; the artifact's digest, not the repository's code, decides a rollout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from infra.constructs.model_endpoint import ARTIFACT_DIGEST_VARIABLE, ModelEndpoint
from infra.platform import build_platform
from tests.infra.synthesis import Synthesis, app_context, resources
from vitrine.config import ModelSettings

ENDPOINTS = {"vitrine-grounding-dino", "vitrine-dino-embed", "vitrine-llava"}
"""What search and catalog ingestion (llava tags) call; the ranker and BLIP-2 wait for the jobs that use them."""


def test_models_endpoints_are_the_ones_the_jobs_call_with_the_names_the_lambdas_use(synth: Synthesis) -> None:
    template = synth.template("models")
    names = {
        e["Properties"]["EndpointName"] for e in resources(template, "AWS::SageMaker::Endpoint").values()
    }
    assert names == ENDPOINTS
    assert {ModelSettings().endpoint_name(m) for m in synth.platform.models.endpoints} == ENDPOINTS
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 3)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 3)


def test_models_follow_the_job_flags() -> None:
    def endpoints(**context: str) -> set[str]:
        return set(build_platform(App(context=app_context(**context))).models.endpoints)

    assert endpoints(**{"vitrine:jobs": '["search"]'}) == {"grounding_dino", "dino_embed"}
    assert endpoints(**{"vitrine:jobs": '["catalog"]', "vitrine:tagger": "bedrock"}) == {
        "grounding_dino",
        "dino_embed",
    }
    # Hotels classify with llava and score covers with the ranker; descriptions read attributes with BLIP-2.
    assert endpoints(**{"vitrine:jobs": '["hotels"]'}) == {"llava", "ranker"}
    assert endpoints(**{"vitrine:jobs": '["descriptions"]'}) == {"blip2_attributes"}
    assert endpoints(**{"vitrine:jobs": '["search", "catalog", "hotels", "descriptions"]'}) == {
        "grounding_dino",
        "dino_embed",
        "llava",
        "ranker",
        "blip2_attributes",
    }


def test_models_all_jobs_deploy_all_five_endpoints_with_autoscaling(synth_all_jobs: Synthesis) -> None:
    template = synth_all_jobs.template("models")
    names = {
        e["Properties"]["EndpointName"] for e in resources(template, "AWS::SageMaker::Endpoint").values()
    }
    assert names == ENDPOINTS | {"vitrine-ranker", "vitrine-blip2-attributes"}
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 5)


def test_models_llava_runs_djl_lmi_with_serving_properties_as_options(synth: Synthesis) -> None:
    models = resources(synth.template("models"), "AWS::SageMaker::Model").values()
    containers = {json.dumps(m["Properties"]["PrimaryContainer"]["ModelDataUrl"]): m for m in models}
    llava = next(m for url, m in containers.items() if "/models/llava/" in url)
    container = llava["Properties"]["PrimaryContainer"]
    assert "djl-inference" in container["Image"]
    assert container["Environment"]["OPTION_ROLLING_BATCH"] == "vllm"
    assert "OPTION_MODEL_ID" not in container["Environment"]
    others = [m for url, m in containers.items() if "/models/llava/" not in url]
    assert all("pytorch-inference" in m["Properties"]["PrimaryContainer"]["Image"] for m in others)
    assert all(m["Properties"]["EnableNetworkIsolation"] is True for m in models)
    assert all(m["Properties"]["VpcConfig"]["Subnets"] for m in models)


def test_models_each_role_reads_only_its_own_artifact(synth: Synthesis) -> None:
    template = synth.template("models")
    for logical_id, policy in resources(template, "AWS::IAM::Policy").items():
        if "ResourcelessActions" in logical_id:
            continue
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        reads = [s for s in statements if s["Action"] == "s3:GetObject"]
        assert len(reads) == 1
        assert json.dumps(reads[0]["Resource"]).endswith('/model.tar.gz"]]}')


def _bare_stack(tmp_path: Path, with_code: bool) -> tuple[Stack, ec2.Vpc, Path]:
    stack = Stack(App(), "Bare", env={"region": "us-west-2"})
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    code = tmp_path / "model_code"
    (code / "common").mkdir(parents=True)
    if with_code:
        (code / "ranker").mkdir()
        (code / "ranker" / "inference.py").write_text("def model_fn(model_dir): ...\n")
    return stack, vpc, code


def test_model_endpoint_async_option_scales_to_zero_and_grants_async_invoke(tmp_path: Path) -> None:
    stack, vpc, code = _bare_stack(tmp_path, with_code=True)
    endpoint = ModelEndpoint(
        stack,
        "Ranker",
        model="ranker",
        endpoint_name="vitrine-ranker",
        artifact_uri="s3://artifacts/models/ranker/model.tar.gz",
        vpc_subnets=vpc.isolated_subnets or vpc.private_subnets,
        security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
        async_output_bucket="results-{account}",
        model_code_dir=code,
    )
    caller = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    endpoint.grant_invoke(caller)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"AsyncInferenceConfig": Match.object_like({"OutputConfig": Match.any_value()})},
    )
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 0})
    # Target tracking cannot leave zero: a step policy on HasBacklogWithoutCapacity adds the first instance.
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": Match.object_like({"AdjustmentType": "ChangeInCapacity"}),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", Match.object_like({"MetricName": "HasBacklogWithoutCapacity"})
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "sagemaker:InvokeEndpointAsync"})]}},
    )


def test_model_endpoint_refuses_a_model_without_code_in_the_repository(tmp_path: Path) -> None:
    stack, vpc, code = _bare_stack(tmp_path, with_code=False)
    with pytest.raises(FileNotFoundError, match=r"inference\.py is missing"):
        ModelEndpoint(
            stack,
            "Ranker",
            model="ranker",
            endpoint_name="vitrine-ranker",
            artifact_uri="s3://artifacts/models/ranker/model.tar.gz",
            vpc_subnets=vpc.private_subnets,
            security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
            model_code_dir=code,
        )


def _model_environment(tmp_path: Path, digest: str | None, code: str) -> dict[str, str]:
    stack, vpc, code_dir = _bare_stack(tmp_path, with_code=True)
    (code_dir / "ranker" / "inference.py").write_text(code)
    ModelEndpoint(
        stack,
        "Ranker",
        model="ranker",
        endpoint_name="vitrine-ranker",
        artifact_uri="s3://artifacts/models/ranker/model.tar.gz",
        artifact_digest=digest,
        vpc_subnets=vpc.isolated_subnets or vpc.private_subnets,
        security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
        model_code_dir=code_dir,
    )
    model = next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::Model").values()))
    return model["Properties"]["PrimaryContainer"]["Environment"]


def test_model_endpoint_rolls_out_a_new_artifact_not_a_repository_edit(tmp_path: Path) -> None:
    """The Model resource (replaced, hence rolled out, when its environment changes) follows the digest of
    the artifact that runs; editing model_code/ without repackaging changes nothing deployed."""
    first = _model_environment(tmp_path / "a", "aa" * 32, "def model_fn(model_dir): ...\n")
    edited = _model_environment(tmp_path / "b", "aa" * 32, "def model_fn(model_dir): return 1\n")
    reuploaded = _model_environment(tmp_path / "c", "bb" * 32, "def model_fn(model_dir): ...\n")
    assert first[ARTIFACT_DIGEST_VARIABLE] == "aa" * 32
    assert edited == first
    assert reuploaded != first


def test_model_endpoint_cannot_be_both_synchronous_and_asynchronous(synth: Synthesis) -> None:
    with pytest.raises(ValueError, match="both synchronously and asynchronously"):
        synth.platform.models.endpoint("dino_embed", asynchronous=True)
