"""Layouts: planted clusters, determinism, small N, dead neurons, storage, quality measures.

UMAP is fitted only a handful of times on small data; the one numba compilation is
paid by the session-scoped ``umap_warm`` fixture.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from actconf.errors import (
    ActconfError,
    CorruptRunError,
    InvalidParameterError,
    MissingDataError,
)
from actconf.layout import (
    METHODS,
    Layout,
    compare_layouts,
    compute_layout,
    layout_from_run,
    layout_profiles,
    layout_quality,
    list_layouts,
    load_layout,
    refine_layout,
    warm_up,
)
from actconf.plots import plot_layout_comparison
from actconf.testing import write_synthetic_run

NON_RANDOM = [m for m in METHODS if m != "random"]
QUALITY_HIGHER = ("trustworthiness", "continuity", "spearman", "knn_preservation")
QUALITY_LOWER = ("resize_auc", "blur_auc")


# --------------------------------------------------------------------------- data
def planted_profiles(n_per=12, n_clusters=4, n_features=10, noise=0.25, seed=0):
    """Profiles around ``n_clusters`` random directions; returns (profiles, cluster labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, n_features))
    labels = np.repeat(np.arange(n_clusters), n_per)
    x = centres[labels] + noise * rng.normal(size=(len(labels), n_features))
    return x, labels


def cluster_distances(pos, labels):
    d = squareform(pdist(pos))
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return d[same].mean(), d[labels[:, None] != labels[None, :]].mean()


@pytest.fixture(scope="session")
def umap_warm():
    """Pay UMAP's numba compilation once per test process."""
    return warm_up()


@pytest.fixture(scope="session")
def planted():
    return planted_profiles()


@pytest.fixture(scope="session")
def planted_layouts(planted, umap_warm):
    """Every method with its default settings (UMAP is refined by default)."""
    x, _ = planted
    return {m: compute_layout(x, method=m, seed=0) for m in METHODS}


@pytest.fixture(scope="session")
def planted_scores(planted, planted_layouts):
    x, _ = planted
    scores = {m: layout_quality(layout, x) for m, layout in planted_layouts.items()}
    randoms = [layout_quality(compute_layout(x, method="random", seed=s), x) for s in range(1, 4)]
    return scores, randoms


# --------------------------------------------------------------------------- methods
@pytest.mark.parametrize("method", NON_RANDOM)
def test_methods_put_same_cluster_neurons_closer(method, planted, planted_layouts):
    _, labels = planted
    intra, inter = cluster_distances(planted_layouts[method].positions, labels)
    assert intra < 0.6 * inter, (method, intra, inter)


def test_unrefined_umap_separates_clusters_too(planted, planted_layouts):
    x, labels = planted
    raw = compute_layout(x, method="umap", refine=False, seed=0)
    assert not raw.refined and planted_layouts["umap"].refined
    intra, inter = cluster_distances(raw.positions, labels)
    assert intra < 0.2 * inter  # UMAP packs clusters tightly; refinement spreads them


def test_random_baseline_does_not_separate_clusters(planted, planted_layouts):
    _, labels = planted
    intra, inter = cluster_distances(planted_layouts["random"].positions, labels)
    assert 0.75 < intra / inter < 1.25


@pytest.mark.parametrize("method", NON_RANDOM)
def test_methods_beat_random_on_every_quality_measure(method, planted_scores):
    scores, randoms = planted_scores
    mine = scores[method]
    for measure in QUALITY_LOWER:
        best_random = min([scores["random"][measure]] + [r[measure] for r in randoms])
        assert mine[measure] < best_random, (method, measure, mine[measure], best_random)
    for measure in QUALITY_HIGHER:
        best_random = max([scores["random"][measure]] + [r[measure] for r in randoms])
        assert mine[measure] > best_random, (method, measure, mine[measure], best_random)


