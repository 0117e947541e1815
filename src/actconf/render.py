"""Topographic rendering: an interpolation operator built once per layout.

A layout never changes while we look at a training run, and every interpolation
method used for topographic maps is *linear in the neuron values*: the image of a
value vector ``v`` is ``W @ v`` for a fixed matrix ``W`` (pixels x neurons) that
depends only on the neuron positions. :class:`TopoRenderer` builds ``W`` once and
then turns any stack of value vectors ``(..., n_neurons)`` into images
``(..., H, W)`` with one matrix product, so hundreds of maps (snapshots x groups)
cost about as much as a single call of :func:`scipy.interpolate.griddata`.

Methods
-------
``"linear"``
    Barycentric interpolation on the Delaunay triangulation of the neuron
    positions, exactly what ``griddata(points, values, grid, method="linear")``
    computes: the triangle of each pixel (SciPy's ``Delaunay.find_simplex``) and
    its barycentric coordinates from SciPy's affine transforms, summed as
    :class:`~scipy.interpolate.LinearNDInterpolator` sums them (the weights are
    bit-identical to that interpolator applied to unit vectors; the
    inside/outside decision is the interpolator's own). Three non-zeros per
    pixel: the operator is a sparse matrix, built without a dense (pixels x
    neurons) array.
``"cubic"``
    SciPy's Clough–Tocher interpolant (``griddata(..., method="cubic")``). Its
    gradient estimate is a global Gauss–Seidel iteration, linear in the values,
    which SciPy stops at a tolerance of 1e-6; the operator is built with the
    iteration run to 1e-12, i.e. it is the *converged* Clough–Tocher
    interpolant. It therefore equals ``CloughTocher2DInterpolator(points, values,
    tol=1e-12)`` to rounding error and ``griddata(..., method="cubic")`` up to that
    function's own stopping error (about 1e-7 of the value range). Every pixel
    depends on every neuron through the gradients, so the operator is stored
    dense.
``"nearest"``
    The value of the closest neuron (SciPy's ``NearestNDInterpolator``, ties
    broken as it breaks them). Works for any number of neurons.

The pixel grid
--------------
``resolution`` pixels along each axis, with pixel *centres* from the minimum to
the maximum coordinate of the grid span (as ``numpy.linspace`` does, the
convention of the TAM paper's code). The span is

* the bounding box of the positions for ``mask="hull"`` and ``mask=None``. Layouts
  (:class:`actconf.layout.Layout`) are normalised to ``[0, 1]`` per axis, so for
  them this *is* the unit square, and a map covers exactly the area the neurons
  occupy;
* the square around the enclosing circle for ``mask="circle"`` (centre: centre of
  the bounding box; radius: distance to the farthest neuron), so that the disc
  is inscribed in the image like an EEG scalp map;
* or whatever ``extent=(xmin, xmax, ymin, ymax)`` says.

Image row ``i`` is ``y = ys[i]`` (increasing upwards): draw with
``imshow(image, origin="lower", extent=renderer.extent)``.

Masks
-----
``"hull"`` (default, as in the paper)
    Pixels outside the convex hull of the neurons are NaN (blank).
``"circle"``
    Pixels outside the enclosing circle are NaN.
``None``
    No pixel is blank.

Where a mask shows pixels outside the convex hull (``"circle"``, ``None``), the
``linear`` and ``cubic`` maps are continued outwards with the value at the
nearest point of the hull boundary (constant along the outward normal), so the
map stays continuous and stays within the range of the boundary values.
``nearest`` needs no continuation.

NaN values
----------
A NaN neuron value blanks (NaN) every pixel whose interpolation weight on that
neuron is non-zero: for ``linear`` the triangles around the neuron, for
``nearest`` its Voronoi cell, for ``cubic`` the whole map (every pixel depends
on every neuron). So a group whose NAP is all-NaN (too few samples) renders as an
empty map, and a neuron whose statistic is undefined leaves a visible hole
rather than a made-up value. ``griddata(method="linear")`` behaves the same.

Degenerate layouts
------------------
``linear`` and ``cubic`` need a triangulation: at least three neurons that are
not all on one line. Otherwise :class:`~actconf.errors.InvalidInputError` is
raised, suggesting ``method="nearest"`` with ``mask="circle"`` or ``None``, which
works for any layout (one neuron gives a constant map). A convex hull without
area cannot serve as a mask either. Duplicate positions are allowed; SciPy's
triangulation keeps one of them (the others get zero weight in ``linear`` and
``cubic`` maps).

Precision and colour
--------------------
``render(values)`` computes in float64 (the exact maps above). Display code can
ask for less: ``render(values, dtype=numpy.float32)`` (half the memory, relative
error about 1e-7) or ``render_rgba(values, cmap=..., norm=...)``, which goes
straight to uint8 RGBA through the colormap's lookup table, a block of maps at a
time, without holding float images of all maps (the caller chooses the colours;
this module only applies them). With a linear norm and numba already loaded in
the process (a UMAP layout loads it), large jobs go through one compiled loop
(:mod:`actconf._colour_kernel`; same colours, pixel for pixel).

The renderer cache
------------------
Building an operator costs far more than using it, and figures, animations and
the explorer draw the same layout again and again. :func:`get_renderer` therefore
keeps the 16 most recently used renderers in a module-level LRU cache, keyed by
the positions' bytes and the options (resolution, method, mask, extent). It is the
module's only state; a :class:`TopoRenderer` never changes after it is built, so
sharing one is safe. Construct :class:`TopoRenderer` directly to bypass the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import sys
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validation import MAX_OPERATOR_ELEMENTS, MAX_RESOLUTION, check_int, check_option, param_error
from .errors import InvalidInputError

__all__ = ["TopoRenderer", "get_renderer", "positions_of"]

_METHODS = ("linear", "cubic", "nearest")
_MASKS = ("hull", "circle", None)

# Column chunk when evaluating SciPy interpolators on unit vectors (bounds the
# temporary dense (pixels x chunk) array to a few tens of MB).
_CHUNK_ELEMENTS = 4_000_000
# Gradient iteration of the converged Clough-Tocher operator.
_CT_TOL = 1e-12
_CT_MAXITER = 100_000


# Maps per block of TopoRenderer.render_rgba: a block's float32 images (16 x 10,000 pixels
# at 100 x 100 = 640 kB) stay in the CPU cache while they become colours.
_RGBA_BLOCK = 16

#: Pixels x maps from which render_rgba uses the compiled colour loop (actconf._colour_kernel)
#: when numba is already loaded in the process (e.g. by a UMAP layout): loading the
#: loop from the disk cache once per process costs about as much as the loop saves on
#: a few calls of ~400 maps of 100 x 100 pixels (0.05-0.15 s once vs 25-60 us per map).
KERNEL_MIN_PIXEL_MAPS = 4_000_000


def one_blas_thread():
    """A context limiting BLAS/LAPACK to one thread (threadpoolctl; a no-op without it).

    Building an operator makes hundreds of tiny LAPACK calls (SciPy's barycentric
    transforms, one 2 x 2 system per triangle). With OpenBLAS' default thread pool
    its idle threads spin next to the main one; on a busy machine that made a build
    of 128 neurons take 0.1-4 s instead of 30-70 ms (p90 3.2 s vs 0.1 s measured on
    the shared 2-core machine). The limit is lifted when the build is done.
    """
    import scipy.interpolate  # noqa: F401  (loads SciPy's own OpenBLAS first, so that the limit reaches it)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check_dtype(dtype: Any, caller: str) -> np.dtype:
    """``dtype`` as float64 or float32; anything else is a parameter error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise param_error("dtype", caller, "numpy.float64 or numpy.float32", dtype)
    return resolved


