"""A synthetic shop for demos and benchmarks: a catalog in the bucket layout and "street" photos of it.

No photos can be downloaded here, yet every job needs images whose truth is known: the catalog's
``product.json`` carries colour, pattern, fabric and fit (ground truth for attributes and descriptions),
file names carry the view (``front``, ``side``, ``detail``, ``sole``: ground truth for the ingestion
filter), and ``street/truth.json`` says which products each street photo shows and where (ground truth
for search quality). Everything is drawn with Pillow and numpy from a seed, so a benchmark figure can be
reproduced byte for byte. Each product and each street photo has its own random stream, so a small
catalog is the prefix of a large one with the same seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter

CATEGORIES = ("shirt", "pants", "hat", "shoes")
CODE_PREFIX = {"shirt": "SH", "pants": "PA", "hat": "HA", "shoes": "SO"}
PATTERNS = ("solid", "stripes", "checks", "dots")
BRANDS = ("Northwind", "Alba & Co", "Kestrel", "Mistral", "Oakhaven", "Lumen", "Corvid", "Tallis")
CURRENCY = "EUR"
SHOP_URL = "https://shop.example/p/"

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 32, 44),
    "burgundy": (118, 22, 42),
    "orange": (232, 122, 32),
    "yellow": (238, 198, 46),
    "olive": (110, 118, 42),
    "green": (40, 138, 72),
    "teal": (22, 128, 130),
    "blue": (42, 92, 200),
    "navy": (26, 36, 92),
    "purple": (108, 52, 150),
    "pink": (232, 132, 170),
    "brown": (120, 76, 42),
    "beige": (212, 188, 150),
    "grey": (128, 128, 134),
    "black": (30, 30, 34),
}
"""Main colours. White is only a pattern or sole colour: a white product on a white studio backdrop
would be a test of the detector, not a demo."""
ACCENTS = {**COLOURS, "white": (248, 248, 246)}
ACCENT_CONTRAST = 120
"""Least RGB distance between a product's colour and its pattern's: olive stripes on brown (43 apart) or navy on
black vanish in a 96 px photo, and the label would then name a pattern nobody can see."""
PATTERN_BAND = 0.3
"""Share of a period the accent takes in stripes and in each band of checks, so the main colour covers most of
the fabric (checks of half-period bands left it a quarter of the cloth: the 'colour' was a guess)."""
SOLES = {"white": (240, 240, 236), "black": (34, 34, 36), "gum": (176, 120, 64)}

FABRICS = {
    "shirt": ("cotton", "linen", "flannel", "silk"),
    "pants": ("denim", "cotton", "wool", "corduroy"),
    "hat": ("wool", "felt", "straw", "cotton"),
    "shoes": ("leather", "suede", "canvas", "mesh"),
}
FITS = {
    "shirt": ("slim", "regular", "relaxed"),
    "pants": ("slim", "straight", "wide"),
    "hat": ("fitted", "adjustable"),
    "shoes": ("narrow", "regular", "wide"),
}
PRICES = {"shirt": (19, 89), "pants": (29, 119), "hat": (14, 59), "shoes": (39, 179)}
PATTERN_WORDS = {"solid": "plain", "stripes": "striped", "checks": "checked", "dots": "polka-dot"}

SPRITE = 400
"""Side of the canvas a product is drawn on; views and street photos scale it."""
VIEW_SIDES = (256, 512)
STREET_WIDTHS = (560, 720)
IMAGE_FORMATS = (("jpg", 0.8), ("png", 0.1), ("webp", 0.1))
"""Mostly JPEG, as shops upload; some PNG and WebP so decoding of every accepted type is exercised."""
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "jpg": {"format": "JPEG", "quality": 90},
    "png": {"format": "PNG"},
    "webp": {"format": "WEBP", "quality": 85},
}
CATALOG_TRUTH = "products_truth.json"
"""Beside ``products/``: each catalog image's view and item box (what detector training learns from)."""
_PRODUCT_STREAM = 0
_STREET_STREAM = 1
_VIEW_STREAM = 2

T = TypeVar("T")


