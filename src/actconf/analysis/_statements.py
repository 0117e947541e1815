"""The statistics behind the paper's claim, on arrays of one run (pure numpy).

The claim "activity becomes stronger and more distinct both with training time and
with confidence" is split into statements, each measured by a per-snapshot
statistic of one layer:

========================  ===========================================================
statement                 per-snapshot statistic
========================  ===========================================================
``strength_time``         strength of the whole probe set: mean over neurons of |NAP|
``strength_time_groups``  strength within confidence groups, averaged over the groups
``distinct_time``         distinctness of the class NAPs (split-half estimate)
``distinct_time_groups``  distinctness of the class NAPs within confidence groups,
                          averaged over the groups
``strength_confidence``   strength in the most confident group minus the least
``distinct_confidence``   distinctness in the most confident group minus the least
``sample_relation``       Spearman rho between a sample's confidence and its activity
``sample_relation_ctrl``  the same, partialled on the logit spread (scale control)
========================  ===========================================================

Every statement's *effect* is the change of its statistic from the untrained state
(the first snapshot) to the end of training: before training the network already
has a confidence-activity relation (larger activations give larger logits and a
sharper softmax), so only the change is learned.

Confidence groups are equal-count quantile groups, recomputed per snapshot
(``groups="moving"``, members change as the model trains) or fixed by the final
confidence (``groups="fixed"``: the same samples at every snapshot). Conditioning on
a variable that training moves can reverse a trend (Simpson's paradox): distinctness
may rise over the whole probe set while falling within every moving group, because
samples migrate between groups. Both views are computed.

Distinctness uses :func:`actconf._inference.cv_distinctness` on a fixed split of each
class's samples into two halves (averaged over ``n_splits`` random splits), so noise
alone gives zero and small groups are not more "distinct" than large ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..naps import quantile_codes as quantile_groups
from ._inference import cv_distinctness, partial_from_correlations
from ._spearman import bootstrap_spearman, resample_ranks, spearman

__all__ = [
    "STATEMENTS",
    "bootstrap_pair",
    "logit_spread",
    "quantile_groups",
    "quantile_membership",
    "split_halves",
    "trajectories",
]

#: statement -> (claim in words, whether it is about training time)
STATEMENTS: dict[str, tuple[str, bool]] = {
    "strength_time": ("activity becomes stronger with training (whole probe set)", True),
    "strength_time_groups": ("activity becomes stronger with training (within confidence groups)", True),
    "distinct_time": ("activity becomes more distinct with training (whole probe set)", True),
    "distinct_time_groups": ("activity becomes more distinct with training (within confidence groups)", True),
    "strength_confidence": ("activity is stronger at higher confidence", False),
    "distinct_confidence": ("activity is more distinct at higher confidence", False),
    "sample_relation": ("more confident samples have higher activity", False),
    "sample_relation_ctrl": ("more confident samples have higher activity, beyond the logit scale", False),
}


# --------------------------------------------------------------------------- groups
def quantile_membership(conf: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Copies of each sample in each quantile group, for bootstrap resamples.

    Parameters
    ----------
    conf : array of shape (n,)
        Finite confidence values.
    weights : int array of shape (B, n)
        How often each sample was drawn in each resample.
    k : int
        Number of groups.

    Returns
    -------
    numpy.ndarray of shape (B, n, k)
        The resampled multiset sorted by confidence (ties by sample order) is split
        into ``k`` equal-count parts (``array_split`` sizes); a sample's copies occupy
        consecutive positions and may straddle a boundary.
    """
    order = np.argsort(conf, kind="stable")
    w = np.asarray(weights, dtype=np.float64)[:, order]
    end = np.cumsum(w, axis=1)
    start = end - w
    total = end[:, -1:]
    q, rem = total // k, total % k
    idx = np.arange(k + 1, dtype=np.float64)
    edges = idx * q + np.minimum(idx, rem)  # (B, k + 1)
    lo = np.maximum(start[:, :, None], edges[:, None, :-1])
    hi = np.minimum(end[:, :, None], edges[:, None, 1:])
    out = np.empty_like(lo)
    out[:, order] = np.maximum(hi - lo, 0.0)
    return out