def colour_table(cmap: Any, caller: str = "colour_table()") -> tuple[np.ndarray, int]:
    """A colormap's lookup table as RGBA words (uint32): its N colours, then under, over, bad.

    Built from the colormap's own byte colours (``cmap(..., bytes=True)``), so a
    pixel's colour is exactly the one matplotlib gives for the same index.
    Returns the table and N.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if isinstance(cmap, str):
        try:
            cmap = colormaps[cmap]
        except KeyError:
            raise param_error("cmap", caller, "a matplotlib colormap or the name of one", cmap) from None
    if not isinstance(cmap, Colormap):
        raise param_error("cmap", caller, "a matplotlib colormap or the name of one", type(cmap).__name__)
    n = int(cmap.N)
    rgba = np.concatenate([cmap(np.arange(n), bytes=True), cmap(np.array([-1, n]), bytes=True),
                           cmap(np.array([np.nan]), bytes=True)])
    return np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32).ravel(), n


def lut_indices(scaled: np.ndarray, n_colors: int, *, plain_ends: bool = False) -> np.ndarray:
    """Indices into :func:`colour_table` of normalised values times N (modified in place).

    matplotlib's rule: ``floor`` of the value in ``[0, N)``, exactly N counts as the
    last colour, below 0 is "under" (index N), above N "over" (N + 1), NaN "bad"
    (N + 2). ``plain_ends``: the under and over colours are the first and last
    colours, so clipping is enough.
    """
    bad = np.isnan(scaled)
    under = over = None
    if not plain_ends:
        under, over = scaled < 0, scaled > n_colors
    np.clip(scaled, 0, n_colors - 1, out=scaled)
    with np.errstate(invalid="ignore"):
        idx = scaled.astype(np.int32)
    if under is not None:
        idx[under] = n_colors
        idx[over] = n_colors + 1
    idx[bad] = n_colors + 2
    return idx


def _check_norm(norm: Any, caller: str) -> Any:
    """A matplotlib norm with its limits set (vmin <= vmax)."""
    from matplotlib.colors import Normalize

    if not isinstance(norm, Normalize):
        raise param_error("norm", caller, "a matplotlib.colors.Normalize with vmin and vmax set",
                          type(norm).__name__, "For example norm=Normalize(-1, 1).")
    if not norm.scaled():
        raise param_error("norm", caller, "a norm with vmin and vmax set", f"vmin={norm.vmin}, vmax={norm.vmax}",
                          "Set both limits, e.g. Normalize(vmin=-1, vmax=1) (the maps are coloured a block "
                          "at a time, so the limits cannot come from the data).")
    if float(norm.vmin) > float(norm.vmax):
        raise param_error("norm", caller, "vmin <= vmax", f"vmin={norm.vmin}, vmax={norm.vmax}")
    return norm


def _is_linear(norm: Any) -> bool:
    """Whether ``norm`` maps values with Normalize's own linear formula."""
    from matplotlib.colors import Normalize

    return type(norm).__call__ is Normalize.__call__