@pytest.mark.parametrize("method", METHODS)
def test_positions_fill_the_unit_square(method, planted_layouts):
    pos = planted_layouts[method].positions
    assert pos.shape == (48, 2)
    np.testing.assert_allclose(pos.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pos.max(axis=0), 1.0, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_positions(method, planted, planted_layouts, umap_warm):
    x, _ = planted
    again = compute_layout(x, method=method, seed=0)
    np.testing.assert_array_equal(again.positions, planted_layouts[method].positions)
    assert again.seed == 0 and again.method == method


@pytest.mark.parametrize("method", ["som", "graph", "random", "umap"])
def test_other_seed_other_positions(method, planted, planted_layouts):
    x, _ = planted
    other = compute_layout(x, method=method, seed=1)
    assert not np.allclose(other.positions, planted_layouts[method].positions)


def test_grid_puts_one_neuron_per_cell(planted_layouts):
    pos = planted_layouts["grid"].positions
    side = int(np.ceil(np.sqrt(len(pos))))  # 7 for 48 neurons
    cells = np.round(pos * (side - 1), 9)
    np.testing.assert_allclose(cells, np.round(cells), atol=1e-9)  # on the lattice
    assert len(np.unique(cells, axis=0)) == len(pos)  # one neuron per cell
    assert planted_layouts["grid"].params["side"] == side


def test_grid_from_another_base_and_explicit_side(planted):
    x, _ = planted
    g = compute_layout(x, method="grid", base="pca", side=8)
    cells = np.round(g.positions * 7)
    assert len(np.unique(cells, axis=0)) == len(x)
    assert g.params["base"] == "pca"


def test_som_uses_the_papers_grid_and_spreads_shared_nodes(planted_layouts):
    lay_ = planted_layouts["som"]
    assert lay_.params["side"] == int(np.floor(np.sqrt(48))) + 1 == 7
    assert lay_.params["iterations"] == 480 and lay_.params["sigma"] == 1.0
    # neurons that share a winning node are spread on a circle: no two coincide
    assert len(np.unique(np.round(lay_.positions, 12), axis=0)) == 48


def test_graph_threshold_graph_is_joined_into_one_component():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from actconf._layout_methods import threshold_graph

    x, _ = planted_profiles(n_per=8, n_clusters=5, noise=0.05, seed=3)
    dist = squareform(pdist(x, metric="cosine"))
    edges, threshold, n_before = threshold_graph(dist, 7.5)
    assert threshold == pytest.approx(np.percentile(pdist(x, metric="cosine"), 7.5))
    assert n_before > 1  # tight clusters: the raw threshold graph falls apart
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(40, 40))
    assert connected_components(adj, directed=False)[0] == 1


def test_umap_is_refined_by_default_others_not(planted, umap_warm):
    x, _ = planted
    default = compute_layout(x, seed=0)
    assert default.method == "umap" and default.refined and default.label == "umap+refine"
    assert default.params["refine"]["steps"] == 1000
    assert not compute_layout(x, method="som").refined
    assert compute_layout(x, method="pca", refine=True).refined
    custom = compute_layout(x, method="pca", refine={"steps": 50, "spacing": 0.8})
    assert custom.params["refine"]["steps"] == 50 and custom.params["refine"]["spacing"] == 0.8


def test_accepts_nap_dataarray_in_either_orientation(planted):
    import xarray as xr

    x, _ = planted
    ids = np.arange(100, 148)
    da = xr.DataArray(x.T, dims=("group", "neuron"), coords={"neuron": ids})
    from_da = compute_layout(da, method="pca")
    np.testing.assert_array_equal(from_da.neurons, ids)
    np.testing.assert_allclose(from_da.positions, compute_layout(x, method="pca").positions)


