"""The explorer's figures as static images (:mod:`actconf.widgets`), one snapshot at a time.

In a live notebook the explorer draws in the browser; these matplotlib figures are
what a saved or exported notebook shows instead (the static image beside the
widget), drawn with the same data, colours and limits:

- :func:`curve_figure` — probe accuracy and mean confidence over training with a
  marker at the snapshot;
- :func:`correlation_figure` (and :func:`correlation_frames`, every snapshot
  blitted from one figure, for the report's slider) — the per-sample scatter of confidence against
  activity, the per-neuron correlation map and the correlation over training (the
  sample-level curve, optional further curves, e.g. a scale-controlled one, and
  horizontal reference lines, e.g. the untrained network's value).

Nothing here computes statistics: the widget passes what :mod:`actconf.analysis` and
:mod:`actconf.confidence` computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._figure import new_figure
from ._mapaxes import draw_map_axes, draw_map_image

_RED = "tab:red"
_GOOD = np.array([0.17, 0.63, 0.17, 1.0])
_BAD = np.array([0.84, 0.15, 0.16, 1.0])


# ---------------------------------------------------------------------------- map grid as one image
def map_mosaic_figure(maps: np.ndarray, valid: np.ndarray, *, row_labels: list[str], col_labels: list[str],
                      notes: np.ndarray, title: str, cmap: str, limits: tuple[float, float], quantity: str,
                      dpi: int = 96):
    """A grid of already colour-mapped maps ``(R, C, H, W, 4)`` (row 0 at the top) in one Axes.

    The quick static counterpart of a map grid (one image instead of R x C Axes):
    grey where ``valid`` (H, W) is drawn but a map has no value, white outside;
    column labels above, row labels left, ``notes`` under each map, one colour bar.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    r, c, h, w = maps.shape[:4]
    gap_x, gap_y = max(4, w // 8), max(14, h // 4)
    mosaic = np.full((r * (h + gap_y), c * (w + gap_x), 4), 255, dtype=np.uint8)
    under = np.where(valid[..., None], np.array([224, 224, 224, 255], np.uint8), np.array([255] * 4, np.uint8))
    for i, j in np.ndindex(r, c):
        tile = maps[i, j]
        y, x = i * (h + gap_y), j * (w + gap_x)
        mosaic[y:y + h, x:x + w] = np.where(tile[..., 3:] > 0, tile, under)
    width_in = mosaic.shape[1] / dpi + (1.0 if any(row_labels) else 0.2) + 0.9
    fig = new_figure((width_in, mosaic.shape[0] / dpi + 0.6), layout=None, dpi=dpi)
    left = (0.9 if any(row_labels) else 0.1) / width_in
    ax = fig.add_axes((left, 0.02, mosaic.shape[1] / dpi / width_in, mosaic.shape[0] / dpi / fig.get_figheight()))
    ax.imshow(mosaic, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    for j, label in enumerate(col_labels):
        ax.text(j * (w + gap_x) + w / 2, -3, label, ha="center", va="bottom", fontsize=8)
    for i, label in enumerate(row_labels):
        ax.text(-6, i * (h + gap_y) + h / 2, label, ha="right", va="center", fontsize=8)
        for j in range(c):
            ax.text(j * (w + gap_x) + w / 2, i * (h + gap_y) + h + 2, str(notes[i, j]), ha="center", va="top",
                    fontsize=6.5, color="0.35")
    cax = fig.add_axes((left + mosaic.shape[1] / dpi / width_in + 0.1 / width_in, 0.1, 0.12 / width_in, 0.7))
    cb = fig.colorbar(ScalarMappable(Normalize(*limits), colormaps[cmap]), cax=cax)
    cb.set_label(quantity, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9, y=0.995, va="top")
    return fig


# ---------------------------------------------------------------------------- accuracy / confidence curves
def curve_figure(x: np.ndarray, accuracy: np.ndarray, mean_confidence: np.ndarray, measure: str, *,
                 index: int = -1, dpi: int | None = None):
    """Probe accuracy (top) and mean confidence (bottom) over ``x`` (epochs), marker at ``index``."""
    fig = new_figure((3.3, 3.2), dpi=dpi)
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
    for ax, y in ((ax1, accuracy), (ax2, mean_confidence)):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
        ax.axvline(x[index], color=_RED, lw=0.8, alpha=0.6)
        ax.plot([x[index]], [y[index]], "o", color=_RED, ms=5)
    fig.set_layout_engine("constrained")
    return fig


# ---------------------------------------------------------------------------- correlation views
@dataclass
class SampleColors:
    """Colour per snapshot and sample ``(S, N, 4)`` with the legend that explains it.

    ``codes`` (S, N) index ``palette`` (hex colours): the same colours for the browser.
    """

    colors: np.ndarray
    handles: list[tuple[str, Any]]  # (label, colour)
    legend: dict[str, Any] = field(default_factory=dict)
    codes: np.ndarray | None = None
    palette: list[str] = field(default_factory=list)


def sample_colors(labels: np.ndarray, correct: np.ndarray, class_names: list[str], color_by: str) -> SampleColors:
    """Samples coloured by true class (``"class"``) or by correct/wrong prediction (``"correct"``)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if color_by == "correct":
        colors = np.where(correct[..., None], _GOOD, _BAD)
        return SampleColors(colors, [("correct", _GOOD), ("wrong", _BAD)],
                            {"fontsize": 7, "loc": "best", "frameon": False},
                            codes=np.where(correct, 0, 1).astype(np.uint8), palette=[to_hex(_GOOD), to_hex(_BAD)])
    palette = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    codes = np.asarray(labels) % palette.N
    cols = palette(codes)
    handles = [(str(nm), palette(k % palette.N)) for k, nm in enumerate(class_names)] if len(class_names) <= 20 else []
    legend = {"fontsize": 6, "ncol": 2 if len(class_names) > 10 else 1, "loc": "center left",
              "bbox_to_anchor": (1.0, 0.5), "frameon": False, "title": "class", "title_fontsize": 7,
              "handletextpad": 0.1, "borderaxespad": 0.2}
    return SampleColors(np.broadcast_to(cols, (correct.shape[0], *cols.shape)), handles, legend,
                        codes=np.broadcast_to(codes.astype(np.uint8), correct.shape),
                        palette=[to_hex(palette(k)) for k in range(palette.N)])


@dataclass
class CorrelationSeries:
    """What the correlation views show, per snapshot.

    ``curves`` are further curves of the correlation chart (label -> (S,) values,
    e.g. the scale-controlled correlation, drawn dotted), ``bands`` their confidence
    bands (label -> (low, high)), and ``references`` horizontal reference lines
    (label -> value, e.g. the untrained network's correlation, drawn dashed); all
    empty by default.
    """

    confidence: np.ndarray  # (S, N) per-sample confidence
    activity: np.ndarray  # (S, N) per-sample layer activity
    colors: SampleColors
    maps: np.ndarray  # (S, H, W) per-neuron correlation maps (NaN: not drawn)
    x: np.ndarray  # (S,) epochs of training
    rho: np.ndarray  # (S,) sample-level rank correlation, with its CI
    ci_low: np.ndarray
    ci_high: np.ndarray
    measure: str
    layer: str
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    bands: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)
    #: Colours of the further curves, in order.
    EXTRA_COLORS: ClassVar[tuple[str, ...]] = ("#ff7f0e", "#2ca02c", "#8c564b")
    #: Colours of the reference lines, in order: the first in the raw curve's colour (it is the raw
    #: correlation of the untrained network, as in ``plot_correlation``).
    REFERENCE_COLORS: ClassVar[tuple[str, ...]] = ("#1f77b4", "#9467bd", "#7f7f7f")


#: Labels of the correlation chart's scale-controlled curve and untrained reference line.
CONTROLLED = "controlled for logit spread"
UNTRAINED = "untrained (snapshot 0)"


def baseline_and_control(table: Any, n: int | None = None) -> dict[str, Any]:
    """``curves``, ``bands`` and ``references`` of a :class:`CorrelationSeries` from one layer's
    ``activity_confidence(..., control=True)`` table (its first ``n`` rows): the scale-controlled
    correlation with its CI, and the first snapshot's (untrained) raw correlation."""
    col = {name: table[name].to_numpy(dtype=float)[:n] for name in ("rho", "rho_ctrl", "ci_low_ctrl", "ci_high_ctrl")}
    first = float(col["rho"][0]) if len(col["rho"]) else float("nan")
    return {"curves": {CONTROLLED: col["rho_ctrl"]},
            "bands": {CONTROLLED: (col["ci_low_ctrl"], col["ci_high_ctrl"])},
            "references": {UNTRAINED: first} if np.isfinite(first) else {}}


def correlation_figure(series: CorrelationSeries, renderer: Any, *, label: str, index: int = -1,
                       dpi: int | None = None, figsize: tuple[float, float] = (10.5, 3.2)):
    """Scatter (left), per-neuron correlation map (middle), correlation over training (right) at ``index``."""
    return _CorrelationArtists(series, renderer, index, label, dpi, figsize).fig


def correlation_frames(series: CorrelationSeries, renderer: Any, labels: list[str], *, dpi: int | None = None,
                       figsize: tuple[float, float] = (10.5, 3.2)) -> Iterator[np.ndarray]:
    """The correlation views at every snapshot as RGBA canvas pixels (one figure, blitted per snapshot)."""
    from ._grid_engine import Blitter

    art = _CorrelationArtists(series, renderer, 0, labels[0], dpi, figsize)
    blitter = Blitter(art.fig, art.dynamic)
    blitter.freeze()
    for i, label in enumerate(labels):
        art.show(i, label)
        yield blitter.draw().copy()


class _CorrelationArtists:
    """The three correlation panels and the artists that change with the snapshot."""

    def __init__(self, series: CorrelationSeries, renderer: Any, index: int, label: str, dpi: int | None,
                 figsize: tuple[float, float]) -> None:
        self.series = series
        self.fig = new_figure(figsize, dpi=dpi)
        ax_s, ax_m, ax_c = self.fig.subplots(1, 3, width_ratios=[1.15, 0.9, 1.15])
        self.scatter, self.title = _scatter_panel(ax_s, series, index, label)
        self.image = _rho_map_panel(self.fig, ax_m, renderer, series.maps[index])
        self.outline = list(ax_m.patches)
        self.marker, self.vline = _rho_curve_panel(ax_c, series, index)

    @property
    def dynamic(self) -> list[Any]:
        return [self.scatter, self.title, self.image, *self.outline, self.marker, self.vline]

    def show(self, i: int, label: str) -> None:
        s = self.series
        self.scatter.set_offsets(np.column_stack([s.confidence[i], s.activity[i]]))
        self.scatter.set_facecolor(s.colors.colors[i])
        self.title.set_text(correlation_text(label, s.rho[i], s.ci_low[i], s.ci_high[i]))
        self.image.set_data(s.maps[i])
        self.marker.set_data([s.x[i]], [s.rho[i]])
        self.vline.set_xdata([s.x[i], s.x[i]])


def padded_limits(values: np.ndarray, share: float) -> tuple[float, float]:
    """Limits over all snapshots (fixed while the slider moves), padded by ``share`` of the range."""
    finite = values[np.isfinite(values)]
    lo, hi = (np.min(finite), np.max(finite)) if finite.size else (0.0, 1.0)
    pad = share * (hi - lo or 1)
    return float(lo - pad), float(hi + pad)


def _scatter_panel(ax: Any, series: CorrelationSeries, index: int, label: str) -> tuple[Any, Any]:
    from matplotlib.lines import Line2D

    ax.set_xlim(*padded_limits(series.confidence, 0.03))
    ax.set_ylim(*padded_limits(series.activity, 0.05))
    ax.set_xlabel(f"confidence ({series.measure})", fontsize=8)
    ax.set_ylabel(f"mean activation of {series.layer}", fontsize=8)
    ax.tick_params(labelsize=7)
    if series.colors.handles:
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=lab) for lab, c in series.colors.handles]
        ax.legend(handles=handles, **series.colors.legend)
    scatter = ax.scatter(series.confidence[index], series.activity[index], s=6, c=series.colors.colors[index],
                         alpha=0.7, lw=0)
    # a plain text, not the axes title: the title's automatic placement breaks when blitted
    text = correlation_text(label, series.rho[index], series.ci_low[index], series.ci_high[index])
    title = ax.text(0.5, 1.03, text, transform=ax.transAxes, ha="center", va="bottom", fontsize=9)
    return scatter, title


def _rho_map_panel(fig: Any, ax: Any, renderer: Any, image: np.ndarray) -> Any:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap, norm = colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0)), Normalize(-1, 1)
    draw_map_axes(ax, renderer)
    artist = draw_map_image(ax, renderer, image, cmap=cmap, norm=norm)
    ax.set_title("per-neuron ρ(activation, confidence)", fontsize=9)
    cb = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.8, pad=0.02)
    cb.set_label("Spearman ρ (diverging, −1 to 1)", fontsize=7)
    cb.ax.tick_params(labelsize=7)
    return artist


