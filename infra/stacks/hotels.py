"""Hotel images: ``hotels/`` in the catalog bucket → SQS → the classify Lambda; a schedule → the cover Lambda;
a Distributed Map over ``hotels/`` for the existing library.

- **Classification**: created and removed objects under ``hotels/`` reach their own queue (with its DLQ,
  visibility six times the function's timeout, five receives before the DLQ); the function classifies the
  SQS batch with bounded concurrent requests to the llava endpoint (vLLM's rolling batch), under an
  idempotency table of its own (the catalog job may not be deployed).
- **Cover scoring**, debounced: classification marks each changed hotel in Aurora in the same write; an
  EventBridge schedule runs the cover function every ``sweep_every``, which scores each hotel whose photos and
  text have settled (``VITRINE_HOTELS_COVER_QUIET_S``) with the ranker endpoint. Ten new photos of a hotel are
  one scoring run. A failed sweep is not retried by Lambda: the marks stay, the next sweep scores them.
- **Bulk classification** of an existing library: a Step Functions Distributed Map lists ``hotels/`` and hands
  batches to the same handler; ``backfill_max_concurrency`` batches in flight, each with
  ``VITRINE_HOTELS_CONCURRENCY`` requests, bound what the llava endpoint receives.

Deployed with the ``hotels`` job (``infra/platform.py``: ``vitrine:jobs`` names it); the grants made here are what
deploy the llava and ranker endpoints. Roles reach exactly the ``hotels/`` objects, the writer's database secret,
their own endpoint (llava for classification, the ranker for covers) and the idempotency table. The operator API
(``infra.stacks.api``) calls both endpoints too (``POST /api/ops/classify``, ``.../rescore``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import CLASSIFY_MODELS, COVER_MODELS, HOTELS_PREFIX
from infra.constructs.observed_state_machine import accept_distributed_map_grants, trace_and_log
from infra.constructs.s3_prefix_queue import S3PrefixQueue
from infra.nag import accept
from infra.stacks.base import PlatformStack
from infra.stacks.ingestion import IDEMPOTENCY_ACTIONS
from infra.stacks.models import ModelsStack
from vitrine.config import environment

__all__ = ["CLASSIFY_MODELS", "COVER_MODELS", "HOTELS_PREFIX", "HotelsStack"]

RESULTS_PREFIX = "hotels-backfill/"
FUNCTION_MEMORY_MB = 512
"""The hotel functions wait on the endpoints (header checks, JSON, SQL): memory is what they pay for while
they wait, so they get little (a backfill of 1,000 photos holds its workers about 2,700 s)."""


class HotelsStack(PlatformStack):
    """The hotel job on AWS: classify on arrival, debounced cover scoring, bulk classification.

    :param models: the models stack; the llava and ranker endpoints are deployed by the grants made here.
    :param classify_concurrency: classify invocations at once (SQS event source ``max_concurrency``, >= 2).
    :param request_concurrency: chat requests each invocation keeps in flight (``VITRINE_HOTELS_CONCURRENCY``).
    :param sweep_every: how often the cover function sweeps the changed hotels (default every minute).
    :param quiet_s: how long a hotel's photos must not change before it is scored (debounce).
    :param backfill_batch_size: objects per Distributed Map batch.
    :param backfill_max_concurrency: batches in flight: with ``request_concurrency`` this bounds the bulk load on
        the llava endpoint (default 4 x 8 = 32 requests).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: ModelsStack,
        classify_concurrency: int = 4,
        request_concurrency: int = 8,
        sweep_every: Duration = Duration.minutes(1),
        quiet_s: int = 60,
        backfill_batch_size: int = 20,
        backfill_max_concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.models = models
        self.add_stack_dependency(models, "classification and covers call the endpoints from the start")
        hotel_settings = environment(hotels={"concurrency": request_concurrency, "cover_quiet_s": quiet_s})
        self.idempotency_table = dynamodb.Table(
            self,
            "Idempotency",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        guarded = {"idempotency_table": self.idempotency_table.table_name}

        self.classify = self.handler_function(
            "Classify",
            function="hotels_classify",
            name="hotels-classify",
            writes_catalog=True,
            aws_settings=guarded,
            description="Hotel images: classify hotels/ objects from SQS, partial batch responses",
            failure_handling="Invoked by an SQS event source, never asynchronously: failed messages are "
            "redelivered and then moved to the queue's own dead-letter queue.",
            timeout=Duration.minutes(2),
            memory_size=FUNCTION_MEMORY_MB,
        )
        self._classifier_grants(self.classify.role)
        catalog = s3.Bucket.from_bucket_name(self, "CatalogBucket", self.data.bucket_name("catalog"))
        self.queue = S3PrefixQueue(
            self,
            "Hotels",
            bucket=catalog,
            prefix=HOTELS_PREFIX,
            consumer=self.classify,
            events=(s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED),
            max_concurrency=max(2, classify_concurrency),
        )

        self.cover = self.handler_function(
            "Cover",
            function="hotels_cover",
            name="hotels-cover",
            writes_catalog=True,
            description="Hotel covers: sweep the changed hotels, score their photos, keep one cover each",
            failure_handling="Invoked by an EventBridge schedule with no Lambda retries: a failed sweep leaves "
            "its hotels marked changed in the catalog and the next sweep scores them, so nothing is lost.",
            timeout=Duration.minutes(5),
            memory_size=FUNCTION_MEMORY_MB,
        )
        self.data.grant_objects(self.cover.role, "catalog", HOTELS_PREFIX, ["s3:GetObject"])
        self.models.grant_invoke(self.cover.role, COVER_MODELS)
        self.cover.function.configure_async_invoke(retry_attempts=0, max_event_age=Duration.minutes(2))
        self.sweep = events.Rule(
            self,
            "CoverSweep",
            description="Debounced cover scoring: sweep the hotels whose photos or text changed",
            schedule=events.Schedule.rate(sweep_every),
            targets=[targets.LambdaFunction(self.cover.function, retry_attempts=0)],
        )
        why = (
            "The schedule's events carry nothing: a sweep that fails leaves its hotels marked changed in the "
            "catalog, and the next tick (a minute later) scores them. A dead-letter queue or failure "
            "destination would only collect identical, worthless ticks."
        )
        accept(self.sweep, "Serverless-EventBusDLQ", why)
        accept(self.cover.function, "Serverless-LambdaAsyncFailureDestination", why)

        self.worker = self.handler_function(
            "BackfillWorker",
            function="hotels_classify",
            name="hotels-backfill",
            writes_catalog=True,
            aws_settings=guarded,
            description="Hotel images backfill: one Distributed Map batch of existing hotels/ objects",
            failure_handling="Invoked synchronously by Step Functions: a failed batch is retried by the Map "
            "state and counted against its tolerated-failure threshold.",
            timeout=Duration.minutes(10),
            memory_size=FUNCTION_MEMORY_MB,
        )
        self._classifier_grants(self.worker.role)
        for function in (self.classify, self.cover, self.worker):
            for key, value in hotel_settings.items():
                function.function.add_environment(key, value)
        self.state_machine = self._backfill(catalog, backfill_batch_size, backfill_max_concurrency)
        self._accept_notification_handler()
        CfnOutput(self, "BackfillStateMachineArn", value=self.state_machine.state_machine_arn)

    def _classifier_grants(self, role: iam.Role) -> None:
        """What the per-object classification touches: hotels/ objects, llava, the idempotency table."""
        self.data.grant_objects(role, "catalog", HOTELS_PREFIX, ["s3:GetObject", "s3:GetObjectVersion"])
        self.models.grant_invoke(role, CLASSIFY_MODELS)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=IDEMPOTENCY_ACTIONS, resources=[self.idempotency_table.table_arn])
        )

    def _backfill(self, catalog: s3.IBucket, batch_size: int, max_concurrency: int) -> sfn.StateMachine:
        classify_batch = tasks.LambdaInvoke(
            self,
            "ClassifyBatch",
            lambda_function=self.worker.function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # A batch whose every object failed (endpoint down) is retried with back-off before it counts.
        classify_batch.add_retry(
            errors=["BatchFailed"], interval=Duration.seconds(30), max_attempts=3, backoff_rate=2.0
        )
        results = s3.Bucket.from_bucket_name(self, "ResultsBucket", self.data.bucket_name("results"))
        each_batch = sfn.DistributedMap(
            self,
            "EachBatch",
            label="EachBatch",
            item_reader=sfn.S3ObjectsItemReader(bucket=catalog, prefix=HOTELS_PREFIX),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=batch_size, batch_input={"bucket": catalog.bucket_name}
            ),
            max_concurrency=max_concurrency,
            tolerated_failure_percentage=self.config.backfill_tolerated_failure_percent,
            result_writer_v2=sfn.ResultWriterV2(bucket=results, prefix=RESULTS_PREFIX),
        )
        each_batch.item_processor(classify_batch)
        execution_logs = logs.LogGroup(
            self,
            "BackfillLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "Backfill",
            state_machine_name=f"{self.config.prefix}-hotels-backfill",
            definition_body=sfn.DefinitionBody.from_chainable(each_batch),
            timeout=Duration.days(7),
        )
        trace_and_log(machine, execution_logs)
        accept_distributed_map_grants(
            machine, self.worker.function, self.config.bucket_name_template("results")
        )
        return machine

    def _accept_notification_handler(self) -> None:
        """CDK's bucket-notification custom resource (one per stack) runs only at deploy time."""
        handler = next(c for c in self.node.children if c.node.id.startswith("BucketNotificationsHandler"))
        accept(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's BucketNotificationsHandler (deploy-time custom resource that attaches the hotels/ "
            "notification) uses the basic execution policy: write its own logs, nothing else.",
        )
