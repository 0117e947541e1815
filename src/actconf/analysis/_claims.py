"""The paper's claim, part by part: per-run effects, valid tests, verdicts.

:func:`claim_summary` takes one run or the runs of one configuration trained with
different seeds. Every statement of :data:`STATEMENTS` gets one effect per run — the
change of its statistic from the untrained state to the end of training — and a test
whose unit of replication is stated in the table:

* several runs: a t-test of the per-run effects across runs (and an exact sign-flip
  p-value beside it);
* one run: over training, Wilcoxon's signed-rank test on the trajectory's increments
  (:func:`~actconf.analysis.drift_test`); for the confidence statements, the untrained
  and the final state on the same bootstrap resamples of probe samples.

See ``docs/statistics.md`` for the estimators, the tests and their calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._dask import activation_blocks, compute, per_snapshot
from .._validation import check_float, check_int, check_option, param_error
from ..confidence import confidence
from . import _statements as st
from ._common import check_layers
from ._inference import across_runs, drift_test, format_p, paired_bootstrap_ci, verdict
from ._spearman import bootstrap_weights

#: statement -> (claim in words, whether it is about training time)
STATEMENTS = st.STATEMENTS
GROUP_MODES: tuple[str, ...] = ("moving", "fixed")
_MIN_SNAPSHOTS = 2


# --------------------------------------------------------------------------- inputs
def check_runs(runs: Any, caller: str) -> list[Any]:
    """One Run or a non-empty sequence of Runs of one configuration, as a list."""
    from ..store import Run

    if isinstance(runs, Run):
        return [runs]
    if not (isinstance(runs, Sequence) and not isinstance(runs, str) and runs
            and all(isinstance(r, Run) for r in runs)):
        raise param_error("runs", caller, "a Run or a non-empty list of Runs (one per seed)", type(runs).__name__,
                          "Open each run with actconf.open_run(path).")
    first = runs[0]
    for r in runs[1:]:
        if r.layer_sizes != first.layer_sizes or r.class_names != first.class_names:
            raise param_error("runs", caller, "runs of one configuration (same layers and classes)",
                              f"{r.path.name} with layers {r.layer_sizes} vs {first.path.name} with "
                              f"{first.layer_sizes}", "Pass the runs of one model and dataset, trained with "
                              "different seeds.")
    for r in runs:
        if r.n_snapshots < _MIN_SNAPSHOTS:
            raise param_error("runs", caller, f"runs with at least {_MIN_SNAPSHOTS} snapshots",
                              f"{r.path.name} with {r.n_snapshots}", "Record the untrained state and train "
                              "at least one epoch.")
    return list(runs)


def quantile_groups_of(bins: Any, caller: str) -> int:
    """Number of equal-count confidence groups from ``bins`` ("quantile:K", "quantile" = 5, or K)."""
    k = -1
    if isinstance(bins, str) and bins.strip().lower().startswith("quantile"):
        text = bins.strip().lower()
        tail = text.partition(":")[2] if ":" in text else "5"
        k = int(tail) if tail.isdigit() else -1
    elif isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        k = int(bins)
    if k < 2:
        raise param_error("bins", caller, "equal-count confidence groups: 'quantile:K' or an int K >= 2", bins,
                          "Equal-width bins change membership as the model trains and are nearly empty at "
                          "the ends, which biases trends (see docs/statistics.md).")
    return k


class _RunLayer:
    """Lazy access to one run's arrays for one layer (confidence, logit spread, activations)."""

    def __init__(self, run: Any, layer: str, measure: str, idx: np.ndarray, activity: str):
        self.run, self.layer, self.idx, self.activity = run, layer, idx, activity
        self.conf = np.asarray(confidence(run, measure=measure, snapshots=idx).values, dtype=np.float64)
        probs = run.read("outputs/probabilities", idx)
        logits = run.read("outputs/logits", idx) if run.has_logits else None
        self.spread = st.logit_spread(logits, probs)
        self.array = run.layer_info(layer)["array"]

    def acts(self, i: int) -> np.ndarray:
        return self.run.read(self.array, [int(self.idx[i])])[0].astype(np.float64)

    def activity_of(self, acts: np.ndarray) -> np.ndarray:
        from ._samples import activity_from

        return activity_from(acts, self.activity, 0.0)

    def inputs(self, i: int, k: int) -> st.SnapshotInputs:
        a = self.acts(i)
        return st.SnapshotInputs(a, self.conf[i], self.spread[i], st.quantile_groups(self.conf[i], k),
                                 self.activity_of(a))

    def trajectories(self, k: int, groups: str, n_splits: int, seed: int) -> dict[str, np.ndarray]:
        """:func:`~actconf.analysis._statements.trajectories` of this layer, as one dask graph.

        Per block of snapshots and samples: the per-sample activity and the sums of every
        (confidence group, class, half) cell; per block of snapshots, the statistics.
        """
        import dask.array as da

        from ..naps import group_sizes, lazy_group_sums
        from ._samples import lazy_activity

        labels = self.run.labels
        n_classes = int(labels.max()) + 1
        halves = st.split_halves(labels, n_splits, seed)
        fixed = st.quantile_groups(self.conf[-1], k) if groups == "fixed" else None
        codes = np.stack([st.cell_codes(fixed if fixed is not None else st.quantile_groups(c, k), labels, halves,
                                        k, n_classes) for c in self.conf])  # (S, P, n)
        n_groups = n_splits * k * n_classes * 2
        acts = activation_blocks(self.run, self.layer, self.idx, whole="neuron")
        activity = lazy_activity(acts, self.activity, 0.0).rechunk({1: -1})
        sums = lazy_group_sums(acts, codes, n_groups)
        counts = group_sizes(codes, n_groups).astype(np.float64)
        stats = da.blockwise(st.block_statistics, "sx", sums, "sgk", per_snapshot(sums, counts), "sg",
                             per_snapshot(sums, self.conf), "sn", per_snapshot(sums, self.spread), "sn",
                             activity, "sn", new_axes={"x": len(STATEMENTS)}, k=k, n_classes=n_classes,
                             dtype=np.float64, concatenate=True, meta=np.empty((0, 0)))
        (values,) = compute(stats)
        return {key: values[:, j] for j, key in enumerate(STATEMENTS)}


