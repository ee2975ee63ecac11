"""Readers of the published data layouts the hotel and attribute models train and are evaluated on.

* hotel photo labels: ``messages.jsonl``, the chat ``messages`` SFT layout — ``{"messages": [{"role": "user",
  "content": [{"type": "image"}, {"type": "text", "text": prompt}]}, {"role": "assistant", "content": [{"type":
  "text", "text": "this is a photo of Pool."}]}], "images": ["hotels/h1/1.jpg"]}`` — or the older
  ``labels.jsonl`` (``{"image": path, "label": "Pool"}``);
* covers: ``hotels.jsonl`` — ``{"hotel_id", "text", "images": [...], "cover": index}`` a hotel, or explicit
  ``{"hotel_id", "text", "better": path, "worse": path}`` pairs (an operator's pinned cover against another);
* attributes: ``styles.csv`` (``id, category, image`` then one column per attribute; an empty cell: the
  attribute does not apply; ``not visible``: the photo cannot show it) + the images, or ``qa.jsonl``
  (``{"image", "question", "answer"}``).

Paths in every file are relative to its folder; :func:`resolve` makes them absolute. The label of a
``messages`` row is read back from its answer (``label`` when the row carries it).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANSWER_PREFIX = "this is a photo of "
ATTRIBUTE_QUESTIONS = {
    "colour": "What is the colour of the {noun}?",
    "pattern": "What is the pattern of the {noun}?",
    "sleeve_length": "What is the sleeve length of the {noun}?",
    "sole": "What is the sole of the {noun}?",
    "brim": "What is the brim of the {noun}?",
    "fabric": "What is the fabric of the {noun}?",
    "fit": "What is the fit of the {noun}?",
}
"""Questions by ``styles.csv`` column: the wording of the attribute schemas the service asks with."""
NOUNS = {"shirt": "shirt", "pants": "pants", "hat": "hat", "shoes": "shoes"}


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except ValueError as error:
                raise ValueError(f"{path.name} line {number}: {error}") from None
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows


# --- labels -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledPhoto:
    image: Path
    label: str
    prompt: str | None
    group: str
    """The hotel (the unit a split keeps on one side)."""


def _answer_label(text: str) -> str:
    text = text.strip()
    if text.lower().startswith(ANSWER_PREFIX):
        text = text[len(ANSWER_PREFIX) :]
    return text.rstrip(".").strip()


def read_labelled_photos(folder: Path) -> list[LabelledPhoto]:
    """Every labelled photo of ``messages.jsonl`` (else ``labels.jsonl``) in ``folder``."""
    folder = Path(folder)
    if (folder / "messages.jsonl").is_file():
        photos = []
        for number, row in _lines(folder / "messages.jsonl"):
            try:
                user = next(m for m in row["messages"] if m["role"] == "user")
                answer = next(m for m in row["messages"] if m["role"] == "assistant")
                prompt = next(c["text"] for c in user["content"] if c.get("type") == "text")
                said = next(c["text"] for c in answer["content"] if c.get("type") == "text")
                image = row["images"][0]
            except (KeyError, StopIteration, IndexError, TypeError) as error:
                raise ValueError(f"messages.jsonl line {number}: {error!r}") from None
            label = row.get("label") or _answer_label(said)
            photos.append(
                LabelledPhoto(folder / image, label, prompt, str(row.get("hotel_id") or Path(image).parent))
            )
        return photos
    photos = []
    for number, row in _lines(folder / "labels.jsonl"):
        if not isinstance(row.get("image"), str) or not isinstance(row.get("label"), str):
            raise ValueError(f"labels.jsonl line {number}: needs 'image' and 'label' strings")
        photos.append(
            LabelledPhoto(folder / row["image"], row["label"], None, str(Path(row["image"]).parent))
        )
    return photos


# --- covers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hotel:
    hotel_id: str
    text: str
    images: list[Path]
    cover: int


@dataclass(frozen=True)
class CoverPair:
    hotel_id: str
    text: str
    better: Path
    worse: Path


def read_hotels(folder: Path) -> tuple[list[Hotel], list[CoverPair]]:
    """The hotels (with their cover) and the explicit pairs of ``folder/hotels.jsonl``; a malformed line
    stops with its number."""
    folder = Path(folder)
    hotels, pairs = [], []
    for number, row in _lines(folder / "hotels.jsonl"):
        try:
            if "better" in row:
                pairs.append(
                    CoverPair(
                        str(row.get("hotel_id", "")),
                        row["text"],
                        folder / row["better"],
                        folder / row["worse"],
                    )
                )
                continue
            images, cover = row["images"], row["cover"]
            if not isinstance(cover, int) or not 0 <= cover < len(images):
                raise IndexError(f"cover {cover!r} is not an index of its {len(images)} images")
            hotels.append(Hotel(str(row["hotel_id"]), row["text"], [folder / i for i in images], cover))
        except (KeyError, IndexError, TypeError) as error:
            raise ValueError(f"hotels.jsonl line {number}: {error!r}") from None
    return hotels, pairs


# --- attributes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeQuestion:
    image: Path
    attribute: str
    question: str
    answer: str
    group: str
    """The product (the unit a split keeps on one side)."""


def read_attribute_questions(folder: Path) -> list[AttributeQuestion]:
    """Every (photo, question, answer) of ``styles.csv`` (else ``qa.jsonl``) in ``folder``."""
    folder = Path(folder)
    if (folder / "styles.csv").is_file():
        with (folder / "styles.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        questions = []
        for row in rows:
            noun = NOUNS.get(row.get("category", ""), "item")
            for column, template in ATTRIBUTE_QUESTIONS.items():
                value = (row.get(column) or "").strip()
                if value:
                    image = folder / row["image"]
                    questions.append(
                        AttributeQuestion(image, column, template.format(noun=noun), value, row["id"])
                    )
        if not questions:
            raise ValueError(f"{folder / 'styles.csv'} has no attribute values")
        return questions
    questions = []
    for number, row in _lines(folder / "qa.jsonl"):
        if not all(isinstance(row.get(key), str) for key in ("image", "question", "answer")):
            raise ValueError(f"qa.jsonl line {number}: needs 'image', 'question' and 'answer' strings")
        attribute = row.get("attribute") or row["question"]
        questions.append(
            AttributeQuestion(folder / row["image"], attribute, row["question"], row["answer"], row["image"])
        )
    return questions
