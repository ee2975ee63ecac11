"""A Vitrine Lambda function: its code (usually ``lambdas/`` + the dependencies layer), in the VPC, own role.

Every Vitrine function has the same shape (Python 3.12, traced, in private subnets with no NAT, logs kept a
month), so the stacks only say which handler, which environment and what it may touch. The role starts
empty, with no AWS managed policy: callers add exactly the data it needs through the ``grant_*`` methods of
the resources, and this construct adds only what Lambda itself needs (its own log group, VPC interfaces,
traces).

The actions that have no resource-level permissions (ENIs, X-Ray) live in a policy of their own,
``ResourcelessActions``, and the cdk-nag acknowledgement of ``Resource::*`` sits on that policy only: a grant
on ``*`` added later to the role's default policy still fails synth. Active tracing is therefore set on the
CloudFormation resource, not through ``tracing=``, which would put CDK's X-Ray statement into the default policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import ARCHITECTURE, RUNTIME
from infra.nag import accept

VPC_ACCESS_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
"""What Lambda needs to attach a function to the VPC (the content of AWSLambdaVPCAccessExecutionRole)."""

XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
"""What active tracing needs (the content of AWSXRayDaemonWriteAccess that Lambda uses)."""


class VitrineFunction(Construct):
    """One handler of ``lambdas/handlers`` as a function in the VPC, with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion | None,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_groups: Sequence[ec2.ISecurityGroup],
        environment: Mapping[str, str],
        description: str,
        failure_handling: str,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 1024,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout = timeout
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            role_name=role_name,
            description=f"Runs {handler}; holds only the grants its stack adds",
        )
        self.log_group.grant_write(self.role)
        resourceless = iam.Policy(
            self,
            "ResourcelessActions",
            roles=[self.role],
            statements=[iam.PolicyStatement(actions=[*VPC_ACCESS_ACTIONS, *XRAY_ACTIONS], resources=["*"])],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            handler=handler,
            layers=[layer] if layer else None,
            role=self.role,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=list(security_groups),
            environment={"POWERTOOLS_LOG_LEVEL": "INFO", **environment},
            timeout=timeout,
            memory_size=memory_size,
            log_group=self.log_group,
            description=description,
        )
        cfn_function: lambda_.CfnFunction = self.function.node.default_child
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        # Lambda checks the role's permissions when the function is created: the ENI actions must exist first.
        cfn_function.node.add_dependency(resourceless)
        accept(
            resourceless,
            "AwsSolutions-IAM5[Resource::*]",
            "ENI and X-Ray actions have no resource-level permissions; Lambda needs them to run in the "
            "VPC and to send traces. This policy holds nothing else.",
        )
        CfnOutput(
            self,
            "RoleArn",
            value=self.role.role_arn,
            description=f"Role of {handler}, for audit trails and OpenSearch's security API",
        )
        accept(self.function, "Serverless-LambdaDLQ", failure_handling)
        for rule in ("AwsSolutions-L1", "Serverless-LambdaLatestVersion"):
            accept(
                self.function,
                rule,
                "Python 3.12 is pinned: the dependencies layer is built for cp312 wheels and the code is "
                "tested on it; moving runtime means rebuilding the layer for the new ABI.",
            )
