"""Inference for the activity–confidence statements: pure numpy, no Run.

The statistics of :mod:`actconf.analysis` reduce a run to numbers per snapshot (a
*trajectory*, e.g. the strength of a layer's activity at every snapshot) or per probe
sample. This module decides what those numbers support, with the unit of
replication made explicit:

* **Across runs** (:func:`across_runs`): every run of one configuration (different
  seeds) contributes one effect (e.g. final minus untrained). Runs are independent,
  so a one-sample t-test across runs and an exact sign-flip test are valid; the
  across-run mean, its t confidence interval and the number of runs with a positive
  effect are reported. This is the test a reviewer accepts.
* **One run, over training** (:func:`drift_test`): a run's trajectory is one
  autocorrelated series. Permuting snapshots as if they were exchangeable (what
  actconf did before) finds "trends" in random walks. The drift test asks whether
  the trajectory's steps up outweigh its steps down (Wilcoxon's signed-rank test
  on the increments): nominal size when the trajectory is a random walk with
  symmetric steps of any size, conservative when it is stationary around a
  constant level. It says nothing about other seeds.
* **One run, at two moments** (:func:`paired_bootstrap_ci`): at a fixed snapshot the
  network is fixed and the probe samples are independent draws, so resampling
  samples (pairs: the same resample at both moments) gives valid intervals for a
  statistic's change between the untrained state and the end of training, for this
  network on this input distribution.

Helpers: :func:`sign_flip_pvalue` (exact for up to 16 runs), :func:`verdict`,
:func:`format_p` (a p-value at a resampling floor prints as ``p < 1/(n+1)``),
:func:`cv_distinctness` (split-half estimate of the mean pairwise cosine distance
between group means, zero in expectation when the groups do not differ), and
:func:`partial_spearman` (rank correlation controlling for a third variable, e.g. the
logit spread that sharpens the softmax).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

__all__ = [
    "across_runs",
    "cv_distinctness",
    "drift_test",
    "format_p",
    "paired_bootstrap_ci",
    "partial_spearman",
    "sign_flip_pvalue",
    "verdict",
]

VERDICTS = ("supported", "contradicted", "not supported")


# --------------------------------------------------------------------------- one run over time
def drift_test(y: Any) -> dict[str, np.ndarray]:
    """Does a trajectory end higher than it started, beyond its own wiggle?

    Parameters
    ----------
    y : array-like of shape (..., n_snapshots)
        Trajectories in time order along the last axis (e.g. the strength of a layer at
        every snapshot). NaN values are dropped per trajectory (its remaining values
        keep their order).

    Returns
    -------
    dict of numpy arrays of shape (...)
        ``effect`` (last minus first finite value: the net change), ``n_steps``
        (non-zero increments), ``frac_up`` (share of increments that are positive),
        ``z`` (the signed-rank statistic, standardised) and ``p_value`` (two-sided).
        NaN where fewer than 5 non-zero increments exist.

    Notes
    -----
    The test is Wilcoxon's signed-rank test on the increments ``y_t - y_{t-1}``
    (exact for up to 50 of them): it asks whether steps up outweigh steps down.
    Its null hypothesis holds when the trajectory is a random walk with independent
    steps symmetric about zero, of any and changing size (e.g. large early in
    training, small later) — it then has its nominal size — and it is conservative
    when the trajectory is stationary around a constant level (AR(1) of any
    persistence: successive increments then cancel). A trajectory whose increments
    are themselves persistent (a smooth random drift) cannot be told from a trend in
    one run, and the test over-rejects there: a single run shows what happened in
    that run; whether training generally does it needs several seeds
    (:func:`across_runs`). Measured false-positive rates are in
    ``docs/statistics.md``.
    """
    from scipy.stats import wilcoxon

    arr = np.asarray(y, dtype=np.float64)
    lead = arr.shape[:-1]
    flat = arr.reshape(-1, arr.shape[-1])
    out = {k: np.full(flat.shape[0], np.nan) for k in ("effect", "n_steps", "frac_up", "z", "p_value")}
    for i, row in enumerate(flat):
        row = row[np.isfinite(row)]
        if row.size < 2:
            continue
        out["effect"][i] = row[-1] - row[0]
        d = np.diff(row)
        d = d[d != 0]
        out["n_steps"][i] = d.size
        if d.size < 5:
            continue
        out["frac_up"][i] = float(np.mean(d > 0))
        res = wilcoxon(d, zero_method="wilcox", alternative="two-sided",
                       method="exact" if d.size <= 50 else "approx")
        ranks = np.argsort(np.argsort(np.abs(d), kind="stable"), kind="stable") + 1.0
        w_plus = ranks[d > 0].sum()
        mean_w = d.size * (d.size + 1) / 4.0
        sd_w = np.sqrt(d.size * (d.size + 1) * (2 * d.size + 1) / 24.0)
        out["z"][i] = (w_plus - mean_w) / sd_w
        out["p_value"][i] = float(res.pvalue)
    return {k: v.reshape(lead) for k, v in out.items()}


# --------------------------------------------------------------------------- across runs
def sign_flip_pvalue(effects: Any, *, n_resamples: int = 20000, seed: int = 0) -> np.ndarray:
    """Two-sided sign-flip permutation p-value of the mean of ``effects`` (..., n_runs).

    Under the null hypothesis each run's effect is symmetric about zero, so flipping
    signs gives the null distribution of the mean. Exact (all ``2^n`` sign patterns)
    for ``n <= 16``, otherwise ``n_resamples`` random patterns (seeded; p-values then
    have the floor ``1 / (n_resamples + 1)``). With ``n`` runs the smallest exact
    p-value is ``2 / 2^n``: 5 runs cannot reach p < 0.0625 by this test alone.
    """
    e = np.asarray(effects, dtype=np.float64)
    lead = e.shape[:-1]
    flat = e.reshape(-1, e.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        row = row[np.isfinite(row)]
        n = row.size
        if n == 0:
            continue
        obs = abs(row.mean())
        tol = 1e-12 * max(1.0, np.abs(row).max())
        if n <= 16:
            signs = np.array(list(product((1.0, -1.0), repeat=n)))
            out[i] = float(np.mean(np.abs(signs @ row) / n >= obs - tol))
        else:
            rng = np.random.default_rng(seed)
            signs = rng.choice((-1.0, 1.0), size=(n_resamples, n))
            out[i] = (1.0 + np.sum(np.abs(signs @ row) / n >= obs - tol)) / (n_resamples + 1.0)
    return out.reshape(lead)


def across_runs(effects: Any, *, ci: float = 0.95) -> dict[str, np.ndarray]:
    """Test per-run effects across runs (the run is the unit of replication).

    Parameters
    ----------
    effects : array-like of shape (..., n_runs)
        One effect per run (e.g. final minus untrained), NaN for runs where it is
        undefined (they are left out).
    ci : float, default=0.95
        Coverage of the t confidence interval of the mean effect.

    Returns
    -------
    dict of numpy arrays of shape (...)
        ``mean``, ``sd`` (across runs), ``n`` (runs used), ``ci_low``, ``ci_high``
        (Student t interval), ``t``, ``p_value`` (two-sided one-sample t-test),
        ``p_sign_flip`` (exact sign-flip, see :func:`sign_flip_pvalue`),
        ``n_positive`` and ``cohen_d`` (mean / sd). NaN where fewer than 2 runs
        have an effect (``p_value`` also where all effects are equal).
    """
    from scipy.stats import t as t_dist

    e = np.asarray(effects, dtype=np.float64)
    finite = np.isfinite(e)
    n = finite.sum(axis=-1)
    z = np.where(finite, e, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = z.sum(axis=-1) / n
        dev = np.where(finite, e - mean[..., None], 0.0)
        sd = np.sqrt((dev * dev).sum(axis=-1) / (n - 1))
        se = sd / np.sqrt(n)
        t = mean / se
        df = np.maximum(n - 1, 1)
        p = np.where(se > 0, 2.0 * t_dist.sf(np.abs(t), df), np.nan)
        half = t_dist.ppf(0.5 + ci / 2.0, df) * se
    few = n < 2
    out = {
        "mean": np.where(n > 0, mean, np.nan),
        "sd": np.where(few, np.nan, sd),
        "n": n,
        "ci_low": np.where(few, np.nan, mean - half),
        "ci_high": np.where(few, np.nan, mean + half),
        "t": np.where(few | ~(se > 0), np.nan, t),
        "p_value": np.where(few, np.nan, p),
        "p_sign_flip": np.where(few, np.nan, sign_flip_pvalue(e)),
        "n_positive": np.where(finite, e > 0, False).sum(axis=-1),
        "cohen_d": np.where(few | ~(sd > 0), np.nan, mean / np.where(sd > 0, sd, 1.0)),
    }
    return out


def verdict(effect: float, p_value: float, alpha: float = 0.05) -> str:
    """``supported`` / ``contradicted`` when ``p < alpha`` (by the effect's sign), else ``not supported``."""
    if not (np.isfinite(effect) and np.isfinite(p_value)) or p_value >= alpha or effect == 0:
        return "not supported"
    return "supported" if effect > 0 else "contradicted"


def format_p(p: float, *, floor: float | None = None) -> str:
    """A p-value for people: ``p = 0.012``, ``p < 0.001``, or ``p < 1/(n+1)`` at a resampling floor.

    Parameters
    ----------
    p : float
    floor : float, optional
        The smallest p-value the procedure can give (``1 / (n_resamples + 1)``); a
        value at the floor is printed as an upper bound.
    """
    if p is None or not np.isfinite(p):
        return "p = n/a"
    if floor is not None and p <= floor * (1 + 1e-9):
        return f"p < {floor:.2g}" if floor >= 0.001 else "p < 0.001"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


# --------------------------------------------------------------------------- one run, two moments
def paired_bootstrap_ci(
    boot_a: Any, boot_b: Any, *, obs_a: Any, obs_b: Any, ci: float = 0.95
) -> dict[str, np.ndarray]:
    """Percentile interval and two-sided bootstrap p-value of ``b - a`` from paired resamples.

    Parameters
    ----------
    boot_a, boot_b : array-like of shape (n_resamples, ...)
        The statistic at two moments (e.g. untrained, final) on the same resamples of
        probe samples.
    obs_a, obs_b : array-like of shape (...)
        The statistic on the probe set itself.
    ci : float, default=0.95

    Returns
    -------
    dict of arrays of shape (...)
        ``effect`` (obs_b − obs_a), ``ci_low``, ``ci_high``, ``p_value`` (twice the
        smaller share of resampled differences on either side of 0, with the
        ``1 / (B + 1)`` floor), ``n_resamples`` (finite resamples).
    """
    diff = np.asarray(boot_b, dtype=np.float64) - np.asarray(boot_a, dtype=np.float64)
    effect = np.asarray(obs_b, dtype=np.float64) - np.asarray(obs_a, dtype=np.float64)
    finite = np.isfinite(diff)
    nb = finite.sum(axis=0)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(np.where(finite, diff, np.nan), [50 * (1 - ci), 50 * (1 + ci)], axis=0)
        below = (np.where(finite, diff, np.inf) <= 0).sum(axis=0)
        above = (np.where(finite, diff, -np.inf) >= 0).sum(axis=0)
        p = np.minimum(1.0, 2.0 * (np.minimum(below, above) + 1.0) / (nb + 1.0))
    ok = nb >= 10
    return {"effect": effect, "ci_low": np.where(ok, lo, np.nan), "ci_high": np.where(ok, hi, np.nan),
            "p_value": np.where(ok & np.isfinite(effect), p, np.nan), "n_resamples": nb}


# --------------------------------------------------------------------------- distinctness
def cv_distinctness(sum_a: Any, count_a: Any, sum_b: Any, count_b: Any, *, min_count: int = 1):
    """Split-half estimate of the mean pairwise cosine distance between group means.

    Parameters
    ----------
    sum_a, sum_b : array-like of shape (..., n_groups, n_neurons)
        Per group, the sum of the activations of the samples in half A and half B (the
        two halves are disjoint sets of samples).
    count_a, count_b : array-like of shape (..., n_groups)
        Number of samples in each half.
    min_count : int, default=1
        A group enters only with at least this many samples in both halves.

    Returns
    -------
    distinctness : numpy.ndarray of shape (...)
        Mean over pairs of groups ``g < h`` of
        ``<A_g - A_h, B_g - B_h> / (2 sqrt(<A_g, B_g> <A_h, B_h>))`` with ``A``, ``B``
        the halves' group means. Inner products across independent halves are unbiased
        estimates of the true means' inner products, so noise adds nothing in
        expectation: groups that do not differ score 0 (the plain estimate of the
        paper's measure, the cosine distance between noisy group means, grows with
        the noise when groups are small). For group means of equal norm the score is
        the cosine distance ``1 - cos`` of the true means. Pairs whose
        cross-validated norms are not positive are left out.
    n_groups : numpy.ndarray of shape (...)
        Groups used.
    """
    sa = np.asarray(sum_a, dtype=np.float64)
    sb = np.asarray(sum_b, dtype=np.float64)
    ca = np.asarray(count_a, dtype=np.float64)
    cb = np.asarray(count_b, dtype=np.float64)
    use = (ca >= max(1, min_count)) & (cb >= max(1, min_count))
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.where(use[..., None], sa / np.where(ca > 0, ca, 1.0)[..., None], 0.0)
        mb = np.where(use[..., None], sb / np.where(cb > 0, cb, 1.0)[..., None], 0.0)
    cross = np.einsum("...gn,...hn->...gh", ma, mb)  # <A_g, B_h>
    cross = 0.5 * (cross + np.swapaxes(cross, -1, -2))  # symmetric in the halves
    self_ip = np.diagonal(cross, axis1=-2, axis2=-1)  # <A_g, B_g>
    num = self_ip[..., :, None] + self_ip[..., None, :] - 2.0 * cross
    prod_ = self_ip[..., :, None] * self_ip[..., None, :]
    g = sa.shape[-2]
    upper = np.triu(np.ones((g, g), dtype=bool), k=1)
    pair = use[..., :, None] & use[..., None, :] & upper & (self_ip[..., :, None] > 0) & (self_ip[..., None, :] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(pair, num / (2.0 * np.sqrt(np.where(prod_ > 0, prod_, 1.0))), 0.0)
        n_pairs = pair.sum(axis=(-1, -2))
        mean = np.where(n_pairs > 0, d.sum(axis=(-1, -2)) / np.maximum(n_pairs, 1), np.nan)
    return mean, use.sum(axis=-1)


# --------------------------------------------------------------------------- partial rank correlation
def partial_spearman(x: Any, y: Any, z: Any) -> np.ndarray:
    """Spearman correlation of ``x`` and ``y`` controlling for ``z``, row-wise along the last axis.

    The partial correlation of the ranks: ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``
    with ``r`` the Spearman correlations. NaN where a row is constant or ``|r_xz|`` or
    ``|r_yz|`` is 1.
    """
    from ._spearman import ranks, standardise

    def z_rows(a):
        return standardise(ranks(np.asarray(a, dtype=np.float64), -1), -1)

    zx, zy, zz = z_rows(x), z_rows(y), z_rows(z)
    rxy = (zx * zy).sum(axis=-1)
    rxz = (zx * zz).sum(axis=-1)
    ryz = (zy * zz).sum(axis=-1)
    return partial_from_correlations(rxy, rxz, ryz)


def partial_from_correlations(rxy: Any, rxz: Any, ryz: Any) -> np.ndarray:
    """First-order partial correlation from the three pairwise correlations."""
    rxy, rxz, ryz = (np.asarray(a, dtype=np.float64) for a in (rxy, rxz, ryz))
    den = (1.0 - rxz**2) * (1.0 - ryz**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, np.clip((rxy - rxz * ryz) / np.sqrt(np.where(den > 0, den, 1.0)), -1, 1),
                        np.nan)
