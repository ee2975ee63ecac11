"""OpenSearch fine-grained access control set up at deploy time: the master user is a custom-resource
function in the VPC that maps each Lambda role to an index-scoped OpenSearch role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam

from infra.constructs import search_roles_handler
from infra.constructs.search_security import READER, WRITER, index_roles
from infra.stacks.data import PRODUCT_INDEX, DataStack
from tests.infra.synthesis import Synthesis, resources


def _role_names(arns: list[dict]) -> set[str]:
    return {json.dumps(arn).rsplit(":role/", 1)[1].split('"')[0] for arn in arns}


def test_search_security_maps_each_lambda_role_to_its_index_role(synth: Synthesis) -> None:
    template = synth.template("data")
    mapping = next(iter(resources(template, "Custom::OpenSearchRoles").values()))["Properties"]
    assert _role_names(mapping["Mappings"][READER]) == {"vitrine-api-eu-west-1", "vitrine-ops-eu-west-1"}
    assert _role_names(mapping["Mappings"][WRITER]) == {
        "vitrine-ingest-eu-west-1",
        "vitrine-backfill-eu-west-1",
    }
    assert mapping["Roles"] == index_roles(PRODUCT_INDEX)
    for role in mapping["Roles"].values():
        assert [p["index_patterns"] for p in role["index_permissions"]] == [[PRODUCT_INDEX]]
    assert "DomainEndpoint" in json.dumps(mapping["Endpoint"])


def test_search_security_master_user_is_the_mapper_function_role_in_the_vpc(synth: Synthesis) -> None:
    template = synth.template("data")
    domain = next(iter(resources(template, "AWS::OpenSearchService::Domain").values()))
    master = domain["Properties"]["AdvancedSecurityOptions"]["MasterUserOptions"]["MasterUserARN"]
    role_id = master["Fn::GetAtt"][0]
    mapper = next(
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Role"]["Fn::GetAtt"][0] == role_id
    )
    assert mapper["Properties"]["VpcConfig"]["SubnetIds"]
    assert "DataClients" in json.dumps(mapper["Properties"]["VpcConfig"]["SecurityGroupIds"])
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    es = [s for s in statements if "es:" in json.dumps(s["Action"])]
    assert len(es) == 1 and sorted(es[0]["Action"]) == ["es:ESHttpGet", "es:ESHttpPut"]
    assert json.dumps(es[0]["Resource"]).endswith(':domain/vitrine-search/_plugins/_security/api/*"]]}')


def test_search_security_handler_puts_roles_before_the_mappings_that_name_them() -> None:
    plan = search_roles_handler.plan(
        {"Roles": index_roles(PRODUCT_INDEX), "Mappings": {READER: ["arn:r"], WRITER: ["arn:w1", "arn:w2"]}}
    )
    paths = [path for path, _ in plan]
    api = "/_plugins/_security/api"
    assert paths == [
        f"{api}/roles/{READER}",
        f"{api}/roles/{WRITER}",
        f"{api}/rolesmapping/{READER}",
        f"{api}/rolesmapping/{WRITER}",
    ]
    assert plan[3][1] == {"backend_roles": ["arn:w1", "arn:w2"]}


def test_search_security_refuses_a_role_without_a_fixed_name(synth: Synthesis) -> None:
    data: DataStack = synth.platform.data
    role = iam.Role(Stack(App(), "Other"), "Unnamed", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    with pytest.raises(ValueError, match="fixed role_name"):
        data.grant_index(role, write=False)


def test_search_security_handler_fits_cloudformation_inline_code() -> None:
    source = Path(search_roles_handler.__file__).read_text()
    assert len(source.encode()) < 4096  # CloudFormation's ZipFile limit for inline code
