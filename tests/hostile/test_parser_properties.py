"""Properties of the parsers and normalisers that untrusted bytes reach first: S3 event notifications,
``product.json``, the tagger's answer, base64 photos, image headers and boxes. For any input each either
returns its value or raises its one domain error; round trips give back what went in."""

from __future__ import annotations

import contextlib
import io
import json
import math
import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from common import imaging
from vitrine.api.routes.search import decode_base64_image
from vitrine.catalog.domain import ImageTags
from vitrine.catalog.product_json import MAX_PRODUCT_JSON_BYTES, parse_product
from vitrine.catalog.tagging import ANGLES, EXTENTS, TAG_SCHEMA, parse_tags
from vitrine.errors import BadInput
from vitrine.kernel.events import MalformedEvent, ObjectEvent, parse_notification, s3_record, sequencer_after
from vitrine.search.visual_search import check_box

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- S3 event notifications -------------------------------------------------------------------------

keys = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60)


@FAST
@given(
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{2,20}", fullmatch=True),
    key=keys,
    action=st.sampled_from(["created", "removed"]),
    etag=st.text(string.hexdigits, max_size=32),
    sequencer=st.text("0123456789ABCDEF", max_size=20),
    size=st.integers(0, 5 * 2**40),
)
def test_an_s3_record_parses_back_to_the_object_it_describes(
    bucket, key, action, etag, sequencer, size
) -> None:
    record = s3_record(bucket, key, action, size=size, etag=etag, sequencer=sequencer)
    for body in ({"Records": [record]}, json.dumps({"Records": [record]})):
        (event,) = parse_notification(body)
        assert event == ObjectEvent(
            bucket,
            key,
            action,
            sequencer,
            etag if action == "created" else "",
            size if action == "created" else 0,
        )


def _record_like() -> st.SearchStrategy:
    """Records shaped like S3's, with any field missing or of any type."""
    obj = st.fixed_dictionaries(
        {},
        optional={
            "key": json_values | keys,
            "size": json_values,
            "eTag": json_values,
            "sequencer": json_values,
        },
    )
    s3 = st.fixed_dictionaries(
        {}, optional={"bucket": st.just({"name": "b"}) | json_values, "object": obj | json_values}
    )
    name = st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "s3:TestEvent", ""]) | json_values
    return st.fixed_dictionaries({}, optional={"eventName": name, "s3": s3 | json_values}) | json_values


@FAST
@given(
    body=st.fixed_dictionaries({}, optional={"Records": st.lists(_record_like(), max_size=3) | json_values})
    | json_values
)
@example(body={"Records": [{"eventName": 5, "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]})
@example(
    body={
        "Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": 7}}}]
    }
)
@example(
    body={
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "size": "big"}},
            }
        ]
    }
)
def test_any_message_body_parses_or_is_malformed(body) -> None:
    for form in (body, json.dumps(body)):
        try:
            events = parse_notification(form)
        except MalformedEvent as error:
            assert error.message
            continue
        assert all(isinstance(e, ObjectEvent) and isinstance(e.key, str) and e.size >= 0 for e in events)


@FAST
@given(text=st.text(max_size=200))
@example(text=nested(100_000))
@example(text='{"Records": ' + nested(50_000) + "}")
def test_any_text_body_parses_or_is_malformed(text: str) -> None:
    with contextlib.suppress(MalformedEvent):
        parse_notification(text)


@FAST
@given(a=st.integers(0, 2**128), b=st.integers(0, 2**128))
def test_sequencers_order_as_numbers_whatever_their_length(a: int, b: int) -> None:
    assert sequencer_after(f"{a:X}", f"{b:X}") == (a > b)
    assert sequencer_after(f"{a:X}", "") and not sequencer_after("", f"{b:X}")


# -- product.json -----------------------------------------------------------------------------------

words = st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=40)
documents = st.fixed_dictionaries(
    {},
    optional={
        "name": words,
        "brand": words,
        "category": words,
        "price": st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**9),
        "currency": st.text(string.ascii_letters, max_size=3),
        "url": words,
        "colour": json_values,
    },
)


@FAST
@given(document=documents)
def test_a_valid_product_json_is_normalised(document: dict) -> None:
    product = parse_product("SKU-1", json.dumps(document).encode())
    assert product.code == "SKU-1"
    assert product.category == document.get("category", "").strip().lower()
    assert product.currency == document.get("currency", "").strip().upper()
    assert product.name == document.get("name", "").strip()
    assert product.extra == ({"colour": document["colour"]} if "colour" in document else {})


