"""report.html in a real browser (headless Chromium through Playwright), opened from disk.

Every image loads, the sliders change the frame (arrow keys and Play), no console
errors, every request stays on the machine (file: or data:), and no image is shown
smaller than its pixels (so the figures' 7-9 pt text stays at least 9 CSS px).
Screenshots go to the artifacts folder (``$ACTCONF_ARTIFACTS`` or a pytest temporary
folder; the path is printed).
"""

from __future__ import annotations

import os

import pytest

from actconf import _browser
from actconf.testing import report_arrays, write_synthetic_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WHY_NOT = _browser.browser_available()
if WHY_NOT and os.environ.get("ACTCONF_REQUIRE_BROWSER") != "1":
    pytest.skip(f"no browser here: {WHY_NOT}", allow_module_level=True)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return _browser.artifacts_folder("report", tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from actconf.report import build_report

    run = write_synthetic_run(tmp_path_factory.mktemp("report-browser") / "run", **report_arrays())
    return build_report(run, method="pca", compare=False, progress=False), run.n_snapshots


@pytest.fixture(scope="module")
def page(report, artifacts):
    report, _ = report
    with _browser.Browser(width=1280, height=900) as chromium:
        page, log = chromium.page()
        page.goto(report.as_uri())
        page.wait_for_selector("figure.slider[data-ready]")
        page.screenshot(path=str(artifacts / "01-top.png"))
        yield page, log


def test_every_image_loads_at_its_natural_size(page, artifacts):
    page, _ = page
    images = page.evaluate("() => Array.from(document.images).map(i => ({complete: i.complete, w: i.naturalWidth,"
                           " h: i.naturalHeight, cssW: i.clientWidth, cssH: i.clientHeight, dpr: window.devicePixelRatio,"
                           " alt: i.alt}))")
    assert len(images) >= 15
    assert all(im["complete"] and im["w"] > 100 and im["h"] > 50 for im in images), images
    shown = [im for im in images if im["cssW"] > 0]  # not the GIF inside the closed <details>
    assert len(shown) >= len(images) - 1
    assert _browser.stretched(shown) == []
    font_px = page.evaluate("() => Math.min(...Array.from(document.querySelectorAll('body *'))"
                            ".filter(e => e.childNodes.length && Array.from(e.childNodes).some(n => n.nodeType === 3"
                            " && n.textContent.trim())).map(e => parseFloat(getComputedStyle(e).fontSize)))")
    assert font_px >= 9
    page.locator("#maps").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "02-maps.png"))


def test_sliders_change_the_frame(page, report, artifacts):
    page, _ = page
    n_snapshots = report[1]
    sliders = page.locator("figure.slider")
    assert sliders.count() == 3
    for k in range(3):
        figure = sliders.nth(k)
        img = figure.locator("img.slider-frame")
        last = img.get_attribute("src")
        label = figure.locator(".slider-label").inner_text()
        assert figure.get_attribute("data-frame") == str(n_snapshots - 1)
        figure.locator("input[type=range]").focus()
        page.keyboard.press("ArrowLeft")
        assert figure.get_attribute("data-frame") == str(n_snapshots - 2)
        assert img.get_attribute("src") != last and figure.locator(".slider-label").inner_text() != label
        page.keyboard.press("Home")
        assert figure.get_attribute("data-frame") == "0"
    first = sliders.nth(0)
    first.scroll_into_view_if_needed()
    first.locator("button.play").click()
    page.wait_for_function("() => document.querySelector('figure.slider').dataset.frame === "
                           f"'{n_snapshots - 1}'", timeout=20_000)
    page.locator("#animation").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "03-sliders.png"))


def test_no_errors_and_nothing_leaves_the_machine(page):
    page, log = page
    assert log.console_errors == [] and log.page_errors == []
    assert log.requests and all(url.startswith(("file://", "data:")) for url in log.requests), log.requests
    assert log.blocked == []
