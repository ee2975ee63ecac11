"""Frontend stack: CloudFront → S3 through origin access control, /api/* → API Gateway, security headers; the
uploads bucket admits this distribution's origin only, and the page may reach exactly two buckets. Shopper API
requests carry CloudFront's viewer address (the question route's per-client limit); operator requests carry
the Authorization header to the Cognito authorizer."""

from __future__ import annotations

import json

from aws_cdk import aws_cloudfront as cloudfront

from infra.stacks.api import VIEWER_ADDRESS_HEADER, VIEWER_IP_HEADER
from tests.infra.synthesis import Synthesis, resources
from vitrine.api.routes import products


def test_frontend_cloudfront_reads_s3_through_oac_and_routes_api(synth: Synthesis) -> None:
    template = synth.template("frontend")
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    config = next(iter(resources(template, "AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    default_origin = origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    assert "OriginAccessControlId" in default_origin
    assert default_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    api_behavior = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*")
    api_origin = origins[api_behavior["TargetOriginId"]]
    assert "execute-api" in json.dumps(api_origin["DomainName"])
    assert "OriginPath" in api_origin  # the stage: /api/search reaches the stage's /api/search resource
    assert "POST" in api_behavior["AllowedMethods"]
    assert [f["EventType"] for f in api_behavior["FunctionAssociations"]] == ["viewer-request"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def _csp(synth: Synthesis) -> str:
    policy = next(
        iter(resources(synth.template("frontend"), "AWS::CloudFront::ResponseHeadersPolicy").values())
    )
    value = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]
    return json.dumps(value)


def test_frontend_page_gets_security_headers(synth: Synthesis) -> None:
    policy = next(
        iter(resources(synth.template("frontend"), "AWS::CloudFront::ResponseHeadersPolicy").values())
    )
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert "default-src 'self'" in _csp(synth)
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def _directive(csp: str, name: str) -> str:
    return next(d for d in csp.split(";") if d.strip().startswith(name))


def test_frontend_page_may_reach_exactly_the_catalog_and_uploads_buckets(synth: Synthesis) -> None:
    csp = _csp(synth)
    assert "*.amazonaws.com" not in csp
    img_src, connect_src = _directive(csp, "img-src"), _directive(csp, "connect-src")
    assert "https://vitrine-catalog-" in img_src and "uploads" not in img_src
    assert "https://vitrine-uploads-" in connect_src and "catalog" not in connect_src


def test_frontend_uploads_cors_admits_only_the_distribution(synth: Synthesis) -> None:
    template = synth.template("frontend")
    distribution_id = next(iter(resources(template, "AWS::CloudFront::Distribution")))
    uploads = [
        b for b in resources(template, "AWS::S3::Bucket").values() if "CorsConfiguration" in b["Properties"]
    ]
    assert len(uploads) == 1
    (rule,) = uploads[0]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    (origin,) = rule["AllowedOrigins"]
    assert "*" not in json.dumps(origin)
    assert {"Fn::GetAtt": [distribution_id, "DomainName"]} in origin["Fn::Join"][1]
    assert "vitrine-uploads-" in json.dumps(uploads[0]["Properties"]["BucketName"])


def _api_behaviors(synth: Synthesis) -> tuple[list[str], dict[str, dict]]:
    config = next(iter(resources(synth.template("frontend"), "AWS::CloudFront::Distribution").values()))[
        "Properties"
    ]["DistributionConfig"]
    behaviors = [b for b in config["CacheBehaviors"] if b["PathPattern"].startswith("/api/")]
    return [b["PathPattern"] for b in behaviors], {b["PathPattern"]: b for b in behaviors}


def test_frontend_shopper_api_requests_carry_cloudfronts_viewer_address(synth: Synthesis) -> None:
    order, behaviors = _api_behaviors(synth)
    assert order == ["/api/ops/*", "/api/*"]  # CloudFront takes the first match: operators first
    shopper = behaviors["/api/*"]
    policy_id = shopper["OriginRequestPolicyId"]["Ref"]
    policy = resources(synth.template("frontend"), "AWS::CloudFront::OriginRequestPolicy")[policy_id]
    config = policy["Properties"]["OriginRequestPolicyConfig"]
    assert config["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    headers = {h.lower() for h in config["HeadersConfig"]["Headers"]}
    # The header the question route reads, the WAF's key, and what the handler validates bodies by.
    assert VIEWER_ADDRESS_HEADER.lower() == products.VIEWER_ADDRESS
    assert VIEWER_ADDRESS_HEADER.lower() in headers
    assert {VIEWER_IP_HEADER, "content-type"} <= headers
    assert "host" not in headers and "authorization" not in headers
    assert config["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    assert config["CookiesConfig"]["CookieBehavior"] == "none"
    assert "eu-west-1" in config["Name"]  # policy names are global to the account


def test_frontend_operator_api_requests_keep_every_viewer_header_but_host(synth: Synthesis) -> None:
    _, behaviors = _api_behaviors(synth)
    operator, shopper = behaviors["/api/ops/*"], behaviors["/api/*"]
    # Authorization reaches the Cognito authorizer only through an all-viewer policy (no allow-list may name it).
    managed = cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.origin_request_policy_id
    assert operator["OriginRequestPolicyId"] == managed
    assert operator["TargetOriginId"] == shopper["TargetOriginId"]
    for behavior in (operator, shopper):
        assert [f["EventType"] for f in behavior["FunctionAssociations"]] == ["viewer-request"]
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        assert "POST" in behavior["AllowedMethods"] and "DELETE" in behavior["AllowedMethods"]
