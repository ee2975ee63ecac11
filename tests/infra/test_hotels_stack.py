"""Hotels stack: hotels/ → SQS (DLQ, 6x visibility, 5 receives) → classify Lambda; an EventBridge schedule →
the cover Lambda (debounced scoring); a Distributed Map over hotels/ for the existing library. Roles reach
exactly their objects, their endpoint and their table; cdk-nag finds nothing unacknowledged.

The stack exists only with the ``hotels`` job (``vitrine:jobs``): it is read here from the session's synthesis
with every job (``conftest.synth_all_jobs``), wired by ``infra/platform.py`` as ``cdk synth`` wires it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from infra.platform import build_platform
from tests.infra.synthesis import Synthesis, app_context, resources, vitrine_functions
from vitrine.config import all_env_names


@pytest.fixture(scope="module")
def synth(synth_all_jobs: Synthesis) -> Synthesis:
    return synth_all_jobs


@pytest.fixture(scope="module")
def template(synth: Synthesis) -> Template:
    return synth.template("hotels")


def _service(function: dict[str, Any]) -> str:
    return function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    """Service name → function resource."""
    return {_service(f): f for f in vitrine_functions(template).values()}


def _statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_hotels_stack_passes_cdk_nag(synth: Synthesis) -> None:
    mine = [v for v in synth.violations() if "Vitrine-Hotels" in v]
    assert mine == [], mine


def test_hotels_three_functions_one_handler_each_trigger(template: Template) -> None:
    handlers = {service: f["Properties"]["Handler"] for service, f in _functions(template).items()}
    assert handlers == {
        "vitrine-hotels-classify": "handlers.hotels_classify.handler",
        "vitrine-hotels-cover": "handlers.hotels_cover.handler",
        "vitrine-hotels-backfill": "handlers.hotels_classify.handler",
    }
    for function in _functions(template).values():
        assert function["Properties"]["VpcConfig"]["SubnetIds"]


def test_hotels_queue_has_a_dlq_six_times_the_timeout_and_partial_batch_responses(template: Template) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    fed = {qid: q for qid, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert len(fed) == 1
    queue_id, queue = next(iter(fed.items()))
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues
    mapping = next(iter(resources(template, "AWS::Lambda::EventSourceMapping").values()))["Properties"]
    assert mapping["EventSourceArn"]["Fn::GetAtt"][0] == queue_id
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 4
    ids = {_service(f): logical_id for logical_id, f in vitrine_functions(template).items()}
    classify = _functions(template)["vitrine-hotels-classify"]
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * classify["Properties"]["Timeout"]
    assert mapping["FunctionName"] == {"Ref": ids["vitrine-hotels-classify"]}


def test_hotels_prefix_notifies_the_queue_of_creations_and_removals(template: Template) -> None:
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Events": [event],
                                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "hotels/"}]}},
                            }
                        )
                        for event in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
                    ]
                )
            }
        },
    )


def test_hotels_cover_function_runs_on_a_schedule_without_lambda_retries(template: Template) -> None:
    rule = next(iter(resources(template, "AWS::Events::Rule").values()))["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    cover_id = next(
        k for k, v in vitrine_functions(template).items() if _service(v) == "vitrine-hotels-cover"
    )
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [cover_id, "Arn"]}
    assert rule["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    config = next(iter(resources(template, "AWS::Lambda::EventInvokeConfig").values()))["Properties"]
    assert config["MaximumRetryAttempts"] == 0
    template.has_resource_properties(
        "AWS::Lambda::Permission", {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"}
    )


def test_hotels_roles_invoke_exactly_their_endpoint_and_read_only_hotels_objects(template: Template) -> None:
    expected = {
        "vitrine-hotels-classify": {"vitrine-llava"},
        "vitrine-hotels-backfill": {"vitrine-llava"},
        "vitrine-hotels-cover": {"vitrine-ranker"},
    }
    for service, function in _functions(template).items():
        statements = _statements(template, function)
        invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s)]
        endpoints = set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in invoke])))
        assert endpoints == expected[service], service
        objects = [s for s in statements if any(a.startswith("s3:GetObject") for a in _actions(s))]
        assert objects and all("/hotels/*" in json.dumps(s["Resource"]) for s in objects), service
        for statement in statements:
            for action in _actions(statement):
                assert not action.endswith(":*"), f"{service}: {action}"
                if action.split(":")[0] in ("s3", "dynamodb", "sagemaker", "secretsmanager"):
                    assert statement["Resource"] != "*", f"{service}: {action} on *"
        writes = [s for s in statements if "s3:PutObject" in _actions(s) or "s3:DeleteObject" in _actions(s)]
        assert writes == [], service


def test_hotels_classifiers_share_the_idempotency_table_the_cover_function_has_none(
    template: Template,
) -> None:
    table_id = next(iter(resources(template, "AWS::DynamoDB::Table")))
    for service, function in _functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        uses = [
            s for s in _statements(template, function) if any(a.startswith("dynamodb:") for a in _actions(s))
        ]
        if service == "vitrine-hotels-cover":
            assert uses == [] and "VITRINE_AWS_IDEMPOTENCY_TABLE" not in variables
        else:
            assert variables["VITRINE_AWS_IDEMPOTENCY_TABLE"] == {"Ref": table_id}
            assert uses and all(s["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]} for s in uses)


def test_hotels_functions_read_only_settings_vitrine_knows(template: Template) -> None:
    known = all_env_names()
    for service, function in _functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {k for k in variables if k.startswith("VITRINE_")} <= known, service
        assert variables["VITRINE_PROFILE"] == "cloud"
        assert variables["VITRINE_HOTELS_CONCURRENCY"] == "8"
        assert variables["VITRINE_HOTELS_COVER_QUIET_S"] == "60"


def test_hotels_stack_and_its_endpoints_follow_the_job_flag() -> None:
    def deployed(jobs: list[str]) -> tuple[bool, set[str]]:
        platform = build_platform(App(context=app_context(**{"vitrine:jobs": jobs})))
        return platform.hotels is not None, set(platform.models.endpoints)

    assert deployed(["search"]) == (False, {"grounding_dino", "dino_embed"})
    # The job alone deploys both of its endpoints (llava does not wait for the catalog job's tagger).
    assert deployed(["hotels"]) == (True, {"llava", "ranker"})
    assert deployed(["search", "catalog"])[0] is False


def test_hotels_backfill_state_machine_logs_and_traces_without_a_star_on_its_default_policy(
    template: Template,
) -> None:
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    for logical_id, policy in resources(template, "AWS::IAM::Policy").items():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        stars = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Resource"] == "*"]
        assert not stars or logical_id.startswith("BackfillResourcelessActions"), logical_id
        if stars:
            assert logical_id in machine.get("DependsOn", []), (
                "logging is checked when the machine is created"
            )


def test_hotels_backfill_maps_over_the_prefix_with_bounded_concurrency(template: Template) -> None:
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    state = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["States"]["EachBatch"]
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert state["ItemReader"]["Parameters"]["Prefix"] == "hotels/"
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == 20
    assert state["MaxConcurrency"] == 4
    assert 0 < state["ToleratedFailurePercentage"] < 100
    assert state["ResultWriter"]["Parameters"]["Prefix"] == "hotels-backfill/"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_hotels_endpoints_exist_in_the_models_stack(synth: Synthesis) -> None:
    names = {
        e["Properties"]["EndpointName"]
        for e in resources(synth.template("models"), "AWS::SageMaker::Endpoint").values()
    }
    assert {"vitrine-llava", "vitrine-ranker"} <= names


def test_hotels_template_passes_cfn_lint(synth: Synthesis) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    template = synth.outdir / "Vitrine-Hotels.template.json"
    run = subprocess.run(
        [str(cfn_lint), "--format", "json", str(template)], capture_output=True, text=True, check=False
    )
    findings = json.loads(run.stdout or "[]")
    assert [f"{f['Rule']['Id']}: {f['Message']}" for f in findings if f["Level"] == "Error"] == []


def test_hotels_functions_are_small_they_wait_on_the_endpoints(template: Template) -> None:
    assert {f["Properties"]["MemorySize"] for f in _functions(template).values()} == {512}
