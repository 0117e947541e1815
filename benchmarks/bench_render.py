"""Rendering benchmarks: the interpolation operator vs the memory limit and griddata, slider latency.

1. 1000 maps of 128 neurons at 100 x 100, for each output type (``render()`` in
   float64, ``render(dtype=float32)``, ``render_rgba()`` to uint8 RGBA): the median
   render time against writing the same output array (``np.copyto`` into a fresh
   array of that shape and dtype, same run; goal: ratio <= 2), and per map against
   ``scipy.interpolate.griddata(method="linear")`` called once per map (what the TAM
   paper's code does; goal >= 100x). Checks the float64 pixels are griddata's.
   ``render_rgba`` twice: through its NumPy path, and through the compiled colour
   loop it uses once numba is loaded (as after a UMAP layout); same colours checked.
2. Slider update latency of ``actconf.widgets.explore`` on a 3 x 10 map grid
   (classes x confidence bins), headless: set the slider value -> image data set,
   canvas drawn and encoded for the widget. Median over many moves.

Run: ``.venv/bin/python benchmarks/bench_render.py [--repeats 7] [--skip-slider]`` (about a
minute). Summary rows: ``out/render.rows.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

import summary

OUT = Path(__file__).resolve().parent / "out"


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def _copy_fresh(src: np.ndarray) -> np.ndarray:
    """The memory limit: write an array of the output's shape and dtype into fresh memory."""
    out = np.empty(src.shape, dtype=src.dtype)
    np.copyto(out, src)
    return out


@contextlib.contextmanager
def numpy_colours():
    """render_rgba through its NumPy path even when the compiled colour loop is loaded."""
    import actconf.render as render

    kernel = sys.modules.pop("actconf._colour_kernel", None)
    threshold, render.KERNEL_MIN_PIXEL_MAPS = render.KERNEL_MIN_PIXEL_MAPS, float("inf")
    try:
        yield
    finally:
        render.KERNEL_MIN_PIXEL_MAPS = threshold
        if kernel is not None:
            sys.modules["actconf._colour_kernel"] = kernel


def _rgba_numpy(renderer, values, cmap, norm):
    with numpy_colours():
        return renderer.render_rgba(values, cmap=cmap, norm=norm)


