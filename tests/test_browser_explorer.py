"""The explorer in a real browser: JupyterLab on a loopback port, headless Chromium through Playwright.

One JupyterLab server and one Chromium (fresh profile) per module; a small notebook
opens a tiny synthetic run and shows the explorer. The tests drive it as a user
does — run all cells, arrow keys on the slider, Play, the grouping buttons, the
dropdowns — and check what the page shows: a new frame for every action, canvases
at their natural size (device pixel ratio 1 and 2), no console errors, no request
leaving the machine, and after saving, shutting the kernel down and reopening: the
explorer again (from the saved widget state), no "Error displaying widget".

Latencies (in-page: key press or click to the new frame painted) and screenshots go
to the artifacts folder (``$ACTCONF_ARTIFACTS`` or a pytest temporary folder; the
path is printed). Speed is judged in ``benchmarks/bench_explorer.py``, not here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from actconf import _browser
from actconf.testing import synthetic_arrays, write_synthetic_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
WHY_NOT = _browser.browser_available()
if WHY_NOT and os.environ.get("ACTCONF_REQUIRE_BROWSER") != "1":
    pytest.skip(f"no browser here: {WHY_NOT}", allow_module_level=True)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return _browser.artifacts_folder("explorer", tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def notebook_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    from actconf.layout import layout_from_run

    run = write_synthetic_run(root / "run", **synthetic_arrays(n_samples=120, n_classes=4, sizes=(24, 12)))
    for layer in run.layers:  # saved layouts: the explorer loads them (no UMAP in the kernel)
        layout_from_run(run, layer, method="pca").save(run)
    _browser.explorer_notebook(root / "explorer.ipynb", run.path, by="class")
    return root


@pytest.fixture(scope="module")
def lab(notebook_root):
    server = _browser.JupyterLab(notebook_root, env={"PYTHONPATH": str(REPO / "src")})
    with server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with _browser.Browser(width=1440, height=1000) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def session(lab, browser, artifacts):
    """The notebook opened and run once; the explorer on screen."""
    s = _browser.LabSession(lab, browser, "explorer.ipynb")
    s.open()
    s.run_all()
    s.explorer()
    s.page.screenshot(path=str(artifacts / "01-run-all.png"))
    yield s
    print(f"server log tail:\n{lab.log_text()[-1500:]}" if s.log.page_errors else "")


def frame(s):
    return s.page.evaluate("() => Number(document.querySelector('.actconf-explorer').dataset.frame)")


def maps_pixels(s):
    """A digest of what the map canvases show."""
    return s.page.evaluate("() => Array.from(document.querySelectorAll('.actconf-explorer canvas.ac-maps'))"
                           ".map(c => c.toDataURL()).join('|')")


def test_controls_keys_and_play_change_the_frame(session, artifacts):
    s, page = session, session.page
    for selector in (".ac-play", ".ac-slider", ".ac-layer", ".ac-measure", ".ac-fps"):
        assert page.locator(selector).is_visible(), selector
    assert page.locator(".ac-group").all_inner_texts() == ["class", "confidence", "correct / wrong",
                                                            "class × confidence"]
    assert frame(s) == 5 and page.locator(".ac-snapshot").inner_text() == "epoch 3"  # initial, 2 batches, 3 epochs
    page.locator(".ac-slider").focus()
    latencies, before = [], maps_pixels(s)
    for expected in (4, 3, 2, 1, 0):
        result = s.measure(lambda: page.keyboard.press("ArrowLeft"))
        assert result["frame"] == expected
        latencies.append(result["ms"])
    assert page.locator(".ac-snapshot").inner_text() == "initial"
    assert maps_pixels(s) != before
    latencies += [s.measure(lambda: page.keyboard.press("ArrowRight"))["ms"] for _ in range(3)]
    assert frame(s) == 3
    page.screenshot(path=str(artifacts / "02-keys.png"))
    page.keyboard.press("Home")
    times = page.evaluate("() => window.__acPlay(5)")  # clicks Play: frames 1..5 drawn without the kernel
    assert frame(s) == 5 and len(times) == 5
    record = {"key_ms": latencies, "key": _browser.summary(latencies),
              "play_fps": round(4 / ((times[-1] - times[0]) / 1000), 1)}
    (artifacts / "latencies-keys.json").write_text(json.dumps(record, indent=1))
    print(record)


def test_grouping_and_dropdowns_change_the_frame(session, artifacts):
    s, page = session, session.page
    scenes, seen, record, titles, sources = set(), {}, {}, {}, {}
    for name, action, kind in [
        ("grouping", lambda: page.locator(".ac-group", has_text="confidence").first.click(), "click"),
        ("layer", lambda: page.select_option(".ac-layer", "dense_1"), "change"),
        ("measure", lambda: page.select_option(".ac-measure", "margin"), "change"),
        ("grouping correct", lambda: page.locator(".ac-group", has_text="correct / wrong").click(), "click"),
        ("grouping back", lambda: page.locator(".ac-group", has_text="class").first.click(), "click"),
    ]:
        before = maps_pixels(s)
        result = s.measure(action, kind, scene=True)
        record[name] = result["ms"]
        assert result["scene"] not in scenes and maps_pixels(s) != before
        scenes.add(result["scene"])
        seen[name] = result["scene"]
        titles[name] = page.locator(".ac-title").first.inner_text()
        sources[name] = page.evaluate("() => document.querySelector('.actconf-explorer').dataset.drawnFrom")
        page.screenshot(path=str(artifacts / f"03-{name.replace(' ', '-')}.png"))
    assert titles["grouping"].startswith("layer dense ·") and "by confidence" in titles["grouping"]
    assert titles["layer"].startswith("layer dense_1 ·")
    assert "margin" in titles["measure"] and "by class" in titles["grouping back"]
    # new settings come from the kernel; a setting seen before is drawn at once from the page's own copy
    assert set(sources.values()) == {"kernel"}
    assert page.locator(".ac-col-label").all_inner_texts()[:4] == ["class 0", "class 1", "class 2", "class 3"]
    result = s.measure(lambda: page.locator(".ac-group", has_text="correct / wrong").click(), "click", scene=True)
    record["grouping correct (seen before)"] = result["ms"]
    maps_key = lambda scene: scene.split("|corr|")[0]  # noqa: E731 - the maps' part of "maps|...|corr|..."
    assert maps_key(result["scene"]) == maps_key(seen["grouping correct"])
    assert page.evaluate("() => document.querySelector('.actconf-explorer').dataset.drawnFrom") == "page"
    (artifacts / "latencies-settings.json").write_text(json.dumps(record, indent=1))
    print(record)


def test_nothing_stretched_no_errors_nothing_leaves_the_machine(session):
    s = session
    sizes = s.page.evaluate("() => window.__acStretch()")
    assert len(sizes) >= 5 and _browser.stretched(sizes) == []
    assert s.log.page_errors == [] and s.log.console_errors == []
    assert s.log.blocked == [] and all(_browser.is_local(u) for u in s.log.requests)


def test_high_dpi_renders_at_the_device_pixel_ratio(lab, browser, artifacts, session):
    """A second page at device pixel ratio 2 opens the saved notebook and joins the running kernel; maps are
    rendered for it."""
    session.save()
    s = _browser.LabSession(lab, browser, "explorer.ipynb", scale=2, width=1280, height=900)
    s.open()
    s.explorer()
    # the page reports its pixel ratio; the kernel renders the maps at 2 x 100 pixels per side for it
    s.page.wait_for_function("() => document.querySelector('.actconf-explorer').dataset.resolution === '200'",
                             timeout=120_000)
    sizes = s.page.evaluate("() => window.__acStretch()")
    assert sizes and all(x["dpr"] == 2 for x in sizes) and _browser.stretched(sizes) == []
    s.page.screenshot(path=str(artifacts / "04-dpr2.png"))
    assert s.log.page_errors == [] and s.log.console_errors == [] and s.log.blocked == []
    s.page.close()


def test_reopened_notebook_shows_no_widget_errors(lab, browser, session, notebook_root, artifacts):
    session.save()
    saved = nbformat.read(str(notebook_root / "explorer.ipynb"), as_version=4)
    outputs = [o for o in saved.cells[1].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(outputs) == 1 and "image/jpeg" in outputs[0]["data"]  # the static image beside the widget
    progress = [o for o in saved.cells[1].outputs if "explorer of dense" in o.get("data", {}).get("text/plain", "")]
    assert progress and "application/vnd.jupyter.widget-view+json" not in progress[0]["data"]  # text, no widget
    session.shutdown_and_close()
    s = _browser.LabSession(lab, browser, "explorer.ipynb")
    s.open()
    s.explorer()  # drawn from the saved widget state, with a fresh kernel that never saw it
    assert s.page.locator("text=Error displaying widget").count() == 0
    s.page.locator(".ac-slider").focus()
    assert s.measure(lambda: s.page.keyboard.press("Home"))["frame"] == 0  # the frames are in the page
    s.page.screenshot(path=str(artifacts / "05-reopened.png"))
    assert s.log.page_errors == [] and s.log.blocked == []
    assert not [e for e in s.log.console_errors if "widget" in e.lower() or "model" in e.lower()]
