"""How good a layout is: the smoothness of its maps and how well it keeps neighbourhoods.

:func:`layout_quality` is the public entry point (its docstring describes the
measures); :func:`quality_detail` also returns the error curves that
:func:`actconf.layout.compare_layouts` reports. Smoothness comes in two
definitions (``quality=``): actconf's ``"masked"`` measure, computed here, and the
TAM authors' ``"paper"`` measure (:mod:`._paper_quality`). :data:`MEASURES` names
the scores for figures (:func:`actconf.plots.plot_layout_comparison`),
:data:`SMOOTHNESS` the scores and curves of each definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_bool, check_int, check_option, param_error
from ..errors import InvalidParameterError
from ._profiles import check_profiles, prepare

#: Downscaled sizes (px, for a 100 px map) and Gaussian radii (px) of the paper.
RESIZE_SIZES: tuple[int, ...] = tuple(range(55, 9, -5))
BLUR_RADII: tuple[int, ...] = tuple(range(2, 21, 2))

#: measure -> (label, higher is better)
MEASURES: dict[str, tuple[str, bool]] = {
    "resize_auc": ("resize error AUC (masked)", False),
    "blur_auc": ("blur error AUC (masked)", False),
    "paper_resize_auc": ("resize error AUC (paper: RGB figure)", False),
    "paper_blur_auc": ("blur error AUC (paper: RGB figure)", False),
    "trustworthiness": ("trustworthiness", True),
    "continuity": ("continuity", True),
    "spearman": ("Spearman ρ (distances)", True),
    "knn_preservation": ("kNN preservation", True),
}

#: The smoothness definitions ``quality=`` accepts ("both" computes both).
QUALITIES: tuple[str, ...] = ("masked", "paper", "both")

#: definition -> names of its (resize AUC, blur AUC, resize curve, blur curve)
SMOOTHNESS: dict[str, tuple[str, str, str, str]] = {
    "masked": ("resize_auc", "blur_auc", "resize_mse", "blur_mse"),
    "paper": ("paper_resize_auc", "paper_blur_auc", "paper_resize_mse", "paper_blur_mse"),
}


def check_quality(quality: Any, wraparound: Any, caller: str) -> tuple[tuple[str, ...], bool]:
    """``quality`` as the definitions to compute and ``wraparound`` as a bool (paper only)."""
    quality = check_option("quality", quality, QUALITIES, caller)
    wraparound = check_bool("wraparound", wraparound, caller)
    kinds = ("masked", "paper") if quality == "both" else (quality,)
    if wraparound and "paper" not in kinds:
        raise InvalidParameterError(
            f"{caller}: wraparound=True reproduces the 8-bit arithmetic of the paper's measure, but "
            f"quality={quality!r} does not compute it. Pass quality='paper' (or 'both'), or drop wraparound."
        )
    return kinds, wraparound


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
                   resolution: int, kinds: tuple[str, ...] = ("masked",),
                   wraparound: bool = False) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Scalar scores and the error curves of one layout for the smoothness definitions ``kinds``.

    Names follow :data:`SMOOTHNESS` (``"masked"``: ``resize_auc``/``resize_mse``, ...;
    ``"paper"``: ``paper_resize_auc``/``paper_resize_mse``, ...).
    """
    from ._paper_quality import paper_curves

    scores: dict[str, float] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    maps = render_maps(positions, values, resolution)
    for kind in kinds:
        resize_auc, blur_auc, resize_curve, blur_curve = SMOOTHNESS[kind]
        scores[resize_auc] = scores[blur_auc] = np.nan
        if maps is None:
            continue
        if kind == "masked":
            sizes, r_err, radii, b_err = smoothness_curves(maps, resolution=resolution)
        else:
            sizes, r_err, radii, b_err = paper_curves(maps, values, wraparound=wraparound)
        curves[resize_curve], curves[blur_curve] = (sizes, r_err), (radii, b_err)
        scores[resize_auc], scores[blur_auc] = curve_auc(r_err), curve_auc(b_err)
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
    quality: str = "masked",
    wraparound: bool = False,
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
        Interpolation grid in pixels (the paper's 100).
    quality : {"masked", "paper", "both"}, default="masked"
        Which smoothness measure: actconf's ``"masked"`` (scores ``resize_auc``,
        ``blur_auc``), the TAM authors' ``"paper"`` (``paper_resize_auc``,
        ``paper_blur_auc``) or both. See the notes and ``docs/layout-quality.md``.
    wraparound : bool, default=False
        Only with ``quality="paper"``/``"both"``: compute the paper measure's squared
        errors in 8-bit integers that wrap around modulo 256, as the authors' code
        did (a difference of 16 scores 0), to reproduce their numbers. Off, errors
        are exact.

    Returns
    -------
    dict of str to float
        The smoothness scores of ``quality`` (lower is better); ``trustworthiness``,
        ``continuity``, ``spearman``, ``knn_preservation`` (higher is better).
        NaN where undefined: smoothness needs 3 neurons not on one line;
        the others need 3 neurons.

    Notes
    -----
    Both smoothness measures interpolate each map linearly over the convex hull
    (``TopoRenderer``, ``resolution`` pixels square), change it -- (a) down-scale
    and up-scale back, (b) blur -- at 10 strengths and average the squared error
    against the map over maps; each score is the area under its error curve over
    the 10 steps (trapezoidal rule, unit spacing). A smooth map changes little:
    lower is better.

    ``"masked"`` (actconf's measure, the default) works on the values: they are
    divided by the largest absolute value over all maps, down-scaled to 55, 50, ...,
    10 px and back (bilinear with antialiasing) and blurred with a Gaussian of
    standard deviation 2, 4, ..., 20 px (sizes and radii scale with
    ``resolution / 100``). Blank pixels outside the convex hull are *missing
    data*: resizing and blurring are normalised convolutions over the drawn pixels
    (filter ``map * mask`` and ``mask``, divide), and the error is averaged over
    the drawn pixels only. So a constant map scores 0, and the hull's shape and
    size do not enter the score.

    ``"paper"`` is the authors' definition (:mod:`actconf.layout._paper_quality`):
    each map is drawn as their RGB figure (``'bwr'``, limits ``±max|value|``,
    200 dpi, about 300 x 300 px) in which blank pixels are *white*, the colour of
    0; the figure is down-scaled to 55, ..., 10 px and back with Pillow's bicubic
    resampling and blurred with Pillow's ``GaussianBlur`` of radius 2, ..., 20 px;
    errors are the mean over pixels and channels of squared 8-bit differences.
    White blanks mix the hull's outline into the score (values near the edge are
    blurred towards 0, strong activity at the border is punished) and its sizes
    and radii act on a 3x larger image than the masked measure's.

    ``"masked"`` is the default because it judges what a layout is responsible
    for -- how values vary between neighbouring neurons -- and not the outline of
    the point cloud or the colour scale; ``"paper"`` is there to reproduce and
    compare with the authors' numbers. The two rank methods differently (see
    ``docs/layout-quality.md``).

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
    kinds, wraparound = check_quality(quality, wraparound, caller)
    prep = prepare(arr)
    scores, _ = quality_detail(pos, prep.cosine(), vals, k=k, resolution=resolution, kinds=kinds,
                               wraparound=wraparound)
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
