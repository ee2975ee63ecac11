"""Backfill: a Step Functions Distributed Map over the catalog prefix, feeding the ingestion code in batches.

Millions of existing images are not a loop in a Lambda: the Map lists the bucket itself, hands batches of
keys to the backfill Lambda (the same per-object code and grants as live ingestion, without the idempotency
table: a listing is not redelivered, and the catalog's ETag makes an already ingested object a no-op), runs
them with bounded concurrency so the endpoints are not flooded, tolerates a small share of failed batches,
and writes the per-batch results to the results bucket for the operator.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.observed_state_machine import accept_distributed_map_grants, trace_and_log
from infra.stacks.base import PlatformStack
from infra.stacks.ingestion import IngestionStack

RESULTS_PREFIX = "backfill/"


class BackfillStack(PlatformStack):
    """The bulk path: state machine + backfill Lambda."""

    def __init__(
        self, scope: Construct, construct_id: str, *, ingestion: IngestionStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config, data = self.config, self.data
        self.worker = self.handler_function(
            "Worker",
            function="backfill",
            writes_catalog=True,
            description="Backfill: one Distributed Map batch of existing catalog objects",
            failure_handling="Invoked synchronously by Step Functions: a failed batch is retried by the "
            "Map state and counted against its tolerated-failure threshold.",
            timeout=Duration.minutes(10),
        )
        ingestion.grant_ingest(self.worker.role)

        ingest_batch = tasks.LambdaInvoke(
            self,
            "IngestBatch",
            lambda_function=self.worker.function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # A batch whose every object failed (endpoint down) is retried with back-off before it counts.
        ingest_batch.add_retry(
            errors=["BatchFailed"], interval=Duration.seconds(30), max_attempts=3, backoff_rate=2.0
        )
        catalog = s3.Bucket.from_bucket_name(self, "CatalogBucket", data.bucket_name("catalog"))
        results = s3.Bucket.from_bucket_name(self, "ResultsBucket", data.bucket_name("results"))
        each_batch = sfn.DistributedMap(
            self,
            "EachBatch",
            label="EachBatch",
            item_reader=sfn.S3ObjectsItemReader(bucket=catalog, prefix=config.backfill_prefix),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=config.backfill_batch_size,
                batch_input={"bucket": catalog.bucket_name},
            ),
            max_concurrency=config.backfill_max_concurrency,
            tolerated_failure_percentage=config.backfill_tolerated_failure_percent,
            result_writer_v2=sfn.ResultWriterV2(bucket=results, prefix=RESULTS_PREFIX),
        )
        each_batch.item_processor(ingest_batch)
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.prefix}-backfill",
            definition_body=sfn.DefinitionBody.from_chainable(each_batch),
            timeout=Duration.days(7),
        )
        trace_and_log(self.state_machine, execution_logs)
        accept_distributed_map_grants(
            self.state_machine, self.worker.function, data.bucket_name_template("results")
        )
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
