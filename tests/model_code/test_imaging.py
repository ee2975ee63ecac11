"""The shared image module: what it accepts, how it decodes, and what it refuses with which status."""

from __future__ import annotations

import base64
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from common import imaging
from common.imaging import ImageError, b64decode_image, crop, decode, inspect, sniff, to_jpeg
from tests.model_code.conftest import MODEL_CODE, REPO, encode, photo


def test_imaging_is_one_real_module_shared_by_lambda_and_model_code() -> None:
    assert Path(imaging.__file__).resolve() == (MODEL_CODE / "common" / "imaging.py").resolve()
    links = [p for top in ("lambdas", "model_code") for p in (REPO / top).rglob("*") if p.is_symlink()]
    assert links == []


def test_imaging_import_pulls_in_no_heavy_library_for_the_lambda_bundle() -> None:
    code = "import sys, common.imaging; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'numpy', 'boto3'}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("fixture", "mime"),
    [("jpeg_bytes", "image/jpeg"), ("png_bytes", "image/png"), ("webp_bytes", "image/webp")],
)
def test_sniff_names_the_type_from_magic_bytes(
    fixture: str, mime: str, request: pytest.FixtureRequest
) -> None:
    assert sniff(request.getfixturevalue(fixture)) == mime


def test_bad_images_are_refused_with_their_status(
    bad_images: dict[str, bytes], bad_image_status: dict[str, int]
) -> None:
    for name, data in bad_images.items():
        with pytest.raises(ImageError) as caught:
            decode(data)
        assert caught.value.status_code == bad_image_status[name], name
        assert caught.value.message, name


def test_decompression_bomb_is_refused_from_the_header_in_milliseconds(bad_images: dict[str, bytes]) -> None:
    started = time.perf_counter()
    with pytest.raises(ImageError, match="pixels") as caught:
        inspect(bad_images["png_bomb_100k"])
    assert caught.value.status_code == 413
    assert time.perf_counter() - started < 0.5


def test_pixel_cap_below_pillows_own_limit_is_ours(bad_images: dict[str, bytes]) -> None:
    with pytest.raises(ImageError, match="10000x5000 pixels; the limit is 40000000") as caught:
        decode(bad_images["png_50mpx"])
    assert caught.value.status_code == 413


def test_byte_cap_is_checked_before_anything_else(jpeg_bytes: bytes) -> None:
    with pytest.raises(ImageError, match="bytes") as caught:
        decode(jpeg_bytes, max_bytes=len(jpeg_bytes) - 1)
    assert caught.value.status_code == 413


def test_truncated_jpeg_is_a_400_naming_the_format(bad_images: dict[str, bytes]) -> None:
    with pytest.raises(ImageError, match="corrupt JPEG") as caught:
        decode(bad_images["truncated_jpeg"])
    assert caught.value.status_code == 400


def test_inspect_reads_size_without_decoding(jpeg_bytes: bytes) -> None:
    assert inspect(jpeg_bytes) == ("image/jpeg", 256, 256)


def test_cmyk_jpeg_decodes_to_rgb_colours(odd_images: dict[str, bytes]) -> None:
    image = decode(odd_images["cmyk_jpeg"])
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((32, 32))
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied(odd_images: dict[str, bytes]) -> None:
    image = decode(odd_images["exif_rotated_jpeg"])
    assert image.size == (100, 200)
    top, bottom = image.getpixel((50, 20)), image.getpixel((50, 180))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_sixteen_bit_grey_keeps_its_brightness(odd_images: dict[str, bytes]) -> None:
    image = decode(odd_images["png16"])
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (156, 156, 156)  # 40000 / 256, not clipped to white


def test_transparency_is_flattened_onto_white(odd_images: dict[str, bytes]) -> None:
    palette = decode(odd_images["palette_alpha_png"])
    assert palette.mode == "RGB"
    assert palette.getpixel((2, 2)) == (255, 255, 255)
    assert palette.getpixel((32, 32)) == (0, 128, 0)
    assert decode(odd_images["rgba_png"]).getpixel((0, 0)) == (255, 255, 255)


def test_webp_decodes(odd_images: dict[str, bytes]) -> None:
    assert decode(odd_images["webp"]).size == (256, 256)


def test_jpeg_is_drafted_to_the_size_the_model_needs() -> None:
    big = encode(photo((2000, 1500)), "JPEG", quality=85)
    image = decode(big, target=224)
    assert min(image.size) >= 224
    assert image.size[0] < 2000
    assert decode(big).size == (2000, 1500)


def test_crop_cuts_the_normalised_box() -> None:
    image = Image.new("RGB", (200, 100))
    assert crop(image, [0.25, 0.5, 0.75, 1.0]).size == (100, 50)
    assert crop(image, (0, 0, 0.001, 0.001)).size == (1, 1)


@pytest.mark.parametrize(
    "box",
    [
        [0.5, 0.1, 0.4, 0.9],
        [0, 0, 1.2, 1],
        [-0.1, 0, 1, 1],
        [0, 0, 1],
        [0, 0, math.nan, 1],
        "0,0,1,1",
        [0, 0, "1", 1],
        None,
    ],
)
def test_crop_refuses_a_bad_box_with_400(box: object) -> None:
    with pytest.raises(ImageError) as caught:
        crop(Image.new("RGB", (10, 10)), box)
    assert caught.value.status_code == 400


def test_b64_accepts_plain_and_data_uri(png_bytes: bytes) -> None:
    plain = base64.b64encode(png_bytes).decode()
    assert b64decode_image(plain) == png_bytes
    assert b64decode_image(f"data:image/png;base64,{plain}") == png_bytes
    assert b64decode_image(plain[:60] + "\n" + plain[60:]) == png_bytes


@pytest.mark.parametrize(
    ("value", "status"), [("", 400), ("not base64!", 400), (123, 400), ("QUJD" * 10, 413)]
)
def test_b64_refusals(value: object, status: int) -> None:
    with pytest.raises(ImageError) as caught:
        b64decode_image(value, max_bytes=20)
    assert caught.value.status_code == status


def test_to_jpeg_round_trips() -> None:
    data = to_jpeg(Image.new("RGB", (40, 30), (10, 200, 10)))
    assert inspect(data) == ("image/jpeg", 40, 30)
