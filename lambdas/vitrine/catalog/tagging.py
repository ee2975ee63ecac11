"""The catalog-image tagging contract: one prompt, one JSON schema, one parser for every tagger.

The local tagger (the llava endpoint) and the cloud tagger (Bedrock Claude) send the same prompt and
validate the answer the same way. An answer that fails validation never loses the image: the tags become
``unknown`` and the reason is kept, so an operator can see a flaky tagger in the ingestion report.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vitrine.catalog.domain import ImageTags

ANGLES = ("front", "back", "side", "top", "sole", "detail", "unknown")
EXTENTS = ("whole", "partial", "unknown")

TAG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "has_model": {"type": "boolean", "description": "a person is in the photo"},
        "model_count": {"type": "integer", "minimum": 0, "maximum": 20},
        "real_world_scene": {"type": "boolean", "description": "a street or room, not a studio backdrop"},
        "worn": {"type": "boolean", "description": "the product is worn by a person"},
        "angle": {"enum": list(ANGLES)},
        "whole_or_partial": {"enum": list(EXTENTS), "description": "the whole product or a close-up of part"},
    },
    "required": ["has_model", "model_count", "real_world_scene", "worn", "angle", "whole_or_partial"],
    "additionalProperties": False,
}

TAG_PROMPT = (
    "You are cataloguing product photos for a fashion shop. Look at the image and answer with one JSON "
    "object and nothing else, with exactly these keys: "
    '"has_model" (true if a person is visible), "model_count" (how many people), '
    '"real_world_scene" (true for a street or room, false for a plain studio background), '
    '"worn" (true if the product is worn by a person), '
    f'"angle" (one of {", ".join(ANGLES)}), '
    f'"whole_or_partial" (one of {", ".join(EXTENTS)}: the whole product, or a close-up of part of it).'
)

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _problem(data: Any) -> str:
    """The first way ``data`` breaks :data:`TAG_SCHEMA`, or '' when it fits."""
    if not isinstance(data, dict):
        return "answer is not a JSON object"
    missing = [k for k in TAG_SCHEMA["required"] if k not in data]
    if missing:
        return f"missing keys: {', '.join(missing)}"
    extra = sorted(set(data) - set(TAG_SCHEMA["properties"]))
    if extra:
        return f"unexpected keys: {', '.join(extra)}"
    for key in ("has_model", "real_world_scene", "worn"):
        if not isinstance(data[key], bool):
            return f"{key} is not a boolean"
    count = data["model_count"]
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 20:
        return "model_count is not an integer in 0..20"
    if data["angle"] not in ANGLES:
        return f"angle {data['angle']!r} is not one of {', '.join(ANGLES)}"
    if data["whole_or_partial"] not in EXTENTS:
        return f"whole_or_partial {data['whole_or_partial']!r} is not one of {', '.join(EXTENTS)}"
    return ""


def parse_tags(answer: str) -> ImageTags:
    """Turn a tagger's raw answer into tags; an invalid answer gives unknown tags with the reason."""
    match = _OBJECT.search(answer or "")
    if not match:
        return ImageTags(valid=False, reason=f"no JSON object in tagger answer: {answer[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as error:
        return ImageTags(valid=False, reason=f"tagger answer is not valid JSON: {error.msg}")
    except RecursionError:
        return ImageTags(valid=False, reason="tagger answer is JSON nested too deeply")
    problem = _problem(data)
    if problem:
        return ImageTags(valid=False, reason=f"tagger answer fails the schema: {problem}")
    return ImageTags(
        has_model=data["has_model"],
        model_count=data["model_count"],
        real_world_scene=data["real_world_scene"],
        worn=data["worn"],
        angle=data["angle"],
        whole_or_partial=data["whole_or_partial"],
    )
