"""Deployment context: command-line strings parsed like cdk.json values; bad values stop synth early."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.config import ContextError, load_config


def test_context_cli_strings_are_parsed_as_json_values() -> None:
    app = App(
        context={
            "vitrine:region": "eu-central-1",
            "vitrine:asyncModels": '["ranker"]',
            "vitrine:deletionProtection": "false",
            "vitrine:instanceTypes": '{"llava": "ml.g6.2xlarge"}',
        }
    )
    config = load_config(app)
    assert config.async_models == ("ranker",)
    assert config.deletion_protection is False
    assert config.instance_type("llava") == "ml.g6.2xlarge"
    assert config.instance_type("dino_embed") == "ml.g5.xlarge"
    assert config.artifact_uri("ranker", "fallback") == "s3://fallback/models/ranker/model.tar.gz"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("vitrine:tagger", "llm", "tagger"),
        ("vitrine:asyncModels", '["gpt"]', "asyncModels"),
        ("vitrine:searchDataNodes", "3", "searchDataNodes"),
        ("vitrine:modelArtifacts", '{"llava": "/local/path"}', "modelArtifacts"),
    ],
)
def test_context_invalid_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ContextError, match=message):
        config = load_config(App(context={"vitrine:region": "eu-west-1", key: value}))
        config.artifact_uri("llava", "fallback")