# --------------------------------------------------------------------------- trajectories
def statement_trajectories(
    runs: Any,
    *,
    layers: str | Sequence[str] | None = None,
    measure: str = "max_softmax",
    bins: Any = "quantile:5",
    groups: str = "moving",
    activity: str = "mean",
    snapshots: Any = None,
    n_splits: int = 4,
    seed: int = 0,
):
    """Every statement's statistic at every snapshot of every run.

    Parameters
    ----------
    runs : Run or list of Run
        One run, or the runs of one configuration (seeds).
    layers : str or list of str, optional
        All recorded layers by default.
    measure : str, default="max_softmax"
        Confidence measure.
    bins : "quantile:K" or int K, default="quantile:5"
        Equal-count confidence groups.
    groups : {"moving", "fixed"}, default="moving"
        Groups recomputed per snapshot, or fixed by the final confidence (the same
        samples at every snapshot).
    activity : {"mean", "l2", "active_fraction"}, default="mean"
        Per-sample activity of the sample-level relation.
    snapshots : selector, optional
        The snapshots to use (all by default); the first one is the baseline.
    n_splits : int, default=4
        Random split-halves averaged in the distinctness estimate.
    seed : int, default=0

    Returns
    -------
    pandas.DataFrame
        Tidy: ``run`` (position in ``runs``), ``run_name``, ``layer``, ``statement``,
        ``snapshot``, ``step``, ``progress``, ``label`` and ``value``.
    """
    import pandas as pd

    caller = "statement_trajectories()"
    run_list = check_runs(runs, caller)
    opts = _check_options(caller, measure=measure, bins=bins, groups=groups, activity=activity,
                          n_splits=n_splits, seed=seed)
    parts = []
    for r, run in enumerate(run_list):
        idx = run.snapshot_index(snapshots)
        frame = run.snapshot_frame(idx)
        for layer in check_layers(run, layers, caller):
            data = _RunLayer(run, layer, measure, idx, activity)
            traj = data.trajectories(opts["k"], groups, n_splits, seed)
            for key, values in traj.items():
                parts.append(frame[["snapshot", "step", "progress", "label"]].assign(
                    run=r, run_name=run.path.name, layer=layer, statement=key, value=values))
    cols = ["run", "run_name", "layer", "statement", "snapshot", "step", "progress", "label", "value"]
    table = pd.concat(parts, ignore_index=True)[cols]
    table.attrs.update(measure=measure, bins=bins, groups=groups, activity=activity, n_runs=len(run_list))
    return table