# --------------------------------------------------------------------------- refinement
def test_refine_spreads_overlapping_neurons_and_keeps_neighbourhoods():
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    centres = rng.random((6, 2))
    start = np.repeat(centres, 10, axis=0) + rng.normal(scale=1e-3, size=(60, 2))  # 6 piles
    refined = refine_layout(start, seed=0)
    before, after = pdist(start).min(), pdist(refined).min()
    assert before < 0.01
    assert after > 0.4 / np.sqrt(60)  # spread to (half) the target spacing 0.8/sqrt(n)
    assert refined.min() >= 0 and refined.max() <= 1
    # who sits next to whom hardly changes
    assert trustworthiness(start, refined, n_neighbors=5) > 0.9


def test_refine_layout_returns_a_layout_for_a_layout(planted):
    x, _ = planted
    base = compute_layout(x, method="pca")
    out = refine_layout(base, profiles=x, steps=100, global_weight=0.5, attraction=0.05)
    assert isinstance(out, Layout) and out.refined and out.method == "pca"
    assert out.params["refine"]["global_weight"] == 0.5
    assert not np.allclose(out.positions, base.positions)
    np.testing.assert_array_equal(out.positions, refine_layout(base, profiles=x, steps=100, global_weight=0.5,
                                                               attraction=0.05).positions)


def test_refine_scales_to_2048_neurons():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 10))[rng.integers(0, 20, 2048)] + 0.3 * rng.normal(size=(2048, 10))
    out = compute_layout(x, method="pca", refine={"steps": 200})
    assert out.positions.shape == (2048, 2)
    assert np.all(np.isfinite(out.positions))
    assert pdist(out.positions).min() > 0  # the piles of PCA are spread


# --------------------------------------------------------------------------- small N, dead, constant
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("method", METHODS)
def test_tiny_layers(method, n):
    x = np.random.default_rng(n).normal(size=(n, 5))
    out = compute_layout(x, method=method, seed=0)
    assert out.positions.shape == (n, 2)
    assert np.all(np.isfinite(out.positions))
    assert out.positions.min() >= 0 and out.positions.max() <= 1
    if n == 1:
        np.testing.assert_array_equal(out.positions, [[0.5, 0.5]])
    else:
        assert pdist(out.positions).min() > 0.1  # distinct places


def test_umap_with_few_neurons(umap_warm):
    x = np.random.default_rng(5).normal(size=(6, 4))
    out = compute_layout(x, method="umap", seed=0)
    assert out.params["n_neighbors"] == 5  # capped at n - 1
    assert np.all(np.isfinite(out.positions)) and pdist(out.positions).min() > 0


@pytest.mark.parametrize("method", ["umap", "som", "pca", "mds", "tsne", "graph", "grid"])
def test_dead_neurons_are_flagged_and_grouped(method, planted, umap_warm):
    x, labels = planted
    x = np.vstack([x, np.zeros((6, x.shape[1]))])
    out = compute_layout(x, method=method, refine=False, seed=0)
    assert out.dead.tolist() == [False] * 48 + [True] * 6
    assert out.params["n_dead"] == 6
    assert np.all(np.isfinite(out.positions))
    d = squareform(pdist(out.positions))
    dead_dead = d[48:, 48:][np.triu_indices(6, 1)].mean()
    dead_live = d[48:, :48].mean()
    assert dead_dead < 0.7 * dead_live, (dead_dead, dead_live)


def test_dead_neuron_distances_are_defined():
    from actconf._layout_methods import prepare

    x = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0], [1e-12, 0.0]])
    prep = prepare(x)
    np.testing.assert_array_equal(prep.dead, [False, False, True, True, True])
    dist = prep.cosine()
    assert dist[0, 1] == pytest.approx(1.0)  # orthogonal live neurons
    np.testing.assert_allclose(dist[2:, :2], 1.0)  # dead vs live
    np.testing.assert_allclose(dist[2:, 2:], 0.0, atol=1e-12)  # dead vs dead
    live = np.array([[1.0, 2.0], [3.0, -1.0]])
    ref = squareform(pdist(live, metric="cosine"))
    np.testing.assert_allclose(prepare(live).cosine(), ref, atol=1e-12)


