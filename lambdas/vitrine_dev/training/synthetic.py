"""Training and evaluation sets in the published formats, written from the demo's own generators.

One generator serves the demo, training and evaluation (:mod:`vitrine_dev.demo` for products and street photos,
:mod:`vitrine_dev.demo_hotels` for hotel galleries); this module lays their output out as each model's training
entry point and evaluation read it:

* search (``dino_embed``, ``grounding_dino``): the demo layout itself — ``products/`` (catalog photos, with
  ``products_truth.json`` boxes) and ``street/truth.json`` (street photos with their items' boxes). A training
  set renders the same catalog's products into new street scenes (its own street seed), never the photos it
  is evaluated on;
* hotel labels (``llava``): ``messages.jsonl``, the chat ``messages`` dataset layout with ``images``, the prompt
  listing the labels and the target ``this is a photo of {label}.``;
* covers (``ranker``): ``hotels.jsonl``, one hotel a line with its text, photos and the index of its cover;
* attributes (``blip2_attributes``): ``styles.csv`` + ``images/{id}.jpg``, one product photo a row with the
  attribute values drawn into it and ``not visible`` for what a photo cannot show (the fabric).

Hotels and products of a test set come from another seed than the training set's: no hotel or product sits in
both (the grouped split). Everything is seeded: the same arguments give the same bytes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitrine_dev import demo, demo_hotels

LABEL_ANSWER = "this is a photo of {label}."
ATTRIBUTE_COLUMNS = ("colour", "pattern", "sleeve_length", "sole", "brim", "fabric")
"""The ``styles.csv`` attribute columns (questions: :data:`common.datasets.ATTRIBUTE_QUESTIONS`, the attribute
schemas' wording); an empty cell: the attribute does not apply to the category."""
PATTERN_VALUE = {"solid": "plain", "stripes": "striped", "checks": "checked", "dots": "polka-dot"}
SOLE_VALUE = ("white sole", "black sole", "gum sole")


@dataclass(frozen=True)
class SearchSets:
    train: Path
    test: Path


def search_sets(
    root: Path, *, products: int, train_street: int, test_street: int, seed: int = 7, street_seed: int = 1007
) -> SearchSets:
    """A catalog of ``products`` (``seed``) with ``train_street`` street photos drawn from ``street_seed`` for
    training, and the same catalog with ``test_street`` photos from ``seed`` (the demo's own) for testing."""
    root = Path(root)
    train, test = root / "search-train", root / "search-test"
    if not (train / "street" / "truth.json").is_file():
        demo.generate(
            train, products=products, street_photos=train_street, seed=seed, street_seed=street_seed
        )
    if not (test / "street" / "truth.json").is_file():
        demo.generate(test, products=products, street_photos=test_street, seed=seed)
    return SearchSets(train, test)


# --- hotels -------------------------------------------------------------------------------------------


def hotel_rows(folder: Path) -> list[dict[str, Any]]:
    """``hotels_truth.json`` of a ``demo-hotels`` folder joined with each hotel's ``hotel.json``: one row per
    hotel with its text, photo paths (relative to ``folder``), labels and the cover's index."""
    folder = Path(folder)
    truth = json.loads((folder / demo_hotels.TRUTH).read_text())
    rows = []
    for hotel in truth["hotels"]:
        meta = json.loads((folder / "hotels" / hotel["hotel_id"] / "hotel.json").read_text())
        photos = hotel["photos"]
        rows.append(
            {
                "hotel_id": hotel["hotel_id"],
                "text": f"{meta['name']}. {meta['description']}",
                "images": [f"hotels/{hotel['hotel_id']}/{p['file']}" for p in photos],
                "labels": [p["label"] for p in photos],
                "cover": next(i for i, p in enumerate(photos) if p["cover"]),
            }
        )
    return rows


def label_prompt(labels: Sequence[str]) -> str:
    """The question the hotel job asks (:data:`vitrine.hotels.labels.PROMPT`), listing ``labels``."""
    from vitrine.hotels.labels import PROMPT

    return PROMPT.format(labels=", ".join(labels))


def write_label_messages(folder: Path, labels: Sequence[str]) -> Path:
    """``messages.jsonl`` beside ``hotels/``: one chat per photo in the published SFT layout."""
    prompt = label_prompt(labels)
    lines = []
    for hotel in hotel_rows(folder):
        for image, label in zip(hotel["images"], hotel["labels"], strict=True):
            lines.append(
                {
                    "messages": [
                        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
                        {
                            "role": "assistant",
                            "content": [{"type": "text", "text": LABEL_ANSWER.format(label=label)}],
                        },
                    ],
                    "images": [image],
                    "label": label,
                    "hotel_id": hotel["hotel_id"],
                }
            )
    path = Path(folder) / "messages.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def write_cover_hotels(folder: Path) -> Path:
    """``hotels.jsonl`` beside ``hotels/``: each hotel's text, photos and cover (the ranker's format)."""
    path = Path(folder) / "hotels.jsonl"
    keep = ("hotel_id", "text", "images", "cover")
    path.write_text("".join(json.dumps({k: h[k] for k in keep}) + "\n" for h in hotel_rows(folder)))
    return path


def hotel_set(folder: Path, *, hotels: int, seed: int) -> Path:
    """``hotels`` demo hotels (``seed``) with ``messages.jsonl`` and ``hotels.jsonl`` beside them."""
    folder = Path(folder)
    if not (folder / demo_hotels.TRUTH).is_file():
        demo_hotels.generate(folder, hotels=hotels, seed=seed)
    from vitrine.hotels.labels import load_labels

    write_label_messages(folder, load_labels().labels)
    write_cover_hotels(folder)
    return folder


# --- attributes ---------------------------------------------------------------------------------------


def attribute_values(spec: demo.ProductSpec) -> dict[str, str]:
    """What a front photo of ``spec`` shows: the drawn attributes, ``not visible`` for the fabric (drawn the
    same whatever it is), empty for attributes of other categories."""
    values = {column: "" for column in ATTRIBUTE_COLUMNS}
    values["colour"] = spec.colour
    values["pattern"] = PATTERN_VALUE[spec.pattern]
    values["fabric"] = "not visible"
    if spec.category == "shirt":
        values["sleeve_length"] = "long" if spec.shape["long"] else "short"
    elif spec.category == "shoes":
        values["sole"] = SOLE_VALUE[int(spec.shape["sole"])]
    elif spec.category == "hat":
        values["brim"] = "peak" if spec.shape["cap"] else "wide brim"
    return values


def attribute_set(folder: Path, *, products: int, seed: int, side: int = 224) -> Path:
    """``styles.csv`` and ``images/{id}.jpg``: a studio photo of each of ``products`` products of ``seed``,
    slightly turned and lit, with its drawn attribute values."""
    import numpy as np

    folder = Path(folder)
    if (folder / "styles.csv").is_file():
        return folder
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "styles.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "category", "image", *ATTRIBUTE_COLUMNS])
        for index in range(products):
            spec = demo.product_spec(seed, index)
            rng = np.random.default_rng([seed, 77, index])
            fill, angle = float(rng.uniform(0.7, 0.95)), float(rng.uniform(-8, 8))
            shift = (float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05)))
            photo, _ = demo._studio(demo.render(spec), side, fill, angle, shift, int(rng.integers(236, 256)))
            name = f"images/{index + 1:05d}.jpg"
            photo.save(folder / name, quality=90)
            values = attribute_values(spec)
            writer.writerow([index + 1, spec.category, name, *(values[c] for c in ATTRIBUTE_COLUMNS)])
    return folder
