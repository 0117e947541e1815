"""Sample level: per-sample layer activity and its rank correlation with confidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._dask import activation_blocks, compute, per_snapshot
from .._validation import (
    check_bool,
    check_float,
    check_int,
    check_option,
    check_random_state,
    check_run,
)
from ..confidence import check_measure
from ..store import Run
from ._common import ACTIVITIES, check_layers, confidence_values
from ._inference import partial_from_correlations
from ._spearman import (
    bootstrap_spearman,
    bootstrap_weights,
    p_values,
    ranks,
    resample_ranks,
    spearman,
    standardise,
)


def activity_from(acts: np.ndarray, activity: str, threshold: float) -> np.ndarray:
    if activity == "mean":
        return acts.mean(axis=-1)
    if activity == "l2":
        return np.sqrt((acts.astype(np.float64) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore"):
        frac = (acts > threshold).mean(axis=-1)
    return np.where(np.isfinite(acts).all(axis=-1), frac, np.nan)


def _block_activity(acts: np.ndarray, activity: str, threshold: float) -> np.ndarray:
    return activity_from(acts.astype(np.float64), activity, threshold)


def lazy_activity(acts: Any, activity: str, threshold: float):
    """Per-sample activity of dask activations (S, n, N) -> dask (S, n); every block has all neurons."""
    if len(acts.chunks[2]) > 1:
        acts = acts.rechunk({2: -1})
    return acts.map_blocks(_block_activity, activity, threshold, drop_axis=2, dtype=np.float64,
                           meta=np.empty((0, 0)))


def _layer_activity(run: Run, layer: str, idx: np.ndarray, activity: str, threshold: float) -> np.ndarray:
    (values,) = compute(lazy_activity(activation_blocks(run, layer, idx, whole="neuron"), activity, threshold))
    return values


def sample_activity(
    run: Run,
    layer: str | None = None,
    *,
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
    run = check_run(run, caller)
    layer = run.check_layer(layer)
    activity = check_option("activity", activity, ACTIVITIES, caller)
    threshold = check_float("threshold", threshold, caller)
    idx = run.snapshot_index(snapshots)
    values = _layer_activity(run, layer, idx, activity, threshold)
    coords = {**run.snapshot_coords(idx), "sample": np.arange(run.n_samples), "label": ("sample", run.labels)}
    return xr.DataArray(values, dims=("snapshot", "sample"), coords=coords, name=activity,
                        attrs={"layer": layer, "activity": activity})


def _block_rho(acts: np.ndarray, zc: np.ndarray) -> np.ndarray:
    """One block (s, n, k) of activations with all samples -> rho (s, k) against ranks zc (s, n, 1)."""
    za = standardise(ranks(acts.astype(np.float64), 1), 1)
    return np.einsum("sn,snk->sk", zc[:, :, 0], za)


def _bootstrap_intervals(
    conf: np.ndarray, acts: dict[str, np.ndarray], spread: np.ndarray | None, weights: np.ndarray, ci: float
) -> dict[str, np.ndarray]:
    """Percentile bootstrap intervals of every layer's rho (and controlled rho) at every snapshot.

    Returns ``{(layer, "rho" | "ctrl"): (low, high)}`` arrays of shape (S,), NaN where
    undefined. The confidence's (and logit spread's) resample ranks of a snapshot serve
    every layer, hence snapshots outer.
    """
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    kinds = ("rho",) if spread is None else ("rho", "ctrl")
    out = {(layer, kind): (np.full(conf.shape[0], np.nan), np.full(conf.shape[0], np.nan))
           for layer in acts for kind in kinds}
    wf = weights.astype(np.float32)
    for i in range(conf.shape[0]):
        todo = [layer for layer in acts if np.isfinite(conf[i]).all() and np.isfinite(acts[layer][i]).all()]
        if not todo:
            continue
        cx = resample_ranks(conf[i], weights)
        cz = None if spread is None else resample_ranks(spread[i], weights)
        rxz = None if cz is None else bootstrap_spearman(cx, cz, wf)
        for layer in todo:
            ca = resample_ranks(acts[layer][i], weights)
            boot = {"rho": bootstrap_spearman(cx, ca, wf)}
            if cz is not None:
                boot["ctrl"] = partial_from_correlations(boot["rho"], rxz, bootstrap_spearman(ca, cz, wf))
            for kind, values in boot.items():
                if np.isfinite(values).sum() >= 10:
                    low, high = out[(layer, kind)]
                    low[i], high[i] = np.nanpercentile(values, [lo_q, hi_q])
    return out


def _spread(run: Run, idx: np.ndarray) -> np.ndarray:
    """Logit spread (S, n) of the probe samples: the output scale that sharpens the softmax."""
    from ._statements import logit_spread

    probs = run.read("outputs/probabilities", idx)
    return logit_spread(run.read("outputs/logits", idx) if run.has_logits else None, probs)


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
    control: bool = True,
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
    control : bool, default=True
        Also give the *scale-controlled* correlation: the partial Spearman correlation
        of confidence and activity given the logit spread (the norm of the centred
        logits, which sharpens the softmax whatever the weights have learned). A
        relation that survives it is not just output scale.
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    pandas.DataFrame
        One row per layer × snapshot: snapshot metadata (``snapshot``, ``kind``,
        ``epoch``, ``batch``, ``step``, ``progress``, ``label``), ``layer``,
        ``activity``, ``measure``, ``n``, ``rho``, ``p_value`` (two-sided, independence
        of samples — valid within a snapshot, not for comparing snapshots), ``ci_low``,
        ``ci_high`` and, with ``control``, ``rho_ctrl``, ``ci_low_ctrl``,
        ``ci_high_ctrl``. ``rho`` is NaN when activity or confidence is constant (e.g. a
        dead layer). The first row of each layer (usually the untrained state) is the
        baseline every later value should be compared with.
    """
    import pandas as pd

    caller = "activity_confidence()"
    run = check_run(run, caller)
    layer_list = check_layers(run, layers, caller)
    activity = check_option("activity", activity, ACTIVITIES, caller)
    check_measure(measure, caller)
    threshold = check_float("threshold", threshold, caller)
    n_boot = check_int("n_boot", n_boot, caller, min_value=0)
    ci = check_float("ci", ci, caller, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    rng = check_random_state(seed, caller)
    idx = run.snapshot_index(snapshots)
    name, conf = confidence_values(run, measure, idx, caller)
    acts = {layer: _layer_activity(run, layer, idx, activity, threshold) for layer in layer_list}
    control = check_bool("control", control, caller)
    spread = _spread(run, idx) if control else None
    results = {layer: spearman(conf, acts[layer]) for layer in layer_list}
    nan = np.full(idx.size, np.nan)
    intervals = (_bootstrap_intervals(conf, acts, spread, bootstrap_weights(run.n_samples, n_boot, rng), ci)
                 if n_boot else {})
    frame = run.snapshot_frame(idx)
    parts = []
    for layer in layer_list:
        cols = {"rho": results[layer][0], "p_value": results[layer][1]}
        cols["ci_low"], cols["ci_high"] = intervals.get((layer, "rho"), (nan, nan))
        if control:
            r_cz, r_az = spearman(conf, spread)[0], spearman(acts[layer], spread)[0]
            cols["rho_ctrl"] = partial_from_correlations(cols["rho"], r_cz, r_az)
            cols["ci_low_ctrl"], cols["ci_high_ctrl"] = intervals.get((layer, "ctrl"), (nan, nan))
        parts.append(frame.assign(layer=layer, activity=activity, measure=name, n=run.n_samples, **cols))
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update(ci=ci, n_boot=n_boot, activity=activity, measure=name, control=control)
    return table


def neuron_correlation(
    run: Run,
    layer: str | None = None,
    *,
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
    run = check_run(run, caller)
    layer = run.check_layer(layer)
    check_measure(measure, caller)
    idx = run.snapshot_index(snapshots)
    name, conf = confidence_values(run, measure, idx, caller)
    n_neurons = run.layer_sizes[layer]
    zc = standardise(ranks(conf, 1), 1)  # (S, n)
    acts = activation_blocks(run, layer, idx, whole="sample")
    (rho,) = compute(acts.map_blocks(_block_rho, per_snapshot(acts, zc)[:, :, None], drop_axis=1,
                                     dtype=np.float64, meta=np.empty((0, 0))))
    rho = np.clip(rho, -1.0, 1.0)
    coords = {**run.snapshot_coords(idx), "neuron": np.arange(n_neurons),
              "p_value": (("snapshot", "neuron"), p_values(rho, run.n_samples))}
    return xr.DataArray(rho, dims=("snapshot", "neuron"), coords=coords, name="rho",
                        attrs={"layer": layer, "measure": name})
