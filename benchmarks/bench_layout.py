"""Speed of the layout methods (results: benchmarks/README.md, "Layouts").

Profiles: contrastive class NAPs (10 groups) of the hidden layer of an MLP trained
on scikit-learn's digits (``MLPClassifier``, ReLU; no Keras needed): 128 neurons
for the main table, 2048 neurons for scale.

Measured in one process, after :func:`actconf.layout.warm_up`, best of
``--repeats`` (2048 neurons, only with ``--large``: one run):

* every ``compute_layout`` method, unrefined, and the refinement step
  (``refine_layout``, 1000 steps), against the goals UMAP <= 1.5 s, SOM <= 0.5 s,
  refine <= 1 s at 128 neurons;
* baselines in the same process: a bare ``umap.UMAP().fit_transform`` on the
  profiles (what the reference code runs), a bare MiniSom training with the
  paper's settings, and the same refinement computed over all pairs with dense
  numpy (no neighbour list) -- ours / baseline ratios are printed;
* ``layout_quality`` (rendering + the six measures).

The first layout in a fresh process (goal: <= 3 s for UMAP, <= 1 s for SOM, PCA,
grid) is measured in subprocesses with the numba disk cache in a temporary home
(``XDG_CACHE_HOME``): once with the cache switched off (what every process paid
before: numba compiles umap-learn's code), once on the first-ever run (compiles
and fills the cache), then ``--repeats`` times with the cache filled; the
positions of all of them must be identical. ``import umap`` as umap-learn does it
(it imports TensorFlow) for comparison. Summary rows: ``out/layout.rows.json``.

Without ``--full`` the cache-off process and umap-learn's own import are skipped (the
first-ever run is the baseline then: it compiles in-process too), and SOM, PCA and grid
get two fresh processes each instead of ``--repeats``. One more process has
the fit functions cached but lets ``import umap`` compile its signature-declared ones.

    python benchmarks/bench_layout.py [--repeats 3] [--large] [--full]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import summary
from actconf.layout import (
    METHODS,
    compute_layout,
    import_umap,
    layout_quality,
    refine_layout,
    warm_up,
)

OUT = Path(__file__).resolve().parent / "out"
GOALS = {"umap": 1.5, "som": 0.5, "refine": 1.0}


def mlp_profiles(hidden: int, seed: int = 0) -> np.ndarray:
    """Contrastive class NAPs (hidden, 10) of a ReLU MLP trained on digits."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((hidden,), alpha=1e-3, max_iter=60, random_state=seed).fit(x[:1400], y[:1400])
    h = np.maximum(0, x[1400:] @ mlp.coefs_[0] + mlp.intercepts_[0])
    naps = np.stack([h[y[1400:] == c].mean(0) for c in range(10)])
    return (naps - naps.mean(0)).T


def best(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


# ------------------------------------------------------------------ baselines
def bare_umap(profiles: np.ndarray) -> np.ndarray:
    umap = import_umap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(random_state=0, n_jobs=1).fit_transform(profiles)


def bare_som(profiles: np.ndarray) -> np.ndarray:
    from minisom import MiniSom

    n = len(profiles)
    side = int(math.floor(math.sqrt(n))) + 1
    som = MiniSom(side, side, profiles.shape[1], sigma=1.0, learning_rate=0.5, random_seed=0)
    som.train(profiles, 10 * n, random_order=True)
    return np.array([som.winner(p) for p in profiles])


def dense_refine(pos: np.ndarray, steps: int, spacing: float = 0.8) -> np.ndarray:
    """The same overlap repulsion over all pairs with dense (n, n) arrays."""
    p = pos.copy()
    n = len(p)
    d0 = spacing / math.sqrt(n)
    rng = np.random.default_rng(0)
    p = p + rng.normal(scale=1e-3 * d0, size=p.shape)
    for t in range(steps):
        lr = 0.25 * (1 - t / steps) + 0.01
        delta = p[:, None, :] - p[None, :, :]
        d = np.sqrt((delta**2).sum(-1))
        np.fill_diagonal(d, 1e9)  # no self-repulsion
        w = np.where(d < d0, (d0 - d) / np.maximum(d, 1e-12), 0.0)
        move = lr * (w[..., None] * delta).sum(1)
        length = np.sqrt((move**2).sum(1))
        cap = 0.5 * d0
        move[length > cap] *= (cap / length[length > cap])[:, None]
        p = p + move
    return p


# ------------------------------------------------------------------ start-up
FIRST = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from actconf.layout import compute_layout, import_umap
from actconf.layout import _umap
if sys.argv[3] in ("nocache", "noeager"):  # import umap compiles its signature-declared functions
    import contextlib
    _umap.caching_eager_compiles = lambda folder: contextlib.nullcontext()
if sys.argv[3] == "nocache":
    _umap._STATE["cache_checked"] = True  # the disk cache stays off: what every process paid before
x = np.load(sys.argv[1])
t1 = time.perf_counter()
if sys.argv[2] == "umap":
    import_umap()
t2 = time.perf_counter()
pos = compute_layout(x, method=sys.argv[2], seed=0).positions
t3 = time.perf_counter()
print(json.dumps({"import_layout": t1 - t0, "import_umap": t2 - t1, "fit": t3 - t2, "first": t3 - t1,
                  "positions": pos.tolist()}))
"""


def first_layout(profiles_file: Path, method: str, cache_home: Path, mode: str = "cache") -> dict:
    """The first layout in a fresh process (``compute_layout``, UMAP refined), its parts, its positions."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache_home)
    out = subprocess.run([sys.executable, "-c", FIRST, str(profiles_file), method, mode], capture_output=True,
                         text=True, timeout=900, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["compiled_message"] = "compiling umap-learn's numba code" in out.stderr
    return result


def startup(profiles: np.ndarray, repeats: int, full: bool = False) -> dict:
    """UMAP and SOM/PCA/grid first layouts in fresh processes; the disk cache in a temporary home.

    Without ``full`` the process with the disk cache off (≈ the first-ever run: both
    compile in-process) and the plain ``import umap`` with TensorFlow are skipped; the
    first-ever run is then the baseline.
    """
    bare = None
    if full:
        code_bare = ("import time, warnings; t=time.perf_counter(); warnings.simplefilter('ignore'); import umap; "
                     "print(time.perf_counter()-t)")
        bare = float(subprocess.run([sys.executable, "-c", code_bare], capture_output=True, text=True,
                                    timeout=600).stdout.split()[-1])
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "profiles.npy"
        np.save(prof, profiles)
        home = Path(tmp) / "cache"
        # before: numba compiles in every process
        nocache = first_layout(prof, "umap", home, "nocache") if full else None
        cold = first_layout(prof, "umap", home)  # the first-ever run fills the cache
        warm = [first_layout(prof, "umap", home) for _ in range(repeats)]
        noeager = first_layout(prof, "umap", home, "noeager")  # fit functions cached, import umap compiles
        ref = (nocache or cold)["positions"]
        same = all(np.array_equal(np.array(w["positions"]), np.array(ref)) for w in [cold, *warm, noeager])
        others = {m: [first_layout(prof, m, home)["first"] for _ in range(repeats if full else min(repeats, 2))]
                  for m in ("som", "pca", "grid")}
    strip = ("positions",)
    return {"import umap (umap-learn, pulls in TensorFlow)": bare,
            "nocache": nocache and {k: v for k, v in nocache.items() if k not in strip},
            "noeager": {k: v for k, v in noeager.items() if k not in strip},
            "cold": {k: v for k, v in cold.items() if k not in strip},
            "warm": [{k: v for k, v in w.items() if k not in strip} for w in warm],
            "same_positions": same, "others": others}


def print_startup(st: dict) -> list[dict]:
    """Print the start-up numbers; return the summary rows."""
    warm = st["warm"]
    first = [w["first"] for w in warm]
    if st["import umap (umap-learn, pulls in TensorFlow)"] is not None:
        print(f"  import umap as umap-learn does it (TensorFlow too): "
              f"{st['import umap (umap-learn, pulls in TensorFlow)']:.2f} s")
    for label, r in (("disk cache off (every process before)", st["nocache"]),
                     ("first-ever run (fills the cache)", st["cold"]),
                     ("cache filled, import umap compiling", st["noeager"])):
        if r is None:
            continue
        print(f"  {label:40s} first layout {r['first']:6.2f} s = import_umap {r['import_umap']:.2f} "
              f"+ layout {r['fit']:.2f}; message shown: {r['compiled_message']}")
    for i, r in enumerate(warm):
        print(f"  {'cache filled, fresh process #' + str(i + 1):40s} first layout {r['first']:6.2f} s = import_umap "
              f"{r['import_umap']:.2f} + layout {r['fit']:.2f}; message shown: {r['compiled_message']}")
    print(f"  positions identical with and without the cache: {st['same_positions']}")
    med = float(np.median(first))
    before = st["nocache"] or st["cold"]
    rows = [summary.row("first UMAP layout, fresh process, 128 neurons (median)", med, baseline=before["first"],
                        baseline_label="numba compiling in-process" + ("" if st["nocache"] else " (first-ever run)"),
                        goal="<= 3 s", met=med <= 3.0,
                        note=f"spread {min(first):.2f}-{max(first):.2f} s; same positions: {st['same_positions']}"),
            summary.row("  of which import umap (median)", float(np.median([w["import_umap"] for w in warm])),
                        baseline=st["noeager"]["import_umap"], baseline_label="import umap compiling its RNG"),
            summary.row("first-ever UMAP layout (compiles, fills the cache)", st["cold"]["first"])]
    for method, times in st["others"].items():
        m = float(np.median(times))
        print(f"  first {method} layout, fresh process: {', '.join(f'{t:.2f}' for t in times)} s")
        rows.append(summary.row(f"first {method} layout, fresh process (median)", m, goal="<= 1 s", met=m <= 1.0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also the 2048-neuron runs (about 2 minutes more)")
    parser.add_argument("--full", action="store_true",
                        help="also a fresh process with the disk cache off and umap-learn's own import (TensorFlow); "
                             "about 1 minute more")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results: dict[str, object] = {}

    prof = mlp_profiles(128)
    print("First layout in a fresh process (128 neurons; UMAP = compute_layout's default, refined):")
    st = startup(prof, args.repeats, full=args.full)
    rows = print_startup(st)
    results["startup"] = st

    warm_up()
    print(f"\n128 neurons x 10 groups ({int((np.abs(prof).max(1) == 0).sum())} dead), best of {args.repeats}:")
    table = {}
    for method in METHODS:
        t, _ = best(lambda m=method: compute_layout(prof, method=m, refine=False, seed=0), args.repeats)
        table[method] = t
    base_pos = compute_layout(prof, method="umap", refine=False, seed=0).positions
    table["refine"], _ = best(lambda: refine_layout(base_pos, profiles=prof), args.repeats)
    table["umap+refine"], _ = best(lambda: compute_layout(prof, method="umap", seed=0), args.repeats)
    table["layout_quality"], _ = best(lambda: layout_quality(base_pos, prof), args.repeats)
    baselines = {
        "umap": ("bare umap.UMAP().fit_transform", best(lambda: bare_umap(prof), args.repeats)[0]),
        "som": ("bare MiniSom, paper settings", best(lambda: bare_som(prof), args.repeats)[0]),
        "refine": ("dense all-pairs refinement", best(lambda: dense_refine(base_pos, 1000), args.repeats)[0]),
    }
    for name, t in table.items():
        goal = f"  (goal <= {GOALS[name]} s: {'met' if t <= GOALS[name] else 'MISSED'})" if name in GOALS else ""
        base = ""
        if name in baselines:
            label, tb = baselines[name]
            base = f"  vs {label} {tb:.3f} s -> ratio {t / tb:.3f} ({tb / t:.1f}x)"
        print(f"  {name:15s} {t:7.3f} s{goal}{base}")
    results["n128"] = {"times": table, "baselines": {k: v[1] for k, v in baselines.items()}}
    for name in GOALS:
        label, tb = baselines[name]
        rows.append(summary.row(f"warm {name} layout, 128 neurons (best of {args.repeats})", table[name], baseline=tb,
                                baseline_label=label, goal=f"<= {GOALS[name]} s", met=table[name] <= GOALS[name]))

    if args.large:
        big = mlp_profiles(2048)
        print(f"\n2048 neurons x 10 groups ({int((np.abs(big).max(1) == 0).sum())} dead), one run each:")
        large = {}
        for method in METHODS:
            t, _ = best(lambda m=method: compute_layout(big, method=m, refine=False, seed=0), 1)
            large[method] = t
            print(f"  {method:15s} {t:7.2f} s", flush=True)
        pos = compute_layout(big, method="umap", refine=False, seed=0).positions
        large["refine"], _ = best(lambda: refine_layout(pos, profiles=big), 1)
        print(f"  {'refine':15s} {large['refine']:7.2f} s")
        t_ours, _ = best(lambda: refine_layout(pos, profiles=big, steps=100), 1)
        t_dense, _ = best(lambda: dense_refine(pos, 100), 1)
        print(f"  refine, 100 steps: ours {t_ours:.3f} s vs dense all-pairs {t_dense:.2f} s -> ratio "
              f"{t_ours / t_dense:.4f} ({t_dense / t_ours:.0f}x)")
        large["refine_100"], large["dense_refine_100"] = t_ours, t_dense
        large["layout_quality"], _ = best(lambda: layout_quality(pos, big), 1)
        print(f"  {'layout_quality':15s} {large['layout_quality']:7.2f} s")
        results["n2048"] = large

    (OUT / "layout.json").write_text(json.dumps(results, indent=1))
    summary.write_rows("layout", rows)
    print(f"\nraw numbers: {OUT / 'layout.json'}")


if __name__ == "__main__":
    main()