def split_halves(labels: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """(n_splits, n) 0/1 half of every sample; each class split as evenly as possible."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7919])
    out = np.zeros((n_splits, labels.size), dtype=np.int64)
    for s in range(n_splits):
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            perm = rng.permutation(members)
            out[s, perm[: perm.size // 2]] = 1
    return out


def logit_spread(logits: np.ndarray | None, probabilities: np.ndarray) -> np.ndarray:
    """Norm of the centred logits (..., n): the output scale that sharpens the softmax.

    Without logits, the centred log-probabilities are the centred logits exactly
    (``log softmax(z) = z - logsumexp(z)``); probabilities are clipped at 1e-30.
    """
    if logits is None:
        z = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-30, None))
    else:
        z = np.asarray(logits, dtype=np.float64)
    c = z - z.mean(axis=-1, keepdims=True)
    return np.sqrt((c * c).sum(axis=-1))


# --------------------------------------------------------------------------- per snapshot
def _cell_sums(acts: np.ndarray, cells: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """acts (n, N), cells (n,) in 0..n_cells-1 (or -1) -> sums (n_cells, N), counts (n_cells,)."""
    ok = cells >= 0
    sums = np.zeros((n_cells, acts.shape[1]))
    np.add.at(sums, cells[ok], acts[ok].astype(np.float64))
    return sums, np.bincount(cells[ok], minlength=n_cells).astype(np.float64)


def _strength(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """mean over neurons of |group mean|; NaN for empty groups. sums (..., N), counts (...)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.abs(sums / counts[..., None]).mean(axis=-1), np.nan)


def _rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return spearman(x, y)[0]


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite values; NaN where there are none (no warning)."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite.any(axis=0), np.where(finite, values, 0.0).sum(axis=0) / finite.sum(axis=0), np.nan)


@dataclass
class SnapshotInputs:
    """What the statistics of one snapshot need (arrays of one run and layer)."""

    acts: np.ndarray  # (n, N)
    conf: np.ndarray  # (n,)
    spread: np.ndarray  # (n,)
    groups: np.ndarray  # (n,) quantile group, -1 for none
    activity: np.ndarray  # (n,) per-sample activity


def cell_codes(groups: np.ndarray, labels: np.ndarray, halves: np.ndarray, k: int, n_classes: int) -> np.ndarray:
    """Cell of every sample in every split (P, n): ``p * n_cells + (group, class, half)``, -1 for none.

    ``n_cells = k * n_classes * 2``; the cell sums of all splits are then one grouping
    of ``P * n_cells`` groups (see :func:`statistics_from_cells`).
    """
    n_cells = k * n_classes * 2
    cells = np.where(groups >= 0, (groups * n_classes + labels) * 2 + halves, -1)
    return np.where(cells >= 0, cells + n_cells * np.arange(halves.shape[0])[:, None], -1)


def statistics_from_cells(sums: np.ndarray, counts: np.ndarray, conf: np.ndarray, spread: np.ndarray,
                          activity: np.ndarray, k: int, n_classes: int, min_count: int = 2) -> dict[str, float]:
    """Every per-snapshot statistic of :data:`STATEMENTS` from one snapshot's cell sums.

    ``sums`` (P, n_cells, N) and ``counts`` (P, n_cells): sums of the activations and
    sample counts of every (group, class, half) cell, for each of P splits;
    ``conf``, ``spread``, ``activity`` (n,) per sample.
    """
    strength_g = None
    dist_g = []
    dist_probe = []
    for p in range(sums.shape[0]):
        cs = sums[p].reshape(k, n_classes, 2, -1)
        cc = counts[p].reshape(k, n_classes, 2)
        if strength_g is None:
            strength_g = _strength(cs.sum(axis=(1, 2)), cc.sum(axis=(1, 2)))
            strength_p = float(_strength(cs.sum(axis=(0, 1, 2)), cc.sum()))
        dg, _ = cv_distinctness(cs[:, :, 0], cc[:, :, 0], cs[:, :, 1], cc[:, :, 1], min_count=min_count)
        dist_g.append(dg)
        probe = cs.sum(axis=0)
        dp, _ = cv_distinctness(probe[:, 0], cc.sum(axis=0)[:, 0], probe[:, 1], cc.sum(axis=0)[:, 1],
                                min_count=min_count)
        dist_probe.append(dp)
    dist_g = _nanmean_rows(np.asarray(dist_g))
    rho = _rho(conf, activity)
    r_cz = _rho(conf, spread)
    r_az = _rho(activity, spread)
    with np.errstate(invalid="ignore"):
        return {
            "strength_time": strength_p,
            "strength_time_groups": float(_nanmean_rows(strength_g)),
            "distinct_time": float(_nanmean_rows(np.asarray(dist_probe))),
            "distinct_time_groups": float(_nanmean_rows(dist_g)),
            "strength_confidence": float(strength_g[-1] - strength_g[0]),
            "distinct_confidence": float(dist_g[-1] - dist_g[0]),
            "sample_relation": float(rho),
            "sample_relation_ctrl": float(partial_from_correlations(rho, r_cz, r_az)),
        }