def test_constant_profiles_are_placed_together_and_counted(planted):
    x, _ = planted
    x = np.vstack([x, np.full((4, x.shape[1]), 2.0), np.full((2, x.shape[1]), 0.5)])
    out = compute_layout(x, method="mds", seed=0)
    assert out.params["n_constant"] == 6 and not out.dead.any()
    d = squareform(pdist(out.positions))
    # all six point along (1, ..., 1): cosine distance 0 between them
    assert d[48:, 48:].max() < 1e-6 < d[48:, :48].min()


def test_all_identical_profiles_warn_and_fall_back_to_a_grid():
    with pytest.warns(RuntimeWarning, match="identical"):
        out = compute_layout(np.zeros((9, 4)), method="umap")
    assert out.dead.all() and "degenerate" in out.params
    assert len(np.unique(np.round(out.positions, 9), axis=0)) == 9
    assert not out.refined


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "spectral"}, "'method' parameter of compute_layout"),
        ({"method": "umap", "n_neighbours": 5}, "unknown option.*'n_neighbours'.*n_neighbors"),
        ({"method": "umap", "n_neighbors": 1}, "'n_neighbors' parameter"),
        ({"method": "som", "sigma": -1.0}, "'sigma' parameter"),
        ({"method": "grid", "side": 3}, "'side' parameter"),
        ({"method": "grid", "base": "pca", "sigma": 2.0}, "belong to the SOM"),
        ({"method": "pca", "refine": "yes"}, "'refine' parameter"),
        ({"method": "pca", "refine": {"stepz": 3}}, "unknown refine option"),
        ({"method": "pca", "refine": {"steps": 0}}, "'steps' parameter"),
        ({"method": "pca", "seed": -3}, "'seed' parameter"),
        ({"method": "pca", "seed": None}, "'seed' parameter"),
        ({"method": "pca", "neurons": [1, 2]}, "'neurons' parameter"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, match, planted):
    x, _ = planted
    with pytest.raises(InvalidParameterError, match=match):
        compute_layout(x, **kwargs)


@pytest.mark.parametrize(
    ("profiles", "match"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "finite.*row\\(s\\) \\[0\\]"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "finite"),
        (np.ones(5), "2-D array.*shape \\(5,\\)"),
        (np.ones((2, 3, 4)), "2-D array"),
        (np.ones((0, 3)), "n_neurons >= 1"),
        (np.ones((3, 0)), "n_features >= 1"),
        ("abc", "numeric array"),
    ],
)
def test_bad_profiles_raise_clear_errors(profiles, match):
    with pytest.raises(InvalidParameterError, match=match):
        compute_layout(profiles, method="pca")


def test_refine_on_one_neuron_is_an_error():
    with pytest.raises(InvalidParameterError, match="at least 2 neurons"):
        compute_layout(np.ones((1, 3)), method="pca", refine=True)
    with pytest.raises(InvalidParameterError, match="at least 2 neurons"):
        refine_layout(np.array([[0.2, 0.3]]))
    # the default (refine UMAP only) simply skips it
    assert not compute_layout(np.ones((1, 3))).refined


def test_nap_dataarray_with_snapshots_is_rejected():
    import xarray as xr

    da = xr.DataArray(np.ones((2, 3, 4)), dims=("snapshot", "group", "neuron"))
    with pytest.raises(InvalidParameterError, match="isel\\(snapshot=-1\\)"):
        compute_layout(da, method="pca")


def test_layout_value_rejects_bad_fields():
    with pytest.raises(InvalidParameterError, match="\\[0, 1\\]"):
        Layout(positions=np.array([[0.0, 2.0]]))
    with pytest.raises(InvalidParameterError, match="shape"):
        Layout(positions=np.zeros((3, 3)))
    with pytest.raises(InvalidParameterError, match="distinct"):
        Layout(positions=np.zeros((2, 2)), neurons=[1, 1])
    ok = Layout(positions=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="read-only"):
        ok.positions[0, 0] = 1.0
    assert all(issubclass(e, ActconfError) for e in (InvalidParameterError, MissingDataError))


