"""Activity–confidence statistics over training, as tidy pandas DataFrames.

Three levels of analysis, following the paper's claim that "activity becomes stronger
and more distinct both with training time and with confidence":

* **Samples** — :func:`activity_confidence`: per snapshot (and layer), the Spearman rank
  correlation between each probe sample's confidence and its layer activity (mean
  activation, L2 norm or fraction of active units), with a seeded bootstrap confidence
  interval. :func:`neuron_correlation` gives every neuron's own Spearman correlation
  with confidence (a map per snapshot).
* **Confidence bins** — :func:`bin_statistics`: per snapshot × confidence bin, the
  *strength* of the bin's NAP (mean ``|NAP|`` over neurons, and the mean activation)
  and its *distinctness* (mean pairwise cosine distance between the class NAPs inside
  the bin).
* **Trends and claims** — :func:`trend_tests` asks whether strength and distinctness
  rise with training time (within each confidence bin) and with confidence (within
  each snapshot); :func:`claim_summary` turns that into one table that says, per claim,
  whether the data support it, with the numbers.

Spearman correlations are computed by ranking once and correlating the standardised
ranks with matrix products, so hundreds of snapshots × thousands of samples are cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_float, check_int, check_option, check_random_state, param_error
from .confidence import MEASURES, _snapshot_coords, _snapshot_frame
from .naps import DEFAULT_BINS, _group_samples, _layer_group_sums
from .store import Run

__all__ = [
    "ACTIVITIES",
    "activity_confidence",
    "bin_statistics",
    "claim_summary",
    "neuron_correlation",
    "sample_activity",
    "spearman",
    "trend_tests",
]

#: Per-sample summaries of a layer's activity.
ACTIVITIES: tuple[str, ...] = ("mean", "l2", "active_fraction")
_CHUNK_BYTES = 64 << 20


# --------------------------------------------------------------------------- checks
def _check_run(run: Any, caller: str) -> Run:
    if not isinstance(run, Run):
        raise param_error("run", caller, "an actconf Run (from actconf.open_run)", type(run).__name__)
    return run


def _check_layers(run: Run, layers: Any, caller: str) -> list[str]:
    if layers is None:
        return run.layers
    if isinstance(layers, str):
        return [run.check_layer(layers)]
    if isinstance(layers, Sequence) and layers and all(isinstance(x, str) for x in layers):
        return [run.check_layer(x) for x in layers]
    raise param_error("layers", caller, "a layer name, a list of layer names or None (all layers)", layers,
                      f"Recorded layers: {', '.join(map(repr, run.layers))}.")


def _confidence_values(run: Run, measure: Any, idx: np.ndarray, caller: str) -> tuple[str, np.ndarray]:
    from .naps import _resolve_confidence

    name, conf = _resolve_confidence(run, measure, idx, caller)
    return name, np.asarray(conf.values, dtype=np.float64)


def _check_measure_name(measure: Any, caller: str) -> None:
    if isinstance(measure, str) and measure not in MEASURES:
        raise param_error("measure", caller, "one of " + ", ".join(repr(m) for m in MEASURES)
                          + " or a confidence DataArray from actconf.confidence.confidence()", measure)


# --------------------------------------------------------------------------- Spearman
def _ranks(a: np.ndarray, axis: int) -> np.ndarray:
    """Average ranks along ``axis`` (ties share their mean rank), as float64."""
    from scipy.stats import rankdata

    return rankdata(a, axis=axis, method="average").astype(np.float64)


def _standardise(r: np.ndarray, axis: int) -> np.ndarray:
    """Centre and scale to unit norm along ``axis``; constant slices become NaN."""
    c = r - r.mean(axis=axis, keepdims=True)
    norm = np.sqrt((c * c).sum(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-12 * max(1, r.shape[axis]), c / norm, np.nan)


def _p_values(rho: np.ndarray, n: int) -> np.ndarray:
    """Two-sided p-value of a Spearman rho under independence (t approximation, as SciPy)."""
    from scipy.stats import t as t_dist

    if n < 3:
        return np.full_like(rho, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = rho * np.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
    p = 2 * t_dist.sf(np.abs(t), n - 2)
    return np.where(np.isnan(rho), np.nan, p)


def spearman(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise Spearman rank correlation of two arrays of shape (..., n).

    Parameters
    ----------
    x, y : array-like of the same shape (..., n)
        Correlated along the last axis; every leading index is a separate pair.

    Returns
    -------
    rho, p_value : numpy.ndarray of shape (...)
        NaN where either row is constant or holds NaN. The p-value is two-sided
        (t-distribution approximation with n − 2 degrees of freedom, as
        ``scipy.stats.spearmanr``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim < 1:
        raise param_error("y", "spearman()", f"an array of the same shape as x {x.shape}",
                          f"an array of shape {y.shape}")
    zx = _standardise(_ranks(x, -1), -1)
    zy = _standardise(_ranks(y, -1), -1)
    rho = np.clip((zx * zy).sum(axis=-1), -1.0, 1.0)
    return rho, _p_values(rho, x.shape[-1])


def _resample_ranks(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Centred average ranks of ``x`` (n,) inside every bootstrap resample given by ``weights``.

    ``weights`` (B, n) int counts how often each sample was drawn. A sample's rank among
    the resampled values is (draws of smaller values) + (draws of equal values + 1) / 2
    — exactly what ranking the explicitly resampled data gives every copy. The mean
    rank of n draws is always (n + 1) / 2, which is subtracted (float32 result).
    """
    n = x.shape[0]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = weights[:, order]
    through = np.cumsum(ws, axis=1, dtype=np.int32)
    ties = xs[1:] == xs[:-1]
    if ties.any():
        new = np.concatenate([[True], ~ties])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n) - 1
        tie = np.cumsum(new) - 1
        before = (through - ws)[:, starts[tie]]
        through = through[:, ends[tie]]
    else:
        before = through - ws
    ranks = np.empty(weights.shape, dtype=np.float32)
    ranks[:, order] = (before + through).astype(np.float32) * np.float32(0.5) + np.float32(0.5 - (n + 1) / 2)
    return ranks


