"""Speed of the layout methods (results: benchmarks/README.md, "Layouts").

Profiles: contrastive class NAPs (10 groups) of the hidden layer of an MLP trained
on scikit-learn's digits (``MLPClassifier``, ReLU; no Keras needed): 128 neurons
for the main table, 2048 neurons for scale.

Measured in one process, after :func:`actconf.layout.warm_up`, best of
``--repeats`` (2048 neurons: one run):

* every ``compute_layout`` method, unrefined, and the refinement step
  (``refine_layout``, 1000 steps), against the goals UMAP <= 1.5 s, SOM <= 0.5 s,
  refine <= 1 s at 128 neurons;
* baselines in the same process: a bare ``umap.UMAP().fit_transform`` on the
  profiles (what the reference code runs), a bare MiniSom training with the
  paper's settings, and the same refinement computed over all pairs with dense
  numpy (no neighbour list) -- ours / baseline ratios are printed;
* ``layout_quality`` (rendering + the six measures).

The one-off UMAP start-up is measured in fresh subprocesses: ``import umap`` as
umap-learn does it (it imports TensorFlow), actconf's import (TensorFlow hidden),
and the first fit (numba compilation).

    python benchmarks/bench_layout.py [--repeats 3] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

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
def startup() -> dict[str, float]:
    code_bare = "import time, warnings; t=time.perf_counter(); warnings.simplefilter('ignore'); import umap; print(time.perf_counter()-t)"
    code_ours = (
        "import time; t=time.perf_counter(); from actconf.layout import import_umap; import_umap(); "
        "t1=time.perf_counter(); from actconf.layout import warm_up; warm_up(); t2=time.perf_counter(); "
        "import numpy as np; from actconf.layout import compute_layout; "
        "x=np.random.default_rng(0).normal(size=(128,10)); t3=time.perf_counter(); "
        "compute_layout(x, refine=False); t4=time.perf_counter(); print(t1-t, t2-t1, t4-t3)"
    )
    env_run = dict(capture_output=True, text=True, timeout=600)
    bare = float(subprocess.run([sys.executable, "-c", code_bare], **env_run).stdout.split()[-1])
    ours = [float(v) for v in subprocess.run([sys.executable, "-c", code_ours], **env_run).stdout.split()[-3:]]
    return {"import umap (umap-learn, pulls in TensorFlow)": bare, "actconf import_umap (TensorFlow hidden)": ours[0],
            "warm_up(): first fit, numba compilation": ours[1], "next UMAP layout, 128 neurons": ours[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="skip the 2048-neuron runs")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results: dict[str, object] = {}

    print("UMAP start-up (fresh processes):")
    st = startup()
    for k, v in st.items():
        print(f"  {k:45s} {v:7.2f} s")
    results["startup"] = st

    warm_up()
    prof = mlp_profiles(128)
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

    if not args.skip_large:
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
    print(f"\nraw numbers: {OUT / 'layout.json'}")


if __name__ == "__main__":
    main()
