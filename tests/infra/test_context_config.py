"""Deployment context: command-line strings parsed like cdk.json values; bad values stop synth early."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.config import ContextError, load_config

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