def block_statistics(sums: np.ndarray, counts: np.ndarray, conf: np.ndarray, spread: np.ndarray,
                     activity: np.ndarray, *, k: int, n_classes: int, min_count: int = 2) -> np.ndarray:
    """:func:`statistics_from_cells` for a block of snapshots: (s, len(STATEMENTS)), columns in order.

    ``sums`` (s, P * n_cells, N), ``counts`` (s, P * n_cells), ``conf``, ``spread``,
    ``activity`` (s, n): one dask block of :func:`actconf.analysis._claims` trajectories.
    """
    n_cells = k * n_classes * 2
    out = np.empty((sums.shape[0], len(STATEMENTS)))
    for i in range(sums.shape[0]):
        p = sums.shape[1] // n_cells
        row = statistics_from_cells(sums[i].reshape(p, n_cells, -1), counts[i].reshape(p, n_cells),
                                    conf[i], np.asarray(spread[i], dtype=np.float64), activity[i], k,
                                    n_classes, min_count)
        out[i] = [row[key] for key in STATEMENTS]
    return out


def snapshot_statistics(inp: SnapshotInputs, labels: np.ndarray, halves: np.ndarray, k: int,
                        n_classes: int, min_count: int = 2) -> dict[str, float]:
    """Every per-snapshot statistic of :data:`STATEMENTS` for one snapshot (arrays in memory)."""
    n_cells = k * n_classes * 2
    parts = [_cell_sums(inp.acts, np.where(inp.groups >= 0, (inp.groups * n_classes + labels) * 2 + h, -1),
                        n_cells) for h in halves]
    sums = np.stack([p[0] for p in parts])
    counts = np.stack([p[1] for p in parts])
    return statistics_from_cells(sums, counts, inp.conf, inp.spread, inp.activity, k, n_classes, min_count)


def trajectories(acts: Any, conf: np.ndarray, spread: np.ndarray, labels: np.ndarray, *, k: int,
                 groups: str = "moving", activity: np.ndarray | None = None, n_splits: int = 4,
                 seed: int = 0, min_count: int = 2) -> dict[str, np.ndarray]:
    """The statistics of every statement at every snapshot of one run and layer.

    Parameters
    ----------
    acts : array-like of shape (S, n, N), or a callable ``i -> (n, N)`` array
        Activations per snapshot (a callable reads one snapshot at a time).
    conf, spread : arrays of shape (S, n)
        Confidence and logit spread (:func:`logit_spread`).
    labels : int array of shape (n,)
    k : int
        Number of confidence groups.
    groups : {"moving", "fixed"}
        Quantile groups per snapshot, or by the final snapshot's confidence.
    activity : array of shape (S, n), optional
        Per-sample activity; default: the mean activation over neurons.
    n_splits, seed, min_count
        Split-half distinctness options.

    Returns
    -------
    dict statement -> numpy.ndarray of shape (S,)
    """
    conf = np.asarray(conf, dtype=np.float64)
    n_snap = conf.shape[0]
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    read = acts if callable(acts) else (lambda i: np.asarray(acts[i]))
    halves = split_halves(labels, n_splits, seed)
    fixed = quantile_groups(conf[-1], k) if groups == "fixed" else None
    rows = []
    for i in range(n_snap):
        a = np.asarray(read(i))
        g = fixed if fixed is not None else quantile_groups(conf[i], k)
        act = a.mean(axis=-1) if activity is None else np.asarray(activity[i])
        inp = SnapshotInputs(a, conf[i], np.asarray(spread[i], dtype=np.float64), g, act)
        rows.append(snapshot_statistics(inp, labels, halves, k, n_classes, min_count))
    return {key: np.array([r[key] for r in rows]) for key in STATEMENTS}


