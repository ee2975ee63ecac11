"""Tracing and execution logs for a Step Functions state machine, without a ``Resource::*`` on its role.

``StateMachine(tracing_enabled=True, logs=...)`` writes the X-Ray and log-delivery statements (actions with no
resource-level permissions, hence ``*``) into the role's default policy, so the cdk-nag acknowledgement they need
would cover every later grant on that role too. :func:`trace_and_log` sets both on the CloudFormation resource
instead and puts those actions in a policy of their own, ``ResourcelessActions``, where the acknowledgement sits.

:func:`accept_distributed_map_grants` acknowledges, one ARN at a time, the scoped wildcards CDK itself writes into
the role of a state machine that runs a Distributed Map over S3 with a Lambda worker (the backfills of the catalog,
hotel and description jobs).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
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


def accept_distributed_map_grants(
    machine: sfn.StateMachine, worker: lambda_.IFunction, results_bucket: str, *, label: str = "EachBatch"
) -> None:
    """The wildcards CDK writes for a Distributed Map (state ``label``) whose batches ``worker`` runs and whose
    results go to ``results_bucket`` (a name template with ``{account}`` unfilled): each names this stack's
    own resources, and each is accepted exactly (any other wildcard on the role still fails synth)."""
    stack = Stack.of(machine)
    worker_id = stack.get_logical_id(worker.node.default_child)
    machine_id = stack.get_logical_id(machine.node.default_child)
    executions = (
        "arn:<AWS::Partition>:states:" + stack.region + ":<AWS::AccountId>:execution:"
        '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"' + machine_id + '"}]}]}'
    )
    findings = {
        f"<{worker_id}.Arn>:*": "Versions and aliases of this Map's worker, the only function it invokes.",
        f"{executions}:*": "Executions of this state machine only (describe/stop its own child runs).",
        f"{executions}/{label}:*": "Redrive of this state machine's own Map runs only.",
        f"arn:<AWS::Partition>:s3:::{results_bucket.format(account='<AWS::AccountId>')}/*": "Map Run "
        "results (CDK's ResultWriterV2 grant): the results bucket holds nothing but job reports.",
    }
    for resource, reason in findings.items():
        accept(machine, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
