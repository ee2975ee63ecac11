"""API stack: the routes of handlers.api, validated, throttled, logged, behind a WAF rate rule."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.stacks.api import ROUTES
from tests.infra.synthesis import Synthesis, resources


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
