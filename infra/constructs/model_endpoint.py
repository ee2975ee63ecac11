"""A SageMaker endpoint for one ``model_code/<model>`` folder and its ``model.tar.gz`` artifact.

The artifact holds the weights and, under ``code/``, a copy of ``model_code/<model>`` and
``model_code/common`` (the layout of the SageMaker inference toolkit). The construct reads the folder at
synth: it must exist (no endpoint for code that is not in the repository), and for LLaVA the
``serving.properties`` of DJL LMI become ``OPTION_*`` variables, so the repository file is the deployed
configuration.

What runs is the artifact, not the repository: its sha256 (``vitrine:artifactDigests``) goes into the container
environment, so a re-uploaded artifact replaces the model and the endpoint rolls over to it. (A hash of the
repository's ``model_code`` would roll the endpoint over to the *same* artifact whenever the code changed, and
never when the artifact did.) Without a digest, only a new artifact URI rolls out, and synth says so.

Each endpoint has its own role (its artifact object, its image repository, its log group), autoscaling on
invocations per instance, and an optional asynchronous mode for bulk work (queue in SageMaker, results in
S3, scales to zero, and a step policy on ``HasBacklogWithoutCapacity`` brings the first instance back). No KMS
key is set on the endpoint config: the g5 family keeps its volume on instance-store NVMe, which AWS encrypts,
and SageMaker refuses ``KmsKeyId`` for such instances.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.images import ContainerImage, image_for
from infra.nag import accept, grant_scoped, resolve

MODEL_CODE_DIR = Path(__file__).resolve().parent.parent.parent / "model_code"
VARIANT = "AllTraffic"
DJL_DROPPED_OPTIONS = ("option.model_id",)
"""Weights come from the artifact SageMaker extracts to /opt/ml/model; with network isolation on, a hub or
S3 model id in serving.properties could not be fetched, so it never reaches the container."""
ARTIFACT_DIGEST_VARIABLE = "MODEL_ARTIFACT_SHA256"
"""Container variable holding the artifact's sha256: a new digest is a new model, hence a rollout."""

VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); the key must name an object, not a folder."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key or key.endswith("/"):
        raise ValueError(f"model artifact must be s3://bucket/key of a model.tar.gz, not {uri!r}")
    return bucket, key


def djl_options(properties: Path) -> dict[str, str]:
    """``option.x=y`` lines of a DJL ``serving.properties`` as the ``OPTION_X`` variables LMI reads."""
    options: dict[str, str] = {}
    for line in properties.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#") or not key.startswith("option.") or key in DJL_DROPPED_OPTIONS:
            continue
        options["OPTION_" + key.removeprefix("option.").replace(".", "_").upper()] = value.strip()
    if "OPTION_ROLLING_BATCH" not in options:
        raise ValueError(f"{properties} must set option.rolling_batch (vLLM batching is the point of LMI)")
    return options


