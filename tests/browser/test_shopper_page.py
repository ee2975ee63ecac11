"""The shopper's page in Chromium against the real local server (tiny models, demo catalog).

Given a prepared server, when a shopper uses the page as they would, then they see what issue 4 promises:
the items of a street photo to pick from, at most five similar products with their details, readable
errors, the demo banner, a keyboard path, and a layout that fits a phone.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

# One worker runs them all, so `vitrine prepare` for the page runs once per session.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Screenshot = Callable[[Page, str], Path]
BOX_LABEL = re.compile(r"^\S.*, \d{1,3}%$")
MAX_RESULTS = 5
SEARCH_TIMEOUT_MS = 60_000
SEARCH_ROUTE = "**/api/search"


def choose_photo(page: Page, photo: Path) -> None:
    page.locator("#file-input").set_input_files(photo)


def item_boxes(page: Page) -> Locator:
    boxes = page.locator("#boxes button.box")
    expect(boxes.first).to_be_visible(timeout=SEARCH_TIMEOUT_MS)
    return boxes


def result_cards(page: Page) -> Locator:
    cards = page.locator("#results .card")
    expect(cards.first).to_be_visible(timeout=SEARCH_TIMEOUT_MS)
    return cards


def assert_product_cards(cards: Locator) -> None:
    """Each card shows what a shopper decides on: a name, a price and a match strength."""
    assert 1 <= cards.count() <= MAX_RESULTS
    for card in cards.all():
        assert card.locator(".card-name").inner_text().strip()
        assert re.search(r"\d", card.locator(".card-price").inner_text())
        assert re.fullmatch(r"\d{1,3}% match", card.locator(".match-text").inner_text().strip())


def test_page_street_photo_boxes_then_five_products(
    page: Page, multi_item_photo: Path, screenshot: Screenshot, topmost_box: Callable[[Locator], Locator]
) -> None:
    screenshot(page, "1-start")

    choose_photo(page, multi_item_photo)
    boxes = item_boxes(page)
    assert boxes.count() >= 2
    for box in boxes.all():
        assert BOX_LABEL.match(box.get_attribute("aria-label") or "")
    screenshot(page, "2-boxes")

    picked = topmost_box(boxes)
    picked.click()
    assert_product_cards(result_cards(page))
    expect(picked).to_have_attribute("aria-pressed", "true")
    first_image = "document.querySelector('#results .card img')"
    page.wait_for_function(f"{first_image}?.complete && {first_image}.naturalWidth > 0")
    expect(page.locator("#status")).to_contain_text("similar products")
    screenshot(page, "3-results")


DROPPED_FILE = """({ name, base64 }) => {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
  return transfer;
}"""


def test_page_photo_dropped_on_page_is_searched(page: Page, multi_item_photo: Path) -> None:
    encoded = base64.b64encode(multi_item_photo.read_bytes()).decode()
    transfer = page.evaluate_handle(DROPPED_FILE, {"name": multi_item_photo.name, "base64": encoded})
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_have_class(re.compile("dragging"))

    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    assert item_boxes(page).count() >= 2
    expect(page.locator("#drop-zone")).not_to_have_class(re.compile("dragging"))


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("notes.txt", "text/plain"), ("notes.jpg", "image/jpeg")],
    ids=["text-file", "text-named-jpg"],
)
def test_page_text_file_shows_readable_error(
    page: Page, tmp_path: Path, screenshot: Screenshot, name: str, content_type: str
) -> None:
    page.locator("#file-input").set_input_files(
        {"name": name, "mimeType": content_type, "buffer": b"Shopping list: socks, a scarf.\n"}
    )
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(name)
    expect(alert).to_contain_text(re.compile("JPEG|PNG"))
    expect(page.locator("#results .card")).to_have_count(0)
    expect(page.locator("#photo-section")).to_be_hidden()
    screenshot(page, "error")


def test_page_tiny_models_banner(page: Page, server_url: str, screenshot: Screenshot) -> None:
    """Search trained on the synthetic shop (demo-models/, installed by prepare) says so; tiny random
    models say their results are not meaningful."""
    with urllib.request.urlopen(f"{server_url}api/health") as response:
        health = json.loads(response.read())
    assert health["tiny_models"] is True  # the detector, the ranker and the attribute model stay tiny
    banner = page.locator("#demo-banner")
    expect(banner).to_be_visible()
    if "dino_embed" in health["demo_models"]:
        expect(banner).to_contain_text("demo models trained on synthetic data")
    else:
        expect(banner).to_contain_text("results are not meaningful")
    screenshot(page, "banner")


def test_page_keyboard_tab_to_box_and_enter(
    page: Page, multi_item_photo: Path, screenshot: Screenshot
) -> None:
    choose_photo(page, multi_item_photo)
    item_boxes(page)
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('box')"):
            break
    else:
        pytest.fail("Tab never reached an item box")
    focused = page.locator("#boxes button.box:focus")
    assert BOX_LABEL.match(focused.get_attribute("aria-label") or "")
    screenshot(page, "1-box-focused")

    page.keyboard.press("Enter")
    assert_product_cards(result_cards(page))
    expect(page.locator("#results-title")).to_be_focused()
    screenshot(page, "2-results")


def test_page_phone_viewport_fits_without_horizontal_scroll(
    phone_page: Page,
    multi_item_photo: Path,
    screenshot: Screenshot,
    topmost_box: Callable[[Locator], Locator],
) -> None:
    choose_photo(phone_page, multi_item_photo)
    topmost_box(item_boxes(phone_page)).tap()
    cards = result_cards(phone_page)
    assert_product_cards(cards)
    phone_page.wait_for_load_state("networkidle")
    screenshot(phone_page, "results")

    page_width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390
    card_box = cards.first.bounding_box()
    assert card_box is not None and card_box["x"] >= 0 and card_box["x"] + card_box["width"] <= 390


def test_page_busy_service_error_then_try_again(
    page: Page, multi_item_photo: Path, screenshot: Screenshot
) -> None:
    def busy(route: Route) -> None:
        route.fulfill(
            status=503,
            headers={"Retry-After": "20"},
            json={"error": "unavailable", "message": "The search models are starting."},
        )

    page.route(SEARCH_ROUTE, busy, times=1)
    choose_photo(page, multi_item_photo)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The search models are starting. Try again in 20 seconds.")
    screenshot(page, "busy")

    alert.get_by_role("button", name="Try again").click()
    item_boxes(page)
    expect(alert).to_be_empty()


def test_page_no_item_found_then_search_whole_photo(page: Page, multi_item_photo: Path) -> None:
    sent_boxes: list[object] = []

    def nothing_found_without_box(route: Route) -> None:
        box = route.request.post_data_json.get("box")
        sent_boxes.append(box)
        if box is None:
            route.fulfill(json={"status": "no_object", "message": "No clothes, shoes or hats in this photo."})
        else:
            route.continue_()

    page.route(SEARCH_ROUTE, nothing_found_without_box)
    choose_photo(page, multi_item_photo)
    empty = page.locator("#empty")
    expect(empty).to_contain_text("No clothes, shoes or hats in this photo.")
    expect(page.locator("#empty-title")).to_be_focused()

    empty.get_by_role("button", name="Search the whole photo").click()
    assert_product_cards(result_cards(page))
    assert sent_boxes == [None, [0, 0, 1, 1]]
    expect(empty).to_be_hidden()


LARGE_PHOTO_SEARCH = """async () => {
  const { searchPhoto } = await import("./api.js");
  const canvas = Object.assign(document.createElement("canvas"), { width: 2600, height: 2600 });
  const context = canvas.getContext("2d");
  const noise = context.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < noise.data.length; i++) noise.data[i] = (i * 2654435761) % 251;
  context.putImageData(noise, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.95));
  const first = await searchPhoto(blob, null);
  const second = await searchPhoto(blob, [0, 0, 1, 1]);
  return { size: blob.size, statuses: [first.status, second.status] };
}"""


def test_page_photo_over_4mb_uploaded_once_then_searched_by_key(page: Page) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request) if "/api/" in request.url else None)

    outcome = page.evaluate(LARGE_PHOTO_SEARCH)

    assert outcome["size"] > 4 * 1024 * 1024
    assert outcome["statuses"][1] == "results"
    asked = [r for r in requests if r.url.endswith("/api/uploads")]
    searches = [r.post_data_json for r in requests if r.url.endswith("/api/search")]
    assert len(asked) == 1
    assert len(searches) == 2
    assert all("image" not in body and body["upload_key"] for body in searches)
    assert searches[0]["upload_key"] == searches[1]["upload_key"]
