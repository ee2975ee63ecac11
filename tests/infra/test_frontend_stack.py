"""Frontend stack: CloudFront → S3 through origin access control, /api/* → API Gateway, security headers; the
uploads bucket admits this distribution's origin only, and the page may reach exactly two buckets."""

from __future__ import annotations

import json

from tests.infra.synthesis import Synthesis, resources


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
