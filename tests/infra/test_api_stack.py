"""API stack: shopper routes public, validated and throttled; every operator method behind the Cognito
authorizer (with the default jobs and with every job); the stage reachable only through CloudFront (origin
secret required by the WAF), and the WAF rate rule keyed on the shopper's address rather than CloudFront's; the
jobs decide which objects the functions may presign."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from aws_cdk.assertions import Match

from infra.config import CALIBRATION_KEY
from infra.stacks.api import OPERATORS_GROUP, ORIGIN_HEADER, ROUTES, VIEWER_IP_HEADER
from tests.infra.synthesis import Synthesis, resources
from vitrine.api import auth
from vitrine.search import calibration


def _method_paths(synth: Synthesis) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Logical id → (HTTP method, full path, properties) of every API Gateway method."""
    template = synth.template("api")
    nodes = resources(template, "AWS::ApiGateway::Resource")

    def path_of(resource_id: str) -> str:
        node = nodes[resource_id]["Properties"]
        parent = node["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{node['PathPart']}"

    return {
        logical_id: (
            m["Properties"]["HttpMethod"],
            path_of(m["Properties"]["ResourceId"]["Ref"]),
            m["Properties"],
        )
        for logical_id, m in resources(template, "AWS::ApiGateway::Method").items()
    }


def test_api_declares_every_shopper_route_public_with_a_validator(any_synth: Synthesis) -> None:
    methods = _method_paths(any_synth).values()
    declared = {(verb, path): props for verb, path, props in methods}
    for verb, path, has_body in ROUTES:
        props = declared[(verb, f"/api/{path}")]
        assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props
        assert "RequestValidatorId" in props
        assert ("application/json" in props.get("RequestModels", {})) is has_body
    assert all("RequestValidatorId" in props for _, _, props in methods)


def test_api_every_operator_method_has_the_cognito_authorizer_and_no_shopper_method_has(
    any_synth: Synthesis,
) -> None:
    synth = any_synth
    template = synth.template("api")
    authorizers = resources(template, "AWS::ApiGateway::Authorizer")
    assert len(authorizers) == 1
    authorizer_id, authorizer = next(iter(authorizers.items()))
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    pool_id = next(iter(resources(template, "AWS::Cognito::UserPool")))
    assert authorizer["Properties"]["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]
    operator, shopper = [], []
    for verb, path, props in _method_paths(synth).values():
        (operator if path.startswith("/api/ops/") else shopper).append((verb, path, props))
    assert operator, "no operator method"
    for _, path, props in operator:
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", path
        assert props["AuthorizerId"] == {"Ref": authorizer_id}, path
    for _, path, props in shopper:
        assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props, path


def test_api_operators_group_is_the_one_the_lambda_requires(synth: Synthesis) -> None:
    template = synth.template("api")
    template.has_resource_properties("AWS::Cognito::UserPoolGroup", {"GroupName": "operators"})
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True}, "MfaConfiguration": "ON"},
    )
    assert OPERATORS_GROUP == auth.OPERATORS_GROUP


def test_api_covers_every_route_of_the_resolver(any_synth: Synthesis) -> None:
    """Each route the api Lambda serves is reachable: shopper routes declared, operator routes under the proxy.
    The hotel and product routes are among them (``vitrine.api.app`` includes their routers)."""
    from vitrine.api.app import build_app
    from vitrine.config import load_settings

    app = build_app(SimpleNamespace(settings=load_settings()))
    served = [(r.method, r.path) for r in [*app._static_routes, *app._dynamic_routes]]
    declared = {(verb, path) for verb, path, _ in _method_paths(any_synth).values()}
    assert {("GET", "/products/<code>"), ("POST", "/products/<code>/ask"), ("GET", "/hotels")} <= set(served)
    assert {("GET", "/api/products/{code}"), ("POST", "/api/products/{code}/ask")} <= declared
    for verb, path in served:
        api_path = "/api" + path.replace("<", "{").replace(">", "}")
        if path.startswith(auth.OPS_PREFIX):
            assert ("ANY", "/api/ops/{proxy+}") in declared
        else:
            assert (verb, api_path) in declared, f"{verb} {api_path} is served but not declared in ROUTES"


