"""Speed of the analysis functions on a run of realistic size (results: benchmarks/README.md, "Analysis").

A synthetic run (``--snapshots`` × ``--samples`` probe samples × 128 neurons, 10
classes) is written once; every actconf function is timed against the code a user
would write with numpy/SciPy, measured in the same process:

* ``naps(by="class+confidence")`` vs a loop over snapshots and groups with boolean
  masks (``acts[s][mask].mean(0)``);
* ``neuron_correlation`` vs ``scipy.stats.spearmanr`` per snapshot and neuron;
* ``activity_confidence`` (Spearman + 1000-resample bootstrap CI) vs
  ``scipy.stats.bootstrap`` with ``spearmanr`` as the statistic;
* ``calibration`` (accuracy, NLL, Brier, two ECEs) vs a per-snapshot, per-bin loop.

Slow baselines run on a few snapshots and are scaled to all of them (printed as
"scaled"). Times are the best of ``--repeats``.

    python benchmarks/bench_analysis.py [--snapshots 200] [--samples 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import special, stats

import summary
from actconf.analysis import activity_confidence, neuron_correlation
from actconf.confidence import calibration
from actconf.naps import naps
from actconf.testing import write_synthetic_run

OUT = Path(__file__).resolve().parent / "out"
K, NEURONS = 10, 128


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def make_run(path, n_snap, n, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % K
    scale = np.linspace(0.2, 4, n_snap)[:, None, None]
    logits = (rng.normal(size=(n_snap, n, K)) * scale).astype(np.float32)
    logits[:, np.arange(n), labels] += scale[..., 0]
    conf = special.softmax(logits, -1).max(-1)
    proto = rng.random((K, NEURONS)).astype(np.float32)
    acts = np.maximum(0, conf[..., None] * proto[labels][None] + 0.2 * rng.normal(size=(n_snap, n, NEURONS)))
    return write_synthetic_run(path, activations={"dense": acts.astype(np.float32)}, labels=labels, logits=logits)


# ------------------------------------------------------------------ baselines
def naps_loop(run, edges):
    acts = run.activations("dense").values
    probs = run.probabilities().values
    conf = probs.max(-1)
    labels = run.labels
    out = np.full((acts.shape[0], K * (len(edges) - 1), acts.shape[2]), np.nan)
    for s in range(acts.shape[0]):
        g = 0
        for c in range(K):
            for b in range(len(edges) - 1):
                last = b == len(edges) - 2
                m = (labels == c) & (conf[s] >= edges[b]) & ((conf[s] <= edges[b + 1]) if last else (conf[s] < edges[b + 1]))
                if m.sum() >= 5:
                    out[s, g] = acts[s][m].mean(axis=0)
                g += 1
    return out


def neuron_loop(run, snaps):
    conf = run.probabilities().values[snaps].max(-1)
    acts = run.activations("dense").values[snaps]
    return np.array([[stats.spearmanr(conf[i], acts[i, :, j]).statistic for j in range(acts.shape[2])]
                     for i in range(len(snaps))])


def bootstrap_scipy(run, snaps, n_boot):
    conf = run.probabilities().values[snaps].max(-1)
    act = run.activations("dense").values[snaps].mean(-1)
    out = []
    for i in range(len(snaps)):
        res = stats.bootstrap((conf[i], act[i]), lambda x, y: stats.spearmanr(x, y).statistic, paired=True,
                              vectorized=False, n_resamples=n_boot, method="percentile", random_state=0)
        out.append((res.confidence_interval.low, res.confidence_interval.high))
    return np.array(out)


def calibration_loop(run, snaps, n_bins=15):
    probs = run.probabilities().values[snaps].astype(np.float64)
    labels = run.labels
    rows = []
    for p in probs:
        conf, pred = p.max(-1), p.argmax(-1)
        correct = pred == labels
        ece = 0.0
        for b in range(n_bins):
            lo, hi = b / n_bins, (b + 1) / n_bins
            m = (conf >= lo) & ((conf <= hi) if b == n_bins - 1 else (conf < hi))
            if m.any():
                ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
        order = np.argsort(conf, kind="stable")
        ece_m = sum(len(part) / len(conf) * abs(correct[part].mean() - conf[part].mean())
                    for part in np.array_split(order, n_bins) if len(part))
        nll = -np.log(p[np.arange(len(labels)), labels]).mean()
        brier = ((p - np.eye(p.shape[1])[labels]) ** 2).sum(-1).mean()
        rows.append((correct.mean(), nll, brier, ece, ece_m))
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=100, help="200 for the README's table")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=5, help="snapshots for the slow baselines")
    args = parser.parse_args()
    s, n = args.snapshots, args.samples
    sub = np.linspace(0, s - 1, args.subset).astype(int)
    scale = s / len(sub)
    results = {"snapshots": s, "samples": n, "neurons": NEURONS, "classes": K}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = make_run(Path(tmp) / "run", s, n)
        print(f"wrote a run of {s} snapshots x {n} samples x {NEURONS} neurons in {time.perf_counter() - t0:.1f} s")
        edges = [0.0, 0.3, 0.5, 0.7, 0.9, 1.0]

        t_ours, nap = best(lambda: naps(run, "dense", by="class+confidence", bins=edges, contrastive=False),
                             args.repeats)
        t_base, ref = best(lambda: naps_loop(run, edges), 1)
        assert np.allclose(nap.values, ref, equal_nan=True, atol=1e-5)
        results["naps"] = {"actconf_s": t_ours, "baseline_s": t_base, "speedup": t_base / t_ours}
        print(f"naps (class x 5 bins)       actconf {t_ours:7.3f} s   mask loop {t_base:7.3f} s   x{t_base / t_ours:.1f}")

        t_ours, rho = best(lambda: neuron_correlation(run, "dense"), args.repeats)
        t_base, ref = best(lambda: neuron_loop(run, sub), 1)
        assert np.allclose(rho.values[sub], ref, atol=1e-9, equal_nan=True)
        t_base *= scale
        results["neuron_correlation"] = {"actconf_s": t_ours, "baseline_s_scaled": t_base, "speedup": t_base / t_ours}
        print(f"neuron_correlation          actconf {t_ours:7.3f} s   spearmanr {t_base:7.1f} s (scaled)   x{t_base / t_ours:.0f}")

        t_ours, table = best(lambda: activity_confidence(run, n_boot=1000), 1)
        t_base, ci = best(lambda: bootstrap_scipy(run, sub, 1000), 1)
        t_base *= scale
        width_ours = float((table["ci_high"] - table["ci_low"]).iloc[sub].mean())
        width_ref = float((ci[:, 1] - ci[:, 0]).mean())
        results["activity_confidence"] = {"actconf_s": t_ours, "baseline_s_scaled": t_base,
                                          "speedup": t_base / t_ours, "mean_ci_width": width_ours,
                                          "mean_ci_width_scipy": width_ref}
        print(f"activity_confidence (B=1000) actconf {t_ours:6.2f} s   scipy.bootstrap {t_base:7.1f} s (scaled)   "
              f"x{t_base / t_ours:.0f}   (CI width {width_ours:.4f} vs {width_ref:.4f})")

        t_ours, cal = best(lambda: calibration(run), args.repeats)
        t_base, ref = best(lambda: calibration_loop(run, sub), 1)
        t_base *= scale
        assert np.allclose(cal[["accuracy", "nll", "brier", "ece_width", "ece_mass"]].to_numpy()[sub], ref, atol=1e-5)
        results["calibration"] = {"actconf_s": t_ours, "baseline_s_scaled": t_base, "speedup": t_base / t_ours}
        print(f"calibration                 actconf {t_ours:7.3f} s   bin loop {t_base:8.3f} s (scaled)   x{t_base / t_ours:.1f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "analysis.json").write_text(json.dumps(results, indent=1))
    labels = {"naps": ("naps(by='class+confidence'), 5 bins", "boolean-mask loop"),
              "neuron_correlation": ("neuron_correlation", "spearmanr per neuron, scaled"),
              "activity_confidence": ("activity_confidence, 1000-resample bootstrap", "scipy.stats.bootstrap, scaled"),
              "calibration": ("calibration", "per-bin loop, scaled")}
    summary.write_rows("analysis", [
        summary.row(f"{label} ({s} snapshots)", results[key]["actconf_s"], baseline_label=base,
                    baseline=results[key].get("baseline_s", results[key].get("baseline_s_scaled")))
        for key, (label, base) in labels.items()])


if __name__ == "__main__":
    main()
