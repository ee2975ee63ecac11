"""Tracing and execution logs for a Step Functions state machine, without a ``Resource::*`` on its role.

``StateMachine(tracing_enabled=True, logs=...)`` writes the X-Ray and log-delivery statements (actions with no
resource-level permissions, hence ``*``) into the role's default policy, so the cdk-nag acknowledgement they need
would cover every later grant on that role too. :func:`trace_and_log` sets both on the CloudFormation resource
instead and puts those actions in a policy of their own, ``ResourcelessActions``, where the acknowledgement sits.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from infra.nag import accept

XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
"""What Step Functions needs to trace and to deliver execution logs (AWS's documented minimum)."""


def trace_and_log(machine: sfn.StateMachine, log_group: logs.ILogGroup) -> iam.Policy:
    """X-Ray tracing and ``ALL`` execution logs (without execution data) for ``machine`` (built with neither)."""
    resourceless = iam.Policy(
        machine,
        "ResourcelessActions",
        roles=[machine.role],
        statements=[iam.PolicyStatement(actions=[*XRAY_ACTIONS, *LOG_DELIVERY_ACTIONS], resources=["*"])],
    )
    accept(
        resourceless,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray and CloudWatch Logs delivery actions that Step Functions logging and tracing need have no "
        "resource-level permissions. This policy holds nothing else.",
    )
    cfn_machine: sfn.CfnStateMachine = machine.node.default_child
    cfn_machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
    cfn_machine.logging_configuration = sfn.CfnStateMachine.LoggingConfigurationProperty(
        level="ALL",
        include_execution_data=False,
        destinations=[
            sfn.CfnStateMachine.LogDestinationProperty(
                cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                    log_group_arn=log_group.log_group_arn
                )
            )
        ],
    )
    # Step Functions checks the log-delivery permissions when the machine is created.
    cfn_machine.node.add_dependency(resourceless)
    return resourceless
