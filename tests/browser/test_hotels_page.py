"""The hotel operator page in Chromium against the real local server (``vitrine serve`` after ``vitrine
prepare``, which generated and classified the demo hotels).

Given the operator token, when an operator opens ``hotels.html``, signs in and picks a hotel, then the
gallery shows the photos in the API's order with the cover first and badged, chips filter it by category,
score and confidence show on hover; pinning another photo makes it the cover (on the page and in the API),
and unpinning gives the cover back to the ranker's choice.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import DESKTOP, open_page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Screenshot = Callable[[Page, str], Path]
GALLERY_IDS = "els => els.map(e => e.dataset.imageId)"


def api(server_url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{server_url}api/{path}", timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def hotels_page(browser: Browser, server_url: str, vitrine_home: Path) -> Iterator[Page]:
    """hotels.html, signed in with the token `vitrine serve` made, the first hotel chosen."""
    token = (vitrine_home / "operator-token").read_text().strip()
    for page in open_page(browser, f"{server_url}hotels.html", viewport=DESKTOP):
        token_box = page.get_by_label("Operator token")
        expect(token_box).to_be_focused()
        token_box.fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#gallery li").first).to_be_visible()
        yield page


def test_signing_in_before_the_list_arrives_still_opens_the_first_hotel(
    browser: Browser, server_url: str, vitrine_home: Path
) -> None:
    """An operator quicker than a slow hotel list (a busy server) gets the first gallery once the list comes."""
    token = (vitrine_home / "operator-token").read_text().strip()
    held: list[Route] = []
    for page in open_page(browser, f"{server_url}hotels.html", viewport=DESKTOP):
        page.route("**/api/hotels?*", lambda route: held.append(route))  # held until released below
        page.reload()
        for _ in range(200):
            if held:
                break
            page.wait_for_timeout(50)
        page.get_by_label("Operator token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#message")).to_have_text("Signed in.")
        expect(page.locator("#hotels button")).to_have_count(0)  # no list yet
        for route in held:
            route.continue_()
        expect(page.locator("#hotels button[aria-current='true']")).to_have_count(1)
        expect(page.locator("#gallery li").first).to_be_visible()


def chosen_hotel(page: Page) -> str:
    return page.locator("#hotels button[aria-current='true']").get_attribute("data-hotel-id") or ""


def test_the_shop_page_links_to_the_operator_page(browser: Browser, server_url: str) -> None:
    for page in open_page(browser, server_url, viewport=DESKTOP):
        page.get_by_role("link", name="Hotel images (operators)").click()
        expect(page).to_have_title("Vitrine — hotel images")


def test_the_gallery_shows_in_order_cover_first_with_chips_and_figures_on_hover(
    hotels_page: Page, server_url: str, screenshot: Screenshot
) -> None:
    page = hotels_page
    hotel_id = chosen_hotel(page)
    detail = api(server_url, f"hotels/{hotel_id}")
    ids = page.locator("#gallery li").evaluate_all(GALLERY_IDS)
    assert ids == [image["image_id"] for image in detail["images"]]  # the API's display order
    first = page.locator("#gallery li").first
    expect(first.locator(".cover-badge")).to_have_text("Cover")
    expect(page.locator("#gallery .cover-badge")).to_have_count(1)
    assert detail["images"][0]["is_cover"]
    title = first.get_attribute("title") or ""
    assert "score" in title and "confidence" in title
    banner = page.locator("#demo-banner")
    expect(banner).to_be_visible()  # a tiny ranker: the page says so, and which labeller it has
    if "llava" in api(server_url, "health")["demo_models"]:
        expect(banner).to_contain_text("labels from a demo model trained on synthetic hotels")
    else:
        expect(banner).to_contain_text("labels and covers are not meaningful")
    screenshot(page, "1-gallery")

    category = detail["images"][-1]["category"]
    wanted = [image["image_id"] for image in detail["images"] if image["category"] == category]
    page.locator("#chips .chip", has_text=f"{category} (").click()
    shown = page.locator("#gallery li:not([hidden])").evaluate_all(GALLERY_IDS)
    assert shown == wanted
    screenshot(page, "2-one-category")
    page.locator("#chips .chip", has_text="All (").click()
    expect(page.locator("#gallery li:not([hidden])")).to_have_count(len(ids))


def test_pinning_a_photo_makes_it_the_cover_and_unpinning_gives_it_back(
    hotels_page: Page, server_url: str, screenshot: Screenshot
) -> None:
    page = hotels_page
    hotel_id = chosen_hotel(page)
    before = api(server_url, f"hotels/{hotel_id}")
    chosen = before["cover"]["image_id"]
    target = before["images"][-1]["image_id"]
    assert target != chosen
    page.locator(f"#gallery li[data-image-id='{target}']").get_by_role("button", name="Use as cover").click()
    first = page.locator("#gallery li").first
    expect(first).to_have_attribute("data-image-id", target)
    expect(first.locator(".cover-badge")).to_have_text("Cover · pinned")
    expect(page.locator("#gallery .cover-badge")).to_have_count(1)
    expect(page.locator("#cover-note")).to_contain_text("pinned")
    assert api(server_url, f"hotels/{hotel_id}")["cover"]["image_id"] == target
    screenshot(page, "1-pinned")

    page.reload()  # the pin is stored, not a page state
    page.locator(f"#hotels button[data-hotel-id='{hotel_id}']").click()
    expect(page.locator("#gallery li").first).to_have_attribute("data-image-id", target)

    page.locator("#gallery li").first.get_by_role("button", name="Unpin").click()
    expect(page.locator("#gallery li").first).to_have_attribute("data-image-id", chosen)
    expect(page.locator("#gallery li").first.locator(".cover-badge")).to_have_text("Cover")
    assert api(server_url, f"hotels/{hotel_id}")["cover"]["image_id"] == chosen
    screenshot(page, "2-unpinned")
