"""Spearman rank correlation: row-wise, with p-values, and the bootstrap engine.

A bootstrap resample is a vector of draw counts (``bootstrap_weights``); the ranks of
the resampled data follow from the counts (``resample_ranks``) without materialising
the resample, and ``bootstrap_spearman`` correlates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import param_error


def ranks(a: np.ndarray, axis: int) -> np.ndarray:
    """Average ranks along ``axis`` (ties share their mean rank), as float64."""
    from scipy.stats import rankdata

    return rankdata(a, axis=axis, method="average").astype(np.float64)


def standardise(r: np.ndarray, axis: int) -> np.ndarray:
    """Centre and scale to unit norm along ``axis``; constant slices become NaN."""
    c = r - r.mean(axis=axis, keepdims=True)
    norm = np.sqrt((c * c).sum(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-12 * max(1, r.shape[axis]), c / norm, np.nan)


def p_values(rho: np.ndarray, n: int) -> np.ndarray:
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
    zx = standardise(ranks(x, -1), -1)
    zy = standardise(ranks(y, -1), -1)
    rho = np.clip((zx * zy).sum(axis=-1), -1.0, 1.0)
    return rho, p_values(rho, x.shape[-1])


def resample_ranks(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
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
    out = np.empty(weights.shape, dtype=np.float32)
    out[:, order] = (before + through).astype(np.float32) * np.float32(0.5) + np.float32(0.5 - (n + 1) / 2)
    return out


def bootstrap_spearman(cx: np.ndarray, cy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman rho of every resample from centred within-resample ranks cx, cy (B, n)."""
    wcx = weights * cx
    cov = np.einsum("bi,bi->b", wcx, cy, dtype=np.float64)
    vx = np.einsum("bi,bi->b", wcx, cx, dtype=np.float64)
    vy = np.einsum("bi,bi->b", weights * cy, cy, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx * vy), np.nan)


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) int32 draw counts of n-out-of-n resampling with replacement."""
    draws = rng.integers(0, n, size=(n_boot, n))
    flat = (draws + n * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.int32)
