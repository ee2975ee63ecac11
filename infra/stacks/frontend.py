"""Frontend: the page in a private S3 bucket behind CloudFront, ``/api/*`` routed to API Gateway.

One origin for the page and the API means no CORS for the API and one TLS certificate. The bucket is
readable only by this distribution (origin access control); every response carries security headers.

Large photos go straight from the browser to the uploads bucket with a presigned POST, so the uploads bucket
lives here, beside the page: its CORS rule admits this distribution's origin only, and the page's
Content-Security-Policy names that one bucket in ``connect-src`` and the catalog bucket (result images are
presigned GETs) in ``img-src``, never ``*.amazonaws.com``.

Requests to ``/api/*`` carry two headers the API's WAF relies on (``infra.stacks.api``): the origin secret,
added by CloudFront as an origin custom header, and ``x-viewer-ip``, the shopper's address written by a
CloudFront function on every viewer request (it overwrites whatever the client sent).

Two behaviors reach the API. The shopper routes (``/api/*``) forward exactly what the API reads
(:data:`SHOPPER_HEADERS`, every query string, no cookie), including ``CloudFront-Viewer-Address``, a header
CloudFront adds itself with the shopper's ``ip:port`` as its edge saw them: the question route limits questions
per client by it. The operator routes (``/api/ops/*``) need the ``Authorization`` header for the Cognito
authorizer, which no allow-list may name (CloudFront refuses such an origin request policy: it forwards
``Authorization`` only with an all-viewer policy or in a cache key), so they forward every viewer header except
``Host`` (API Gateway answers 403 to the distribution's host name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as deployment
from constructs import Construct

from infra.buckets import access_log_bucket, secure_bucket
from infra.config import InfraConfig
from infra.nag import accept, resolve
from infra.stacks.api import OPS_ROOT, ORIGIN_HEADER, VIEWER_ADDRESS_HEADER, VIEWER_IP_HEADER, ApiStack

FRONTEND_DIR = Path(__file__).resolve().parent.parent.parent / "frontend"
VIEWER_IP_FUNCTION = f"""function handler(event) {{
  var request = event.request;
  request.headers['{VIEWER_IP_HEADER}'] = {{ value: event.viewer.ip }};
  return request;
}}"""
"""Viewer request: the shopper's address for the WAF rate rule, overwriting anything the client sent."""
SHOPPER_HEADERS = ("Accept", "Content-Type", VIEWER_IP_HEADER, VIEWER_ADDRESS_HEADER)
"""What the shopper routes' origin requests carry besides the origin secret: what the handler and API Gateway's
request validation read, the WAF's key, and CloudFront's viewer address for the per-client question limit."""


def bucket_origins(bucket_name: str, region: str) -> str:
    """The hosts a presigned URL of ``bucket_name`` may name: boto3 signs for the global virtual-hosted
    endpoint, and S3 may redirect a browser to the regional one."""
    return f"https://{bucket_name}.s3.amazonaws.com https://{bucket_name}.s3.{region}.amazonaws.com"


