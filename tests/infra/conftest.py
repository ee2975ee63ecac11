"""The session fixtures: the whole CDK app synthesized as ``cdk synth`` would, without pip or Docker, once with the
default jobs (``cdk.json``) and once with every job."""

from __future__ import annotations

import pytest

from tests.infra.synthesis import ALL_JOBS, Synthesis, synthesize


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synth_all_jobs(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(tmp_path_factory.mktemp("cdk.out.all-jobs"), **ALL_JOBS)


@pytest.fixture(params=["default jobs", "all jobs"])
def any_synth(request: pytest.FixtureRequest) -> Synthesis:
    """Each of the two syntheses in turn, for the properties that hold whatever the jobs."""
    return request.getfixturevalue("synth" if request.param == "default jobs" else "synth_all_jobs")