@dataclass(frozen=True)
class ProductSpec:
    """Everything that decides how a product looks and what its ``product.json`` says."""

    code: str
    category: str
    style: str
    colour: str
    pattern: str
    accent: str
    period: int
    """Pixels per repeat on the 400 px sprite: 26-56, so a repeat spans at least 5 px once a photo is cut to
    96 px (from 14 px, a stripe was under 2 px wide there, and striped items were read as checked)."""
    vertical: bool
    fabric: str
    fit: str
    brand: str
    price: float
    shape: dict[str, float]

    @property
    def name(self) -> str:
        return f"{PATTERN_WORDS[self.pattern]} {self.colour} {self.fabric} {self.style}".capitalize()

    def metadata(self) -> dict[str, Any]:
        """The ``product.json`` document; the extra fields are the ground truth later jobs are checked on."""
        return {
            "code": self.code,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "price": self.price,
            "currency": CURRENCY,
            "url": f"{SHOP_URL}{self.code}",
            "colour": self.colour,
            "pattern": self.pattern,
            "pattern_colour": None if self.pattern == "solid" else self.accent,
            "fabric": self.fabric,
            "fit": self.fit,
        }


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote, for the CLI's summary line and for callers that ingest it."""

    out: Path
    products: int
    images: int
    street_photos: int
    street_items: int
    by_category: dict[str, int]
    products_dir: Path
    street_dir: Path
    truth: Path

    def line(self) -> str:
        classes = ", ".join(f"{n} {c}" for c, n in self.by_category.items())
        return (
            f"demo: {self.products} products ({classes}) with {self.images} images, "
            f"{self.street_photos} street photos with {self.street_items} items, in {self.out}"
        )


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b)))


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """One independent stream per product and per street photo, so sets of any size share a prefix."""
    return np.random.default_rng([seed, stream, index])


# --- what a product is ------------------------------------------------------------------------------


def _shape(category: str, fit: str, rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """The product's silhouette parameters (fractions of the canvas) and the noun its shape earns."""
    if category == "shirt":
        long = bool(rng.random() < 0.5)
        width = {"slim": 0.17, "regular": 0.2, "relaxed": 0.23}[fit] + _u(rng, -0.01, 0.01)
        shape = {
            "half": width,
            "hem": _u(rng, 0.82, 0.9),
            "long": float(long),
            "collar": float(rng.random() < 0.5),
        }
        return ("shirt" if long else "short-sleeve shirt"), shape
    if category == "pants":
        leg = {"slim": 0.09, "straight": 0.12, "wide": 0.16}[fit] + _u(rng, -0.01, 0.01)
        shape = {
            "half": _u(rng, 0.16, 0.2),
            "leg": leg,
            "flare": _u(rng, -0.02, 0.04),
            "hem": _u(rng, 0.86, 0.94),
        }
        return ("trousers" if shape["hem"] > 0.89 else "pants"), shape
    if category == "hat":
        cap = bool(rng.random() < 0.4)
        shape = {
            "cap": float(cap),
            "crown": _u(rng, 0.17, 0.24),
            "brim": _u(rng, 0.3, 0.42),
            "tall": _u(rng, 0.22, 0.32),
        }
        return ("cap" if cap else "hat"), shape
    ankle = _u(rng, 0.2, 0.44)
    shape = {"ankle": ankle, "sole": float(rng.integers(len(SOLES))), "laces": float(rng.random() < 0.7)}
    return ("boots" if ankle < 0.28 else "shoes"), shape


def product_spec(seed: int, index: int) -> ProductSpec:
    """The ``index``-th product drawn from ``seed``; categories take turns, so classes stay balanced."""
    rng = _rng(seed, _PRODUCT_STREAM, index)
    category = CATEGORIES[index % len(CATEGORIES)]
    colour = _pick(rng, tuple(COLOURS))
    accent = _pick(
        rng, tuple(a for a in ACCENTS if _distance(ACCENTS[a], COLOURS[colour]) >= ACCENT_CONTRAST)
    )
    fit = _pick(rng, FITS[category])
    style, shape = _shape(category, fit, rng)
    low, high = PRICES[category]
    return ProductSpec(
        code=f"{CODE_PREFIX[category]}-{index // len(CATEGORIES) + 1:04d}",
        category=category,
        style=style,
        colour=colour,
        pattern=_pick(rng, PATTERNS),
        accent=accent,
        period=int(rng.integers(26, 56)),
        vertical=bool(rng.random() < 0.5),
        fabric=_pick(rng, FABRICS[category]),
        fit=fit,
        brand=_pick(rng, BRANDS),
        price=int(rng.integers(low, high)) + 0.99,
        shape=shape,
    )


# --- drawing ----------------------------------------------------------------------------------------


def _pattern_tile(spec: ProductSpec) -> np.ndarray:
    """One repeat of the pattern (accent weight 0..1); dots stagger every other row, hence two periods."""
    period = spec.period
    yy, xx = np.mgrid[0 : 2 * period, 0 : 2 * period].astype(np.float32)
    along, across = (xx, yy) if spec.vertical else (yy, xx)
    if spec.pattern == "stripes":
        return (along % period < period * PATTERN_BAND).astype(np.float32)
    if spec.pattern == "checks":
        band = period * PATTERN_BAND
        return 0.5 * (xx % period < band) + 0.5 * (yy % period < band)
    if spec.pattern == "dots":
        shifted = along + (np.floor(across / period) % 2) * period / 2
        dist = (shifted % period - period / 2) ** 2 + (across % period - period / 2) ** 2
        return (dist < (period * 0.22) ** 2).astype(np.float32)
    return np.zeros_like(xx)


@lru_cache(maxsize=1)
def _shading() -> Image.Image:
    """Light falling off towards both sides, as on a rounded garment; the same for every product."""
    across = np.linspace(-1.0, 1.0, SPRITE, dtype=np.float32)
    row = (255 * (1.0 - 0.2 * across**2)).astype(np.uint8)
    return Image.fromarray(np.broadcast_to(row[None, :, None], (SPRITE, SPRITE, 3)).copy())


def _texture(spec: ProductSpec) -> Image.Image:
    """The fabric: main colour, pattern in the accent colour, and a soft shading."""
    repeats = SPRITE // (2 * spec.period) + 1
    weight = np.tile(_pattern_tile(spec), (repeats, repeats))[:SPRITE, :SPRITE]
    pattern = Image.fromarray((weight * 255).astype(np.uint8))
    main = Image.new("RGB", (SPRITE, SPRITE), COLOURS[spec.colour])
    accent = Image.new("RGB", (SPRITE, SPRITE), ACCENTS[spec.accent])
    return ImageChops.multiply(Image.composite(accent, main, pattern), _shading())


def _xy(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x * SPRITE, y * SPRITE) for x, y in points]