# --------------------------------------------------------------------------- runs and storage
@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """24 neurons, 10 classes x 8 samples, 3 snapshots; neurons 0..19 prefer one of 5 classes, 20..23 dead."""
    rng = np.random.default_rng(0)
    n_cls, per, n_neu = 10, 8, 24
    labels = np.repeat(np.arange(n_cls), per)
    pref = np.concatenate([np.arange(20) % 5, [-1] * 4])
    acts = np.zeros((3, len(labels), n_neu), dtype=np.float32)
    for s in range(3):
        base = 0.2 * rng.random((len(labels), n_neu))
        boost = (labels[:, None] == pref[None, :]) * (1.0 + s)
        acts[s] = base + boost
    acts[:, :, 20:] = 0.0
    logits = rng.normal(size=(3, len(labels), n_cls))
    path = tmp_path_factory.mktemp("layout_runs") / "run"
    run = write_synthetic_run(path, activations={"dense": acts, "other": acts[:, :, :6]}, labels=labels,
                              logits=logits)
    return run, acts, labels


def test_layout_profiles_are_contrastive_class_naps_of_the_final_snapshot(synthetic_run):
    run, acts, labels = synthetic_run
    prof = layout_profiles(run, "dense")
    final = acts[-1].astype(np.float64)
    naps = np.stack([final[labels == c].mean(axis=0) for c in range(10)])  # (group, neuron)
    ref = (naps - naps.mean(axis=0)).T
    np.testing.assert_allclose(prof.values, ref, atol=1e-6)
    assert prof.dims == ("neuron", "group") and prof.attrs["snapshot"] == 2
    raw = layout_profiles(run, "dense", snapshot=0, contrastive=False)
    np.testing.assert_allclose(raw.values, np.stack([acts[0][labels == c].mean(0) for c in range(10)]).T,
                               atol=1e-6)


def test_layout_from_run_save_load_round_trip(synthetic_run):
    run, _, _ = synthetic_run
    layout = layout_from_run(run, "dense", method="som", seed=3)
    assert layout.layer == "dense" and layout.source_snapshot == 2 and layout.seed == 3
    assert layout.dead.tolist() == [False] * 20 + [True] * 4
    assert layout.params["profiles"]["groups"] == [str(c) for c in range(10)]
    path = layout.save(run, name="som3")
    assert path == run.path / "layouts" / "dense" / "som3.json"
    loaded = load_layout(run, "dense", name="som3")
    assert loaded.equals(layout)
    np.testing.assert_array_equal(loaded.positions, layout.positions)
    assert loaded.params == json.loads(json.dumps(layout.params))
    # plain files: JSON metadata, arrays readable without pickle
    meta = json.loads(path.read_text())
    assert meta["method"] == "som" and meta["seed"] == 3 and meta["source_snapshot"] == 2
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
        np.testing.assert_array_equal(data["positions"], layout.positions)
        np.testing.assert_array_equal(data["neurons"], np.arange(24))
    # the same layout again (a re-run notebook) is fine; a different one needs overwrite=True
    layout.save(run, name="som3")
    other = layout_from_run(run, "dense", method="som", seed=4)
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        other.save(run, name="som3")
    other.save(run, name="som3", overwrite=True)
    assert load_layout(run.path, "dense", name="som3").equals(other)
    # a renderer takes the layout directly
    from actconf.render import TopoRenderer

    assert TopoRenderer(loaded, resolution=20).render(np.zeros(24)).shape == (20, 20)


def test_list_layouts_and_missing_layout(synthetic_run):
    run, _, _ = synthetic_run
    layout_from_run(run, "other", method="pca").save(run)  # default name
    table = list_layouts(run)
    assert {"layer", "name", "method", "refined", "n_neurons"} <= set(table.columns)
    row = table[(table.layer == "other") & (table.name == "default")].iloc[0]
    assert row.method == "pca" and row.n_neurons == 6 and not row.refined
    with pytest.raises(MissingDataError, match="'nope'.*Saved layouts for this layer: 'default'"):
        load_layout(run, "other", name="nope")
    with pytest.raises(InvalidParameterError, match="Recorded layers"):
        load_layout(run, "missing_layer")


def test_damaged_layout_files_are_reported(synthetic_run, tmp_path):
    run, _, _ = synthetic_run
    lay_ = layout_from_run(run, "other", method="pca")
    path = lay_.save(run, name="fragile")
    npz = path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(CorruptRunError, match="checksum"):
        load_layout(run, "other", name="fragile")
    path.write_text("{not json")
    with pytest.raises(CorruptRunError, match="cannot be read"):
        load_layout(run, "other", name="fragile")


def test_saving_needs_a_matching_layer(synthetic_run, planted):
    run, _, _ = synthetic_run
    x, _ = planted
    bare = compute_layout(x, method="pca")
    with pytest.raises(InvalidParameterError, match="has no layer"):
        bare.save(run)
    with pytest.raises(InvalidParameterError, match="layer 'other'.*6 neurons"):
        dataclasses.replace(bare, layer="other").save(run)
    with pytest.raises(InvalidParameterError, match="'name' parameter"):
        layout_from_run(run, "other", method="pca").save(run, name="../evil")
    with pytest.raises(InvalidParameterError, match="exactly one snapshot"):
        layout_from_run(run, "other", method="pca", snapshot="all")


# --------------------------------------------------------------------------- quality measures
@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(40, 6))
    pos = rng.random((40, 2))
    return x, pos


def test_trustworthiness_matches_scikit_learn(random_case):
    from sklearn.manifold import trustworthiness

    x, pos = random_case
    dist = squareform(pdist(x, metric="cosine"))
    got = layout_quality(pos, x, k=7)["trustworthiness"]
    assert got == pytest.approx(trustworthiness(dist, pos, n_neighbors=7, metric="precomputed"), abs=1e-12)


def _brute_continuity(dist_high, dist_low, k):
    n = len(dist_high)
    total = 0.0
    for i in range(n):
        order_low = [j for j in np.argsort(dist_low[i], kind="stable") if j != i]
        rank_low = {j: r + 1 for r, j in enumerate(order_low)}
        nbrs_high = [j for j in np.argsort(dist_high[i], kind="stable") if j != i][:k]
        total += sum(max(0, rank_low[j] - k) for j in nbrs_high)
    return 1 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * total


def _brute_knn(dist_high, dist_low, k):
    n = len(dist_high)
    hits = 0
    for i in range(n):
        a = set([j for j in np.argsort(dist_high[i], kind="stable") if j != i][:k])
        b = set([j for j in np.argsort(dist_low[i], kind="stable") if j != i][:k])
        hits += len(a & b)
    return hits / (n * k)


def test_continuity_spearman_knn_match_brute_force(random_case):
    from scipy.stats import spearmanr

    x, pos = random_case
    dist = squareform(pdist(x, metric="cosine"))
    low = squareform(pdist(pos))
    q = layout_quality(pos, x, k=5)
    assert q["continuity"] == pytest.approx(_brute_continuity(dist, low, 5), abs=1e-12)
    assert q["knn_preservation"] == pytest.approx(_brute_knn(dist, low, 5), abs=1e-12)
    assert q["spearman"] == pytest.approx(spearmanr(pdist(x, metric="cosine"), pdist(pos)).statistic, abs=1e-12)


def test_a_perfect_layout_scores_perfectly():
    rng = np.random.default_rng(2)
    angles = np.sort(rng.uniform(0, np.pi / 2, 30))
    x = np.column_stack([np.cos(angles), np.sin(angles)])  # cosine distance = f(angle difference)
    pos = np.column_stack([(angles - angles.min()) / np.ptp(angles), rng.random(30) * 1e-9])
    q = layout_quality(pos + [0, 0.5], x, k=5)
    assert q["trustworthiness"] == pytest.approx(1.0) and q["continuity"] == pytest.approx(1.0)
    assert q["spearman"] > 0.999 and q["knn_preservation"] > 0.95


