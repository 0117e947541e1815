"""The inference engine behind the verdicts: checked against independent references.

References are SciPy's tests, brute-force enumeration, explicit resampling and
closed-form cases. Calibration by simulation (false-positive rates and power) is in
``test_calibration.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from actconf.analysis import _statements as cs
from actconf.analysis._inference import (
    across_runs,
    cv_distinctness,
    drift_test,
    format_p,
    paired_bootstrap_ci,
    partial_spearman,
    sign_flip_pvalue,
    verdict,
)


# --------------------------------------------------------------------------- across runs
def test_across_runs_matches_scipy_t_test_and_interval():
    rng = np.random.default_rng(0)
    effects = rng.normal(0.3, 1.0, size=(7, 6))
    res = across_runs(effects, ci=0.9)
    for row, e in enumerate(effects):
        ref = stats.ttest_1samp(e, 0.0)
        lo, hi = stats.t.interval(0.9, len(e) - 1, loc=e.mean(), scale=stats.sem(e))
        assert res["p_value"][row] == pytest.approx(ref.pvalue, rel=1e-10)
        assert res["t"][row] == pytest.approx(ref.statistic, rel=1e-10)
        assert (res["ci_low"][row], res["ci_high"][row]) == pytest.approx((lo, hi), rel=1e-10)
        assert res["n_positive"][row] == int((e > 0).sum())
        assert res["cohen_d"][row] == pytest.approx(e.mean() / e.std(ddof=1))


def test_across_runs_leaves_out_nan_runs_and_needs_two():
    res = across_runs(np.array([[1.0, np.nan, 2.0, 3.0], [np.nan, np.nan, 1.0, np.nan]]))
    ref = stats.ttest_1samp([1.0, 2.0, 3.0], 0.0)
    assert res["n"].tolist() == [3, 1]
    assert res["p_value"][0] == pytest.approx(ref.pvalue)
    assert np.isnan(res["p_value"][1]) and np.isnan(res["ci_low"][1]) and res["mean"][1] == 1.0


def test_sign_flip_pvalue_is_the_exact_enumeration():
    rng = np.random.default_rng(1)
    e = rng.normal(0.5, 1.0, size=6)
    # brute force: every subset of runs whose sign is flipped, by bit patterns
    count = 0
    for mask in range(2 ** e.size):
        flipped = np.array([-v if (mask >> j) & 1 else v for j, v in enumerate(e)])
        count += abs(flipped.mean()) >= abs(e.mean()) - 1e-12
    assert sign_flip_pvalue(e) == pytest.approx(count / 2 ** e.size)
    # five runs cannot go below 2/32 two-sided, whatever the data
    assert sign_flip_pvalue(np.array([5.0, 6.0, 7.0, 8.0, 9.0])) == pytest.approx(2 / 32)


def test_sign_flip_pvalue_monte_carlo_beyond_sixteen_runs():
    rng = np.random.default_rng(2)
    e = rng.normal(0.0, 1.0, size=30)
    p = sign_flip_pvalue(e, n_resamples=20000, seed=0)
    # the permutation distribution of the mean is close to normal with sd sqrt(sum e^2)/n
    z = abs(e.mean()) / (np.sqrt((e**2).sum()) / e.size)
    assert p == pytest.approx(2 * stats.norm.sf(z), abs=0.02)


# --------------------------------------------------------------------------- one run over time
def _signed_rank_exact(d: np.ndarray) -> float:
    """Brute force: the exact two-sided signed-rank p-value over all 2^m sign patterns."""
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    centre = ranks.sum() / 2
    count = 0
    for signs in itertools.product((0, 1), repeat=d.size):
        w = ranks[np.array(signs, dtype=bool)].sum()
        count += abs(w - centre) >= abs(observed - centre) - 1e-9
    return count / 2 ** d.size


def test_drift_test_is_the_signed_rank_test_of_the_increments():
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0.3, 1.0, size=10))
    res = drift_test(y)
    d = np.diff(y)
    assert res["p_value"] == pytest.approx(_signed_rank_exact(d), rel=1e-9)
    assert res["effect"] == pytest.approx(y[-1] - y[0])
    assert res["frac_up"] == pytest.approx(np.mean(d > 0))
    assert res["n_steps"] == 9


def test_drift_test_handles_nan_short_and_flat_series():
    y = np.array([[0.0, 1.0, np.nan, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                  [0.0, 1.0, 2.0, np.nan, np.nan, np.nan, np.nan]])
    res = drift_test(y)
    assert res["effect"][0] == 5.0 and np.isfinite(res["p_value"][0])
    assert res["effect"][1] == 0.0 and np.isnan(res["p_value"][1])  # no steps at all
    assert res["effect"][2] == 2.0 and np.isnan(res["p_value"][2])  # too few steps to test


def test_drift_test_ignores_the_size_of_early_steps_but_not_their_direction():
    t = np.arange(30)
    rise = 1 - np.exp(-t / 3.0)  # most of the change in the first few steps, as in training
    noisy = rise + 0.002 * np.random.default_rng(4).normal(size=t.size)
    assert drift_test(noisy)["p_value"] < 0.05
    assert drift_test(-noisy)["z"] < 0


# --------------------------------------------------------------------------- verdicts and p-values
def test_verdict_and_format_p():
    assert verdict(0.2, 0.01) == "supported"
    assert verdict(-0.2, 0.01) == "contradicted"
    assert verdict(0.2, 0.2) == "not supported"
    assert verdict(np.nan, 0.01) == "not supported"
    assert format_p(1 / 1001, floor=1 / 1001) == "p < 0.001"
    assert format_p(1 / 201, floor=1 / 201) == "p < 0.005"
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0123) == "p = 0.012" or format_p(0.0123) == "p = 0.01"
    assert format_p(0.25) == "p = 0.25"
    assert format_p(np.nan) == "p = n/a"


def test_paired_bootstrap_ci_is_the_percentile_interval_of_the_differences():
    rng = np.random.default_rng(5)
    a = rng.normal(0.0, 1.0, size=400)
    b = a + rng.normal(0.5, 0.1, size=400)
    res = paired_bootstrap_ci(a, b, obs_a=0.0, obs_b=0.5, ci=0.9)
    lo, hi = np.percentile(b - a, [5, 95])
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((lo, hi))
    assert res["effect"] == 0.5
    assert res["p_value"] == pytest.approx(2 / 401)  # no resampled difference below 0: the floor


# --------------------------------------------------------------------------- distinctness
def _plain_distinctness(means: np.ndarray) -> float:
    d = [1 - means[g] @ means[h] / np.linalg.norm(means[g]) / np.linalg.norm(means[h])
         for g in range(len(means)) for h in range(g + 1, len(means))]
    return float(np.mean(d))


def test_cv_distinctness_without_noise_is_the_cosine_distance():
    rng = np.random.default_rng(6)
    means = rng.normal(size=(4, 20))
    means /= np.linalg.norm(means, axis=1, keepdims=True)  # equal norms
    counts = np.full(4, 3.0)
    d, used = cv_distinctness(means * 3, counts, means * 3, counts)
    assert used == 4
    assert d == pytest.approx(_plain_distinctness(means), rel=1e-12)


def test_cv_distinctness_of_pure_noise_is_zero_on_average_unlike_the_plain_estimate():
    rng = np.random.default_rng(7)
    mu = rng.normal(size=30) + 2.0  # one common mean: the groups do not differ
    cv, plain = [], []
    for _ in range(400):
        samples = mu + rng.normal(size=(5, 8, 30))  # 5 groups x 8 samples
        a, b = samples[:, :4].sum(axis=1), samples[:, 4:].sum(axis=1)
        d, _ = cv_distinctness(a, np.full(5, 4.0), b, np.full(5, 4.0))
        cv.append(d)
        plain.append(_plain_distinctness(samples.mean(axis=1)))
    cv = np.asarray(cv)
    assert abs(cv.mean()) < 3 * cv.std() / np.sqrt(cv.size)
    assert np.mean(plain) > 10 * cv.std() / np.sqrt(cv.size)  # the plain estimate is biased up


def test_cv_distinctness_brute_force_formula_and_group_exclusion():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(3, 6)) + 1, rng.normal(size=(3, 6)) + 1
    ca, cb = np.array([2.0, 2.0, 0.0]), np.array([3.0, 1.0, 4.0])  # group 2 lacks half A
    d, used = cv_distinctness(a, ca, b, cb)
    ma, mb = a[:2] / ca[:2, None], b[:2] / cb[:2, None]
    ip = lambda x, y: float(x @ y)  # noqa: E731
    num = ip(ma[0] - ma[1], mb[0] - mb[1])
    num = 0.5 * (num + ip(mb[0] - mb[1], ma[0] - ma[1]))
    den = 2 * np.sqrt(ip(ma[0], mb[0]) * ip(ma[1], mb[1]))
    assert used == 2
    assert d == pytest.approx(num / den)


# --------------------------------------------------------------------------- partial rank correlation
def test_partial_spearman_equals_correlating_rank_residuals():
    rng = np.random.default_rng(9)
    z = rng.normal(size=300)
    x = z + rng.normal(size=300)
    y = z + 0.5 * x + rng.normal(size=300)
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones(300), rz])
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    expected = stats.pearsonr(res_x, res_y).statistic
    assert partial_spearman(x, y, z) == pytest.approx(expected, rel=1e-10)
    # without the third variable's influence it is the plain Spearman rho
    w = rng.permutation(300).astype(float)
    assert partial_spearman(x, y, w) == pytest.approx(stats.spearmanr(x, y).statistic, abs=0.02)


# --------------------------------------------------------------------------- groups and resampling
def test_quantile_groups_follow_the_naps_quantile_rule():
    from actconf.naps import assign_groups

    rng = np.random.default_rng(10)
    conf = np.round(rng.uniform(size=(4, 53)), 2)  # ties included
    conf[1, 5] = np.nan
    ours = cs.quantile_groups(conf, 5)
    grouping = assign_groups(np.zeros(53, dtype=int), confidence=conf, by="confidence", bins="quantile:5")
    np.testing.assert_array_equal(ours, np.asarray(grouping.assignment.values))


def test_quantile_membership_counts_the_copies_of_an_explicit_resample():
    rng = np.random.default_rng(11)
    conf = rng.uniform(size=23)
    weights = rng.multinomial(23, np.ones(23) / 23, size=6)
    member = cs.quantile_membership(conf, weights, 4)
    for b in range(6):
        copies = np.repeat(np.arange(23), weights[b])
        groups = cs.quantile_groups(conf[copies], 4)
        expected = np.zeros((23, 4))
        np.add.at(expected, (copies, groups), 1)
        np.testing.assert_array_equal(member[b], expected)
    unit = cs.quantile_membership(conf, np.ones((1, 23), dtype=int), 4)[0]
    np.testing.assert_array_equal(unit.argmax(axis=1), cs.quantile_groups(conf, 4))


def _toy_run(rng, s=6, n=120, neurons=10, classes=4):
    labels = np.repeat(np.arange(classes), n // classes)
    proto = rng.normal(size=(classes, neurons))
    acts = np.maximum(0, 0.3 + proto[labels][None] * np.linspace(0, 1, s)[:, None, None]
                      + rng.normal(size=(s, n, neurons)))
    conf = rng.uniform(size=(s, n))
    spread = rng.uniform(size=(s, n))
    return acts, conf, spread, labels


def test_bootstrap_pair_with_the_sample_itself_reproduces_the_trajectories():
    rng = np.random.default_rng(13)
    acts, conf, spread, labels = _toy_run(rng)
    traj = cs.trajectories(acts, conf, spread, labels, k=3, n_splits=2, seed=1)

    def inputs(i):
        return cs.SnapshotInputs(acts[i], conf[i], spread[i], cs.quantile_groups(conf[i], 3), acts[i].mean(-1))

    boot = cs.bootstrap_pair(inputs(0), inputs(-1), labels, k=3, groups="moving",
                             weights=np.ones((1, labels.size), dtype=int), n_splits=2, seed=1)
    for key, values in boot.items():
        np.testing.assert_allclose(values[:, 0], traj[key][[0, -1]], rtol=1e-12, atol=1e-12)


def test_bootstrap_strength_matches_an_explicit_resample():
    rng = np.random.default_rng(14)
    acts, conf, spread, labels = _toy_run(rng)
    weights = rng.multinomial(labels.size, np.ones(labels.size) / labels.size, size=3)

    def inputs(i):
        return cs.SnapshotInputs(acts[i], conf[i], spread[i], cs.quantile_groups(conf[i], 3), acts[i].mean(-1))

    boot = cs.bootstrap_pair(inputs(0), inputs(-1), labels, k=3, groups="moving", weights=weights, n_splits=1)
    for b in range(3):
        copies = np.repeat(np.arange(labels.size), weights[b])
        g = cs.quantile_groups(conf[-1][copies], 3)
        a = acts[-1][copies]
        top, bottom = np.abs(a[g == 2].mean(0)).mean(), np.abs(a[g == 0].mean(0)).mean()
        assert boot["strength_confidence"][1, b] == pytest.approx(top - bottom, rel=1e-10)
        rho = stats.spearmanr(conf[-1][copies], a.mean(-1)).statistic
        assert boot["sample_relation"][1, b] == pytest.approx(rho, rel=1e-10)


def test_trajectories_whole_probe_strength_and_relation_by_hand():
    rng = np.random.default_rng(15)
    acts, conf, spread, labels = _toy_run(rng)
    traj = cs.trajectories(acts, conf, spread, labels, k=3, n_splits=2)
    for i in range(acts.shape[0]):
        assert traj["strength_time"][i] == pytest.approx(np.abs(acts[i].mean(0)).mean())
        assert traj["sample_relation"][i] == pytest.approx(stats.spearmanr(conf[i], acts[i].mean(-1)).statistic)
    # fixed groups use the final confidence for every snapshot
    fixed = cs.trajectories(acts, conf, spread, labels, k=3, groups="fixed", n_splits=2)
    g = cs.quantile_groups(conf[-1], 3)
    first = np.abs(acts[0][g == 2].mean(0)).mean() - np.abs(acts[0][g == 0].mean(0)).mean()
    assert fixed["strength_confidence"][0] == pytest.approx(first)


def test_logit_spread_is_the_same_from_logits_and_from_probabilities():
    rng = np.random.default_rng(16)
    z = rng.normal(size=(3, 50, 10)) * 3
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(cs.logit_spread(None, p), cs.logit_spread(z, p), rtol=1e-9)
    np.testing.assert_allclose(cs.logit_spread(z, p)[0, 0], np.std(z[0, 0]) * np.sqrt(10), rtol=1e-12)
