"""What a product's words are: the texts the dual encoder trains on and the queries it is evaluated with.

A product's ``product.json`` (the search layout of :mod:`common.search_data`) has its name and, in the demo
shop and most exports, its attributes: ``colour``, ``pattern`` (``solid``, ``stripes``, ``checks``, ``dots``),
``fabric``, ``fit``, ``brand`` and ``category``. Training captions name a random subset of them, the way
shoppers type ("striped red shirt", "navy linen shirt", "Kestrel hat"); each caption carries the attributes it
names, so a caption counts as matching every product that has them all (:meth:`Caption.matches`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PATTERN_WORDS: dict[str, tuple[str, ...]] = {
    "solid": ("plain", "solid"),
    "stripes": ("striped", "stripes"),
    "checks": ("checked", "checks"),
    "dots": ("polka-dot", "dots", "dotted"),
}
"""How a pattern is said: the first word is the adjective queries use."""
ATTRIBUTES = ("pattern", "colour", "fabric", "category", "fit", "brand")
"""In the order words go in a caption (the noun, the category, last of the adjectives)."""


@dataclass(frozen=True)
class ProductText:
    """A product's name and attributes (empty strings for what its product.json does not say)."""

    code: str
    name: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    def get(self, attribute: str) -> str:
        return self.attributes.get(attribute, "")


@dataclass(frozen=True)
class Caption:
    text: str
    named: tuple[tuple[str, str], ...]
    """(attribute, value) pairs the text names."""

    def matches(self, product: ProductText) -> bool:
        return all(product.get(attribute) == value for attribute, value in self.named)


def product_text(code: str, metadata: dict[str, Any]) -> ProductText:
    values = {a: str(metadata.get(a) or "").strip().lower() for a in ATTRIBUTES}
    return ProductText(code, str(metadata.get("name") or "").strip(), {a: v for a, v in values.items() if v})


def read_products(folder: Path) -> dict[str, ProductText]:
    """Every product folder's ``product.json`` under ``folder/products``, by code."""
    products = {}
    for meta in sorted(Path(folder).glob("products/*/product.json")):
        products[meta.parent.name] = product_text(meta.parent.name, json.loads(meta.read_text()))
    return products


def query_for(product: ProductText) -> str:
    """The evaluation query: the product's pattern (adjective), colour and category ("striped red shirt")."""
    pattern = product.get("pattern")
    words = [PATTERN_WORDS.get(pattern, (pattern,))[0], product.get("colour"), product.get("category")]
    return " ".join(word for word in words if word)


def _word(attribute: str, value: str, rng: Any) -> str:
    if attribute == "pattern":
        options = PATTERN_WORDS.get(value, (value,))
        return str(options[int(rng.integers(len(options)))])
    if attribute == "fit":
        return f"{value} fit"
    if attribute == "brand":
        return f"by {value}"
    return value


def caption(product: ProductText, rng: Any, keep: float = 0.5, name_share: float = 0.15) -> Caption:
    """A random text for ``product``: its name (``name_share`` of the time), else each attribute kept with
    probability ``keep`` (at least one), in a natural order, sometimes shuffled."""
    present = [a for a in ATTRIBUTES if product.get(a)]
    if product.name and (not present or rng.random() < name_share):
        named = tuple(
            (a, product.get(a)) for a in ("pattern", "colour", "fabric", "category") if product.get(a)
        )
        return Caption(product.name.lower(), named)
    chosen = [a for a in present if rng.random() < keep] or [present[int(rng.integers(len(present)))]]
    words = [_word(a, product.get(a), rng) for a in chosen]
    if len(words) > 1 and rng.random() < 0.2:
        words = [words[i] for i in rng.permutation(len(words))]
    return Caption(" ".join(words), tuple((a, product.get(a)) for a in chosen))
