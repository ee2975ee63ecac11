"""The README is the operator's reference: it must document every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from vitrine.config import all_env_names
from vitrine_dev.settings_doc import BEGIN, END, settings_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_settings_table_is_the_one_generated_from_the_settings() -> None:
    documented = README[README.index(BEGIN) : README.index(END) + len(END)]
    assert documented == settings_table()
    assert all(f"`{name}`" in documented for name in all_env_names())


def test_the_two_commands_come_first() -> None:
    head = README.splitlines()[:8]
    assert any("make run" in line for line in head) and any("make test" in line for line in head)
