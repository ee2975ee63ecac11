"""Every Vitrine Lambda: in the VPC, and a role that reaches only its own resources (no * on data stores)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.synthesis import Synthesis, resources, vitrine_functions

DATA_STORE_SERVICES = (
    "s3",
    "dynamodb",
    "es",
    "sqs",
    "rds",
    "rds-db",
    "secretsmanager",
    "sagemaker",
    "bedrock",
)
STACKS = ("ingestion", "api", "backfill")


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def _role_statements(synth: Synthesis, stack: str) -> dict[str, list[dict[str, Any]]]:
    """Handler → statements of the policies attached to its function's role."""
    template = synth.template(stack)
    policies = resources(template, "AWS::IAM::Policy").values()
    found = {}
    for function in vitrine_functions(template).values():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        found[function["Properties"]["Handler"]] = [
            statement
            for policy in policies
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
    return found


def test_lambdas_all_run_in_private_subnets_with_the_data_clients_group(synth: Synthesis) -> None:
    handlers = []
    for stack in STACKS:
        for function in vitrine_functions(synth.template(stack)).values():
            vpc = function["Properties"]["VpcConfig"]
            assert vpc["SubnetIds"] and vpc["SecurityGroupIds"]
            assert "DataClients" in json.dumps(vpc["SecurityGroupIds"])
            assert function["Properties"]["Runtime"] == "python3.12"
            handlers.append(function["Properties"]["Handler"])
    assert sorted(handlers) == [
        "handlers.api.handler",
        "handlers.backfill.handler",
        "handlers.ingest.handler",
    ]


def test_lambda_roles_have_no_wildcard_actions_or_resources_on_data_stores(synth: Synthesis) -> None:
    for stack in STACKS:
        for handler, statements in _role_statements(synth, stack).items():
            assert statements, f"{handler} has no policy"
            for statement in statements:
                for action in _actions(statement):
                    service, _, name = action.partition(":")
                    assert name != "*", f"{handler}: {action}"
                    if service in DATA_STORE_SERVICES:
                        assert "*" not in name, f"{handler}: wildcard action {action}"
                        assert statement["Resource"] != "*", f"{handler}: {action} on *"


def test_lambda_roles_invoke_exactly_their_endpoints(synth: Synthesis) -> None:
    expected = {
        "handlers.api.handler": {"vitrine-grounding-dino", "vitrine-dino-embed"},
        "handlers.ingest.handler": {"vitrine-grounding-dino", "vitrine-dino-embed", "vitrine-llava"},
        "handlers.backfill.handler": {"vitrine-grounding-dino", "vitrine-dino-embed", "vitrine-llava"},
    }
    for stack in STACKS:
        for handler, statements in _role_statements(synth, stack).items():
            invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s)]
            endpoints = set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in invoke])))
            assert endpoints == expected[handler], handler
