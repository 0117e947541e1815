"""Groupings and NAPs, checked against plain numpy loops over groups."""

from __future__ import annotations

import numpy as np
import pytest

from actconf.errors import ActconfError, InvalidParameterError, MissingDataError
from actconf.naps import GROUPINGS, assign_groups, group_samples, naps
from actconf.testing import write_synthetic_run

S, N_SAMPLES, K, N_NEURONS = 4, 90, 4, 6
CLASS_NAMES = ["cat", "dog", "emu", "fox"]


@pytest.fixture(scope="session")
def nap_run(tmp_path_factory):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(K), N_SAMPLES // K + 1)[:N_SAMPLES]
    logits = rng.normal(size=(S, N_SAMPLES, K)) * np.linspace(0.2, 4, S)[:, None, None]
    logits[np.arange(1, S)[:, None], np.arange(N_SAMPLES)[None, :], labels[None, :]] += 2.0
    acts = {"dense": rng.gamma(1.0, 1.0, size=(S, N_SAMPLES, N_NEURONS)),
            "other": rng.normal(size=(S, N_SAMPLES, 3))}
    path = tmp_path_factory.mktemp("naps") / "run"
    return write_synthetic_run(path, activations=acts, labels=labels, logits=logits, class_names=CLASS_NAMES)


@pytest.fixture(scope="session")
def probs_only_run(tmp_path_factory):
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), size=(2, 20))
    path = tmp_path_factory.mktemp("naps") / "probs"
    return write_synthetic_run(path, activations={"h": rng.random((2, 20, 4))},
                               labels=rng.integers(0, 3, 20), probabilities=p)


def _reference(run, layer, by, edges, min_size, measure_values=None):
    """Plain loop: every group defined by explicit masks, means by np.mean."""
    probs = run.probabilities().values.astype(np.float64)
    acts = run.activations(layer).values.astype(np.float64)
    labels = run.labels
    conf = probs.max(-1) if measure_values is None else measure_values
    pred = probs.argmax(-1)
    factors = by.split("+")
    levels = {
        "class": list(range(K)),
        "prediction": list(range(K)),
        "correct": [True, False],
        "confidence": list(range(len(edges) - 1)) if edges is not None else [],
    }

    def mask(s, factor, level):
        if factor == "class":
            return labels == level
        if factor == "prediction":
            return pred[s] == level
        if factor == "correct":
            return (pred[s] == labels) == level
        lo, hi = edges[level], edges[level + 1]
        last = level == len(edges) - 2
        return (conf[s] >= lo) & ((conf[s] <= hi) if last else (conf[s] < hi))

    combos = [()]
    for f in factors:
        combos = [c + (lv,) for c in combos for lv in levels[f]]
    out = np.full((S, len(combos), acts.shape[2]), np.nan)
    sizes = np.zeros((S, len(combos)), dtype=int)
    for s in range(S):
        for g, combo in enumerate(combos):
            m = np.ones(N_SAMPLES, dtype=bool)
            for f, lv in zip(factors, combo, strict=True):
                m &= mask(s, f, lv)
            sizes[s, g] = m.sum()
            if m.sum() >= min_size:
                out[s, g] = acts[s][m].mean(axis=0)
    return out, sizes


@pytest.mark.parametrize("by", GROUPINGS + ("correct+confidence",))
def test_naps_match_loop_over_groups(nap_run, by):
    edges = [0.0, 0.4, 0.6, 0.8, 0.95, 1.0]
    nap = naps(nap_run, "dense", by=by, bins=edges, min_size=3, contrastive=False)
    ref, sizes = _reference(nap_run, "dense", by, edges if "confidence" in by else None, 3)
    assert nap.dims == ("snapshot", "group", "neuron")
    np.testing.assert_array_equal(nap["size"].values, sizes)
    np.testing.assert_allclose(nap.values, ref, rtol=1e-10, atol=1e-12)
    assert np.isnan(ref).any() or "confidence" not in by  # small groups do occur in the test data
    assert nap.attrs == {**nap.attrs, "layer": "dense", "by": by, "measure": "max_softmax",
                         "contrastive": False, "min_size": 3}


