"""The local text writer: a deterministic description assembled from the facts, and labelled as such.

Without Bedrock there is no language model to write prose, and a tiny random one would write noise. A
template cannot invent anything, which is the property the cloud writer is checked for, so the local
profile still shows a grounded description; its ``writer`` label says plainly that no AI wrote it.

Its text goes through the same check as a language model's (:mod:`vitrine.descriptions.quality`).
"""

from __future__ import annotations

from typing import Any

from vitrine.kernel.types import GeneratedText

LABEL = "offline (not AI-generated)"

NOUN_KEYS = ("category", "product_type", "type")
"""The first of these present names the product; otherwise it is an "item"."""

ADJECTIVE_KEYS = ("fit", "color", "colour", "pattern", "fabric", "material")
"""Facts that read naturally before the noun, in this order: "a slim-fit blue striped cotton shirt"."""
TITLE_KEYS = ("name", "brand", "price", "currency")
"""The product's own facts, said first ("Striped shirt by Kestrel, 29.5 EUR.") when there is a name."""

UNKNOWN_VALUES = frozenset({"", "not visible", "unknown", "none", "n/a"})
"""Values the attribute schema uses for "could not tell": leaving them out is more honest than saying them."""


def _value(value: Any) -> str:
    """A fact as words; '' for a value that says nothing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(filter(None, (_value(v) for v in value)))
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in UNKNOWN_VALUES else text


def _article(phrase: str) -> str:
    return "An" if phrase[:1].lower() in "aeiou" else "A"


class OfflineWriter:
    """:class:`~vitrine.kernel.ports.TextWriter` that fills a template; equal facts always give the same text."""

    name = "offline"
    ai_generated = False

    def write(self, instructions: str, facts: dict[str, Any]) -> GeneratedText:
        """A lead sentence from the descriptive facts, then one short sentence per other fact, by key.

        ``instructions`` are for a language model; a template cannot follow them, so they are not used.
        """
        known = {key: _value(value) for key, value in facts.items()}
        known = {key: text for key, text in known.items() if text}
        noun = next((known[key] for key in NOUN_KEYS if key in known), "item")
        adjectives = [known[key] for key in ADJECTIVE_KEYS if key in known]
        phrase = " ".join([*adjectives, noun])
        sentences = [f"{_article(phrase)} {phrase}."]
        if "name" in known:
            by = f" by {known['brand']}" if "brand" in known else ""
            price = f", {known['price']} {known.get('currency', '')}".rstrip() if "price" in known else ""
            sentences.insert(0, f"{known['name']}{by}{price}.")
        used = {*NOUN_KEYS, *ADJECTIVE_KEYS, *(TITLE_KEYS if "name" in known else ())}
        sentences += [
            f"{key.replace('_', ' ').capitalize()}: {text}."
            for key, text in sorted(known.items())
            if key not in used
        ]
        return GeneratedText(text=" ".join(sentences), writer=LABEL)
