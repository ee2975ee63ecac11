"""product.json validation: what an operator gets told when metadata is wrong."""

from __future__ import annotations

import pytest

from vitrine.catalog.product_json import parse_product
from vitrine.errors import BadInput


def test_known_fields_and_extras_are_kept() -> None:
    product = parse_product(
        "SH-1",
        b'{"name": " Striped shirt ", "brand": "Nordlys", "category": "Shirt", "price": "39.5", "currency": "eur",'
        b' "url": "https://shop.example/p/SH-1", "fabric": "coton bio", "fit": "slim"}',
    )
    assert (product.name, product.category, product.price, product.currency) == (
        "Striped shirt",
        "shirt",
        39.5,
        "EUR",
    )
    assert product.extra == {"fabric": "coton bio", "fit": "slim"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"price": -1}', "price"),
        (b'{"code": "OTHER"}', "lies under products/SH-1/"),
        (b'{"name": "' + b"x" * 300_000 + b'"}', "limit"),
    ],
)
def test_bad_metadata_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_product("SH-1", data)