class ModelEndpoint(Construct):
    """Model + endpoint config + endpoint + autoscaling for ``model_code/<model>``, named ``endpoint_name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: str,
        endpoint_name: str,
        artifact_uri: str,
        vpc_subnets: list[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        instance_type: str = "ml.g5.xlarge",
        min_instances: int = 1,
        max_instances: int = 4,
        invocations_per_instance: int = 100,
        async_output_bucket: str | None = None,
        artifact_digest: str | None = None,
        image: ContainerImage | None = None,
        model_code_dir: Path = MODEL_CODE_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        self.is_async = async_output_bucket is not None
        self.image = image or image_for(model)
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name
        )
        artifact_bucket, artifact_key = split_s3_uri(artifact_uri)

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role of {endpoint_name} only",
        )
        self._grant_runtime(stack, artifact_bucket, artifact_key)
        sagemaker_model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image.uri(stack.region),
                model_data_url=artifact_uri,
                environment=self._environment(model, model_code_dir, stack.region, artifact_digest),
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[security_group.security_group_id],
                subnets=[subnet.subnet_id for subnet in vpc_subnets],
            ),
        )
        sagemaker_model.node.add_dependency(self.role, self._resourceless)
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=sagemaker_model.attr_model_name,
                    instance_type=instance_type,
                    initial_instance_count=max(1, min_instances),
                    initial_variant_weight=1,
                )
            ],
            async_inference_config=self._async_config(model, async_output_bucket),
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=config.attr_endpoint_config_name,
        )
        self._autoscale(min_instances, max_instances, invocations_per_instance)

    def _environment(
        self, model: str, model_code_dir: Path, region: str, artifact_digest: str | None
    ) -> dict[str, str]:
        """Container variables; fails at synth when ``model_code/<model>`` lacks what the container runs."""
        code_dir = model_code_dir / model
        entry = code_dir / ("serving.properties" if model == "llava" else "inference.py")
        if not entry.is_file():
            raise FileNotFoundError(
                f"{entry} is missing: an endpoint is only deployed for code in the repository"
            )
        environment: dict[str, str] = {}
        if artifact_digest:
            environment[ARTIFACT_DIGEST_VARIABLE] = artifact_digest
        else:
            Annotations.of(self).add_warning_v2(
                "vitrine:artifactDigest",
                f"no vitrine:artifactDigests.{model}: a model.tar.gz re-uploaded to the same URI will not roll "
                "out; give its sha256 (or a new URI) to deploy it",
            )
        if model == "llava":
            return {**environment, **djl_options(entry)}
        return {
            **environment,
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_REGION": region,
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        }

    def _async_config(
        self, model: str, bucket_template: str | None
    ) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None:
        """Results and failures of asynchronous requests go to ``async/<model>/`` of that bucket."""
        if bucket_template is None:
            return None
        prefix = f"async/{model}"
        grant_scoped(
            self.role,
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            [f"arn:{{partition}}:s3:::{bucket_template}/{prefix}/*"],
            "Asynchronous results of this endpoint only, under its own prefix.",
        )
        output = f"s3://{resolve(bucket_template)}/{prefix}"
        return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
            output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                s3_output_path=f"{output}/results", s3_failure_path=f"{output}/failures"
            ),
            client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                max_concurrent_invocations_per_instance=4
            ),
        )

    def _grant_runtime(self, stack: Stack, artifact_bucket: str, artifact_key: str) -> None:
        """What the container needs: its artifact, its image, its logs and metrics, and VPC interfaces."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    stack.format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource=artifact_bucket,
                        resource_name=artifact_key,
                    )
                ],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[self.image.repository_arn(stack.region)],
            )
        )
        grant_scoped(
            self.role,
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [
                f"arn:{{partition}}:logs:{stack.region}:{{account}}:log-group:"
                f"/aws/sagemaker/Endpoints/{self.endpoint_name}:*"
            ],
            "The log streams of this endpoint's own log group; stream names are made by SageMaker.",
        )
        # The actions without resource-level permissions, in a policy of their own: the acknowledgement of
        # Resource::* covers this policy, not the role, so a wildcard grant added to the role still fails synth.
        resourceless = iam.Policy(
            self,
            "ResourcelessActions",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={
                        "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints", "AWS/SageMaker"]}
                    },
                ),
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken", *VPC_ACTIONS], resources=["*"]),
            ],
        )
        self._resourceless = resourceless
        accept(
            resourceless,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken, ENI management and cloudwatch:PutMetricData (limited to the "
            "SageMaker namespaces by condition) have no resource-level permissions. This policy holds nothing else.",
        )

    def _autoscale(self, min_instances: int, max_instances: int, invocations_per_instance: int) -> None:
        """Real-time: track invocations per instance. Async: track the backlog and allow scaling to zero."""
        target = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=0 if self.is_async else max(1, min_instances),
            max_capacity=max_instances,
        )
        target.node.add_dependency(self.endpoint)
        if self.is_async:
            # Target tracking cannot leave zero (no instance, no per-instance backlog): this step does.
            target.scale_on_metric(
                "FromZero",
                metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="HasBacklogWithoutCapacity",
                    dimensions_map={"EndpointName": self.endpoint_name},
                    statistic="Average",
                    period=Duration.minutes(1),
                ),
                scaling_steps=[
                    autoscaling.ScalingInterval(upper=0.5, change=0),
                    autoscaling.ScalingInterval(lower=0.5, change=1),
                ],
                adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
                cooldown=Duration.minutes(5),
                evaluation_periods=1,
            )
            target.scale_to_track_metric(
                "Backlog",
                target_value=5,
                custom_metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="ApproximateBacklogSizePerInstance",
                    dimensions_map={"EndpointName": self.endpoint_name},
                    statistic="Average",
                ),
                scale_in_cooldown=Duration.minutes(10),
                scale_out_cooldown=Duration.minutes(2),
            )
            return
        target.scale_to_track_metric(
            "Invocations",
            target_value=invocations_per_instance,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.minutes(2),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call this endpoint, and nothing else of SageMaker."""
        actions = ["sagemaker:InvokeEndpointAsync"] if self.is_async else ["sagemaker:InvokeEndpoint"]
        return iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[self.endpoint_arn])
