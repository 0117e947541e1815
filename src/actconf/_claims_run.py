"""Claims on runs: per-run effects, within-run and across-run tests, verdicts (draft module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _claim_stats as cs
from ._inference import across_runs, drift_test, format_p, paired_bootstrap_ci, verdict
from ._validation import check_float, check_int, check_option, param_error

__all__ = ["claim_summary", "statement_trajectories"]

_GROUPS = ("moving", "fixed")


def _as_runs(runs: Any, caller: str) -> list[Any]:
    from .store import Run

    if isinstance(runs, Run):
        return [runs]
    if isinstance(runs, Sequence) and not isinstance(runs, str) and runs and all(isinstance(r, Run) for r in runs):
        first = runs[0]
        for r in runs[1:]:
            if r.layer_sizes != first.layer_sizes or r.n_classes != first.n_classes:
                raise param_error("runs", caller, "runs of one configuration (same layers and classes)",
                                  f"{r.path.name}: layers {r.layer_sizes}, {r.n_classes} classes vs "
                                  f"{first.path.name}: {first.layer_sizes}, {first.n_classes} classes",
                                  "Pass the runs of one model and dataset, trained with different seeds.")
        return list(runs)
    raise param_error("runs", caller, "a Run or a non-empty list of Runs (one per seed)", type(runs).__name__)


def _quantile_k(bins: Any, caller: str) -> int:
    if isinstance(bins, str) and bins.strip().lower().startswith("quantile"):
        text = bins.strip().lower()
        k = 5 if text == "quantile" else text.partition(":")[2]
        try:
            k = int(k)
        except ValueError:
            k = -1
    else:
        k = bins if isinstance(bins, int) and not isinstance(bins, bool) else -1
    if k < 2:
        raise param_error("bins", caller, "equal-count confidence groups: 'quantile:K' or an int K >= 2", bins,
                          "Equal-width bins change membership as the model trains and are sparse at the "
                          "ends, which biases trends (docs/statistics.md).")
    return k


def _run_inputs(run: Any, layer: str, measure: Any, caller: str):
    """conf (S, n), spread (S, n), reader i -> (n, N) of one run and layer."""
    from .confidence import confidence

    conf = np.asarray(confidence(run, measure=measure).values, dtype=np.float64)
    probs = run.read("outputs/probabilities")
    logits = run.read("outputs/logits") if run.has_logits else None
    spread = cs.logit_spread(logits, probs)
    array = run.layer_info(layer)["array"]
    return conf, spread, (lambda i: run.read(array, [i])[0].astype(np.float64))


def statement_trajectories(runs: Any, *, layers: Any = None, measure: Any = "max_softmax",
                           bins: Any = "quantile:5", groups: str = "moving", n_splits: int = 4,
                           seed: int = 0):
    """Every statement's statistic at every snapshot of every run (tidy DataFrame)."""
    import pandas as pd

    caller = "statement_trajectories()"
    run_list = _as_runs(runs, caller)
    k = _quantile_k(bins, caller)
    check_option("groups", groups, _GROUPS, caller)
    n_splits = check_int("n_splits", n_splits, caller, min_value=1)
    parts = []
    for r, run in enumerate(run_list):
        layer_list = run.layers if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        table = run.snapshots
        for layer in layer_list:
            layer = run.check_layer(layer)
            conf, spread, read = _run_inputs(run, layer, measure, caller)
            traj = cs.trajectories(read, conf, spread, run.labels, k=k, groups=groups, n_splits=n_splits,
                                   seed=seed)
            for key, values in traj.items():
                parts.append(pd.DataFrame({
                    "run": r, "run_name": run.path.name, "layer": layer, "statement": key,
                    "snapshot": np.arange(run.n_snapshots), "step": table["step"].to_numpy(),
                    "progress": table["progress"].to_numpy(dtype=float), "value": values}))
    return pd.concat(parts, ignore_index=True)


def _bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.integers(0, n, size=(n_boot, n))
    flat = (draws + n * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)


