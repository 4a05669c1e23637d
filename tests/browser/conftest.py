"""A real browser: Debian's chromium, driven by playwright (no browser download), against the
real service (`tests/portal/conftest.py`: dev server, worker, web app, outbox).

Every test module here sets `pytestmark = pytest.mark.browser`, so `pytest -m browser` runs them alone. A
missing chromium fails the test and says how to install it: it is never a silent skip.
Each page a test visits is kept as a screenshot under `.smo/screenshots/`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from models.settings import PROJECT_ROOT
from tests.portal.conftest import Site, dev_env, site, smo_home, web_socket

__all__ = ["CHROMIUM", "Shots", "Site", "dev_env", "site", "smo_home", "web_socket"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / ".smo" / "screenshots"


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: run `make chromium`"
            " (as root it runs apt-get install chromium)",
            pytrace=False,
        )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


class Shots:
    """Screenshots named after the test and the page, numbered in the order taken."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", test_name)
        self.n = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(self, page: Page, name: str) -> Path:
        self.n += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.n:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    """A phone-sized page: the portal must work there."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, timezone_id="America/New_York"
    )
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