def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return x0 * SPRITE, y0 * SPRITE, x1 * SPRITE, y1 * SPRITE


def _darker(rgb: tuple[int, int, int], factor: float = 0.55) -> tuple[int, int, int]:
    r, g, b = rgb
    return int(r * factor), int(g * factor), int(b * factor)


def _draw_shirt(mask: ImageDraw.ImageDraw, trim: ImageDraw.ImageDraw, spec: ProductSpec) -> None:
    s = spec.shape
    half, hem = s["half"], s["hem"]
    reach, end = (0.16, 0.74) if s["long"] else (0.13, 0.4)
    for side in (-1, 1):
        sleeve = [
            (0.5 + side * (half - 0.02), 0.19),
            (0.5 + side * (half + 0.07), 0.22),
            (0.5 + side * (half + reach), end),
            (0.5 + side * (half + reach - 0.09), end + 0.03),
            (0.5 + side * half, 0.38),
        ]
        mask.polygon(_xy(sleeve), fill=255)
    flare = half + (0.02 if spec.fit == "relaxed" else 0.0)
    torso = [(0.5 - half, 0.19), (0.43, 0.16), (0.57, 0.16), (0.5 + half, 0.19), (0.5 + flare, hem)]
    mask.polygon(_xy([*torso, (0.5 - flare, hem)]), fill=255)
    mask.ellipse(_box(0.44, 0.12, 0.56, 0.21), fill=0)
    if s["collar"]:
        dark = _darker(COLOURS[spec.colour], 0.7)
        for side in (-1, 1):
            collar = [(0.5 + side * 0.075, 0.15), (0.5 + side * 0.005, 0.25), (0.5 + side * 0.1, 0.22)]
            trim.polygon(_xy(collar), fill=dark)
        trim.line(_xy([(0.5, 0.25), (0.5, hem)]), fill=dark, width=3)