def _linear_norm(norm: Any, values: np.ndarray) -> np.ndarray:
    """``Normalize.__call__`` on plain float values, without its clipping (NaN stays NaN; vmin == vmax gives 0).

    Clipping does not commute with interpolation; ``norm.clip`` is applied to the
    colour indices instead (clipped values take the end colours).
    """
    vmin, vmax = float(norm.vmin), float(norm.vmax)
    if vmin == vmax:
        return np.where(np.isnan(values), np.nan, 0.0)
    return (values - vmin) / (vmax - vmin)


def _apply_norm(norm: Any, images: np.ndarray, n_colors: int) -> np.ndarray:
    """Any norm on a block of images, times N, masked values as NaN."""
    with np.errstate(invalid="ignore"):
        normed = norm(images)
    scaled = np.array(np.ma.getdata(normed), dtype=float) * n_colors
    mask = np.ma.getmask(normed)
    if mask is not np.ma.nomask:
        scaled[mask] = np.nan
    return scaled


def positions_of(layout_or_positions: Any, caller: str = "TopoRenderer()") -> np.ndarray:
    """Return neuron positions ``(n, 2)`` as a float array.

    Accepts an array-like of shape ``(n, 2)`` or any object with a ``positions``
    attribute (such as :class:`actconf.layout.Layout`).
    """
    raw = getattr(layout_or_positions, "positions", layout_or_positions)
    try:
        pos = np.array(raw, dtype=float)
    except (TypeError, ValueError):
        raise param_error(
            "layout_or_positions", caller, "an array of shape (n_neurons, 2) or a Layout",
            type(layout_or_positions).__name__,
        ) from None
    if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 1:
        raise param_error(
            "layout_or_positions", caller, "an array of shape (n_neurons, 2) or a Layout",
            f"an array of shape {pos.shape}",
        )
    if not np.all(np.isfinite(pos)):
        raise param_error(
            "layout_or_positions", caller, "finite positions (no NaN or inf)",
            f"{int(np.sum(~np.isfinite(pos).all(axis=1)))} neuron(s) with non-finite positions",
        )
    return pos


def _pad_span(lo: float, hi: float, other: float) -> tuple[float, float]:
    """Give a zero-width axis the width of the other axis (or 1)."""
    if hi - lo > 0:
        return lo, hi
    width = other if other > 0 else 1.0
    return lo - width / 2, hi + width / 2


def _enclosing_circle(pos: np.ndarray) -> tuple[float, float, float]:
    """Centre of the bounding box and the distance to the farthest neuron (0.5 for a single point)."""
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    centre = (lo + hi) / 2
    radius = float(np.max(np.hypot(*(pos - centre).T)))
    if radius <= 0:
        radius = 0.5
    return float(centre[0]), float(centre[1]), radius


def _grid_span(pos: np.ndarray, mask: str | None, extent: Any, circle: tuple[float, float, float],
               caller: str) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` of the pixel centres: ``extent``, the circle's square or the bounding box."""
    if extent is not None:
        try:
            ext = tuple(float(e) for e in extent)
        except (TypeError, ValueError):
            ext = ()
        if len(ext) != 4 or not all(np.isfinite(ext)) or not (ext[0] < ext[1] and ext[2] < ext[3]):
            raise param_error("extent", caller, "(xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax",
                              extent)
        return ext
    if mask == "circle":
        cx, cy, radius = circle
        return cx - radius, cx + radius, cy - radius, cy + radius
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    wx, wy = hi - lo
    return (*_pad_span(lo[0], hi[0], wy), *_pad_span(lo[1], hi[1], wx))


class TopoRenderer:
    """Interpolation operator from neuron values to topographic map images.

    Parameters
    ----------
    layout_or_positions : Layout or array-like of shape (n_neurons, 2)
        Neuron positions, or an object with a ``positions`` attribute.
    resolution : int, default=100
        Pixels along each axis, 2 to 2048; images are ``(resolution, resolution)``.
        ``method="cubic"`` stores a dense operator, so there ``resolution**2 *
        n_neurons`` may be at most 5e7 (400 MB).
    method : {"linear", "cubic", "nearest"}, default="linear"
        Interpolation method (see the module docstring); ``linear`` is what the
        TAM paper used (``griddata`` linear).
    mask : {"hull", "circle"} or None, default="hull"
        Which pixels are drawn; the others are NaN.
    extent : tuple of 4 floats, optional
        ``(xmin, xmax, ymin, ymax)`` of the pixel centres. By default the bounding
        box of the positions (``"hull"``, ``None``) or the square around the
        enclosing circle (``"circle"``).

    Attributes
    ----------
    positions : ndarray of shape (n_neurons, 2)
    n_neurons : int
    shape : tuple (H, W)
    xs : ndarray of shape (W,)
        x coordinate of each pixel column (pixel centres).
    ys : ndarray of shape (H,)
        y coordinate of each pixel row (row 0 is the lowest y).
    extent : tuple
        ``(left, right, bottom, top)`` pixel *edges*, for
        ``imshow(..., origin="lower", extent=renderer.extent)``.
    mask : ndarray of bool, shape (H, W)
        True where pixels are drawn.
    circle : tuple (cx, cy, radius)
        The enclosing circle used by ``mask="circle"`` (centre of the bounding
        box, distance to the farthest neuron), also handy to draw an outline.
    pixel_index : ndarray of int
        Flat (row-major) indices of the drawn pixels, the rows of ``operator``.
    operator : scipy.sparse.csr_matrix or ndarray, shape (mask.sum(), n_neurons)
        Interpolation weights of the drawn pixels (row-major pixel order).

    Examples
    --------
    >>> import numpy as np
    >>> from actconf.render import TopoRenderer
    >>> pos = np.random.default_rng(0).random((128, 2))
    >>> r = TopoRenderer(pos, resolution=50)
    >>> r.render(np.zeros((3, 4, 128))).shape
    (3, 4, 50, 50)
    """

    def __init__(
        self,
        layout_or_positions: Any,
        *,
        resolution: int = 100,
        method: str = "linear",
        mask: str | None = "hull",
        extent: tuple[float, float, float, float] | None = None,
    ) -> None:
        caller = "TopoRenderer()"
        pos = positions_of(layout_or_positions, caller)
        resolution = check_int("resolution", resolution, caller, min_value=2)
        if resolution > MAX_RESOLUTION:
            raise param_error("resolution", caller, f"an int <= {MAX_RESOLUTION}", resolution,
                              f"Images have resolution x resolution pixels; {MAX_RESOLUTION} is actconf's "
                              "limit (100-400 is plenty for a figure).")
        check_option("method", method, _METHODS, caller)
        if method == "cubic" and resolution**2 * pos.shape[0] > MAX_OPERATOR_ELEMENTS:
            raise param_error(
                "resolution", caller,
                f"small enough for a dense cubic operator (resolution**2 x {pos.shape[0]} neurons <= "
                f"{MAX_OPERATOR_ELEMENTS:.0e} weights, 400 MB)", resolution,
                "Lower the resolution, or use method='linear' (sparse, any size).",
            )
        if mask is not None:
            check_option("mask", mask, ("hull", "circle"), caller)
        self.positions = pos
        self.n_neurons = int(pos.shape[0])
        self.resolution = int(resolution)
        self.method = method
        self.mask_kind = mask
        self.shape = (self.resolution, self.resolution)
        self.circle = _enclosing_circle(pos)
        grid = self._pixel_grid(*_grid_span(pos, mask, extent, self.circle, caller))
        with one_blas_thread():
            # the triangulation is needed by linear/cubic and by the hull mask
            tri = self._triangulate(pos, method, mask) if method != "nearest" or mask == "hull" else None
            inside_hull = None if tri is None else self._inside_hull(tri, grid)
            drawn = self._drawn_pixels(grid, inside_hull)
            self.mask = drawn.reshape(self.shape)
            self.pixel_index = np.flatnonzero(drawn)
            self.operator = self._operator(pos, grid[drawn], tri,
                                           None if inside_hull is None else inside_hull[drawn])
        self._full_operator: dict | None = None
        if sp.issparse(self.operator):
            self._grid_operator()  # part of the one-off build, not of every render

    # ------------------------------------------------------------------ building
    def _pixel_grid(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Set ``xs``, ``ys`` (pixel centres) and ``extent`` (pixel edges); return the centres ``(H*W, 2)``."""
        self.xs = np.linspace(x0, x1, self.resolution)
        self.ys = np.linspace(y0, y1, self.resolution)
        dx = (x1 - x0) / (self.resolution - 1)
        dy = (y1 - y0) / (self.resolution - 1)
        self.extent = (x0 - dx / 2, x1 + dx / 2, y0 - dy / 2, y1 + dy / 2)
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.column_stack([gx.ravel(), gy.ravel()])

    def _inside_hull(self, tri, grid: np.ndarray) -> np.ndarray:
        """Which pixel centres SciPy's linear interpolation counts as inside the convex hull."""
        from scipy.interpolate import LinearNDInterpolator

        return ~np.isnan(LinearNDInterpolator(tri, np.ones(self.n_neurons))(grid))

    def _drawn_pixels(self, grid: np.ndarray, inside_hull: np.ndarray | None) -> np.ndarray:
        """The mask over the pixel centres (flat); raises if it leaves no pixel."""
        if self.mask_kind == "hull":
            drawn = inside_hull
        elif self.mask_kind == "circle":
            cx, cy, radius = self.circle
            # a little slack so neurons on the rim and the rim pixels themselves survive rounding
            drawn = np.hypot(grid[:, 0] - cx, grid[:, 1] - cy) <= radius * (1 + 1e-9)
        else:
            drawn = np.ones(len(grid), dtype=bool)
        if not drawn.any():
            raise InvalidInputError(
                f"TopoRenderer(): no pixel of the {self.resolution}x{self.resolution} grid lies inside the "
                f"{self.mask_kind!r} mask of these {self.n_neurons} neuron positions. Use mask=None or a larger "
                "extent."
            )
        return drawn

    def _operator(self, pos: np.ndarray, points: np.ndarray, tri, inside: np.ndarray | None):
        """Interpolation weights of the drawn pixel centres ``points`` (continued outside the hull)."""
        if self.method == "nearest":
            return self._nearest_operator(pos, points)
        query = points.copy()
        if not inside.all():
            query[~inside] = self._project_to_hull(tri, points[~inside])
        if self.method == "linear":
            op = self._barycentric_operator(tri, query)
            op.eliminate_zeros()
            return op
        return self._interpolator_operator(tri, query, self.method)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _triangulate(pos: np.ndarray, method: str, mask: str | None):
        from scipy.spatial import Delaunay, QhullError

        n = len(pos)
        reason = None
        if n < 3:
            reason = f"only {n} neuron(s)"
        else:
            centred = pos - pos.mean(axis=0)
            sv = np.linalg.svd(centred, compute_uv=False)
            if sv[1] <= 1e-12 * max(sv[0], 1e-300):
                reason = f"all {n} neurons lie on one line"
        if reason is None:
            try:
                return Delaunay(pos)
            except QhullError as exc:  # pragma: no cover - guarded by the checks above
                reason = f"the triangulation failed ({str(exc).splitlines()[0]})"
        what = f"method={method!r}" if method != "nearest" else f"mask={mask!r}"
        raise InvalidInputError(
            f"TopoRenderer(): {what} needs at least 3 neurons that are not all on one line "
            f"(a convex hull with area), but {reason}. Use method='nearest' with mask='circle' "
            "or mask=None for such layouts."
        )

    @staticmethod
    def _project_to_hull(tri, pts: np.ndarray) -> np.ndarray:
        """Closest point on the convex hull boundary, nudged a hair inside."""
        edges = tri.convex_hull  # (E, 2) vertex indices
        a = tri.points[edges[:, 0]]
        b = tri.points[edges[:, 1]]
        ab = b - a
        best = np.empty_like(pts)
        best_d = np.full(len(pts), np.inf)
        for k in range(len(edges)):  # few edges; vectorised over pixels
            t = np.clip(((pts - a[k]) @ ab[k]) / (ab[k] @ ab[k]), 0.0, 1.0)
            q = a[k] + t[:, None] * ab[k]
            d = np.sum((pts - q) ** 2, axis=1)
            closer = d < best_d
            best[closer] = q[closer]
            best_d[closer] = d[closer]
        centroid = tri.points[np.unique(edges)].mean(axis=0)
        scale = float(np.ptp(tri.points, axis=0).max())
        direction = centroid - best
        norm = np.hypot(direction[:, 0], direction[:, 1])[:, None]
        return best + direction / np.maximum(norm, 1e-300) * (1e-9 * scale)

    def _barycentric_operator(self, tri, query: np.ndarray) -> sp.csr_matrix:
        """Linear interpolation weights of ``query``: 3 per point, straight from the triangulation.

        What ``LinearNDInterpolator`` does per point, vectorised: the containing
        triangle (``find_simplex``) and its barycentric coordinates from SciPy's
        affine transforms, ``c_i = T_i . (x - r)`` and ``c_2 = 1 - c_0 - c_1``,
        summed in the same order. Never holds a (pixels x neurons) array. A nudged
        boundary point judged outside takes its nearest vertex (weight 1).
        """
        simplex = tri.find_simplex(query)
        outside = simplex < 0
        simplex = np.where(outside, 0, simplex)
        transform = tri.transform[simplex]  # (points, 3, 2): T (2 x 2), then r
        d = query - transform[:, 2]
        c = np.empty((len(query), 3))
        c[:, 0] = transform[:, 0, 0] * d[:, 0]
        c[:, 0] += transform[:, 0, 1] * d[:, 1]
        c[:, 1] = transform[:, 1, 0] * d[:, 0]
        c[:, 1] += transform[:, 1, 1] * d[:, 1]
        c[:, 2] = 1.0 - c[:, 0] - c[:, 1]
        cols = tri.simplices[simplex].astype(np.int64)
        if outside.any():
            far = query[outside]
            cols[outside] = np.argmin(((far[:, None, :] - tri.points[None]) ** 2).sum(-1), axis=1)[:, None]
            c[outside] = (1.0, 0.0, 0.0)
        rows = np.repeat(np.arange(len(query)), 3)
        op = sp.csr_matrix((c.ravel(), (rows, cols.ravel())), shape=(len(query), self.n_neurons))
        return op

    def _interpolator_operator(self, tri, query: np.ndarray, method: str) -> np.ndarray:
        """Weights of ``query`` points: SciPy's interpolator applied to unit vectors."""
        from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator

        n = self.n_neurons
        out = np.empty((len(query), n))
        chunk = max(1, _CHUNK_ELEMENTS // max(1, len(query)))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            unit = np.zeros((n, stop - start))
            unit[np.arange(start, stop), np.arange(stop - start)] = 1.0
            if method == "linear":
                interp = LinearNDInterpolator(tri, unit)
            else:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    interp = CloughTocher2DInterpolator(tri, unit, tol=_CT_TOL, maxiter=_CT_MAXITER)
                if caught:  # one warning instead of one per neuron
                    warnings.warn(
                        "TopoRenderer(): the Clough-Tocher gradient estimate did not fully converge "
                        f"for {len(caught)} neuron(s); cubic maps may deviate slightly from SciPy's.",
                        RuntimeWarning, stacklevel=3,
                    )
            out[:, start:stop] = interp(query)
        bad = np.isnan(out).any(axis=1)
        if bad.any():  # a nudged boundary point judged outside: fall back to the nearest vertex
            vert = np.argmin(((query[bad, None, :] - tri.points[None]) ** 2).sum(-1), axis=1)
            out[bad] = 0.0
            out[np.flatnonzero(bad), vert] = 1.0
        return out

    def _nearest_operator(self, pos: np.ndarray, points: np.ndarray) -> sp.csr_matrix:
        from scipy.interpolate import NearestNDInterpolator

        idx = NearestNDInterpolator(pos, np.arange(self.n_neurons))(points).astype(np.int64)
        rows = np.arange(len(points))
        return sp.csr_matrix((np.ones(len(points)), (rows, idx)), shape=(len(points), self.n_neurons))

    # ------------------------------------------------------------------ rendering
    def _flat_values(self, values: Any, caller: str) -> tuple[np.ndarray, tuple[int, ...]]:
        """``values`` as a float64 array ``(maps, n_neurons)`` and its leading shape."""
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise param_error("values", caller, "a numeric array of shape (..., n_neurons)",
                              type(values).__name__) from None
        if arr.ndim == 0 or arr.shape[-1] != self.n_neurons:
            raise InvalidInputError(
                f"{caller}: the last axis of 'values' must have one entry per neuron "
                f"({self.n_neurons}, the number of positions in the layout). Got an array of shape "
                f"{arr.shape} instead. Check that the layout belongs to the same layer as the values."
            )
        return arr.reshape(-1, self.n_neurons), arr.shape[:-1]

    def render(self, values: Any, *, dtype: Any = np.float64) -> np.ndarray:
        """Render maps.

        Parameters
        ----------
        values : array-like of shape (..., n_neurons)
            Neuron values; any leading dimensions (snapshots, groups, ...). NaN
            values blank the pixels that depend on them (see the module
            docstring).
        dtype : {numpy.float64, numpy.float32}, default=numpy.float64
            Of the images. ``float64`` is exact (``griddata``'s result to rounding
            error); ``float32`` (operator and values rounded to single precision,
            relative error about 1e-7) writes half the memory and is what display
            paths need.

        Returns
        -------
        ndarray of shape (..., H, W)
            NaN outside the mask. ``images[..., i, j]`` is the value at
            ``(xs[j], ys[i])``.
        """
        caller = "TopoRenderer.render()"
        dtype = _check_dtype(dtype, caller)
        flat, lead = self._flat_values(values, caller)
        m = flat.shape[0]
        h, w = self.shape
        if sp.issparse(self.operator):
            # One product over the whole grid: masked pixels take weight 1 on an extra
            # input that is NaN, so the product writes their NaN itself (no scatter, no
            # second pass). The result is (pixels, maps); its transpose is returned as a
            # view, so nothing is copied either.
            ext = np.empty((self.n_neurons + 1, m), dtype=dtype)
            ext[:-1] = flat.T
            ext[-1] = np.nan
            out = self._grid_operator(dtype) @ ext
            return out.T.reshape(*lead, h, w)
        out = np.empty((m, h * w), dtype=dtype)
        op = self.operator if dtype == np.float64 else self._dense_operator(dtype)
        # (pixels, n) @ (n, maps) per block of maps: the same product as one big one, but
        # the temporaries stay small (a few MB) instead of doubling the memory of the output
        block = max(1, (4 << 20) // (8 * max(1, len(self.pixel_index))))
        for start in range(0, m, block):
            stop = min(m, start + block)
            out[start:stop, self.pixel_index] = (op @ flat[start:stop].T.astype(dtype, copy=False)).T
        if len(self.pixel_index) < h * w:
            out[:, ~self.mask.ravel()] = np.nan
        return out.reshape(*lead, h, w)

    __call__ = render

    def render_rgba(self, values: Any, *, cmap: Any, norm: Any) -> np.ndarray:
        """Render maps straight to colour: ``cmap(norm(images), bytes=True)`` without float images.

        For display (figures, widgets, animations): the maps are computed in single
        precision, a block of maps at a time, and turned into colours through the
        colormap's lookup table, so no float array of all the maps is ever held.
        Pixels are matplotlib's colours of the float64 maps except where a value
        lies within single-precision rounding of a boundary between two colours
        (then the neighbouring colour).

        Parameters
        ----------
        values : array-like of shape (..., n_neurons)
        cmap : str or matplotlib.colors.Colormap
            The caller's colormap (its under, over and bad colours are used:
            pixels outside the mask and pixels depending on NaN values are "bad").
        norm : matplotlib.colors.Normalize
            With ``vmin`` and ``vmax`` set (e.g. ``Normalize(-1, 1)``); a plain
            ``Normalize`` (or a subclass keeping its linear mapping, such as
            ``CenteredNorm``) is applied to the neuron values before
            interpolating (interpolation weights sum to 1, so this is the same
            map), any other norm to each block of maps.

        Returns
        -------
        ndarray of shape (..., H, W, 4), uint8
            RGBA; ``[..., i, j, :]`` is the colour at ``(xs[j], ys[i])``.
        """
        caller = "TopoRenderer.render_rgba()"
        lut, n_colors = colour_table(cmap, caller)
        norm = _check_norm(norm, caller)
        flat, lead = self._flat_values(values, caller)
        h, w = self.shape
        out = np.empty((flat.shape[0], h * w), dtype=np.uint32)
        # clipping the indices is enough when under/over are the end colours or the norm clips
        plain = bool(norm.clip or (lut[n_colors] == lut[0] and lut[n_colors + 1] == lut[n_colors - 1]))
        linear = _is_linear(norm)
        if linear:  # normalise the few neuron values instead of every pixel
            flat = _linear_norm(norm, flat) * n_colors
        if linear and self._colour_in_one_pass(flat.shape[0], flat, lut, n_colors, plain, out):
            return out.view(np.uint8).reshape(*lead, h, w, 4)
        for start in range(0, flat.shape[0], _RGBA_BLOCK):
            stop = min(flat.shape[0], start + _RGBA_BLOCK)
            images = self.render(flat[start:stop], dtype=np.float32).reshape(stop - start, h * w)
            scaled = images if linear else _apply_norm(norm, images, n_colors)
            np.take(lut, lut_indices(scaled, n_colors, plain_ends=plain), out=out[start:stop], mode="clip")
        return out.view(np.uint8).reshape(*lead, h, w, 4)

    def _colour_in_one_pass(self, m: int, scaled: np.ndarray, lut: np.ndarray, n_colors: int, plain: bool,
                            out: np.ndarray) -> bool:
        """Colour ``scaled`` (normalised values times N) into ``out`` with the compiled loop, if it pays.

        Used when the operator is sparse with at most 3 weights per pixel and the loop
        is loaded, or numba is (then the loop is loaded for a job of at least
        :data:`KERNEL_MIN_PIXEL_MAPS`). Returns whether it ran; the colours are those
        of the NumPy path, pixel for pixel.
        """
        kernel = sys.modules.get("actconf._colour_kernel")
        if kernel is None:
            if "numba" not in sys.modules or m * self.mask.size < KERNEL_MIN_PIXEL_MAPS:
                return False
            try:
                kernel = importlib.import_module("actconf._colour_kernel")
            except ImportError:  # pragma: no cover - numba comes with umap-learn
                return False
        if not getattr(kernel, "AVAILABLE", False):
            return False
        padded = self.__dict__.get("_padded")
        if padded is None and sp.issparse(self.operator):
            full = self._grid_operator(np.float32)
            padded = kernel.padded_operator(full.indptr, full.indices, full.data, self.n_neurons + 1)
            self.__dict__["_padded"] = padded if padded is not None else False
        if not padded:
            return False
        values = np.empty((m, self.n_neurons + 2), dtype=np.float32)
        values[:, :-2] = scaled
        values[:, -2] = np.nan  # masked pixels: weight 1 here
        values[:, -1] = 0.0  # padding: weight 0 here
        kernel.colour_maps(*padded, values, lut, n_colors, plain, out)
        return True

    def _grid_operator(self, dtype: Any = np.float64):
        """The sparse operator over every pixel of the grid, (H*W, n_neurons + 1), built once per dtype."""
        cache = getattr(self, "_full_operator", None)
        if cache is None:
            cache = self._full_operator = {}
        full = cache.get(np.dtype(dtype))
        if full is None and np.dtype(dtype) != np.float64:
            full = cache[np.dtype(dtype)] = self._grid_operator().astype(dtype)
        elif full is None:
            h, w = self.shape
            coo = self.operator.tocoo()
            masked = np.flatnonzero(~self.mask.ravel())
            rows = np.concatenate([np.asarray(self.pixel_index)[coo.row], masked])
            cols = np.concatenate([coo.col, np.full(masked.size, self.n_neurons)])
            data = np.concatenate([coo.data, np.ones(masked.size)])
            full = sp.csr_matrix((data, (rows, cols)), shape=(h * w, self.n_neurons + 1))
            cache[np.dtype(np.float64)] = full
        return full

    def _dense_operator(self, dtype: Any) -> np.ndarray:
        """The dense (cubic) operator in ``dtype``, converted once."""
        cache = self.__dict__.setdefault("_dense_cache", {})
        if np.dtype(dtype) not in cache:
            cache[np.dtype(dtype)] = self.operator.astype(dtype)
        return cache[np.dtype(dtype)]

    def __repr__(self) -> str:
        return (f"TopoRenderer(n_neurons={self.n_neurons}, resolution={self.resolution}, "
                f"method={self.method!r}, mask={self.mask_kind!r})")


# ---------------------------------------------------------------------- cache
_CACHE: OrderedDict[tuple, TopoRenderer] = OrderedDict()
_CACHE_SIZE = 16


def get_renderer(
    layout_or_positions: Any,
    *,
    resolution: int = 100,
    method: str = "linear",
    mask: str | None = "hull",
    extent: tuple[float, float, float, float] | None = None,
) -> TopoRenderer:
    """A :class:`TopoRenderer`, reused when the same positions and options come again.

    Figures, animations and widgets call this, so that redrawing maps of one
    layout never rebuilds the operator. The cache holds the 16 most recently
    used renderers, keyed by the positions' bytes and the options.

    Parameters
    ----------
    layout_or_positions, resolution, method, mask, extent
        As for :class:`TopoRenderer`.

    Returns
    -------
    TopoRenderer
    """
    pos = positions_of(layout_or_positions, "get_renderer()")
    digest = hashlib.sha1(np.ascontiguousarray(pos).tobytes()).hexdigest()
    ext = None if extent is None else tuple(float(e) for e in extent)
    key = (digest, pos.shape, resolution, method, mask, ext)
    try:
        hit = _CACHE.pop(key)
    except (KeyError, TypeError):
        hit = None
    if hit is None:
        hit = TopoRenderer(pos, resolution=resolution, method=method, mask=mask, extent=extent)
    _CACHE[key] = hit
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return hit
