"""Frontend: the page in a private S3 bucket behind CloudFront, ``/api/*`` routed to API Gateway.

One origin for the page and the API means no CORS for the browser and one TLS certificate. The bucket is
readable only by this distribution (origin access control); every response carries security headers. The
page's Content-Security-Policy allows S3 in ``connect-src`` because large photos go straight to the uploads
bucket with a presigned POST, and in ``img-src`` because result images are presigned GETs of the catalog bucket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as deployment
from constructs import Construct

from infra.buckets import access_log_bucket, secure_bucket
from infra.nag import accept

FRONTEND_DIR = Path(__file__).resolve().parent.parent.parent / "frontend"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob: https://*.amazonaws.com; style-src 'self'; script-src 'self'; "
    "connect-src 'self' https://*.amazonaws.com; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class FrontendStack(Stack):
    """CloudFront distribution, site bucket, and the upload of ``frontend/``."""

    def __init__(self, scope: Construct, construct_id: str, *, api: apigw.RestApi, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        logs_bucket = access_log_bucket(self, "Logs", object_writer=True)
        site = secure_bucket(self, "Site", access_logs=logs_bucket, removal_policy=RemovalPolicy.DESTROY)
        page_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "PageHeaders",
            comment="Vitrine page: strict CSP and the usual security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=PAGE_CSP, override=True
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
            additional_behaviors={
                "/api/*": cloudfront.BehaviorOptions(
                    origin=origins.RestApiOrigin(api),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                )
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
            "only dynamic path, and the static page is cached.",
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
        )
        self._accept_deployment_handler(site)
        CfnOutput(self, "Url", value=f"https://{self.distribution.distribution_domain_name}")

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
