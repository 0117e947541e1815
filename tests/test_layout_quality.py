"""Layout quality measures against independent references (scikit-learn, brute force, SciPy/PIL maps)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from actconf.errors import InvalidParameterError
from actconf.layout import layout_quality


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

