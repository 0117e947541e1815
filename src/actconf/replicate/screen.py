"""Is a layout method *among the best*? A selection-aware test, with its error rates simulated.

The TAM paper concludes that UMAP + refinement gives (among) the best layouts. The
replication asks, for each measure, whether a method's repeats are worse than those of
the best method. Choosing "the best" from the same repeats that are then tested biases
the test (winner's curse): with 13 methods that are all equal, a Mann–Whitney test of
one of them against the best-looking one rejects in about 13% of cases at a nominal 5%
(R = 50, :func:`screen_error_rates` with ``split=False``). So the repeats are split:
the best method is chosen on the even-numbered repeats and the test runs on the
odd-numbered ones. Because the two halves are independent draws, the selection no
longer touches the data of the test, and the false "worse than the best" rate is at
most the nominal level (measured: :func:`screen_error_rates`, asserted in
``tests/test_replicate.py``, tabled in docs/replication.md).

The test is one-sided (is this method *worse* than the best?): a method better than
the selected one on the test half is among the best. With too few repeats to reach
p < alpha at all (:func:`min_mannwhitney_p`), the screen falls back to rank ≤ 3 and
says that it is descriptive.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np

__all__ = ["TOP", "among_best", "min_mannwhitney_p", "screen_error_rates"]

TOP = 3  # the descriptive fallback: rank <= TOP among the methods


def min_mannwhitney_p(n1: int, n2: int, *, one_sided: bool = False) -> float:
    """The smallest exact Mann–Whitney p of samples of sizes ``n1`` and ``n2`` (two-sided: twice the one-sided)."""
    if not (n1 and n2):
        return 1.0
    return min(1.0, (1.0 if one_sided else 2.0) / comb(n1 + n2, n1))


def _halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(selection half, test half) of one method's repeats in repeat order: even and odd positions."""
    return values[0::2], values[1::2]


def among_best(values: dict[str, np.ndarray], method: str, *, higher: bool = False, alpha: float = 0.05,
               top: int = TOP, split: bool = True) -> dict[str, Any]:
    """Whether ``method`` is among the best of ``values`` (method -> repeats in repeat order).

    Parameters
    ----------
    values : dict of str to array
        Each method's score per repeat, repeat ``r`` at position ``r``.
    method : str
        The method asked about.
    higher : bool, default=False
        True when a higher score is better (trustworthiness), False for errors.
    alpha : float, default=0.05
        Level of the one-sided test "worse than the best".
    top : int, default=3
        The descriptive rank used where the test half is too small to reach ``alpha``.
    split : bool, default=True
        False chooses the best and tests on all repeats: the biased screen, kept only
        to show its error rate (:func:`screen_error_rates`).

    Returns
    -------
    dict
        ``rank`` (by the mean over all repeats, 1 = best), ``best`` (the method chosen
        on the selection half), ``p`` (one-sided Mann–Whitney on the test half; NaN
        when ``method`` is that best or not testable), ``testable`` and
        ``among_best``.
    """
    from scipy.stats import mannwhitneyu

    sign = -1.0 if higher else 1.0
    means = {m: sign * float(np.mean(v)) for m, v in values.items()}
    rank = 1 + sum(v < means[method] for v in means.values())
    halves = {m: _halves(np.asarray(v, float)) if split else (np.asarray(v, float),) * 2 for m, v in values.items()}
    select = {m: sign * float(np.mean(h[0])) for m, h in halves.items()}
    best = min(select, key=select.get)
    mine, ref = halves[method][1], halves[best][1]
    testable = min_mannwhitney_p(mine.size, ref.size, one_sided=True) < alpha
    p = np.nan
    if method != best and testable and np.ptp(np.r_[mine, ref]) > 0:
        p = float(mannwhitneyu(mine, ref, alternative="less" if higher else "greater").pvalue)
    if method == best:
        among = True
    elif testable:
        among = not (np.isfinite(p) and p < alpha)
    else:
        among = rank <= top
    return {"rank": int(rank), "best": best, "p": p, "testable": bool(testable), "among_best": bool(among)}


def screen_error_rates(*, n_methods: int = 13, repeats: int = 50, shift: float = 0.0, n_sim: int = 1000,
                       alpha: float = 0.05, distribution: str = "normal", split: bool = True,
                       seed: int = 0) -> float:
    """How often the screen calls one method *not among the best*, by simulation.

    ``n_methods`` methods with ``repeats`` independent repeats each (lower is better);
    all share one distribution except the method asked about, which is shifted by
    ``shift`` standard deviations (worse). With ``shift=0`` the rate is the false-
    positive rate of "worse than the best"; with ``shift > 0`` it is the power.
    ``split=False`` measures the biased variant (selection and test on the same
    repeats). ``distribution``: ``"normal"`` or ``"lognormal"`` (skewed, like AUCs).
    """
    rng = np.random.default_rng(seed)
    target = n_methods - 1
    names = [f"m{i}" for i in range(n_methods)]
    hits = 0
    for _ in range(n_sim):
        draws = rng.standard_normal((n_methods, repeats))
        draws[target] += shift
        if distribution == "lognormal":
            draws = np.exp(0.5 * draws)
        res = among_best(dict(zip(names, draws, strict=True)), names[target], alpha=alpha, split=split)
        hits += not res["among_best"]
    return hits / n_sim
