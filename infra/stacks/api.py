"""API: API Gateway REST → the api Lambda, with request validation, throttling, access logs and a WAF.

Routes are declared one by one (not a catch-all proxy) so API Gateway rejects unknown paths and malformed
requests before they cost a Lambda invocation. The body schemas only say "a JSON object": the field rules
live once, in the handler's pydantic models, which answer with a precise message.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.bundling import dependencies_layer, handler_code
from infra.config import DETECT_AND_EMBED, PRODUCTS_PREFIX, InfraConfig
from infra.constructs.vitrine_function import VitrineFunction
from infra.nag import accept
from infra.stacks.data import DataStack
from infra.stacks.models import ModelsStack
from infra.stacks.network import NetworkStack

API_ROOT = "api"
UPLOADS_PREFIX = "uploads/"
"""Where presigned uploads land (``vitrine.api.search.UPLOAD_KEY``); PutObject signs the presigned POST."""
ROUTES: tuple[tuple[str, str, bool], ...] = (
    ("GET", "health", False),
    ("GET", "openapi.json", False),
    ("GET", "docs", False),
    ("POST", "search", True),
    ("POST", "uploads", True),
    ("GET", "ingest/report", False),
    ("GET", "objects/{key+}", False),
)
"""(method, path under /api, has a JSON body): the routes of ``handlers.api``."""

BINARY_TYPES = ["image/*"]
"""``GET /api/objects/{key+}`` returns images: API Gateway passes them base64-encoded."""


class ApiStack(Stack):
    """The public REST API that CloudFront serves under ``/api/*``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        network: NetworkStack,
        data: DataStack,
        models: ModelsStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.add_stack_dependency(models, "search calls the endpoints")
        self.handler = VitrineFunction(
            self,
            "Handler",
            handler="handlers.api.handler",
            code=handler_code(),
            layer=dependencies_layer(self),
            vpc=network.vpc,
            subnets=network.app_subnets,
            security_groups=[data.clients],
            environment={**data.lambda_environment(), "POWERTOOLS_SERVICE_NAME": "vitrine-api"},
            description="Vitrine REST API: search, uploads, objects, health, ingestion report",
            failure_handling="Invoked synchronously by API Gateway: a failure is the HTTP answer, nothing is "
            "left to retry.",
            timeout=Duration.seconds(29),
            memory_size=1536,
        )
        role = self.handler.role
        data.grant_objects(role, "catalog", PRODUCTS_PREFIX, ["s3:GetObject"])
        data.grant_objects(
            role, "uploads", UPLOADS_PREFIX, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        )
        data.grant_database_credentials(role)
        data.grant_index(role, write=False)
        models.grant_invoke(role, DETECT_AND_EMBED)

        self.api = self._rest_api(config)
        self._web_acl(config)
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
            binary_media_types=BINARY_TYPES,
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
                request_parameters={"method.request.path.key": True} if "{key+}" in path else None,
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
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_requests_per_5min, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=_visibility("rate-per-ip"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="KnownBadInputs",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                        )
                    ),
                    visibility_config=_visibility("known-bad-inputs"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )
