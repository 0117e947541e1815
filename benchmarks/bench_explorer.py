"""The explorer as a user feels it: latencies in JupyterLab + headless Chromium (Playwright).

The harness is the one of ``tests/test_browser_explorer.py`` (:mod:`actconf._browser`):
JupyterLab on a loopback port, Debian's Chromium, a notebook that shows
``explore(run, by="class+confidence")`` (a 3 x 10 grid of maps). Two runs:

- **digits**: ``actconf run --record-only`` defaults (the paper's MLP, 20 epochs,
  30 snapshots, 500 probe samples, 128 neurons), a PCA layout saved in the run;
- **2,048 neurons**: a synthetic run of the same shape with one 2,048-neuron layer.

Measured in the page (``performance.now()``): key press on the slider → the new frame
drawn and painted (the next animation frame, then a task after it); Play's frame rate
at 15 and 30 fps; changing the grouping, the measure (and the layer) → the new maps
painted, first (computed) and again (cached). Baseline in the same run: the same key
presses with ``frame_budget=0``, i.e. every frame comes from the kernel (a kernel
round trip per move, as the explorer worked before).

Run: ``.venv/bin/python benchmarks/bench_explorer.py [--run DIGITS_RUN] [--keys 40] [--before SRC]``
(about 5 minutes; records the digits run first unless ``--run`` is given). ``--before SRC``
first times the setting changes with another source tree (e.g. ``git archive main src |
tar -x -C /tmp/before``, then ``--before /tmp/before/src``): before/after at the same load.
Raw numbers: ``benchmarks/out/explorer.json``; screenshots next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"


def digits_run(folder: Path, given: str | None) -> Path:
    import actconf
    from actconf.cli import main as cli
    from actconf.layout import layout_from_run, list_layouts

    path = Path(given).resolve() if given else folder / "digits"
    if not given:
        assert cli(["run", "--out", str(path), "--record-only", "--quiet"]) == 0
    run = actconf.open_run(path)
    if list_layouts(run).empty:
        layout_from_run(run, run.layers[0], method="pca").save(run)
    return path


def wide_run(folder: Path, n_neurons: int = 2048, n_snap: int = 30, n_samples: int = 500) -> Path:
    """A synthetic run shaped like digits (30 snapshots, 500 samples, 10 classes), one wide layer."""
    from actconf.layout import layout_from_run
    from actconf.testing import synthetic_arrays, write_synthetic_run

    arrays = synthetic_arrays(n_snapshots=n_snap, n_samples=n_samples, sizes=(n_neurons,))
    run = write_synthetic_run(folder / "wide", **arrays)
    layout_from_run(run, run.layers[0], method="pca").save(run)
    return run.path


def keys(s, n: int) -> list[float]:
    """``n`` arrow-key presses sweeping the slider back and forth; in-page milliseconds each."""
    page = s.page
    page.locator(".ac-slider").focus()
    page.keyboard.press("End")
    total = int(page.evaluate("() => Number(document.querySelector('.ac-slider').max)"))
    out, direction = [], "ArrowLeft"
    for k in range(n):
        if k and k % total == 0:
            direction = "ArrowRight" if direction == "ArrowLeft" else "ArrowLeft"
        out.append(s.measure(lambda d=direction: page.keyboard.press(d))["ms"])
    return out


def play_fps(s, fps: int) -> float:
    page = s.page
    page.select_option(".ac-fps", str(fps))
    page.locator(".ac-slider").focus()
    page.keyboard.press("Home")
    frames = int(page.evaluate("() => Number(document.querySelector('.ac-slider').max)"))
    times = page.evaluate(f"() => window.__acPlay({frames})")
    return (len(times) - 1) / ((times[-1] - times[0]) / 1000)


def settings(s) -> dict[str, float]:
    page = s.page
    group = lambda name: lambda: page.locator(".ac-group", has_text=name).first.click()  # noqa: E731
    out = {}
    for name, action, kind in [
        ("grouping → class", group("class"), "click"),
        ("grouping → confidence", group("confidence"), "click"),
        ("grouping → correct / wrong", group("correct / wrong"), "click"),
        ("grouping → class (cached)", group("class"), "click"),
        ("measure → margin", lambda: page.select_option(".ac-measure", "margin"), "change"),
        ("measure → max_softmax (cached)", lambda: page.select_option(".ac-measure", "max_softmax"), "change"),
        # a new measure while the correlation views of the one before may still be computed
        ("measure → entropy", lambda: page.select_option(".ac-measure", "entropy"), "change"),
    ]:
        out[name] = s.measure(action, kind, scene=True, timeout=120_000)["ms"]
    return out


def screenshots(s, name: str) -> None:
    """The explorer at 1280 and 1920 px wide (file browser open), as a user's screen shows it."""
    page = s.page
    page.locator(".ac-group", has_text="class × confidence").click()
    page.wait_for_timeout(3000)
    for width, height in ((1280, 800), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(1500)  # the explorer re-lays itself out on resize
        page.locator(".actconf-explorer").scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / f"explorer-{name}-{width}.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


def summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1), "n": len(ms)}


