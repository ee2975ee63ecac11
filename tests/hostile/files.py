"""Hostile files, generated: what a careless or malicious client sends instead of a photo.

Each :class:`Hostile` has its bytes, the name and content type a browser would give it (from its file
name, which may lie), and the answers allowed for an inline search. Every generator is deterministic and
small except the 50-megapixel photo (a real JPEG of 8700 x 5800 pixels, about a second to encode).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw

OK = {200}
"""The answer for a real photo, however unusual (CMYK, 16-bit, rotated): a search result."""
REFUSED = {400, 413, 415, 422}


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    content_type: str
    make: Callable[[], bytes]
    inline: frozenset[int]
    """HTTP statuses allowed for ``POST /api/search`` with this file inline."""

    @property
    def data(self) -> bytes:
        return _bytes(self.name)


def photo(size: tuple[int, int] = (320, 240), mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A picture with shapes on it (detectors and embedders see something)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (235, 232, 228))
    draw = ImageDraw.Draw(image)
    for _ in range(5):
        x, y = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        draw.rectangle(
            [x, y, x + size[0] // 3, y + size[1] // 3], fill=tuple(rng.randrange(256) for _ in range(3))
        )
    return image if mode == "RGB" else image.convert(mode)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(side: int = 12_000) -> bytes:
    """A valid greyscale PNG of side x side pixels (144 Mpx at 12000) that is ~140 KB on the wire: every
    row is a filter byte and zeros, which deflate to almost nothing. Decoding it would take 144 MB."""
    row = b"\x00" * (side + 1)
    squeeze = zlib.compressobj(9)
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    """A real JPEG cut at 60%: the header is whole (it passes a header check), the pixels are not."""
    whole = encoded(photo((640, 480)), "JPEG", quality=92)
    return whole[: len(whole) * 6 // 10]


def jpeg_polyglot() -> bytes:
    """A valid JPEG whose comment segment is an HTML page with a script (served back, it must stay an image)."""
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    jpeg = encoded(photo(seed=1), "JPEG")
    comment = b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html
    return jpeg[:2] + comment + jpeg[2:]


def gif_polyglot() -> bytes:
    """GIF89a magic, then HTML: the classic GIFAR-style polyglot."""
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00<html><script>alert(1)</script></html>;"


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000">'
        b'<script>alert(1)</script><rect width="100%" height="100%" fill="red"/></svg>'
    )


def animated_gif() -> bytes:
    frames = [photo(seed=s).convert("P") for s in range(4)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated() -> bytes:
    """A landscape JPEG whose EXIF says: rotate 90 degrees (orientation 6), as phones write them."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(photo((400, 300), seed=3), "JPEG", exif=exif.tobytes())


def png_16_bit() -> bytes:
    grey = Image.linear_gradient("L").resize((256, 256)).convert("I")
    return encoded(grey.point(lambda v: v * 257).convert("I;16"), "PNG")


def photo_50_megapixel() -> bytes:
    return encoded(photo((8700, 5800)), "JPEG", quality=70)


CASES = [
    Hostile("decompression_bomb_png", "bomb.png", "image/png", png_bomb, frozenset({413})),
    Hostile("truncated_jpeg", "cut.jpg", "image/jpeg", truncated_jpeg, frozenset({400})),
    Hostile(
        "jpeg_named_png", "really-a-jpeg.png", "image/png", lambda: encoded(photo(), "JPEG"), frozenset(OK)
    ),
    Hostile("svg", "logo.svg", "image/svg+xml", svg, frozenset({415})),
    Hostile("svg_named_png", "logo.png", "image/png", svg, frozenset({415})),
    Hostile("html_in_jpeg_comment", "page.jpg", "image/jpeg", jpeg_polyglot, frozenset(OK)),
    Hostile("gif_html_polyglot", "page.gif", "image/gif", gif_polyglot, frozenset({415})),
    Hostile(
        "html_named_jpg", "index.jpg", "image/jpeg", lambda: b"<!doctype html><h1>hi</h1>", frozenset({415})
    ),
    Hostile("animated_gif", "spin.gif", "image/gif", animated_gif, frozenset({415})),
    Hostile("tiff", "scan.tiff", "image/tiff", lambda: encoded(photo(), "TIFF"), frozenset({415})),
    Hostile("photo_50_megapixel", "huge.jpg", "image/jpeg", photo_50_megapixel, frozenset({413})),
    Hostile("exif_rotated", "phone.jpg", "image/jpeg", exif_rotated, frozenset(OK)),
    Hostile(
        "cmyk_jpeg",
        "print.jpg",
        "image/jpeg",
        lambda: encoded(photo(mode="CMYK", seed=2), "JPEG"),
        frozenset(OK),
    ),
    Hostile("png_16_bit", "deep.png", "image/png", png_16_bit, frozenset(OK)),
    Hostile("empty_file", "empty.jpg", "image/jpeg", lambda: b"", frozenset({400, 422})),
    Hostile(
        "one_pixel",
        "dot.png",
        "image/png",
        lambda: encoded(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
        frozenset(OK | REFUSED),
    ),
    Hostile(
        "random_bytes", "noise.jpg", "image/jpeg", lambda: random.Random(5).randbytes(5000), frozenset({415})
    ),
]
BY_NAME = {case.name: case for case in CASES}


@cache
def _bytes(name: str) -> bytes:
    return BY_NAME[name].make()
