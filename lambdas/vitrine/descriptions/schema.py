"""Attribute schemas per category, as data (``schemas/*.json``), and the word matching every reader of them uses.

A schema names the categories it covers, and for each attribute: the question the attribute model is asked
(the handler wraps it as ``Question: What is the sleeve length of the shirt? Answer:``), the allowed values,
and whether ``not visible`` is an allowed answer (a product photo always shows a colour; it may hide the
fabric). Each value has:

* ``synonyms``: other words for it, in answers and in written text alike (``"long sleeves"`` is long);
* ``answers``: words that mean it only as a short answer to its own question (``"none"`` to the sleeve
  question is sleeveless; ``"none"`` in a description means nothing);
* ``mentions``: the phrases that name it in prose, when its bare name is too common a word to police
  (sleeve length ``long`` is named by ``"long sleeves"``, not by ``"long-lasting"``). Default: the value
  and its synonyms.

Text is compared as words (:func:`words`): case, punctuation, hyphens and a plural ``s`` do not matter, and
a phrase matches only as whole words, the longest match first (``"navy blue"`` is navy, not blue).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vitrine.errors import ConfigError

SCHEMA_DIR = Path(__file__).with_name("schemas")
SHARED_VALUES = {"colours": "colours.json"}
"""An attribute whose ``values`` is one of these names takes the shared list from that file."""
FALLBACK_SCHEMA = "generic"
"""The schema of a product whose category no schema lists."""
NOT_VISIBLE = "not visible"
UNKNOWN = "unknown"
"""The value of an attribute that may not be ``not visible`` when its answer could not be read."""
UNSTATED = frozenset({NOT_VISIBLE, UNKNOWN})
"""Values that say "could not tell": never given to the writer."""

Words = tuple[str, ...]
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> Words:
    """The comparable words of ``text``: NFKC, case-folded, split on anything not a letter or digit, and a
    plural ``s`` dropped from words longer than three letters (``"sleeves"`` → ``"sleeve"``)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for word in _WORD.findall(folded):
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        out.append(word)
    return tuple(out)


class ValueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=60)
    synonyms: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    mentions: tuple[str, ...] | None = None

    @field_validator("value")
    @classmethod
    def _stated(cls, value: str) -> str:
        if value.strip().lower() in UNSTATED:
            raise ValueError(f"{value!r} is not a value: say `not_visible` on the attribute instead")
        return value

    def answer_phrases(self) -> list[str]:
        return [self.value, *self.synonyms, *self.answers]

    def prose_phrases(self) -> list[str]:
        return list(self.mentions) if self.mentions is not None else [self.value, *self.synonyms]


class AttributeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=40)
    question: str = Field(min_length=5, max_length=200)
    not_visible: bool = True
    values: tuple[ValueSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_value_per_phrase(self) -> AttributeSpec:
        """A phrase naming two values of one attribute would make answers ambiguous by construction."""
        owner: dict[Words, str] = {}
        for spec in self.values:
            for phrase in spec.answer_phrases():
                key = words(phrase)
                if not key:
                    raise ValueError(f"{self.name}: phrase {phrase!r} has no words")
                if owner.setdefault(key, spec.value) != spec.value:
                    raise ValueError(f"{self.name}: {phrase!r} names both {owner[key]!r} and {spec.value!r}")
        return self

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(spec.value for spec in self.values)

    @property
    def fallback(self) -> str:
        """The value of an answer that could not be read."""
        return NOT_VISIBLE if self.not_visible else UNKNOWN


class AttributeSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_name: str = Field(alias="schema", pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    noun: str = Field(min_length=1, max_length=40)
    categories: tuple[str, ...] = ()
    attributes: tuple[AttributeSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> AttributeSchema:
        names = [attribute.name for attribute in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.schema_name}: an attribute name appears twice")
        return self

    def attribute(self, name: str) -> AttributeSpec:
        return next(a for a in self.attributes if a.name == name)


@dataclass(frozen=True)
class SchemaSet:
    """Every schema, and which one a category uses."""

    schemas: dict[str, AttributeSchema]
    by_category: dict[str, str]

    def for_category(self, category: str) -> AttributeSchema:
        name = self.by_category.get(category.strip().casefold(), FALLBACK_SCHEMA)
        return self.schemas[name]


def _resolve_values(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    for attribute in raw.get("attributes", []):
        values = attribute.get("values")
        if isinstance(values, str):
            if values not in SHARED_VALUES:
                raise ConfigError(f"attribute {attribute.get('name')!r}: no shared value list {values!r}")
            shared = json.loads((folder / SHARED_VALUES[values]).read_text(encoding="utf-8"))
            attribute["values"] = shared["values"]
    return raw


def load_schemas(folder: Path | None = None) -> SchemaSet:
    """Read and validate every schema in ``folder`` (default: the built-in ones); :class:`ConfigError` names
    the file and the field of the first problem. The fallback schema must be there; no category may be
    claimed by two schemas."""
    return _load(str((folder or SCHEMA_DIR).resolve()))


@lru_cache(maxsize=4)
def _load(folder_name: str) -> SchemaSet:
    folder = Path(folder_name)
    schemas: dict[str, AttributeSchema] = {}
    by_category: dict[str, str] = {}
    shared = set(SHARED_VALUES.values())
    for path in sorted(folder.glob("*.json")):
        if path.name in shared:
            continue
        try:
            raw = _resolve_values(json.loads(path.read_text(encoding="utf-8")), folder)
            schema = AttributeSchema.model_validate(raw)
        except (OSError, ValueError) as error:
            first = error.errors()[0] if isinstance(error, ValidationError) else None
            where = ".".join(str(p) for p in first["loc"]) if first else ""
            detail = first["msg"] if first else str(error)
            raise ConfigError(
                f"attribute schema {path.name}: {where + ': ' if where else ''}{detail}"
            ) from None
        schemas[schema.schema_name] = schema
        for category in schema.categories:
            key = category.strip().casefold()
            if by_category.setdefault(key, schema.schema_name) != schema.schema_name:
                raise ConfigError(
                    f"category {category!r} is claimed by {by_category[key]} and {schema.schema_name}"
                )
    if FALLBACK_SCHEMA not in schemas:
        raise ConfigError(f"no {FALLBACK_SCHEMA}.json in {folder}: products of other categories need it")
    return SchemaSet(schemas, by_category)


# -- matching phrases in text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A phrase found in a text: which words it covers and what it names (``(attribute, value)`` pairs)."""

    start: int
    end: int
    names: frozenset[tuple[str, str]]


NEGATIONS = frozenset({"not", "no", "non", "without", "nor", "never"})


def find_phrases(text_words: Words, phrases: dict[Words, frozenset[tuple[str, str]]]) -> list[Match]:
    """Every phrase of ``phrases`` in ``text_words``, longest first and never overlapping, in text order.

    A match right after a negation (``"not cotton"``) is dropped, unless the phrase itself is negative
    (``"no collar"``).
    """
    if not text_words or not phrases:
        return []
    lengths = sorted({len(p) for p in phrases}, reverse=True)
    taken = [False] * len(text_words)
    found: list[Match] = []
    for length in lengths:
        for start in range(len(text_words) - length + 1):
            if any(taken[start : start + length]):
                continue
            key = text_words[start : start + length]
            names = phrases.get(key)
            if names is None:
                continue
            negated = start > 0 and text_words[start - 1] in NEGATIONS and key[0] not in NEGATIONS
            for i in range(start, start + length):
                taken[i] = True
            if not negated:
                found.append(Match(start, start + length, names))
    return sorted(found, key=lambda m: m.start)


def phrase_table(pairs: Iterable[tuple[str, str, str]]) -> dict[Words, frozenset[tuple[str, str]]]:
    """``(phrase, attribute, value)`` triples → ``{words(phrase): {(attribute, value), ...}}``."""
    table: dict[Words, set[tuple[str, str]]] = {}
    for phrase, attribute, value in pairs:
        key = words(phrase)
        if key:
            table.setdefault(key, set()).add((attribute, value))
    return {key: frozenset(names) for key, names in table.items()}


def answer_table(attribute: AttributeSpec) -> dict[Words, frozenset[tuple[str, str]]]:
    return _answer_table(attribute)


@lru_cache(maxsize=256)
def _answer_table(attribute: AttributeSpec) -> dict[Words, frozenset[tuple[str, str]]]:
    return phrase_table(
        (phrase, attribute.name, spec.value) for spec in attribute.values for phrase in spec.answer_phrases()
    )


def prose_table(attributes: Sequence[AttributeSpec]) -> dict[Words, frozenset[tuple[str, str]]]:
    """The phrases that name a value in written text, for every attribute of ``attributes``."""
    return phrase_table(
        (phrase, attribute.name, spec.value)
        for attribute in attributes
        for spec in attribute.values
        for phrase in spec.prose_phrases()
    )