def _bootstrap_spearman(cx: np.ndarray, cy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman rho of every resample from centred within-resample ranks cx, cy (B, n)."""
    wcx = weights * cx
    cov = np.einsum("bi,bi->b", wcx, cy, dtype=np.float64)
    vx = np.einsum("bi,bi->b", wcx, cx, dtype=np.float64)
    vy = np.einsum("bi,bi->b", weights * cy, cy, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx * vy), np.nan)


def _bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) int32 draw counts of n-out-of-n resampling with replacement."""
    draws = rng.integers(0, n, size=(n_boot, n))
    flat = (draws + n * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.int32)


# --------------------------------------------------------------------------- activity
def _activity_from(acts: np.ndarray, activity: str, threshold: float) -> np.ndarray:
    if activity == "mean":
        return acts.mean(axis=-1)
    if activity == "l2":
        return np.sqrt((acts.astype(np.float64) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore"):
        frac = (acts > threshold).mean(axis=-1)
    return np.where(np.isfinite(acts).all(axis=-1), frac, np.nan)


def _layer_activity(run: Run, layer: str, idx: np.ndarray, activity: str, threshold: float) -> np.ndarray:
    info = run.layer_info(layer)
    per = max(1, run.n_samples * int(info["n_neurons"]) * 4)
    chunk = max(1, _CHUNK_BYTES // per)
    out = np.empty((idx.size, run.n_samples))
    for start in range(0, idx.size, chunk):
        acts = run.read(info["array"], idx[start:start + chunk]).astype(np.float64)
        out[start:start + chunk] = _activity_from(acts, activity, threshold)
    return out


def sample_activity(
    run: Run,
    *,
    layer: str | None = None,
    activity: str = "mean",
    threshold: float = 0.0,
    snapshots: Any = None,
):
    """Activity of a layer per probe sample and snapshot.

    Parameters
    ----------
    run : Run
    layer : str, optional
        The first recorded layer by default.
    activity : {"mean", "l2", "active_fraction"}, default="mean"
        Mean activation over the layer's neurons, their L2 norm, or the fraction of
        neurons whose activation exceeds ``threshold``.
    threshold : float, default=0.0
        For ``active_fraction`` (0 = "fires" for ReLU units).
    snapshots : selector, optional

    Returns
    -------
    xarray.DataArray (snapshot, sample)
    """
    import xarray as xr

    caller = "sample_activity()"
    run = _check_run(run, caller)
    layer = run.check_layer(layer)
    activity = check_option("activity", activity, ACTIVITIES, caller)
    threshold = check_float("threshold", threshold, caller)
    idx = run.snapshot_index(snapshots)
    values = _layer_activity(run, layer, idx, activity, threshold)
    coords = {**_snapshot_coords(run, idx), "sample": np.arange(run.n_samples), "label": ("sample", run.labels)}
    return xr.DataArray(values, dims=("snapshot", "sample"), coords=coords, name=activity,
                        attrs={"layer": layer, "activity": activity})


def activity_confidence(
    run: Run,
    *,
    layers: str | Sequence[str] | None = None,
    activity: str = "mean",
    measure: Any = "max_softmax",
    snapshots: Any = None,
    threshold: float = 0.0,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int | np.random.Generator = 0,
):
    """Sample-level Spearman correlation between confidence and layer activity.

    For every snapshot and layer: rank the probe samples by confidence and by activity
    and correlate the ranks. The confidence interval is a percentile bootstrap over
    probe samples (pairs resampled with replacement, ranks recomputed inside each
    resample); the same resamples are used for every snapshot and layer, so
    differences between snapshots are not blurred by different draws.

    Parameters
    ----------
    run : Run
    layers : str or list of str, optional
        Layers to analyse; all recorded layers by default.
    activity : {"mean", "l2", "active_fraction"}, default="mean"
        See :func:`sample_activity`.
    measure : str or xarray.DataArray, default="max_softmax"
        Confidence measure (see :mod:`actconf.confidence`) or a precomputed confidence.
    snapshots : selector, optional
    threshold : float, default=0.0
        For ``active_fraction``.
    n_boot : int, default=1000
        Bootstrap resamples (0 disables the interval).
    ci : float, default=0.95
        Coverage of the interval.
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    pandas.DataFrame
        One row per layer × snapshot: snapshot metadata (``snapshot``, ``kind``,
        ``epoch``, ``batch``, ``step``, ``progress``, ``label``), ``layer``,
        ``activity``, ``measure``, ``n``, ``rho``, ``p_value`` (two-sided, independence),
        ``ci_low``, ``ci_high``. ``rho`` is NaN when activity or confidence is constant
        (e.g. a dead layer).
    """
    import pandas as pd

    caller = "activity_confidence()"
    run = _check_run(run, caller)
    layer_list = _check_layers(run, layers, caller)
    activity = check_option("activity", activity, ACTIVITIES, caller)
    _check_measure_name(measure, caller)
    threshold = check_float("threshold", threshold, caller)
    n_boot = check_int("n_boot", n_boot, caller, min_value=0)
    ci = check_float("ci", ci, caller, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    rng = check_random_state(seed, caller)
    idx = run.snapshot_index(snapshots)
    name, conf = _confidence_values(run, measure, idx, caller)
    n = run.n_samples
    acts = {layer: _layer_activity(run, layer, idx, activity, threshold) for layer in layer_list}
    weights = _bootstrap_weights(n, n_boot, rng) if n_boot else None
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    frame = _snapshot_frame(run, idx)
    results = {layer: spearman(conf, acts[layer]) for layer in layer_list}
    low = {layer: np.full(idx.size, np.nan) for layer in layer_list}
    high = {layer: np.full(idx.size, np.nan) for layer in layer_list}
    if weights is not None:
        wf = weights.astype(np.float32)
        for i in range(idx.size):  # snapshots outer: the confidence's resample ranks serve every layer
            x = conf[i]
            todo = [layer for layer in layer_list if np.isfinite(results[layer][0][i])
                    and np.isfinite(x).all() and np.isfinite(acts[layer][i]).all()]
            if not todo:
                continue
            cx = _resample_ranks(x, weights)
            for layer in todo:
                boot = _bootstrap_spearman(cx, _resample_ranks(acts[layer][i], weights), wf)
                if np.isfinite(boot).any():
                    low[layer][i], high[layer][i] = np.nanpercentile(boot, [lo_q, hi_q])
    parts = []
    for layer in layer_list:
        part = frame.copy()
        part["layer"] = layer
        part["activity"] = activity
        part["measure"] = name
        part["n"] = n
        part["rho"] = results[layer][0]
        part["p_value"] = results[layer][1]
        part["ci_low"] = low[layer]
        part["ci_high"] = high[layer]
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update(ci=ci, n_boot=n_boot, activity=activity, measure=name)
    return table


def neuron_correlation(
    run: Run,
    *,
    layer: str | None = None,
    measure: Any = "max_softmax",
    snapshots: Any = None,
):
    """Each neuron's Spearman correlation between its activation and confidence, per snapshot.

    Parameters
    ----------
    run : Run
    layer : str, optional
        The first recorded layer by default.
    measure : str or xarray.DataArray, default="max_softmax"
    snapshots : selector, optional

    Returns
    -------
    xarray.DataArray (snapshot, neuron), named ``"rho"``
        With a ``p_value`` coordinate (snapshot, neuron). Neurons that are constant
        over the probe set at a snapshot (e.g. dead ReLUs) get NaN. Draw it as a
        topographic map to see where activity follows confidence.
    """
    import xarray as xr

    caller = "neuron_correlation()"
    run = _check_run(run, caller)
    layer = run.check_layer(layer)
    _check_measure_name(measure, caller)
    idx = run.snapshot_index(snapshots)
    name, conf = _confidence_values(run, measure, idx, caller)
    info = run.layer_info(layer)
    n_neurons = int(info["n_neurons"])
    zc = _standardise(_ranks(conf, 1), 1)  # (S, n)
    chunk = max(1, _CHUNK_BYTES // max(1, run.n_samples * n_neurons * 8 * 3))
    rho = np.empty((idx.size, n_neurons))
    for start in range(0, idx.size, chunk):
        acts = run.read(info["array"], idx[start:start + chunk]).astype(np.float64)
        za = _standardise(_ranks(acts, 1), 1)  # (s, n, N)
        rho[start:start + chunk] = np.einsum("sn,snk->sk", zc[start:start + chunk], za)
    rho = np.clip(rho, -1.0, 1.0)
    coords = {**_snapshot_coords(run, idx), "neuron": np.arange(n_neurons),
              "p_value": (("snapshot", "neuron"), _p_values(rho, run.n_samples))}
    return xr.DataArray(rho, dims=("snapshot", "neuron"), coords=coords, name="rho",
                        attrs={"layer": layer, "measure": name})


# --------------------------------------------------------------------------- bins
def _mean_pairwise_cosine_distance(x: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (..., K, N), valid (..., K) -> mean cosine distance over valid pairs, number used.

    Vectors of zero norm have no direction and are left out.
    """
    norm = np.sqrt((np.nan_to_num(x) ** 2).sum(axis=-1))
    use = valid & (norm > 0)
    unit = np.where(use[..., None], np.nan_to_num(x) / np.where(norm > 0, norm, 1.0)[..., None], 0.0)
    gram = np.einsum("...kn,...ln->...kl", unit, unit)
    k = use.sum(axis=-1)
    pairs = k * (k - 1) / 2
    sim_sum = (gram.sum(axis=(-1, -2)) - (unit * unit).sum(axis=(-1, -2))) / 2  # off-diagonal, i < j
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(pairs > 0, 1.0 - sim_sum / pairs, np.nan)
    return dist, k


def bin_statistics(
    run: Run,
    *,
    layers: str | Sequence[str] | None = None,
    measure: Any = "max_softmax",
    bins: Any = DEFAULT_BINS,
    snapshots: Any = None,
    min_size: int = 5,
    contrastive: bool = False,
):
    """Strength and distinctness of activity per confidence bin, per snapshot.

    Parameters
    ----------
    run : Run
    layers : str or list of str, optional
        All recorded layers by default.
    measure, bins, snapshots
        Confidence measure and bins, as in :func:`actconf.naps.naps`.
    min_size : int, default=5
        A bin (for strength) or a class inside a bin (for distinctness) needs this many
        samples; otherwise it is left out (NaN).
    contrastive : bool, default=False
        Measure distinctness on class NAPs minus their mean within the bin (the
        contrastive NAPs of the paper's maps) instead of the plain class NAPs.

    Returns
    -------
    pandas.DataFrame
        One row per layer × snapshot × bin: snapshot metadata, ``layer``, ``bin``
        (label), ``bin_index`` (0 = lowest confidence), ``lower``/``upper`` (bin bounds),
        ``n_samples``, ``strength`` (mean over neurons of ``|NAP|`` of the bin),
        ``mean_activation`` (mean over neurons of the bin's NAP), ``distinctness`` (mean
        pairwise cosine distance between the bin's class NAPs; 0 = identical
        directions) and ``n_classes`` (classes with at least ``min_size`` samples in the
        bin, excluding all-zero NAPs). Needs at least two classes for distinctness.
    """
    import pandas as pd

    caller = "bin_statistics()"
    run = _check_run(run, caller)
    layer_list = _check_layers(run, layers, caller)
    _check_measure_name(measure, caller)
    min_size = check_int("min_size", min_size, caller, min_value=1)
    if not isinstance(contrastive, bool | np.bool_):
        raise param_error("contrastive", caller, "True or False", contrastive)
    grouping = _group_samples(run, by="class+confidence", measure=measure, bins=bins,
                              snapshots=snapshots, caller=caller)
    idx = np.asarray(grouping.assignment["snapshot"].values)
    k = run.n_classes
    nb = grouping.n_groups // k
    bin_labels = grouping.factors["confidence"][:nb]
    frame = _snapshot_frame(run, idx)
    parts = []
    for layer in layer_list:
        sums, sizes = _layer_group_sums(run, layer, idx, grouping._codes, grouping.n_groups)
        sums = sums.reshape(idx.size, k, nb, -1)
        sizes = sizes.reshape(idx.size, k, nb)
        bin_size = sizes.sum(axis=1)  # (S, B)
        with np.errstate(invalid="ignore", divide="ignore"):
            bin_nap = sums.sum(axis=1) / bin_size[..., None]  # (S, B, N)
            class_nap = sums / sizes[..., None]  # (S, K, B, N)
        ok_bin = bin_size >= min_size
        strength = np.where(ok_bin, np.abs(bin_nap).mean(axis=-1), np.nan)
        mean_act = np.where(ok_bin, bin_nap.mean(axis=-1), np.nan)
        class_nap = np.moveaxis(class_nap, 1, 2)  # (S, B, K, N)
        valid = np.moveaxis(sizes, 1, 2) >= min_size
        valid &= np.isfinite(class_nap).all(axis=-1)
        if contrastive:
            with np.errstate(invalid="ignore", divide="ignore"):
                centre = np.where(valid[..., None], class_nap, 0).sum(axis=2, keepdims=True) / valid.sum(
                    axis=2, keepdims=True)[..., None]
            class_nap = class_nap - centre
        dist, n_cls = _mean_pairwise_cosine_distance(class_nap, valid)
        s_count = idx.size
        meta = frame.loc[np.repeat(np.arange(s_count), nb)].reset_index(drop=True)
        part = meta.assign(
            layer=layer,
            bin=np.tile(bin_labels, s_count),
            bin_index=np.tile(np.arange(nb), s_count),
            lower=grouping.bin_lower.reshape(s_count, k, nb)[:, 0].ravel(),
            upper=grouping.bin_upper.reshape(s_count, k, nb)[:, 0].ravel(),
            n_samples=bin_size.ravel(),
            strength=strength.ravel(),
            mean_activation=mean_act.ravel(),
            distinctness=dist.ravel(),
            n_classes=n_cls.ravel(),
        )
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update(measure=grouping.measure, bins=grouping.bins, min_size=min_size,
                       contrastive=bool(contrastive))
    return table


# --------------------------------------------------------------------------- trends
def _stratified_trend(
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
        zx = _standardise(_ranks(x[m], 0), 0)
        zy = _standardise(_ranks(y[m], 0), 0)
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
                res = _stratified_trend(x, y, strata, n_permutations, rng)
                rows.append({"layer": layer, "metric": metric, "factor": factor, **res})
    return pd.DataFrame(rows)


def _verdict(rho: float, significant: bool) -> str:
    if not np.isfinite(rho) or not significant:
        return "not supported"
    return "supported" if rho > 0 else "contradicted"


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
        As in :func:`bin_statistics`.
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
    run = _check_run(run, caller)
    alpha = check_float("alpha", alpha, caller, min_value=0.0, max_value=1.0, min_inclusive=False,
                        max_inclusive=False)
    rng = check_random_state(seed, caller)
    _check_measure_name(measure, caller)
    idx = run.snapshot_index(snapshots)
    if isinstance(measure, str):
        from .confidence import confidence

        measure = confidence(run, measure=measure, snapshots=idx)  # computed once, used twice
    stats = bin_statistics(run, layers=layers, measure=measure, bins=bins, snapshots=idx, min_size=min_size)
    trends = trend_tests(stats, n_permutations=n_permutations, seed=rng)
    final = activity_confidence(run, layers=layers, activity=activity, measure=measure, snapshots=idx[-1:],
                                n_boot=n_boot, ci=1 - alpha, seed=rng)
    rows = []
    for layer in stats["layer"].unique():
        sub = trends[trends["layer"] == layer]
        for metric, factor, text in (
            ("strength", "training", "activity becomes stronger with training time"),
            ("distinctness", "training", "activity becomes more distinct with training time"),
            ("strength", "confidence", "activity is stronger at higher confidence"),
            ("distinctness", "confidence", "activity is more distinct at higher confidence"),
        ):
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
        rows.append({"layer": layer, "claim": "more confident samples have higher activity (last snapshot)",
                     "statistic": f"{activity} activity ~ confidence (samples)", "rho": f["rho"],
                     "p_value": f["p_value"], "ci_low": lo, "ci_high": hi, "n": int(f["n"]),
                     "verdict": verdict, "evidence": evidence})
    table = pd.DataFrame(rows)
    table.attrs.update(alpha=alpha, measure=stats.attrs["measure"], bins=stats.attrs["bins"])
    return table
