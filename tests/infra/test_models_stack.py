"""Models stack: five endpoints named as the Lambdas expect, each with its own narrow role and autoscaling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from infra.constructs.model_endpoint import ModelEndpoint
from tests.infra.synthesis import Synthesis, resources

ENDPOINTS = {
    "vitrine-grounding-dino",
    "vitrine-dino-embed",
    "vitrine-llava",
    "vitrine-ranker",
    "vitrine-blip2-attributes",
}


def test_models_five_endpoints_with_the_names_the_lambdas_use(synth: Synthesis) -> None:
    template = synth.template("models")
    names = {
        e["Properties"]["EndpointName"] for e in resources(template, "AWS::SageMaker::Endpoint").values()
    }
    assert names == ENDPOINTS
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 5)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 5)


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
    for policy in resources(template, "AWS::IAM::Policy").values():
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
