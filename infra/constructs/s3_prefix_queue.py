"""S3 prefix → SQS (with a dead-letter queue) → Lambda with partial batch responses.

Why a queue between S3 and Lambda: a burst of uploads is absorbed and fed to the function in batches (model
calls are batched per invocation), a failed object is retried without re-running its batch-mates
(``ReportBatchItemFailures``), and a poison message ends in the DLQ after ``max_receive_count`` tries.
The visibility timeout is at least six times the function timeout (AWS's guidance for SQS event sources),
so a message is never redelivered while a slow invocation still holds it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.vitrine_function import VitrineFunction
from infra.nag import accept

VISIBILITY_FACTOR = 6
MIN_RECEIVE_COUNT = 5


class S3PrefixQueue(Construct):
    """Feeds the events of ``events`` (default: created) under ``bucket/prefix`` to ``consumer`` through SQS."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        prefix: str,
        consumer: VitrineFunction,
        batch_size: int = 10,
        max_batching_window: Duration = Duration.seconds(5),
        max_receive_count: int = MIN_RECEIVE_COUNT,
        dlq_retention: Duration = Duration.days(14),
        max_concurrency: int = 20,
        events: tuple[s3.EventType, ...] = (s3.EventType.OBJECT_CREATED,),
    ) -> None:
        super().__init__(scope, construct_id)
        if max_receive_count < MIN_RECEIVE_COUNT:
            raise ValueError(
                f"max_receive_count must be >= {MIN_RECEIVE_COUNT} so a throttled batch is not lost"
            )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=dlq_retention,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(consumer.timeout.to_seconds() * VISIBILITY_FACTOR),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        accept(
            self.dead_letter_queue,
            "Serverless-SQSRedrivePolicy",
            "This is the dead-letter queue: its messages wait for an operator's redrive, not another queue.",
        )
        destination = notifications.SqsDestination(self.queue)
        for event in events:
            bucket.add_event_notification(event, destination, s3.NotificationKeyFilter(prefix=prefix))
        source = sources.SqsEventSource(
            self.queue,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        consumer.function.add_event_source(source)
        accept(
            consumer.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event sources fail over through the queue's redrive policy (the DLQ above); on-failure "
            "destinations exist only for stream sources.",
        )
