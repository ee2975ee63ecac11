"""Synthetic hotels for demos, benchmarks and training: galleries in the bucket layout with their truth.

``hotels/{hotel_id}/hotel.json`` (name, description, city, stars, amenities) and 6-12 photos per hotel. The
photos are drawn scenes, one kind per label of the label set, told apart by construction: each label has its
own palette (upper and lower colours, horizon height) and its own motif (a grid of windows for Exterior,
waves for Pool, a bed for Room...), with per-photo jitter in position, size, light and grain.

Each hotel has a *theme* its text talks about (``sunset``, ``palm`` trees, ``mountain`` views, the ``sea``, a
``garden``), and exactly one photo carries the theme's mark (an orange sun, a palm silhouette...): that photo,
in a category that may make a cover, is the hotel's cover in the truth. Another eligible photo carries the
mark of a theme the text does *not* mention (a decoy), so a ranker must match the photo to the text rather
than learn "a photo with a mark wins". ``hotels_truth.json`` (beside ``hotels/``, outside any ingested
prefix) gives every photo's label and mark and every hotel's cover, for training and evaluation.

Everything comes from one seed through per-hotel random streams: the same arguments give the same bytes,
and a small set is the prefix of a large one.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from vitrine.hotels.labels import load_labels

SIZE = (320, 240)
TRUTH = "hotels_truth.json"
COVER_LABELS = (
    "Exterior",
    "Pool",
    "Room",
    "Lobby",
    "Terrace/Patio",
    "Surrounding environment and attractions",
)
"""Categories a synthetic cover is drawn in (all may make a cover under the default label set)."""
COMMON = (
    "Room",
    "Room",
    "Exterior",
    "Pool",
    "Lobby",
    "Restaurant",
    "Food and Dining",
    "Bar",
    "Terrace/Patio",
)
"""Categories drawn more often than the rest, as in real galleries."""
CITIES = ("Lisbon", "Porto", "Seville", "Nice", "Split", "Naples", "Kyoto", "Hakone", "Bali", "Cancun")
NAME_A = ("Azure", "Golden", "Old Town", "Harbour", "Palm", "Stone", "Garden", "Royal", "Sunset", "Quiet")
NAME_B = ("Hotel", "Resort", "Inn", "Lodge", "Suites", "Villa", "Boutique Hotel", "Retreat")
AMENITIES = ("free wifi", "parking", "spa", "gym", "pool", "breakfast", "pets allowed", "airport shuttle")

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """How a photo of one label looks: palette and motif."""

    upper: Colour
    lower: Colour
    horizon: float
    motif: str
    ink: Colour


SCENES: dict[str, Scene] = {
    "Hallway": Scene((214, 200, 170), (120, 84, 60), 0.62, "corridor", (90, 60, 40)),
    "Sauna": Scene((150, 96, 52), (120, 76, 40), 0.5, "slats", (200, 150, 90)),
    "Surrounding environment and attractions": Scene(
        (130, 190, 235), (80, 150, 70), 0.55, "hills", (60, 110, 60)
    ),
    "Business Center": Scene((225, 228, 232), (110, 112, 120), 0.6, "screens", (30, 40, 60)),
    "Pets": Scene((240, 226, 200), (170, 200, 120), 0.6, "paws", (90, 60, 40)),
    "Restaurant": Scene((120, 40, 40), (180, 150, 120), 0.45, "tables", (250, 250, 245)),
    "Fitness Facility": Scene((60, 64, 72), (40, 40, 44), 0.55, "dumbbells", (200, 40, 40)),
    "Activities": Scene((120, 200, 240), (240, 220, 160), 0.5, "balls", (240, 120, 30)),
    "Pool": Scene((150, 210, 240), (30, 130, 210), 0.35, "waves", (230, 245, 255)),
    "Exterior": Scene((140, 190, 240), (170, 170, 165), 0.85, "windows", (60, 80, 110)),
    "Bar": Scene((40, 24, 20), (90, 50, 30), 0.6, "bottles", (200, 160, 60)),
    "Transportation": Scene((170, 200, 230), (70, 70, 74), 0.6, "bus", (230, 190, 30)),
    "Bathhouse": Scene((200, 225, 225), (150, 200, 205), 0.5, "tiles", (80, 140, 150)),
    "Food and Dining": Scene((235, 225, 205), (235, 225, 205), 0.5, "plates", (210, 80, 40)),
    "Lobby": Scene((230, 215, 180), (160, 120, 80), 0.6, "desk", (120, 60, 30)),
    "Shopping": Scene((245, 240, 235), (200, 190, 180), 0.7, "shelves", (200, 40, 120)),
    "Parking": Scene((110, 110, 115), (80, 80, 84), 0.3, "cars", (240, 240, 240)),
    "Staircase/Elevator": Scene((200, 200, 205), (150, 150, 155), 0.5, "stairs", (70, 70, 80)),
    "Laundry Room": Scene((235, 240, 245), (200, 205, 210), 0.6, "washers", (120, 130, 150)),
    "Room": Scene((225, 205, 175), (150, 110, 80), 0.55, "bed", (245, 245, 240)),
    "Banquet Hall": Scene((110, 40, 70), (200, 170, 120), 0.5, "chandelier", (250, 220, 120)),
    "Spa": Scene((220, 235, 220), (150, 180, 150), 0.55, "stones", (80, 80, 80)),
    "Hot springs": Scene((170, 180, 190), (110, 150, 160), 0.45, "steam", (245, 245, 245)),
    "Terrace/Patio": Scene((130, 190, 240), (190, 150, 110), 0.6, "umbrellas", (230, 80, 60)),
    "Entertainment facility": Scene((20, 20, 40), (70, 20, 90), 0.65, "screen", (120, 220, 250)),
    "Other": Scene((128, 128, 128), (100, 100, 100), 0.5, "scribble", (200, 200, 60)),
}


@dataclass(frozen=True)
class Theme:
    words: str
    """What the hotel's description says (words the ranker's vocabulary knows)."""


THEMES: dict[str, Theme] = {
    "sunset": Theme("watch the sunset from the rooftop bar, a beautiful red sunset every night"),
    "palm": Theme("a garden of palm trees by the pool, palm tree shade and sunny days"),
    "mountain": Theme("stunning mountain views from every room, close to the mountains"),
    "sea": Theme("on the beach with sea views, the blue sea and the ocean at your door"),
    "garden": Theme("a quiet green garden with trees, breakfast in the garden"),
}


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1729, index])


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _jitter(colour: Colour, rng: np.random.Generator, amount: int = 18) -> Colour:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)  # type: ignore[return-value]


# -- motifs ---------------------------------------------------------------------------------------------


def _m_windows(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    left, top = int(w * _u(rng, 0.1, 0.25)), int(h * _u(rng, 0.1, 0.25))
    right, bottom = int(w * _u(rng, 0.75, 0.9)), int(h * 0.85)
    d.rectangle([left, top, right, bottom], fill=(200, 196, 186))
    cols, rows = int(rng.integers(4, 7)), int(rng.integers(3, 6))
    for r in range(rows):
        for c in range(cols):
            x = left + (c + 0.25) * (right - left) / cols
            y = top + (r + 0.2) * (bottom - top) / rows
            d.rectangle([x, y, x + (right - left) / cols * 0.5, y + (bottom - top) / rows * 0.55], fill=ink)


def _m_waves(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    top = int(h * 0.35)
    for n in range(int(rng.integers(5, 9))):
        y = top + (n + 0.5) * (h - top) / 8 + _u(rng, -3, 3)
        points = [(x, y + 4 * np.sin(x / _u(rng, 9, 14) + n)) for x in range(0, w + 8, 8)]
        d.line(points, fill=ink, width=2)
    d.rectangle([0, top - 6, w, top], fill=(240, 240, 235))  # the pool's edge


def _m_bed(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    x0, y0 = int(w * _u(rng, 0.1, 0.25)), int(h * _u(rng, 0.45, 0.55))
    x1, y1 = int(w * _u(rng, 0.75, 0.9)), int(h * 0.9)
    d.rectangle([x0, y0 - 30, x1, y0], fill=(110, 70, 45))  # headboard
    d.rectangle([x0, y0, x1, y1], fill=ink)
    for px in (x0 + 10, (x0 + x1) // 2 + 5):
        d.ellipse([px, y0 + 5, px + (x1 - x0) // 2 - 20, y0 + 28], fill=(235, 232, 225))
    d.rectangle([x0, (y0 + y1) // 2, x1, y1], fill=_jitter((70, 90, 140), rng))  # the cover


def _m_desk(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    y = int(h * _u(rng, 0.55, 0.65))
    d.rectangle([int(w * 0.2), y, int(w * 0.8), y + 45], fill=ink)
    d.rectangle([int(w * 0.2), y - 6, int(w * 0.8), y], fill=(230, 200, 120))
    for x in (int(w * 0.08), int(w * 0.88)):  # plants
        d.ellipse([x - 16, y - 40, x + 16, y], fill=(40, 120, 50))
    d.ellipse([w // 2 - 30, 10, w // 2 + 30, 40], fill=(250, 230, 150))  # a lamp


def _m_tables(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(4, 7))):
        x, y, r = _u(rng, 20, w - 20), _u(rng, h * 0.5, h - 15), _u(rng, 14, 24)
        d.ellipse([x - r, y - r / 2, x + r, y + r / 2], fill=ink)
        d.rectangle([x - r - 8, y - r, x - r, y + r / 2], fill=(80, 40, 20))


def _m_plates(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(2, 4))):
        x, y, r = _u(rng, 50, w - 50), _u(rng, 50, h - 50), _u(rng, 30, 48)
        d.ellipse([x - r, y - r, x + r, y + r], fill=(250, 250, 250), outline=(200, 200, 200), width=3)
        for _ in range(6):
            fx, fy = x + _u(rng, -r / 2, r / 2), y + _u(rng, -r / 2, r / 2)
            d.ellipse([fx - 6, fy - 6, fx + 6, fy + 6], fill=_jitter(ink, rng, 40))


def _m_bottles(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for shelf in (0.2, 0.4):
        y = int(h * shelf)
        d.rectangle([0, y + 30, w, y + 34], fill=(120, 80, 40))
        for x in range(10, w - 10, int(rng.integers(14, 20))):
            d.rectangle([x, y, x + 8, y + 30], fill=_jitter(ink, rng, 50))
    d.rectangle([0, int(h * 0.7), w, h], fill=(70, 36, 20))  # the counter


def _m_dumbbells(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 6))):
        x, y = _u(rng, 30, w - 70), _u(rng, h * 0.55, h - 20)
        d.rectangle([x, y - 3, x + 50, y + 3], fill=(180, 180, 180))
        d.rectangle([x - 6, y - 12, x + 4, y + 12], fill=ink)
        d.rectangle([x + 46, y - 12, x + 56, y + 12], fill=ink)


def _m_slats(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    step = int(rng.integers(10, 16))
    for y in range(0, h, step):
        d.line([(0, y), (w, y)], fill=_jitter(ink, rng, 10), width=3)
    d.rectangle([int(w * 0.1), int(h * 0.6), int(w * 0.9), int(h * 0.7)], fill=(210, 160, 100))  # a bench


def _m_hills(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    base = int(h * 0.6)
    for _ in range(3):
        x = _u(rng, -40, w)
        d.polygon([(x, base), (x + 80, base - _u(rng, 30, 70)), (x + 160, base)], fill=_jitter(ink, rng))
    for _ in range(4):  # trees
        x = _u(rng, 10, w - 10)
        d.ellipse([x - 10, base - 5, x + 10, base + 20], fill=(30, 90, 40))


def _m_screens(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    y = int(h * 0.45)
    for x in range(20, w - 60, int(rng.integers(70, 90))):
        d.rectangle([x, y, x + 55, y + 38], fill=ink)
        d.rectangle([x + 4, y + 4, x + 51, y + 34], fill=(90, 140, 200))
        d.rectangle([x + 24, y + 38, x + 30, y + 50], fill=ink)
    d.rectangle([0, y + 50, w, y + 56], fill=(150, 120, 90))  # the desk


def _m_paws(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 6))):
        x, y = _u(rng, 30, w - 30), _u(rng, 30, h - 30)
        d.ellipse([x - 12, y - 8, x + 12, y + 12], fill=ink)
        for dx, dy in ((-14, -16), (-5, -22), (5, -22), (14, -16)):
            d.ellipse([x + dx - 4, y + dy - 4, x + dx + 4, y + dy + 4], fill=ink)


def _m_balls(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 6))):
        x, y, r = _u(rng, 20, w - 20), _u(rng, h * 0.5, h - 20), _u(rng, 10, 20)
        d.ellipse([x - r, y - r, x + r, y + r], fill=_jitter(ink, rng, 60))
    d.line([(w * 0.1, h * 0.5), (w * 0.9, h * 0.5)], fill=(250, 250, 250), width=2)  # a net


def _m_bus(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    x0, y0 = int(w * _u(rng, 0.08, 0.2)), int(h * 0.35)
    x1, y1 = int(w * _u(rng, 0.8, 0.92)), int(h * 0.75)
    d.rectangle([x0, y0, x1, y1], fill=ink)
    for x in range(x0 + 10, x1 - 25, 30):
        d.rectangle([x, y0 + 10, x + 22, y0 + 35], fill=(160, 200, 230))
    for x in (x0 + 30, x1 - 30):
        d.ellipse([x - 14, y1 - 14, x + 14, y1 + 14], fill=(20, 20, 20))


def _m_tiles(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    step = int(rng.integers(18, 26))
    for x in range(0, w, step):
        d.line([(x, 0), (x, h)], fill=ink, width=2)
    for y in range(0, h, step):
        d.line([(0, y), (w, y)], fill=ink, width=2)
    d.ellipse([int(w * 0.2), int(h * 0.55), int(w * 0.8), int(h * 0.95)], fill=(90, 170, 200))  # a bath


def _m_shelves(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for y in (int(h * 0.25), int(h * 0.55)):
        d.rectangle([0, y + 28, w, y + 32], fill=(150, 140, 130))
        for x in range(12, w - 24, int(rng.integers(26, 34))):
            d.rectangle([x, y + 4, x + 20, y + 28], fill=_jitter(ink, rng, 60))
            d.arc([x + 4, y - 4, x + 16, y + 8], 180, 360, fill=(60, 60, 60), width=2)  # bag handles


def _m_cars(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for x in range(0, w, 64):
        d.line([(x, int(h * 0.3)), (x, h)], fill=ink, width=3)  # bay lines
    for _ in range(int(rng.integers(2, 4))):
        x, y = _u(rng, 5, w - 60), _u(rng, h * 0.45, h - 40)
        d.rounded_rectangle([x, y, x + 52, y + 30], radius=8, fill=_jitter((170, 40, 40), rng, 80))


def _m_stairs(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    steps = int(rng.integers(6, 10))
    for n in range(steps):
        x = int(w * 0.1 + n * w * 0.8 / steps)
        y = int(h * 0.9 - n * h * 0.7 / steps)
        d.rectangle([x, y, int(w * 0.9), y + 8], fill=ink)
    d.rectangle([int(w * 0.02), int(h * 0.2), int(w * 0.12), int(h * 0.9)], fill=(180, 185, 190))  # lift door


def _m_washers(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for x in range(15, w - 70, int(rng.integers(75, 90))):
        y = int(h * 0.45)
        d.rectangle([x, y, x + 70, y + 80], fill=(250, 250, 250), outline=ink, width=2)
        d.ellipse([x + 12, y + 18, x + 58, y + 64], fill=ink)
        d.ellipse([x + 20, y + 26, x + 50, y + 56], fill=(170, 200, 230))


def _m_chandelier(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for cx in (w * 0.3, w * 0.7):
        d.line([(cx, 0), (cx, 25)], fill=ink, width=2)
        d.polygon([(cx - 25, 45), (cx, 25), (cx + 25, 45)], fill=ink)
    for row in range(3):  # rows of chairs
        y = int(h * 0.6 + row * 22)
        for x in range(10, w - 10, 22):
            d.rectangle([x, y, x + 12, y + 14], fill=(240, 235, 220))


def _m_stones(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    x, y = w * _u(rng, 0.35, 0.65), h * 0.8
    for size in (46, 38, 30, 22):
        d.ellipse([x - size, y - size / 2.6, x + size, y + size / 2.6], fill=_jitter(ink, rng, 12))
        y -= size / 1.6
    for cx in (w * 0.15, w * 0.85):  # candles
        d.rectangle([cx - 6, h * 0.65, cx + 6, h * 0.85], fill=(250, 245, 230))
        d.ellipse([cx - 4, h * 0.6, cx + 4, h * 0.65], fill=(250, 180, 40))


def _m_steam(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    d.ellipse([int(w * 0.1), int(h * 0.5), int(w * 0.9), int(h * 0.95)], fill=(90, 150, 160))
    for _ in range(8):  # rocks around the spring
        x, y = _u(rng, w * 0.1, w * 0.9), _u(rng, h * 0.45, h * 0.55)
        d.ellipse([x - 14, y - 9, x + 14, y + 9], fill=(90, 85, 80))
    for _ in range(int(rng.integers(4, 7))):  # steam
        x = _u(rng, w * 0.2, w * 0.8)
        d.line([(x + 6 * np.sin(t / 6), h * 0.5 - t) for t in range(0, 70, 5)], fill=ink, width=3)


def _m_umbrellas(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(2, 4))):
        x, y = _u(rng, 40, w - 40), _u(rng, h * 0.3, h * 0.45)
        d.polygon([(x - 38, y + 18), (x, y - 8), (x + 38, y + 18)], fill=_jitter(ink, rng, 30))
        d.line([(x, y + 18), (x, y + 70)], fill=(90, 70, 50), width=3)
    d.line([(0, int(h * 0.62)), (w, int(h * 0.62))], fill=(240, 240, 240), width=4)  # a railing


def _m_screen(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    d.rectangle([int(w * 0.15), int(h * 0.08), int(w * 0.85), int(h * 0.5)], fill=ink)
    for row in range(3):
        y = int(h * 0.62 + row * 26)
        for x in range(8, w - 8, 26):
            d.rounded_rectangle([x, y, x + 20, y + 18], radius=4, fill=(170, 30, 50))


def _m_scribble(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(6, 12))):
        points = [(_u(rng, 0, w), _u(rng, 0, h)) for _ in range(4)]
        d.line(points, fill=_jitter(ink, rng, 80), width=int(rng.integers(2, 6)))


def _m_corridor(d: ImageDraw.ImageDraw, w: int, h: int, ink: Colour, rng: np.random.Generator) -> None:
    vx, vy = w * _u(rng, 0.45, 0.55), h * 0.45
    for corner in ((0, 0), (w, 0), (0, h), (w, h)):
        d.line([corner, (vx, vy)], fill=ink, width=2)
    for n in range(1, 4):  # doors getting smaller towards the vanishing point
        s = 1 - n / 4.5
        for side in (-1, 1):
            x = vx + side * (w / 2) * s
            d.rectangle(
                [min(x, x + side * 14 * s), vy - 60 * s, max(x, x + side * 14 * s), vy + 50 * s], fill=ink
            )


MOTIFS: dict[str, Callable[[ImageDraw.ImageDraw, int, int, Colour, np.random.Generator], None]] = {
    name.removeprefix("_m_"): function for name, function in globals().items() if name.startswith("_m_")
}


# -- theme marks (the cover signal) ----------------------------------------------------------------------


def _mark(image: Image.Image, theme: str, rng: np.random.Generator) -> None:
    d = ImageDraw.Draw(image)
    w, h = image.size
    if theme == "sunset":
        x, y = w * _u(rng, 0.7, 0.85), h * _u(rng, 0.12, 0.22)
        d.ellipse([x - 26, y - 26, x + 26, y + 26], fill=(252, 120, 30))
        d.rectangle([0, 0, w, 6], fill=(240, 90, 60))
    elif theme == "palm":
        x = w * _u(rng, 0.06, 0.16)
        d.line([(x, h), (x + 10, h * 0.3)], fill=(100, 70, 40), width=7)
        for angle in range(0, 360, 45):
            dx, dy = 40 * np.cos(np.radians(angle)), 18 * np.sin(np.radians(angle))
            d.line([(x + 10, h * 0.3), (x + 10 + dx, h * 0.3 + dy + 10)], fill=(30, 140, 50), width=6)
    elif theme == "mountain":
        base = h * 0.3
        for x0 in (0.0, w * 0.3, w * 0.6):
            d.polygon([(x0, base), (x0 + w * 0.2, base - 50), (x0 + w * 0.4, base)], fill=(110, 110, 125))
            d.polygon(
                [(x0 + w * 0.16, base - 40), (x0 + w * 0.2, base - 50), (x0 + w * 0.24, base - 40)],
                fill=(250, 250, 250),
            )
    elif theme == "sea":
        d.rectangle([0, h - 34, w, h], fill=(20, 60, 150))
        for x in range(0, w, 24):
            d.arc([x, h - 30, x + 24, h - 18], 180, 360, fill=(250, 250, 250), width=2)
    elif theme == "garden":
        for x in range(0, w, 40):
            d.ellipse([x - 6, h - 40, x + 46, h + 10], fill=(40, 130, 60))
            d.ellipse([x + 14, h - 36, x + 22, h - 28], fill=(240, 80, 120))  # a flower


def render(
    label: str, rng: np.random.Generator, mark: str | None = None, quality_boost: bool = False
) -> bytes:
    """One JPEG of ``label``'s scene; ``mark`` draws a theme's mark; the cover is also lit better."""
    scene = SCENES[label]
    w, h = SIZE
    image = Image.new("RGB", SIZE, _jitter(scene.upper, rng))
    draw = ImageDraw.Draw(image)
    horizon = int(h * min(0.95, max(0.05, scene.horizon + _u(rng, -0.05, 0.05))))
    draw.rectangle([0, horizon, w, h], fill=_jitter(scene.lower, rng))
    MOTIFS[scene.motif](draw, w, h, _jitter(scene.ink, rng, 12), rng)
    if mark:
        _mark(image, mark, rng)
    light = _u(rng, 1.05, 1.2) if quality_boost else _u(rng, 0.7, 1.05)
    image = ImageEnhance.Brightness(image).enhance(light)
    image = ImageEnhance.Color(image).enhance(_u(rng, 1.1, 1.3) if quality_boost else _u(rng, 0.7, 1.0))
    pixels = np.asarray(image, dtype=np.int16)
    grain = rng.integers(-8, 9, size=pixels.shape, dtype=np.int16)
    image = Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


# -- hotels ---------------------------------------------------------------------------------------------


@dataclass
class HotelsSummary:
    out: Path
    hotels: int = 0
    images: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    truth: Path | None = None

    def line(self) -> str:
        return f"{self.hotels} hotels, {self.images} photos in {self.out / 'hotels'}; truth in {self.truth}"


def _hotel(
    seed: int, index: int, images: int | None, labels: tuple[str, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[bytes]]:
    rng = _rng(seed, index)
    themes = list(THEMES)
    theme = themes[index % len(themes)]
    decoy = themes[(index + 1 + int(rng.integers(0, len(themes) - 1))) % len(themes)]
    count = images or int(rng.integers(6, 13))
    cover_label = COVER_LABELS[int(rng.integers(0, len(COVER_LABELS)))]
    others = [
        COMMON[int(rng.integers(0, len(COMMON)))]
        if rng.random() < 0.6
        else labels[int(rng.integers(0, len(labels)))]
        for _ in range(count - 1)
    ]
    decoy_slot = next((i for i, label in enumerate(others) if label in COVER_LABELS), None)
    if decoy_slot is None and others:
        decoy_slot = 0
        others[0] = COVER_LABELS[int(rng.integers(0, len(COVER_LABELS)))]
    cover_slot = int(rng.integers(0, count))
    order = [*others[:cover_slot], cover_label, *others[cover_slot:]]
    photos, blobs = [], []
    for slot, label in enumerate(order):
        is_cover = slot == cover_slot
        other_slot = slot - (1 if slot > cover_slot else 0)
        mark = theme if is_cover else (decoy if not is_cover and other_slot == decoy_slot else None)
        blobs.append(render(label, rng, mark, quality_boost=is_cover))
        photos.append({"file": f"photo-{slot + 1:02d}.jpg", "label": label, "mark": mark, "cover": is_cover})
    name = f"{NAME_A[int(rng.integers(0, len(NAME_A)))]} {NAME_B[int(rng.integers(0, len(NAME_B)))]}"
    city = CITIES[int(rng.integers(0, len(CITIES)))]
    stars = int(rng.integers(2, 6))
    metadata = {
        "name": name,
        "description": f"A {stars} star hotel in {city}: {THEMES[theme].words}. Bright rooms and friendly staff.",
        "city": city,
        "stars": stars,
        "amenities": sorted({AMENITIES[int(i)] for i in rng.integers(0, len(AMENITIES), size=3)}),
        "theme": theme,
    }
    return metadata, photos, blobs


def generate(
    out: Path, hotels: int = 24, images_per_hotel: int | None = None, seed: int = 11
) -> HotelsSummary:
    """Write ``hotels`` synthetic hotels under ``out/hotels/`` and their truth to ``out/hotels_truth.json``.

    ``images_per_hotel`` fixes the gallery size (default: 6 to 12, drawn per hotel)."""
    if hotels < 1:
        raise ValueError("hotels must be at least 1")
    if images_per_hotel is not None and images_per_hotel < 2:
        raise ValueError("a hotel needs at least 2 photos (a cover and a decoy)")
    out = Path(out)
    root = out / "hotels"
    if root.is_dir() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; choose an empty --out folder")
    labels = load_labels().labels
    summary = HotelsSummary(out=out)
    truth: list[dict[str, Any]] = []
    for index in range(hotels):
        hotel_id = f"demo-{index + 1:04d}"
        metadata, photos, blobs = _hotel(seed, index, images_per_hotel, labels)
        folder = root / hotel_id
        folder.mkdir(parents=True)
        (folder / "hotel.json").write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
        for entry, blob in zip(photos, blobs, strict=True):
            (folder / entry["file"]).write_bytes(blob)
            summary.by_label[entry["label"]] = summary.by_label.get(entry["label"], 0) + 1
        cover = next(p["file"] for p in photos if p["cover"])
        truth.append({"hotel_id": hotel_id, "theme": metadata["theme"], "cover": cover, "photos": photos})
        summary.hotels += 1
        summary.images += len(photos)
    summary.truth = out / TRUTH
    summary.truth.write_text(
        json.dumps({"seed": seed, "labels": list(labels), "themes": list(THEMES), "hotels": truth}, indent=1)
        + "\n",
        encoding="utf-8",
    )
    return summary


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        summary = generate(args.out, hotels=args.hotels, images_per_hotel=args.images, seed=args.seed)
    except (FileExistsError, ValueError) as error:
        print(f"vitrine demo-hotels: {error}", file=sys.stderr)
        return 1
    print(f"{summary.line()} ({time.perf_counter() - started:.1f} s)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``vitrine demo-hotels``."""
    parser = subparsers.add_parser(
        "demo-hotels",
        help="generate synthetic hotels (galleries with a known cover and labels)",
        description="Draw synthetic hotels in the bucket layout (hotels/{id}/...) with hotels_truth.json beside.",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="an empty folder to write into"
    )
    parser.add_argument("--hotels", type=int, default=24, metavar="N", help="hotels (default 24)")
    parser.add_argument(
        "--images", type=int, default=None, metavar="N", help="photos per hotel (default 6-12)"
    )
    parser.add_argument(
        "--seed", type=int, default=11, metavar="N", help="random seed: same seed, same bytes"
    )
    parser.set_defaults(func=_run)
    return parser
