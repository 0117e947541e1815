"""Drawing one map into one Axes: the pieces every map figure (and the explorer) shares.

Named internal API (used by :mod:`actconf.plots`, :mod:`actconf.widgets` and
:mod:`actconf.animate`): :func:`map_renderer` (the renderer of a layout),
:func:`default_resolution` (finer grids for many neurons),
:func:`draw_map_axes` (grey underlay, frameless square axes, outline),
:func:`draw_map_image`, :func:`draw_markers`, :func:`draw_contours` and
:func:`contour_levels`. Call :func:`draw_map_axes` before adding the image so that
``ax.images[-1]`` is the map (the underlay comes first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..render import TopoRenderer, get_renderer, positions_of
from ._style import MapStyle

_EDGE = "0.55"
#: Above this many neurons maps default to a finer grid and no neuron markers.
MANY_NEURONS = 512


def default_resolution(n_neurons: int) -> int:
    """Pixels per side of a map of ``n_neurons``: 100 up to :data:`MANY_NEURONS`, then growing
    with the square root of the count (about 20 pixels per neuron; 200 for 2,048), at most 256."""
    if n_neurons <= MANY_NEURONS:
        return 100
    return int(min(256, round(100 * np.sqrt(n_neurons / MANY_NEURONS))))


def map_renderer(layout: Any, style: MapStyle, *, resolution: int | None = None) -> TopoRenderer:
    """A TopoRenderer given as such, or the cached one of a layout / positions (``style.method``/``mask``).

    ``resolution=None``: :func:`default_resolution` of the layout's neuron count.
    """
    if isinstance(layout, TopoRenderer):
        return layout
    if resolution is None:
        resolution = default_resolution(len(positions_of(layout, "map_renderer()")))
    return get_renderer(layout, resolution=resolution, method=style.method, mask=style.mask)


def draw_map_axes(ax: Any, renderer: TopoRenderer) -> None:
    """Prepare ``ax`` for a map: grey where the mask shows pixels, no ticks, equal aspect, outline."""
    _underlay(ax, renderer)
    _style_axes(ax, renderer)
    _outline(ax, renderer)


def draw_map_image(ax: Any, renderer: TopoRenderer, image: np.ndarray, *, cmap: Any, norm: Any,
                   interpolation: str = "antialiased"):
    """The map itself: ``image`` (H, W) floats or RGBA, drawn over the underlay; returns the AxesImage."""
    return ax.imshow(image, origin="lower", extent=renderer.extent, cmap=cmap, norm=norm,
                     interpolation=interpolation, zorder=0.5)


def draw_markers(ax: Any, renderer: TopoRenderer, *, size: float | None = None, alpha: float = 0.55):
    """Small dots at the neuron positions (smaller above :data:`MANY_NEURONS`); returns the Line2D."""
    if size is None:
        size = 2.0 if renderer.n_neurons <= MANY_NEURONS else 1.0
    return ax.plot(*renderer.positions.T, ".", color="k", ms=size, alpha=alpha, mec="none")[0]


def contour_levels(contours: int, lo: float, hi: float) -> np.ndarray:
    """``contours`` equally spaced levels strictly between the limits, without the zero level
    (noise around zero would draw a wiggly line everywhere)."""
    if contours <= 0:
        return np.empty(0)
    levels = np.linspace(lo, hi, contours + 2)[1:-1]
    return levels[np.abs(levels) > 1e-9 * (hi - lo)]


def draw_contours(ax: Any, renderer: TopoRenderer, image: np.ndarray, levels: np.ndarray) -> None:
    """Thin black contour lines of ``image`` at those ``levels`` that fall inside its range."""
    if np.count_nonzero(np.isfinite(image)) < 4 or levels.size == 0:
        return
    finite = image[np.isfinite(image)]
    levels = levels[(levels > finite.min()) & (levels < finite.max())]
    if levels.size:
        ax.contour(renderer.xs, renderer.ys, image, levels=levels, colors="k", linewidths=0.5,
                   alpha=0.45, linestyles="solid")


# ---------------------------------------------------------------------------- pieces
def _underlay(ax: Any, renderer: TopoRenderer) -> None:
    """Light grey where the mask shows pixels: NaN gaps (no data) read as grey, not as zero."""
    from matplotlib.colors import ListedColormap

    ax.imshow(np.where(renderer.mask, 1.0, np.nan), origin="lower", extent=renderer.extent,
              cmap=ListedColormap(["0.88"]), vmin=0, vmax=2, interpolation="nearest", zorder=0)


def _style_axes(ax: Any, renderer: TopoRenderer) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(renderer.mask_kind is None)
        spine.set_linewidth(0.5)
        spine.set_color(_EDGE)
    ax.set_xlim(renderer.extent[0], renderer.extent[1])
    ax.set_ylim(renderer.extent[2], renderer.extent[3])
    ax.set_aspect("equal")


def _outline(ax: Any, renderer: TopoRenderer, *, lw: float = 0.6) -> None:
    """Thin outline of the drawn region (convex hull, circle or frame)."""
    from matplotlib.patches import Circle, Polygon

    if renderer.mask_kind == "circle":
        cx, cy, r = renderer.circle
        ax.add_patch(Circle((cx, cy), r, fill=False, ec=_EDGE, lw=lw))
        return
    if renderer.mask_kind is None:
        return
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(renderer.positions)
    except QhullError:  # degenerate layouts cannot use the hull mask anyway
        return
    ax.add_patch(Polygon(renderer.positions[hull.vertices], closed=True, fill=False, ec=_EDGE, lw=lw))
