"""API: API Gateway REST → the api Lambda, with request validation, throttling, access logs and a WAF.

Routes are declared one by one (not a catch-all proxy) so API Gateway rejects unknown paths and malformed
requests before they cost a Lambda invocation. The body schemas only say "a JSON object": the field rules
live once, in the handler's pydantic models, which answer with a precise message.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import CALIBRATION_KEY, DETECT_AND_EMBED, PRODUCTS_PREFIX, InfraConfig
from infra.nag import accept
from infra.stacks.base import PlatformStack
from infra.stacks.models import ModelsStack

API_ROOT = "api"
UPLOADS_PREFIX = "uploads/"
"""Where presigned uploads land (``vitrine.api.routes.search.UPLOAD_KEY``); PutObject signs the presigned POST."""
ROUTES: tuple[tuple[str, str, bool], ...] = (
    ("GET", "health", False),
    ("GET", "openapi.json", False),
    ("GET", "docs", False),
    ("POST", "search", True),
    ("POST", "uploads", True),
    ("GET", "ingest/report", False),
)
"""(method, path under /api, has a JSON body): the routes of ``handlers.api``. Catalog images are not among
them: search results carry presigned S3 GET URLs (``S3Store.url_for``), and the browser loads those directly."""


class ApiStack(PlatformStack):
    """The public REST API that CloudFront serves under ``/api/*``."""

    def __init__(self, scope: Construct, construct_id: str, *, models: ModelsStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.add_stack_dependency(models, "search calls the endpoints")
        self.handler = self.handler_function(
            "Handler",
            function="api",
            description="Vitrine REST API: search, uploads, health, ingestion report, OpenAPI document",
            failure_handling="Invoked synchronously by API Gateway: a failure is the HTTP answer, nothing is "
            "left to retry.",
            timeout=Duration.seconds(29),
        )
        role, data = self.handler.role, self.data
        # A presigned GET works only if the signer may GetObject: results link to products/ images.
        data.grant_objects(role, "catalog", PRODUCTS_PREFIX, ["s3:GetObject"])
        data.grant_objects(role, "catalog", CALIBRATION_KEY, ["s3:GetObject"])
        # Presigned POSTs land in uploads/ (signed with PutObject); POST /search reads them back.
        data.grant_objects(role, "uploads", UPLOADS_PREFIX, ["s3:GetObject", "s3:PutObject"])
        data.grant_database_credentials(role)
        data.grant_index(role, write=False)
        models.grant_invoke(role, DETECT_AND_EMBED)

        self.api = self._rest_api(self.config)
        self._web_acl(self.config)
        CfnOutput(self, "ApiUrl", value=self.api.url)

    def _rest_api(self, config: InfraConfig) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.prefix}-api",
            description="Vitrine visual search API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        validator = api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        json_object = api.add_model(
            "JsonObject",
            content_type="application/json",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        integration = apigw.LambdaIntegration(self.handler.function, allow_test_invoke=False)
        root = api.root.add_resource(API_ROOT)
        for method, path, has_body in ROUTES:
            resource = root.resource_for_path(path)
            resource.add_method(
                method,
                integration,
                request_validator=validator,
                request_models={"application/json": json_object} if has_body else None,
            )
            accept(
                resource,
                "AwsSolutions-APIG4",
                "Public storefront API: shoppers search without an account. Abuse is bounded by stage "
                "throttling and the WAF rate rule; no route reads or writes anything private.",
            )
            accept(
                resource,
                "AwsSolutions-COG4",
                "Same public storefront API: there is no user pool to authorise against.",
            )
        accept(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; this managed policy is the documented minimum.",
        )
        return api

    def _web_acl(self, config: InfraConfig) -> None:
        """A regional WAF on the stage: a per-IP rate limit and AWS's known-bad-inputs rules."""
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("vitrine-api"),
            rules=[
                _rule(
                    "RatePerIp",
                    "rate-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_requests_per_5min, aggregate_key_type="IP"
                        )
                    ),
                ),
                _rule(
                    "KnownBadInputs",
                    "known-bad-inputs",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                        )
                    ),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )


def _rule(name: str, metric: str, **props: Any) -> wafv2.CfnWebACL.RuleProperty:
    """A WAF rule with its CloudWatch metric and sampled requests on; ``props`` carry priority, statement and
    ``action`` (own rules) or ``override_action`` (managed rule groups)."""
    return wafv2.CfnWebACL.RuleProperty(name=name, visibility_config=_visibility(metric), **props)


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    """Metrics and sampled requests on, so a block can be traced to the rule that made it."""
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )
