"""API: API Gateway REST → the api Lambda, with request validation, throttling, access logs, a WAF, and a
Cognito user pool whose authorizer guards every operator method.

Shopper routes are declared one by one (not a catch-all proxy) so API Gateway rejects unknown paths and
malformed requests before they cost a Lambda invocation; they stay public, and their function signs in to
the catalog as the read-only database user. Operator routes are everything under ``/api/ops/``: one
``ANY /api/ops/{proxy+}`` method behind the Cognito user-pool authorizer, so no operator route, present or
future, is reachable without a signed-in user (the Lambda then requires the ``operators`` group from the
claims the authorizer passes in ``requestContext.authorizer.claims``). It is served by the same handler code
in a function of its own (:attr:`ApiStack.operations`), the one that may write the catalog. The body schemas
only say "a JSON object": the field rules live once, in the handler's pydantic models.

The jobs decide what each function may call: search lets the public function detect and embed; hotels lets both
presign ``hotels/`` photos and the operator function classify (llava) and rescore (the ranker); descriptions lets
the public function ask the attribute model and the operator function describe (the attribute model and the
writer's Claude model). The routes are declared whatever the jobs (one API for every deployment): without its
job, a route answers from empty tables (the hotel routes) or 503 when it needs a model that is not deployed
(a question without the descriptions job).

The stage is reachable only through CloudFront: CloudFront adds a secret header (:attr:`ApiStack.origin_secret`,
generated in Secrets Manager, resolved by CloudFormation at deploy) and the stage's WAF blocks any request
without it. The WAF's rate rule keys on the shopper's address, which a CloudFront function writes into
``x-viewer-ip`` (overwriting anything the client sent); CloudFront's own address would lump every shopper
behind one edge together, and ``X-Forwarded-For`` would let a client choose the first address WAF reads.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import (
    CALIBRATION_KEY,
    CLASSIFY_MODELS,
    COVER_MODELS,
    DETECT_AND_EMBED,
    HOTELS_PREFIX,
    PRODUCTS_PREFIX,
    InfraConfig,
)
from infra.nag import accept
from infra.stacks.base import PlatformStack
from infra.stacks.descriptions import grant_asking, grant_describing
from infra.stacks.models import ModelsStack

API_ROOT = "api"
OPS_ROOT = "ops"
UPLOADS_PREFIX = "uploads/"
"""Where presigned uploads land (``vitrine.api.routes.search.UPLOAD_KEY``); PutObject signs the presigned POST."""
ROUTES: tuple[tuple[str, str, bool], ...] = (
    ("GET", "health", False),
    ("GET", "openapi.json", False),
    ("GET", "docs", False),
    ("POST", "search", True),
    ("POST", "uploads", True),
    ("GET", "hotels", False),
    ("GET", "hotels/{hotel_id}", False),
    ("GET", "products/{code}", False),
    ("POST", "products/{code}/ask", True),
    ("GET", "search/text", False),
    ("GET", "products/{code}/similar", False),
)
"""(method, path under /api, has a JSON body): the public shopper routes of ``handlers.api``. Operator routes
(``/api/ops/...``) are not listed: one authorized proxy method covers them all. Catalog images are not among
them: search results carry presigned S3 GET URLs (``S3Store.url_for``), and the browser loads those directly."""

OPERATORS_GROUP = "operators"
"""The Cognito group the api Lambda requires on operator routes (``vitrine.api.auth.OPERATORS_GROUP``)."""
ORIGIN_HEADER = "x-origin-verify"
"""The header CloudFront adds to every request to the API origin; its value is :attr:`ApiStack.origin_secret`."""
VIEWER_IP_HEADER = "x-viewer-ip"
"""The shopper's IP address, written by CloudFront (``FrontendStack``) for the WAF rate rule."""
VIEWER_ADDRESS_HEADER = "CloudFront-Viewer-Address"
"""The shopper's ``ip:port``, added by CloudFront to the shopper routes' origin requests (``FrontendStack``): the
question route limits questions per client by it (``vitrine.api.routes.products.VIEWER_ADDRESS``)."""


class ApiStack(PlatformStack):
    """The REST API that CloudFront serves under ``/api/*``, and the operators' user pool."""

    def __init__(self, scope: Construct, construct_id: str, *, models: ModelsStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.add_stack_dependency(models, "search calls the endpoints")
        self.handler = self.handler_function(
            "Handler",
            function="api",
            writes_catalog=False,
            description="Vitrine REST API: shopper routes (search, uploads, health, docs) and operator routes",
            failure_handling="Invoked synchronously by API Gateway: a failure is the HTTP answer, nothing is "
            "left to retry.",
            timeout=Duration.seconds(29),
        )
        self.operations = self.handler_function(
            "Operations",
            function="api",
            name="ops",
            writes_catalog=True,
            description="Vitrine REST API, operator routes (/api/ops/...): behind the Cognito authorizer",
            failure_handling="Invoked synchronously by API Gateway: a failure is the HTTP answer, nothing is "
            "left to retry.",
            timeout=Duration.seconds(29),
        )
        data = self.data
        for role in (self.handler.role, self.operations.role):
            # A presigned GET works only if the signer may GetObject: results link to products/ images.
            data.grant_objects(role, "catalog", PRODUCTS_PREFIX, ["s3:GetObject"])
            data.grant_objects(role, "catalog", CALIBRATION_KEY, ["s3:GetObject"])
            data.grant_index(role, write=False)
        # Presigned POSTs land in uploads/ (signed with PutObject); POST /search reads them back.
        data.grant_objects(self.handler.role, "uploads", UPLOADS_PREFIX, ["s3:GetObject", "s3:PutObject"])
        if self.config.runs("search"):
            models.grant_invoke(self.handler.role, DETECT_AND_EMBED)
        if self.config.runs("hotels"):
            for role in (self.handler.role, self.operations.role):
                # Gallery photos are presigned GETs of hotels/ objects; rescoring reads them for the ranker.
                data.grant_objects(role, "catalog", HOTELS_PREFIX, ["s3:GetObject"])
            # POST /api/ops/classify (llava) and POST /api/ops/hotels/{hotel_id}/rescore (the ranker).
            models.grant_invoke(self.operations.role, (*CLASSIFY_MODELS, *COVER_MODELS))
        if self.config.runs("descriptions"):
            # POST /api/products/{code}/ask reads the photo with the attribute model and writes nothing.
            grant_asking(models, self.handler.role)
            # POST /api/ops/products/{code}/describe: the attribute model and the writer's Claude model.
            grant_describing(models, self.operations.role, self, self.config)

        self.origin_secret = secretsmanager.Secret(
            self,
            "OriginSecret",
            description="Header value CloudFront sends to the API; the API's WAF blocks requests without it",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        accept(
            self.origin_secret,
            "AwsSolutions-SMG4",
            "CloudFormation resolves this value into the CloudFront origin header and the WAF rule at deploy; "
            "rotating it is a redeploy of Vitrine-Api and Vitrine-Frontend (deploy guide), not a Lambda rotation.",
        )
        self.user_pool = self._operators()
        self.api = self._rest_api(self.config)
        self._web_acl(self.config)
        CfnOutput(self, "ApiUrl", value=self.api.url)

    def _operators(self) -> cognito.UserPool:
        """The operators' user pool: invitation only, MFA, the ``operators`` group, a public client for sign-in."""
        pool = cognito.UserPool(
            self,
            "Operators",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        cognito.CfnUserPoolGroup(
            self,
            "OperatorsGroup",
            user_pool_id=pool.user_pool_id,
            group_name=OPERATORS_GROUP,
            description="May call /api/ops/... (checked by the api Lambda from the authorizer's claims)",
        )
        client = pool.add_client(
            "Console",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
        )
        CfnOutput(self, "OperatorsUserPoolId", value=pool.user_pool_id)
        CfnOutput(self, "OperatorsClientId", value=client.user_pool_client_id)
        return pool

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
                authorization_type=apigw.AuthorizationType.NONE,
            )
            accept(
                resource,
                "AwsSolutions-APIG4",
                "Public storefront route: shoppers search without an account. Abuse is bounded by stage "
                "throttling and the WAF rate rule; no shopper route reads or writes anything private.",
            )
            accept(
                resource,
                "AwsSolutions-COG4",
                "Public storefront route: shoppers have no account. Operator routes (/api/ops/...) have "
                "the Cognito authorizer.",
            )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "OperatorAuthorizer",
            cognito_user_pools=[self.user_pool],
            results_cache_ttl=Duration.minutes(5),
        )
        operator_routes = root.add_resource(OPS_ROOT).add_proxy(any_method=False)
        operator_routes.add_method(
            "ANY",
            apigw.LambdaIntegration(self.operations.function, allow_test_invoke=False),
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            request_validator=validator,
        )
        accept(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; this managed policy is the documented minimum.",
        )
        return api

    def _web_acl(self, config: InfraConfig) -> None:
        """A regional WAF on the stage: CloudFront's header required, a per-shopper rate limit, and AWS's
        known-bad-inputs rules."""
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("vitrine-api"),
            rules=[
                _rule(
                    "OnlyThroughCloudFront",
                    "not-through-cloudfront",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(
                            statement=wafv2.CfnWebACL.StatementProperty(
                                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                        single_header={"Name": ORIGIN_HEADER}
                                    ),
                                    positional_constraint="EXACTLY",
                                    search_string=self.origin_secret.secret_value.unsafe_unwrap(),
                                    text_transformations=[
                                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                                    ],
                                )
                            )
                        )
                    ),
                ),
                _rule(
                    "RatePerShopper",
                    "rate-per-shopper",
                    priority=1,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_requests_per_5min,
                            aggregate_key_type="FORWARDED_IP",
                            forwarded_ip_config=wafv2.CfnWebACL.ForwardedIPConfigurationProperty(
                                header_name=VIEWER_IP_HEADER, fallback_behavior="MATCH"
                            ),
                        )
                    ),
                ),
                _rule(
                    "KnownBadInputs",
                    "known-bad-inputs",
                    priority=2,
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
