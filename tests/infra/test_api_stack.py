"""API stack: the routes of handlers.api, validated, throttled, logged, behind a WAF rate rule."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.config import CALIBRATION_KEY
from infra.stacks.api import ROUTES
from tests.infra.synthesis import Synthesis, resources
from vitrine.search import calibration


def test_api_declares_every_route_of_the_handler_with_a_validator(synth: Synthesis) -> None:
    template = synth.template("api")
    parts = {
        rid: r["Properties"]["PathPart"]
        for rid, r in resources(template, "AWS::ApiGateway::Resource").items()
    }
    methods = resources(template, "AWS::ApiGateway::Method").values()
    declared = {(m["Properties"]["HttpMethod"], parts[m["Properties"]["ResourceId"]["Ref"]]) for m in methods}
    for method, path, _ in ROUTES:
        assert (method, path.split("/")[-1]) in declared
    assert all("RequestValidatorId" in m["Properties"] for m in methods)
    search = next(m for m in methods if parts[m["Properties"]["ResourceId"]["Ref"]] == "search")
    assert "application/json" in search["Properties"]["RequestModels"]


def test_api_stage_is_throttled_traced_and_access_logged(synth: Synthesis) -> None:
    synth.template("api").has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})],
        },
    )


def test_api_waf_has_a_rate_rule_and_is_attached_to_the_stage(synth: Synthesis) -> None:
    template = synth.template("api")
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {"Statement": {"RateBasedStatement": {"Limit": 1000, "AggregateKeyType": "IP"}}}
                    )
                ]
            ),
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


def test_api_serves_no_objects_route_and_declares_no_binary_media_types(synth: Synthesis) -> None:
    template = synth.template("api")
    parts = {r["Properties"]["PathPart"] for r in resources(template, "AWS::ApiGateway::Resource").values()}
    assert "objects" not in parts
    assert not any("{key+}" in part for part in parts)
    api = next(iter(resources(template, "AWS::ApiGateway::RestApi").values()))
    assert "BinaryMediaTypes" not in api["Properties"]


def _api_statements(synth: Synthesis) -> list[dict]:
    template = synth.template("api")
    return [
        statement
        for logical_id, policy in resources(template, "AWS::IAM::Policy").items()
        if logical_id.startswith("HandlerRole")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_api_role_can_presign_catalog_images_read_calibration_and_use_uploads(synth: Synthesis) -> None:
    grants: dict[str, set[str]] = {}
    for statement in _api_statements(synth):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for target in targets:
            arn = json.dumps(target)
            for action in actions:
                if action.startswith("s3:"):
                    grants.setdefault(action, set()).add(arn)

    def on(action: str, fragment: str) -> bool:
        return any(fragment in arn for arn in grants.get(action, ()))

    assert on("s3:GetObject", "vitrine-catalog-") and on("s3:GetObject", '-eu-west-1/products/*"')
    assert on("s3:GetObject", '-eu-west-1/config/search-calibration.json"')
    assert on("s3:PutObject", '-eu-west-1/uploads/*"') and on("s3:GetObject", '-eu-west-1/uploads/*"')
    assert "s3:DeleteObject" not in grants
    assert not on("s3:PutObject", "vitrine-catalog-")
    assert on("s3:ListBucket", "vitrine-catalog-") and on("s3:ListBucket", "vitrine-uploads-")


def test_api_calibration_key_is_the_one_the_handler_reads() -> None:
    assert CALIBRATION_KEY == calibration.CALIBRATION_KEY
