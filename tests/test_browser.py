"""The page in a real browser: load an example, click SAM positive + a box, see panels and metrics change."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import chromium, click_image, image_src, open_app, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "browser"


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with chromium() as b:
        yield b


def _changed(page, selector: str, before: str | None, timeout: float = 180_000) -> str:
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img');"
        " return i && i.src && i.src !== old; }",
        arg=[selector, before or ""],
        timeout=timeout,
    )
    return image_src(page, selector)


def _text_changed(page, selector: str, before: str, timeout: float = 180_000) -> str:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel); return e && e.innerText.trim() !== old; }",
        arg=[selector, before],
        timeout=timeout,
    )
    return page.locator(selector).inner_text().strip()


def test_example_click_box_and_second_image(random_app, browser):
    page = open_app(browser, random_app.url)
    other_user = open_app(browser, random_app.url)

    page.locator("#examples img").nth(0).click()
    page.wait_for_selector("#ocrnet-legend .legend", timeout=180_000)
    page.wait_for_function(
        "document.querySelector('#metrics-table').innerText.includes('background')", timeout=60_000
    )
    first_ocrnet = image_src(page, "#ocrnet-panel")
    first_metrics = page.locator("#metrics-table").inner_text()
    assert "background" in first_metrics and "RANDOM WEIGHTS" in page.locator("#model-status").inner_text()

    # positive click on the SAM panel -> a mask, candidates with scores, numbers against GT
    sam_before = image_src(page, "#sam-panel")
    click_image(page, "#sam-panel", 0.5, 0.45)
    sam_after_click = _changed(page, "#sam-panel", sam_before)
    page.wait_for_selector("#sam-candidates label", timeout=60_000)
    info = page.locator("#sam-info").inner_text()
    assert "SAM mask" in info and ("best GT instance" in info or "overlaps no ground-truth" in info)

    # a box from two clicks replaces the mask again
    page.get_by_label("box (two clicks)").check()
    click_image(page, "#sam-panel", 0.2, 0.2)
    after_corner = _changed(page, "#sam-panel", sam_after_click)  # the pending corner is drawn
    click_image(page, "#sam-panel", 0.8, 0.7)
    _changed(page, "#sam-panel", after_corner)
    page.wait_for_function("document.querySelector('#sam-info').innerText.includes('SAM mask')")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "after_box.png"), full_page=True)

    # the other user's session saw none of this
    assert other_user.locator("#sam-candidates label").count() == 0
    assert "SAM mask" not in other_user.locator("#sam-info").inner_text()

    # a second example: OCRNet overlay and the metrics table change
    page.locator("#examples img").nth(1).click()
    _changed(page, "#ocrnet-panel", first_ocrnet)
    second_metrics = _text_changed(page, "#metrics-table", first_metrics.strip())
    assert second_metrics != first_metrics
    page.screenshot(path=str(SCREENSHOTS / "second_example.png"), full_page=True)
    assert (SCREENSHOTS / "after_box.png").stat().st_size > 10_000