@FAST
@given(data=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
@example(data=nested(100_000).encode())
@example(data=b'{"name": ' + nested(10_000).encode() + b"}")
@example(data=b'{"price": NaN}')
@example(data=b'{"price": -Infinity}')
@example(data=b'{"code": "OTHER"}')
@example(data=b"\xff\xfe{\x00}\x00")
@example(data=b" " * (MAX_PRODUCT_JSON_BYTES + 1))
def test_any_product_json_parses_or_is_refused_with_a_reason(data: bytes) -> None:
    try:
        product = parse_product("SKU-1", data)
    except BadInput as error:
        assert error.message.startswith("product.json")
        return
    assert product.price is None or (math.isfinite(product.price) and product.price >= 0)


# -- the tagger's answer ----------------------------------------------------------------------------

valid_tags = st.fixed_dictionaries(
    {
        "has_model": st.booleans(),
        "model_count": st.integers(0, 20),
        "real_world_scene": st.booleans(),
        "worn": st.booleans(),
        "angle": st.sampled_from(ANGLES),
        "whole_or_partial": st.sampled_from(EXTENTS),
    }
)


@FAST
@given(
    tags=valid_tags,
    before=st.text(st.characters(blacklist_characters="{}"), max_size=30),
    after=st.text(st.characters(blacklist_characters="{}"), max_size=30),
)
def test_a_valid_answer_in_any_chatter_gives_its_tags(tags: dict, before: str, after: str) -> None:
    parsed = parse_tags(f"{before}{json.dumps(tags)}{after}")
    assert parsed == ImageTags(**tags)


@FAST
@given(answer=st.text(max_size=300) | json_values.map(json.dumps))
@example(answer="{" + '"a": ' * 1 + nested(100_000) + "}")
@example(answer='{"has_model": true}')
@example(answer='{"model_count": 1e400}')
def test_any_answer_gives_tags_or_unknown_with_a_reason(answer: str) -> None:
    tags = parse_tags(answer)
    assert tags.valid or tags.reason


@FAST
@given(tags=valid_tags, key=st.sampled_from(sorted(TAG_SCHEMA["properties"])), value=json_values)
def test_an_answer_that_breaks_the_schema_is_never_valid(tags: dict, key: str, value) -> None:
    tags = {**tags, key: value}
    good = {
        "has_model": isinstance(value, bool),
        "real_world_scene": isinstance(value, bool),
        "worn": isinstance(value, bool),
        "model_count": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 20,
        "angle": value in ANGLES,
        "whole_or_partial": value in EXTENTS,
    }[key]
    assume(not good)
    parsed = parse_tags(json.dumps(tags))
    assert not parsed.valid and parsed.reason


# -- photos: base64, headers, boxes -----------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=2000), uri=st.booleans())
def test_base64_round_trips_and_anything_else_is_bad_input(data: bytes, uri: bool) -> None:
    import base64

    text = base64.b64encode(data).decode()
    assert decode_base64_image(("data:image/png;base64," if uri else "") + text, 10_000) == data
    assert imaging.b64decode_image(text, 10_000) == data if data else True


@FAST
@given(text=st.text(max_size=200))
def test_any_base64_field_decodes_or_is_refused(text: str) -> None:
    try:
        decode_base64_image(text, 1000)
    except BadInput as error:
        assert error.status_code in (400, 413)
    try:
        imaging.b64decode_image(text, 1000)
    except imaging.ImageError as error:
        assert error.status_code in (400, 413)


def _header(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, fmt)
    return out.getvalue()


HEADERS = {fmt: _header(fmt) for fmt in ("JPEG", "PNG", "WEBP")}


@FAST
@given(
    fmt=st.sampled_from(sorted(HEADERS)),
    cut=st.integers(0, 200),
    tail=st.binary(max_size=300),
    flip=st.integers(0, 199),
)
def test_any_damaged_image_is_read_or_refused_with_an_image_error(
    fmt: str, cut: int, tail: bytes, flip: int
) -> None:
    """Real headers cut short, with garbage after them, or with one byte flipped: :func:`inspect` and
    :func:`decode` return pixels or raise :class:`ImageError`, nothing else (no struct.error, EOFError...)."""
    whole = bytearray(HEADERS[fmt])
    if flip < len(whole):
        whole[flip] ^= 0xFF
    data = bytes(whole[: max(cut, 3)]) + tail
    for read in (imaging.inspect, imaging.decode):
        try:
            read(data, max_bytes=100_000, max_pixels=1_000_000)
        except imaging.ImageError as error:
            assert error.status_code in (400, 413, 415) and error.message


finite = st.floats(-2, 2, allow_nan=False)
anything = st.floats() | st.integers(-(10**20), 10**20) | st.booleans() | st.text(max_size=3) | st.none()


@FAST
@given(box=st.lists(finite, min_size=4, max_size=4) | st.lists(anything, max_size=6))
@example(box=[float("nan"), 0, 1, 1])
@example(box=[0, 0, float("inf"), 1])
@example(box=[0.5, 0.5, 0.5, 0.6])
def test_any_box_is_a_valid_crop_or_refused(box: list) -> None:
    image = Image.new("RGB", (37, 23))
    try:
        crop = imaging.crop(image, box)
    except imaging.ImageError as error:
        assert error.status_code == 400
    else:
        assert crop.width >= 1 and crop.height >= 1
        assert crop.width <= image.width and crop.height <= image.height
    try:
        chosen = check_box(box)
    except (BadInput, TypeError) as error:
        assert isinstance(error, BadInput), f"check_box raised {type(error).__name__} for {box!r}"
    else:
        x0, y0, x1, y1 = chosen
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deep_nesting_is_refused_everywhere(depth: int) -> None:
    with pytest.raises(MalformedEvent):
        parse_notification(nested(depth))
    with pytest.raises(BadInput):
        parse_product("SKU-1", nested(depth).encode())
    assert not parse_tags("{" + f'"a": {nested(depth)}' + "}").valid
