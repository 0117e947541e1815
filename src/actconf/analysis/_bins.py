"""Confidence bins: strength and distinctness of the NAPs of every confidence bin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_bool, check_int, check_run
from ..confidence import check_measure
from ..naps import DEFAULT_BINS, layer_group_sums, make_grouping
from ..store import Run
from ._common import check_layers


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
    """Strength, mean activation and distinctness per (snapshot, bin).

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
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(valid[..., None], class_nap, 0).sum(axis=2, keepdims=True) / valid.sum(
                axis=2, keepdims=True)[..., None]
        class_nap = class_nap - centre
    dist, n_cls = _mean_pairwise_cosine_distance(class_nap, valid)
    return {
        "n_samples": bin_size,
        "strength": np.where(ok_bin, np.abs(bin_nap).mean(axis=-1), np.nan),
        "mean_activation": np.where(ok_bin, bin_nap.mean(axis=-1), np.nan),
        "distinctness": dist,
        "n_classes": n_cls,
    }


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

    These statistics measure the *size* of activity, so they take plain NAPs (group
    means), unlike :func:`actconf.naps.naps`, whose default is contrastive.

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
    run = check_run(run, caller)
    layer_list = check_layers(run, layers, caller)
    check_measure(measure, caller)
    min_size = check_int("min_size", min_size, caller, min_value=1)
    contrastive = check_bool("contrastive", contrastive, caller)
    grouping = make_grouping(run, by="class+confidence", measure=measure, bins=bins, snapshots=snapshots,
                             caller=caller)
    idx = np.asarray(grouping.assignment["snapshot"].values)
    s, k = idx.size, run.n_classes
    nb = grouping.n_groups // k
    meta = run.snapshot_frame(idx).loc[np.repeat(np.arange(s), nb)].reset_index(drop=True)
    bounds = {"lower": grouping.bin_lower.reshape(s, k, nb)[:, 0].ravel(),
              "upper": grouping.bin_upper.reshape(s, k, nb)[:, 0].ravel()}
    parts = []
    for layer in layer_list:
        sums, sizes = layer_group_sums(run, layer, idx, grouping.codes, grouping.n_groups)
        metrics = _bin_metrics(sums.reshape(s, k, nb, -1), sizes.reshape(s, k, nb), min_size, contrastive)
        parts.append(meta.assign(layer=layer, bin=np.tile(grouping.factors["confidence"][:nb], s),
                                 bin_index=np.tile(np.arange(nb), s), **bounds,
                                 **{name: value.ravel() for name, value in metrics.items()}))
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update(measure=grouping.measure, bins=grouping.bins, min_size=min_size, contrastive=contrastive)
    return table