def _check_options(caller: str, **opts: Any) -> dict[str, Any]:
    from ..confidence import MEASURES
    from ._common import ACTIVITIES

    check_option("measure", opts["measure"], MEASURES, caller)
    check_option("groups", opts["groups"], GROUP_MODES, caller)
    check_option("activity", opts["activity"], ACTIVITIES, caller)
    check_int("n_splits", opts["n_splits"], caller, min_value=1)
    check_int("seed", opts["seed"], caller, min_value=0)
    return {"k": quantile_groups_of(opts["bins"], caller)}


# --------------------------------------------------------------------------- tests
def _across(effects: np.ndarray, alpha: float) -> dict[str, Any]:
    res = across_runs(effects, ci=1 - alpha)
    return {"effect": float(res["mean"]), "ci_low": float(res["ci_low"]), "ci_high": float(res["ci_high"]),
            "p_value": float(res["p_value"]), "p_sign_flip": float(res["p_sign_flip"]),
            "n_positive": int(res["n_positive"]), "cohen_d": float(res["cohen_d"]),
            "test": f"t-test across {effects.size} runs", "unit": "runs"}


def _over_time(values: np.ndarray) -> dict[str, Any]:
    res = drift_test(values)
    steps = int(res["n_steps"]) if np.isfinite(res["n_steps"]) else 0
    test = (f"one run: signed-rank test on {steps} increments" if np.isfinite(res["p_value"]) else
            f"one run: not testable with {steps} non-zero increments (the signed-rank test needs 5; "
            "record more snapshots)")
    return {"effect": float(res["effect"]), "ci_low": np.nan, "ci_high": np.nan,
            "p_value": float(res["p_value"]), "p_sign_flip": np.nan, "n_positive": int(res["effect"] > 0),
            "cohen_d": np.nan, "test": test, "unit": "one run"}


def _confidence_boot(data: _RunLayer, traj: dict[str, np.ndarray], k: int, groups: str, n_boot: int,
                     n_splits: int, seed: int, alpha: float) -> dict[str, dict[str, Any]]:
    weights = bootstrap_weights(data.run.n_samples, n_boot, np.random.default_rng([seed, 104729]))
    boot = st.bootstrap_pair(data.inputs(0, k), data.inputs(data.idx.size - 1, k), data.run.labels, k=k,
                             groups=groups, weights=weights, n_splits=n_splits, seed=seed)
    out = {}
    for key, values in boot.items():
        res = paired_bootstrap_ci(values[0], values[1], obs_a=traj[key][0], obs_b=traj[key][-1], ci=1 - alpha)
        testable = bool(np.isfinite(res["p_value"]))
        out[key] = {"effect": float(res["effect"]), "ci_low": float(res["ci_low"]),
                    "ci_high": float(res["ci_high"]), "p_value": float(res["p_value"]), "p_sign_flip": np.nan,
                    "n_positive": int(res["effect"] > 0), "cohen_d": np.nan,
                    "test": f"one run: paired bootstrap over probe samples ({n_boot} resamples)" if testable else
                    "one run: not testable (the statistic is undefined in most resamples: too few samples per "
                    "class and confidence group; use more probe samples or fewer groups)",
                    "unit": "one run", "p_floor": 2.0 / (n_boot + 1)}
    return out


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else np.nan


def _evidence(row: dict[str, Any]) -> str:
    ci = (f", {100 * (1 - row['alpha']):.0f}% CI [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}]"
          if np.isfinite(row["ci_low"]) else "")
    runs = f"; {row['n_positive']}/{row['n_runs']} runs positive" if row["n_runs"] > 1 else ""
    p_text = f", {row['p_text']}" if np.isfinite(row["p_value"]) else ""
    return (f"{row['untrained']:.3g} untrained → {row['final']:.3g} final: change {row['effect']:+.3g}{ci}"
            f" ({row['test']}{p_text}{runs})")


def one_run_note(n_runs: int) -> str:
    """The plain sentence that says what the verdicts of ``n_runs`` runs can and cannot show."""
    if n_runs == 1:
        return ("One run: these verdicts describe this run. Over training they say whether its trajectory "
                "rose or fell beyond its own step-to-step wiggle; for confidence, whether the change from the "
                "untrained state exceeds probe-sample noise. Whether training generally does this needs "
                "several seeds: train at least 5 (actconf run --seeds 5) and pass all runs.")
    return (f"{n_runs} runs (seeds): each run contributes its change from the untrained state, and the verdict "
            f"comes from a t-test across the runs — a claim about this configuration's training, not about "
            f"one run." + (" With fewer than 5 runs the test has little power." if n_runs < 5 else ""))


def claim_summary(
    runs: Any,
    *,
    layers: str | Sequence[str] | None = None,
    measure: str = "max_softmax",
    bins: Any = "quantile:5",
    groups: str = "moving",
    activity: str = "mean",
    snapshots: Any = None,
    n_boot: int = 500,
    n_splits: int = 4,
    alpha: float = 0.05,
    seed: int = 0,
):
    """Does the paper's claim hold, part by part — for one run, or across runs?

    The claim, "activity becomes stronger and more distinct both with training time and
    with confidence", is split into the statements of :data:`STATEMENTS` (per layer).
    Each statement's effect is the change of its statistic from the untrained state
    (the first selected snapshot) to the end of training. (Changed in 0.2: the
    statements were tested by permuting snapshots, which overstates significance, and
    without a baseline; see ``docs/statistics.md``.)

    Parameters
    ----------
    runs : Run or list of Run
        One run, or the runs of one configuration trained with different seeds (the
        run is the unit of replication: pass several for a verdict about training).
    layers, measure, bins, groups, activity, snapshots, n_splits, seed
        As in :func:`statement_trajectories`.
    n_boot : int, default=500
        Bootstrap resamples of probe samples for a single run's confidence statements.
    alpha : float, default=0.05
        Significance level of every verdict.

    Returns
    -------
    pandas.DataFrame
        One row per layer × statement: ``layer``, ``statement``, ``claim`` (words),
        ``n_runs``, ``unit`` ("runs" or "one run"), ``untrained`` and ``final`` (the
        statistic, mean over runs), ``effect`` (mean change), ``ci_low``/``ci_high``,
        ``p_value``, ``p_text`` (for people: "p < 0.001", or an upper bound at a
        resampling floor), ``p_sign_flip`` (across runs), ``n_positive``, ``cohen_d``,
        ``test``, ``verdict`` ("supported", "contradicted", "not supported") and
        ``evidence``. ``attrs["note"]`` is a sentence on what the verdicts can show.
    """
    import pandas as pd

    caller = "claim_summary()"
    run_list = check_runs(runs, caller)
    opts = _check_options(caller, measure=measure, bins=bins, groups=groups, activity=activity,
                          n_splits=n_splits, seed=seed)
    n_boot = check_int("n_boot", n_boot, caller, min_value=50)
    alpha = check_float("alpha", alpha, caller, min_value=0.0, max_value=0.5, min_inclusive=False)
    rows = []
    for layer in check_layers(run_list[0], layers, caller):
        rows += _layer_rows(run_list, layer, measure, snapshots, activity, opts["k"], groups, n_boot, n_splits,
                            seed, alpha)
    table = pd.DataFrame(rows)
    table.attrs.update(alpha=alpha, measure=measure, bins=bins, groups=groups, n_runs=len(run_list),
                       note=one_run_note(len(run_list)))
    return table


def _layer_rows(run_list: list[Any], layer: str, measure: str, snapshots: Any, activity: str, k: int,
                groups: str, n_boot: int, n_splits: int, seed: int, alpha: float) -> list[dict[str, Any]]:
    trajs, single = [], None
    for run in run_list:
        data = _RunLayer(run, layer, measure, run.snapshot_index(snapshots), activity)
        trajs.append(data.trajectories(k, groups, n_splits, seed))
        if len(run_list) == 1:
            single = _confidence_boot(data, trajs[0], k, groups, n_boot, n_splits, seed, alpha)
    rows = []
    for key, (text, over_time) in STATEMENTS.items():
        first = np.array([t[key][0] for t in trajs])
        last = np.array([t[key][-1] for t in trajs])
        if len(run_list) > 1:
            test = _across(last - first, alpha)
        elif over_time:
            test = _over_time(trajs[0][key])
        else:
            test = single[key]
        row = {"layer": layer, "statement": key, "claim": text, "n_runs": len(run_list),
               "untrained": _mean(first), "final": _mean(last), "alpha": alpha, **test}
        row["verdict"] = verdict(row["effect"], row["p_value"], alpha)
        row["p_text"] = format_p(row["p_value"], floor=row.get("p_floor"))
        row["evidence"] = _evidence(row)
        row.pop("alpha")
        row.pop("p_floor", None)
        rows.append(row)
    return rows
