"""Schemathesis against the real local server's own ``/api/openapi.json``: requests generated from the spec,
valid ones and invalid ones, for every operation, with the operator token so the operator routes are
exercised past their 401. No answer may be a 5xx, and every answer must be a status the spec lists, with a
body matching the schema it documents for that status. Bounded: ``EXAMPLES`` per operation and mode.

The schema only exists once the server runs, so the operations are walked inside one test (schemathesis'
pytest loader needs it at collection time) and every failing operation is reported together.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.slow
def test_every_operation_keeps_to_its_spec(local_server, operator_token) -> None:
    schema = schemathesis.openapi.from_url(f"{local_server.url}api/openapi.json")
    base_url = f"{local_server.url}api"
    headers = {"Authorization": f"Bearer {operator_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4, "the spec lost its operations"
    failures = []
    for operation in operations:
        for mode in GenerationMode:

            @BOUNDED
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

            try:
                call()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as error:  # every check failure, with schemathesis' reproduction
                failures.append(f"{operation.label} ({mode.value}): {str(error)[:2000]}")
    assert not failures, "\n\n".join(failures)
    print(
        f"{len(operations)} operations x {len(GenerationMode)} modes x up to {EXAMPLES} examples: no failure"
    )
