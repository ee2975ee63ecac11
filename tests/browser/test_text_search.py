"""Discovery on the shopper's page in Chromium, against the real local server (tiny models, demo catalog whose
images were indexed with both vector fields by ``vitrine prepare``).

Given the page, when the shopper describes a product in the search box and sets a price limit, then products
within the limit are shown; opening one shows "similar products" (never the product itself), and opening one of
those moves the view to it. The filters also travel with a photo search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Screenshot = Callable[[Page, str], Path]
TIMEOUT_MS = 60_000
MAX_PRICE = 80


def test_words_with_a_price_limit_then_similar_products_in_the_product_view(
    page: Page, screenshot: Screenshot
) -> None:
    page.locator("#text-query").fill("striped red shirt")
    page.locator("#filter-max").fill(str(MAX_PRICE))
    with page.expect_response(
        lambda response: "/api/search/text" in response.url, timeout=TIMEOUT_MS
    ) as sent:
        page.locator("#text-search button[type=submit]").click()
    response = sent.value
    assert response.ok and f"max_price={MAX_PRICE}" in response.url
    answer = response.json()

    cards = page.locator("#results .card")
    expect(cards.first).to_be_visible(timeout=TIMEOUT_MS)
    assert cards.count() == len(answer["results"]) > 0
    shown = [
        float(p)
        for p in cards.locator(".card-price").evaluate_all("nodes => nodes.map(n => n.dataset.price)")
    ]
    assert shown and all(price <= MAX_PRICE for price in shown)
    expect(page.locator("#results-title")).to_contain_text("striped red shirt")
    expect(page.locator("#results-note")).to_contain_text(f"up to {MAX_PRICE}")
    screenshot(page, "1-words")

    first = cards.first
    code = first.get_attribute("data-product-code")
    first.locator("button.product-open").click()
    dialog = page.locator("#product-view")
    expect(dialog).to_be_visible()
    similar = dialog.locator("#similar-list .similar-item")
    expect(similar.first).to_be_visible(timeout=TIMEOUT_MS)
    codes = similar.evaluate_all("nodes => nodes.map(n => n.dataset.productCode)")
    assert code not in codes and len(codes) == len(set(codes)) == 4
    screenshot(page, "2-similar")

    target = codes[0]
    name = similar.first.locator(".similar-name").inner_text()
    similar.first.locator("button").click()
    expect(page.locator("#product-name")).to_have_text(name, timeout=TIMEOUT_MS)
    expect(dialog.locator("#similar-list .similar-item").first).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "code => [...document.querySelectorAll('#similar-list .similar-item')].length > 0 && "
        "[...document.querySelectorAll('#similar-list .similar-item')].every(n => n.dataset.productCode !== code)",
        arg=target,
        timeout=TIMEOUT_MS,
    )
    screenshot(page, "3-followed")


def test_blank_words_ask_for_words_and_send_nothing(page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.locator("#text-query").fill("   ")
    page.locator("#text-search button[type=submit]").click()
    expect(page.locator("#text-message")).to_contain_text("Type a few words")
    assert not any("/api/search/text" in url for url in requests)


def test_the_filters_travel_with_a_photo_search(page: Page, vitrine_home: Path) -> None:
    photo = sorted((vitrine_home / "demo" / "products").glob("SH*/01-front.jpg"))[0]
    page.locator("#filter-min").fill("10")
    page.locator("#filter-max").fill(str(MAX_PRICE))
    with page.expect_request(lambda request: request.url.endswith("/api/search"), timeout=TIMEOUT_MS) as sent:
        page.locator("#file-input").set_input_files(photo)
    body = sent.value.post_data_json
    assert body["min_price"] == 10 and body["max_price"] == MAX_PRICE and "image" in body
    expect(page.locator("#results .card").first.or_(page.locator("#boxes button.box").first)).to_be_visible(
        timeout=TIMEOUT_MS
    )