# --------------------------------------------------------------------------- bootstrap of two snapshots
def _cell_sums_boot(member: np.ndarray, acts: np.ndarray, cells: np.ndarray, n_cells: int):
    """Per resample and group: sums (B, Q, n_cells, N) and counts (B, Q, n_cells) over each cell's samples.

    ``member`` (B, n, Q) holds each sample's copies in each of Q groups; ``cells`` (n,)
    the sample's (class, half) cell. One product with a sparse (n, n_cells * N) matrix
    that holds each sample's activations in its cell's block.
    """
    from scipy import sparse

    b, n, q = member.shape
    neurons = acts.shape[1]
    rows = np.repeat(np.arange(n), neurons)
    cols = (cells[:, None] * neurons + np.arange(neurons)).ravel()
    blocks = sparse.csr_matrix((acts.ravel(), (rows, cols)), shape=(n, n_cells * neurons))
    onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), cells)), shape=(n, n_cells))
    x = member.transpose(0, 2, 1).reshape(b * q, n)  # (B*Q, n)
    sums = np.asarray((blocks.T @ x.T).T).reshape(b, q, n_cells, neurons)
    counts = np.asarray((onehot.T @ x.T).T).reshape(b, q, n_cells)
    return sums, counts


def _boot_groups(inp: SnapshotInputs, labels: np.ndarray, halves: np.ndarray, weights: np.ndarray,
                 k: int, n_classes: int, fixed_groups: np.ndarray | None, min_count: int,
                 chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per resample: top-minus-bottom strength and split-half distinctness (B,), (B,)."""
    b_total = weights.shape[0]
    strength = np.empty(b_total)
    dist = np.zeros(b_total)
    used = np.zeros(b_total)
    for start in range(0, b_total, chunk):
        w = weights[start:start + chunk].astype(np.float64)
        if fixed_groups is None:
            member = quantile_membership(inp.conf, w, k)[:, :, [0, k - 1]]  # (b, n, 2)
        else:
            member = np.stack([w * (fixed_groups == 0), w * (fixed_groups == k - 1)], axis=-1)
        sums = np.einsum("bnq,nm->bqm", member, inp.acts, optimize=True)  # bottom and top groups
        s = _strength(sums, member.sum(axis=1))
        strength[start:start + chunk] = s[:, 1] - s[:, 0]
        for h in halves:
            csum, ccount = _cell_sums_boot(member, inp.acts, labels * 2 + h, n_classes * 2)
            csum = csum.reshape(member.shape[0], 2, n_classes, 2, -1)
            ccount = ccount.reshape(member.shape[0], 2, n_classes, 2)
            d, _ = cv_distinctness(csum[..., 0, :], ccount[..., 0], csum[..., 1, :], ccount[..., 1],
                                   min_count=min_count)
            ok = np.isfinite(d[:, 0]) & np.isfinite(d[:, 1])
            dist[start:start + chunk] += np.where(ok, d[:, 1] - d[:, 0], 0.0)
            used[start:start + chunk] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return strength, np.where(used > 0, dist / used, np.nan)


def bootstrap_pair(first: SnapshotInputs, last: SnapshotInputs, labels: np.ndarray, *, k: int,
                   groups: str, weights: np.ndarray, n_splits: int = 4, seed: int = 0,
                   min_count: int = 2, chunk: int = 100) -> dict[str, np.ndarray]:
    """The confidence statements at two snapshots on the same bootstrap resamples of samples.

    Returns ``statement -> (2, B)`` for ``strength_confidence``, ``distinct_confidence``,
    ``sample_relation`` and ``sample_relation_ctrl`` (row 0: ``first``, row 1: ``last``).
    With ``groups="fixed"`` the groups come from ``last``'s confidence for both.
    """
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    halves = split_halves(labels, n_splits, seed)
    fixed = quantile_groups(last.conf, k) if groups == "fixed" else None
    out = {key: np.empty((2, weights.shape[0])) for key in
           ("strength_confidence", "distinct_confidence", "sample_relation", "sample_relation_ctrl")}
    for row, inp in enumerate((first, last)):
        s, d = _boot_groups(inp, labels, halves, weights, k, n_classes, fixed, min_count, chunk)
        out["strength_confidence"][row] = s
        out["distinct_confidence"][row] = d
        wf = weights.astype(np.float32)
        cx, ca, cz = (resample_ranks(v, weights) for v in (inp.conf, inp.activity, inp.spread))
        rho = bootstrap_spearman(cx, ca, wf)
        out["sample_relation"][row] = rho
        out["sample_relation_ctrl"][row] = partial_from_correlations(rho, bootstrap_spearman(cx, cz, wf),
                                                                     bootstrap_spearman(ca, cz, wf))
    return out
