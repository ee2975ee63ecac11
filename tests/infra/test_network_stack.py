"""Network stack: private-only VPC over two AZs, endpoints instead of NAT (one per service the code calls
from the VPC, X-Ray included wherever tracing is active), flow logs."""

from __future__ import annotations

import json

from aws_cdk import App

from infra.config import load_config
from infra.stacks.network import interface_endpoints
from tests.infra.synthesis import Synthesis, app_context, resources


def test_network_vpc_has_private_subnets_in_two_azs_and_no_nat(synth: Synthesis) -> None:
    template = synth.template("network")
    subnets = resources(template, "AWS::EC2::Subnet").values()
    azs = {str(subnet["Properties"]["AvailabilityZone"]) for subnet in subnets}
    assert len(azs) == 2
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] is False for subnet in subnets)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)


def test_network_endpoints_are_exactly_the_services_code_in_the_vpc_calls(synth: Synthesis) -> None:
    services = " ".join(
        str(endpoint["Properties"]["ServiceName"])
        for endpoint in resources(synth.template("network"), "AWS::EC2::VPCEndpoint").values()
    )
    # wiring._client: sagemaker-runtime, s3, secretsmanager, dynamodb (bedrock-runtime only for the Claude
    # tagger); X-Ray for active tracing. SQS is polled and logs are shipped by the Lambda service itself.
    for service in ("sagemaker.runtime", "secretsmanager", "xray", "s3", "dynamodb"):
        assert service in services, f"no VPC endpoint for {service}: {services}"
    for unused in ("sqs", ".logs", "bedrock-runtime"):
        assert unused not in services, f"an endpoint nothing in the VPC calls: {unused}"


def test_network_has_an_xray_endpoint_wherever_a_function_traces(synth: Synthesis) -> None:
    traced = [
        logical_id
        for name, template in synth.templates().items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("TracingConfig", {}).get("Mode") == "Active"
        and "VpcConfig" in resource["Properties"]
    ]
    assert traced
    services = " ".join(
        str(endpoint["Properties"]["ServiceName"])
        for endpoint in resources(synth.template("network"), "AWS::EC2::VPCEndpoint").values()
    )
    assert "xray" in services


def test_network_bedrock_endpoint_only_when_claude_tags_or_writes() -> None:
    def names(**context: str) -> set[str]:
        return set(interface_endpoints(load_config(App(context=app_context(**context)))))

    assert "BedrockRuntime" in names(**{"vitrine:tagger": "bedrock"})
    assert "BedrockRuntime" not in names(**{"vitrine:tagger": "bedrock", "vitrine:jobs": '["search"]'})
    assert "BedrockRuntime" not in names(**{"vitrine:jobs": '["search", "catalog", "hotels"]'})
    # The descriptions writer is Claude, whatever tags the images.
    assert "BedrockRuntime" in names(**{"vitrine:jobs": '["descriptions"]'})
    assert "SageMakerRuntime" not in names(**{"vitrine:jobs": "[]"})


def test_network_all_jobs_reach_bedrock_from_the_vpc(synth_all_jobs: Synthesis) -> None:
    services = json.dumps(
        [
            e["Properties"]["ServiceName"]
            for e in resources(synth_all_jobs.template("network"), "AWS::EC2::VPCEndpoint").values()
        ]
    )
    assert "bedrock-runtime" in services and "sagemaker.runtime" in services


def test_network_flow_logs_capture_all_traffic(synth: Synthesis) -> None:
    synth.template("network").has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC"}
    )
