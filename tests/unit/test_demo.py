"""The demo data generator: the catalog it writes in the bucket layout, its street photos and their truth.

The default set is generated once for the module (a few seconds): later jobs ingest exactly that set,
so its layout, balance and ground truth are checked on the real thing, not on a toy.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from vitrine.catalog.product_json import parse_product
from vitrine_dev import demo

REQUIRED_FIELDS = (
    "name",
    "brand",
    "category",
    "price",
    "currency",
    "url",
    "colour",
    "pattern",
    "fabric",
    "fit",
)
IMAGE_SUFFIXES = {".jpg", ".png", ".webp"}


@pytest.fixture(scope="module")
def default_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo.DemoSummary, float]:
    out = tmp_path_factory.mktemp("demo-default")
    started = time.perf_counter()
    summary = demo.generate(out)
    return summary, time.perf_counter() - started


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in IMAGE_SUFFIXES)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_demo_default_set_is_a_catalog_in_the_bucket_layout(
    default_set: tuple[demo.DemoSummary, float],
) -> None:
    summary, _ = default_set
    folders = sorted(p for p in summary.products_dir.iterdir() if p.is_dir())
    assert len(folders) == summary.products >= 200
    images = 0
    for folder in folders:
        meta = json.loads((folder / "product.json").read_text(encoding="utf-8"))
        assert all(meta.get(field) not in (None, "") for field in REQUIRED_FIELDS), folder.name
        assert meta["code"] == folder.name
        assert meta["currency"] == "EUR"
        assert meta["url"] == f"https://shop.example/p/{folder.name}"
        assert meta["price"] > 0
        assert meta["colour"] in meta["name"].lower() and meta["fabric"] in meta["name"].lower()
        views = _images(folder)
        assert len(views) >= 3, folder.name
        for path in views:
            with Image.open(path) as image:
                image.load()
                assert min(image.size) >= 256 and max(image.size) <= 512, path
        images += len(views)
    assert images == summary.images


@pytest.mark.slow
def test_demo_default_set_classes_are_balanced(default_set: tuple[demo.DemoSummary, float]) -> None:
    summary, _ = default_set
    category_of = {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))["category"]
        for p in summary.products_dir.glob("*/product.json")
    }
    counts = Counter(category_of.values())
    assert set(counts) == {"shirt", "pants", "hat", "shoes"}
    assert max(counts.values()) - min(counts.values()) <= 1
    prefixes = {"shirt": "SH-", "pants": "PA-", "hat": "HA-", "shoes": "SO-"}
    assert all(code.startswith(prefixes[category]) for code, category in category_of.items())


@pytest.mark.slow
def test_demo_default_set_views_carry_their_angle_and_mix_formats(
    default_set: tuple[demo.DemoSummary, float],
) -> None:
    """File names say the view (the filter's ground truth); only shoes have soles; mostly JPEG."""
    summary, _ = default_set
    formats: Counter[str] = Counter()
    for folder in (p for p in summary.products_dir.iterdir() if p.is_dir()):
        views = _images(folder)
        angles = [p.stem.split("-", 1)[1] for p in views]
        formats.update(p.suffix for p in views)
        shoes = folder.name.startswith("SO-")
        assert "detail" in angles
        assert ("sole" in angles) == shoes
        assert angles.count("side" if shoes else "front") >= 2
    assert formats[".jpg"] > formats[".png"] + formats[".webp"]
    assert formats[".png"] > 0 and formats[".webp"] > 0


@pytest.mark.slow
def test_demo_front_view_is_on_a_white_studio_backdrop_and_detail_view_has_none(
    default_set: tuple[demo.DemoSummary, float],
) -> None:
    summary, _ = default_set
    folder = summary.products_dir / "SH-0001"
    with Image.open(next(folder.glob("01-front.*"))) as front:
        rgb = front.convert("RGB")
        corners = [rgb.getpixel((x, y)) for x in (2, rgb.width - 3) for y in (2, rgb.height - 3)]
        centre = rgb.getpixel((rgb.width // 2, rgb.height // 2))
    assert all(min(pixel) >= 240 for pixel in corners)
    assert min(centre) < 240
    with Image.open(next(folder.glob("03-detail.*"))) as detail:
        grey = detail.convert("L")
    low, high = grey.getextrema()
    backdrop = grey.histogram()[240:]
    assert high - low > 20
    assert sum(backdrop) < grey.width * grey.height * 0.1


@pytest.mark.slow
def test_demo_street_photos_show_one_to_three_catalog_items_with_boxes(
    default_set: tuple[demo.DemoSummary, float],
) -> None:
    summary, _ = default_set
    truth = json.loads(summary.truth.read_text(encoding="utf-8"))
    photos = truth["photos"]
    assert len(photos) == summary.street_photos == 40
    codes = {p.name for p in summary.products_dir.iterdir()}
    for photo in photos:
        with Image.open(summary.street_dir / photo["file"]) as image:
            image.load()
            assert image.size == (photo["width"], photo["height"])
        assert 1 <= len(photo["items"]) <= 3
        for item in photo["items"]:
            assert item["code"] in codes
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    counts = Counter(len(photo["items"]) for photo in photos)
    assert counts[1] and counts[2] + counts[3], counts
    assert any(item["occluded"] for photo in photos for item in photo["items"])
    assert sum(counts[n] * n for n in counts) == summary.street_items


@pytest.mark.slow
def test_demo_default_set_generates_in_seconds(default_set: tuple[demo.DemoSummary, float]) -> None:
    """About 8 s on one core here; the bound leaves room for a loaded CI box, not for per-pixel loops."""
    _, seconds = default_set
    assert seconds < 60


def test_demo_same_seed_same_bytes_and_small_sets_are_prefixes(
    tmp_path: Path, default_set: tuple[demo.DemoSummary, float]
) -> None:
    first = _tree_bytes(demo.generate(tmp_path / "a", products=8, street_photos=3, seed=7).out)
    second = _tree_bytes(demo.generate(tmp_path / "b", products=8, street_photos=3, seed=7).out)
    other = _tree_bytes(demo.generate(tmp_path / "c", products=8, street_photos=3, seed=8).out)
    assert first == second
    assert first["products/SH-0001/product.json"] != other["products/SH-0001/product.json"]
    full = default_set[0].out
    for key, data in first.items():
        if key.startswith("products/"):
            assert (full / key).read_bytes() == data, key


def test_demo_refuses_a_folder_that_already_holds_a_catalog(tmp_path: Path) -> None:
    (tmp_path / "products" / "XX-0001").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not empty"):
        demo.generate(tmp_path, products=4, street_photos=1)
    assert not (tmp_path / "street").exists()


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitrine")
    demo.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_demo_cli_writes_the_set_and_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli().parse_args(
        ["demo", "--out", str(tmp_path), "--products", "4", "--street", "2", "--seed", "3"]
    )
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "4 products" in lines[0] and "2 street photos" in lines[0]
    assert len(list((tmp_path / "products").glob("*/product.json"))) == 4
    assert len(list((tmp_path / "street").glob("street-*.jpg"))) == 2


def test_demo_cli_rejects_a_catalog_without_products(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli().parse_args(["demo", "--out", "x", "--products", "0"])
    assert exit_info.value.code == 2
    assert "--products" in capsys.readouterr().err


def test_demo_cli_reports_a_non_empty_folder_with_a_failing_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "street").mkdir()
    (tmp_path / "street" / "old.jpg").write_bytes(b"old")
    args = _cli().parse_args(["demo", "--out", str(tmp_path), "--products", "2"])
    assert args.func(args) == 1
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_product_json_is_accepted_by_the_ingestion_parser(
    default_set: tuple[demo.DemoSummary, float],
) -> None:
    """The extra fields reach the catalog as ``Product.extra``: the ground truth later jobs are checked on."""
    summary, _ = default_set
    for path in summary.products_dir.glob("*/product.json"):
        product = parse_product(path.parent.name, path.read_bytes())
        assert product.currency == "EUR" and product.price
        assert {"colour", "pattern", "fabric", "fit"} <= set(product.extra)


def test_demo_fabric_shows_mostly_its_named_colour_and_a_pattern_that_stands_out() -> None:
    """The attribute questions ask for the colour and the pattern: the colour a product is sold as must be
    what most of its fabric shows, and the pattern's colour far enough from it to be seen at 96 px."""
    import numpy as np

    patterned = [s for s in (demo.product_spec(23, i) for i in range(120)) if s.pattern != "solid"]
    assert {s.pattern for s in patterned} == {"stripes", "checks", "dots"}
    for spec in patterned:
        main, accent = np.array(demo.COLOURS[spec.colour]), np.array(demo.ACCENTS[spec.accent])
        assert np.linalg.norm(main - accent) >= demo.ACCENT_CONTRAST, spec
        light = np.asarray(demo._shading(), dtype=np.float32) / 255  # the garment's shading, taken out
        fabric = np.asarray(demo._texture(spec), dtype=np.float32) / light
        # How far along the way from the colour to the accent each pixel is (0: the colour, 1: the accent).
        along = np.clip((fabric - main) @ (accent - main) / np.sum((accent - main) ** 2), 0, 1)
        assert along.mean() <= 0.36, (spec.pattern, spec.colour, along.mean())  # mostly its own colour
        assert (along > 0.4).mean() >= 0.08, (spec.pattern, spec.colour)  # and the pattern is there to see
