"""Browser tests: the real local server, prepared with tiny models and a small demo catalog, driven
through Debian's Chromium with Playwright.

The server is the one a developer gets from ``make run`` (``vitrine prepare`` then ``vitrine serve``), in
a subprocess with its own ``VITRINE_HOME``, so these tests cover the page, the local HTTP server, the
API and the search pipeline together. Chromium is Debian's (``/usr/bin/chromium``), never a downloaded
build, started with flags that keep it off the network. Screenshots of every step are kept under
``test-artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

# CI runs the browser suite on 2 cores beside the other worker's model tests: a page that renders after a
# search can take longer than Playwright's 5 s default there. What the tests wait for is unchanged.
expect.set_options(timeout=20_000)

ROOT = Path(__file__).resolve().parents[2]
VITRINE = Path(sys.executable).with_name("vitrine")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PREPARE_TIMEOUT_S = 600
START_TIMEOUT_S = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without Chromium the browser tests skip on a developer's machine but fail in CI (which installs it)."""
    if CHROMIUM.exists() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install -y chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(home: Path) -> dict[str, str]:
    return {**os.environ, "VITRINE_HOME": str(home), "VITRINE_PROFILE": "local"}


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def vitrine_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared home: tiny models built, 24 demo products ingested, 4 street photos generated."""
    home = tmp_path_factory.mktemp("vitrine-home")
    log = home.parent / "prepare.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(VITRINE), "prepare", "--demo-products", "24", "--street", "4"],
            env=_server_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PREPARE_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(f"vitrine prepare exited {done.returncode}:\n{_tail(log)}")
    return home


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"vitrine serve exited {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"vitrine serve did not answer /api/health within {START_TIMEOUT_S} s:\n{_tail(log)}")


@pytest.fixture(scope="session")
def server_url(vitrine_home: Path) -> Iterator[str]:
    """The base URL (ending in ``/``) of ``vitrine serve`` running on a free port."""
    port = _free_port()
    log = vitrine_home.parent / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(VITRINE), "serve", "--port", str(port)],
            env=_server_env(vitrine_home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def street_photos(vitrine_home: Path) -> list[Path]:
    """The demo's street photos (several items each), as ``vitrine prepare --street`` wrote them."""
    photos = sorted((vitrine_home / "demo" / "street").glob("*.jpg"))
    assert photos, f"vitrine prepare wrote no street photos under {vitrine_home / 'demo' / 'street'}"
    return photos


# Runs in the page: prepares a photo and searches it with the page's own modules, so the API sees the
# very bytes the page sends (re-encoding changes what tiny random models detect).
ITEMS_FOUND_BY_PAGE = """async ({ name, base64 }) => {
  const { preparePhoto } = await import("./photo.js");
  const { searchPhoto } = await import("./api.js");
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  const photo = await preparePhoto(new File([bytes], name, { type: "image/jpeg" }));
  const answer = await searchPhoto(photo.blob, null);
  return answer.status === "choose" ? answer.boxes.length : 0;
}"""


@pytest.fixture(scope="session")
def multi_item_photo(browser: Browser, server_url: str, street_photos: list[Path]) -> Path:
    """A street photo for which the API, sent it by the page, asks the shopper to choose among items."""
    page = browser.new_page()
    page.goto(server_url)
    try:
        for photo in street_photos:
            encoded = base64.b64encode(photo.read_bytes()).decode()
            if page.evaluate(ITEMS_FOUND_BY_PAGE, {"name": photo.name, "base64": encoded}) >= 2:
                return photo
    finally:
        page.close()
    pytest.fail(
        f"the API found fewer than two items in every street photo: {[p.name for p in street_photos]}"
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Browser, url: str, **context_options: Any) -> Iterator[Page]:
    """A page in a fresh context that fails the test on any uncaught script error."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    yield page
    context.close()
    assert not errors, f"the page raised script errors: {errors}"


@pytest.fixture
def page(browser: Browser, server_url: str) -> Iterator[Page]:
    """The shopper's page on a desktop-sized screen."""
    yield from open_page(browser, server_url, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, server_url: str) -> Iterator[Page]:
    """The shopper's page on a phone-sized screen (390×844, touch)."""
    yield from open_page(
        browser,
        server_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Saves a full-page screenshot named after the test and the step, and returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, step: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.node.name}-{step}")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def topmost_box() -> Callable[[Locator], Locator]:
    """The item box a click at its centre reaches: the smallest boxes lie on top, so a large box whose centre
    holds a smaller one is picked by its edge, as a shopper would; a test clicks the one on top."""

    def pick(boxes: Locator) -> Locator:
        on_top = boxes.evaluate_all(
            "els => els.reduce((best, el, i) =>"
            " +getComputedStyle(el).zIndex > +getComputedStyle(els[best]).zIndex ? i : best, 0)"
        )
        return boxes.nth(int(on_top))

    return pick
