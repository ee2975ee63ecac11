"""Backfill stack: a Distributed Map over the catalog prefix, in batches, with a failure threshold."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.synthesis import Synthesis, resources


def _definition(synth: Synthesis) -> dict[str, Any]:
    machine = next(iter(resources(synth.template("backfill"), "AWS::StepFunctions::StateMachine").values()))
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    return json.loads(text)


def test_backfill_distributed_map_lists_the_prefix_batches_and_writes_results(synth: Synthesis) -> None:
    state = _definition(synth)["States"]["EachBatch"]
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert state["ItemReader"]["Resource"].endswith(":states:::s3:listObjectsV2")
    assert state["ItemReader"]["Parameters"]["Prefix"] == "products/"
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == 20
    assert "bucket" in state["ItemBatcher"]["BatchInput"]
    assert 0 < state["ToleratedFailurePercentage"] < 100
    assert state["ResultWriter"]["Parameters"]["Prefix"] == "backfill/"
    assert state["MaxConcurrency"] == 40


def test_backfill_state_machine_is_traced_and_logs_everything(synth: Synthesis) -> None:
    machine = next(iter(resources(synth.template("backfill"), "AWS::StepFunctions::StateMachine").values()))
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
