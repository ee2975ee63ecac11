"""The search data layout training and evaluation read: catalog folders and street photos with a truth file.

The same layout ``vitrine demo`` writes and a shop exports::

    products/{code}/product.json     the product ("category" is read; the folder name is the code)
    products/{code}/NN-{view}.jpg    its catalog photos (jpg, png or webp; the view is the name after NN-)
    products_truth.json              optional: {"images": [{"file": "products/...", "box": [x0, y0, x1, y1]}]}
                                     where each catalog photo's item is (detail close-ups have no box)
    street/truth.json                {"photos": [{"file": "street-0001.jpg", "items": [{"code": ...,
                                     "box": [x0, y0, x1, y1]}, ...]}, ...]} (files relative to street/)

Boxes are normalised to 0..1. :func:`read_search_set` gives every image once as a :class:`SearchImage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CATALOG_TRUTH = "products_truth.json"
STREET_TRUTH = Path("street") / "truth.json"


@dataclass(frozen=True)
class SearchImage:
    """One image of the set: a catalog photo (``street`` False) or one item of a street photo."""

    path: Path
    product: str
    category: str
    view: str
    box: tuple[float, float, float, float] | None
    street: bool
    attributes: tuple[tuple[str, str], ...] = ()
    """The product's ``product.json`` fields (strings and None only): auxiliary training targets."""

    def attribute(self, name: str) -> str:
        return dict(self.attributes).get(name, "")

    @property
    def photo(self) -> str:
        """What the item was photographed in (items of one street photo share it)."""
        return str(self.path)


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"box {value} is not inside 0..1")
    return x0, y0, x1, y1


def _view(name: str) -> str:
    stem = Path(name).stem
    return stem.split("-", 1)[1] if "-" in stem else stem


def read_catalog(folder: Path) -> list[SearchImage]:
    """Every catalog photo under ``folder/products``, with its box when ``products_truth.json`` has one."""
    folder = Path(folder)
    root = folder / "products"
    if not root.is_dir():
        raise FileNotFoundError(f"no products/ folder in {folder}")
    boxes: dict[str, Any] = {}
    truth = folder / CATALOG_TRUTH
    if truth.is_file():
        boxes = {row["file"]: row.get("box") for row in json.loads(truth.read_text())["images"]}
    images = []
    for product_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = product_dir / "product.json"
        document = json.loads(meta.read_text()) if meta.is_file() else {}
        category = str(document.get("category", ""))
        attributes = tuple(
            sorted((k, str(v)) for k, v in document.items() if isinstance(v, str | None) and k != "code")
        )
        for path in sorted(product_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            key = path.relative_to(folder).as_posix()
            images.append(
                SearchImage(
                    path,
                    product_dir.name,
                    category,
                    _view(path.name),
                    _box(boxes.get(key)),
                    False,
                    attributes,
                )
            )
    if not images:
        raise ValueError(f"no catalog photos under {root}")
    return images


def read_street(folder: Path, catalog: dict[str, SearchImage] | None = None) -> list[SearchImage]:
    """Every labelled item of ``folder/street/truth.json`` (no truth file: none); ``catalog`` (a catalog
    image per product) gives the items their product's category and attributes."""
    truth = Path(folder) / STREET_TRUTH
    if not truth.is_file():
        return []
    items = []
    for number, photo in enumerate(json.loads(truth.read_text())["photos"], start=1):
        try:
            path = truth.parent / photo["file"]
            for item in photo["items"]:
                code = item["code"]
                known = (catalog or {}).get(code)
                category = item.get("category") or (known.category if known else "")
                attributes = known.attributes if known else ()
                items.append(SearchImage(path, code, category, "street", _box(item["box"]), True, attributes))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{truth}: photo {number}: {error!r}") from None
    return items


def read_search_set(folder: Path) -> list[SearchImage]:
    """The catalog photos, then the street items, of the set in ``folder``."""
    catalog = read_catalog(folder)
    return catalog + read_street(folder, {image.product: image for image in catalog})
