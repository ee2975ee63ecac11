"""Descriptions stack: ``handlers.describe`` swept by an EventBridge schedule and fed in bulk by a Distributed Map
over ``products/``; its role reads the catalog photos, calls BLIP-2 and exactly the writer's Claude model, and
writes through the writer database user. The stack and the BLIP-2 endpoint exist only with the job.

Read from the session's synthesis with every job (``conftest.synth_all_jobs``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.platform import build_platform
from infra.stacks.descriptions import RESULTS_PREFIX, SWEEP_EVENT
from tests.infra.synthesis import Synthesis, app_context, resources, vitrine_functions
from vitrine.config import env_name

WRITER_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def synth(synth_all_jobs: Synthesis) -> Synthesis:
    return synth_all_jobs


@pytest.fixture(scope="module")
def template(synth: Synthesis) -> Template:
    return synth.template("descriptions")


def _describe(template: Template) -> tuple[str, dict[str, Any]]:
    (found,) = vitrine_functions(template).items()
    return found


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


def _definition(template: Template) -> dict[str, Any]:
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def test_descriptions_stack_and_the_blip2_endpoint_follow_the_job_flag() -> None:
    def deployed(jobs: list[str]) -> tuple[bool, set[str]]:
        platform = build_platform(App(context=app_context(**{"vitrine:jobs": jobs})))
        return platform.descriptions is not None, set(platform.models.endpoints)

    assert deployed(["search", "catalog"]) == (False, {"grounding_dino", "dino_embed", "llava"})
    assert deployed(["descriptions"]) == (True, {"blip2_attributes"})
    assert deployed(["search", "descriptions"]) == (
        True,
        {"grounding_dino", "dino_embed", "blip2_attributes"},
    )


def test_descriptions_one_describe_function_in_the_vpc_as_the_catalog_writer(template: Template) -> None:
    _, function = _describe(template)
    properties = function["Properties"]
    assert properties["Handler"] == "handlers.describe.handler"
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "vitrine-describe"
    assert properties["VpcConfig"]["SubnetIds"] and "DataClients" in json.dumps(properties["VpcConfig"])
    assert "WriterSecret" in json.dumps(
        properties["Environment"]["Variables"][env_name("aws", "db_secret_arn")]
    )
    assert properties["Environment"]["Variables"][env_name("descriptions", "writer_model_id")] == WRITER_MODEL
    # A Map batch or a sweep describes products one by one: well inside Lambda's limit, with room to spare.
    assert 300 <= properties["Timeout"] <= 900


def test_descriptions_sweep_runs_on_a_schedule_without_lambda_retries(template: Template) -> None:
    function_id, _ = _describe(template)
    rule = next(iter(resources(template, "AWS::Events::Rule").values()))["Properties"]
    assert rule["ScheduleExpression"] == "rate(15 minutes)" and rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == SWEEP_EVENT == {"sweep": True}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    config = next(iter(resources(template, "AWS::Lambda::EventInvokeConfig").values()))["Properties"]
    assert config["MaximumRetryAttempts"] == 0
    template.has_resource_properties(
        "AWS::Lambda::Permission", {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"}
    )


def test_descriptions_backfill_maps_over_the_product_listing_in_bounded_batches(template: Template) -> None:
    function_id, _ = _describe(template)
    state = _definition(template)["States"]["EachBatch"]
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert state["ItemReader"]["Resource"].endswith(":states:::s3:listObjectsV2")
    assert state["ItemReader"]["Parameters"]["Prefix"] == "products/"
    # Only the key goes to the function, which turns products/{code}/... into the code (handlers.describe).
    assert state["ItemSelector"] == {"Key.$": "$$.Map.Item.Value.Key"}
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == 100
    assert state["MaxConcurrency"] == 4
    assert 0 < state["ToleratedFailurePercentage"] < 100
    assert state["ResultWriter"]["Parameters"]["Prefix"] == RESULTS_PREFIX
    task = state["ItemProcessor"]["States"]["DescribeBatch"]
    assert any(r["ErrorEquals"] == ["BatchFailed"] for r in task["Retry"])
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
    invoke = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in _actions(s)
    ]
    assert invoke and all(function_id in json.dumps(s["Resource"]) for s in invoke)


def test_descriptions_describe_role_reads_photos_calls_blip2_and_only_the_writer_model(
    template: Template,
) -> None:
    _, function = _describe(template)
    statements = _statements(template, function)
    by_service: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        for service in dict.fromkeys(action.split(":")[0] for action in _actions(statement)):
            by_service.setdefault(service, []).append(statement)
    assert set(by_service) == {"logs", "secretsmanager", "s3", "sagemaker", "bedrock", "ec2", "xray"}
    objects = [s for s in by_service["s3"] if "s3:GetObject" in _actions(s)]
    assert objects and all(json.dumps(s["Resource"]).endswith('/products/*"]]}') for s in objects)
    assert not any(a in ("s3:PutObject", "s3:DeleteObject") for s in by_service["s3"] for a in _actions(s))
    endpoints = set(
        re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in by_service["sagemaker"]]))
    )
    assert endpoints == {"vitrine-blip2-attributes"}
    bedrock = json.dumps([s["Resource"] for s in by_service["bedrock"]])
    assert f":bedrock:eu-west-1::foundation-model/{WRITER_MODEL}" in bedrock
    assert bedrock.count("foundation-model/") == 1 and "*" not in bedrock


def test_descriptions_writer_model_follows_its_context_key_in_grants_and_environment() -> None:
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    context = app_context(
        **{"vitrine:jobs": ["catalog", "descriptions"], "vitrine:descriptionsWriterModelId": model}
    )
    platform = build_platform(App(context=context))
    template = Template.from_stack(platform.descriptions).to_json()
    _, function = next(
        (k, r)
        for k, r in template["Resources"].items()
        if r["Properties"].get("Handler") == "handlers.describe.handler"
    )
    assert (
        function["Properties"]["Environment"]["Variables"][env_name("descriptions", "writer_model_id")]
        == model
    )
    grants = json.dumps([r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"])
    assert f"foundation-model/{model}" in grants and "claude-3-haiku" not in grants
