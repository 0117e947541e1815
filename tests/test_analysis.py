"""Activity–confidence statistics: SciPy references and synthetic runs with a known relation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

from actconf.analysis import (
    STATEMENTS,
    activity_confidence,
    bin_statistics,
    claim_summary,
    neuron_correlation,
    sample_activity,
    spearman,
    statement_trajectories,
    trend_tests,
)
from actconf.analysis._spearman import bootstrap_spearman, bootstrap_weights, resample_ranks
from actconf.confidence import confidence
from actconf.errors import InvalidParameterError, MissingDataError
from actconf.testing import relation_arrays, write_synthetic_run

S, N, K, M = 6, 240, 4, 12
BINS = [0.25, 0.5, 0.7, 0.85, 1.0]


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Runs of actconf.testing.relation_arrays: activity related to confidence positively, negatively, not."""
    base = tmp_path_factory.mktemp("analysis")
    return {rel: write_synthetic_run(base / rel, **relation_arrays(rel, n_snapshots=S, n_samples=N, n_classes=K,
                                                                  n_neurons=M))
            for rel in ("positive", "negative", "none")}


# ----------------------------------------------------------------- Spearman
def test_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 50))
    y = x + rng.normal(size=(5, 50)) * np.arange(5)[:, None]
    y[2] = np.round(y[2])  # ties
    rho, p = spearman(x, y)
    for i in range(5):
        ref = stats.spearmanr(x[i], y[i])
        assert rho[i] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[i] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    rho, p = spearman(np.ones(10), np.arange(10))
    assert np.isnan(rho) and np.isnan(p)


def test_bootstrap_replicates_equal_spearman_on_resampled_data():
    rng = np.random.default_rng(1)
    n = 40
    x = np.round(rng.normal(size=n), 1)  # many ties
    y = x + rng.normal(size=n)
    draws = rng.integers(0, n, size=(6, n))
    weights = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(np.int32)
    ranks = resample_ranks(x, weights)
    boot = bootstrap_spearman(ranks, resample_ranks(y, weights), weights.astype(np.float32))
    for b in range(6):
        ref = stats.spearmanr(x[draws[b]], y[draws[b]]).statistic
        assert boot[b] == pytest.approx(ref, abs=1e-6)
        # every drawn copy gets the rank that scipy gives it in the explicit resample (minus the mean rank)
        explicit = stats.rankdata(x[draws[b]]) - (n + 1) / 2
        np.testing.assert_allclose(ranks[b, draws[b]], explicit, atol=1e-5)
    w = bootstrap_weights(n, 5, np.random.default_rng(0))
    assert w.shape == (5, n) and np.all(w.sum(axis=1) == n)


