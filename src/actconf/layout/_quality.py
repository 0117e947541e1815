"""How good a layout is: the smoothness of its maps and how well it keeps neighbourhoods.

:func:`layout_quality` is the public entry point (its docstring describes the
measures); :func:`quality_detail` also returns the two error curves that
:func:`actconf.layout.compare_layouts` reports. :data:`MEASURES` names the scores
for figures (:func:`actconf.plots.plot_layout_comparison`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, param_error
from ._profiles import check_profiles, prepare

#: Downscaled sizes (px, for a 100 px map) and Gaussian radii (px) of the paper.
RESIZE_SIZES: tuple[int, ...] = tuple(range(55, 9, -5))
BLUR_RADII: tuple[int, ...] = tuple(range(2, 21, 2))

#: measure -> (label, higher is better)
MEASURES: dict[str, tuple[str, bool]] = {
    "resize_auc": ("resize error AUC", False),
    "blur_auc": ("blur error AUC", False),
    "trustworthiness": ("trustworthiness", True),
    "continuity": ("continuity", True),
    "spearman": ("Spearman ρ (distances)", True),
    "knn_preservation": ("kNN preservation", True),
}


# --------------------------------------------------------------------------- smoothness
def render_maps(positions: np.ndarray, values: np.ndarray, resolution: int) -> np.ndarray | None:
    """Linear maps (G, H, W), NaN outside the convex hull; None if no hull exists."""
    from ..errors import InvalidInputError
    from ..render import TopoRenderer

    try:
        renderer = TopoRenderer(positions, resolution=resolution, method="linear", mask="hull")
    except InvalidInputError:
        return None
    return renderer.render(values)


def _pil(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(image.astype(np.float32), mode="F")
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.float64)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 1e-9)


def resize_back(images: np.ndarray, inside: np.ndarray, size: int) -> np.ndarray:
    """Down-scale (G, H, W) maps to ``size`` px and back (bilinear, antialiased),
    as normalised convolutions: blank pixels are left out. ``inside`` is (G, H, W)
    or (1, H, W) when every map has the same blank pixels."""
    g, h, w = images.shape
    weight = inside.astype(np.float64)
    small_w = np.stack([_pil(m, (size, size)) for m in weight])
    small = _divide(np.stack([_pil(a, (size, size)) for a in images * weight]), small_w)
    small_w = np.clip(small_w, 0.0, 1.0)
    back_w = np.stack([_pil(m, (w, h)) for m in small_w])
    return _divide(np.stack([_pil(a, (w, h)) for a in small * small_w]), back_w)


def blur(images: np.ndarray, inside: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur (standard deviation ``radius`` px) of (G, H, W) maps as a normalised
    convolution: blank pixels are left out. ``inside`` is (G, H, W) or (1, H, W)."""
    from scipy.ndimage import gaussian_filter

    def filt(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=(0.0, radius, radius), mode="constant", cval=0.0, truncate=4.0)

    weight = inside.astype(np.float64)
    return _divide(filt(images * weight), filt(weight))


