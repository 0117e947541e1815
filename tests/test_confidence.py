"""Confidence measures and calibration against SciPy / scikit-learn / brute-force loops."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from scipy import optimize, special, stats

import actconf.confidence as confidence_module
from actconf.confidence import (
    MEASURES,
    available_measures,
    calibration,
    confidence,
    fit_temperature,
    mc_dropout,
    predictions,
    reliability,
)
from actconf.errors import InvalidInputError, InvalidParameterError, MissingDataError
from actconf.testing import reference_ece, write_synthetic_run

S, N, K, MC = 3, 120, 5, 4


@pytest.fixture(scope="session")
def arrays():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, K, N)
    logits = rng.normal(size=(S, N, K)) * np.array([0.3, 2.0, 5.0])[:, None, None]
    logits[:, np.arange(N), labels] += np.array([0.2, 1.5, 1.5])[:, None]
    mc = logits[:, None] + rng.normal(scale=0.7, size=(S, MC, N, K))
    return {"labels": labels, "logits": logits, "probs": special.softmax(logits, axis=-1),
            "mc": special.softmax(mc, axis=-1)}


@pytest.fixture(scope="session")
def run(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("conf") / "run"
    return write_synthetic_run(path, activations={"h": np.zeros((S, N, 2))}, labels=arrays["labels"],
                               logits=arrays["logits"], mc_probabilities=arrays["mc"])


@pytest.fixture(scope="session")
def probs_run(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("conf") / "probs"
    return write_synthetic_run(path, activations={"h": np.zeros((S, N, 2))}, labels=arrays["labels"],
                               probabilities=arrays["probs"])


# ----------------------------------------------------------------- measures
def test_max_softmax_margin_entropy_against_references(arrays):
    p = arrays["probs"]
    np.testing.assert_allclose(confidence(p), p.max(-1))
    top = np.sort(p, axis=-1)
    np.testing.assert_allclose(confidence(p, measure="margin"), top[..., -1] - top[..., -2])
    expected = 1 - stats.entropy(p, axis=-1) / np.log(K)
    np.testing.assert_allclose(confidence(p, measure="entropy"), expected, atol=1e-12)


def test_entropy_extremes_and_zero_probabilities():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(confidence(p, measure="entropy"),
                               [1.0, 0.0, 1 - stats.entropy([0.5, 0.5, 0]) / np.log(3)], atol=1e-12)


def test_energy_is_logsumexp_of_logits(arrays, run, probs_run):
    z = arrays["logits"]
    np.testing.assert_allclose(confidence(z, measure="energy", from_logits=True), special.logsumexp(z, axis=-1))
    np.testing.assert_allclose(confidence(run, measure="energy").values, special.logsumexp(
        run.logits().values.astype(np.float64), axis=-1), rtol=1e-10)
    with pytest.raises(MissingDataError, match="no logits"):
        confidence(probs_run, measure="energy")
    with pytest.raises(MissingDataError, match="from_logits=True"):
        confidence(arrays["probs"], measure="energy")


def test_run_and_array_api_agree(run, arrays):
    p = arrays["probs"]
    top = np.sort(p, axis=-1)
    references = {"max_softmax": p.max(-1), "margin": top[..., -1] - top[..., -2],
                  "entropy": 1 - stats.entropy(p, axis=-1) / np.log(K)}
    for measure in ("max_softmax", "margin", "entropy"):
        da = confidence(run, measure=measure)
        assert da.dims == ("snapshot", "sample") and da.name == measure
        np.testing.assert_allclose(da.values, references[measure], atol=1e-6)
        np.testing.assert_allclose(confidence(p, measure=measure), references[measure], atol=1e-12)
        np.testing.assert_array_equal(da["prediction"].values, arrays["probs"].argmax(-1))
    np.testing.assert_array_equal(predictions(run).values, arrays["probs"].argmax(-1))
    np.testing.assert_array_equal(predictions(arrays["logits"]), arrays["logits"].argmax(-1))
    sub = confidence(run, snapshots=[0, 2])
    np.testing.assert_array_equal(sub["snapshot"].values, [0, 2])
    np.testing.assert_array_equal(sub["label"].values, arrays["labels"])


def test_mc_dropout_mean_and_variance(run, arrays):
    mc = arrays["mc"]
    mean = mc.mean(axis=1)
    pred = mean.argmax(-1)
    picked = np.stack([mc[s, :, np.arange(N), pred[s]].T for s in range(S)])  # (S, MC, N)
    ds = mc_dropout(run)
    np.testing.assert_allclose(ds["confidence"].values, picked.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(ds["confidence"].values, mean.max(-1), atol=1e-6)
    np.testing.assert_allclose(ds["variance"].values, picked.var(axis=1), atol=1e-6)
    np.testing.assert_array_equal(ds["prediction"].values, pred)
    da = confidence(run, measure="mc_dropout")
    np.testing.assert_allclose(da.values, ds["confidence"].values)
    np.testing.assert_array_equal(da["prediction"].values, pred)
    out = mc_dropout(mc)
    np.testing.assert_allclose(out["variance"], picked.var(axis=1))
    # the same return type for arrays as for a run
    assert isinstance(ds, xr.Dataset) and isinstance(out, xr.Dataset)
    assert set(out.data_vars) == set(ds.data_vars) == {"confidence", "variance", "prediction"}
    assert out["confidence"].dims == ds["confidence"].dims == ("snapshot", "sample")
    assert out.attrs["mc_samples"] == ds.attrs["mc_samples"] == MC
    np.testing.assert_array_equal(out["prediction"].values, pred)
    single = mc_dropout(mc[0])
    assert single["confidence"].dims == ("sample",)
    np.testing.assert_allclose(single["confidence"].values, mean[0].max(-1))


def test_mc_dropout_without_passes(probs_run, arrays):
    with pytest.raises(MissingDataError, match="mc_samples=K"):
        confidence(probs_run, measure="mc_dropout")
    with pytest.raises(InvalidParameterError, match="mc, n_samples, n_classes"):
        confidence(arrays["probs"][0], measure="mc_dropout")


@pytest.mark.slow
def test_mc_dropout_on_a_real_recording(recorded_digits):
    from actconf.store import open_run

    rec = open_run(recorded_digits["path"])
    ds = mc_dropout(rec)
    mc = rec.mc_probabilities().values.astype(np.float64)
    np.testing.assert_allclose(ds["confidence"].values, mc.mean(axis=1).max(-1), atol=1e-6)
    assert np.all(ds["variance"].values >= 0) and np.any(ds["variance"].values > 0)  # dropout was active


# ----------------------------------------------------------------- temperature
def _nll(t, z, y):
    return -special.log_softmax(z / t, axis=-1)[np.arange(len(y)), y].mean()


def test_fit_temperature_matches_scipy_minimiser(arrays):
    z, y = arrays["logits"], arrays["labels"]
    fitted = fit_temperature(z, labels=y, from_logits=True)
    assert fitted.shape == (S,)
    for s in range(S):
        res = optimize.minimize_scalar(lambda lt, s=s: _nll(np.exp(lt), z[s], y), bounds=(-4.6, 4.6),
                                       method="bounded", options={"xatol": 1e-10})
        assert fitted[s] == pytest.approx(np.exp(res.x), rel=1e-4)
    # logits that point away from the labels: the flattest prediction is best, T hits its upper limit
    noise = np.random.default_rng(1).normal(size=(300, 3))
    assert fit_temperature(noise, labels=noise.argmin(-1), from_logits=True) == pytest.approx(100)


def test_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(4000, 5))
    y = np.array([rng.choice(5, p=p) for p in special.softmax(z / 2.5, axis=-1)])
    assert fit_temperature(z, labels=y, from_logits=True) == pytest.approx(2.5, rel=0.1)
    # an overconfident model (true T = 2.5) becomes better calibrated after scaling
    cal = calibration(z, labels=y, from_logits=True)
    cal_t = calibration(z, labels=y, from_logits=True, measure="temperature")
    assert cal_t["ece_width"][0] < cal["ece_width"][0] / 2
    assert cal_t["nll"][0] < cal["nll"][0]


def test_temperature_is_cross_fitted_on_other_samples(run, arrays):
    da = confidence(run, measure="temperature")
    temps = da["temperature"].values
    z = run.logits().values.astype(np.float64)
    y = arrays["labels"]
    for s in range(S):
        values = np.unique(temps[s])
        assert values.size == 2  # two folds, one temperature each
        fold0 = temps[s] == values[0]
        # stratified: every class split about evenly
        for c in range(K):
            assert abs(fold0[y == c].sum() - (~fold0)[y == c].sum()) <= 1
        # each fold's temperature is the one fitted on the *other* fold only
        t_other = fit_temperature(z[s][~fold0], labels=y[~fold0], from_logits=True)
        assert values[0] == pytest.approx(float(t_other), rel=1e-6)
        scaled = special.softmax(z[s] / temps[s][:, None], axis=-1).max(-1)
        np.testing.assert_allclose(da.values[s], scaled, rtol=1e-6)


def test_temperature_without_logits_matches_with_logits(run, probs_run):
    a = confidence(run, measure="temperature")
    b = confidence(probs_run, measure="temperature")
    np.testing.assert_allclose(a.values, b.values, atol=2e-3)


def test_temperature_is_seeded(run):
    a = confidence(run, measure="temperature", seed=3).values
    np.testing.assert_array_equal(a, confidence(run, measure="temperature", seed=3).values)
    assert not np.array_equal(a, confidence(run, measure="temperature", seed=4).values)
    with pytest.raises(InvalidInputError, match="at least 8 samples"):
        confidence(np.full((5, 3), 1 / 3), measure="temperature", labels=np.arange(5) % 3, n_folds=4)
    with pytest.raises(InvalidParameterError, match="'labels'"):
        confidence(np.full((5, 3), 1 / 3), measure="temperature")


# ----------------------------------------------------------------- calibration
@pytest.mark.parametrize("n_bins", [1, 7, 15])
def test_ece_against_brute_force(arrays, n_bins):
    p, y = arrays["probs"], arrays["labels"]
    table = calibration(p, labels=y, n_bins=n_bins)
    assert len(table) == S
    for s in range(S):
        conf, correct = p[s].max(-1), (p[s].argmax(-1) == y).astype(float)
        assert table["ece_width"][s] == pytest.approx(reference_ece(conf, correct, n_bins, "width"), abs=1e-12)
        assert table["ece_mass"][s] == pytest.approx(reference_ece(conf, correct, n_bins, "mass"), abs=1e-12)


def test_accuracy_nll_brier_against_sklearn(run, arrays):
    from sklearn.metrics import accuracy_score, log_loss

    p, y = arrays["probs"], arrays["labels"]
    table = calibration(run)
    for col in ("snapshot", "kind", "epoch", "step", "progress", "label"):
        assert col in table
    for s in range(S):
        assert table["accuracy"][s] == pytest.approx(accuracy_score(y, p[s].argmax(-1)))
        assert table["nll"][s] == pytest.approx(log_loss(y, p[s], labels=range(K)), rel=1e-6)
        assert table["brier"][s] == pytest.approx(((p[s] - np.eye(K)[y]) ** 2).sum(-1).mean(), rel=1e-6)
        assert table["mean_confidence"][s] == pytest.approx(p[s].max(-1).mean(), rel=1e-6)


def test_extreme_confidences_land_in_the_end_bins():
    for value, expected_bin in zip([0.0, 1.0, 1.0 + 1e-7, 0.5, 0.9999999], [0, 9, 9, 5, 9], strict=True):
        one = reliability(np.array([[value, 0.0]]), labels=np.array([0]), n_bins=10)
        assert one["count"].tolist() == [int(b == expected_bin) for b in range(10)]
    p = np.eye(3)[[0, 1, 2, 0]]  # one-hot: confidence exactly 1
    rel = reliability(p, labels=np.array([0, 1, 2, 1]), n_bins=5)
    assert rel["count"].tolist() == [0, 0, 0, 0, 4]
    assert rel["accuracy"].iloc[-1] == pytest.approx(0.75)
    cal = calibration(p, labels=np.array([0, 1, 2, 1]), n_bins=5)
    assert cal["ece_width"][0] == pytest.approx(0.25)
    assert cal["brier"][0] == pytest.approx(0.5)


@pytest.mark.parametrize("strategy", ["width", "mass"])
def test_reliability_table_is_consistent_with_ece(run, strategy):
    rel = reliability(run, n_bins=6, strategy=strategy)
    cal = calibration(run, n_bins=6)
    assert len(rel) == S * 6
    assert (rel.groupby("snapshot")["count"].sum() == N).all()
    ece = (rel["weight"] * rel["gap"].abs()).groupby(rel["snapshot"]).sum()
    np.testing.assert_allclose(ece.to_numpy(), cal[f"ece_{strategy}"].to_numpy(), atol=1e-12)
    if strategy == "mass":
        assert set(rel["count"]) == {N // 6}
        assert (rel["lower"] <= rel["mean_confidence"]).all() and (rel["mean_confidence"] <= rel["upper"]).all()


def test_calibration_of_temperature_and_mc(run, arrays):
    for measure in ("temperature", "mc_dropout"):
        table = calibration(run, measure=measure)
        assert table.attrs["measure"] == measure and table["ece_width"].notna().all()
    assert np.isfinite(reliability(run, measure="mc_dropout")["count"]).all()
    # MC-dropout calibration assesses the pass-averaged distribution
    mean = arrays["mc"].mean(axis=1)
    table = calibration(run, measure="mc_dropout")
    y = arrays["labels"]
    for s in range(S):
        assert table["accuracy"][s] == pytest.approx((mean[s].argmax(-1) == y).mean())
        assert table["nll"][s] == pytest.approx(-np.log(mean[s][np.arange(N), y]).mean(), rel=1e-5)


def test_nonfinite_snapshots_give_nan(tmp_path):
    p = np.full((2, 10, 2), 0.5)
    p[1, 0] = np.nan
    bad = write_synthetic_run(tmp_path / "nan", activations={"h": np.zeros((2, 10, 1))},
                              labels=np.arange(10) % 2, probabilities=p)
    table = calibration(bad)
    assert table["accuracy"].notna()[0] and table[["accuracy", "nll", "ece_width", "ece_mass"]].iloc[1].isna().all()


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda r: confidence(r, measure="vibes"), InvalidParameterError, "'max_softmax', 'margin'"),
        (lambda r: confidence(r, measure=None), InvalidParameterError, "'measure' parameter of confidence()"),
        (lambda r: calibration(r, measure="margin"), InvalidParameterError, "probability-valued"),
        (lambda r: calibration(r, n_bins=0), InvalidParameterError, "'n_bins' parameter of calibration()"),
        (lambda r: reliability(r, strategy="quantile"), InvalidParameterError, "'width', 'mass'"),
        (lambda r: confidence(r, snapshots={"epoch": 42}), InvalidParameterError, "matches no snapshot"),
        (lambda r: confidence("probs.npy"), InvalidParameterError, "a Run or a numeric array"),
        (lambda r: confidence(np.ones(3)), InvalidParameterError, "at least 2 dimensions"),
        (lambda r: calibration(np.full((4, 2), 0.5)), InvalidParameterError, "'labels'"),
        (lambda r: calibration(np.full((4, 2), 0.5), labels=[0, 1, 2, 0]), InvalidParameterError, "[0, 1]"),
        (lambda r: confidence(r, measure="temperature", n_folds=1), InvalidParameterError, "'n_folds'"),
        (lambda r: confidence(r, measure="temperature", seed=-1), InvalidParameterError, "'seed'"),
    ],
)
def test_bad_input(run, call, error, fragment):
    with pytest.raises(error) as info:
        call(run)
    assert fragment in str(info.value)


def test_measure_list_is_complete(run):
    """MEASURES holds exactly the measures the module documents, each computable on a complete run."""
    documented = tuple(re.findall(r"^``(\w+)``", confidence_module.__doc__, flags=re.MULTILINE))
    assert documented == MEASURES
    assert len(set(MEASURES)) == len(MEASURES)
    for measure in MEASURES:
        assert confidence(run, measure=measure).shape == (S, N)


def _computable(run):
    """Measures confidence() computes for the run, found by trying every one."""
    out = []
    for measure in MEASURES:
        try:
            values = confidence(run, measure=measure)
        except (MissingDataError, InvalidInputError):
            continue
        assert values.shape == (run.n_snapshots, run.n_samples)
        out.append(measure)
    return out


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("mc", [True, False])
def test_available_measures_are_exactly_the_computable_ones(tmp_path, arrays, logits, mc):
    kwargs = {"logits": arrays["logits"]} if logits else {"probabilities": arrays["probs"]}
    if mc:
        kwargs["mc_probabilities"] = arrays["mc"]
    run = write_synthetic_run(tmp_path / "r", activations={"h": np.zeros((S, N, 2))}, labels=arrays["labels"],
                              **kwargs)
    listed = available_measures(run)
    assert listed == _computable(run)  # both directions: listed => computable, computable => listed
    assert ("energy" in listed) == logits and ("mc_dropout" in listed) == mc
    assert "temperature" in listed  # from log-probabilities when there are no logits


def test_available_measures_of_a_tiny_run(tmp_path):
    run = write_synthetic_run(tmp_path / "tiny", activations={"h": np.zeros((1, 3, 1))}, labels=[0, 1, 0],
                              logits=np.zeros((1, 3, 2)))
    assert available_measures(run) == _computable(run) == ["max_softmax", "margin", "entropy", "energy"]
    with pytest.raises(InvalidParameterError, match="an actconf Run"):
        available_measures("runs/x")
