"""The explorer's figures (:mod:`actconf.widgets`): static parts drawn once, moving parts returned.

:func:`curve_figure` draws probe accuracy and mean confidence over training;
:func:`correlation_figure` draws the per-sample scatter of confidence against
activity, the per-neuron correlation map and the correlation over training. Both
return the artists that change with the slider; the widget moves them and blits
(:class:`~actconf.plots.Blitter`). Nothing here computes statistics: the widget
passes what :mod:`actconf.analysis` and :mod:`actconf.confidence` computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._figure import new_figure
from ._mapaxes import draw_map_axes, draw_map_image

_RED = "tab:red"
_GOOD = np.array([0.17, 0.63, 0.17, 1.0])
_BAD = np.array([0.84, 0.15, 0.16, 1.0])


# ---------------------------------------------------------------------------- accuracy / confidence curves
@dataclass
class CurveFigure:
    """Accuracy and mean confidence over training; ``markers`` and ``lines`` follow the slider."""

    fig: Any
    markers: list[Any]
    lines: list[Any]

    @property
    def dynamic(self) -> list[Any]:
        return [*self.lines, *self.markers]


def curve_figure(x: np.ndarray, accuracy: np.ndarray, mean_confidence: np.ndarray, measure: str) -> CurveFigure:
    """Probe accuracy (top) and mean confidence (bottom) over ``x`` (epochs of training)."""
    fig = new_figure((3.3, 3.2))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(x, accuracy, color="k", lw=1.2)
    ax1.set_ylabel("probe accuracy", fontsize=8)
    ax1.set_ylim(0, 1.02)
    ax2.plot(x, mean_confidence, color="tab:purple", lw=1.2)
    ax2.set_ylabel(f"mean {measure}", fontsize=8)
    ax2.set_xlabel("epochs of training", fontsize=8)
    lo, hi = np.nanmin(mean_confidence), np.nanmax(mean_confidence)
    pad = 0.05 * (hi - lo) if hi > lo else 0.05
    ax2.set_ylim(lo - pad, hi + pad)
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
    markers = [ax.plot([], [], "o", color=_RED, ms=5)[0] for ax in (ax1, ax2)]
    lines = [ax.axvline(x[0], color=_RED, lw=0.8, alpha=0.6) for ax in (ax1, ax2)]
    return CurveFigure(fig, markers, lines)


# ---------------------------------------------------------------------------- correlation views
@dataclass
class SampleColors:
    """Colour per snapshot and sample ``(S, N, 4)`` with the legend that explains it."""

    colors: np.ndarray
    handles: list[tuple[str, Any]]  # (label, colour)
    legend: dict[str, Any] = field(default_factory=dict)


def sample_colors(labels: np.ndarray, correct: np.ndarray, class_names: list[str], color_by: str) -> SampleColors:
    """Samples coloured by true class (``"class"``) or by correct/wrong prediction (``"correct"``)."""
    from matplotlib import colormaps

    if color_by == "correct":
        colors = np.where(correct[..., None], _GOOD, _BAD)
        return SampleColors(colors, [("correct", _GOOD), ("wrong", _BAD)],
                            {"fontsize": 7, "loc": "best", "frameon": False})
    palette = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    cols = palette(np.asarray(labels) % palette.N)
    handles = [(str(nm), palette(k % palette.N)) for k, nm in enumerate(class_names)] if len(class_names) <= 20 else []
    legend = {"fontsize": 6, "ncol": 2 if len(class_names) > 10 else 1, "loc": "center left",
              "bbox_to_anchor": (1.0, 0.5), "frameon": False, "title": "class", "title_fontsize": 7,
              "handletextpad": 0.1, "borderaxespad": 0.2}
    return SampleColors(np.broadcast_to(cols, (correct.shape[0], *cols.shape)), handles, legend)


@dataclass
class CorrelationSeries:
    """What the correlation views show, per snapshot."""

    confidence: np.ndarray  # (S, N) per-sample confidence
    activity: np.ndarray  # (S, N) per-sample layer activity
    colors: SampleColors
    maps: np.ndarray  # (S, H, W, 4) RGBA per-neuron correlation maps
    x: np.ndarray  # (S,) epochs of training
    rho: np.ndarray  # (S,) sample-level rank correlation, with its CI
    ci_low: np.ndarray
    ci_high: np.ndarray
    measure: str
    layer: str


@dataclass
class CorrelationFigure:
    """The correlation views; the listed artists follow the slider."""

    fig: Any
    scatter: Any
    scatter_title: Any
    image: Any
    marker: Any
    vline: Any
    outline: list[Any] = field(default_factory=list)  # over the map: redrawn after it

    @property
    def dynamic(self) -> list[Any]:
        return [self.scatter, self.scatter_title, self.image, *self.outline, self.marker, self.vline]


def correlation_figure(series: CorrelationSeries, renderer: Any, *, cmap: Any, norm: Any) -> CorrelationFigure:
    """Scatter (left), per-neuron correlation map (middle), correlation over training (right)."""
    fig = new_figure((10.5, 3.2))
    ax_s, ax_m, ax_c = fig.subplots(1, 3, width_ratios=[1.15, 0.9, 1.15])
    scatter, scatter_title = _scatter_panel(ax_s, series)
    image = _rho_map_panel(fig, ax_m, renderer, series.maps[0], cmap=cmap, norm=norm)
    marker, vline = _rho_curve_panel(ax_c, series)
    fig.set_layout_engine("constrained")
    return CorrelationFigure(fig, scatter, scatter_title, image, marker, vline, outline=list(ax_m.patches))


def _padded_limits(values: np.ndarray, share: float) -> tuple[float, float]:
    """Limits over all snapshots (fixed while the slider moves), padded by ``share`` of the range."""
    finite = values[np.isfinite(values)]
    lo, hi = (np.min(finite), np.max(finite)) if finite.size else (0.0, 1.0)
    pad = share * (hi - lo or 1)
    return lo - pad, hi + pad


def _scatter_panel(ax: Any, series: CorrelationSeries) -> tuple[Any, Any]:
    from matplotlib.lines import Line2D

    ax.set_xlim(*_padded_limits(series.confidence, 0.03))
    ax.set_ylim(*_padded_limits(series.activity, 0.05))
    ax.set_xlabel(f"confidence ({series.measure})", fontsize=8)
    ax.set_ylabel(f"mean activation of {series.layer}", fontsize=8)
    ax.tick_params(labelsize=7)
    if series.colors.handles:
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=label) for label, c in series.colors.handles]
        ax.legend(handles=handles, **series.colors.legend)
    scatter = ax.scatter(series.confidence[0], series.activity[0], s=6, c=series.colors.colors[0], alpha=0.7, lw=0)
    # a plain text, not the axes title: the title's automatic placement breaks when blitted
    title = ax.text(0.5, 1.03, "initial: ρ = 0.00 [0.00, 0.00]", transform=ax.transAxes, ha="center",
                    va="bottom", fontsize=9)
    return scatter, title


def _rho_map_panel(fig: Any, ax: Any, renderer: Any, first: np.ndarray, *, cmap: Any, norm: Any) -> Any:
    from matplotlib.cm import ScalarMappable

    draw_map_axes(ax, renderer)
    image = draw_map_image(ax, renderer, first, cmap=None, norm=None)
    ax.set_title("per-neuron ρ(activation, confidence)", fontsize=9)
    cb = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.8, pad=0.02)
    cb.ax.tick_params(labelsize=7)
    return image


def _rho_curve_panel(ax: Any, series: CorrelationSeries) -> tuple[Any, Any]:
    ax.axhline(0, color="0.6", lw=0.6)
    if np.isfinite(series.ci_low).any():
        ax.fill_between(series.x, series.ci_low, series.ci_high, color="tab:blue", alpha=0.2, lw=0, label="95% CI")
    ax.plot(series.x, series.rho, color="tab:blue", lw=1.2, label="Spearman ρ")
    ax.set_ylim(-1.02, 1.02)
    ax.set_xlabel("epochs of training", fontsize=8)
    ax.set_ylabel("ρ(confidence, activity)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    marker = ax.plot([], [], "o", color=_RED, ms=5)[0]
    vline = ax.axvline(series.x[0], color=_RED, lw=0.8, alpha=0.6)
    return marker, vline


def correlation_text(label: str, rho: float, lo: float, hi: float) -> str:
    """The scatter's title: ``"epoch 3: ρ = 0.42 [0.30, 0.52]"``."""
    text = f"{label}: ρ = {rho:.2f}" if np.isfinite(rho) else f"{label}: ρ undefined"
    if np.isfinite(lo):
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text