def _reference_smoothness(pos, values, resolution=100):
    """Independent pipeline: scipy griddata maps; resize/blur as normalised convolutions
    (blank pixels are missing data); MSE over drawn pixels; trapezoid over steps."""
    from PIL import Image
    from scipy.interpolate import griddata
    from scipy.ndimage import gaussian_filter

    def pil(a, size):
        return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR),
                          dtype=float)

    def ratio(num, den):
        return np.where(den > 1e-9, num / np.where(den > 1e-9, den, 1.0), 0.0)

    xs = np.linspace(pos[:, 0].min(), pos[:, 0].max(), resolution)
    ys = np.linspace(pos[:, 1].min(), pos[:, 1].max(), resolution)
    gx, gy = np.meshgrid(xs, ys)
    maps = np.stack([griddata(pos, v, (gx, gy), method="linear") for v in values])
    masks = (~np.isnan(maps)).astype(float)
    imgs = np.nan_to_num(maps) / np.nanmax(np.abs(maps))
    r_curve, b_curve = [], []
    for size in range(55, 9, -5):
        errs = []
        for img, m in zip(imgs, masks, strict=True):
            w_small = pil(m, (size, size))
            small = ratio(pil(img * m, (size, size)), w_small)
            w_small = np.clip(w_small, 0, 1)
            back = ratio(pil(small * w_small, (resolution, resolution)), pil(w_small, (resolution, resolution)))
            errs.append(np.mean((back - img)[m > 0] ** 2))
        r_curve.append(np.mean(errs))
    for radius in range(2, 21, 2):
        errs = []
        for img, m in zip(imgs, masks, strict=True):
            blurred = ratio(gaussian_filter(img * m, radius, mode="constant"), gaussian_filter(m, radius, mode="constant"))
            errs.append(np.mean((blurred - img)[m > 0] ** 2))
        b_curve.append(np.mean(errs))
    return np.trapezoid(r_curve), np.trapezoid(b_curve)


def test_smoothness_matches_an_independent_pipeline(random_case):
    x, pos = random_case
    q = layout_quality(pos, x)
    ref_resize, ref_blur = _reference_smoothness(pos, x.T)
    assert q["resize_auc"] == pytest.approx(ref_resize, rel=1e-5)
    assert q["blur_auc"] == pytest.approx(ref_blur, rel=1e-5)


def test_smoothness_prefers_smooth_maps_and_ignores_scale(random_case):
    x, pos = random_case
    smooth = np.vstack([pos[:, 0], pos[:, 1], pos.sum(1)]) - 0.5  # planar maps
    rough = np.random.default_rng(0).normal(size=(3, 40))
    q_smooth = layout_quality(pos, x, values=smooth)
    q_rough = layout_quality(pos, x, values=rough)
    assert q_smooth["resize_auc"] < 0.3 * q_rough["resize_auc"]
    assert q_smooth["blur_auc"] < q_rough["blur_auc"]
    q_big = layout_quality(pos, x, values=rough * 1000)
    assert q_big["resize_auc"] == pytest.approx(q_rough["resize_auc"], rel=1e-6)
    assert layout_quality(pos, x, values=np.zeros((2, 40)))["blur_auc"] == 0.0
    # blank pixels outside the hull are missing data, not zeros: a constant map is
    # perfectly smooth, whatever the hull's shape
    flat = layout_quality(pos, x, values=np.full((1, 40), 3.0))
    assert flat["resize_auc"] < 1e-10 and flat["blur_auc"] < 1e-10


