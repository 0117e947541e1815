"""Topographic activation map (TAM) figures: :func:`plot_map` and :func:`plot_map_grid`.

:func:`plot_map` draws one map; :func:`plot_map_grid` draws a grid of maps from
NAPs (:func:`actconf.naps.naps`), e.g. classes x confidence bins, or classes x
snapshots. All maps of a grid come from one :class:`~actconf.render.TopoRenderer`
call, share one colour scale (symmetric around zero, diverging colormap) unless
asked otherwise, and carry labels a reader needs: the snapshot (epoch/batch), the
group and its size. The look (colormap, limits, contours, markers, interpolation,
panel size) is one :class:`~actconf.plots.MapStyle`.

The pivoting lives in :mod:`._panels`, the grid figure in :mod:`._grid_engine`
(also used by :mod:`actconf.animate` and :mod:`actconf.widgets`), the drawing of one
map's Axes in :mod:`._mapaxes`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validation import param_error
from ..errors import InvalidInputError
from ._figure import axes_for, figure_for
from ._grid_engine import MapGridFigure
from ._mapaxes import (
    MANY_NEURONS,
    contour_levels,
    draw_contours,
    draw_map_axes,
    draw_map_image,
    draw_markers,
    map_renderer,
)
from ._panels import build_panels, check_panels_fit, quantity_of
from ._style import DEFAULT_CMAP, MapStyle, color_limits, grid_limits, style_with_aliases

__all__ = ["plot_map", "plot_map_grid"]

_STYLE_KEYWORDS = ("vlim", "cmap", "contours", "markers", "method", "mask")
_GRID_STYLE_KEYWORDS = (*_STYLE_KEYWORDS, "share", "panel_size")


# ---------------------------------------------------------------------------- plot_map
def plot_map(
    values: Any,
    layout: Any,
    *,
    title: str | None = None,
    label: str | None = None,
    colorbar: bool = True,
    style: MapStyle | None = None,
    ax: Any = None,
    **deprecated: Any,
):
    """Draw one topographic activation map.

    Parameters
    ----------
    values : array-like of shape (n_neurons,)
        One value per neuron (a NAP, a difference of NAPs, per-neuron correlations).
        NaN values leave holes (see :mod:`actconf.render`).
    layout : Layout, array of shape (n_neurons, 2) or TopoRenderer
        Neuron positions; a :class:`~actconf.render.TopoRenderer` fixes resolution,
        method and mask (``style.method``/``style.mask`` are then ignored).
    title : str, optional
    label : str, optional
        Colorbar label (default: ``values.name`` for a DataArray, else "value").
    colorbar : bool, default=True
    style : MapStyle, optional
        The look: ``vlim`` (default symmetric ``±max|value|``, zero is white),
        ``cmap`` (``"RdBu_r"``), ``contours`` (6 lines), ``markers`` (True up to 512
        neurons, False above, where the map's grid is also finer: 200 pixels per side
        for 2,048 neurons instead of 100),
        ``method``/``mask``, ``panel_size`` (3.6 inches), ``dpi``. The keywords
        ``vlim``, ``cmap``, ``contours``, ``markers``, ``method`` and ``mask`` are
        deprecated aliases of these fields.
    ax : matplotlib Axes, optional
        Draw here; by default a new figure is made.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the map is ``fig.axes[0].images[-1]`` (its array is the rendered
        image, NaN outside the mask; ``images[0]`` is the grey underlay).
    """
    caller = "plot_map()"
    style = style_with_aliases(style, deprecated, caller, _STYLE_KEYWORDS)
    renderer = map_renderer(layout, style)
    style = style.with_defaults(cmap=DEFAULT_CMAP, contours=6, markers=renderer.n_neurons <= MANY_NEURONS,
                                panel_size=3.6)
    v = _one_map(values, renderer, caller)
    lo, hi = color_limits(style.vlim, v)
    image = renderer.render(v)
    size = style.panel_size
    fig, ax = axes_for(ax, (size + 0.6 if colorbar else size, size), caller, dpi=style.dpi)
    im = _draw_one_map(ax, renderer, image, style, (lo, hi))
    if title is not None:
        ax.set_title(title, fontsize=10)
    if colorbar:
        cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.03)
        cb.set_label(label if label is not None else _value_name(values), fontsize=9)
        cb.ax.tick_params(labelsize=8)
    return fig


def _one_map(values: Any, renderer: Any, caller: str) -> np.ndarray:
    """``values`` as a float vector with one entry per neuron of the renderer's layout."""
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise param_error("values", caller, "a numeric array of shape (n_neurons,)", type(values).__name__) from None
    if v.ndim != 1:
        raise param_error("values", caller, "a 1-D array with one value per neuron",
                          f"an array of shape {v.shape}",
                          "Select one map first, e.g. nap.isel(snapshot=-1, group=0), or use plot_map_grid().")
    if v.shape[0] != renderer.n_neurons:
        raise InvalidInputError(
            f"{caller}: 'values' has {v.shape[0]} entries but the layout has {renderer.n_neurons} "
            "neurons. Use the layout of the same layer as the values."
        )
    return v


