"""Confidence bins: strength and distinctness of the NAPs of every confidence bin, and their trends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_bool, check_int, check_run, param_error
from ..confidence import check_measure
from ..naps import layer_group_sums, make_grouping
from ..store import Run
from ._common import check_layers
from ._inference import cv_distinctness, drift_test
from ._statements import split_halves


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


def _bin_metrics(sums: np.ndarray, sizes: np.ndarray, min_size: int, contrastive: bool) -> dict[str, np.ndarray]:
    """Strength, mean activation and (plain) distinctness per (snapshot, bin).

    ``sums`` (S, K, B, N) and ``sizes`` (S, K, B) are the class × bin group sums.
    """
    bin_size = sizes.sum(axis=1)  # (S, B)
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_nap = sums.sum(axis=1) / bin_size[..., None]  # (S, B, N)
        class_nap = sums / sizes[..., None]  # (S, K, B, N)
    ok_bin = bin_size >= min_size
    class_nap = np.moveaxis(class_nap, 1, 2)  # (S, B, K, N)
    valid = np.moveaxis(sizes, 1, 2) >= min_size
    valid &= np.isfinite(class_nap).all(axis=-1)
    if contrastive:
        class_nap = class_nap - _valid_mean(class_nap, valid)
    dist, n_cls = _mean_pairwise_cosine_distance(class_nap, valid)
    return {
        "n_samples": bin_size,
        "strength": np.where(ok_bin, np.abs(bin_nap).mean(axis=-1), np.nan),
        "mean_activation": np.where(ok_bin, bin_nap.mean(axis=-1), np.nan),
        "distinctness_plain": dist,
        "n_classes": n_cls,
    }


def _valid_mean(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean over the valid rows of axis -2 of x (..., K, N), keepdims."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid[..., None], x, 0).sum(axis=-2, keepdims=True) / valid.sum(
            axis=-1, keepdims=True)[..., None]


def _split_half_distinctness(sums: np.ndarray, sizes: np.ndarray, min_size: int,
                             contrastive: bool) -> np.ndarray:
    """Split-half distinctness per (snapshot, bin), averaged over splits.

    ``sums`` (S, P, K, B, 2, N) and ``sizes`` (S, P, K, B, 2): class × bin × half sums
    for P random splits. A class enters with at least ``ceil(min_size / 2)`` samples in
    each half.
    """
    sa = np.moveaxis(sums[..., 0, :], 2, 3)  # (S, P, B, K, N)
    sb = np.moveaxis(sums[..., 1, :], 2, 3)
    ca = np.moveaxis(sizes[..., 0], 2, 3).astype(np.float64)  # (S, P, B, K)
    cb = np.moveaxis(sizes[..., 1], 2, 3).astype(np.float64)
    half_min = max(1, -(-min_size // 2))
    if contrastive:  # subtract the mean class NAP of each half (estimated from that half only)
        valid = (ca >= half_min) & (cb >= half_min)
        for sm, cnt in ((sa, ca), (sb, cb)):
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = sm / np.where(cnt > 0, cnt, 1.0)[..., None]
            sm -= _valid_mean(mean, valid) * cnt[..., None]
    dist, _ = cv_distinctness(sa, ca, sb, cb, min_count=half_min)  # (S, P, B)
    finite = np.isfinite(dist)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite.any(axis=1), np.where(finite, dist, 0.0).sum(axis=1) / finite.sum(axis=1), np.nan)


def bin_statistics(
    run: Run,
    *,
    layers: str | Sequence[str] | None = None,
    measure: Any = "max_softmax",
    bins: Any = "quantile:5",
    snapshots: Any = None,
    min_size: int = 5,
    contrastive: bool = False,
    n_splits: int = 4,
    seed: int = 0,
):
    """Strength and distinctness of activity per confidence bin, per snapshot.

    These statistics measure the *size* of activity, so they take plain NAPs (group
    means), unlike :func:`actconf.naps.naps`, whose default is contrastive.

    Changed in 0.2: the default bins are equal-count quantile groups (equal-width bins
    change membership over training and are nearly empty at the ends), and
    ``distinctness`` is the split-half estimate (zero when the class NAPs do not
    differ, however few samples a class has); the former plug-in estimate is
    ``distinctness_plain``. See ``docs/statistics.md``.

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
        Strength and mean activation always use the plain NAP of the bin.
    n_splits : int, default=4
        Random split-halves of each class's samples averaged in ``distinctness``.
    seed : int, default=0
        Seeds the splits.

    Returns
    -------
    pandas.DataFrame
        One row per layer × snapshot × bin: snapshot metadata, ``layer``, ``bin``
        (label), ``bin_index`` (0 = lowest confidence), ``lower``/``upper`` (bin bounds),
        ``n_samples``, ``strength`` (mean over neurons of ``|NAP|`` of the bin),
        ``mean_activation`` (mean over neurons of the bin's NAP), ``distinctness``
        (split-half mean pairwise cosine distance between the bin's class NAPs),
        ``distinctness_plain`` (the cosine distance between the noisy class NAPs
        themselves) and ``n_classes`` (classes with at least ``min_size`` samples in
        the bin, excluding all-zero NAPs).
    """
    import pandas as pd

    caller = "bin_statistics()"
    run = check_run(run, caller)
    layer_list = check_layers(run, layers, caller)
    check_measure(measure, caller)
    min_size = check_int("min_size", min_size, caller, min_value=1)
    contrastive = check_bool("contrastive", contrastive, caller)
    n_splits = check_int("n_splits", n_splits, caller, min_value=1)
    seed = check_int("seed", seed, caller, min_value=0)
    grouping = make_grouping(run, by="class+confidence", measure=measure, bins=bins, snapshots=snapshots,
                             caller=caller)
    idx = np.asarray(grouping.assignment["snapshot"].values)
    s, k = idx.size, run.n_classes
    nb = grouping.n_groups // k
    halves = split_halves(run.labels, n_splits, seed)  # (P, n)
    g2 = grouping.n_groups * 2
    codes = grouping.codes[:, None, :]
    split_codes = np.where(codes >= 0, np.arange(n_splits)[None, :, None] * g2 + codes * 2 + halves[None], -1)
    meta = run.snapshot_frame(idx).loc[np.repeat(np.arange(s), nb)].reset_index(drop=True)
    bounds = {"lower": grouping.bin_lower.reshape(s, k, nb)[:, 0].ravel(),
              "upper": grouping.bin_upper.reshape(s, k, nb)[:, 0].ravel()}
    parts = []
    for layer in layer_list:
        sums, sizes = layer_group_sums(run, layer, idx, split_codes, n_splits * g2)
        sums = sums.reshape(s, n_splits, k, nb, 2, -1)
        sizes = sizes.reshape(s, n_splits, k, nb, 2)
        metrics = _bin_metrics(sums[:, 0].sum(axis=-2), sizes[:, 0].sum(axis=-1), min_size, contrastive)
        metrics["distinctness"] = _split_half_distinctness(sums, sizes, min_size, contrastive)
        order = ["n_samples", "strength", "mean_activation", "distinctness", "distinctness_plain", "n_classes"]
        parts.append(meta.assign(layer=layer, bin=np.tile(grouping.factors["confidence"][:nb], s),
                                 bin_index=np.tile(np.arange(nb), s), **bounds,
                                 **{name: metrics[name].ravel() for name in order}))
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update(measure=grouping.measure, bins=grouping.bins, min_size=min_size, contrastive=contrastive,
                       n_splits=n_splits)
    return table


# --------------------------------------------------------------------------- trends (table level)
def trend_tests(table: Any, *, metrics: Sequence[str] = ("strength", "distinctness"), time: str = "step"):
    """Over-training and over-confidence trends of a :func:`bin_statistics` table (one run).

    Changed in 0.2: the stratified permutation test of earlier versions treated the
    snapshots of a run as exchangeable and overstated significance (it finds trends in
    random walks); this function now reports, per layer and metric:

    * ``factor="training"``: the metric averaged over bins at every snapshot; its
      ``untrained`` (first) and ``final`` value, the ``change`` and the one-run drift
      test (:func:`~actconf.analysis.drift_test`, signed-rank test on the increments);
    * ``factor="confidence"``: the Spearman correlation of the metric with the bin
      index (low to high confidence) within each snapshot; its untrained and final
      value and the change. A table of bins has no samples to resample, so no p-value
      is given (``NaN``): :func:`~actconf.analysis.claim_summary` tests it.

    For verdicts across seeds use :func:`~actconf.analysis.claim_summary` with a list
    of runs.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`bin_statistics` (one run).
    metrics : sequence of str, default=("strength", "distinctness")
    time : str, default="step"
        Column ordering the snapshots (``"step"``, ``"progress"``, ``"snapshot"``).

    Returns
    -------
    pandas.DataFrame
        One row per layer × metric × factor: ``layer``, ``metric``, ``factor``,
        ``untrained``, ``final``, ``change``, ``p_value``, ``test``, ``n_strata``.
    """
    import pandas as pd

    from ._spearman import spearman

    caller = "trend_tests()"
    if not isinstance(table, pd.DataFrame) or not {"bin_index", "snapshot", "layer"} <= set(table.columns):
        raise param_error("table", caller, "a DataFrame from bin_statistics()", type(table).__name__)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in table.columns:
            raise param_error("metrics", caller, "column names of the table, e.g. 'strength', "
                              "'distinctness', 'mean_activation'", metric)
    if time not in table.columns:
        raise param_error("time", caller, "a column of the table such as 'step', 'progress' or 'snapshot'", time)
    rows = []
    for (layer, metric), wide in _wide(table, metrics, time):
        finite = np.isfinite(wide)
        with np.errstate(invalid="ignore", divide="ignore"):
            over_time = np.where(finite, wide, 0.0).sum(axis=1) / finite.sum(axis=1)
        res = drift_test(over_time)
        rows.append({"layer": layer, "metric": metric, "factor": "training", "untrained": over_time[0],
                     "final": over_time[-1], "change": float(res["effect"]), "p_value": float(res["p_value"]),
                     "test": "one run: signed-rank test on the increments", "n_strata": wide.shape[1]})
        rho = np.array([spearman(np.arange(row.size)[np.isfinite(row)], row[np.isfinite(row)])[0]
                        if np.isfinite(row).sum() >= 3 else np.nan for row in wide])
        rows.append({"layer": layer, "metric": metric, "factor": "confidence", "untrained": rho[0],
                     "final": rho[-1], "change": rho[-1] - rho[0], "p_value": np.nan,
                     "test": "descriptive (Spearman over bins; tested by claim_summary)", "n_strata": wide.shape[0]})
    return pd.DataFrame(rows)


def _wide(table: Any, metrics: list[str], time: str):
    """(layer, metric) -> array (snapshots in time order, bins)."""
    for layer, sub in table.groupby("layer", sort=False):
        order = sub.drop_duplicates("snapshot").sort_values([time, "snapshot"])["snapshot"].to_numpy()
        for metric in metrics:
            wide = sub.pivot(index="snapshot", columns="bin_index", values=metric).reindex(order)
            yield (layer, metric), wide.to_numpy(dtype=float)