def _single_run_confidence_tests(run: Any, layer: str, measure: Any, k: int, groups: str, n_boot: int,
                                 n_splits: int, seed: int, ci: float, traj: dict) -> dict[str, dict]:
    conf, spread, read = _run_inputs(run, layer, measure, "claim_summary()")
    rng = np.random.default_rng([seed, 104729])
    weights = _bootstrap_weights(run.n_samples, n_boot, rng)

    def inputs(i):
        a = read(i)
        return cs.SnapshotInputs(a, conf[i], spread[i], cs.quantile_groups(conf[i], k), a.mean(axis=-1))

    boot = cs.bootstrap_pair(inputs(0), inputs(run.n_snapshots - 1), run.labels, k=k, groups=groups,
                             weights=weights, n_splits=n_splits, seed=seed)
    return {key: paired_bootstrap_ci(v[0], v[1], obs_a=traj[key][0], obs_b=traj[key][-1], ci=ci)
            for key, v in boot.items()}


def claim_summary(runs: Any, *, layers: Any = None, measure: Any = "max_softmax", bins: Any = "quantile:5",
                  groups: str = "moving", n_boot: int = 500, n_splits: int = 4, alpha: float = 0.05,
                  seed: int = 0):
    """Does the paper's claim hold, part by part? (draft; see docs/statistics.md)."""
    import pandas as pd

    caller = "claim_summary()"
    run_list = _as_runs(runs, caller)
    alpha = check_float("alpha", alpha, caller, min_value=0.0, max_value=0.5, min_inclusive=False)
    n_boot = check_int("n_boot", n_boot, caller, min_value=50)
    traj = statement_trajectories(run_list, layers=layers, measure=measure, bins=bins, groups=groups,
                                  n_splits=n_splits, seed=seed)
    k = _quantile_k(bins, caller)
    rows = []
    for layer, sub in traj.groupby("layer", sort=False):
        per_run = {key: [] for key in cs.STATEMENTS}
        for (_, key), part in sub.groupby(["run", "statement"], sort=False):
            v = part["value"].to_numpy()
            per_run[key].append(v)
        single = None
        if len(run_list) == 1 and run_list[0].n_snapshots >= 2:
            single = _single_run_confidence_tests(run_list[0], layer, measure, k, groups, n_boot, n_splits, seed,
                                                  1 - alpha, {key: v[0] for key, v in per_run.items()})
        for key, (text, over_time) in cs.STATEMENTS.items():
            values = per_run[key]
            first = np.array([v[0] for v in values])
            last = np.array([v[-1] for v in values])
            effect = last - first
            row = {"layer": layer, "statement": key, "claim": text, "n_runs": len(values),
                   "untrained": float(np.nanmean(first)), "final": float(np.nanmean(last))}
            if len(values) >= 2:
                res = across_runs(effect, ci=1 - alpha)
                row.update(effect=float(res["mean"]), ci_low=float(res["ci_low"]), ci_high=float(res["ci_high"]),
                           p_value=float(res["p_value"]), p_sign_flip=float(res["p_sign_flip"]),
                           n_positive=int(res["n_positive"]), test=f"t-test across {len(values)} runs")
            elif over_time:
                res = drift_test(values[0])
                row.update(effect=float(res["effect"]), ci_low=np.nan, ci_high=np.nan,
                           p_value=float(res["p_value"]), p_sign_flip=np.nan, n_positive=int(effect[0] > 0),
                           test="one run: signed-rank test on the increments")
            else:
                res = single[key]
                row.update(effect=float(res["effect"]), ci_low=float(res["ci_low"]), ci_high=float(res["ci_high"]),
                           p_value=float(res["p_value"]), p_sign_flip=np.nan, n_positive=int(effect[0] > 0),
                           test=f"one run: paired bootstrap over probe samples ({n_boot})")
            row["verdict"] = verdict(row["effect"], row["p_value"], alpha)
            row["evidence"] = (f"{row['untrained']:.3g} untrained -> {row['final']:.3g} final "
                               f"(change {row['effect']:+.3g}; {row['test']}, {format_p(row['p_value'])})")
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(alpha=alpha, measure=measure if isinstance(measure, str) else "custom", bins=bins,
                       groups=groups, n_runs=len(run_list))
    return table
