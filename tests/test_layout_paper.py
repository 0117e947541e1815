"""The TAM authors' measure (quality="paper") and their UMAP_PSO pipeline (method="umap_pso").

The paper measure is checked against a direct pipeline written here: SciPy's
griddata map -> a matplotlib figure saved as PNG bytes -> Pillow -> numpy ->
Pillow resize/blur -> numpy MSE. The authors' simulation is checked against a
loop over pairs; UMAP itself is replaced by a recorder where only its input matters.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from actconf.errors import InvalidParameterError
from actconf.layout import _paper_quality as paper
from actconf.layout import compute_layout, layout_quality
from actconf.testing import planted_profiles

# a tiny layout: 7 neurons (the hull is a hexagon-like polygon, so blanks exist), 2 maps
POS = np.array([[0.0, 0.1], [1.0, 0.0], [0.9, 1.0], [0.1, 0.9], [0.5, 0.5], [0.3, 0.2], [0.7, 0.8]])
VALUES = np.array([[1.0, -2.0, 0.5, 3.0, -1.0, 0.0, 2.0],
                   [-0.5, 1.5, -3.0, 0.2, 2.5, -1.0, 0.7]])


def _reference_figures(pos, values, resolution=100):
    """The authors' per-group figure, drawn with pyplot and saved as PNG, read back with Pillow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from scipy.interpolate import griddata

    lo, hi = pos.min(axis=0), pos.max(axis=0)
    xx, yy = np.mgrid[lo[0]:hi[0]:complex(resolution), lo[1]:hi[1]:complex(resolution)]
    limit = np.abs(values).max()
    images = []
    for v in values:
        grid = griddata(pos, v, (xx, yy), method="linear")
        fig, ax = plt.subplots(1, 1, figsize=(2, 1.9))
        ax.imshow(np.transpose(grid[:, ::-1]), clim=(-limit, limit), cmap="bwr",
                  interpolation="antialiased", interpolation_stage="data")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=200, bbox_inches="tight", pad_inches=0.02)
        plt.close(fig)
        images.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return images


def _reference_aucs(images, *, wrap):
    """Resize (Pillow's default resampling) and blur errors, averaged over maps, trapezoid AUC."""
    from PIL import Image, ImageFilter

    def mse(a, b):
        return np.square(a - b).mean() if wrap else np.mean((a.astype(float) - b.astype(float)) ** 2)

    resize, blur = [], []
    for arr in images:
        img = Image.fromarray(arr)
        resize.append([mse(arr, np.asarray(img.resize((s, s)).resize(img.size))) for s in range(55, 9, -5)])
        blur.append([mse(arr, np.asarray(img.filter(ImageFilter.GaussianBlur(r)))) for r in range(2, 21, 2)])
    return np.trapezoid(np.mean(resize, axis=0)), np.trapezoid(np.mean(blur, axis=0))


@pytest.fixture(scope="module")
def reference_images():
    return _reference_figures(POS, VALUES)


def test_paper_figures_are_the_pixels_savefig_writes(reference_images):
    from actconf.layout._quality import render_maps

    ours = paper.paper_images(render_maps(POS, VALUES, 100), paper.colour_limit(VALUES))
    assert ours.dtype == np.uint8 and ours.shape == (2, *reference_images[0].shape)
    assert 290 <= ours.shape[1] <= 310 and ours.shape[-1] == 3  # ~300 x 300 RGB at 200 dpi
    for mine, ref in zip(ours, reference_images, strict=True):
        np.testing.assert_array_equal(mine, ref)
    # blank (outside the hull, e.g. the top-right corner region) is white, the colour of 0
    assert (reference_images[0] == 255).all(axis=-1).mean() > 0.05


@pytest.mark.parametrize("wrap", [False, True])
def test_paper_measure_matches_a_direct_pipeline(reference_images, wrap):
    ref_resize, ref_blur = _reference_aucs(reference_images, wrap=wrap)
    q = layout_quality(POS, VALUES.T, values=VALUES, quality="paper", wraparound=wrap)
    assert q["paper_resize_auc"] == pytest.approx(ref_resize, rel=1e-12)
    assert q["paper_blur_auc"] == pytest.approx(ref_blur, rel=1e-12)
    assert "resize_auc" not in q and q["trustworthiness"] == layout_quality(POS, VALUES.T)["trustworthiness"]


def test_wraparound_reproduces_uint8_arithmetic():
    original = np.full((4, 4, 3), 100, dtype=np.uint8)
    diffs = np.array([16, -1, 3, 20, -16, 155], dtype=np.int64)
    changed = np.stack([np.full((4, 4, 3), 100 + d, dtype=np.uint8) for d in diffs])
    exact = paper.squared_errors(original, changed)
    wrapped = paper.squared_errors(original, changed, wraparound=True)
    np.testing.assert_array_equal(exact, diffs.astype(float) ** 2)
    np.testing.assert_array_equal(wrapped, [((-d) % 256) ** 2 % 256 for d in diffs])
    assert exact[0] == 256 and wrapped[0] == 0  # a difference of 16 scores 0 when wrapped
    assert wrapped[1] == 1  # -1 wraps to 255; 255**2 = 65025 = 1 (mod 256)


def test_white_blanks_make_a_constant_map_rough():
    pos = np.random.default_rng(3).random((30, 2))
    flat = np.full((1, 30), 3.0)
    q = layout_quality(pos, np.ones((30, 2)), values=flat, quality="both")
    assert q["resize_auc"] < 1e-10 and q["blur_auc"] < 1e-10  # masked: blanks are missing data
    assert q["paper_resize_auc"] > 1 and q["paper_blur_auc"] > 10  # paper: the red hull's edge blurs into white


def test_paper_measure_prefers_smooth_maps():
    rng = np.random.default_rng(0)
    pos = rng.random((40, 2))
    smooth = np.vstack([pos[:, 0], pos[:, 1], pos.sum(1)]) - 0.5
    rough = rng.normal(size=(3, 40))
    q_smooth = layout_quality(pos, smooth.T, values=smooth, quality="paper")
    q_rough = layout_quality(pos, smooth.T, values=rough, quality="paper")
    assert q_smooth["paper_resize_auc"] < q_rough["paper_resize_auc"]
    assert q_smooth["paper_blur_auc"] < q_rough["paper_blur_auc"]


def test_paper_figures_ignore_the_users_style(reference_images):
    import matplotlib.pyplot as plt

    from actconf.layout._quality import render_maps

    maps = render_maps(POS, VALUES, 100)
    saved = dict(paper._FIGURES)
    try:
        paper._FIGURES.clear()
        with plt.style.context("dark_background"), plt.rc_context({"figure.subplot.left": 0.3}):
            ours = paper.paper_images(maps, 3.0)
    finally:
        paper._FIGURES.clear()
        paper._FIGURES.update(saved)
    np.testing.assert_array_equal(ours[0], reference_images[0])


def test_both_keeps_the_masked_scores_and_bad_quality_arguments_raise():
    rng = np.random.default_rng(1)
    pos, x = rng.random((25, 2)), rng.normal(size=(25, 4))
    masked = layout_quality(pos, x)
    both = layout_quality(pos, x, quality="both")
    assert set(masked) == {"resize_auc", "blur_auc", "trustworthiness", "continuity", "spearman",
                           "knn_preservation"}
    assert set(both) == set(masked) | {"paper_resize_auc", "paper_blur_auc"}
    for key, value in masked.items():
        assert both[key] == value
    with pytest.raises(InvalidParameterError, match="'quality' parameter"):
        layout_quality(pos, x, quality="white")
    with pytest.raises(InvalidParameterError, match="wraparound=True.*quality='paper'"):
        layout_quality(pos, x, wraparound=True)
    with pytest.raises(InvalidParameterError, match="'wraparound' parameter"):
        layout_quality(pos, x, quality="paper", wraparound="yes")


# --------------------------------------------------------------------------- the authors' simulation
def _pso_by_pairs(pos, steps):
    """The authors' local-force simulation, one pair at a time (global term zero)."""
    p = [list(map(float, row)) for row in pos]
    n = len(p)
    for t in np.linspace(-3.0, 6.0, steps):
        weight = (np.tanh(t) + 1.0) / 2.0
        moves = []
        for i in range(n):
            mx = my = 0.0
            for j in range(n):
                dx, dy = p[j][0] - p[i][0], p[j][1] - p[i][1]
                d = max(np.hypot(dx, dy), 0.01)
                f = (1.5 / (d + 1.0) ** 3 - 15.0 * np.exp(-d / 2.0)) * weight / 2.0
                mx += dx * f / n
                my += dy * f / n
            moves.append((mx, my))
        p = [[a + m[0], b + m[1]] for (a, b), m in zip(p, moves, strict=True)]
    return np.array(p)


def test_authors_pso_matches_a_loop_over_pairs():
    from actconf.layout._pso import authors_pso

    start = np.random.default_rng(2).random((9, 2))
    np.testing.assert_allclose(authors_pso(start, steps=40), _pso_by_pairs(start, 40), rtol=1e-9, atol=1e-12)


def test_authors_pso_only_spreads_apart():
    from actconf.layout._pso import authors_pso

    rng = np.random.default_rng(0)
    start = np.vstack([rng.normal(c, 0.01, size=(10, 2)) for c in ([0.2, 0.2], [0.8, 0.3], [0.5, 0.9])])
    end = authors_pso(start)
    assert pdist(end).min() > 10 * pdist(start).min()  # crowded points pushed apart
    assert np.ptp(end, axis=0).min() > np.ptp(start, axis=0).max()  # the cloud grows


class _RecordingUMAP:
    """Stands in for umap.UMAP: records its arguments and input, returns the first two columns."""

    calls: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def fit_transform(self, x):
        _RecordingUMAP.calls.append((self.kwargs, np.array(x)))
        return np.asarray(x)[:, :2] + 0.01 * np.arange(len(x))[:, None]


@pytest.fixture
def recording_umap(monkeypatch):
    import types

    from actconf.layout import _umap

    _RecordingUMAP.calls = []
    monkeypatch.setattr(_umap, "import_umap", lambda: types.SimpleNamespace(UMAP=_RecordingUMAP))
    return _RecordingUMAP.calls


def test_umap_pso_feeds_umap_the_profiles_with_the_euclidean_metric(recording_umap):
    x, _ = planted_profiles()
    x = x * np.linspace(0.5, 3.0, len(x))[:, None]  # norms differ: unit vectors would hide that
    lay = compute_layout(x, method="umap_pso", seed=0, steps=5)
    (kwargs, seen), = recording_umap
    assert kwargs["metric"] == "euclidean" and kwargs["n_neighbors"] == 15 and kwargs["min_dist"] == 0.1
    np.testing.assert_allclose(seen, x.astype(np.float32))
    assert lay.method == "umap_pso" and not lay.refined
    assert lay.params["metric"] == "euclidean" and lay.params["input"] == "profiles"
    assert lay.params["steps"] == 5 and lay.params["global_weight"] == 0.0


def test_umap_pso_moves_dead_neurons_off_the_origin(recording_umap):
    x, _ = planted_profiles()
    x = np.vstack([x, np.zeros((3, x.shape[1]))])
    lay = compute_layout(x, method="umap_pso", seed=0, steps=5)
    (_, seen), = recording_umap
    norms = np.linalg.norm(x[:48], axis=1)
    assert seen.shape == (51, x.shape[1] + 1)
    np.testing.assert_allclose(seen[48:, -1], np.median(norms), rtol=1e-6)
    np.testing.assert_array_equal(seen[:48, -1], 0.0)
    np.testing.assert_array_equal(seen[48:, :-1], 0.0)
    assert lay.dead.tolist() == [False] * 48 + [True] * 3


def test_umap_pso_rejects_bad_steps():
    with pytest.raises(InvalidParameterError, match="'steps' parameter"):
        compute_layout(np.eye(5), method="umap_pso", steps=0)


@pytest.mark.slow  # fits UMAP
def test_umap_pso_is_deterministic_and_separates_planted_clusters():
    x, labels = planted_profiles()
    a = compute_layout(x, method="umap_pso", seed=0)
    b = compute_layout(x, method="umap_pso", seed=0)
    other = compute_layout(x, method="umap_pso", seed=1)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, other.positions)
    random = compute_layout(x, method="random", seed=0)

    def ratio(pos):
        d = squareform(pdist(pos))
        same = labels[:, None] == labels[None, :]
        np.fill_diagonal(same, False)
        return d[same].mean() / d[labels[:, None] != labels[None, :]].mean()

    assert ratio(a.positions) < 0.6 < 0.75 < ratio(random.positions)
    assert pdist(a.positions).min() > 0.02  # spread: no neuron hides another


@pytest.mark.slow  # fits UMAP
def test_umap_pso_groups_dead_neurons():
    x, _ = planted_profiles()
    x = np.vstack([x, np.zeros((6, x.shape[1]))])
    out = compute_layout(x, method="umap_pso", seed=0)
    d = squareform(pdist(out.positions))
    assert d[48:, 48:][np.triu_indices(6, 1)].mean() < 0.7 * d[48:, :48].mean()
