"""Every Vitrine Lambda: in the VPC, a role that reaches only its own resources (no * on data stores), an
environment of settings Vitrine reads, never the database admin's secret; every endpoint has a caller.

Each property is checked with the default jobs and with every job (``any_synth``): the hotels and descriptions
jobs add functions, and grants to the API's and ingestion's functions, that the default deployment must not have.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.synthesis import Synthesis, resources, vitrine_functions
from vitrine.config import all_env_names, env_name

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
STACKS = {
    "default": ("ingestion", "api", "backfill"),
    "all": ("ingestion", "api", "backfill", "hotels", "descriptions"),
}
HANDLERS = {
    "default": [
        ("handlers.api.handler", "vitrine-api"),
        ("handlers.api.handler", "vitrine-ops"),
        ("handlers.backfill.handler", "vitrine-backfill"),
        ("handlers.ingest.handler", "vitrine-ingest"),
    ],
    "all": [
        ("handlers.api.handler", "vitrine-api"),
        ("handlers.api.handler", "vitrine-ops"),
        ("handlers.backfill.handler", "vitrine-backfill"),
        ("handlers.describe.handler", "vitrine-describe"),
        ("handlers.hotels_classify.handler", "vitrine-hotels-backfill"),
        ("handlers.hotels_classify.handler", "vitrine-hotels-classify"),
        ("handlers.hotels_cover.handler", "vitrine-hotels-cover"),
        ("handlers.ingest.handler", "vitrine-ingest"),
    ],
}
DETECT = {"vitrine-grounding-dino", "vitrine-dino-embed"}
BLIP2 = "vitrine-blip2-attributes"
ENDPOINTS = {
    "default": {
        "vitrine-api": DETECT,
        "vitrine-ops": set(),
        "vitrine-ingest": DETECT | {"vitrine-llava"},
        "vitrine-backfill": DETECT | {"vitrine-llava"},
    },
    "all": {
        "vitrine-api": DETECT | {BLIP2},  # questions about a product photo
        "vitrine-ops": {"vitrine-llava", "vitrine-ranker", BLIP2},  # classify, rescore, describe
        "vitrine-ingest": DETECT | {"vitrine-llava", BLIP2},
        "vitrine-backfill": DETECT | {"vitrine-llava", BLIP2},
        "vitrine-describe": {BLIP2},
        "vitrine-hotels-classify": {"vitrine-llava"},
        "vitrine-hotels-backfill": {"vitrine-llava"},
        "vitrine-hotels-cover": {"vitrine-ranker"},
    },
}
WRITER_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
"""The descriptions writer with cdk.json's context: ``bedrockTextModelId``, the fallback of
``descriptionsWriterModelId``."""
BEDROCK = {
    "default": {},
    "all": {
        service: {f"arn:aws:bedrock:eu-west-1::foundation-model/{WRITER_MODEL}"}
        for service in ("vitrine-ops", "vitrine-ingest", "vitrine-backfill", "vitrine-describe")
    },
}
"""Who may call which Claude model (ARNs with the partition resolved): the writers of descriptions, never the
public API, which only asks."""
WRITES_CATALOG = {
    "vitrine-ops",
    "vitrine-ingest",
    "vitrine-backfill",
    "vitrine-describe",
    "vitrine-hotels-classify",
    "vitrine-hotels-backfill",
    "vitrine-hotels-cover",
}


def _kind(synth: Synthesis) -> str:
    return "all" if "hotels" in synth.jobs else "default"


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


def test_lambdas_all_run_in_private_subnets_with_the_data_clients_group(any_synth: Synthesis) -> None:
    synth = any_synth
    handlers = []
    for stack in STACKS[_kind(synth)]:
        for function in vitrine_functions(synth.template(stack)).values():
            vpc = function["Properties"]["VpcConfig"]
            assert vpc["SubnetIds"] and vpc["SecurityGroupIds"]
            assert "DataClients" in json.dumps(vpc["SecurityGroupIds"])
            assert function["Properties"]["Runtime"] == "python3.12"
            handlers.append((function["Properties"]["Handler"], _service(function)))
    assert sorted(handlers) == HANDLERS[_kind(synth)]


def test_lambdas_every_handler_function_of_the_app_is_in_the_checked_stacks(any_synth: Synthesis) -> None:
    """No stack with Vitrine handlers escapes the checks of this module."""
    checked = {getattr(any_synth.platform, stack).stack_name for stack in STACKS[_kind(any_synth)]}
    for name, template in any_synth.templates().items():
        handlers = [
            r
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and str(r["Properties"].get("Handler", "")).startswith("handlers.")
        ]
        assert not handlers or name in checked, name


def test_lambda_roles_have_no_wildcard_actions_or_resources_on_data_stores(any_synth: Synthesis) -> None:
    synth = any_synth
    for stack in STACKS[_kind(synth)]:
        for handler, statements in _role_statements(synth, stack).items():
            assert statements, f"{handler} has no policy"
            for statement in statements:
                for action in _actions(statement):
                    service, _, name = action.partition(":")
                    assert name != "*", f"{handler}: {action}"
                    if service in DATA_STORE_SERVICES:
                        assert "*" not in name, f"{handler}: wildcard action {action}"
                        assert statement["Resource"] != "*", f"{handler}: {action} on *"


def test_lambda_roles_invoke_exactly_their_endpoints(any_synth: Synthesis) -> None:
    synth = any_synth
    expected = ENDPOINTS[_kind(synth)]
    seen = set()
    for stack in STACKS[_kind(synth)]:
        for handler, statements in _role_statements(synth, stack).items():
            invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s)]
            endpoints = set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in invoke])))
            assert endpoints == expected[handler], handler
            seen.add(handler)
    assert seen == set(expected)


def _resolved(resource: Any) -> list[str]:
    """A policy resource (string, Fn::Join, or a list of them) as ARNs with the partition resolved."""
    items = resource if isinstance(resource, list) else [resource]
    arns = []
    for item in items:
        if isinstance(item, dict) and "Fn::Join" in item:
            parts = item["Fn::Join"][1]
            item = "".join("aws" if part == {"Ref": "AWS::Partition"} else str(part) for part in parts)
        arns.append(str(item))
    return arns


def test_lambda_roles_call_exactly_the_descriptions_writer_model_and_only_when_they_write(
    any_synth: Synthesis,
) -> None:
    synth = any_synth
    expected = BEDROCK[_kind(synth)]
    for stack in STACKS[_kind(synth)]:
        for handler, statements in _role_statements(synth, stack).items():
            bedrock = [s for s in statements if any(a.startswith("bedrock:") for a in _actions(s))]
            arns = {arn for s in bedrock for arn in _resolved(s["Resource"])}
            assert arns == expected.get(handler, set()), handler
            for statement in bedrock:
                assert sorted(_actions(statement)) == [
                    "bedrock:InvokeModel",
                    "bedrock:InvokeModelWithResponseStream",
                ], handler


def test_lambda_environments_name_the_writer_model_the_roles_may_call(any_synth: Synthesis) -> None:
    """Ingestion describes what it saves only with the descriptions job (no attribute endpoint otherwise), and
    every function names the writer model its grant is for."""
    describes = "descriptions" in any_synth.jobs
    at_ingest, writer = env_name("descriptions", "at_ingest"), env_name("descriptions", "writer_model_id")
    for stack in STACKS[_kind(any_synth)]:
        for function in vitrine_functions(any_synth.template(stack)).values():
            variables = function["Properties"]["Environment"]["Variables"]
            assert variables[at_ingest] == ("true" if describes else "false"), _service(function)
            assert variables.get(writer) == (WRITER_MODEL if describes else None), _service(function)


def _functions(synth: Synthesis) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, logical id, properties) of every Lambda function of the app, CDK's helpers included."""
    return [
        (name, logical_id, resource["Properties"])
        for name, template in synth.templates().items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    ]


def test_lambda_environments_name_only_settings_vitrine_reads(any_synth: Synthesis) -> None:
    known = all_env_names()
    seen = set()
    for template, logical_id, properties in _functions(any_synth):
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


def test_no_lambda_environment_points_at_the_admin_secret(any_synth: Synthesis) -> None:
    synth = any_synth
    admin, exports, users = _data_secret_ids(synth)
    assert admin and users
    # The public API only reads; every other function writes the catalog (products, hotels, descriptions).
    expected = {
        service: "vitrine_writer" if service in WRITES_CATALOG else "vitrine_reader"
        for service in ENDPOINTS[_kind(synth)]
    }
    assert expected["vitrine-api"] == "vitrine_reader"
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


def test_every_deployed_endpoint_is_invoked_by_some_role(any_synth: Synthesis) -> None:
    synth = any_synth
    deployed = {
        e["Properties"]["EndpointName"]
        for e in resources(synth.template("models"), "AWS::SageMaker::Endpoint").values()
    }
    assert deployed == set().union(*ENDPOINTS[_kind(synth)].values())
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