def smoothness_curves(maps: np.ndarray, *, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean squared error of each map against resized and blurred versions.

    ``maps`` (G, H, W) with NaN outside the hull. Values are divided by the
    largest absolute value over all maps (so errors do not depend on the
    activation scale). Blank pixels are *missing data*: resizing and blurring are
    normalised convolutions over the drawn pixels only (filter ``map * mask`` and
    ``mask``, divide), and errors are averaged over the drawn pixels. Returns
    ``(sizes, resize_errors, radii, blur_errors)``, errors averaged over groups.
    """
    factor = resolution / 100.0
    sizes = np.array([max(2, round(s * factor)) for s in RESIZE_SIZES])
    radii = np.array([r * factor for r in BLUR_RADII], dtype=float)
    inside = np.isfinite(maps)
    valid = inside.reshape(len(maps), -1).any(axis=1)
    if not valid.any():
        return sizes, np.full(len(sizes), np.nan), radii, np.full(len(radii), np.nan)
    maps, inside = maps[valid], inside[valid]
    top = float(np.nanmax(np.abs(maps)))
    filled = np.where(inside, maps, 0.0) / (top if top > 0 else 1.0)
    # maps of one layout share their blank pixels (unless NaN values punched holes):
    # then the mask is filtered once for all of them
    mask = inside[:1] if np.array_equal(inside, np.broadcast_to(inside[:1], inside.shape)) else inside
    counts = inside.sum(axis=(1, 2))

    def mse(other: np.ndarray) -> float:
        err = np.where(inside, (other - filled) ** 2, 0.0).sum(axis=(1, 2)) / counts
        return float(err.mean())

    resize_err = np.array([mse(resize_back(filled, mask, int(size))) for size in sizes])
    blur_err = np.array([mse(blur(filled, mask, radius)) for radius in radii])
    return sizes, resize_err, radii, blur_err


def curve_auc(errors: np.ndarray) -> float:
    """Area under an error curve over its step index (unit spacing), trapezoidal."""
    return float(np.trapezoid(errors)) if len(errors) > 1 else float(errors[0])


# --------------------------------------------------------------------------- neighbourhoods
def effective_k(k: int, n: int) -> int:
    """Neighbourhood size usable with ``n`` points (scikit-learn needs k < n / 2)."""
    return int(min(k, int(np.ceil(n / 2)) - 1))


def continuity(profile_dist: np.ndarray, layout_dist: np.ndarray, k: int) -> float:
    """Continuity (Venna & Kaski 2001): trustworthiness with the spaces swapped.

    Penalises profile-space neighbours that are missing from the layout
    neighbourhood, by their rank in the layout. Computed with scikit-learn's
    ``trustworthiness`` on the layout distances as "original" space and the
    profile distances as "embedding"; both matrices are passed as precomputed
    distances by ranking them ourselves.
    """
    return _trust(layout_dist, profile_dist, k)


def _trust(high: np.ndarray, low: np.ndarray, k: int) -> float:
    """Trustworthiness of neighbourhoods of ``low`` w.r.t. ranks in ``high`` (both (n, n))."""
    n = len(high)
    big = np.inf
    h = high.copy()
    np.fill_diagonal(h, -big)  # each point is its own rank 0
    order_h = np.argsort(h, axis=1, kind="stable")
    ranks = np.empty((n, n), dtype=np.int64)
    rows = np.arange(n)[:, None]
    ranks[rows, order_h] = np.arange(n)[None, :]
    lo = low.copy()
    np.fill_diagonal(lo, -big)
    nbr_low = np.argsort(lo, axis=1, kind="stable")[:, 1 : k + 1]
    r = ranks[rows, nbr_low] - k
    penalty = np.where(r > 0, r, 0).sum()
    return float(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


def trustworthiness(profile_dist: np.ndarray, layout_dist: np.ndarray, k: int) -> float:
    """Trustworthiness (Venna & Kaski 2001), same formula as scikit-learn's."""
    return _trust(profile_dist, layout_dist, k)


def knn_preservation(profile_dist: np.ndarray, layout_dist: np.ndarray, k: int) -> float:
    """Mean fraction of each neuron's k profile-space neighbours that are layout neighbours."""
    n = len(profile_dist)
    p = profile_dist.copy()
    q = layout_dist.copy()
    np.fill_diagonal(p, -np.inf)
    np.fill_diagonal(q, -np.inf)
    a = np.argsort(p, axis=1, kind="stable")[:, 1 : k + 1]
    b = np.argsort(q, axis=1, kind="stable")[:, 1 : k + 1]
    hits = 0
    for i in range(n):  # n small sorted sets: cheap
        hits += np.intersect1d(a[i], b[i], assume_unique=True).size
    return float(hits / (n * k))


def distance_scores(profile_dist: np.ndarray, positions: np.ndarray, k: int) -> dict[str, float]:
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import spearmanr

    n = len(positions)
    out = dict.fromkeys(("trustworthiness", "continuity", "spearman", "knn_preservation"), np.nan)
    if n < 3:
        return out
    condensed = pdist(positions)
    layout_dist = squareform(condensed)
    iu = np.triu_indices(n, 1)
    prof = profile_dist[iu]
    if np.ptp(prof) > 0 and np.ptp(condensed) > 0:
        out["spearman"] = float(spearmanr(prof, condensed).statistic)
    kk = effective_k(k, n)
    if kk >= 1:
        out["trustworthiness"] = trustworthiness(profile_dist, layout_dist, kk)
        out["continuity"] = continuity(profile_dist, layout_dist, kk)
        out["knn_preservation"] = knn_preservation(profile_dist, layout_dist, kk)
    return out


def quality_detail(positions: np.ndarray, profile_dist: np.ndarray, values: np.ndarray, *, k: int,
                   resolution: int) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Scalar scores and the two error curves of one layout."""
    scores: dict[str, float] = {"resize_auc": np.nan, "blur_auc": np.nan}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    maps = render_maps(positions, values, resolution)
    if maps is not None:
        sizes, r_err, radii, b_err = smoothness_curves(maps, resolution=resolution)
        curves = {"resize_mse": (sizes, r_err), "blur_mse": (radii, b_err)}
        scores["resize_auc"] = curve_auc(r_err)
        scores["blur_auc"] = curve_auc(b_err)
    scores.update(distance_scores(profile_dist, positions, k))
    return scores, curves


# --------------------------------------------------------------------------- public
def layout_quality(
    layout_or_positions: Any,
    profiles: Any,
    *,
    values: Any = None,
    k: int = 10,
    resolution: int = 100,
) -> dict[str, float]:
    """How well a layout arranges its neurons: smoothness of the maps and neighbourhoods.

    Parameters
    ----------
    layout_or_positions : Layout or array-like of shape (n_neurons, 2)
    profiles : array-like of shape (n_neurons, n_features)
        The profiles the layout should reflect (cosine distances, dead neurons as
        in :func:`compute_layout`).
    values : array-like of shape (n_maps, n_neurons), optional
        The maps to judge for smoothness; by default one map per profile column
        (``profiles.T``, e.g. each class's NAP).
    k : int, default=10
        Neighbourhood size for trustworthiness, continuity and kNN preservation
        (capped at ``ceil(n / 2) - 1``).
    resolution : int, default=100
        Map size in pixels (the paper's 100).

    Returns
    -------
    dict of str to float
        ``resize_auc``, ``blur_auc`` (lower is better); ``trustworthiness``,
        ``continuity``, ``spearman``, ``knn_preservation`` (higher is better).
        NaN where undefined: smoothness needs 3 neurons not on one line;
        the others need 3 neurons.

    Notes
    -----
    *Smoothness* (the TAM paper's measure) is computed on the rendered map arrays
    (``TopoRenderer``, linear interpolation, blank outside the convex hull).
    Values are divided by the largest absolute value over all maps, so scores do
    not depend on the activation scale. Each map is (a) down-scaled to 55, 50, ...,
    10 px and up-scaled back (bilinear with antialiasing) and (b) blurred with a
    Gaussian of standard deviation 2, 4, ..., 20 px (sizes and radii scale with
    ``resolution / 100``). Blank pixels outside the convex hull are *missing
    data*, not zeros: resizing and blurring are normalised convolutions over the
    drawn pixels (filter ``map * mask`` and ``mask``, divide), and the squared
    error is averaged over the drawn pixels only. So a constant map scores 0 and
    the hull's shape and size do not enter the score. (The paper measured its
    rendered images, where blank is white, i.e. 0 on the symmetric diverging
    scale; that mixes the hull's outline into the score: values near the hull
    edge are blurred towards 0, and layouts are punished for strong activity at
    their border.) Errors are averaged over maps; each score is the area under its
    error curve over the 10 steps (trapezoidal rule, unit spacing). A smooth map
    changes little when resized or blurred: lower is better.

    *Trustworthiness* and *continuity* (Venna & Kaski, 2001) penalise layout
    neighbours that are not profile neighbours, and profile neighbours that are
    not layout neighbours, by their rank (1 is perfect; trustworthiness uses
    scikit-learn's formula, continuity is the same with the spaces swapped).
    *Spearman* is the rank correlation between profile and layout distances over
    all pairs. *kNN preservation* is the mean fraction of each neuron's ``k``
    nearest profile neighbours among its ``k`` nearest layout neighbours.
    """
    caller = "layout_quality()"
    from ..render import positions_of

    pos = positions_of(layout_or_positions, caller)
    arr, _ = check_profiles(profiles, caller)
    n = len(pos)
    if arr.shape[0] != n:
        raise param_error("profiles", caller, f"one row per neuron of the layout ({n})",
                          f"an array of shape {arr.shape}")
    vals = arr.T if values is None else _check_values(values, n, caller)
    k = check_int("k", k, caller, min_value=1)
    resolution = check_int("resolution", resolution, caller, min_value=20)
    prep = prepare(arr)
    scores, _ = quality_detail(pos, prep.cosine(), vals, k=k, resolution=resolution)
    return scores


def _check_values(values: Any, n: int, caller: str) -> np.ndarray:
    """The maps to judge as a float array (n_maps, n): one map may be given as (n,)."""
    try:
        vals = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error("values", caller, "a numeric array of shape (n_maps, n_neurons)",
                          type(values).__name__) from None
    if vals.ndim == 1:
        vals = vals[None]
    if vals.ndim != 2 or vals.shape[1] != n:
        raise param_error("values", caller, f"an array of shape (n_maps, {n})", f"shape {vals.shape}")
    return vals
