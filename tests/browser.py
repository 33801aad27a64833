"""Playwright driving Debian's Chromium (/usr/bin/chromium): Playwright's own browser download is offline."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

CHROMIUM = os.getenv("FASHIONDEMO_CHROMIUM", "/usr/bin/chromium")
# Without the networking switches Chromium keeps dialling Google hosts that this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)


def require_chromium() -> None:
    """Skip the calling test when there is no Chromium, or fail it where FASHIONDEMO_REQUIRE_BROWSER=1 (CI):
    there a missing browser must not pass for a skipped test."""
    import pytest

    if chromium_available():
        return
    if os.getenv("FASHIONDEMO_REQUIRE_BROWSER") == "1":
        pytest.fail("Chromium is required here (FASHIONDEMO_REQUIRE_BROWSER=1): apt-get install chromium")
    pytest.skip(reason=f"no {CHROMIUM} on this machine (CI installs it: see .ci/run)")


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium (Playwright Browser) that is closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_app(browser, url: str, width: int = 1600, height: int = 1400):
    """A new page (its own browser context = its own Gradio session) on the app, loaded."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#examples img", timeout=60_000)
    return page


def click_image(page, selector: str, fx: float, fy: float) -> None:
    """Click the displayed image at fractions (fx, fy) of its rendered size."""
    image = page.locator(f"{selector} img").first
    box = image.bounding_box()
    image.click(position={"x": box["width"] * fx, "y": box["height"] * fy})


def image_src(page, selector: str) -> str | None:
    image = page.locator(f"{selector} img").first
    return image.get_attribute("src") if image.count() else None