def _draw_pants(mask: ImageDraw.ImageDraw, trim: ImageDraw.ImageDraw, spec: ProductSpec) -> None:
    s = spec.shape
    half, outer, hem = s["half"], s["half"] + s["flare"], s["hem"]
    inner = max(outer - s["leg"] * 2, 0.012)
    legs = [(0.5 - half, 0.15), (0.5 + half, 0.15), (0.5 + outer, hem), (0.5 + inner, hem), (0.5, 0.44)]
    mask.polygon(_xy([*legs, (0.5 - inner, hem), (0.5 - outer, hem)]), fill=255)
    trim.rectangle(_box(0.5 - half, 0.1, 0.5 + half, 0.16), fill=_darker(COLOURS[spec.colour], 0.7))
    trim.line(_xy([(0.5, 0.16), (0.5, 0.36)]), fill=_darker(COLOURS[spec.colour]), width=2)


def _draw_hat(mask: ImageDraw.ImageDraw, trim: ImageDraw.ImageDraw, spec: ProductSpec) -> None:
    s = spec.shape
    crown, brim, top = s["crown"], s["brim"], 0.62 - s["tall"]
    if s["cap"]:
        mask.chord(_box(0.5 - crown, top, 0.5 + crown, 0.62 + s["tall"]), 180, 360, fill=255)
        mask.ellipse(_box(0.5 + crown - 0.06, 0.58, 0.5 + crown + brim * 0.6, 0.66), fill=255)
        return
    mask.rounded_rectangle(_box(0.5 - crown, top, 0.5 + crown, 0.63), radius=SPRITE * 0.06, fill=255)
    mask.ellipse(_box(0.5 - brim, 0.57, 0.5 + brim, 0.69), fill=255)
    trim.rectangle(_box(0.5 - crown, 0.55, 0.5 + crown, 0.6), fill=_darker(ACCENTS[spec.accent], 0.6))


def _sole_colour(spec: ProductSpec) -> tuple[int, int, int]:
    return list(SOLES.values())[int(spec.shape["sole"])]


def _draw_shoes(mask: ImageDraw.ImageDraw, trim: ImageDraw.ImageDraw, spec: ProductSpec) -> None:
    ankle = spec.shape["ankle"]
    collar, vamp = (0.42, ankle + 0.08), (0.62, 0.47)
    upper = [(0.13, 0.65), (0.13, ankle), (0.3, ankle + 0.02), collar, vamp, (0.8, 0.53), (0.9, 0.64)]
    mask.polygon(_xy(upper), fill=255)
    mask.ellipse(_box(0.7, 0.52, 0.92, 0.7), fill=255)
    trim.rounded_rectangle(_box(0.11, 0.63, 0.92, 0.71), radius=SPRITE * 0.025, fill=_sole_colour(spec))
    if spec.shape["laces"]:
        for step in range(1, 5):
            x = collar[0] + (vamp[0] - collar[0]) * step / 5
            y = collar[1] + (vamp[1] - collar[1]) * step / 5
            trim.line(_xy([(x - 0.02, y + 0.02), (x + 0.02, y + 0.04)]), fill=(236, 236, 232), width=3)


def _draw_sole(mask: ImageDraw.ImageDraw, trim: ImageDraw.ImageDraw, spec: ProductSpec) -> None:
    """A shoe seen from below: the view shops upload and shoppers never photograph."""
    for layer, fill in ((mask, 255), (trim, _sole_colour(spec))):
        layer.ellipse(_box(0.36, 0.06, 0.64, 0.56), fill=fill)
        layer.ellipse(_box(0.39, 0.6, 0.61, 0.94), fill=fill)
        layer.polygon(_xy([(0.37, 0.4), (0.63, 0.4), (0.61, 0.77), (0.39, 0.77)]), fill=fill)
    tread = _darker(_sole_colour(spec), 0.75)
    for row in range(22):
        y = 0.14 + row * 0.034
        trim.line(_xy([(0.42, y), (0.58, y)]), fill=tread, width=3)


Drawer = Callable[[ImageDraw.ImageDraw, ImageDraw.ImageDraw, ProductSpec], None]
_DRAWERS: dict[str, Drawer] = {
    "shirt": _draw_shirt,
    "pants": _draw_pants,
    "hat": _draw_hat,
    "shoes": _draw_shoes,
}