def page_csp(catalog_bucket: str, uploads_bucket: str, region: str) -> str:
    """The page's Content-Security-Policy: itself, plus exactly the two buckets the browser talks to."""
    return (
        f"default-src 'self'; img-src 'self' data: blob: {bucket_origins(catalog_bucket, region)}; "
        f"style-src 'self'; script-src 'self'; connect-src 'self' {bucket_origins(uploads_bucket, region)}; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


class FrontendStack(Stack):
    """CloudFront distribution, site and uploads buckets, and the upload of ``frontend/``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: InfraConfig, api: ApiStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        logs_bucket = access_log_bucket(self, "Logs", object_writer=True)
        site = secure_bucket(self, "Site", access_logs=logs_bucket, removal_policy=RemovalPolicy.DESTROY)
        catalog_name = resolve(config.bucket_name_template("catalog"))
        uploads_name = resolve(config.bucket_name_template("uploads"))
        page_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "PageHeaders",
            comment="Vitrine page: strict CSP and the usual security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=page_csp(catalog_name, uploads_name, config.region), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(
                    protection=True, mode_block=True, override=True
                ),
            ),
        )
        viewer_ip = cloudfront.Function(
            self,
            "ViewerIp",
            code=cloudfront.FunctionCode.from_inline(VIEWER_IP_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Writes the shopper's IP into x-viewer-ip for the API's WAF rate rule",
        )
        api_origin = origins.RestApiOrigin(
            api.api, custom_headers={ORIGIN_HEADER: api.origin_secret.secret_value.unsafe_unwrap()}
        )
        shopper_requests = cloudfront.OriginRequestPolicy(
            self,
            "ShopperRequests",
            # Policy names are global to the account: the region keeps deployments in several regions apart.
            origin_request_policy_name=f"{config.prefix}-shopper-api-{config.region}",
            comment="Vitrine shopper API routes: what the API reads, and the viewer's address",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*SHOPPER_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Vitrine: page from S3, /api/* to API Gateway",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(site),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=page_headers,
            ),
            # In this order: CloudFront takes the first pattern that matches, /api/ops/* before /api/*.
            additional_behaviors={
                f"/api/{OPS_ROOT}/*": self._api_behavior(
                    api_origin, viewer_ip, cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER
                ),
                "/api/*": self._api_behavior(api_origin, viewer_ip, shopper_requests),
            },
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=logs_bucket,
            log_file_prefix="cloudfront/",
        )
        accept(
            self.distribution,
            "AwsSolutions-CFR1",
            "A storefront sells wherever its shop does; geo restriction is a business decision left off.",
        )
        accept(
            self.distribution,
            "AwsSolutions-CFR2",
            "CloudFront WAFs must live in us-east-1; the regional WAF on the API stage rate-limits the "
            "only dynamic path per shopper (x-viewer-ip) and admits only requests carrying this "
            "distribution's origin secret; the static page is cached.",
        )
        accept(
            self.distribution,
            "AwsSolutions-CFR4",
            "The default *.cloudfront.net certificate cannot pin a minimum TLS version; a custom domain "
            "with an ACM certificate (TLSv1.2_2021) is a deploy-time choice in the deploy guide.",
        )
        deployment.BucketDeployment(
            self,
            "Page",
            sources=[deployment.Source.asset(str(FRONTEND_DIR))],
            destination_bucket=site,
            distribution=self.distribution,
            distribution_paths=["/*"],
            # The copied page goes with the stack: a non-empty site bucket would stop `cdk destroy`.
            retain_on_delete=False,
        )
        self.uploads_bucket = secure_bucket(
            self,
            "Uploads",
            bucket_name=uploads_name,
            access_logs=logs_bucket,
            log_prefix="uploads/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(1))],
            # The browser POSTs a presigned form from this page; no other origin may.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=[f"https://{self.distribution.distribution_domain_name}"],
                    allowed_headers=["content-type"],
                    max_age=600,
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self._accept_deployment_handler(site)
        CfnOutput(self, "Url", value=f"https://{self.distribution.distribution_domain_name}")

    @staticmethod
    def _api_behavior(
        origin: cloudfront.IOrigin, viewer_ip: cloudfront.IFunction, requests: cloudfront.IOriginRequestPolicy
    ) -> cloudfront.BehaviorOptions:
        """An uncached behavior to the API: every method, ``x-viewer-ip`` written, ``requests`` forwarded."""
        return cloudfront.BehaviorOptions(
            origin=origin,
            function_associations=[
                cloudfront.FunctionAssociation(
                    function=viewer_ip, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                )
            ],
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=requests,
            response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        )

    def _accept_deployment_handler(self, site: s3.IBucket) -> None:
        """CDK's BucketDeployment handler runs only during ``cdk deploy`` to copy ``frontend/`` into the site."""
        handler = next(c for c in self.node.children if c.node.id.startswith("Custom::CDKBucketDeployment"))
        site_arn = self.get_logical_id(site.node.default_child)
        copy = "CDK's deploy-time copy of frontend/ from the CDK asset bucket into the site bucket."
        findings = {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's handler writes its own logs with the basic execution policy.",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": copy,
            "AwsSolutions-IAM5[Action::s3:GetObject*]": copy,
            "AwsSolutions-IAM5[Action::s3:List*]": copy,
            "AwsSolutions-IAM5[Action::s3:Abort*]": copy,
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": copy + " Stale files are deleted.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            f"{self.region}/*]": copy,
            f"AwsSolutions-IAM5[Resource::<{site_arn}.Arn>/*]": copy,
            "AwsSolutions-IAM5[Resource::*]": "cloudfront:CreateInvalidation has no resource-level permission.",
            "AwsSolutions-L1": "CDK pins the runtime of its own deployment handler.",
            "Serverless-LambdaLatestVersion": "CDK pins the runtime of its own deployment handler.",
            "Serverless-LambdaDLQ": "Invoked synchronously by CloudFormation, which reports its failure.",
            "Serverless-LambdaTracing": "A deploy-time copy job; there is no request to trace.",
        }
        for rule, reason in findings.items():
            accept(handler, rule, reason)