def _value_name(values: Any) -> str:
    name = getattr(values, "name", None)
    if name == "nap":
        return quantity_of(values)
    return name or "value"


def _draw_one_map(ax: Any, renderer: Any, image: np.ndarray, style: MapStyle, limits: tuple[float, float]):
    from matplotlib.colors import Normalize

    draw_map_axes(ax, renderer)
    im = draw_map_image(ax, renderer, image, cmap=style.cmap, norm=Normalize(*limits), interpolation="bilinear")
    draw_contours(ax, renderer, image, contour_levels(style.contours, *limits))
    if style.markers:
        draw_markers(ax, renderer)
    return im


# ---------------------------------------------------------------------------- plot_map_grid
def plot_map_grid(
    naps: Any,
    layout: Any,
    *,
    rows: str | None = None,
    cols: str | None = "auto",
    snapshots: Any = None,
    difference: Any = None,
    order: Any = None,
    title: str | None = None,
    style: MapStyle | None = None,
    fig: Any = None,
    **deprecated: Any,
):
    """Draw a grid of topographic activation maps from NAPs.

    Parameters
    ----------
    naps : xarray.DataArray (snapshot, group, neuron)
        NAPs from :func:`actconf.naps.naps` (or an array ``(group, neuron)``).
    layout : Layout, array of shape (n_neurons, 2) or TopoRenderer
        Neuron positions of the same layer.
    rows, cols : str or None
        What varies along rows and columns: ``"snapshot"``, ``"group"`` or a
        grouping factor of the NAPs (``"class"``, ``"confidence"``, ``"correct"``,
        ``"prediction"``). ``cols="auto"`` (default): with two factors (e.g.
        ``by="class+confidence"``) columns are classes and rows the other factor;
        otherwise one column per group. ``rows="snapshot"`` shows training
        progress. Each map must be one group: combine with ``naps.isel(...)`` to
        fix the other factors.
    snapshots : run snapshot selector, optional
        Which snapshots, by the NAPs' ``snapshot`` coordinate, i.e. *run snapshot
        ids* (``naps(run, ..., snapshots=[0, 5, 9])`` then ``snapshots=5`` is the
        second map): an id or a list of ids (negative: counted from the NAPs' end),
        ``"final"``, ``"initial"``, ``"epochs"``, ``"batches"``, a slice, a mask or a
        dict such as ``{"epoch": 3}``. Default: the last one, or all of them when
        rows or cols is ``"snapshot"``; otherwise it must select one snapshot.
        (``snapshot=`` is a deprecated alias.)
    difference : (A, B) or list of such pairs, optional
        Show differences of maps instead: A and B are row labels or column labels
        (as shown, e.g. ``"0.9–1.0"`` / ``"class 3"``, or raw group/level names);
        each pair replaces that axis with one ``A − B`` row/column. E.g.
        ``rows="snapshot", difference=("epoch 20", "initial")``.
    order : None, "cluster" or list of column labels, optional
        ``"cluster"``: order columns by average-linkage hierarchical clustering of
        their maps, so that similar groups sit side by side.
    title : str, optional
        Figure title (default: layer, grouping and snapshot).
    style : MapStyle, optional
        The look: ``vlim`` (default symmetric ``±max|value|`` over the grid),
        ``share`` (``"all"``: one colour scale; ``"row"``: one per row), ``cmap``
        (default ``"RdBu_r"`` with symmetric limits, or the sequential ``"Reds"``
        from 0 when ``vlim`` is None and no shown value is negative, e.g. plain NAPs
        of a ReLU layer), ``contours`` (0: none; levels shared by the grid),
        ``markers`` (False), ``method``/``mask``, ``panel_size`` (1.5 inches per
        map), ``dpi``. The keywords ``vlim``, ``share``, ``contours``, ``markers``,
        ``cmap``, ``method``, ``mask`` and ``panel_size`` are deprecated aliases.
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one sized for the grid).

    Returns
    -------
    matplotlib.figure.Figure
        Maps are ``fig.axes[i * n_cols + j].images[-1]`` (row-major); the colour
        bar axes follow them.
    """
    caller = "plot_map_grid()"
    snapshots = _snapshot_alias(snapshots, deprecated, caller)
    style = style_with_aliases(style, deprecated, caller, _GRID_STYLE_KEYWORDS)
    renderer = map_renderer(layout, style)
    panels = build_panels(naps, rows=rows, cols=cols, snapshots=snapshots, difference=difference, order=order,
                          frames=False, caller=caller)
    check_panels_fit(panels, renderer, caller)
    if fig is not None:
        fig = figure_for(fig, (1.0, 1.0), caller)
    images = renderer.render(panels.values[0])  # one product for all maps: (R, C, H, W)
    style, limits = _grid_colours(panels.values, style)
    grid = MapGridFigure(panels, renderer, limits=limits, style=style, fig=fig)
    frame = panels.frame_labels[0]
    grid.show(images, panels.notes[0], title if title is not None else " · ".join(p for p in (panels.title, frame) if p))
    if style.contours:
        for idx in np.ndindex(*grid.shape):
            draw_contours(grid.axes[idx], renderer, images[idx], contour_levels(style.contours, *limits[idx[0]]))
    return grid.fig


def _snapshot_alias(snapshots: Any, deprecated: dict[str, Any], caller: str) -> Any:
    """Take the deprecated ``snapshot=`` keyword out of ``deprecated`` (warning) as ``snapshots``."""
    if "snapshot" not in deprecated:
        return snapshots
    old = deprecated.pop("snapshot")
    if snapshots is not None:
        raise param_error("snapshot", caller, "left out when snapshots= is given (it is its deprecated alias)", old)
    warnings.warn(f"{caller}: snapshot= is deprecated; use snapshots= (run snapshot ids, the NAPs' snapshot "
                  "coordinate).", DeprecationWarning, stacklevel=3)
    return old


def _grid_colours(values: np.ndarray, style: MapStyle) -> tuple[MapStyle, np.ndarray]:
    """The grid's style with defaults filled in, and its colour limits per row."""
    limits = grid_limits(values, style)
    cmap = style.cmap
    if cmap is None:
        finite = values[np.isfinite(values)]
        cmap = DEFAULT_CMAP
        if style.vlim is None and finite.size and finite.min() >= 0:
            cmap = "Reds"
            limits[:, 0] = 0.0
    return style.with_defaults(cmap=cmap, contours=0, markers=False, panel_size=1.5), limits