# ----------------------------------------------------------------- sample level
def test_sample_activity_against_numpy(runs):
    run = runs["positive"]
    acts = run.activations("dense").values.astype(np.float64)
    np.testing.assert_allclose(sample_activity(run, layer="dense").values, acts.mean(-1), rtol=1e-6)
    np.testing.assert_allclose(sample_activity(run, "copy").values, (acts[..., :5] * 2).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(sample_activity(run, layer="dense", activity="l2").values,
                               np.linalg.norm(acts, axis=-1), rtol=1e-6)
    np.testing.assert_allclose(sample_activity(run, layer="dense", activity="active_fraction", threshold=0.6).values,
                               (acts > 0.6).mean(-1))


def test_activity_confidence_matches_scipy_and_has_a_sane_interval(runs):
    run = runs["positive"]
    table = activity_confidence(run, n_boot=300)
    assert list(table["layer"].unique()) == ["dense", "copy"]
    assert len(table) == 2 * S
    conf = run.probabilities().values.max(-1)
    acts = run.activations("dense").values.mean(-1)
    dense = table[table["layer"] == "dense"].reset_index(drop=True)
    for s in range(S):
        ref = stats.spearmanr(conf[s], acts[s])
        assert dense["rho"][s] == pytest.approx(ref.statistic, abs=1e-6)
        assert dense["p_value"][s] == pytest.approx(ref.pvalue, rel=1e-4, abs=1e-300)
        assert dense["ci_low"][s] <= dense["rho"][s] <= dense["ci_high"][s]
    assert (dense["ci_high"] - dense["ci_low"]).between(0.01, 0.5).all()
    for col in ("snapshot", "step", "epoch", "progress", "label", "kind", "n", "measure", "activity"):
        assert col in table


def test_bootstrap_is_seeded(runs):
    a = activity_confidence(runs["none"], layers="dense", n_boot=100, seed=5)
    b = activity_confidence(runs["none"], layers="dense", n_boot=100, seed=5)
    c = activity_confidence(runs["none"], layers="dense", n_boot=100, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    assert activity_confidence(runs["none"], layers="dense", n_boot=0)["ci_low"].isna().all()


@pytest.mark.parametrize(("relation", "sign"), [("positive", 1), ("negative", -1), ("none", 0)])
def test_sample_level_relation_is_recovered(runs, relation, sign):
    table = activity_confidence(runs[relation], layers="dense", n_boot=300, snapshots=slice(1, None))
    if sign > 0:
        assert (table["ci_low"] > 0.3).all()
    elif sign < 0:
        assert (table["ci_high"] < -0.3).all()
    else:
        assert (table["rho"].abs() < 0.2).all()
        assert ((table["ci_low"] < 0) & (table["ci_high"] > 0)).mean() >= 0.8


def test_neuron_correlation_matches_scipy_and_flags_dead_neurons(runs):
    run = runs["positive"]
    rho = neuron_correlation(run, layer="dense", measure="margin", snapshots=[0, 5])
    assert rho.dims == ("snapshot", "neuron") and rho.shape == (2, M)
    conf = confidence(run, measure="margin", snapshots=[0, 5]).values
    acts = run.activations("dense").values[[0, 5]]
    for i in range(2):
        for j in range(M - 1):
            ref = stats.spearmanr(conf[i], acts[i, :, j])
            assert rho.values[i, j] == pytest.approx(ref.statistic, abs=1e-9)
            assert rho["p_value"].values[i, j] == pytest.approx(ref.pvalue, rel=1e-4, abs=1e-300)
    assert np.isnan(rho.values[:, -1]).all()  # the dead neuron
    # layer is positional-or-keyword (the vocabulary): the second layer, given positionally
    rho_copy = neuron_correlation(run, "copy", snapshots=[5])
    ref = [stats.spearmanr(run.probabilities().values[5].max(-1), run.activations("copy").values[5, :, j]).statistic
           for j in range(5)]
    np.testing.assert_allclose(rho_copy.values[0], ref, atol=1e-9)


# ----------------------------------------------------------------- bins
def _bin_members(conf, b):
    """Samples whose confidence lies in bin b of BINS (lower edge included; the last bin also its upper)."""
    lo, hi = BINS[b], BINS[b + 1]
    return (conf >= lo) & ((conf <= hi) if b == len(BINS) - 2 else (conf < hi))


def test_bin_statistics_match_numpy_loops_and_pdist(runs):
    run = runs["positive"]
    table = bin_statistics(run, layers="dense", bins=BINS, min_size=3)
    assert len(table) == S * (len(BINS) - 1)
    conf = run.probabilities().values.astype(np.float64).max(-1)
    acts = run.activations("dense").values.astype(np.float64)
    labels = run.labels
    for row in table.itertuples():
        members = _bin_members(conf[row.snapshot], row.bin_index)
        assert row.bin == f"{BINS[row.bin_index]:.2f}–{BINS[row.bin_index + 1]:.2f}"
        assert row.n_samples == members.sum()
        if members.sum() < 3:
            assert np.isnan(row.strength)
            continue
        nap = acts[row.snapshot][members].mean(axis=0)
        assert row.strength == pytest.approx(np.abs(nap).mean())
        assert row.mean_activation == pytest.approx(nap.mean())
        cls = np.array([acts[row.snapshot][members & (labels == c)].mean(axis=0) for c in range(K)
                        if (members & (labels == c)).sum() >= 3])
        cls = cls[np.linalg.norm(cls, axis=1) > 0] if len(cls) else cls
        assert row.n_classes == len(cls)
        if len(cls) >= 2:
            assert row.distinctness_plain == pytest.approx(pdist(cls, "cosine").mean())
        else:
            assert np.isnan(row.distinctness_plain)


def test_contrastive_distinctness_and_zero_naps(tmp_path):
    # class 0's samples are all-zero: its NAP has no direction and is left out
    acts = np.zeros((1, 12, 3))
    acts[0, 4:8] = [1.0, 0.0, 0.0]
    acts[0, 8:12] = [0.0, 1.0, 0.0]
    logits = np.zeros((1, 12, 3))
    run = write_synthetic_run(tmp_path / "r", activations={"h": acts}, labels=np.repeat([0, 1, 2], 4), logits=logits)
    row = bin_statistics(run, bins=[0, 1], min_size=2).iloc[0]
    assert row.n_classes == 2 and row.distinctness_plain == pytest.approx(1.0)
    assert row.distinctness == pytest.approx(1.0)  # noise-free halves: the split-half estimate agrees
    # contrastive: minus the mean of the three class NAPs, after which all three have a direction
    row = bin_statistics(run, bins=[0, 1], min_size=2, contrastive=True).iloc[0]
    centred = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]) - np.array([1 / 3, 1 / 3, 0])
    assert row.n_classes == 3 and row.distinctness_plain == pytest.approx(pdist(centred, "cosine").mean())


