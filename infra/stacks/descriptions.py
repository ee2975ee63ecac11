"""Descriptions: product attributes read from the photo by BLIP-2, a grounded description written by Claude, checked
and stored; outside ingestion, on a schedule and in bulk.

- **At ingestion** (no resource here): the ingest and catalog backfill functions describe the products they save
  (``VITRINE_DESCRIPTIONS_AT_INGEST``, on only with this job), so they get :func:`grant_describing` through
  ``IngestionStack.grant_ingest``.
- **Sweep**: an EventBridge schedule sends ``{"sweep": true}`` to ``handlers.describe`` every ``sweep_every``;
  it describes the products with no stored description (never attempted, throttled, failed), a bounded number a
  run. A failed sweep is not retried by Lambda: the products stay undescribed, and the next sweep takes them.
- **Bulk**: a Step Functions Distributed Map lists ``products/`` and hands batches of keys to the same handler,
  which reduces each key to its product code (``products/{code}/product.json`` and the product's photos name the
  same product, described once per batch; one already described is skipped, so a product whose keys straddle two
  batches costs nothing twice). S3 listings have no suffix filter: the photos ride along in the batches for free.
  ``max_concurrency`` batches in flight, each describing its products one by one, bound what BLIP-2 and Bedrock
  receive.

Who calls what (least privilege, one grant each): BLIP-2 (``sagemaker:InvokeEndpoint``) for ingest, the catalog
backfill, the operator API (``POST /api/ops/products/{code}/describe``), the public API (``POST
/api/products/{code}/ask``) and the describe function; Claude (``bedrock:InvokeModel`` on the writer model's
foundation-model ARN only) for the same minus the public API, which never writes. Descriptions are rows of
``product_descriptions`` beside the catalog (``vitrine.adapters.sql.descriptions``, migrated at deploy time): the
writers sign in as the writer database user, the public API as the reader.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.bedrock import grant_invoke_models
from infra.config import ATTRIBUTE_MODELS, PRODUCTS_PREFIX, InfraConfig
from infra.constructs.observed_state_machine import accept_distributed_map_grants, trace_and_log
from infra.nag import accept
from infra.stacks.base import PlatformStack
from infra.stacks.models import ModelsStack

RESULTS_PREFIX = "descriptions-backfill/"
SWEEP_EVENT = {"sweep": True}
"""What the schedule sends (``handlers.describe``: describe the products that have no good description yet)."""


def grant_asking(models: ModelsStack, grantee: iam.IGrantable) -> None:
    """What answering a shopper's question about a product photo calls: the attribute model, nothing else."""
    models.grant_invoke(grantee, ATTRIBUTE_MODELS)


def grant_describing(models: ModelsStack, grantee: iam.IGrantable, stack: Stack, config: InfraConfig) -> None:
    """What describing a product calls: the attribute model and exactly the writer's Claude model
    (``InfraConfig.writer_model_id``, the same id the functions' ``VITRINE_DESCRIPTIONS_WRITER_MODEL_ID`` names)."""
    grant_asking(models, grantee)
    grant_invoke_models(grantee, stack, [config.writer_model_id()])


class DescriptionsStack(PlatformStack):
    """The descriptions job on AWS: the describe function, its schedule and the bulk Distributed Map.

    :param models: the models stack; the BLIP-2 endpoint is deployed by the grants of this job.
    :param sweep_every: how often the sweep looks for undescribed products (default every 15 minutes).
    :param backfill_batch_keys: listed keys per Distributed Map batch (a product is its ``product.json`` and its
        photos: about five keys).
    :param backfill_max_concurrency: batches in flight, i.e. describe requests at once to BLIP-2 and Bedrock.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: ModelsStack,
        sweep_every: Duration = Duration.minutes(15),
        backfill_batch_keys: int = 100,
        backfill_max_concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.models = models
        self.add_stack_dependency(models, "describing calls the attribute endpoint")
        self.describe = self.handler_function(
            "Describe",
            function="describe",
            writes_catalog=True,
            description="Descriptions: a sweep of undescribed products, or one Distributed Map batch of products/",
            failure_handling="Invoked by an EventBridge schedule with no Lambda retries (a failed sweep leaves its "
            "products undescribed, and the next sweep takes them) and synchronously by Step Functions (a "
            "failed batch is retried by the Map state and counted against its tolerated-failure threshold).",
            timeout=Duration.minutes(10),
            memory_size=1024,
        )
        role = self.describe.role
        # The product's photos (the attribute model reads the best one); its facts come from the catalog rows.
        self.data.grant_objects(role, "catalog", PRODUCTS_PREFIX, ["s3:GetObject"])
        grant_describing(models, role, self, self.config)
        self.describe.function.configure_async_invoke(retry_attempts=0, max_event_age=Duration.minutes(5))
        self.sweep = events.Rule(
            self,
            "Sweep",
            description="Describe the products that have no good description yet",
            schedule=events.Schedule.rate(sweep_every),
            targets=[
                targets.LambdaFunction(
                    self.describe.function,
                    event=events.RuleTargetInput.from_object(SWEEP_EVENT),
                    retry_attempts=0,
                )
            ],
        )
        why = (
            "A sweep carries nothing but the request to look: one that fails leaves its products undescribed in "
            "the catalog, and the next tick takes them. A dead-letter queue or failure destination would only "
            "collect identical, worthless ticks."
        )
        accept(self.sweep, "Serverless-EventBusDLQ", why)
        accept(self.describe.function, "Serverless-LambdaAsyncFailureDestination", why)
        self.state_machine = self._backfill(backfill_batch_keys, backfill_max_concurrency)
        CfnOutput(self, "BackfillStateMachineArn", value=self.state_machine.state_machine_arn)

    def _backfill(self, batch_keys: int, max_concurrency: int) -> sfn.StateMachine:
        describe_batch = tasks.LambdaInvoke(
            self,
            "DescribeBatch",
            lambda_function=self.describe.function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # A batch whose every product failed (endpoint or Bedrock down) is retried with back-off before it counts.
        describe_batch.add_retry(
            errors=["BatchFailed"], interval=Duration.seconds(30), max_attempts=3, backoff_rate=2.0
        )
        catalog = s3.Bucket.from_bucket_name(self, "CatalogBucket", self.data.bucket_name("catalog"))
        results = s3.Bucket.from_bucket_name(self, "ResultsBucket", self.data.bucket_name("results"))
        each_batch = sfn.DistributedMap(
            self,
            "EachBatch",
            label="EachBatch",
            item_reader=sfn.S3ObjectsItemReader(bucket=catalog, prefix=PRODUCTS_PREFIX),
            # Only the key reaches the function: it names the product (handlers.describe.codes_from).
            item_selector={"Key": sfn.JsonPath.string_at("$$.Map.Item.Value.Key")},
            item_batcher=sfn.ItemBatcher(max_items_per_batch=batch_keys),
            max_concurrency=max_concurrency,
            tolerated_failure_percentage=self.config.backfill_tolerated_failure_percent,
            result_writer_v2=sfn.ResultWriterV2(bucket=results, prefix=RESULTS_PREFIX),
        )
        each_batch.item_processor(describe_batch)
        execution_logs = logs.LogGroup(
            self,
            "BackfillLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "Backfill",
            state_machine_name=f"{self.config.prefix}-descriptions-backfill",
            definition_body=sfn.DefinitionBody.from_chainable(each_batch),
            timeout=Duration.days(7),
        )
        trace_and_log(machine, execution_logs)
        accept_distributed_map_grants(
            machine, self.describe.function, self.config.bucket_name_template("results")
        )
        return machine
