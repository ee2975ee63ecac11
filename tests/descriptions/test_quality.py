"""The text check (every writer's text passes it before it is stored) and the schemas it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitrine.adapters.local.offline_writer import OfflineWriter
from vitrine.descriptions.quality import TextRules, text_problems
from vitrine.descriptions.schema import FALLBACK_SCHEMA, SCHEMA_DIR, load_schemas
from vitrine.errors import ConfigError

SCHEMAS = load_schemas()
TOPS = SCHEMAS.schemas["tops"]
GIVEN = {"colour": "navy", "sleeve_length": "long", "collar": "button-down"}
FACTS = {
    "name": "Oxford shirt",
    "brand": "Kestrel",
    "category": "shirt",
    "price": 39.5,
    "currency": "EUR",
    **GIVEN,
}
GOOD = "A navy Oxford shirt by Kestrel with long sleeves and a button-down collar, for 39.5 EUR."


def problems(text: str, facts: dict = FACTS, **rules) -> list[str]:
    return text_problems(text, given=GIVEN, facts=facts, schema=TOPS, rules=TextRules(**rules))


def test_a_grounded_text_passes() -> None:
    assert problems(GOOD) == []
    assert problems(GOOD.replace("39.5", "39,5")) == []  # a decimal comma is the same number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("long sleeves", "short sleeves"), "'short sleeve' (sleeve length 'short')"),
        (GOOD.replace("A navy", "A navy cotton"), "'cotton' (fabric 'cotton')"),
        (GOOD.replace("A navy", "A slim-fit navy"), "'slim fit' (fit 'slim')"),
        (GOOD.replace("navy", "red"), "'red' (colour 'red')"),
        (GOOD + " It has a crew neck.", "'crew neck' (neckline 'crew')"),
    ],
    ids=["other-sleeve-value", "not-visible-fabric", "other-fit", "other-colour", "not-given-neckline"],
)
def test_a_value_that_was_not_given_is_caught(text: str, expected: str) -> None:
    found = problems(text)

    assert (
        len(found) == 1 and "names attribute values that were not given" in found[0] and expected in found[0]
    )


def test_values_the_product_facts_state_may_be_repeated() -> None:
    facts = {**FACTS, "name": "Striped cotton Oxford shirt"}

    assert problems(GOOD.replace("A navy Oxford", "A navy striped cotton Oxford"), facts) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("A navy shirt.", "at least 40 are needed"),
        (GOOD * 30, "at most 1200 are allowed"),
        ("**Oxford shirt**\n" + GOOD, "markdown"),
        ("Here is the description: " + GOOD, "preamble"),
        (GOOD.replace("39.5", "29.5"), "numbers that are not in the facts: 29.5"),
        (GOOD + " Only 2 left!", "numbers that are not in the facts: 2"),
        (
            GOOD + " It is eco-friendly and hypoallergenic.",
            "claims that are not allowed: eco friendly, hypoallergenic",
        ),
        (
            "Ein dunkelblaues Hemd von Kestrel mit langen Ärmeln und einem Kragen, für 39.5 EUR, aus dem Laden.",
            "not in English",
        ),
    ],
)
def test_each_rule_is_reported_with_a_reason(text: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(text)), problems(text)


def test_banned_claims_and_language_are_configurable() -> None:
    assert problems(GOOD, banned_claims=("oxford",)) == ["the text makes claims that are not allowed: oxford"]
    german = (
        "Ein dunkelblaues Hemd von Kestrel mit langen Ärmeln und einem Kragen, für 39.5 EUR, aus dem Laden."
    )
    assert not any(
        "language" in p or "English" in p or "German" in p for p in problems(german, language="de")
    )


def test_the_offline_writers_text_passes_the_same_check() -> None:
    written = OfflineWriter().write("", FACTS)

    assert problems(written.text) == [], written.text


def test_schemas_cover_the_published_top_attributes_and_each_category() -> None:
    assert [a.name for a in TOPS.attributes] == [
        "fabric",
        "fit",
        "collar",
        "pattern",
        "neck",
        "sleeve_length",
        "sleeve_styling",
        "colour",
    ]
    assert TOPS.attribute("sleeve_length").question == "What is the sleeve length of the shirt?"
    for category, schema in [("shirt", "tops"), ("Pants", "pants"), ("shoes", "shoes"), ("hat", "hats")]:
        assert SCHEMAS.for_category(category).schema_name == schema
    assert SCHEMAS.for_category("umbrella").schema_name == FALLBACK_SCHEMA
    assert all(
        not a.not_visible for s in SCHEMAS.schemas.values() for a in s.attributes if a.name == "colour"
    )


def test_a_bad_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    broken = json.loads((tmp_path / "hats.json").read_text())
    broken["attributes"][0]["values"].append({"value": "beanie hat", "synonyms": ["beanie"]})
    (tmp_path / "hats.json").write_text(json.dumps(broken))

    with pytest.raises(ConfigError, match=r"hats.json: .*'beanie' names both"):
        load_schemas(tmp_path)
