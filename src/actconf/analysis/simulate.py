"""Simulated trajectories and probe sets with known answers, for calibrating the verdicts.

Two levels, both vectorised so that hundreds of simulated runs take seconds:

* :func:`null_trajectories` / :func:`rising_trajectories`: a statistic's value at every
  snapshot of many runs (e.g. the strength of a layer), without any trend (the null
  models of ``docs/statistics.md``: stationary AR(1), random walks with constant or
  decaying steps, one walk shared by several confidence groups) or with a planted
  rise. They calibrate the over-training statements.
* :func:`probe_pair`: probe-set activations, confidence and logit spread at the
  untrained state and at the end of training, with confidence independent of
  activity (``relation=0``) or a planted relation. It calibrates the confidence
  statements.

The test suite asserts the false-positive rates and power these give
(``tests/test_calibration.py``); ``python -m actconf.analysis.simulate`` prints the table of
``docs/statistics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NULL_MODELS", "ProbePair", "null_trajectories", "probe_pair", "rising_trajectories"]

#: Null models of a statistic over snapshots (no trend): name -> description.
NULL_MODELS: dict[str, str] = {
    "ar1_0.8": "stationary AR(1), phi = 0.8",
    "ar1_0.9": "stationary AR(1), phi = 0.9",
    "ar1_0.95": "stationary AR(1), phi = 0.95",
    "random_walk": "random walk, Gaussian steps",
    "random_walk_decaying": "random walk whose steps shrink over training (sd ~ exp(-t/8))",
    "shared_walk": "one random walk shared by 8 confidence groups (+ small group noise), averaged",
    "walk_plus_noise": "random walk plus independent measurement noise",
}


def _ar1(rng: np.random.Generator, phi: float, n: int, s: int) -> np.ndarray:
    e = rng.standard_normal((n, s))
    y = np.empty((n, s))
    y[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, s):
        y[:, t] = phi * y[:, t - 1] + e[:, t]
    return y


def null_trajectories(model: str, n_runs: int, n_snapshots: int = 31, *, seed: int = 0) -> np.ndarray:
    """``n_runs`` trajectories (n_runs, n_snapshots) of a statistic without a trend.

    ``model`` is a key of :data:`NULL_MODELS`.
    """
    if model not in NULL_MODELS:
        raise ValueError(f"Unknown null model {model!r}; choose one of {', '.join(NULL_MODELS)}.")
    rng = np.random.default_rng([seed, sum(map(ord, model))])
    n, s = n_runs, n_snapshots
    if model.startswith("ar1_"):
        return _ar1(rng, float(model.split("_")[1]), n, s)
    if model == "random_walk":
        return np.cumsum(rng.standard_normal((n, s)), axis=1)
    if model == "random_walk_decaying":
        steps = rng.standard_normal((n, s - 1)) * np.exp(-np.arange(s - 1) / 8.0)
        return np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    if model == "shared_walk":
        walk = np.cumsum(rng.standard_normal((n, 1, s)), axis=2)
        return (walk + 0.2 * rng.standard_normal((n, 8, s))).mean(axis=1)
    return 0.3 * np.cumsum(rng.standard_normal((n, s)), axis=1) + rng.standard_normal((n, s))


def rising_trajectories(n_runs: int, n_snapshots: int = 31, *, rise: float = 1.0, noise: float = 1.0,
                        seed: int = 0) -> np.ndarray:
    """Trajectories with a planted rise: ``rise * log(1 + t) / log(S)`` plus a random walk.

    The random walk's steps have sd ``noise / sqrt(S - 1)``, so its net change has sd
    ``noise`` across runs: ``rise / noise`` is the effect size (Cohen's d) of the net
    change across runs.
    """
    rng = np.random.default_rng([seed, 31337])
    t = np.arange(n_snapshots)
    shape = np.log1p(t) / np.log(n_snapshots)
    steps = rng.standard_normal((n_runs, n_snapshots - 1)) * noise / np.sqrt(n_snapshots - 1)
    walk = np.concatenate([np.zeros((n_runs, 1)), np.cumsum(steps, axis=1)], axis=1)
    return rise * shape + walk


@dataclass
class ProbePair:
    """Probe-set arrays of one simulated run at the untrained state (0) and the end (1)."""

    acts: np.ndarray  # (2, n, N)
    conf: np.ndarray  # (2, n)
    spread: np.ndarray  # (2, n)
    labels: np.ndarray  # (n,)


def probe_pair(rng: np.random.Generator, *, n: int = 160, n_neurons: int = 12, n_classes: int = 4,
               relation: float = 0.0, level_walk: float = 0.1) -> ProbePair:
    """One simulated run's probe set at two moments.

    Activations are ReLU of a neuron baseline (about 1), a class pattern (scale 0.5), a
    level that changes between the two moments by a random amount (sd
    ``level_walk``) and unit noise. With ``relation=0`` confidence and logit spread
    are independent of everything; with ``relation > 0`` the final state's activity
    rises with confidence (a level ``relation * (conf - 0.5)``) and becomes more
    distinct with it (class patterns scaled by ``0.5 + 2 * relation * conf``).
    """
    labels = np.repeat(np.arange(n_classes), n // n_classes)
    n = labels.size
    base = rng.normal(1.0, 0.3, size=n_neurons)
    proto = rng.normal(size=(n_classes, n_neurons))
    acts, conf, spread = [], [], []
    level = 0.0
    for moment in (0, 1):
        c = rng.uniform(size=n)
        rel = relation if moment == 1 else 0.0
        level = level + (rng.normal() * level_walk if moment else 0.0)
        pattern = proto[labels] * (0.5 + 2.0 * rel * c[:, None])
        a = base + level + rel * (c[:, None] - 0.5) + pattern + rng.normal(size=(n, n_neurons))
        acts.append(np.maximum(a, 0.0))
        conf.append(c)
        spread.append(rng.uniform(size=n))
    return ProbePair(np.stack(acts), np.stack(conf), np.stack(spread), labels)


def _confidence_effects(pair: ProbePair, weights: np.ndarray | None = None, k: int = 3) -> dict[str, np.ndarray]:
    """Per statement: (2, B) statistics at both moments (B = 1 without weights: the sample itself)."""
    from . import _statements as cs

    def inputs(i: int):
        return cs.SnapshotInputs(pair.acts[i], pair.conf[i], pair.spread[i], cs.quantile_groups(pair.conf[i], k),
                                 pair.acts[i].mean(axis=-1))

    w = np.ones((1, pair.labels.size), dtype=int) if weights is None else weights
    return cs.bootstrap_pair(inputs(0), inputs(1), pair.labels, k=k, groups="moving", weights=w, n_splits=1)


def calibration_table(n_sim: int = 2000, *, seed: int = 0) -> list[dict[str, object]]:
    """False-positive rates and power of every verdict (the table of docs/statistics.md)."""
    from ._inference import across_runs, drift_test, paired_bootstrap_ci

    rows: list[dict[str, object]] = []
    for model, text in NULL_MODELS.items():
        p1 = drift_test(null_trajectories(model, n_sim, seed=seed + 1))["p_value"]
        y = null_trajectories(model, 5 * n_sim, seed=seed + 2)
        res = across_runs((y[:, -1] - y[:, 0]).reshape(n_sim, 5))
        rows.append({"what": f"over training, null: {text}", "one run": np.mean(p1 < 0.05),
                     "5 runs (t)": np.mean(res["p_value"] < 0.05), "5 runs (sign flip)": np.mean(res["p_sign_flip"] < 0.05)})
    for d in (1.0, 1.5, 2.0, 2.5, 3.0):
        y = rising_trajectories(5 * n_sim, rise=d, noise=1.0, seed=seed + 3)
        one = drift_test(y[:n_sim])
        res = across_runs((y[:, -1] - y[:, 0]).reshape(n_sim, 5))
        rows.append({"what": f"over training, planted rise d = {d:g} (power)",
                     "one run": np.mean((one["p_value"] < 0.05) & (one["effect"] > 0)),
                     "5 runs (t)": np.mean((res["p_value"] < 0.05) & (res["mean"] > 0)),
                     "5 runs (sign flip)": np.mean((res["p_sign_flip"] < 0.05) & (res["mean"] > 0))})
    rng = np.random.default_rng([seed, 5])
    n_conf = max(100, n_sim // 4)
    for relation in (0.0, 0.3, 0.6):
        single = {key: [] for key in ("strength_confidence", "distinct_confidence", "sample_relation",
                                      "sample_relation_ctrl")}
        effects = {key: [] for key in single}
        for i in range(5 * n_conf):
            pair = probe_pair(rng, relation=relation)
            obs = _confidence_effects(pair)
            for key in single:
                effects[key].append(obs[key][1, 0] - obs[key][0, 0])
            if i < n_conf:
                n = pair.labels.size
                weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(200)])
                boot = _confidence_effects(pair, weights)
                for key in single:
                    r = paired_bootstrap_ci(boot[key][0], boot[key][1], obs_a=obs[key][0, 0], obs_b=obs[key][1, 0])
                    single[key].append(bool(r["p_value"] < 0.05 and (relation == 0 or r["effect"] > 0)))
        for key in single:
            res = across_runs(np.asarray(effects[key]).reshape(n_conf, 5))
            hit = res["p_value"] < 0.05
            if relation:
                hit &= res["mean"] > 0
            kind = "null: confidence independent of activity" if relation == 0 else f"planted relation {relation:g} (power)"
            rows.append({"what": f"{key}, {kind}", "one run": np.mean(single[key]), "5 runs (t)": np.mean(hit),
                         "5 runs (sign flip)": np.mean(res["p_sign_flip"] < 0.05)})
    return rows


def _main() -> None:  # pragma: no cover - prints the calibration table for docs/statistics.md
    import sys

    n_sim = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rows = calibration_table(n_sim)
    print(f"| statement and simulated runs ({n_sim} per row) | one run | 5 runs (t) | 5 runs (sign flip) |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['what']} | {r['one run']:.3f} | {r['5 runs (t)']:.3f} | {r['5 runs (sign flip)']:.3f} |")


if __name__ == "__main__":  # pragma: no cover
    _main()
