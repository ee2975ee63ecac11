"""The label parser: real-looking VLM answers map to exactly one label of the set; anything maps to one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitrine.errors import ConfigError
from vitrine.hotels.labels import DEFAULT_LABELS, LabelSet, load_labels

LABELS = load_labels()


def test_the_default_set_is_the_published_26_labels_with_other_as_fallback() -> None:
    assert len(LABELS.labels) == 26
    assert LABELS.fallback == "Other" and "Other" in LABELS.labels
    assert LABELS.never_cover == {
        "Food and Dining",
        "Transportation",
        "Staircase/Elevator",
        "Other",
        "Fitness Facility",
        "Laundry Room",
        "Parking",
    }


def test_the_prompt_is_the_published_fill_in_the_blank_question_over_the_set() -> None:
    assert LABELS.prompt.startswith(
        "Fill in the blank: this is a photo of a {}, you should select the appropriate categories from the "
        "provided labels: [Hallway, Sauna, Surrounding environment and attractions, "
    )
    assert LABELS.prompt.endswith("Entertainment facility, Other]")


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        (" this is a photo of Terrace/Patio.", "Terrace/Patio"),
        ("Food and Dining", "Food and Dining"),
        ("this is a photo of a pool", "Pool"),
        ("Room.", "Room"),
        ("ROOM", "Room"),
        ("this is a photo of a Laundry Room.", "Laundry Room"),  # the longer label, not the Room inside it
        ("Food & Dining", "Food and Dining"),
        ("this is a photo of the hot spring", "Hot springs"),  # singular, article
        ("staircase / elevator", "Staircase/Elevator"),
        ("this is a photo of a gym", "Fitness Facility"),  # a synonym
        ("a meeting room", "Business Center"),  # a synonym that contains a label
        ("Other", "Other"),
    ],
)
def test_clean_answers_name_their_label_with_full_agreement(answer: str, label: str) -> None:
    parse = LABELS.parse(answer)
    assert (parse.label, parse.agreement, parse.matched) == (label, 1.0, True)


def test_two_labels_named_take_the_first_with_half_the_agreement() -> None:
    parse = LABELS.parse("hot springs and spa")
    assert (parse.label, parse.agreement, parse.matched) == ("Hot springs", 0.5, True)


def test_trailing_text_after_the_label_is_read_but_the_label_comes_first() -> None:
    parse = LABELS.parse(
        "this is a photo of a Lobby. The reception desk is on the left, with a bar in the background"
    )
    assert parse.label == "Lobby" and parse.matched
    assert parse.agreement == 0.5  # it also names Bar ("reception" is the Lobby again)


@pytest.mark.parametrize(
    "answer",
    [
        "I cannot tell what this is.",
        "",
        "   ",
        "this is a photo of a",
        "roomy",  # whole words only: not Room
        "spaghetti",  # not Spa
    ],
)
def test_answers_naming_no_label_fall_back_to_other_unmatched(answer: str) -> None:
    parse = LABELS.parse(answer)
    assert (parse.label, parse.agreement, parse.matched) == ("Other", 0.0, False)


def test_an_echo_of_the_label_list_is_not_an_answer() -> None:
    parse = LABELS.parse(LABELS.prompt)
    assert (parse.label, parse.matched) == ("Other", False)


def test_confidence_is_the_answer_probability_times_the_agreement() -> None:
    assert LABELS.parse("Pool").confidence(None) == 1.0
    assert LABELS.parse("Pool").confidence(0.8) == 0.8
    assert LABELS.parse("hot springs and spa").confidence(0.8) == 0.4
    assert LABELS.parse("no idea").confidence(0.99) == 0.0


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_any_text_parses_to_a_label_of_the_set_without_raising(answer: str) -> None:
    parse = LABELS.parse(answer)
    assert parse.label in LABELS.labels
    assert 0.0 <= parse.agreement <= 1.0
    assert parse.matched == (parse.agreement > 0)


WORDS = st.sampled_from(
    [*LABELS.labels, "this is a photo of", "a", "the", ".", "/", "&", "and", "spa", "pool"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=12).map(" ".join))
def test_any_mix_of_label_words_parses_to_a_label_of_the_set(answer: str) -> None:
    assert LABELS.parse(answer).label in LABELS.labels


def test_operators_can_replace_the_label_set(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(
        json.dumps(
            {"labels": ["Bedroom", "Pool", "Misc"], "fallback": "Misc", "synonyms": {"bed": "Bedroom"}}
        )
    )
    labels = load_labels(path)
    assert labels.parse("a big bed").label == "Bedroom"
    assert labels.parse("lobby").label == "Misc"
    assert labels.never_cover == frozenset()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fallback": "Nothing"}, "fallback 'Nothing' is not a label"),
        ({"synonyms": {"gym": "Gymnasium"}}, "not a label"),
        ({"never_cover": ["Kitchen"]}, "never_cover names unknown labels"),
        ({"labels": ["Room", "room.", "Other"]}, "read the same"),
    ],
)
def test_a_broken_label_file_stops_start_up_naming_the_problem(
    tmp_path: Path, change: dict, message: str
) -> None:
    raw = {**json.loads(DEFAULT_LABELS.read_text()), **change}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=message):
        load_labels(path)


def test_an_unreadable_label_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VITRINE_HOTELS_LABELS"):
        load_labels(tmp_path / "missing.json")


def test_a_label_set_needs_labels() -> None:
    with pytest.raises(ConfigError, match="no labels"):
        LabelSet([], fallback="Other")