def test_api_stage_is_throttled_traced_and_access_logged(synth: Synthesis) -> None:
    synth.template("api").has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})],
        },
    )


def _waf_rules(synth: Synthesis) -> dict[str, dict[str, Any]]:
    acl = next(iter(resources(synth.template("api"), "AWS::WAFv2::WebACL").values()))
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


def test_api_waf_rate_rule_keys_on_the_forwarded_shopper_ip(synth: Synthesis) -> None:
    rate = _waf_rules(synth)["RatePerShopper"]["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == 1000
    assert rate["AggregateKeyType"] == "FORWARDED_IP"
    assert rate["ForwardedIPConfig"]["HeaderName"] == VIEWER_IP_HEADER
    frontend = json.dumps(synth.template("frontend").to_json())
    assert f"request.headers['{VIEWER_IP_HEADER}'] = {{ value: event.viewer.ip }}" in frontend
    function = next(iter(resources(synth.template("frontend"), "AWS::CloudFront::Function").values()))
    assert "viewer.ip" in function["Properties"]["FunctionCode"]


def test_api_waf_requires_the_cloudfront_origin_secret_and_is_on_the_stage(synth: Synthesis) -> None:
    rules = _waf_rules(synth)
    gate = rules["OnlyThroughCloudFront"]
    assert gate["Priority"] == 0 and gate["Action"] == {"Block": {}}
    match = gate["Statement"]["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"SingleHeader": {"Name": ORIGIN_HEADER}}
    assert match["PositionalConstraint"] == "EXACTLY"
    secret_id = next(iter(resources(synth.template("api"), "AWS::SecretsManager::Secret")))
    waf_value = json.dumps(match["SearchString"])
    assert "{{resolve:secretsmanager:" in waf_value and secret_id in waf_value
    # CloudFront sends the same secret to the API origin.
    distribution = next(iter(resources(synth.template("frontend"), "AWS::CloudFront::Distribution").values()))
    config = distribution["Properties"]["DistributionConfig"]
    api_origin = next(o for o in config["Origins"] if "execute-api" in json.dumps(o["DomainName"]))
    headers = {h["HeaderName"]: h["HeaderValue"] for h in api_origin["OriginCustomHeaders"]}
    assert "{{resolve:secretsmanager:" in json.dumps(headers[ORIGIN_HEADER])
    template = synth.template("api")
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    association = next(iter(resources(template, "AWS::WAFv2::WebACLAssociation").values()))
    assert "Stage" in json.dumps(association["Properties"]["ResourceArn"])


def test_api_serves_no_objects_route_and_declares_no_binary_media_types(synth: Synthesis) -> None:
    template = synth.template("api")
    parts = {r["Properties"]["PathPart"] for r in resources(template, "AWS::ApiGateway::Resource").values()}
    assert "objects" not in parts
    assert not any("{key+}" in part for part in parts)
    api = next(iter(resources(template, "AWS::ApiGateway::RestApi").values()))
    assert "BinaryMediaTypes" not in api["Properties"]


def _api_statements(synth: Synthesis, role: str = "HandlerRole") -> list[dict]:
    template = synth.template("api")
    return [
        statement
        for logical_id, policy in resources(template, "AWS::IAM::Policy").items()
        if logical_id.startswith(role)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _object_grants(statements: list[dict]) -> dict[str, set[str]]:
    """S3 action → the ARNs (as JSON) it is granted on."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for target in targets:
            for action in actions:
                if action.startswith("s3:"):
                    grants.setdefault(action, set()).add(json.dumps(target))
    return grants


def test_api_functions_presign_hotel_photos_only_with_the_hotels_job(any_synth: Synthesis) -> None:
    hotels = "hotels" in any_synth.jobs
    for role in ("HandlerRole", "OperationsRole"):
        grants = _object_grants(_api_statements(any_synth, role))
        reads = grants["s3:GetObject"]
        assert any(arn.endswith('-eu-west-1/hotels/*"]]}') for arn in reads) is hotels, role
        assert not any(
            "hotels/" in arn for action, arns in grants.items() if action != "s3:GetObject" for arn in arns
        )


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
