"""Where figures come from: the one way plots make a Figure, and the ``ax=`` / ``fig=`` convention.

Every plotting function either draws one Axes (``ax=``: draw here, or a new figure
with one Axes) or several (``fig=``: an empty Figure to fill, or a new one), and
returns the Figure. New figures are made outside pyplot's registry
(:func:`new_figure`), so nothing is shown twice in notebooks and nothing leaks.
"""

from __future__ import annotations

from typing import Any

from .._validation import param_error


def new_figure(figsize: tuple[float, float], *, layout: str | None = "constrained", dpi: float | None = None):
    """A Figure with an Agg canvas outside pyplot's registry (no double display, no leaks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_for(fig: Any, figsize: tuple[float, float], caller: str, *, dpi: float | None = None):
    """The Figure to fill: ``fig`` if given (it must be an empty Figure), else a new one."""
    from matplotlib.figure import FigureBase

    if fig is None:
        return new_figure(figsize, dpi=dpi)
    if not isinstance(fig, FigureBase):
        raise param_error("fig", caller, "None or an empty matplotlib Figure", type(fig).__name__,
                          "Pass ax=... to draw into one Axes instead." if hasattr(fig, "figure") else "")
    if fig.axes:
        raise param_error("fig", caller, "an empty Figure (without Axes)", f"a Figure with {len(fig.axes)} Axes",
                          "Make a new one, e.g. matplotlib.figure.Figure() or fig.subfigures().")
    return fig


def axes_for(ax: Any, figsize: tuple[float, float], caller: str, *, dpi: float | None = None):
    """``(figure, axes)`` to draw one Axes: ``ax`` and its figure, or a new figure with one Axes."""
    from matplotlib.axes import Axes

    if ax is None:
        fig = new_figure(figsize, dpi=dpi)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise param_error("ax", caller, "None or a matplotlib Axes", type(ax).__name__)
    return ax.figure, ax