def test_split_half_distinctness_by_hand(runs):
    """The split-half column against a loop: one split, class NAPs of each half, the formula."""
    from actconf.analysis._statements import split_halves

    run = runs["positive"]
    table = bin_statistics(run, layers="dense", bins=BINS, min_size=4, n_splits=1, seed=3)
    half = split_halves(run.labels, 1, 3)[0]
    conf = run.probabilities().values.astype(np.float64).max(-1)
    acts = run.activations("dense").values.astype(np.float64)
    for row in table.itertuples():
        members = _bin_members(conf[row.snapshot], row.bin_index)
        means = {}
        for c in range(K):
            cells = [members & (run.labels == c) & (half == h) for h in (0, 1)]
            if min(m.sum() for m in cells) >= 2:
                means[c] = [acts[row.snapshot][m].mean(axis=0) for m in cells]
        d = []
        for g in means:
            for h in means:
                if g < h:
                    (ag, bg), (ah, bh) = means[g], means[h]
                    if ag @ bg > 0 and ah @ bh > 0:
                        d.append(((ag - ah) @ (bg - bh)) / (2 * np.sqrt((ag @ bg) * (ah @ bh))))
        if d:
            assert row.distinctness == pytest.approx(np.mean(d), rel=1e-9)
        else:
            assert np.isnan(row.distinctness)


def test_split_half_distinctness_of_noise_is_near_zero_unlike_the_plain_one(tmp_path):
    rng = np.random.default_rng(4)
    acts = rng.gamma(2.0, 0.5, size=(3, 400, 16))  # no class structure at all
    labels = np.arange(400) % 8
    run = write_synthetic_run(tmp_path / "noise", activations={"h": acts}, labels=labels,
                              logits=rng.normal(size=(3, 400, 8)))
    table = bin_statistics(run, bins="quantile:4", min_size=4)
    assert abs(table["distinctness"].mean()) < 0.01
    assert table["distinctness_plain"].mean() > 5 * abs(table["distinctness"].mean())


@pytest.fixture(scope="session")
def seeds(tmp_path_factory):
    """Five seeds of every kind of synthetic run (the run is the unit of replication)."""
    base = tmp_path_factory.mktemp("seeds")
    return {rel: [write_synthetic_run(base / f"{rel}{s}", **relation_arrays(rel, n_snapshots=S, n_samples=N,
                                                                            n_classes=K, n_neurons=M, seed=s))
                  for s in range(5)]
            for rel in ("positive", "negative", "none")}


TIME_STATEMENTS = ("strength_time", "strength_time_groups", "distinct_time", "distinct_time_groups")


@pytest.mark.parametrize("relation", ["positive", "negative", "none"])
def test_claim_summary_across_seeds_recovers_the_known_relation(seeds, relation):
    table = claim_summary(seeds[relation], layers="dense", n_boot=100)
    assert list(table["statement"]) == list(STATEMENTS)
    assert (table["n_runs"] == 5).all() and (table["unit"] == "runs").all()
    verdicts = dict(zip(table["statement"], table["verdict"], strict=True))
    expected = {"positive": "supported", "negative": "contradicted", "none": "not supported"}[relation]
    assert {verdicts[k] for k in TIME_STATEMENTS} == {expected}, table[["statement", "effect", "p_value"]]
    if relation == "positive":  # activity follows confidence more at the end than before training
        assert verdicts["strength_confidence"] == verdicts["sample_relation"] == "supported"
    if relation == "none":
        assert set(verdicts.values()) == {"not supported"}
    # the effect is the mean over runs of final minus untrained, with a t interval
    traj = statement_trajectories(seeds[relation], layers="dense")
    for row in table.itertuples():
        per_run = traj[traj.statement == row.statement].groupby("run")["value"].agg(lambda v: v.iloc[-1] - v.iloc[0])
        assert row.effect == pytest.approx(per_run.mean())
        ref = stats.ttest_1samp(per_run.to_numpy(), 0.0)
        assert row.p_value == pytest.approx(ref.pvalue)
        assert row.ci_low < row.effect < row.ci_high


def test_claim_summary_of_one_run_says_what_it_can_show(seeds):
    table = claim_summary(seeds["positive"][0], layers="dense", n_boot=200)
    assert (table["unit"] == "one run").all() and "several seeds" in table.attrs["note"]
    time = table[table.statement.isin(TIME_STATEMENTS)]
    # six snapshots give five increments: the signed-rank test cannot go below 2/32
    assert (time["p_value"] >= 2 / 32 - 1e-12).all() and set(time["verdict"]) == {"not supported"}
    conf = table.set_index("statement").loc[["strength_confidence", "sample_relation"]]
    assert set(conf["verdict"]) == {"supported"} and (conf["ci_low"] > 0).all()
    assert all("untrained" in e and "final" in e for e in table["evidence"])


def test_trend_tests_table(runs):
    stats_table = bin_statistics(runs["positive"], bins=BINS, min_size=3)
    trends = trend_tests(stats_table, metrics=["strength", "mean_activation"])
    assert len(trends) == 2 * 2 * 2  # layers x metrics x factors
    assert set(trends["factor"]) == {"training", "confidence"}
    assert (trends[trends.factor == "training"]["change"] > 0.5).all()  # rises over training
    assert (trends[trends.factor == "confidence"]["final"] > 0.5).all()  # at the end, with confidence
    training = trends[trends.factor == "training"].iloc[0]
    wide = stats_table[stats_table.layer == training.layer].pivot(index="snapshot", columns="bin_index",
                                                                   values=training.metric)
    mean = wide.mean(axis=1).to_numpy()
    assert training.untrained == pytest.approx(mean[0]) and training.final == pytest.approx(mean[-1])
    ref = stats.wilcoxon(np.diff(mean), method="exact")
    assert training.p_value == pytest.approx(ref.pvalue)
    assert trends[trends.factor == "confidence"]["p_value"].isna().all()


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda r: activity_confidence(r, activity="max"), InvalidParameterError, "'mean', 'l2', 'active_fraction'"),
        (lambda r: activity_confidence(r, layers="nope"), InvalidParameterError, "Recorded layers"),
        (lambda r: activity_confidence(r, layers=[]), InvalidParameterError, "'layers'"),
        (lambda r: activity_confidence(r, measure="vibes"), InvalidParameterError, "'max_softmax'"),
        (lambda r: activity_confidence(r, ci=1.5), InvalidParameterError, "'ci' parameter"),
        (lambda r: activity_confidence(r, n_boot=-1), InvalidParameterError, "'n_boot'"),
        (lambda r: activity_confidence(r, snapshots={"epoch": 77}), InvalidParameterError, "matches no snapshot"),
        (lambda r: activity_confidence(r, measure="mc_dropout"), MissingDataError, "mc_samples"),
        (lambda r: neuron_correlation(r, layer="x"), InvalidParameterError, "Recorded layers"),
        (lambda r: bin_statistics(r, bins=[0.9, 0.1]), InvalidParameterError, "increasing"),
        (lambda r: bin_statistics(r, bins=[0, 2]), InvalidParameterError, "within [0, 1]"),
        (lambda r: bin_statistics(r, min_size=0), InvalidParameterError, "'min_size'"),
        (lambda r: trend_tests(pd.DataFrame({"a": [1]})), InvalidParameterError, "bin_statistics()"),
        (lambda r: claim_summary(r, alpha=0), InvalidParameterError, "'alpha'"),
        (lambda r: claim_summary(r, bins=1), InvalidParameterError, "'bins'"),
        (lambda r: claim_summary(r, bins=[0, 0.5, 1]), InvalidParameterError, "Equal-width"),
        (lambda r: claim_summary([r, "x"]), InvalidParameterError, "'runs'"),
        (lambda r: claim_summary(r, groups="sliding"), InvalidParameterError, "'groups'"),
        (lambda r: sample_activity(r, threshold=np.nan), InvalidParameterError, "'threshold'"),
        (lambda r: activity_confidence("run"), InvalidParameterError, "an actconf Run"),
    ],
)
def test_bad_input(runs, call, error, fragment):
    with pytest.raises(error) as info:
        call(runs["none"])
    assert fragment in str(info.value)


def test_trend_tests_rejects_unknown_metric(runs):
    table = bin_statistics(runs["none"], bins=BINS)
    with pytest.raises(InvalidParameterError, match="'metrics'"):
        trend_tests(table, metrics=["loudness"])
    with pytest.raises(InvalidParameterError, match="'time'"):
        trend_tests(table, time="wallclock")


def test_activity_confidence_scale_control_is_the_partial_rank_correlation(runs):
    run = runs["positive"]
    table = activity_confidence(run, layers="dense", n_boot=200)
    logits = run.logits().values.astype(np.float64)
    centred = logits - logits.mean(-1, keepdims=True)
    spread = np.sqrt((centred**2).sum(-1))
    conf = run.probabilities().values.astype(np.float64).max(-1)
    act = run.activations("dense").values.astype(np.float64).mean(-1)
    for row in table.itertuples():
        i = row.snapshot
        rx, ry, rz = (stats.rankdata(v) for v in (conf[i], act[i], spread[i]))
        design = np.column_stack([np.ones(rz.size), rz])
        res = [v - design @ np.linalg.lstsq(design, v, rcond=None)[0] for v in (rx, ry)]
        assert row.rho_ctrl == pytest.approx(stats.pearsonr(*res).statistic, abs=1e-9)
        assert row.ci_low_ctrl <= row.rho_ctrl <= row.ci_high_ctrl
    assert "rho_ctrl" not in activity_confidence(run, layers="dense", n_boot=0, control=False)
