"""Search by words in the cloud (``vitrine:textSearch``): with it, one real-time clip_embed endpoint that exactly
the API's shopper function, ingestion and its backfill may invoke, those three functions configured for the text
field, the index mapping they create carrying both ``knn_vector`` fields, and cdk-nag clean; without it, nothing
of it is deployed (a GPU endpoint is asked for by name)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from infra.config import ContextError, load_config
from infra.discovery import text_index_mapping
from infra.platform import build_platform
from tests.infra.synthesis import Synthesis, app_context, resources, synthesize, vitrine_functions
from vitrine.config import all_env_names, env_name, load_settings

TEXT_SEARCH = {"vitrine:textSearch": "true"}
CALLERS = {"vitrine-api", "vitrine-ingest", "vitrine-backfill"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(tmp_path_factory.mktemp("cdk.out.text-search"), **TEXT_SEARCH)


def _functions(synth: Synthesis) -> dict[str, dict[str, Any]]:
    """Service name → function properties, over the stacks that hold Vitrine functions by default."""
    found = {}
    for stack in ("api", "ingestion", "backfill"):
        for function in vitrine_functions(synth.template(stack)).values():
            variables = function["Properties"]["Environment"]["Variables"]
            found[variables["POWERTOOLS_SERVICE_NAME"]] = {**function["Properties"], "stack": stack}
    return found


def _invoked(synth: Synthesis, stack: str, function: dict[str, Any]) -> set[str]:
    role = function["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources(synth.template(stack), "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in json.dumps(s["Action"])]
    return set(re.findall(r"endpoint/([a-z0-9-]+)", json.dumps([s["Resource"] for s in invoke])))


def test_text_search_deploys_one_real_time_clip_embed_endpoint(synth: Synthesis) -> None:
    template = synth.template("models")
    endpoints = {
        e["Properties"]["EndpointName"] for e in resources(template, "AWS::SageMaker::Endpoint").values()
    }
    assert "vitrine-clip-embed" in endpoints
    configs = resources(template, "AWS::SageMaker::EndpointConfig").values()
    clip = [c for c in configs if "ClipEmbed" in json.dumps(c["Properties"]["ProductionVariants"])]
    assert clip and all("AsyncInferenceConfig" not in c["Properties"] for c in clip)
    models = resources(template, "AWS::SageMaker::Model").values()
    served = [m for m in models if "/models/clip_embed/" in json.dumps(m["Properties"]["PrimaryContainer"])]
    assert len(served) == 1
    container = served[0]["Properties"]["PrimaryContainer"]
    assert "pytorch-inference" in json.dumps(container["Image"])
    assert served[0]["Properties"]["EnableNetworkIsolation"] is True


def test_text_search_only_the_api_ingestion_and_backfill_may_invoke_it(synth: Synthesis) -> None:
    functions = _functions(synth)
    for service, function in functions.items():
        invoked = _invoked(synth, function["stack"], function)
        assert ("vitrine-clip-embed" in invoked) == (service in CALLERS), service
    assert _invoked(synth, "api", functions["vitrine-api"]) == {
        "vitrine-grounding-dino",
        "vitrine-dino-embed",
        "vitrine-clip-embed",
    }


def test_text_search_callers_are_configured_for_the_text_field(synth: Synthesis) -> None:
    on, dim = env_name("discovery", "text_search"), env_name("discovery", "text_dim")
    for service, function in _functions(synth).items():
        variables = function["Environment"]["Variables"]
        assert {v for v in variables if v.startswith("VITRINE_")} <= all_env_names()
        if service in CALLERS:
            assert (variables[on], variables[dim]) == ("true", "768"), service
        else:
            assert on not in variables, service


def test_text_search_the_lambdas_settings_create_the_two_field_mapping(
    synth: Synthesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vitrine.adapters.aws.opensearch_index import index_body

    variables = _functions(synth)["vitrine-ingest"]["Environment"]["Variables"]
    for name, value in variables.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    for name in ("VITRINE_AWS_BUCKET", "VITRINE_AWS_OPENSEARCH_ENDPOINT", "VITRINE_AWS_DB_SECRET_ARN"):
        monkeypatch.setenv(name, "resolved-at-deploy")  # CloudFormation references in the template
    settings = load_settings()
    assert settings.discovery.enabled(settings.profile)
    body = index_body(settings.search.embedding_dim, settings.discovery.text_dim)
    assert body == text_index_mapping(synth.platform.config)
    properties = body["mappings"]["properties"]
    assert (properties["vector"]["dimension"], properties["text_vector"]["dimension"]) == (384, 768)
    assert properties["text_vector"]["method"]["engine"] == "faiss" and properties["price"] == {
        "type": "float"
    }


def test_text_search_synth_is_cdk_nag_clean(synth: Synthesis) -> None:
    assert synth.error is None, synth.error
    assert synth.violations() == []


def test_without_text_search_nothing_of_it_is_deployed() -> None:
    platform = build_platform(App(context=app_context()))
    assert "clip_embed" not in platform.models.endpoints and platform.text_search is None


def test_text_search_needs_the_search_job() -> None:
    with pytest.raises(ContextError, match="textSearch needs the search job"):
        load_config(
            App(context={"vitrine:region": "eu-west-1", "vitrine:jobs": '["catalog"]', **TEXT_SEARCH})
        )
    config = load_config(
        App(context={"vitrine:region": "eu-west-1", **TEXT_SEARCH, "vitrine:textEmbeddingDim": "512"})
    )
    assert config.text_search is True and config.text_embedding_dim == 512


def test_the_clip_embed_handler_ships_like_every_model() -> None:
    """Its requirements pin the container's transformers range (the same line as every other model's)."""
    root = Path(__file__).resolve().parents[2] / "model_code"
    pins = {
        line
        for model in ("dino_embed", "clip_embed")
        for line in (root / model / "requirements.txt").read_text().splitlines()
        if line.startswith("transformers")
    }
    assert len(pins) == 1
