"""The README is the operator's reference: it must document every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from vitrine.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    names = ["PORT" if name == "port" else f"VITRINE_{name.upper()}" for name in Settings.model_fields]
    assert [n for n in names if f"`{n}`" not in README] == []


def test_the_two_commands_come_first() -> None:
    head = README.splitlines()[:8]
    assert any("make run" in line for line in head) and any("make test" in line for line in head)
