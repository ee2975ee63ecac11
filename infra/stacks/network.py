"""Network: a VPC over two AZs with private subnets only, VPC endpoints instead of a NAT, flow logs.

Nothing in Vitrine needs the internet: Lambdas reach S3 and DynamoDB through gateway endpoints and the services
their code calls through interface endpoints, so there is no NAT gateway to pay for or to leak through. An
interface endpoint costs about $15 a month over two AZs, so there is one per service the deployed code calls
from inside the VPC (:func:`interface_endpoints`), and none for what the Lambda service does on the function's
behalf (polling SQS, shipping logs). Two subnet groups keep the roles apart: ``app`` (Lambdas, SageMaker models)
and ``data`` (Aurora, OpenSearch).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import InfraConfig
from infra.nag import accept


def interface_endpoints(config: InfraConfig) -> dict[str, ec2.InterfaceVpcEndpointAwsService]:
    """The services code inside the VPC calls, for the jobs ``config`` deploys.

    Every Vitrine Lambda reads its database secret (and the rotation functions rotate them) and sends traces
    (active tracing: the X-Ray daemon in the function sends segments from the function's network). The
    SageMaker runtime is there when a job calls an endpoint; the Bedrock runtime only when deployed code calls
    Claude (the tagger with ``tagger=bedrock``, the descriptions writer with the ``descriptions`` job).
    """
    endpoints = {
        "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
    }
    if config.jobs:
        endpoints["SageMakerRuntime"] = ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME
    if config.bedrock_model_ids():
        endpoints["BedrockRuntime"] = ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME
    return endpoints


class NetworkStack(Stack):
    """The VPC every other stack places its compute and data in."""

    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        self.app_subnets = ec2.SubnetSelection(subnet_group_name="app")
        self.data_subnets = ec2.SubnetSelection(subnet_group_name="data")
        for name, service in interface_endpoints(config).items():
            endpoint = self.vpc.add_interface_endpoint(
                name, service=service, subnets=self.app_subnets, private_dns_enabled=True
            )
            accept(
                endpoint,
                "AwsSolutions-EC23",
                "The endpoint's security group admits HTTPS from the VPC CIDR only; the CIDR is a token the "
                "rule cannot read.",
            )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
