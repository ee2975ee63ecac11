"""Fixtures for the model handlers: tiny models as SageMaker artifacts, and images good, odd and bad.

``packaged_model(name)`` builds a tiny model, packages it with ``vitrine models package``'s code, extracts
the tarball and returns the folder — what SageMaker's ``/opt/ml/model`` holds. ``artifact_handler(name)``
imports that artifact's own ``code/inference.py`` against its own ``code/common`` copy, so a file missing
from the artifact fails here rather than on an endpoint.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
MODEL_CODE = REPO / "model_code"
JSON = "application/json"


def photo(size: tuple[int, int] = (256, 256), seed: int = 0) -> Image.Image:
    """A photo-like RGB image: a background and a few coloured shapes (seeded, so tests are repeatable)."""
    palette = [(200, 40, 40), (30, 90, 200), (240, 200, 20), (20, 160, 70), (120, 40, 160), (250, 250, 250)]
    image = Image.new("RGB", size, palette[seed % len(palette)])
    draw = ImageDraw.Draw(image)
    width, height = size
    for i in range(4):
        colour = palette[(seed + i + 1) % len(palette)]
        x0, y0 = (seed * 37 + i * 53) % (width // 2), (seed * 23 + i * 41) % (height // 2)
        box = [x0, y0, x0 + width // 3, y0 + height // 3]
        (draw.ellipse if i % 2 else draw.rectangle)(box, fill=colour)
    return image


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """The image saved in ``fmt`` (JPEG, PNG, WEBP)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    """``data`` as base64 text: how JSON requests carry images."""
    return base64.b64encode(data).decode("ascii")


def write_images(folder: Path, count: int, size: tuple[int, int]) -> list[str]:
    """``count`` different photo JPEGs in ``folder``; their paths relative to its parent (a training channel)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for seed in range(count):
        (folder / f"{seed}.jpg").write_bytes(encode(photo(size, seed=seed), "JPEG"))
        names.append(f"{folder.name}/{seed}.jpg")
    return names


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """A training manifest: one JSON object a line."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def train_args(data: Path, model_dir: Path, base_model: Path, *options: str) -> list[str]:
    """A ``train.py`` command line: the three SageMaker locations as flags, then ``options``."""
    return ["--train", str(data), "--model-dir", str(model_dir), "--base-model", str(base_model), *options]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def exif_rotated_jpeg() -> bytes:
    """A 200x100 JPEG, left half red and right half blue, tagged orientation 6 (shows as 100x200, red on top)."""
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    """A 256x256 photo-like JPEG."""
    return encode(photo(), "JPEG", quality=90)


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    """A 256x256 photo-like PNG (a different picture from ``jpeg_bytes``)."""
    return encode(photo(seed=3), "PNG")


@pytest.fixture(scope="session")
def webp_bytes() -> bytes:
    """A 256x256 photo-like WebP."""
    return encode(photo(seed=1), "WEBP", quality=90)


@pytest.fixture(scope="session")
def odd_images() -> dict[str, bytes]:
    """Images that are valid but need care: each must decode to an upright RGB picture."""
    palette = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(palette).rectangle([16, 16, 47, 47], fill=(0, 128, 0, 255))
    grey16 = Image.new("I;16", (64, 64))
    grey16.putdata([40000] * 64 * 64)
    return {
        "cmyk_jpeg": encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95),
        "exif_rotated_jpeg": exif_rotated_jpeg(),
        "png16": encode(grey16, "PNG"),
        "palette_alpha_png": encode(palette.convert("P"), "PNG", transparency=0),
        "rgba_png": encode(Image.new("RGBA", (64, 64), (255, 0, 0, 0)), "PNG"),
        "webp": encode(photo(seed=2), "WEBP", quality=90),
    }


@pytest.fixture(scope="session")
def bad_images(jpeg_bytes: bytes) -> dict[str, bytes]:
    """Inputs every image handler must refuse with a 4xx and a message (see ``bad_image_status``)."""
    return {
        "empty": b"",
        "truncated_jpeg": jpeg_bytes[: len(jpeg_bytes) // 2],
        "text": b"name,price\nshoe,10\n",
        "gif": encode(Image.new("P", (8, 8)), "GIF"),
        "png_bomb_100k": png_header_only(100_000, 100_000),
        "png_50mpx": png_header_only(10_000, 5_000),
    }


@pytest.fixture(scope="session")
def bad_image_status() -> dict[str, int]:
    """The HTTP status each of ``bad_images`` gets: 400 corrupt, 413 too large, 415 unsupported type."""
    return {
        "empty": 400,
        "truncated_jpeg": 400,
        "text": 415,
        "gif": 415,
        "png_bomb_100k": 413,
        "png_50mpx": 413,
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny_model(name)``: the folder of a tiny model built for this session (built once per name)."""
    from vitrine_dev.modelkit.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny-models")
    return lambda name: build_tiny(root, [name])[name]


@pytest.fixture(scope="session")
def packaged_model(
    tiny_model: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """``packaged_model(name)``: a tiny model packaged as model.tar.gz and extracted, as SageMaker would."""
    from vitrine_dev.modelkit.package import package_model

    root = tmp_path_factory.mktemp("artifacts")
    extracted: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in extracted:
            tarball = package_model(name, tiny_model(name), root / f"{name}.tar.gz", MODEL_CODE)
            target = root / name
            with tarfile.open(tarball) as archive:
                archive.extractall(target, filter="data")
            extracted[name] = target
        return extracted[name]

    return make


def import_artifact_code(code_dir: Path, module_name: str) -> ModuleType:
    """Import ``code_dir/inference.py`` with ``code_dir`` first on ``sys.path``, as the serving toolkit does.

    Any ``common`` already imported (from ``model_code/``) is set aside for the import, so the handler binds
    to the artifact's own copy; it is put back afterwards.
    """
    saved = {
        name: module for name, module in sys.modules.items() if name == "common" or name.startswith("common.")
    }
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(code_dir))
    try:
        spec = importlib.util.spec_from_file_location(module_name, code_dir / "inference.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
        for name in [n for n in sys.modules if n == "common" or n.startswith("common.")]:
            del sys.modules[name]
        sys.modules.update(saved)
    return module


@dataclass
class Handler:
    """A handler module from an artifact, its loaded model, and the SageMaker call sequence."""

    module: ModuleType
    model: Any

    def call(self, body: bytes | str, content_type: str, accept: str = "application/json") -> dict[str, Any]:
        """input_fn -> predict_fn -> output_fn; the JSON answer."""
        data = self.module.input_fn(body, content_type)
        output, returned_type = self.module.output_fn(self.module.predict_fn(data, self.model), accept)
        assert returned_type == "application/json"
        return json.loads(output)

    def refusal(self, body: bytes | str, content_type: str, accept: str = "application/json") -> Exception:
        """The error a refused request raises; it must carry a 4xx ``status_code`` and a message."""
        with pytest.raises(ValueError) as caught:
            self.call(body, content_type, accept)
        error = caught.value
        assert 400 <= error.status_code < 500 and error.message, error
        return error


@pytest.fixture(scope="session")
def artifact_handler(packaged_model: Callable[[str], Path]) -> Callable[[str], Handler]:
    """``artifact_handler(name)``: the artifact's ``code/inference.py`` with ``model_fn`` run on its root."""
    handlers: dict[str, Handler] = {}

    def make(name: str) -> Handler:
        if name not in handlers:
            root = packaged_model(name)
            module = import_artifact_code(root / "code", f"artifact_{name}_inference")
            handlers[name] = Handler(module=module, model=module.model_fn(str(root)))
        return handlers[name]

    return make
