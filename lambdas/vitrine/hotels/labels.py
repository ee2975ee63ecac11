"""The label set (data: ``labels.json``), the prompt built from it, and the parser of the model's answers.

The chat VLM is asked the published solution's question — ``Fill in the blank: this is a photo of a {},
you should select the appropriate categories from the provided labels: [...]`` — and answers free text
(``" this is a photo of Terrace/Patio."``). :meth:`LabelSet.parse` maps any text to exactly one label:

* words are compared, not characters: case, punctuation, the articles and "and" do not matter, nor a
  plural ``s`` (``"Food & Dining"``, ``"this is a photo of a pool"``, ``"hot spring"`` all match);
* a label matches only as whole words, and a longer match wins over a label inside it (``"laundry room"``
  is Laundry Room, never Room); synonyms from the file count as their label (``"gym"`` → Fitness Facility);
* several labels named → the first one, with a lower agreement; none, or more than
  :data:`MAX_LABELS_NAMED` (the model echoed the list) → the fallback label (``Other``), and the raw
  answer is kept by the caller for an operator to read.

It never raises: whatever the text, a label of the set comes back.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitrine.errors import ConfigError

DEFAULT_LABELS = Path(__file__).with_name("labels.json")
PROMPT = (
    "Fill in the blank: this is a photo of a {{}}, you should select the appropriate categories from the "
    "provided labels: [{labels}]"
)
MAX_LABELS_NAMED = 3
"""An answer naming more labels than this is not an answer (an echo of the label list): fallback."""
MAX_ANSWER_WORDS = 200
"""Only the start of an answer is read: the label comes first, and a rambling answer costs nothing."""
_WORD = re.compile(r"[^\W_]+")
_IGNORED = frozenset({"a", "an", "the", "and"})


def words(text: str) -> tuple[str, ...]:
    """The comparable words of ``text``: case-folded, without punctuation, articles, "and" or a plural s."""
    out = []
    for word in _WORD.findall(text.casefold()):
        if word in _IGNORED:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return tuple(out)


@dataclass(frozen=True)
class LabelParse:
    """What an answer names: ``label`` (always one of the set), how unambiguously, and whether it matched.

    ``agreement`` is 1.0 for an answer that names exactly one label, 1/n when it names n, 0.0 when the
    fallback was used because it names none (or too many).
    """

    label: str
    agreement: float
    matched: bool

    def confidence(self, probability: float | None) -> float:
        """The image's confidence: the answer's probability from the token log-probabilities when the
        endpoint returned them (else 1), times the parse's agreement."""
        return round(self.agreement * (1.0 if probability is None else probability), 4)


class LabelSet:
    """Labels, their synonyms, the fallback, and the labels that never make a cover; validated at start."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        fallback: str = "Other",
        synonyms: dict[str, str] | None = None,
        never_cover: Sequence[str] = (),
        source: str = "labels",
    ) -> None:
        self.labels = tuple(labels)
        self.fallback = fallback
        self.never_cover = frozenset(never_cover)
        self.source = source
        problems = self._problems(synonyms or {})
        if problems:
            raise ConfigError(f"invalid label set {source}: {problems[0]}")
        phrases: dict[tuple[str, ...], str] = {words(label): label for label in self.labels}
        for phrase, label in (synonyms or {}).items():
            phrases.setdefault(words(phrase), label)
        self._phrases = phrases
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        for phrase_words, label in phrases.items():
            self._by_first[phrase_words[0]].append((phrase_words, label))

    def _problems(self, synonyms: dict[str, str]) -> list[str]:
        known = set(self.labels)
        problems = []
        if not self.labels:
            problems.append("no labels")
        if len(known) != len(self.labels):
            problems.append("a label is listed twice")
        seen: dict[tuple[str, ...], str] = {}
        for label in self.labels:
            key = words(label)
            if not key:
                problems.append(f"label {label!r} has no words to match")
            elif key in seen:
                problems.append(f"labels {seen[key]!r} and {label!r} read the same")
            seen[key] = label
        if self.fallback not in known:
            problems.append(f"fallback {self.fallback!r} is not a label")
        for phrase, label in synonyms.items():
            if label not in known:
                problems.append(f"synonym {phrase!r} points at {label!r}, which is not a label")
            elif not words(phrase):
                problems.append(f"synonym {phrase!r} has no words to match")
            elif seen.get(words(phrase), label) != label:
                problems.append(f"synonym {phrase!r} reads as the label {seen[words(phrase)]!r}")
        unknown = sorted(self.never_cover - known)
        if unknown:
            problems.append(f"never_cover names unknown labels {unknown}")
        return problems

    @property
    def prompt(self) -> str:
        """The question asked about every photo (the published solution's wording)."""
        return PROMPT.format(labels=", ".join(self.labels))

    def may_cover(self, label: str) -> bool:
        return label not in self.never_cover

    def parse(self, answer: str) -> LabelParse:
        """The label ``answer`` names (see the module docstring); never raises."""
        tokens = words(answer if isinstance(answer, str) else "")[:MAX_ANSWER_WORDS]
        spans: list[tuple[int, int, str]] = []
        for start, token in enumerate(tokens):
            for phrase, label in self._by_first.get(token, ()):
                end = start + len(phrase)
                if tokens[start:end] == phrase:
                    spans.append((start, end, label))
        kept = [
            (start, end, label)
            for start, end, label in spans
            if not any(
                s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans
            )  # a label inside a longer match is part of that match
        ]
        named = list(dict.fromkeys(label for _, _, label in sorted(kept)))
        if not named or len(named) > MAX_LABELS_NAMED:
            return LabelParse(self.fallback, 0.0, False)
        return LabelParse(named[0], round(1 / len(named), 4), True)

    def describe(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "fallback": self.fallback,
            "never_cover": sorted(self.never_cover),
            "source": self.source,
        }


def load_labels(path: Path | None = None) -> LabelSet:
    """Read and check a label file; a broken one stops start-up (never a silent default)."""
    source = path or DEFAULT_LABELS
    try:
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
        return LabelSet(
            [str(label) for label in raw["labels"]],
            fallback=str(raw.get("fallback", "Other")),
            synonyms={str(k): str(v) for k, v in dict(raw.get("synonyms") or {}).items()},
            never_cover=[str(label) for label in raw.get("never_cover") or ()],
            source=str(source),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"invalid setting VITRINE_HOTELS_LABELS: cannot read labels from {source}: {error}"
        ) from None
