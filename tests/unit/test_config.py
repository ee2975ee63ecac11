"""Settings: a missing or invalid setting stops start-up with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vitrine.config import load_settings
from vitrine.errors import ConfigError


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"profile": "prod"}, "invalid setting VITRINE_PROFILE: Input should be 'local' or 'cloud'"),
        ({"search": {"box_threshold": 3}}, "invalid setting VITRINE_SEARCH_BOX_THRESHOLD"),
        ({"profile": "cloud"}, "VITRINE_AWS_BUCKET is required when VITRINE_PROFILE=cloud"),
        ({"profile": "cloud", "aws": {"bucket": "b"}}, "VITRINE_AWS_OPENSEARCH_ENDPOINT is required"),
        (
            {"profile": "cloud", "aws": {"bucket": "b", "opensearch_endpoint": "https://x"}},
            "VITRINE_AWS_DB_SECRET_ARN",
        ),
    ],
)
def test_invalid_settings_name_the_setting_in_one_line(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert message in caught.value.message and "\n" not in caught.value.message


def test_defaults_are_the_embedded_local_profile() -> None:
    s = load_settings()
    assert (s.profile, s.models.model_profile, s.search.detect_prompt) == (
        "local",
        "tiny",
        "clothes . pants . hats . shoes",
    )
    assert (s.search.box_threshold, s.search.text_threshold) == (0.3, 0.25)
    assert s.models.endpoint_name("grounding_dino") == "vitrine-grounding-dino"


def test_settings_groups_read_their_own_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITRINE_SEARCH_BOX_THRESHOLD", "0.4")
    monkeypatch.setenv("VITRINE_AWS_BUCKET", "shop-catalog")
    monkeypatch.setenv("VITRINE_LLAVA_DIR", "/weights/llava")
    s = load_settings()
    assert (s.search.box_threshold, s.aws.bucket, s.models.model_dir("llava")) == (
        0.4,
        "shop-catalog",
        "/weights/llava",
    )


def test_environment_derives_names_and_refuses_unknown_settings() -> None:
    from vitrine.config import all_env_names, environment

    env = environment({"profile": "cloud"}, aws={"bucket": "b"}, ingest={"tagger": "bedrock"})
    assert env == {"VITRINE_PROFILE": "cloud", "VITRINE_AWS_BUCKET": "b", "VITRINE_INGEST_TAGGER": "bedrock"}
    assert set(env) <= all_env_names()
    with pytest.raises(KeyError):
        environment(aws={"buckett": "b"})


def test_cli_refuses_to_start_with_a_bad_setting(tmp_path) -> None:
    env = {**os.environ, "VITRINE_PROFILE": "staging", "VITRINE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "vitrine_dev.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "vitrine: invalid setting VITRINE_PROFILE: Input should be 'local' or 'cloud'"
    ]


def test_local_profile_with_real_models_needs_their_folders(tmp_path) -> None:
    from vitrine.wiring import build_services

    with pytest.raises(ConfigError, match="VITRINE_GROUNDING_DINO_DIR"):
        build_services(load_settings(models={"model_profile": "local"}, home=tmp_path))


def test_local_profile_with_real_weights_folders_wires_and_says_so(local_home, tmp_path) -> None:
    import shutil

    from vitrine.config import MODEL_NAMES
    from vitrine.wiring import build_services

    dirs = {}
    for model in MODEL_NAMES:  # weights that are not marked tiny: what a user's real folders look like
        folder = shutil.copytree(local_home / "models" / model, tmp_path / "weights" / model)
        (folder / "VITRINE_TINY_MODEL").unlink()
        dirs[f"{model}_dir"] = str(folder)
    services = build_services(
        load_settings(models={"model_profile": "local", **dirs}, home=tmp_path / "home")
    )
    assert services.tiny_models is False
    assert services.adapters["models"] == "in-process model_code (local)"
