"""Trends and claims: do strength and distinctness rise with training time and confidence?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_float, check_int, check_random_state, check_run, param_error
from ..confidence import check_measure, confidence
from ..naps import DEFAULT_BINS
from ..store import Run
from ._bins import bin_statistics
from ._samples import activity_confidence
from ._spearman import ranks, standardise


def stratified_trend(
    x: np.ndarray, y: np.ndarray, strata: np.ndarray, n_perm: int, rng: np.random.Generator
) -> dict[str, float]:
    """Mean within-stratum Spearman rho of y on x and its stratified permutation p-value.

    Strata need at least 3 finite points and non-constant x and y. The null
    distribution permutes y within every stratum (independently), keeping each
    stratum's values; p is two-sided, ``(1 + #{|T*| >= |T|}) / (1 + n_perm)``.
    """
    rhos, perm_sum, points = [], np.zeros(n_perm), 0
    for s in np.unique(strata):
        m = (strata == s) & np.isfinite(x) & np.isfinite(y)
        if m.sum() < 3:
            continue
        zx = standardise(ranks(x[m], 0), 0)
        zy = standardise(ranks(y[m], 0), 0)
        if np.isnan(zx).any() or np.isnan(zy).any():
            continue
        rhos.append(float(zx @ zy))
        points += int(m.sum())
        if n_perm:
            perms = rng.permuted(np.broadcast_to(np.arange(zy.size), (n_perm, zy.size)), axis=1)
            perm_sum += zy[perms] @ zx
    if not rhos:
        return {"rho": np.nan, "p_value": np.nan, "n_strata": 0, "n_points": 0, "frac_positive": np.nan}
    stat = float(np.mean(rhos))
    p = np.nan
    if n_perm:
        null = perm_sum / len(rhos)
        p = float((1 + np.sum(np.abs(null) >= abs(stat) - 1e-12)) / (1 + n_perm))
    return {"rho": stat, "p_value": p, "n_strata": len(rhos), "n_points": points,
            "frac_positive": float(np.mean(np.asarray(rhos) > 0))}


def trend_tests(
    table: Any,
    *,
    metrics: Sequence[str] = ("strength", "distinctness"),
    time: str = "step",
    n_permutations: int = 2000,
    seed: int | np.random.Generator = 0,
):
    """Do strength and distinctness rise with training time and with confidence?

    For each layer and metric of a :func:`bin_statistics` table:

    * ``factor="training"``: the Spearman correlation between the metric and training
      time (column ``time``) across snapshots, computed *within* every confidence bin
      and averaged over bins;
    * ``factor="confidence"``: the Spearman correlation between the metric and the bin
      index (low to high confidence) across bins, within every snapshot, averaged over
      snapshots.

    The p-value comes from a stratified permutation test (the metric permuted within
    every bin, resp. snapshot; seeded, two-sided). Snapshots of one run are not
    independent samples, so read p-values as a measure of consistency, not of
    generalisation to other runs.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`bin_statistics`.
    metrics : sequence of str, default=("strength", "distinctness")
        Columns to test (e.g. also ``"mean_activation"``).
    time : str, default="step"
        Column that measures training time (``"step"``, ``"progress"``, ``"snapshot"``).
    n_permutations : int, default=2000
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    pandas.DataFrame
        One row per layer × metric × factor: ``layer``, ``metric``, ``factor``,
        ``rho`` (mean within-stratum Spearman), ``p_value``, ``n_strata``,
        ``n_points``, ``frac_positive`` (share of strata with a positive rho).
    """
    import pandas as pd

    caller = "trend_tests()"
    if not isinstance(table, pd.DataFrame) or not {"bin_index", "snapshot", "layer"} <= set(table.columns):
        raise param_error("table", caller, "a DataFrame from bin_statistics()", type(table).__name__)
    if isinstance(metrics, str):
        metrics = [metrics]
    for metric in metrics:
        if metric not in table.columns:
            raise param_error("metrics", caller, "column names of the table, e.g. 'strength', "
                              "'distinctness', 'mean_activation'", metric)
    if time not in table.columns:
        raise param_error("time", caller, "a column of the table such as 'step', 'progress' or 'snapshot'", time)
    n_permutations = check_int("n_permutations", n_permutations, caller, min_value=0)
    rng = check_random_state(seed, caller)
    rows = []
    for layer, sub in table.groupby("layer", sort=False):
        t = sub[time].to_numpy(dtype=float)
        b = sub["bin_index"].to_numpy(dtype=float)
        snap = sub["snapshot"].to_numpy()
        for metric in metrics:
            y = sub[metric].to_numpy(dtype=float)
            for factor, x, strata in (("training", t, b), ("confidence", b, snap)):
                res = stratified_trend(x, y, strata, n_permutations, rng)
                rows.append({"layer": layer, "metric": metric, "factor": factor, **res})
    return pd.DataFrame(rows)


def _verdict(rho: float, significant: bool) -> str:
    if not np.isfinite(rho) or not significant:
        return "not supported"
    return "supported" if rho > 0 else "contradicted"



#: The four trend statements of the claim: (metric, factor, claim text).
_TREND_CLAIMS = (
    ("strength", "training", "activity becomes stronger with training time"),
    ("distinctness", "training", "activity becomes more distinct with training time"),
    ("strength", "confidence", "activity is stronger at higher confidence"),
    ("distinctness", "confidence", "activity is more distinct at higher confidence"),
)


def _trend_rows(trends: Any, layer: str, alpha: float) -> list[dict[str, Any]]:
    """Rows of statements 1–4 for one layer, from its :func:`trend_tests` results."""
    sub = trends[trends["layer"] == layer]
    rows = []
    for metric, factor, text in _TREND_CLAIMS:
        r = sub[(sub["metric"] == metric) & (sub["factor"] == factor)].iloc[0]
        within = "confidence bins" if factor == "training" else "snapshots"
        against = "training step" if factor == "training" else "confidence bin"
        verdict = _verdict(r["rho"], bool(r["p_value"] < alpha))
        evidence = (f"mean Spearman rho of {metric} vs {against} = {r['rho']:.3f} within "
                    f"{r['n_strata']} {within} ({r['frac_positive'] * 100:.0f}% positive), "
                    f"permutation p = {r['p_value']:.4g}") if r["n_strata"] else "too few data points"
        rows.append({"layer": layer, "claim": text, "statistic": f"{metric} ~ {factor}",
                     "rho": r["rho"], "p_value": r["p_value"], "ci_low": np.nan, "ci_high": np.nan,
                     "n": r["n_strata"], "verdict": verdict, "evidence": evidence})
    return rows


def _sample_row(final: Any, layer: str, activity: str, alpha: float) -> dict[str, Any]:
    """Row of statement 5 for one layer, from its last-snapshot :func:`activity_confidence` row."""
    f = final[final["layer"] == layer].iloc[0]
    lo, hi = f["ci_low"], f["ci_high"]
    if np.isfinite(lo) and lo > 0:
        verdict = "supported"
    elif np.isfinite(hi) and hi < 0:
        verdict = "contradicted"
    else:
        verdict = "not supported"
    evidence = (f"Spearman rho of sample confidence vs {activity} activity at {f['label']} = "
                f"{f['rho']:.3f}, {100 * (1 - alpha):.0f}% bootstrap CI [{lo:.3f}, {hi:.3f}], "
                f"n = {f['n']}")
    return {"layer": layer, "claim": "more confident samples have higher activity (last snapshot)",
            "statistic": f"{activity} activity ~ confidence (samples)", "rho": f["rho"],
            "p_value": f["p_value"], "ci_low": lo, "ci_high": hi, "n": int(f["n"]),
            "verdict": verdict, "evidence": evidence}


def claim_summary(
    run: Run,
    *,
    layers: str | Sequence[str] | None = None,
    measure: Any = "max_softmax",
    bins: Any = DEFAULT_BINS,
    snapshots: Any = None,
    min_size: int = 5,
    activity: str = "mean",
    n_boot: int = 1000,
    n_permutations: int = 2000,
    alpha: float = 0.05,
    seed: int | np.random.Generator = 0,
):
    """One table: does this run support the paper's claim, part by part?

    The claim — "activity becomes stronger and more distinct both with training time and
    with confidence" — is split into five testable statements per layer:

    1. strength rises with training time (within confidence bins);
    2. distinctness rises with training time (within confidence bins);
    3. strength rises with confidence (within snapshots);
    4. distinctness rises with confidence (within snapshots);
    5. at the last snapshot, more confident samples have higher activity (sample-level
       Spearman rho with a bootstrap interval).

    Statements 1–4 are ``supported`` when the mean within-stratum rho is positive and
    the stratified permutation p-value is below ``alpha`` (``contradicted`` when the rho
    is negative and significant, else ``not supported``); statement 5 when the whole
    ``1 - alpha`` bootstrap interval lies above 0.

    Parameters
    ----------
    run : Run
    layers, measure, bins, snapshots, min_size
        As in :func:`bin_statistics` (plain NAPs: the claim is about the size of activity).
    activity : {"mean", "l2", "active_fraction"}, default="mean"
        Activity for statement 5.
    n_boot, n_permutations : int
        Bootstrap resamples (statement 5) and permutations (1–4).
    alpha : float, default=0.05
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    pandas.DataFrame
        One row per layer × statement: ``layer``, ``claim``, ``statistic`` (what
        ``rho`` is), ``rho``, ``p_value``, ``ci_low``/``ci_high`` (statement 5),
        ``n`` (strata or samples), ``verdict`` and ``evidence`` (the numbers in words).
    """
    import pandas as pd

    caller = "claim_summary()"
    run = check_run(run, caller)
    alpha = check_float("alpha", alpha, caller, min_value=0.0, max_value=1.0, min_inclusive=False,
                        max_inclusive=False)
    rng = check_random_state(seed, caller)
    check_measure(measure, caller)
    idx = run.snapshot_index(snapshots)
    if isinstance(measure, str):
        measure = confidence(run, measure=measure, snapshots=idx)  # computed once, used twice
    stats = bin_statistics(run, layers=layers, measure=measure, bins=bins, snapshots=idx, min_size=min_size)
    trends = trend_tests(stats, n_permutations=n_permutations, seed=rng)
    final = activity_confidence(run, layers=layers, activity=activity, measure=measure, snapshots=idx[-1:],
                                n_boot=n_boot, ci=1 - alpha, seed=rng)
    rows = []
    for layer in stats["layer"].unique():
        rows += _trend_rows(trends, layer, alpha)
        rows.append(_sample_row(final, layer, activity, alpha))
    table = pd.DataFrame(rows)
    table.attrs.update(alpha=alpha, measure=stats.attrs["measure"], bins=stats.attrs["bins"])
    return table
