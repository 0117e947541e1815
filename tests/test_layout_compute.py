"""Computing layouts: planted clusters, determinism, refinement, small N, dead neurons, options.

Only the UMAP cases fit UMAP (marked slow); the one numba compilation is paid by
the session-scoped ``umap_warm`` fixture or by the first UMAP layout.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from actconf.errors import InvalidParameterError
from actconf.layout import (
    METHODS,
    Layout,
    compute_layout,
    layout_profiles,
    layout_quality,
    refine_layout,
    warm_up,
)
from actconf.testing import planted_profiles

NON_RANDOM = [m for m in METHODS if m != "random"]
QUALITY_HIGHER = ("trustworthiness", "continuity", "spearman", "knn_preservation")
QUALITY_LOWER = ("resize_auc", "blur_auc")


def slow_umap(methods):
    """Parameters for ``methods`` with the UMAP case marked slow (it fits UMAP)."""
    return [pytest.param(m, marks=pytest.mark.slow) if m in ("umap", "umap_pso") else m for m in methods]


# --------------------------------------------------------------------------- data
def cluster_distances(pos, labels):
    d = squareform(pdist(pos))
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return d[same].mean(), d[labels[:, None] != labels[None, :]].mean()


class LazyLayouts(dict):
    """Layouts of the planted profiles with default settings, computed on first use."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def __missing__(self, method):
        self[method] = layout = compute_layout(self.x, method=method, seed=0)
        return layout


class LazyScores(dict):
    """``layout_quality`` of the planted layouts, computed on first use."""

    def __init__(self, x, layouts):
        super().__init__()
        self.x, self.layouts = x, layouts

    def __missing__(self, method):
        self[method] = scores = layout_quality(self.layouts[method], self.x)
        return scores


@pytest.fixture(scope="session")
def umap_warm():
    """Pay UMAP's numba compilation once per test process."""
    return warm_up()


@pytest.fixture(scope="session")
def planted_layouts(planted):
    """Every method with its default settings (UMAP is refined by default), computed when first asked for."""
    x, _ = planted
    return LazyLayouts(x)


@pytest.fixture(scope="session")
def planted_scores(planted, planted_layouts):
    x, _ = planted
    scores = LazyScores(x, planted_layouts)
    randoms = [layout_quality(compute_layout(x, method="random", seed=s), x) for s in range(1, 4)]
    return scores, randoms


# --------------------------------------------------------------------------- methods
@pytest.mark.parametrize("method", slow_umap(NON_RANDOM))
def test_methods_put_same_cluster_neurons_closer(method, planted, planted_layouts):
    _, labels = planted
    intra, inter = cluster_distances(planted_layouts[method].positions, labels)
    assert intra < 0.6 * inter, (method, intra, inter)


@pytest.mark.slow
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


@pytest.mark.parametrize("method", slow_umap(NON_RANDOM))
def test_methods_beat_random_on_every_quality_measure(method, planted_scores):
    scores, randoms = planted_scores
    mine = scores[method]
    for measure in QUALITY_LOWER:
        best_random = min([scores["random"][measure]] + [r[measure] for r in randoms])
        assert mine[measure] < best_random, (method, measure, mine[measure], best_random)
    for measure in QUALITY_HIGHER:
        best_random = max([scores["random"][measure]] + [r[measure] for r in randoms])
        assert mine[measure] > best_random, (method, measure, mine[measure], best_random)


@pytest.mark.parametrize("method", slow_umap(METHODS))
def test_positions_fill_the_unit_square(method, planted_layouts):
    pos = planted_layouts[method].positions
    assert pos.shape == (48, 2)
    np.testing.assert_allclose(pos.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pos.max(axis=0), 1.0, atol=1e-12)


@pytest.mark.parametrize("method", slow_umap(METHODS))
def test_same_seed_same_positions(method, planted, planted_layouts):
    x, _ = planted
    again = compute_layout(x, method=method, seed=0)
    np.testing.assert_array_equal(again.positions, planted_layouts[method].positions)
    assert again.seed == 0 and again.method == method


@pytest.mark.parametrize("method", slow_umap(["som", "graph", "random", "umap"]))
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

    from actconf.layout import threshold_graph

    x, _ = planted_profiles(n_per_cluster=8, n_clusters=5, noise=0.05, seed=3)
    dist = squareform(pdist(x, metric="cosine"))
    edges, threshold, n_before = threshold_graph(dist, 7.5)
    assert threshold == pytest.approx(np.percentile(pdist(x, metric="cosine"), 7.5))
    assert n_before > 1  # tight clusters: the raw threshold graph falls apart
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(40, 40))
    assert connected_components(adj, directed=False)[0] == 1


@pytest.mark.slow
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


@pytest.mark.slow
def test_umap_with_few_neurons(umap_warm):
    x = np.random.default_rng(5).normal(size=(6, 4))
    out = compute_layout(x, method="umap", seed=0)
    assert out.params["n_neighbors"] == 5  # capped at n - 1
    assert np.all(np.isfinite(out.positions)) and pdist(out.positions).min() > 0


@pytest.mark.parametrize("method", slow_umap(["umap", "som", "pca", "mds", "tsne", "graph", "grid"]))
def test_dead_neurons_are_flagged_and_grouped(method, planted):
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
    from actconf.layout import prepare

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



# --------------------------------------------------------------------------- profiles of a run
def test_layout_profiles_are_contrastive_class_naps_of_the_final_snapshot(layout_run):
    run, acts, labels = layout_run
    prof = layout_profiles(run, "dense")
    final = acts[-1].astype(np.float64)
    naps = np.stack([final[labels == c].mean(axis=0) for c in range(10)])  # (group, neuron)
    ref = (naps - naps.mean(axis=0)).T
    np.testing.assert_allclose(prof.values, ref, atol=1e-6)
    assert prof.dims == ("neuron", "group") and prof.attrs["snapshot"] == 2
    raw = layout_profiles(run, "dense", snapshot=0, contrastive=False)
    np.testing.assert_allclose(raw.values, np.stack([acts[0][labels == c].mean(0) for c in range(10)]).T,
                               atol=1e-6)



# --------------------------------------------------------------------------- UMAP import
@pytest.mark.slow
def test_warm_up_is_idempotent(umap_warm, monkeypatch):
    from actconf.layout import _umap

    assert umap_warm >= 0 and _umap.is_warm()

    def fail():
        raise AssertionError("warm_up() fitted UMAP again")

    monkeypatch.setattr(_umap, "import_umap", fail)
    assert warm_up() >= 0  # already warm: no import, no fit


@pytest.mark.slow
def test_umap_import_does_not_pull_in_tensorflow():
    code = (
        "import sys; from actconf.layout import import_umap; u = import_umap(); "
        "assert hasattr(u, 'UMAP'); assert 'tensorflow' not in sys.modules, 'tf imported'; "
        "assert 'umap.parametric_umap' not in sys.modules; print('ok')"
    )
    with warnings.catch_warnings():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")



@pytest.mark.slow
def test_importing_actconf_layout_imports_no_umap_numba_or_tensorflow():
    code = (
        "import sys, actconf.layout; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'umap', 'numba', 'pynndescent', 'tensorflow'}); "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "HEAVY []"
