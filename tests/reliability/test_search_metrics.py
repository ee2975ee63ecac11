"""The search route's metrics can be published by themselves, in the environment ``vitrine serve`` runs in
(metrics off, no metrics namespace set). Found by bench/search_load.py: about every 100th search was a 500.
With metrics off nothing is ever flushed, so the route's metric reached Powertools' limit of 100 values,
and Powertools then published it from the route's own ``Metrics`` instance, which had no namespace."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PUBLISH_250 = """
from aws_lambda_powertools.metrics import MetricUnit
from vitrine.api.routes.search import metrics
for _ in range(250):
    metrics.add_metric(name="Search_results", unit=MetricUnit.Count, value=1)
print("ok", metrics.namespace)
"""


def test_the_search_routes_metrics_publish_without_a_namespace_in_the_environment() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_METRICS")}
    run = subprocess.run(
        [sys.executable, "-c", PUBLISH_250],
        env={**env, "POWERTOOLS_METRICS_DISABLED": "true", "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "ok Vitrine"