def _rho_curve_panel(ax: Any, series: CorrelationSeries, index: int) -> tuple[Any, Any]:
    ax.axhline(0, color="0.6", lw=0.6)
    for (name, value), color in zip(series.references.items(), series.REFERENCE_COLORS, strict=False):
        ax.axhline(value, color=color, lw=0.9, ls="--", label=name)
    if np.isfinite(series.ci_low).any():
        ax.fill_between(series.x, series.ci_low, series.ci_high, color="tab:blue", alpha=0.2, lw=0, label="95% CI")
    ax.plot(series.x, series.rho, color="tab:blue", lw=1.2, label="Spearman ρ")
    for (name, values), color in zip(series.curves.items(), series.EXTRA_COLORS, strict=False):
        if name in series.bands and np.isfinite(series.bands[name][0]).any():
            ax.fill_between(series.x, *series.bands[name], color=color, alpha=0.15, lw=0)
        ax.plot(series.x, values, color=color, lw=1.4, ls=":", label=name)
    ax.set_ylim(-1.02, 1.02)
    ax.set_xlabel("epochs of training", fontsize=8)
    ax.set_ylabel("ρ(confidence, activity)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    marker = ax.plot([series.x[index]], [series.rho[index]], "o", color=_RED, ms=5)[0]
    vline = ax.axvline(series.x[index], color=_RED, lw=0.8, alpha=0.6)
    return marker, vline


def correlation_text(label: str, rho: float, lo: float, hi: float) -> str:
    """The scatter's title: ``"epoch 3: ρ = 0.42 [0.30, 0.52]"``."""
    text = f"{label}: ρ = {rho:.2f}" if np.isfinite(rho) else f"{label}: ρ undefined"
    if np.isfinite(lo):
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text