def bench_render(n_maps: int = 1000, n_neurons: int = 128, resolution: int = 100, seed: int = 0,
                 repeats: int = 7) -> dict:
    """Every output type against writing its own output, and against griddata per map."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from scipy.interpolate import griddata

    from actconf.render import TopoRenderer

    rng = np.random.default_rng(seed)
    pos = rng.random((n_neurons, 2))
    values = rng.standard_normal((n_maps, n_neurons))
    t_build, renderer = _median_time(lambda: TopoRenderer(pos, resolution=resolution), repeats)
    cmap, norm = colormaps["RdBu_r"], Normalize(-2.5, 2.5)
    paths = {
        "float64": lambda: renderer.render(values),
        "float32": lambda: renderer.render(values, dtype=np.float32),
        "uint8 RGBA (NumPy)": lambda: _rgba_numpy(renderer, values, cmap, norm),
        # what a process that made a UMAP layout (numba loaded) gets: the compiled colour loop
        "uint8 RGBA": lambda: renderer.render_rgba(values, cmap=cmap, norm=norm),
    }
    import numba  # noqa: F401  (as after a UMAP layout; the first call below loads the loop)
    first = {}
    for name, fn in paths.items():  # first call of each: fresh operators and fresh pages
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
    results = {}
    for _ in range(2):  # two interleaved rounds, medians over both; the machine is shared
        for name, fn in paths.items():
            t, out = _median_time(fn, repeats)
            src = np.ascontiguousarray(out)  # float renders are transposed views; copy from plain memory
            t_copy, _ = _median_time(lambda o=src: _copy_fresh(o), repeats)
            results.setdefault(name, {"render": [], "copy": []})
            results[name]["render"].append(t)
            results[name]["copy"].append(t_copy)
    t_display = _median_time(lambda: cmap(norm(renderer.render(values)), bytes=True), 3)[0]

    gx, gy = np.meshgrid(renderer.xs, renderer.ys)
    t0 = time.perf_counter()
    ref = np.stack([griddata(pos, v, (gx, gy), method="linear") for v in values])
    t_griddata = time.perf_counter() - t0
    ours = renderer.render(values)
    same_colours = bool(np.array_equal(paths["uint8 RGBA"](), paths["uint8 RGBA (NumPy)"]()))
    out = {"compiled_equals_numpy": same_colours, "compiled_loop_loaded": "actconf._colour_kernel" in sys.modules,"maps": n_maps, "neurons": n_neurons, "resolution": resolution, "build_s": t_build,
           "griddata_s": t_griddata, "cmap_norm_render_s": t_display, "first_call_s": first,
           "same_mask": bool(np.array_equal(np.isnan(ours), np.isnan(ref))),
           "max_abs_diff": float(np.nanmax(np.abs(ours - ref))), "paths": {}}
    for name, r in results.items():
        t, t_copy = float(np.median(r["render"])), float(np.median(r["copy"]))
        out["paths"][name] = {"render_s": t, "copy_s": t_copy, "ratio_to_copy": t / t_copy,
                              "speedup_vs_griddata": t_griddata / t,
                              "speedup_vs_griddata_with_build": t_griddata / (t + t_build)}
    return out


def print_render(r: dict) -> list[dict]:
    """Print the rendering numbers; return the summary rows."""
    print(f"render: {r['maps']} maps of {r['neurons']} neurons at {r['resolution']}x{r['resolution']}; "
          f"operator build {r['build_s'] * 1000:.1f} ms")
    print(f"  griddata, one call per map (1 BLAS thread): {r['griddata_s']:.2f} s "
          f"({r['griddata_s']:.2f} ms per map); "
          f"same mask: {r['same_mask']}, max |diff| {r['max_abs_diff']:.1e}")
    rows = []
    for name, p in r["paths"].items():
        print(f"  {name:10s} render {p['render_s'] * 1000:6.1f} ms (first call {r['first_call_s'][name] * 1000:.0f} ms)"
              f"  copyto same output {p['copy_s'] * 1000:6.1f} ms  ratio {p['ratio_to_copy']:.2f}"
              f"  vs griddata {p['speedup_vs_griddata']:.0f}x ({p['speedup_vs_griddata_with_build']:.0f}x with build)")
        rows.append(summary.row(f"1000 maps, {name}", p["render_s"] * 1000, unit="ms",
                                baseline=p["copy_s"] * 1000, baseline_label="np.copyto, fresh array",
                                goal="ratio <= 2", met=p["ratio_to_copy"] <= 2))
        speedup = p["speedup_vs_griddata"]
        rows.append(summary.row(f"  {name} per map vs griddata", p["render_s"] / r["maps"] * 1e6, unit="us",
                                baseline=r["griddata_s"] / r["maps"] * 1e6, baseline_label="griddata",
                                goal=">= 100x faster", met=speedup >= 100,
                                note=f"{speedup:.0f}x; with the operator build {p['speedup_vs_griddata_with_build']:.0f}x"))
    print(f"  uint8 RGBA = the compiled colour loop (numba loaded, as after a UMAP layout; loaded: "
          f"{r['compiled_loop_loaded']}); same colours as the NumPy path: {r['compiled_equals_numpy']}")
    print(f"  display path before (cmap(norm(render(values)), bytes=True)): {r['cmap_norm_render_s'] * 1000:.0f} ms, "
          f"render_rgba {r['paths']['uint8 RGBA']['render_s'] * 1000:.0f} ms")
    rows.append(summary.row("1000 maps to RGBA: render_rgba", r["paths"]["uint8 RGBA"]["render_s"] * 1000, unit="ms",
                            baseline=r["cmap_norm_render_s"] * 1000, baseline_label="cmap(norm(render()))"))
    return rows


def bench_slider(n_moves: int = 60, correlation: bool = False) -> dict:
    from actconf.testing import synthetic_arrays, write_synthetic_run
    from actconf.widgets import explore

    with tempfile.TemporaryDirectory() as tmp:
        run = write_synthetic_run(Path(tmp) / "run", **synthetic_arrays(n_snapshots=12, n_samples=600, sizes=(128,)))
        layout = np.random.default_rng(0).random((128, 2))
        t0 = time.perf_counter()
        w = explore(run, layout=layout, by="class+confidence", correlation=correlation, progress=False)
        t_open = time.perf_counter() - t0
        if not hasattr(w.maps, "grid"):  # the explorer now draws its frames in the page
            w.close()
            return None
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-slider", action="store_true", help="only the rendering part")
    args = parser.parse_args()
    import scipy.interpolate  # noqa: F401  (loads SciPy's own OpenBLAS, so that the limit reaches it)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a loaded 2-core machine OpenBLAS' idle threads spinning next to
    # the main one make griddata (and the operator build, both SciPy Delaunay code) 3-5x
    # slower; the renders themselves use no BLAS. Limiting it is fair to the baseline.
    with threadpool_limits(limits=1):
        r = bench_render(repeats=args.repeats)
    rows = print_render(r)
    results = {"render": r}
    if not args.skip_slider:
        for corr in (False, True):
            s = bench_slider(correlation=corr)
            if s is None:
                print("slider: the explorer's frames are drawn in the browser now; its latency is measured by "
                      "bench_explorer.py (JupyterLab + Chromium)")
                break
            results[f"slider_correlation_{corr}"] = s
            print(f"slider ({s['grid']} grid, {s['snapshots']} snapshots, correlation views: {corr}): "
                  f"median {s['median_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms "
                  f"(canvas only {s['canvas_median_ms']:.1f} ms); explorer opened in {s['open_s']:.1f} s")
            rows.append(summary.row(f"slider move, 3x10 grid{' + correlation views' if corr else ''} (median)",
                                    s["median_ms"], unit="ms", goal="<= 30 ms" if not corr else "",
                                    met=(s["median_ms"] <= 30) if not corr else None))
    OUT.mkdir(exist_ok=True)
    (OUT / "render.json").write_text(json.dumps(results, indent=1))
    summary.write_rows("render", rows)


if __name__ == "__main__":
    main()
