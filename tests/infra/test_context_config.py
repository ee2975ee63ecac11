"""Deployment context: command-line strings parsed like cdk.json values; bad values stop synth early."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.config import DEFAULT_JOBS, JOBS, ContextError, InfraConfig, load_config

DIGEST = "ab" * 32


def test_context_cli_strings_are_parsed_as_json_values() -> None:
    app = App(
        context={
            "vitrine:region": "eu-central-1",
            "vitrine:jobs": '["search"]',
            "vitrine:deletionProtection": "false",
            "vitrine:instanceTypes": '{"llava": "ml.g6.2xlarge"}',
            "vitrine:artifactDigests": f'{{"dino_embed": "{DIGEST}"}}',
        }
    )
    config = load_config(app)
    assert config.jobs == ("search",)
    assert config.runs("search") and not config.runs("catalog")
    assert config.deletion_protection is False
    assert config.instance_type("llava") == "ml.g6.2xlarge"
    assert config.instance_type("dino_embed") == "ml.g5.xlarge"
    assert config.artifact_digests == {"dino_embed": DIGEST}
    assert config.artifact_uri("ranker", "fallback") == "s3://fallback/models/ranker/model.tar.gz"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("vitrine:tagger", "llm", "tagger"),
        ("vitrine:jobs", '["hotels-someday"]', "jobs"),
        ("vitrine:searchDataNodes", "3", "searchDataNodes"),
        ("vitrine:modelArtifacts", '{"llava": "/local/path"}', "modelArtifacts"),
        ("vitrine:artifactDigests", '{"llava": "not-a-sha"}', "artifactDigests"),
        # Removed: a deployer could make an endpoint asynchronous that the code calls synchronously.
        ("vitrine:asyncModels", '["ranker"]', "asyncModels was removed"),
    ],
)
def test_context_invalid_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ContextError, match=message):
        config = load_config(App(context={"vitrine:region": "eu-west-1", key: value}))
        config.artifact_uri("llava", "fallback")


def test_context_default_jobs_are_cdk_jsons_and_every_job_is_known() -> None:
    import json

    from tests.infra.synthesis import ROOT

    assert (
        InfraConfig().jobs
        == DEFAULT_JOBS
        == tuple(json.loads((ROOT / "cdk.json").read_text())["context"]["vitrine:jobs"])
    )
    assert set(JOBS) == {"search", "catalog", "hotels", "descriptions"}
    config = load_config(
        App(context={"vitrine:region": "eu-west-1", "vitrine:jobs": '["hotels", "descriptions"]'})
    )
    assert config.runs("hotels") and config.runs("descriptions") and not config.runs("catalog")


def test_context_descriptions_writer_falls_back_to_the_text_model_like_the_lambdas() -> None:
    from vitrine.config import AwsSettings, DescriptionSettings

    config = load_config(
        App(context={"vitrine:region": "eu-west-1", "vitrine:bedrockTextModelId": "text-model"})
    )
    assert config.writer_model_id() == "text-model"
    assert DescriptionSettings().writer_model(AwsSettings(bedrock_text_model_id="text-model")) == "text-model"
    config = load_config(
        App(context={"vitrine:region": "eu-west-1", "vitrine:descriptionsWriterModelId": "writer"})
    )
    assert config.writer_model_id() == "writer"
    assert config.bedrock_model_ids() == ()  # descriptions not deployed: no Claude call from the VPC
    tagging = load_config(
        App(
            context={
                "vitrine:region": "eu-west-1",
                "vitrine:tagger": "bedrock",
                "vitrine:jobs": '["catalog", "descriptions"]',
            }
        )
    )
    assert tagging.bedrock_model_ids() == ("anthropic.claude-3-haiku-20240307-v1:0",)  # one id, deduplicated
