"""Operators' pinned covers as ranker training pairs (``vitrine train ranker --from-pins``).

A pin says "this photo, not the ones the ranker preferred, is the hotel's cover": each pinned hotel gives
pairs (better = the pinned photo, worse = another photo that may make a cover), at most
:data:`MAX_WORSE_PER_PIN` per pin, drawn with a fixed seed. The photos are copied out of the bucket into
the export folder and the pairs written as ``hotels.jsonl`` lines in the ranker's explicit-pair format
(``{"hotel_id", "text", "better", "worse"}``), so the same entry point trains on them locally or in SageMaker.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitrine.hotels.domain import HotelImageStatus

MAX_WORSE_PER_PIN = 5
PAGE = 200


@dataclass(frozen=True)
class PinExport:
    folder: Path
    hotels: int
    pairs: int


def export_pins(services: Any, folder: Path, seed: int = 0) -> PinExport:
    """Write every pinned hotel's pairs and photos under ``folder``; what was written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    catalog = services.hotels()
    labels = services.hotel_labels
    rng = random.Random(seed)
    lines: list[dict[str, str]] = []
    hotels = 0
    after: str | None = None
    while True:
        page = catalog.list_hotels(limit=PAGE, after=after)
        if not page:
            break
        after = page[-1].hotel_id
        for record in page:
            if not record.pinned_image_id:
                continue
            images = catalog.list_images(record.hotel_id, status=HotelImageStatus.CLASSIFIED)
            pinned = next((i for i in images if i.image_id == record.pinned_image_id), None)
            others = [
                i for i in images if i.image_id != record.pinned_image_id and labels.may_cover(i.category)
            ]
            if pinned is None or not others:
                continue
            hotels += 1
            better = _copy(services.store, pinned.key, folder)
            for worse in rng.sample(others, min(MAX_WORSE_PER_PIN, len(others))):
                lines.append(
                    {
                        "hotel_id": record.hotel_id,
                        "text": record.hotel.text,
                        "better": better,
                        "worse": _copy(services.store, worse.key, folder),
                    }
                )
        if len(page) < PAGE:
            break
    (folder / "hotels.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return PinExport(folder, hotels, len(lines))


def _copy(store: Any, key: str, folder: Path) -> str:
    """The object ``key`` written under ``folder`` (its bucket path kept); the path relative to ``folder``."""
    target = folder / key
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(key))
    return key