def render(spec: ProductSpec, drawer: Drawer | None = None) -> Image.Image:
    """The product on a transparent canvas, cropped to itself: a pure function of the spec.

    A drawer cuts the silhouette out of the fabric (``mask``) and paints trims (collar, waistband, sole)
    on a layer above it, so trims keep their own colour; the outline gives every silhouette an edge a
    detector can find even in pale colours.
    """
    mask = Image.new("L", (SPRITE, SPRITE), 0)
    trims = Image.new("RGBA", (SPRITE, SPRITE), (0, 0, 0, 0))
    (drawer or _DRAWERS[spec.category])(ImageDraw.Draw(mask), ImageDraw.Draw(trims), spec)
    sprite = _texture(spec).convert("RGBA")
    sprite.putalpha(mask)
    sprite.alpha_composite(trims)
    edge = sprite.getchannel("A").filter(ImageFilter.FIND_EDGES)
    sprite.paste(_darker(COLOURS[spec.colour], 0.45), mask=edge)
    return sprite.crop(sprite.getbbox())


# --- catalog views ----------------------------------------------------------------------------------


Box = tuple[float, float, float, float]


def _studio(
    item: Image.Image, side: int, fill: float, angle: float, shift: tuple[float, float], bg: int
) -> tuple[Image.Image, Box]:
    """The item on a plain backdrop: ``fill`` of the frame, turned ``angle`` degrees, moved by ``shift``;
    and where it is (its normalised box in the frame: the detector's ground truth)."""
    scale = fill * side / max(item.size)
    placed = item.resize(
        (max(1, round(item.width * scale)), max(1, round(item.height * scale))), Image.LANCZOS
    )
    if angle:
        placed = placed.rotate(angle, resample=Image.BILINEAR, expand=True)
    canvas = Image.new("RGB", (side, side), (bg, bg, bg))
    x = round((side - placed.width) / 2 + shift[0] * side)
    y = round((side - placed.height) / 2 + shift[1] * side)
    canvas.paste(placed, (x, y), placed)
    left, top, right, bottom = placed.getbbox() or (0, 0, placed.width, placed.height)
    box = (
        round(max(0, x + left) / side, 4),
        round(max(0, y + top) / side, 4),
        round(min(side, x + right) / side, 4),
        round(min(side, y + bottom) / side, 4),
    )
    return canvas, box


def _grain(image: Image.Image, rng: np.random.Generator, amplitude: int) -> Image.Image:
    """Sensor noise, so no two photos of a product are pixel-identical (uniform: cheaper than Gaussian)."""
    noise = rng.integers(-amplitude, amplitude + 1, (image.height, image.width, 3), dtype=np.int16)
    pixels = np.asarray(image, np.int16) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _detail(spec: ProductSpec, side: int, rng: np.random.Generator) -> Image.Image:
    """An extreme close-up: a small patch of the fabric blown up to the whole frame, no silhouette."""
    patch = round(SPRITE * _u(rng, 0.12, 0.2))
    x, y = (int(rng.integers(0, SPRITE - patch)) for _ in range(2))
    fabric = _texture(spec).crop((x, y, x + patch, y + patch))
    return _grain(fabric.resize((side, side), Image.BICUBIC), rng, 8)


def _views(spec: ProductSpec, rng: np.random.Generator) -> list[tuple[str, Image.Image, Box | None]]:
    """The shop's photos of one product, named by the angle a tagger should see, with the item's box
    (None for the close-up, which shows fabric and no whole item)."""
    item = render(spec)
    facing = "side" if spec.category == "shoes" else "front"

    def side() -> int:
        return int(rng.integers(VIEW_SIDES[0], VIEW_SIDES[1] + 1))

    front = _studio(item, side(), 0.8, 0.0, (0.0, 0.0), 255)
    fill, angle, shift = _u(rng, 0.65, 1.05), _u(rng, -10, 10), (_u(rng, -0.08, 0.08), _u(rng, -0.08, 0.08))
    variant = _studio(item, side(), fill, angle, shift, int(rng.integers(236, 256)))
    views = [(facing, *front), (facing, *variant), ("detail", _detail(spec, side(), rng), None)]
    if spec.category == "shoes":
        sole = _studio(render(spec, _draw_sole), side(), 0.8, _u(rng, -6, 6), (0.0, 0.0), 255)
        views.append(("sole", *sole))
    return views


def _image_format(rng: np.random.Generator) -> str:
    names, weights = zip(*IMAGE_FORMATS, strict=True)
    return str(rng.choice(names, p=weights))


