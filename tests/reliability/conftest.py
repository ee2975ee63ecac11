"""The reliability suite's own option (``--slow``) and its summary line, which ``make reliability`` prints last."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

SUMMARY = REPO / "test-artifacts" / "reliability.txt"
_AUDITS = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="reliability soak over 10,000 objects (default: RELIABILITY_OBJECTS, else 200)",
    )


@pytest.fixture
def audits(request: pytest.FixtureRequest) -> list:
    """Where a soak test leaves its audit for the summary line."""
    return request.config.stash.setdefault(_AUDITS, [])


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    found = config.stash.get(_AUDITS, [])
    if not found:
        return
    line = (
        f"objects={max(a.objects for a in found)} lost={sum(a.lost for a in found)} "
        f"duplicated={sum(a.duplicated for a in found)} inconsistent={sum(a.inconsistent for a in found)}"
    )
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(line + "\n")
    terminalreporter.write_line(line)
