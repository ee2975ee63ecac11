"""Ingestion stack: products/ → SQS with DLQ → Lambda with partial batch responses; idempotency table; both
creations and removals of catalog objects reach the queue."""

from __future__ import annotations

import json

from tests.infra.synthesis import Synthesis, resources, vitrine_functions
from vitrine.config import env_name


def test_ingestion_every_queue_has_a_dlq_and_six_times_the_function_timeout(synth: Synthesis) -> None:
    template = synth.template("ingestion")
    queues = resources(template, "AWS::SQS::Queue")
    functions = vitrine_functions(template)
    mappings = resources(template, "AWS::Lambda::EventSourceMapping").values()
    fed = [queue_id for queue_id, queue in queues.items() if "RedrivePolicy" in queue["Properties"]]
    assert fed, "no queue with a redrive policy"
    for queue_id in fed:
        queue = queues[queue_id]["Properties"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
        assert queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues
        mapping = next(m for m in mappings if m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0] == queue_id)
        function = functions[mapping["Properties"]["FunctionName"]["Ref"]]
        assert queue["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_ingestion_products_prefix_notifies_the_queue_of_creations_and_removals(synth: Synthesis) -> None:
    (notifications,) = resources(synth.template("ingestion"), "Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    prefix = {"Key": {"FilterRules": [{"Name": "prefix", "Value": "products/"}]}}
    events = {event for c in configurations if c["Filter"] == prefix for event in c["Events"]}
    assert events == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert len({json.dumps(c["QueueArn"]) for c in configurations}) == 1


def test_ingestion_idempotency_table_keys_on_id_with_ttl(synth: Synthesis) -> None:
    template = synth.template("ingestion")
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    ingest = next(iter(vitrine_functions(template).values()))
    assert env_name("aws", "idempotency_table") in ingest["Properties"]["Environment"]["Variables"]


def _policy_statements(synth: Synthesis, stack: str, role_prefix: str) -> list[dict]:
    return [
        statement
        for logical_id, policy in resources(synth.template(stack), "AWS::IAM::Policy").items()
        if logical_id.startswith(role_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_ingestion_ingest_role_gets_exactly_the_idempotency_item_calls(synth: Synthesis) -> None:
    dynamodb = [
        statement
        for statement in _policy_statements(synth, "ingestion", "IngestRole")
        if "dynamodb" in json.dumps(statement["Action"])
    ]
    assert len(dynamodb) == 1
    assert sorted(dynamodb[0]["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert dynamodb[0]["Resource"]["Fn::GetAtt"][0].startswith("Idempotency")


def test_ingestion_backfill_worker_has_no_idempotency_table(synth: Synthesis) -> None:
    template = synth.template("backfill")
    worker = next(iter(vitrine_functions(template).values()))
    assert env_name("aws", "idempotency_table") not in worker["Properties"]["Environment"]["Variables"]
    assert "dynamodb" not in json.dumps(_policy_statements(synth, "backfill", "WorkerRole"))


def test_ingestion_describes_what_it_saves_only_with_the_descriptions_job(
    synth: Synthesis, synth_all_jobs: Synthesis
) -> None:
    """Without the job there is no BLIP-2 endpoint to call, so ingestion must not try; with it, ingestion and the
    catalog backfill call BLIP-2 and the writer model (checked in detail in test_lambda_roles)."""
    for synthesis, describes in ((synth, False), (synth_all_jobs, True)):
        for stack, role in (("ingestion", "IngestRole"), ("backfill", "WorkerRole")):
            function = next(iter(vitrine_functions(synthesis.template(stack)).values()))
            variables = function["Properties"]["Environment"]["Variables"]
            assert variables[env_name("descriptions", "at_ingest")] == ("true" if describes else "false")
            grants = json.dumps(_policy_statements(synthesis, stack, role))
            assert ("endpoint/vitrine-blip2-attributes" in grants) is describes, stack
            assert ("bedrock:InvokeModel" in grants) is describes, stack