def test_maps_with_holes_are_judged_on_their_own_pixels(random_case):
    x, pos = random_case
    v1 = np.linspace(-1, 1, 40) * np.random.default_rng(4).choice([1, -1], 40)
    v2 = v1.copy()
    v2[np.argmin(np.abs(v1))] = np.nan  # a neuron without a value blanks its triangles
    both = layout_quality(pos, x, values=np.vstack([v1, v2]))
    one = layout_quality(pos, x, values=v1[None])
    two = layout_quality(pos, x, values=v2[None])
    for key in ("resize_auc", "blur_auc"):
        assert np.isfinite(two[key]) and two[key] != one[key]
        assert both[key] == pytest.approx((one[key] + two[key]) / 2, rel=1e-9)


def test_quality_of_tiny_layouts_is_nan_not_an_error():
    q = layout_quality(np.array([[0.0, 0.0], [1.0, 1.0]]), np.eye(2))
    assert all(np.isnan(v) for v in q.values())
    with pytest.raises(InvalidParameterError, match="one row per neuron"):
        layout_quality(np.zeros((3, 2)), np.ones((4, 2)))


# --------------------------------------------------------------------------- comparison
def test_compare_layouts_frame_and_figure(planted, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    x, _ = planted
    frame = compare_layouts(x, methods=["random", "pca", "som+refine"], repeats=2, progress=False)
    fig = plot_layout_comparison(frame)
    assert list(frame.columns) == ["method", "repeat", "seed", "measure", "param", "value"]
    assert set(frame.method) == {"random", "pca", "som+refine"}
    per_layout = 10 + 10 + 6 + 1  # two curves, six scores, seconds
    assert len(frame) == 3 * 2 * per_layout
    scores = frame[frame.measure == "trustworthiness"].groupby("method")["value"].mean()
    assert scores["pca"] > scores["random"] and scores["som+refine"] > scores["random"]
    # redraw='seed' keeps the profiles: deterministic PCA is identical in both repeats
    pca = frame[(frame.method == "pca") & (frame.measure == "blur_auc")]["value"].to_numpy()
    assert pca[0] == pca[1]
    assert fig is not None and len(fig.axes) >= 6
    fig.savefig(tmp_path / "compare.png", dpi=50)
    assert (tmp_path / "compare.png").stat().st_size > 5000
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_layouts_redraws_inputs_from_a_run(synthetic_run):
    run, _, _ = synthetic_run
    frame = compare_layouts(run, layer="dense", methods={"pca": {"method": "pca"}}, repeats=2,
                            redraw="inputs", subsample=0.75, progress=False)
    pca = frame[frame.measure == "spearman"]["value"].to_numpy()
    assert pca[0] != pca[1]  # other samples, other profiles
    assert frame.attrs["redraw"] == "inputs"


def test_compare_layouts_rejects_bad_arguments(planted):
    x, _ = planted
    with pytest.raises(InvalidParameterError, match="needs a run"):
        compare_layouts(x, redraw="inputs", progress=False)
    with pytest.raises(InvalidParameterError, match="'methods' parameter"):
        compare_layouts(x, methods=["umap+pso"], progress=False)
    with pytest.raises(InvalidParameterError, match="'repeats' parameter"):
        compare_layouts(x, repeats=0, progress=False)
    with pytest.raises(InvalidParameterError, match="'frame' parameter"):
        plot_layout_comparison(x)


# --------------------------------------------------------------------------- UMAP import
def test_warm_up_is_idempotent(umap_warm, monkeypatch):
    from actconf import _layout_methods

    assert umap_warm >= 0 and _layout_methods._UMAP_WARM

    def fail():
        raise AssertionError("warm_up() fitted UMAP again")

    monkeypatch.setattr(_layout_methods, "import_umap", fail)
    assert warm_up() >= 0  # already warm: no import, no fit


def test_umap_import_does_not_pull_in_tensorflow():
    code = (
        "import sys; from actconf._layout_methods import import_umap; u = import_umap(); "
        "assert hasattr(u, 'UMAP'); assert 'tensorflow' not in sys.modules, 'tf imported'; "
        "assert 'umap.parametric_umap' not in sys.modules; print('ok')"
    )
    with warnings.catch_warnings():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
