"""Ingestion soak under faults at set rates (5% of the calls to the bucket, the database, the index and the
model endpoints fail): every object ends indexed, rejected with a reason or saved, none is written again
once final though every event arrives three times, and a process killed mid-batch then rerun leaves the
catalog's indexed ids equal to the index's ids. ``make test`` runs 200 objects; ``make reliability`` 2,000
(RELIABILITY_OBJECTS), ``--slow`` 10,000."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.reliability.soak import COPIES, World, audit, objects_wanted

pytestmark = pytest.mark.xdist_group("reliability")


@pytest.fixture
def n(request: pytest.FixtureRequest) -> int:
    return objects_wanted(slow=bool(request.config.getoption("--slow", default=False)))


def _report(audits: list, name: str, result, deliveries: int) -> None:
    audits.append(result)
    print(f"{name}: {result.line()} (deliveries={deliveries})")
    assert not result.problems, "\n".join(result.problems[:30])
    assert (result.lost, result.duplicated, result.inconsistent) == (0, 0, 0)


def test_every_object_delivered_three_times_under_faults_ends_once(tmp_path: Path, n: int, audits) -> None:
    world = World(tmp_path, n)
    events = world.stage()
    run = world.open()

    delivered = world.deliver(run, events, copies=COPIES)

    injected = (
        run.counters["db"]["dropped"],
        run.counters["store"].raised,
        run.counters["index"].raised,
        sum(run.counters["models"].values()),
    )
    assert all(injected), f"every kind of fault must have been injected at least once: {injected}"
    if n >= 1000:  # a small world makes few (batched) model calls: not every kind comes up
        assert set(run.counters["models"]) == {"timeout", "throttling", "model_500"}
    assert {o.status for o in delivered.outcomes.values()} <= {"indexed", "rejected", "product", "skipped"}
    assert delivered.deliveries > COPIES * n, "faults must have caused redeliveries"
    _report(audits, "three deliveries under faults", audit(world, delivered), delivered.deliveries)


def test_process_killed_mid_batch_then_rerun_is_complete_and_consistent(
    tmp_path: Path, n: int, audits
) -> None:
    world = World(tmp_path, n, seed=1)
    world.stage()
    kill_after = max(2, n // 5)  # the n/5-th indexed photo's ledger write: well inside some batch
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.reliability.soak",
            "crash",
            str(tmp_path),
            str(n),
            "1",
            str(kill_after),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert crashed.returncode == 17, crashed.stderr[-3000:]

    run = world.open()  # the restart: reconcile, then the same events again, faults still on
    delivered = world.deliver(run, world.events(), copies=1)

    _report(audits, "killed mid-batch, rerun", audit(world, delivered), delivered.deliveries)