def test_group_labels_and_factor_coordinates(nap_run):
    nap = naps(nap_run, "dense", by="class+confidence", bins=[0, 0.5, 0.9, 1])
    assert nap.sizes["group"] == K * 3
    assert list(nap["group"].values[:3]) == ["cat | 0.0–0.5", "cat | 0.5–0.9", "cat | 0.9–1.0"]
    assert list(nap["class"].values[::3]) == CLASS_NAMES
    assert list(nap["confidence"].values[:3]) == ["0.0–0.5", "0.5–0.9", "0.9–1.0"]
    # pivoting rows/cols with the factor coordinates works
    table = nap.isel(snapshot=-1, neuron=0).to_dataframe().pivot(index="class", columns="confidence", values="nap")
    assert table.shape == (K, 3)
    pred = naps(nap_run, "dense", by="class+prediction")
    assert pred["group"].values[1] == "cat | pred dog"
    assert pred["prediction"].values[1] == "dog"
    corr = naps(nap_run, "dense", by="correct")
    assert list(corr["group"].values) == ["correct", "wrong"]


def test_default_bins_are_tenths(nap_run):
    nap = naps(nap_run, by="confidence")
    assert nap["group"].values[0] == "0.0–0.1"
    assert nap["group"].values[-1] == "0.9–1.0"
    assert nap.sizes["group"] == 10
    # every sample is in exactly one bin (confidence lies in [1/K, 1])
    np.testing.assert_array_equal(nap["size"].sum("group").values, N_SAMPLES)


def test_groups_are_stable_even_when_empty(nap_run):
    nap = naps(nap_run, "dense", by="class+confidence", bins=[0, 0.3, 0.99, 1.0], min_size=1, contrastive=False)
    sizes = nap["size"].values
    assert (sizes == 0).any(), "some group is empty at some snapshot in this data"
    # one group axis for all snapshots, empty groups are NaN (no mean of nothing, no crash)
    assert np.all(np.isnan(nap.values[sizes == 0]))
    assert np.all(np.isfinite(nap.values[sizes >= 1]))


def test_contrastive_subtracts_mean_over_valid_groups(nap_run):
    plain = naps(nap_run, "dense", by="class+correct", min_size=4, contrastive=False).values
    contrast = naps(nap_run, "dense", by="class+correct", min_size=4, contrastive=True)
    assert contrast.attrs["contrastive"] is True
    for s in range(S):
        valid = ~np.isnan(plain[s, :, 0])
        expected = plain[s] - plain[s, valid].mean(axis=0)
        np.testing.assert_allclose(contrast.values[s], expected, atol=1e-12)
        np.testing.assert_allclose(np.nansum(contrast.values[s], axis=0), 0, atol=1e-10)


def test_default_is_contrastive_and_layer_is_positional(nap_run):
    """The paper's reference default: contrastive NAPs (per neuron, minus the mean over groups)."""
    ref, sizes = _reference(nap_run, "dense", "class", None, 5)
    default = naps(nap_run, "dense")
    assert default.attrs["contrastive"] is True
    np.testing.assert_allclose(default.values, ref - ref.mean(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_array_equal(naps(nap_run, layer="dense").values, default.values)
    np.testing.assert_array_equal(default["size"].values, sizes)


def test_grouping_codes_are_the_assignment(nap_run):
    grouping = group_samples(nap_run, by="class+confidence", bins=[0, 0.5, 1.0])
    codes = grouping.codes
    assert isinstance(codes, np.ndarray) and codes.shape == (S, N_SAMPLES)
    conf = nap_run.probabilities().values.max(-1)
    expected = 2 * nap_run.labels[None, :] + (conf >= 0.5)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(codes, grouping.assignment.values)


def test_quantile_bins_have_equal_sizes_and_bounds(nap_run):
    nap = naps(nap_run, "dense", by="confidence", bins="quantile:3", min_size=1)
    assert list(nap["group"].values) == ["Q1/3", "Q2/3", "Q3/3"]
    np.testing.assert_array_equal(nap["size"].values, N_SAMPLES // 3)
    grouping = group_samples(nap_run, by="confidence", bins="quantile:3")
    conf = nap_run.probabilities().values.max(-1)
    for s in range(S):
        for g in range(3):
            members = grouping.members(s, g)
            assert conf[s, members].min() == pytest.approx(nap["confidence_lower"].values[s, g])
            assert conf[s, members].max() == pytest.approx(nap["confidence_upper"].values[s, g])
        # quantile bins are ordered: every Q1 confidence <= every Q2 confidence
        assert conf[s, grouping.members(s, 0)].max() <= conf[s, grouping.members(s, 1)].min()
    # 4 bins of 90 samples: sizes 23, 23, 22, 22 (like numpy.array_split)
    np.testing.assert_array_equal(group_samples(nap_run, by="confidence", bins="quantile:4").sizes().values[0],
                                  [23, 23, 22, 22])


def test_bin_edges_are_inclusive_at_the_end():
    labels = np.array([0, 1, 0, 1, 0])
    conf = np.array([[0.0, 0.5, 1.0, 0.49999, 0.75]])
    g = assign_groups(labels, confidence=conf, by="confidence", bins=[0.0, 0.5, 1.0])
    np.testing.assert_array_equal(g.assignment.values[0], [0, 1, 1, 0, 1])
    g = assign_groups(labels, confidence=conf, by="confidence", bins=[0.2, 0.6])
    np.testing.assert_array_equal(g.assignment.values[0], [-1, 0, -1, 0, -1])  # outside the edges: no group
    g = assign_groups(labels, confidence=np.array([[np.nan, 0.3, 0.3, 0.3, 0.3]]), by="confidence", bins=2)
    assert g.assignment.values[0, 0] == -1


def test_group_samples_matches_assign_groups(nap_run):
    from actconf.confidence import confidence

    conf = confidence(nap_run, measure="margin")
    grouping = group_samples(nap_run, by="class+confidence", measure="margin", bins=4)
    arrays = assign_groups(nap_run.labels, confidence=conf.values, by="class+confidence", bins=4,
                           class_names=nap_run.class_names, measure="margin")
    np.testing.assert_array_equal(grouping.assignment.values, arrays.assignment.values)
    assert grouping.labels == arrays.labels
    np.testing.assert_array_equal(grouping.sizes().values, arrays.sizes().values)
    assert grouping.assignment["step"].size == S
    # both against a brute-force loop: code = class * 4 + bin, bins [0, .25), ..., [.75, 1]
    top = np.sort(nap_run.probabilities().values.astype(np.float64), axis=-1)
    margin = top[..., -1] - top[..., -2]
    for s in range(S):
        for i in range(N_SAMPLES):
            b = min(int(margin[s, i] // 0.25), 3)
            assert grouping.assignment.values[s, i] == nap_run.labels[i] * 4 + b


def test_measures_and_precomputed_confidence(nap_run):
    from actconf.confidence import confidence

    conf = confidence(nap_run, measure="entropy")
    ref, sizes = _reference(nap_run, "dense", "confidence", [0, 0.5, 1.0], 2, measure_values=conf.values)
    for measure in ("entropy", conf):
        nap = naps(nap_run, "dense", by="confidence", measure=measure, bins=[0, 0.5, 1.0], min_size=2,
                   contrastive=False)
        np.testing.assert_allclose(nap.values, ref, atol=1e-12)
        assert nap.attrs["measure"] == "entropy"
    # a subset of snapshots of a precomputed confidence
    nap = naps(nap_run, "dense", by="confidence", measure=conf, snapshots=[1, 3], bins=2, min_size=2)
    np.testing.assert_array_equal(nap["snapshot"].values, [1, 3])
    nap = naps(nap_run, "dense", by="confidence", measure="energy", bins="quantile:2")
    assert nap.attrs["bins"] == "quantile:2"


def test_snapshot_selection_and_coords(nap_run):
    nap = naps(nap_run, "dense", snapshots="final")
    np.testing.assert_array_equal(nap["snapshot"].values, [S - 1])
    assert int(nap["epoch"].values[0]) == S - 1
    nap = naps(nap_run, snapshots={"epoch": 2})  # default layer = first recorded
    assert nap.attrs["layer"] == "dense" and nap.sizes["snapshot"] == 1


def test_chunked_reading_gives_the_same_result(nap_run):
    import dask

    full = naps(nap_run, "dense", by="class")
    with dask.config.set({"actconf.chunk-size": 1}):  # one snapshot per dask block
        np.testing.assert_array_equal(naps(nap_run, "dense", by="class").values, full.values)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"by": "colour"}, InvalidParameterError, ["'by' parameter of naps()", "'class+confidence'", "'colour'"]),
        ({"by": "class+class"}, InvalidParameterError, ["'by' parameter"]),
        ({"measure": "vibes"}, InvalidParameterError, ["'measure' parameter", "'max_softmax'", "'mc_dropout'"]),
        ({"by": "confidence", "bins": [0.5, 0.2, 1.0]}, InvalidParameterError, ["increasing", "[0.5, 0.2, 1.0]"]),
        ({"by": "confidence", "bins": [0.0, 0.5, 1.5]}, InvalidParameterError, ["within [0, 1]"]),
        ({"by": "confidence", "bins": [-0.1, 0.5]}, InvalidParameterError, ["within [0, 1]"]),
        ({"by": "confidence", "bins": 0}, InvalidParameterError, ["'bins'"]),
        ({"by": "confidence", "bins": "quantile:x"}, InvalidParameterError, ["'quantile:N'"]),
        ({"by": "confidence", "bins": [0.5]}, InvalidParameterError, ["at least 2"]),
        ({"by": "confidence", "measure": "energy", "bins": 5}, InvalidParameterError, ["unbounded", "quantile"]),
        ({"by": "confidence", "measure": "mc_dropout"}, MissingDataError, ["mc_samples=K"]),
        ({"snapshots": {"epoch": 99}}, InvalidParameterError, ["matches no snapshot"]),
        ({"min_size": 0}, InvalidParameterError, ["'min_size' parameter of naps()", ">= 1"]),
        ({"contrastive": "yes"}, InvalidParameterError, ["'contrastive'"]),
        ({"measure": 3}, InvalidParameterError, ["'measure' parameter of naps()", "confidence DataArray"]),
    ],
)
def test_bad_input_gives_clear_errors(nap_run, kwargs, error, fragments):
    with pytest.raises(error) as info:
        naps(nap_run, "dense", **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_bad_layer_and_missing_logits(nap_run, probs_only_run):
    with pytest.raises(InvalidParameterError, match="Recorded layers: 'dense', 'other'"):
        naps(nap_run, "hidden_9")
    with pytest.raises(MissingDataError, match="no logits"):
        naps(probs_only_run, "h", by="confidence", measure="energy", bins="quantile")
    with pytest.raises(ActconfError, match="an actconf Run"):
        naps(np.zeros((2, 3)), "h")
    # without logits, everything probability-based still works
    assert naps(probs_only_run, "h", by="class+confidence", measure="temperature", bins=2, min_size=1).notnull().any()


def test_members_and_unknown_group(nap_run):
    grouping = group_samples(nap_run, by="class")
    np.testing.assert_array_equal(grouping.members(0, "dog"), np.flatnonzero(nap_run.labels == 1))
    with pytest.raises(InvalidParameterError, match="'cat'"):
        grouping.members(0, "wolf")


def test_mc_dropout_groups_by_the_mc_prediction(tmp_path):
    rng = np.random.default_rng(5)
    labels = np.arange(12) % 2
    probs = np.tile([[0.9, 0.1]], (1, 12, 1))  # the deterministic pass always predicts class 0
    mc = np.tile([[[0.2, 0.8]]], (1, 3, 12, 1))  # the MC passes predict class 1
    run = write_synthetic_run(tmp_path / "mc", activations={"h": rng.random((1, 12, 2))}, labels=labels,
                              probabilities=probs, mc_probabilities=mc)
    plain = group_samples(run, by="prediction")
    np.testing.assert_array_equal(plain.sizes().values[0], [12, 0])
    mcg = group_samples(run, by="prediction", measure="mc_dropout")
    np.testing.assert_array_equal(mcg.sizes().values[0], [0, 12])
    correct = naps(run, "h", by="class+correct", measure="mc_dropout", min_size=1)
    assert dict(zip(correct["group"].values, correct["size"].values[0], strict=True)) == {
        "0 | correct": 0, "0 | wrong": 6, "1 | correct": 6, "1 | wrong": 0}
