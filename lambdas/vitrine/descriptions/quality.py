"""The check every written description passes before it is stored, whichever writer wrote it.

:func:`text_problems` lists what is wrong with a text, each as a sentence an operator (or the writer, asked
again) can act on; an empty list means the text may be stored. The checks are the ones that can be stated
exactly:

* length: at least ``min_chars`` and at most ``max_chars`` characters, no markdown, no preamble;
* language: the text reads as the configured language (function-word counts, for the languages listed in
  :data:`FUNCTION_WORDS`; any other language is not checked);
* grounding: no value of the product's attribute schema that was not given (the photo said ``long`` sleeves:
  ``"short-sleeved"`` is caught; the fabric was not visible: ``"cotton"`` is caught) unless the product's own
  facts say it (a name like "Striped blue cotton shirt" may be repeated); no number the facts do not have;
* claims: none of the banned claims (configurable: "eco-friendly", "hypoallergenic"...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vitrine.descriptions.schema import AttributeSchema, Words, find_phrases, phrase_table, prose_table, words
from vitrine.errors import Unavailable

DEFAULT_BANNED_CLAIMS = (
    "eco-friendly",
    "environmentally friendly",
    "sustainable",
    "sustainably made",
    "organic",
    "recycled",
    "hypoallergenic",
    "antibacterial",
    "waterproof",
    "water-resistant",
    "wrinkle-free",
    "guaranteed",
    "guarantee",
    "best-selling",
    "bestseller",
    "award-winning",
    "clinically proven",
    "ethically made",
    "fair trade",
    "handmade",
    "made in",
)
"""Claims a photo cannot support (origin, ethics, performance, health, sales rank)."""

_FUNCTION_WORDS = {
    "en": "the a an and with of in for is this to it its on that your you from or by at as",
    "de": "der die das und mit ein eine ist für aus im zu den dem sie es auf von nicht ihr",
    "fr": "le la les et avec un une est pour de des du au ce cette vous sur à en son",
    "es": "el la los las y con un una es para de del en por este esta su que al",
    "it": "il lo la gli le e con un una è per di del in questo questa che da al",
    "nl": "de het een en met is voor van in dit deze op je uw niet te",
}
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(text.split()) for code, text in _FUNCTION_WORDS.items()
}
"""Frequent short words of each language the check knows: a text in language X uses many of X's."""
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
}
MIN_WORDS_FOR_LANGUAGE = 6
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_PREAMBLE = re.compile(r"^\s*(here is|here's|sure[,!]|certainly[,!]|description:|title:)", re.IGNORECASE)


class UnfinishedText(Unavailable):
    """The writer stopped before the end (its token limit, a content filter): the text is not usable as it
    is, and writing it again may succeed. A subclass of Unavailable, so a caller that does not know it
    still retries."""


@dataclass(frozen=True)
class TextRules:
    """What a stored description must be (``DescriptionSettings`` fills these in)."""

    language: str = "en"
    min_chars: int = 40
    max_chars: int = 1200
    banned_claims: tuple[str, ...] = DEFAULT_BANNED_CLAIMS

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, self.language)


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", ".")) for n in _NUMBER.findall(text)}


def _contains(haystack: Words, needle: Words) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def language_problem(text: str, language: str) -> str:
    """Why ``text`` does not read as ``language``, or '' (also for a language without a word list)."""
    expected = FUNCTION_WORDS.get(language)
    tokens = re.findall(r"[^\W\d_]+", text.casefold())
    if expected is None or len(tokens) < MIN_WORDS_FOR_LANGUAGE:
        return ""
    hits = {code: sum(token in table for token in tokens) for code, table in FUNCTION_WORDS.items()}
    best = max(hits, key=lambda code: hits[code])
    if hits[language] == 0 or (best != language and hits[best] >= max(3, 2 * hits[language])):
        name = LANGUAGE_NAMES.get(best, best)
        return f"the text is not in {LANGUAGE_NAMES.get(language, language)} (it reads as {name})"
    return ""


def text_problems(
    text: str,
    *,
    given: Mapping[str, str],
    facts: Mapping[str, Any],
    schema: AttributeSchema,
    rules: TextRules,
) -> list[str]:
    """Everything wrong with ``text``; [] when it may be stored.

    ``given``: the attributes the writer was given (name → value); ``facts``: the product's own facts it was
    given (name, brand, category, price...); ``schema``: the product's attribute schema, whose other values
    the text must not name.
    """
    problems: list[str] = []
    stripped = text.strip()
    if not stripped:
        return ["the text is empty"]
    if len(stripped) < rules.min_chars:
        problems.append(f"the text is {len(stripped)} characters; at least {rules.min_chars} are needed")
    if len(stripped) > rules.max_chars:
        problems.append(f"the text is {len(stripped)} characters; at most {rules.max_chars} are allowed")
    if "**" in stripped or stripped.startswith("#") or "\n#" in stripped or _PREAMBLE.match(stripped):
        problems.append("the text has a title, a preamble or markdown: write the description only")
    language = language_problem(stripped, rules.language)
    if language:
        problems.append(language)
    problems += _grounding_problems(stripped, given, facts, schema)
    text_words = words(stripped)
    claims = [
        " ".join(text_words[m.start : m.end]) for m in find_phrases(text_words, _banned(rules.banned_claims))
    ]
    if claims:
        problems.append(f"the text makes claims that are not allowed: {', '.join(dict.fromkeys(claims))}")
    return problems


@lru_cache(maxsize=8)
def _banned(claims: tuple[str, ...]) -> dict[Words, frozenset[tuple[str, str]]]:
    return phrase_table((claim, "claim", claim) for claim in claims)


def _grounding_problems(
    text: str, given: Mapping[str, str], facts: Mapping[str, Any], schema: AttributeSchema
) -> list[str]:
    fact_text = json.dumps(dict(facts), ensure_ascii=False, default=str)
    fact_words = words(fact_text)
    given_phrases = [
        phrase
        for attribute in schema.attributes
        if attribute.name in given
        for spec in attribute.values
        if spec.value == given[attribute.name]
        for phrase in (*spec.answer_phrases(), *spec.prose_phrases())
    ]
    problems = []
    text_words = words(text)
    named: list[str] = []
    for match in find_phrases(text_words, prose_table(schema.attributes)):
        if any(given.get(attribute) == value for attribute, value in match.names):
            continue
        phrase = text_words[match.start : match.end]
        if _contains(fact_words, phrase):
            continue
        labels = sorted(f"{schema.attribute(a).label.lower()} {v!r}" for a, v in match.names)
        named.append(f"{' '.join(phrase)!r} ({' or '.join(labels)})")
    if named:
        problems.append(
            f"the text names attribute values that were not given: {', '.join(dict.fromkeys(named))}"
        )
    known = _numbers(fact_text) | _numbers(json.dumps(dict(given))) | _numbers(" ".join(given_phrases))
    invented = sorted(n for n in _numbers(text) if not any(abs(n - k) < 1e-9 for k in known))
    if invented:
        shown = ", ".join(f"{n:g}" for n in invented)
        problems.append(f"the text has numbers that are not in the facts: {shown}")
    return problems


def feedback(problems: Sequence[str]) -> str:
    """The instructions' addendum when a text is written again: what was wrong with the last one."""
    return (
        "Your previous text was refused: " + "; ".join(problems) + ". Write it again without these problems."
    )
