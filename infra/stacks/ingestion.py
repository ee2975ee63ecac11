"""Ingestion: ``products/`` in the catalog bucket → SQS → the ingest Lambda, and the idempotency store.

Both halves of an object's life reach the queue: ``s3:ObjectCreated:*`` indexes a new or replaced image, and
``s3:ObjectRemoved:*`` (a delete, or a delete marker in the versioned bucket) un-indexes it, so a deleted
catalog image stops being a search result.

The per-object work is the same for live events and for the backfill (with the ``descriptions`` job, it also
describes the products it saves), so the grants it needs are defined once here (:meth:`IngestionStack.grant_ingest`) and the backfill stack reuses them for its own role. The
idempotency table is not part of it: only the SQS path sees an event twice (at-least-once delivery), so only
the ingest Lambda gets the table (``handlers.ingest`` claims each event; ``handlers.backfill`` does not, the
catalog's ETag ledger makes a re-listed object a no-op).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.bedrock import grant_invoke_models
from infra.config import DETECT_AND_EMBED, PRODUCTS_PREFIX
from infra.constructs.s3_prefix_queue import S3PrefixQueue
from infra.nag import accept
from infra.stacks.base import PlatformStack
from infra.stacks.descriptions import grant_describing
from infra.stacks.models import ModelsStack

IDEMPOTENCY_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]
"""What the Powertools persistence layer behind ``vitrine.adapters.aws.dynamodb_guard`` calls, and nothing else."""


class IngestionStack(PlatformStack):
    """Event-driven catalog ingestion."""

    def __init__(self, scope: Construct, construct_id: str, *, models: ModelsStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.models = models
        self.add_stack_dependency(models, "ingestion calls the endpoints as soon as objects arrive")
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
        self.ingest = self.handler_function(
            "Ingest",
            function="ingest",
            writes_catalog=True,
            aws_settings={"idempotency_table": self.idempotency_table.table_name},
            description="Catalog ingestion: S3 events from SQS, partial batch responses",
            failure_handling="Invoked by an SQS event source, never asynchronously: failed messages are "
            "redelivered and then moved to the queue's own dead-letter queue.",
            timeout=Duration.minutes(2),
        )
        self.grant_ingest(self.ingest.role)
        self.ingest.role.add_to_principal_policy(
            iam.PolicyStatement(actions=IDEMPOTENCY_ACTIONS, resources=[self.idempotency_table.table_arn])
        )
        # The bucket is imported by name so its notification lives in this stack: the data stack never
        # depends on the queues that consume it.
        catalog = s3.Bucket.from_bucket_name(self, "CatalogBucket", self.data.bucket_name("catalog"))
        self.products = S3PrefixQueue(
            self,
            "Products",
            bucket=catalog,
            prefix=PRODUCTS_PREFIX,
            consumer=self.ingest,
            events=(s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED),
        )
        self._accept_notification_handler()

    def _accept_notification_handler(self) -> None:
        """CDK's bucket-notification custom resource (one per stack) runs only at deploy time."""
        handler = next(c for c in self.node.children if c.node.id.startswith("BucketNotificationsHandler"))
        accept(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's BucketNotificationsHandler (deploy-time custom resource that attaches the products/ "
            "notification) uses the basic execution policy: write its own logs, nothing else.",
        )

    def grant_ingest(self, grantee: iam.Role) -> None:
        """What the per-object ingestion code touches, and nothing more (its database user comes with the
        function: ``handler_function(writes_catalog=True)``)."""
        self.data.grant_objects(grantee, "catalog", PRODUCTS_PREFIX, ["s3:GetObject", "s3:GetObjectVersion"])
        self.data.grant_index(grantee, write=True)
        self.models.grant_invoke(grantee, (*DETECT_AND_EMBED, *self.config.tagger_models()))
        if self.config.tagger == "bedrock":
            grant_invoke_models(grantee, self, [self.config.bedrock_tagger_model_id])
        if self.config.runs("descriptions"):
            # Ingestion describes the products it saves (VITRINE_DESCRIPTIONS_AT_INGEST, on with this job).
            grant_describing(self.models, grantee, self, self.config)