def _write_product(
    products_dir: Path, spec: ProductSpec, rng: np.random.Generator, views: bool = True
) -> list[dict[str, Any]]:
    """Write the product's folder; its images' truth rows (file relative to the output, view, box)."""
    folder = products_dir / spec.code
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "product.json").write_text(json.dumps(spec.metadata(), indent=2) + "\n", encoding="utf-8")
    rows: list[dict[str, Any]] = []
    if not views:
        return rows
    for number, (angle, image, box) in enumerate(_views(spec, rng), start=1):
        ext = _image_format(rng)
        name = f"{number:02d}-{angle}.{ext}"
        image.save(folder / name, **_SAVE_OPTIONS[ext])
        rows.append(
            {
                "file": f"{products_dir.name}/{spec.code}/{name}",
                "code": spec.code,
                "category": spec.category,
                "view": angle,
                "box": list(box) if box else None,
            }
        )
    return rows


# --- street photos ----------------------------------------------------------------------------------


def _colour(rng: np.random.Generator, low: int = 40, high: int = 200) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return r, g, b


def _street_background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Sky, buildings with windows, pavement and clutter: enough edges to distract a detector."""
    top, bottom = np.array(_colour(rng, 120, 230), np.float32), np.array(_colour(rng, 60, 160), np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = round(height * _u(rng, 0.45, 0.7))
    for _ in range(int(rng.integers(6, 14))):
        x0 = int(rng.integers(-width // 10, width))
        x1 = x0 + round(width * _u(rng, 0.08, 0.25))
        y0 = int(rng.integers(height // 20, max(horizon - 20, height // 20 + 1)))
        draw.rectangle((x0, y0, x1, horizon), fill=_colour(rng, 50, 190))
        pane, lit = _colour(rng, 20, 90), _colour(rng, 150, 240)
        for wy in range(y0 + 8, horizon - 14, 22):
            for wx in range(x0 + 6, x1 - 12, 18):
                draw.rectangle((wx, wy, wx + 9, wy + 12), fill=lit if rng.random() < 0.3 else pane)
    draw.rectangle((0, horizon, width, height), fill=_colour(rng, 70, 150))
    for _ in range(int(rng.integers(10, 25))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(10, width // 4)), y0 + int(rng.integers(10, height // 4))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=_colour(rng))
        else:
            draw.line((x0, y0, x1, y1), fill=_colour(rng), width=int(rng.integers(2, 8)))
    return image


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Shared area as a fraction of the smaller box: how much one item could hide the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def _street_item(spec: ProductSpec, rng: np.random.Generator, longest: int) -> Image.Image:
    """The product as a street camera sees it: smaller, tilted, in different light."""
    item = render(spec)
    scale = longest / max(item.size)
    item = item.resize((max(1, round(item.width * scale)), max(1, round(item.height * scale))), Image.LANCZOS)
    item = item.rotate(_u(rng, -12, 12), resample=Image.BILINEAR, expand=True)
    item = item.crop(item.getbbox())
    lit = ImageEnhance.Brightness(item.convert("RGB")).enhance(_u(rng, 0.75, 1.1))
    lit.putalpha(item.getchannel("A"))
    return lit


def street_photo(
    specs: Sequence[ProductSpec], rng: np.random.Generator
) -> tuple[Image.Image, list[dict[str, Any]]]:
    """A cluttered scene with one to three catalog items, and where each one is (normalised boxes)."""
    width = int(rng.integers(STREET_WIDTHS[0], STREET_WIDTHS[1] + 1))
    height = round(width * 0.75)
    photo = _street_background(rng, width, height)
    wanted = min(int(rng.integers(1, 4)), len(specs))
    chosen = rng.choice(len(specs), size=wanted, replace=False)
    boxes: list[tuple[int, int, int, int]] = []
    items: list[dict[str, Any]] = []
    for index in chosen:
        spec = specs[int(index)]
        longest = round(height * (_u(rng, 0.3, 0.6) if wanted == 1 else _u(rng, 0.22, 0.42)))
        item = _street_item(spec, rng, longest)
        for _ in range(30):
            x = int(rng.integers(0, width - item.width + 1))
            y = int(rng.integers(0, height - item.height + 1))
            box = (x, y, x + item.width, y + item.height)
            if all(_overlap(box, other) < 0.25 for other in boxes):
                photo.paste(item, (x, y), item)
                boxes.append(box)
                items.append({"code": spec.code, "category": spec.category, "occluded": False})
                break
    if rng.random() < 0.6:
        hidden = int(rng.integers(len(boxes)))
        x0, y0, x1, y1 = boxes[hidden]
        w, h = round((x1 - x0) * _u(rng, 0.2, 0.35)), round((y1 - y0) * _u(rng, 0.2, 0.35))
        left = x0 if rng.random() < 0.5 else x1 - w
        top = y0 if rng.random() < 0.5 else y1 - h
        ImageDraw.Draw(photo).rectangle((left, top, left + w, top + h), fill=_colour(rng))
        items[hidden]["occluded"] = True
    for item_truth, (x0, y0, x1, y1) in zip(items, boxes, strict=True):
        item_truth["box"] = [
            round(x0 / width, 4),
            round(y0 / height, 4),
            round(x1 / width, 4),
            round(y1 / height, 4),
        ]
    return _grain(photo, rng, 7), items


# --- the command ------------------------------------------------------------------------------------


def _refuse_non_empty(*folders: Path) -> None:
    """Never mix two generations (or a real catalog) in one folder: stale files would poison the truth."""
    for folder in folders:
        if folder.is_dir() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; choose an empty --out folder")


def generate(
    out: Path,
    products: int = 240,
    street_photos: int = 40,
    seed: int = 7,
    street_seed: int | None = None,
    views: bool = True,
) -> DemoSummary:
    """Write ``products`` catalog products and ``street_photos`` street photos under ``out``.

    Layout: ``out/products/{code}/product.json`` + views, ``out/street/street-NNNN.jpg`` and
    ``out/street/truth.json``; ``out/products_truth.json`` (outside the ingested prefix) gives every catalog
    image's view and item box. The same arguments give the same bytes.

    ``street_seed`` draws the street photos from their own seed (the catalog stays ``seed``'s): more photos of
    the same products, never the same photos, as training data beside a demo's evaluation photos.
    ``views=False`` writes no catalog images (only ``product.json``), for a street-only set.
    """
    if products < 1:
        raise ValueError("products must be at least 1: street photos show catalog products")
    if street_photos < 0:
        raise ValueError("street_photos must not be negative")
    out = Path(out)
    products_dir, street_dir = out / "products", out / "street"
    _refuse_non_empty(products_dir, street_dir)
    specs = [product_spec(seed, index) for index in range(products)]
    catalog = [
        row
        for index, spec in enumerate(specs)
        for row in _write_product(products_dir, spec, _rng(seed, _VIEW_STREAM, index), views)
    ]
    images = len(catalog)
    (out / CATALOG_TRUTH).write_text(
        json.dumps({"seed": seed, "images": catalog}, indent=1) + "\n", encoding="utf-8"
    )
    street_dir.mkdir(parents=True, exist_ok=True)
    photos = []
    for number in range(1, street_photos + 1):
        street_rng = _rng(seed if street_seed is None else street_seed, _STREET_STREAM, number)
        photo, items = street_photo(specs, street_rng)
        name = f"street-{number:04d}.jpg"
        photo.save(street_dir / name, **_SAVE_OPTIONS["jpg"])
        photos.append({"file": name, "width": photo.width, "height": photo.height, "items": items})
    truth = street_dir / "truth.json"
    record = {"seed": seed} if street_seed is None else {"seed": seed, "street_seed": street_seed}
    truth.write_text(json.dumps({**record, "photos": photos}, indent=1) + "\n", encoding="utf-8")
    return DemoSummary(
        out=out,
        products=products,
        images=images,
        street_photos=street_photos,
        street_items=sum(len(p["items"]) for p in photos),
        by_category=dict(Counter(spec.category for spec in specs)),
        products_dir=products_dir,
        street_dir=street_dir,
        truth=truth,
    )


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        summary = generate(args.out, products=args.products, street_photos=args.street, seed=args.seed)
    except FileExistsError as error:
        print(f"vitrine demo: {error}", file=sys.stderr)
        return 1
    print(f"{summary.line()} ({time.perf_counter() - started:.1f} s)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``vitrine demo``; the parser's ``func(args)`` runs it and returns the exit status."""
    parser = subparsers.add_parser(
        "demo",
        help="generate a synthetic catalog and street photos",
        description="Draw a synthetic shop (products in the bucket layout, street photos with ground truth).",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="an empty folder to write into"
    )
    parser.add_argument(
        "--products", type=_count(1), default=240, metavar="N", help="catalog products (default 240)"
    )
    parser.add_argument(
        "--street", type=_count(0), default=40, metavar="N", help="street photos (default 40)"
    )
    parser.add_argument("--seed", type=int, default=7, metavar="N", help="random seed: same seed, same bytes")
    parser.set_defaults(func=_run)
    return parser
