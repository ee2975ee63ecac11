"""Network stack: private-only VPC over two AZs, endpoints instead of NAT, flow logs."""

from __future__ import annotations

from tests.infra.synthesis import Synthesis, resources


def test_network_vpc_has_private_subnets_in_two_azs_and_no_nat(synth: Synthesis) -> None:
    template = synth.template("network")
    subnets = resources(template, "AWS::EC2::Subnet").values()
    azs = {str(subnet["Properties"]["AvailabilityZone"]) for subnet in subnets}
    assert len(azs) == 2
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] is False for subnet in subnets)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)


def test_network_endpoints_cover_every_service_lambdas_call(synth: Synthesis) -> None:
    template = synth.template("network")
    services = {
        str(endpoint["Properties"]["ServiceName"])
        for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values()
    }
    for service in (
        "sagemaker.runtime",
        "bedrock-runtime",
        "secretsmanager",
        "logs",
        "sqs",
        "s3",
        "dynamodb",
    ):
        assert any(service in name for name in services), f"no VPC endpoint for {service}: {services}"


def test_network_flow_logs_capture_all_traffic(synth: Synthesis) -> None:
    synth.template("network").has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC"}
    )