def bench_one(lab, browser, root: Path, name: str, run_path: Path, n_keys: int) -> dict:
    from actconf import _browser

    result = {}
    for variant, extra in (("browser", ""), ("kernel round trip (baseline)", ", frame_budget=0")):
        notebook = f"{name}-{'kernel' if extra else 'browser'}.ipynb"
        _browser.explorer_notebook(root / notebook, run_path, by="class+confidence", extra=extra)
        s = _browser.LabSession(lab, browser, notebook)
        s.open()
        t0 = time.perf_counter()
        s.run_all()
        s.explorer()
        opened = time.perf_counter() - t0
        entry = {"run all cells, s": round(opened, 1), "keys": summary(keys(s, n_keys))}
        if not extra:
            entry["play fps at 15"] = round(play_fps(s, 15), 1)
            entry["play fps at 30"] = round(play_fps(s, 30), 1)
            entry["settings ms"] = {k: round(v) for k, v in settings(s).items()}
            s.page.screenshot(path=str(OUT / f"explorer-{name}.png"))
            screenshots(s, name)
        entry["console errors"] = len(s.log.console_errors) + len(s.log.page_errors)
        entry["blocked requests"] = len(s.log.blocked)
        result[variant] = entry
        s.shutdown_and_close()
    base, ours = result["kernel round trip (baseline)"]["keys"], result["browser"]["keys"]
    result["speed-up (median)"] = round(base["median_ms"] / ours["median_ms"], 1)
    return result


def settings_before(root: Path, runs: dict[str, Path], src: str) -> dict:
    """The settings latencies of another source tree (e.g. ``git archive`` of main), same runs and browser."""
    from actconf import _browser

    out = {}
    with _browser.JupyterLab(root, env={"PYTHONPATH": str(Path(src).resolve())}) as lab, \
            _browser.Browser(width=1440, height=1000) as browser:
        for name, path in runs.items():
            notebook = f"{name.replace(' ', '-')}-before.ipynb"
            _browser.explorer_notebook(root / notebook, path, by="class+confidence", extra="")
            s = _browser.LabSession(lab, browser, notebook)
            s.open()
            s.run_all()
            s.explorer()
            out[name] = {k: round(v) for k, v in settings(s).items()}
            s.shutdown_and_close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an existing digits run (default: record one)")
    parser.add_argument("--keys", type=int, default=40, help="key presses per variant")
    parser.add_argument("--before", metavar="SRC", help="also time the settings with this source tree "
                        "(a folder holding the package, e.g. from `git archive main src`), first")
    parser.add_argument("--full", action="store_true", help="also the 2,048-neuron run (about 2-3 minutes more)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from actconf import _browser

    reason = _browser.browser_available()
    if reason:
        sys.exit(f"bench_explorer: {reason}")
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = {"digits": digits_run(root, args.run)}
        if args.full:
            runs["2048 neurons"] = wide_run(root)
        results = {"load average (1 min) at start": round(os.getloadavg()[0], 1)}
        before = settings_before(root, runs, args.before) if args.before else {}
        with _browser.JupyterLab(root, env={"PYTHONPATH": str(REPO / "src")}) as lab, \
                _browser.Browser(width=1440, height=1000) as browser:
            for name, path in runs.items():
                results[name] = bench_one(lab, browser, root, name.replace(" ", "-"), path, args.keys)
                if name in before:
                    results[name]["settings ms, before"] = before[name]
    results["load average (1 min) at end"] = round(os.getloadavg()[0], 1)
    (OUT / "explorer.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    for name, r in results.items():
        if not isinstance(r, dict):
            print(f"{name}: {r}")
            continue
        ours, base = r["browser"], r["kernel round trip (baseline)"]
        print(f"{name}: key -> frame median {ours['keys']['median_ms']} ms, max {ours['keys']['max_ms']} ms "
              f"(kernel round trip: {base['keys']['median_ms']} / {base['keys']['max_ms']} ms, "
              f"{r['speed-up (median)']}x); Play {ours['play fps at 15']} fps at 15, "
              f"{ours['play fps at 30']} at 30")
        for k, v in ours["settings ms"].items():
            was = r.get("settings ms, before", {}).get(k)
            print(f"    {k}: {v} ms" + (f" (before: {was} ms)" if was is not None else ""))
    print(f"raw numbers: {OUT / 'explorer.json'}")


if __name__ == "__main__":
    main()
