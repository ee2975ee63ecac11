"""The attribute model's answers → allowed values, ``not visible`` when unsure, the raw answer always kept.

BLIP-2 answers a question in a few words, but not in a fixed form: ``"Sleeve Length: Long"``, ``"long
sleeves"``, ``"it has long sleeves"``, ``"i can't tell"``. :func:`normalise` reads one answer:

1. the answer cleaned (a leading ``"Answer:"`` or ``"<attribute>:"`` label removed) equals a value, a
   synonym or an answer alias → that value, confidence 1.0;
2. it says it cannot tell (``"not visible"``, ``"unknown"``, ``"hard to tell"``...) → ``not visible``;
3. it names exactly one value among other words → that value, confidence 0.5–0.9 (how much of the answer
   the value's words are);
4. anything else (no value, or two different ones) → ``not visible`` (or ``unknown`` for an attribute that
   may not be ``not visible``), confidence 0.

Confidence is the reading's, not the model's: the endpoint returns no scores. It never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vitrine.descriptions.schema import (
    NOT_VISIBLE,
    UNSTATED,
    AttributeSpec,
    answer_table,
    find_phrases,
    phrase_table,
    words,
)

MAX_ANSWER_CHARS = 500
"""Only the start of an answer is read and kept: the value comes first, a rambling answer costs nothing."""
CANNOT_TELL = (
    "not visible",
    "not shown",
    "not seen",
    "cannot see",
    "can not see",
    "cant see",
    "can't see",
    "cannot tell",
    "can't tell",
    "cant tell",
    "hard to tell",
    "difficult to tell",
    "impossible to tell",
    "unclear",
    "unknown",
    "unsure",
    "not sure",
    "i don't know",
    "i do not know",
    "don't know",
    "no idea",
    "n/a",
    "not applicable",
    "not clear",
    "none visible",
    "none",
    "nothing",
)
_CANNOT_TELL = phrase_table((phrase, "", NOT_VISIBLE) for phrase in CANNOT_TELL)
_LABELS = ("answer", "a")
Words = tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """One attribute as read from the photo: the value, how sure the reading is, and the model's own words."""

    name: str
    value: str
    confidence: float
    raw: str

    @property
    def stated(self) -> bool:
        """Whether the value says something (given to the writer) rather than "could not tell"."""
        return self.value not in UNSTATED

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "confidence": self.confidence, "raw": self.raw}


def _without_label(answer: Words, attribute: AttributeSpec) -> Words:
    """Drop leading labels: ``"Answer: Sleeve Length: Long"`` → ``("long",)``. Words only, so punctuation
    is already gone; a label is dropped only when something follows it."""
    labels = {words(attribute.label), words(attribute.name.replace("_", " ")), *(words(x) for x in _LABELS)}
    changed = True
    while changed:
        changed = False
        for label in labels:
            if label and len(answer) > len(label) and answer[: len(label)] == label:
                answer = answer[len(label) :]
                changed = True
    return answer


def normalise(attribute: AttributeSpec, answer: Any) -> Reading:
    """The value ``answer`` names for ``attribute`` (see the module's rules); never raises."""
    try:
        return _normalise(attribute, answer)
    except Exception:  # a reader that raises would lose the whole product: "could not tell" instead
        raw = _raw(answer)
        return Reading(attribute.name, attribute.fallback, 0.0, raw)


def _raw(answer: Any) -> str:
    try:
        text = answer if isinstance(answer, str) else ("" if answer is None else str(answer))
    except Exception:
        text = ""
    return text.strip()[:MAX_ANSWER_CHARS]


def _normalise(attribute: AttributeSpec, answer: Any) -> Reading:
    raw = _raw(answer)
    unsure = Reading(attribute.name, attribute.fallback, 0.0, raw)
    said = _without_label(words(raw), attribute)
    if not said:
        return unsure
    table = answer_table(attribute)
    exact = table.get(said)
    if exact is not None and len(exact) == 1:
        return Reading(attribute.name, next(iter(exact))[1], 1.0, raw)
    if _CANNOT_TELL.get(said) is not None or find_phrases(said, _CANNOT_TELL):
        return unsure
    matches = find_phrases(said, table)
    named = {value for match in matches for _, value in match.names}
    if len(named) != 1:
        return unsure
    value = named.pop()
    covered = sum(m.end - m.start for m in matches)
    return Reading(attribute.name, value, round(0.5 + 0.4 * covered / len(said), 2), raw)
