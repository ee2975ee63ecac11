"""Every Vitrine Lambda: in the VPC, a role that reaches only its own resources (no * on data stores), an
environment of settings Vitrine reads, never the database admin's secret; every endpoint has a caller."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.synthesis import Synthesis, resources, vitrine_functions
from vitrine.config import all_env_names

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


def _service(function: dict[str, Any]) -> str:
    """The function's service name (``vitrine-api``, ``vitrine-ops``...): two functions may run one handler."""
    return function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


def _role_statements(synth: Synthesis, stack: str) -> dict[str, list[dict[str, Any]]]:
    """Service name → statements of the policies attached to its function's role."""
    template = synth.template(stack)
    policies = resources(template, "AWS::IAM::Policy").values()
    found = {}
    for function in vitrine_functions(template).values():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        found[_service(function)] = [
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
            handlers.append((function["Properties"]["Handler"], _service(function)))
    assert sorted(handlers) == [
        ("handlers.api.handler", "vitrine-api"),
        ("handlers.api.handler", "vitrine-ops"),
        ("handlers.backfill.handler", "vitrine-backfill"),
        ("handlers.ingest.handler", "vitrine-ingest"),
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
        "vitrine-api": {"vitrine-grounding-dino", "vitrine-dino-embed"},
        "vitrine-ops": set(),
        "vitrine-ingest": {"vitrine-grounding-dino", "vitrine-dino-embed", "vitrine-llava"},
        "vitrine-backfill": {"vitrine-grounding-dino", "vitrine-dino-embed", "vitrine-llava"},
    }
    for stack in STACKS:
        for handler, statements in _role_statements(synth, stack).items():
            invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s)]
            endpoints = set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in invoke])))
            assert endpoints == expected[handler], handler


def _functions(synth: Synthesis) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, logical id, properties) of every Lambda function of the app, CDK's helpers included."""
    return [
        (name, logical_id, resource["Properties"])
        for name, template in synth.templates().items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    ]


def test_lambda_environments_name_only_settings_vitrine_reads(synth: Synthesis) -> None:
    known = all_env_names()
    seen = set()
    for template, logical_id, properties in _functions(synth):
        for key in properties.get("Environment", {}).get("Variables", {}):
            if key.startswith("VITRINE_"):
                assert key in known, f"{template}/{logical_id}: {key} is no setting of vitrine.config"
                seen.add(key)
    assert {
        "VITRINE_PROFILE",
        "VITRINE_AWS_BUCKET",
        "VITRINE_AWS_DB_SECRET_ARN",
        "VITRINE_ENDPOINT_PREFIX",
    } <= seen


def _data_secret_ids(synth: Synthesis) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """The admin secret's logical ids (secret + attachment), export name → logical id, and logical id →
    user name of each application secret."""
    data = synth.raw("data")
    resources_ = data["Resources"]
    cluster = next(r for r in resources_.values() if r["Type"] == "AWS::RDS::DBCluster")
    admin = set(
        re.findall(r'"Ref": "([A-Za-z0-9]+)"', json.dumps(cluster["Properties"]["MasterUserPassword"]))
    )
    admin |= {
        logical_id
        for logical_id, r in resources_.items()
        if r["Type"] == "AWS::SecretsManager::SecretTargetAttachment"
        and r["Properties"]["SecretId"].get("Ref") in admin
    }
    exports = {
        output["Export"]["Name"]: output["Value"].get("Ref", "")
        for output in data.get("Outputs", {}).values()
        if "Export" in output and isinstance(output["Value"], dict)
    }
    users = {}
    for logical_id, r in resources_.items():
        if r["Type"] == "AWS::SecretsManager::SecretTargetAttachment" and logical_id not in admin:
            secret = resources_[r["Properties"]["SecretId"]["Ref"]]
            template = json.dumps(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
            users[logical_id] = re.search(r'username\\?"\s*:\s*\\?"(\w+)', template).group(1)
    return admin, exports, users


def test_no_lambda_environment_points_at_the_admin_secret(synth: Synthesis) -> None:
    admin, exports, users = _data_secret_ids(synth)
    assert admin and users
    expected = {
        "vitrine-api": "vitrine_reader",  # the public API only reads
        "vitrine-ops": "vitrine_writer",
        "vitrine-ingest": "vitrine_writer",
        "vitrine-backfill": "vitrine_writer",
    }
    checked = 0
    for template, logical_id, properties in _functions(synth):
        for key, value in properties.get("Environment", {}).get("Variables", {}).items():
            target = value.get("Ref") if isinstance(value, dict) else None
            if isinstance(value, dict) and "Fn::ImportValue" in value:
                target = exports.get(value["Fn::ImportValue"])
            assert target not in admin, f"{template}/{logical_id}: {key} points at the admin secret"
            if key == "VITRINE_AWS_DB_SECRET_ARN":
                service = properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
                assert users[target] == expected[service], service
                checked += 1
    assert checked == len(expected)


def test_every_deployed_endpoint_is_invoked_by_some_role(synth: Synthesis) -> None:
    deployed = {
        e["Properties"]["EndpointName"]
        for e in resources(synth.template("models"), "AWS::SageMaker::Endpoint").values()
    }
    invoked = set()
    for template in synth.templates().values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if any(a.startswith("sagemaker:InvokeEndpoint") for a in _actions(statement)):
                    invoked |= set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps(statement["Resource"])))
    assert deployed, "no endpoint at all"
    assert deployed == invoked
