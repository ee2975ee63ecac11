"""Frontend stack: CloudFront → S3 through origin access control, /api/* → API Gateway, security headers."""

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
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def test_frontend_page_gets_security_headers(synth: Synthesis) -> None:
    policy = next(
        iter(resources(synth.template("frontend"), "AWS::CloudFront::ResponseHeadersPolicy").values())
    )
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert "default-src 'self'" in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def test_frontend_page_may_load_presigned_catalog_images_from_s3(synth: Synthesis) -> None:
    policy = next(
        iter(resources(synth.template("frontend"), "AWS::CloudFront::ResponseHeadersPolicy").values())
    )
    csp = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]
    img_src = next(d for d in csp["ContentSecurityPolicy"].split(";") if d.strip().startswith("img-src"))
    assert "https://*.amazonaws.com" in img_src
