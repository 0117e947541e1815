"""Rendering benchmarks: the interpolation operator vs griddata, and slider latency.

1. 1000 maps of 128 neurons at 100 x 100: ``TopoRenderer`` (operator build included)
   vs ``scipy.interpolate.griddata(method="linear")`` called once per map (what the
   TAM paper's code does). Checks the pixels are the same.
2. Slider update latency of ``actconf.widgets.explore`` on a 3 x 10 map grid
   (classes x confidence bins), headless: set the slider value -> image data set,
   canvas drawn and encoded for the widget. Median over many moves.

Run: ``.venv/bin/python benchmarks/bench_render.py`` (about a minute).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np


def bench_render(n_maps: int = 1000, n_neurons: int = 128, resolution: int = 100, seed: int = 0) -> dict:
    from scipy.interpolate import griddata

    from actconf.render import TopoRenderer

    rng = np.random.default_rng(seed)
    pos = rng.random((n_neurons, 2))
    values = rng.standard_normal((n_maps, n_neurons))

    builds, renders = [], []
    for _ in range(5):  # median of 5: the machine is shared; the first run also pays page faults
        t0 = time.perf_counter()
        renderer = TopoRenderer(pos, resolution=resolution)
        builds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = renderer.render(values)
        renders.append(time.perf_counter() - t0)
    t_build, t_render = float(np.median(builds)), float(np.median(renders))
    t_first = builds[0] + renders[0]

    gx, gy = np.meshgrid(renderer.xs, renderer.ys)
    t0 = time.perf_counter()
    ref = np.stack([griddata(pos, v, (gx, gy), method="linear") for v in values])
    t_griddata = time.perf_counter() - t0

    same_nan = bool(np.array_equal(np.isnan(ours), np.isnan(ref)))
    max_diff = float(np.nanmax(np.abs(ours - ref)))
    return {"maps": n_maps, "neurons": n_neurons, "resolution": resolution, "build_s": t_build,
            "render_s": t_render, "ours_s": t_build + t_render, "griddata_s": t_griddata,
            "speedup": t_griddata / (t_build + t_render), "speedup_render_only": t_griddata / t_render,
            "first_s": t_first, "speedup_first": t_griddata / t_first,
            "same_mask": same_nan, "max_abs_diff": max_diff}


def bench_slider(n_moves: int = 60, correlation: bool = False) -> dict:
    from actconf.testing import synthetic_arrays, write_synthetic_run
    from actconf.widgets import explore

    with tempfile.TemporaryDirectory() as tmp:
        run = write_synthetic_run(Path(tmp) / "run", **synthetic_arrays(n_snapshots=12, n_samples=600, sizes=(128,)))
        layout = np.random.default_rng(0).random((128, 2))
        t0 = time.perf_counter()
        w = explore(run, layout=layout, by="class+confidence", correlation=correlation, progress=False)
        t_open = time.perf_counter() - t0
        assert w.maps.grid.shape == (3, 10)
        times = []
        n = run.n_snapshots
        order = np.random.default_rng(1).integers(0, n, n_moves)
        for i in order:
            target = int(i) if int(i) != w.slider.value else (int(i) + 1) % n
            t0 = time.perf_counter()
            w.slider.value = target
            times.append(time.perf_counter() - t0)
        # the canvas part alone (no encoding for the widget)
        canvas = []
        for i in order:
            t0 = time.perf_counter()
            w.maps.draw(int(i))
            canvas.append(time.perf_counter() - t0)
        w.close()
    return {"grid": "3x10", "snapshots": n, "correlation_views": correlation, "open_s": t_open,
            "median_ms": 1000 * float(np.median(times)), "p90_ms": 1000 * float(np.percentile(times, 90)),
            "canvas_median_ms": 1000 * float(np.median(canvas))}


def main() -> None:
    r = bench_render()
    print(f"render: {r['maps']} maps of {r['neurons']} neurons at {r['resolution']}x{r['resolution']}")
    print(f"  TopoRenderer: build {r['build_s'] * 1000:.1f} ms + render {r['render_s'] * 1000:.1f} ms")
    print(f"  griddata per map: {r['griddata_s']:.2f} s")
    print(f"  first call (cold memory): {r['first_s'] * 1000:.1f} ms, speed-up {r['speedup_first']:.0f}x")
    print(f"  speed-up {r['speedup']:.0f}x (render only {r['speedup_render_only']:.0f}x); "
          f"same mask: {r['same_mask']}, max |diff| {r['max_abs_diff']:.1e}")
    for corr in (False, True):
        s = bench_slider(correlation=corr)
        print(f"slider ({s['grid']} grid, {s['snapshots']} snapshots, correlation views: {corr}): "
              f"median {s['median_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms "
              f"(canvas only {s['canvas_median_ms']:.1f} ms); explorer opened in {s['open_s']:.1f} s")


if __name__ == "__main__":
    main()
