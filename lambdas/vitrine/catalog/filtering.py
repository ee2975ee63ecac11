"""Which tagged catalog images are not indexed. The rules are data (``filter_rules.json``), not code,
so an operator can change what is kept without a deploy of new logic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitrine.catalog.domain import ImageTags
from vitrine.errors import ConfigError

DEFAULT_RULES = Path(__file__).with_name("filter_rules.json")
_COMPARATORS = {
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
}


@dataclass(frozen=True)
class FilterRule:
    """Skip an image when all of ``when`` holds: ``{"angle": "sole"}`` or ``{"model_count": {"gt": 2}}``."""

    name: str
    when: dict[str, Any]
    reason: str

    def matches(self, tags: ImageTags) -> bool:
        if not tags.valid:
            return False
        values = tags.to_dict()
        for field, expected in self.when.items():
            value = values.get(field)
            if isinstance(expected, dict):
                if value is None or not all(_COMPARATORS[op](value, bound) for op, bound in expected.items()):
                    return False
            elif value != expected:
                return False
        return True


def load_rules(path: Path | None = None) -> list[FilterRule]:
    """Read and check the rules file; a broken file stops start-up rather than indexing everything."""
    source = path or DEFAULT_RULES
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
        rules = [FilterRule(r["name"], dict(r["when"]), r["reason"]) for r in raw["rules"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"invalid setting VITRINE_FILTER_RULES: cannot read rules from {source}: {error}"
        ) from None
    known = set(ImageTags().to_dict())
    for rule in rules:
        unknown = set(rule.when) - known
        bad_ops = {op for cond in rule.when.values() if isinstance(cond, dict) for op in cond} - set(
            _COMPARATORS
        )
        if unknown or bad_ops:
            raise ConfigError(
                f"invalid setting VITRINE_FILTER_RULES: rule {rule.name!r} uses unknown "
                f"{'fields ' + ', '.join(sorted(unknown)) if unknown else 'operators ' + ', '.join(sorted(bad_ops))}"
            )
    return rules


def first_match(rules: list[FilterRule], tags: ImageTags) -> FilterRule | None:
    """The first rule that excludes the image, or None to index it."""
    return next((rule for rule in rules if rule.matches(tags)), None)
