"""Calibration of every verdict by simulation: false-positive rates and power.

Null runs have no effect by construction; a verdict other than "not supported" on
them is a false positive. Each rate is estimated from at least 400 simulated runs (or
lists of 5 runs) and must stay at or below 8 % for a nominal 5 % test (if the true
rate were 5 %, more than 8 % in 400 draws would happen with probability < 0.003).
Power is asserted where the issue asks for it (lists of 5 runs) and recorded
otherwise. The rates printed by ``python -m actconf.analysis.simulate`` with more runs are in
docs/statistics.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from actconf.analysis import _statements as cs
from actconf.analysis._inference import across_runs, drift_test, paired_bootstrap_ci, verdict
from actconf.analysis.simulate import (
    NULL_MODELS,
    null_trajectories,
    probe_pair,
    rising_trajectories,
)

ALPHA = 0.05
MAX_FPR = 0.08
N_SIM = 400


def _rate_of_verdicts(effects, p_values) -> float:
    calls = [verdict(e, p, ALPHA) for e, p in zip(np.ravel(effects), np.ravel(p_values), strict=True)]
    return float(np.mean([c != "not supported" for c in calls]))


# --------------------------------------------------------------------------- over training
@pytest.mark.parametrize("model", list(NULL_MODELS))
def test_one_run_trend_verdicts_keep_their_false_positive_rate(model):
    y = null_trajectories(model, N_SIM, seed=11)
    res = drift_test(y)
    assert np.isfinite(res["p_value"]).all()
    assert _rate_of_verdicts(res["effect"], res["p_value"]) <= MAX_FPR


@pytest.mark.parametrize("model", list(NULL_MODELS))
def test_five_run_trend_verdicts_keep_their_false_positive_rate(model):
    y = null_trajectories(model, 5 * N_SIM, seed=12)
    effects = (y[:, -1] - y[:, 0]).reshape(N_SIM, 5)
    res = across_runs(effects)
    assert _rate_of_verdicts(res["mean"], res["p_value"]) <= MAX_FPR


def test_the_old_snapshot_permutation_test_was_not_calibrated():
    """Why the test changed: permuting snapshots of random walks finds trends everywhere."""
    rng = np.random.default_rng(3)
    y = null_trajectories("random_walk", 200, seed=13)
    t = np.arange(y.shape[1])
    hits = 0
    for row in y:
        rho = np.corrcoef(np.argsort(np.argsort(row)), t)[0, 1]
        null = [np.corrcoef(np.argsort(np.argsort(rng.permutation(row))), t)[0, 1] for _ in range(200)]
        hits += np.mean(np.abs(null) >= abs(rho)) < ALPHA
    assert hits / len(y) > 0.3  # far above 5 %: the reason for drift_test and across-run tests


def test_power_for_a_list_of_five_runs_at_effect_size_two_and_a_half():
    y = rising_trajectories(5 * N_SIM, rise=2.5, noise=1.0, seed=14)  # Cohen's d = 2.5 across runs
    effects = (y[:, -1] - y[:, 0]).reshape(N_SIM, 5)
    res = across_runs(effects)
    power = np.mean((res["p_value"] < ALPHA) & (res["mean"] > 0))
    assert power >= 0.80
    single = drift_test(y[:N_SIM])
    single_power = np.mean((single["p_value"] < ALPHA) & (single["effect"] > 0))
    assert single_power > 0.3  # one run still sees a planted rise of 2.5 wiggles most of the time


# --------------------------------------------------------------------------- confidence statements
CONF_KEYS = ("strength_confidence", "distinct_confidence", "sample_relation", "sample_relation_ctrl")


def _pair_inputs(pair, i, k):
    return cs.SnapshotInputs(pair.acts[i], pair.conf[i], pair.spread[i], cs.quantile_groups(pair.conf[i], k),
                             pair.acts[i].mean(axis=-1))


def _observed_effects(pair, k=3):
    boot = cs.bootstrap_pair(_pair_inputs(pair, 0, k), _pair_inputs(pair, 1, k), pair.labels, k=k,
                             groups="moving", weights=np.ones((1, pair.labels.size), dtype=int), n_splits=1)
    return {key: boot[key][1, 0] - boot[key][0, 0] for key in CONF_KEYS}


@pytest.mark.slow
def test_one_run_confidence_verdicts_keep_their_false_positive_rate():
    rng = np.random.default_rng(21)
    effects = {key: [] for key in CONF_KEYS}
    pvals = {key: [] for key in CONF_KEYS}
    for _ in range(N_SIM):
        pair = probe_pair(rng)
        n = pair.labels.size
        weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(100)])
        boot = cs.bootstrap_pair(_pair_inputs(pair, 0, 3), _pair_inputs(pair, 1, 3), pair.labels, k=3,
                                 groups="moving", weights=weights, n_splits=1)
        obs = _observed_effects(pair)
        for key in CONF_KEYS:
            res = paired_bootstrap_ci(boot[key][0], boot[key][1], obs_a=0.0, obs_b=obs[key])
            effects[key].append(res["effect"])
            pvals[key].append(res["p_value"])
    for key in CONF_KEYS:
        assert _rate_of_verdicts(effects[key], pvals[key]) <= MAX_FPR, key


@pytest.mark.slow
def test_five_run_confidence_verdicts_keep_their_false_positive_rate_and_have_power():
    rng = np.random.default_rng(22)
    null = np.array([[_observed_effects(probe_pair(rng))[k] for k in CONF_KEYS] for _ in range(5 * N_SIM)])
    res = across_runs(null.reshape(N_SIM, 5, len(CONF_KEYS)).transpose(0, 2, 1))
    for j, key in enumerate(CONF_KEYS):
        assert _rate_of_verdicts(res["mean"][:, j], res["p_value"][:, j]) <= MAX_FPR, key
    planted = np.array([[_observed_effects(probe_pair(rng, relation=0.6))[k] for k in CONF_KEYS]
                        for _ in range(5 * 100)])
    res = across_runs(planted.reshape(100, 5, len(CONF_KEYS)).transpose(0, 2, 1))
    for j, key in enumerate(CONF_KEYS):
        power = np.mean((res["p_value"][:, j] < ALPHA) & (res["mean"][:, j] > 0))
        assert power >= 0.80, (key, power)
