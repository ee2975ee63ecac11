"""The operator area of the page in Chromium against the real local server (``vitrine serve``).

Given the server's operator token (``VITRINE_HOME/operator-token``, printed by ``vitrine serve``), when an
operator opens the area, then the page asks for the token once, refuses a wrong one, shows the ingestion
report with the right one, keeps the token in localStorage (a reload does not ask again, and every report
request carries it as ``Authorization: Bearer``), and forgets it on sign-out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Screenshot = Callable[[Page, str], Path]
TOKEN_KEY = "vitrine.operatorToken"
REPORT_ROUTE = re.compile(r"/api/ops/ingest/report")


@pytest.fixture(scope="session")
def operator_token(vitrine_home: Path, server_url: str) -> str:
    """The token `vitrine serve` made in its home when it started."""
    token = (vitrine_home / "operator-token").read_text().strip()
    assert token, "vitrine serve left no operator token"
    return token


def open_operator_area(page: Page) -> None:
    page.get_by_role("button", name="Operator area").click()
    expect(page.locator("#ops")).to_be_visible()


def test_operator_signs_in_once_and_sees_the_ingestion_report(
    page: Page, operator_token: str, screenshot: Screenshot
) -> None:
    report_requests: list[Request] = []
    page.on("request", lambda r: report_requests.append(r) if REPORT_ROUTE.search(r.url) else None)

    expect(page.locator("#ops")).to_be_hidden()  # shoppers do not see it
    open_operator_area(page)
    token_box = page.get_by_label("Operator token")
    expect(token_box).to_be_visible()
    expect(token_box).to_be_focused()
    assert report_requests == []  # nothing is asked of the API before there is a token
    screenshot(page, "1-asks-for-token")

    token_box.fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#ops-message")).to_contain_text("not accepted")
    expect(token_box).to_be_visible()
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None
    screenshot(page, "2-wrong-token")

    token_box.fill(operator_token)
    page.get_by_role("button", name="Sign in").click()
    report = page.locator("#ops-report")
    expect(report).to_be_visible()
    expect(token_box).to_be_hidden()
    counts = page.locator("#ops-counts")
    expect(counts).to_contain_text("indexed")
    indexed = counts.locator("dt", has_text="indexed").locator("xpath=following-sibling::dd[1]")
    assert int(indexed.inner_text()) > 0
    rows = page.locator("#ops-items tr")
    expect(rows.first).to_be_visible()
    assert rows.first.locator("td").first.inner_text().startswith("products/")
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") == operator_token
    assert report_requests[-1].headers["authorization"] == f"Bearer {operator_token}"
    screenshot(page, "3-report")

    page.locator("#ops-status").select_option("indexed")
    expect(page.locator("#ops-message")).to_contain_text("records shown")
    page.wait_for_function(
        "[...document.querySelectorAll('#ops-items tr')].every(r => r.classList.contains('status-indexed'))"
    )
    assert "status=indexed" in report_requests[-1].url

    # A reload keeps the token: the report comes back without asking again.
    page.reload()
    open_operator_area(page)
    expect(report).to_be_visible()
    expect(token_box).to_be_hidden()
    assert report_requests[-1].headers["authorization"] == f"Bearer {operator_token}"

    page.get_by_role("button", name="Sign out").click()
    expect(token_box).to_be_visible()
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None
    screenshot(page, "4-signed-out")


def test_a_kept_token_that_stops_working_is_forgotten_and_asked_again(page: Page) -> None:
    page.evaluate(f"localStorage.setItem('{TOKEN_KEY}', 'a-token-from-an-old-home')")
    open_operator_area(page)
    expect(page.get_by_label("Operator token")).to_be_visible()
    expect(page.locator("#ops-message")).to_contain_text("not accepted")
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None


def test_operator_area_link_opens_it_directly(page: Page, server_url: str) -> None:
    page.goto(f"{server_url}#ops")
    expect(page.locator("#ops")).to_be_visible()
    expect(page.get_by_label("Operator token")).to_be_visible()
