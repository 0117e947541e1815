"""Figures about layouts: the method comparison and one map drawn with several layouts.

=================================  ==============================================
figure                              input
=================================  ==============================================
:func:`plot_layout_comparison`     :func:`actconf.layout.compare_layouts`
:func:`plot_layouts`               layouts of one layer and one value per neuron
=================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_option, param_error
from ..layout import MEASURES
from ._figure import figure_for
from ._maps import plot_map
from ._style import MapStyle, symmetric_limits

__all__ = ["plot_layout_comparison", "plot_layouts"]


def plot_layout_comparison(frame: Any, *, measures: Sequence[str] | None = None, fig: Any = None):
    """Draw the comparison figure from :func:`actconf.layout.compare_layouts`' DataFrame.

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`~actconf.layout.compare_layouts` (columns ``method``,
        ``repeat``, ``measure``, ``param``, ``value``).
    measures : sequence of str, optional
        Scores to show as violins (default: all of :func:`~actconf.layout.layout_quality`'s).
    fig : matplotlib.figure.Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
        Top: error curves after down-/up-scaling and blurring (mean ± sd over
        repeats); below: one violin per method for every score, with the
        individual repeats as dots and the median as a black line.
    """
    caller = "plot_layout_comparison()"
    needed = {"method", "repeat", "measure", "param", "value"}
    cols = set(getattr(frame, "columns", []))
    if not needed <= cols:
        raise param_error("frame", caller, "the DataFrame returned by compare_layouts()",
                          f"columns {sorted(cols)}" if cols else type(frame).__name__)
    if measures is not None:
        measures = tuple(measures)
        for m in measures:
            check_option("measures", m, tuple(MEASURES), caller)
    import matplotlib
    from matplotlib.lines import Line2D

    methods = list(dict.fromkeys(frame["method"]))
    colours = {m: matplotlib.colormaps["tab10"](i % 10) for i, m in enumerate(methods)}
    scalar = [m for m in (measures or MEASURES) if m in set(frame["measure"])]
    ncols = 2
    nrows = 1 + (len(scalar) + ncols - 1) // ncols
    fig = figure_for(fig, (12, 3.3 * nrows), caller)
    grid = fig.add_gridspec(nrows, ncols)
    # the masked measure's curves; the paper measure's when only those were computed (quality="paper")
    paper = "resize_mse" not in set(frame["measure"]) and "paper_resize_mse" in set(frame["measure"])
    prefix, note = ("paper_", ", paper measure") if paper else ("", "")
    ax = fig.add_subplot(grid[0, 0])
    _curve_panel(ax, frame, prefix + "resize_mse", colours, "down-scaled to (px), then up-scaled", invert=True)
    ax.set_title(f"error after down-/up-scaling (lower = smoother{note})", fontsize=10)
    ax = fig.add_subplot(grid[0, 1])
    _curve_panel(ax, frame, prefix + "blur_mse", colours, "Gaussian blur radius (px)", invert=False)
    ax.set_title(f"error after blurring (lower = smoother{note})", fontsize=10)
    for j, measure in enumerate(scalar):
        _violin_panel(fig.add_subplot(grid[1 + j // ncols, j % ncols]), frame, measure, colours)
    handles = [Line2D([], [], color=colours[m], lw=2, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(methods), 9), frameon=False)
    n_rep = frame.groupby("method")["repeat"].nunique().max() if len(frame) else 0
    redraw = frame.attrs.get("redraw", "seed")
    fig.suptitle(f"Layout methods compared over {n_rep} repeat(s) (re-drawn: {redraw})", fontsize=12)
    return fig


def _curve_panel(ax: Any, frame: Any, measure: str, colours: dict, xlabel: str, *, invert: bool) -> None:
    """Error curves of one measure over its parameter: mean ± sd over repeats, one line per method."""
    sub = frame[frame["measure"] == measure]
    for m, colour in colours.items():
        part = sub[sub["method"] == m]
        if part.empty:
            continue
        stats = part.groupby("param")["value"].agg(["mean", "std"]).sort_index()
        x = stats.index.to_numpy(dtype=float)
        mean = stats["mean"].to_numpy()
        sd = np.nan_to_num(stats["std"].to_numpy())
        ax.plot(x, mean, "-o", ms=3, color=colour, label=m)
        ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean squared error")
    if invert:
        ax.invert_xaxis()
    ax.grid(alpha=0.3)


def _violin_panel(ax: Any, frame: Any, measure: str, colours: dict) -> None:
    """One violin per method of a scalar score, with the repeats as dots and the median as a black line."""
    label, higher = MEASURES.get(measure, (measure, True))
    sub = frame[frame["measure"] == measure]
    rng = np.random.default_rng(0)
    methods = list(colours)
    for i, m in enumerate(methods):
        vals = sub.loc[sub["method"] == m, "value"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            continue
        if vals.size > 1 and np.ptp(vals) > 1e-12 * max(1.0, np.abs(vals).max()):
            parts = ax.violinplot(vals, positions=[i], widths=0.8, showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(colours[m])
                body.set_edgecolor(colours[m])
                body.set_alpha(0.35)
        else:
            ax.hlines(vals.mean(), i - 0.3, i + 0.3, color=colours[m], lw=2)
        jitter = rng.uniform(-0.12, 0.12, vals.size)
        ax.scatter(i + jitter, vals, s=8, color=colours[m], alpha=0.8, zorder=3)
        ax.hlines(np.median(vals), i - 0.25, i + 0.25, color="black", lw=1, zorder=4)
    ax.set_xticks(range(len(methods)), methods, rotation=20 if len(methods) > 4 else 0,
                  ha="right" if len(methods) > 4 else "center")
    ax.set_title(f"{label} ({'higher' if higher else 'lower'} = better)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def plot_layouts(
    layouts: Mapping[str, Any],
    values: Any,
    *,
    title: str | None = None,
    label: str = "value",
    cmap: str = "RdBu_r",
    ncols: int = 4,
    panel_size: float = 2.6,
    fig: Any = None,
):
    """Draw the same neuron values as a map with each of several layouts.

    Parameters
    ----------
    layouts : dict of str to Layout (or positions)
        Panel title -> layout of the same layer.
    values : array-like of shape (n_neurons,)
        One value per neuron (e.g. one class's contrastive NAP).
    title : str, optional
        Figure title.
    label : str, default="value"
        Colour bar label.
    cmap : str, default="RdBu_r"
        Diverging colormap; the limits are symmetric, ``±max|value|``.
    ncols : int, default=4
    panel_size : float, default=2.6
        Inches per map.
    fig : matplotlib.figure.Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
        One map per layout with neuron markers, one shared colour scale.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    caller = "plot_layouts()"
    if not isinstance(layouts, Mapping) or not layouts:
        raise param_error("layouts", caller, "a non-empty dict of name -> Layout", layouts)
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise param_error("ncols", caller, "an int >= 1", ncols)
    values = np.asarray(values, dtype=float)
    vlim = symmetric_limits(values)
    style = MapStyle(vlim=vlim, cmap=cmap, markers=True, contours=0)
    n = len(layouts)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = figure_for(fig, (panel_size * ncols + 0.8, panel_size * nrows + 0.5), caller)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, layout) in zip(axes, layouts.items(), strict=False):
        plot_map(values, layout, ax=ax, colorbar=False, title=name, style=style)
    for ax in axes[n:]:
        ax.set_visible(False)
    mappable = ScalarMappable(norm=Normalize(*vlim), cmap=cmap)
    fig.colorbar(mappable, ax=list(axes[:n]), shrink=0.8, label=label)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig
