"""The tagging contract (one parser for every tagger) and the data-driven filter rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitrine.catalog.domain import ImageTags
from vitrine.catalog.filtering import first_match, load_rules
from vitrine.catalog.tagging import TAG_PROMPT, parse_tags
from vitrine.errors import ConfigError

GOOD = {
    "has_model": True,
    "model_count": 1,
    "real_world_scene": True,
    "worn": True,
    "angle": "front",
    "whole_or_partial": "whole",
}


def test_answer_wrapped_in_prose_or_code_fences_parses() -> None:
    tags = parse_tags("Sure! ```json\n" + json.dumps(GOOD) + "\n```")
    assert tags.valid and tags.worn is True and tags.angle == "front" and tags.model_count == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I cannot see the image", "no JSON object"),
        ("{not json}", "not valid JSON"),
        (json.dumps({**GOOD, "angle": "diagonal"}), "angle 'diagonal'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "worn"}), "missing keys: worn"),
        (json.dumps({**GOOD, "model_count": "one"}), "model_count"),
        (json.dumps({**GOOD, "colour": "red"}), "unexpected keys: colour"),
    ],
)
def test_invalid_answers_give_unknown_tags_with_the_reason(answer: str, reason: str) -> None:
    tags = parse_tags(answer)
    assert not tags.valid and reason in tags.reason and tags.angle == "unknown"


def test_prompt_names_every_key_of_the_schema() -> None:
    assert all(f'"{key}"' in TAG_PROMPT for key in GOOD)


def test_default_rules_drop_soles_close_ups_and_crowds_but_keep_products() -> None:
    rules = load_rules()
    assert first_match(rules, parse_tags(json.dumps({**GOOD, "angle": "sole"}))).name == "sole"
    close_up = {**GOOD, "angle": "detail", "whole_or_partial": "partial"}
    assert first_match(rules, parse_tags(json.dumps(close_up))).name == "close-up"
    assert first_match(rules, parse_tags(json.dumps({**GOOD, "model_count": 5}))).name == "crowd"
    assert first_match(rules, parse_tags(json.dumps(GOOD))) is None
    assert first_match(rules, ImageTags(valid=False, reason="x", angle="sole")) is None


def test_rules_are_data_an_operator_can_change(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps({"rules": [{"name": "back", "when": {"angle": "back"}, "reason": "back views"}]})
    )
    assert (
        first_match(load_rules(path), parse_tags(json.dumps({**GOOD, "angle": "back"}))).reason
        == "back views"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read"),
        ('{"rules": [{"name": "x", "when": {"colour": "red"}, "reason": "r"}]}', "unknown fields"),
        (
            '{"rules": [{"name": "x", "when": {"model_count": {"between": 2}}, "reason": "r"}]}',
            "unknown operators",
        ),
    ],
)
def test_broken_rules_stop_start_up_naming_the_setting(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"VITRINE_FILTER_RULES.*{message}"):
        load_rules(path)
