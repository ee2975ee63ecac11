"""The normaliser on answers as BLIP-2 gives them: labelled, plural, free text, unsure; and never raising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitrine.descriptions.normalise import MAX_ANSWER_CHARS, normalise
from vitrine.descriptions.schema import NOT_VISIBLE, UNKNOWN, load_schemas

TOPS = load_schemas().schemas["tops"]
SLEEVE = TOPS.attribute("sleeve_length")


@pytest.mark.parametrize(
    ("answer", "value", "confidence"),
    [
        ("Sleeve Length: Long", "long", 1.0),
        ("long sleeves", "long", 1.0),
        ("Long-sleeved", "long", 1.0),
        ("Answer: short", "short", 1.0),
        ("  SHORT SLEEVE.  ", "short", 1.0),
        ("3/4", "three-quarter", 1.0),
        ("none", "sleeveless", 1.0),
        ("the shirt has long sleeves", "long", 0.66),
    ],
)
def test_sleeve_answers_become_allowed_values(answer: str, value: str, confidence: float) -> None:
    reading = normalise(SLEEVE, answer)

    assert (reading.value, reading.confidence, reading.raw) == (value, confidence, answer.strip())
    assert reading.stated


@pytest.mark.parametrize(
    "answer",
    [
        "not visible",
        "Not Visible.",
        "i can't tell",
        "unknown",
        "hard to tell from the photo",
        "",
        "   ",
        None,
    ],
)
def test_unsure_answers_are_not_visible_with_the_raw_answer_kept(answer) -> None:
    reading = normalise(SLEEVE, answer)

    assert (reading.value, reading.confidence, reading.stated) == (NOT_VISIBLE, 0.0, False)
    assert reading.raw == (answer or "").strip()


@pytest.mark.parametrize(
    "answer",
    ["long and short", "sleeves sleeves sleeves", "a shirt", "purple elephant", "it is not long"],
    ids=["two-values", "no-value", "noun-only", "nonsense", "negated"],
)
def test_free_text_without_exactly_one_value_is_not_visible(answer: str) -> None:
    assert normalise(SLEEVE, answer).value == NOT_VISIBLE


@pytest.mark.parametrize(
    ("attribute", "answer", "value"),
    [
        ("colour", "navy blue", "navy"),
        ("colour", "Colour: Gray", "grey"),
        ("colour", "it is a dark blue shirt", "navy"),
        ("pattern", "Pattern: Striped", "striped"),
        ("pattern", "plaid", "checked"),
        ("collar", "button down collar", "button-down"),
        ("collar", "it has no collar", "no collar"),
        ("fabric", "brushed cotton", "flannel"),
        ("fabric", "not cotton, it is linen", "linen"),
        ("neck", "V-Neck", "v-neck"),
        ("fit", "slim fit", "slim"),
    ],
)
def test_other_attributes_read_synonyms_longest_match_first(attribute: str, answer: str, value: str) -> None:
    assert normalise(TOPS.attribute(attribute), answer).value == value


def test_an_attribute_that_may_not_be_not_visible_says_unknown() -> None:
    colour = TOPS.attribute("colour")

    assert colour.not_visible is False
    assert normalise(colour, "not visible").value == UNKNOWN
    assert normalise(colour, "a lovely shade").value == UNKNOWN


def test_a_long_answer_is_kept_cut() -> None:
    reading = normalise(SLEEVE, "long " + "x" * 5000)

    assert len(reading.raw) == MAX_ANSWER_CHARS and reading.value == "long"


ANY_ANSWER = st.one_of(
    st.text(max_size=400),
    st.text(alphabet=st.characters(categories=("L", "N", "P", "Z", "S", "M", "C")), max_size=100),
    st.lists(
        st.sampled_from(["long", "short", "sleeve", "not", "visible", ":", "answer", "-", "3/4", "none"])
    ).map(" ".join),
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=50),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    answer=ANY_ANSWER,
    attribute=st.sampled_from([a for s in load_schemas().schemas.values() for a in s.attributes]),
)
def test_normalise_never_raises_and_always_answers_an_allowed_value(answer, attribute) -> None:
    reading = normalise(attribute, answer)

    assert reading.value in (*attribute.allowed, attribute.fallback)
    assert 0.0 <= reading.confidence <= 1.0
    assert isinstance(reading.raw, str) and len(reading.raw) <= MAX_ANSWER_CHARS
    assert reading.stated == (reading.value in attribute.allowed)
