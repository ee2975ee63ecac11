"""The product view in Chromium against the real local server (tiny models, demo catalog described at
ingestion by the offline writer).

Given search results, when the shopper opens a result's details, then they see its photos, the attributes
read from its photo as chips, the description with its provenance (labelled as not written by AI), and can
ask a question about the photo: answered through the API, refused politely when empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Screenshot = Callable[[Page, str], Path]
TIMEOUT_MS = 60_000


def search_results(page: Page, photo: Path, topmost_box: Callable[[Locator], Locator]) -> None:
    """Search ``photo``; pick an item when the page asks which one."""
    page.locator("#file-input").set_input_files(photo)
    cards, boxes = page.locator("#results .card"), page.locator("#boxes button.box")
    expect(cards.first.or_(boxes.first)).to_be_visible(timeout=TIMEOUT_MS)
    if not cards.first.is_visible():
        topmost_box(boxes).click()
    expect(cards.first).to_be_visible(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def catalog_photo(vitrine_home: Path) -> Path:
    photos = sorted((vitrine_home / "demo" / "products").glob("SH*/01-front.jpg"))
    assert photos, "vitrine prepare wrote no shirt photos"
    return photos[0]


def test_product_view_from_a_result_shows_attributes_description_and_answers(
    page: Page, catalog_photo: Path, screenshot: Screenshot, topmost_box: Callable[[Locator], Locator]
) -> None:
    search_results(page, catalog_photo, topmost_box)
    first = page.locator("#results .card").first
    details = first.locator("button.product-open")
    expect(details).to_be_visible()
    code = first.get_attribute("data-product-code")
    assert code

    details.click()
    dialog = page.locator("#product-view")
    expect(dialog).to_be_visible()
    expect(page.locator("#product-attributes .chip").first).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("#product-attributes .chip").count() >= 3
    description = page.locator("#product-description")
    expect(description).not_to_have_class("product-description missing")
    assert len(description.inner_text().strip()) >= 40
    provenance = page.locator("#product-provenance")
    expect(provenance).to_contain_text("Not written by AI")
    expect(provenance).to_contain_text("blip2_attributes")
    expect(dialog.locator(".product-main-photo")).to_be_visible()
    page.wait_for_function("document.querySelector('.product-main-photo')?.naturalWidth > 0")
    expect(dialog.locator(".product-note")).to_contain_text("not meaningful")  # tiny models, said so
    screenshot(page, "1-product")

    dialog.locator("#product-ask button[type=submit]").click()
    answer = page.locator("#product-answer")
    expect(answer).to_contain_text("Please type a question")
    expect(answer).to_have_class("product-answer error")

    page.locator("#product-question").fill("Is it cotton?")
    page.locator("#product-question").press("Enter")
    expect(answer).to_contain_text("Answer:", timeout=TIMEOUT_MS)
    assert len(answer.inner_text().removeprefix("Answer:").strip()) > 0
    screenshot(page, "2-answer")

    page.locator("#product-close").click()
    expect(dialog).to_be_hidden()
