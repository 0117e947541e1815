"""Interactive explorers: topographic maps and activity–confidence views with an epoch slider.

:func:`explore` shows a grid of maps (groups of probe inputs by class, confidence,
correct/wrong or class x confidence) for one snapshot at a time, a Play button and
a slider over snapshots (labelled by epoch and batch), a layer dropdown, a grouping
toggle and a confidence-measure dropdown; beside the maps the probe accuracy and
mean confidence over training with a marker at the current snapshot; below them
the activity–confidence views of :func:`explore_correlation`.

:func:`explore_correlation` shows, for the current snapshot, a per-sample scatter
of confidence against layer activity (coloured by class or correct/wrong, with the
rank correlation and its bootstrap CI in the title), the per-neuron correlation as
a topographic map, and the correlation over training with a marker.

How it stays fast
-----------------
When the layer, grouping or measure changes, everything the slider can show is
computed once (with a progress bar): NAPs and statistics for every snapshot, and
all maps of all snapshots rendered by one product with the layout's interpolation
operator and colour-mapped to RGBA. Moving the slider then only swaps image data
in place (``set_data``) and redraws the changing artists over a cached background
(blitting); nothing is re-interpolated and no figure is rebuilt. Colour limits and
axis limits are fixed across snapshots, so motion means change.

The figures are shown as PNG images (``ipywidgets.Image``), which works in
JupyterLab, classic notebooks, VS Code and saved/exported notebooks without a
matplotlib widget backend.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validation import check_float, check_int, check_option, param_error
from .confidence import available_measures
from .errors import InvalidInputError, MissingDataError

__all__ = ["explore", "explore_correlation"]

#: Grouping toggle labels -> ``by`` of :func:`actconf.naps.naps`.
GROUPINGS: dict[str, str] = {
    "class": "class",
    "confidence": "confidence",
    "correct / wrong": "correct",
    "class × confidence": "class+confidence",
}
_FRAME_BUDGET_BYTES = 256 << 20  # precomputed RGBA frames above this are drawn on the fly
_CLASS_COLORS = "tab10"


# ---------------------------------------------------------------------------- helpers
def _encode(rgba: np.ndarray, fmt: str = "jpeg") -> bytes:
    """Encode canvas pixels for an ``ipywidgets.Image``.

    JPEG (quality 92, no chroma subsampling) takes ~1 ms for a 3 x 10 map grid where
    PNG takes ~30 ms, which would dominate the slider latency; at this quality the
    smooth maps and small labels show no visible artefacts. PNG for small figures.
    """
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    if fmt == "jpeg":
        image.save(buf, format="JPEG", quality=92, subsampling=0)
    else:
        image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class _Blitter:
    """Redraw only some artists of a figure over a cached background."""

    def __init__(self, fig: Any, dynamic: list[Any]) -> None:
        self.fig = fig
        self.dynamic = dynamic
        self._bg = None

    def freeze(self) -> None:
        self.fig.canvas.draw()
        self.fig.set_layout_engine("none")
        for a in self.dynamic:
            a.set_visible(False)
        self.fig.canvas.draw()
        self._bg = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        for a in self.dynamic:
            a.set_visible(True)

    def draw(self) -> np.ndarray:
        if self._bg is None:
            self.freeze()
        self.fig.canvas.restore_region(self._bg)
        for a in self.dynamic:
            if a.axes is not None:
                a.axes.draw_artist(a)
            else:
                self.fig.draw_artist(a)
        return np.asarray(self.fig.canvas.buffer_rgba())


def _check_run(run: Any, caller: str):
    from .store import Run

    if not isinstance(run, Run):
        raise param_error("run", caller, "an actconf Run (from actconf.open_run)", type(run).__name__)
    return run


def _resolve_layout(run: Any, layer: str, layout: Any, cache: dict[str, Any], caller: str) -> Any:
    """The layout of ``layer``: given (array/Layout/TopoRenderer or dict per layer), saved, or computed."""
    if layer in cache:
        return cache[layer]
    given = layout.get(layer) if isinstance(layout, Mapping) else layout
    if given is not None:
        n = run.layer_sizes[layer]
        size = given.n_neurons if hasattr(given, "operator") else np.shape(getattr(given, "positions", given))[0]
        if size != n:
            if isinstance(layout, Mapping):
                raise InvalidInputError(f"{caller}: the layout given for layer {layer!r} has {size} neurons; "
                                        f"the layer has {n}.")
            given = None  # a single layout of another layer: use this layer's saved/computed one
    if given is None:
        from .layout import layout_from_run, load_layout

        try:
            given = load_layout(run, layer)
        except MissingDataError:
            print(f"No saved layout for layer {layer!r}: computing one (UMAP + refinement). "
                  f"Save it with actconf.layout.layout_from_run(run, {layer!r}).save(run) to skip this.")
            given = layout_from_run(run, layer)
    cache[layer] = given
    return given


# ---------------------------------------------------------------------------- precomputation
class _MapState:
    """Everything the slider needs for one (layer, grouping, measure)."""

    def __init__(self, run: Any, layer: str, by: str, measure: str, bins: Any, contrastive: bool,
                 layout: Any, progress: bool, resolution: int) -> None:
        from tqdm.auto import tqdm

        from .naps import naps
        from .plots._maps import MapGridFigure, build_panels, grid_limits
        from .render import TopoRenderer, get_renderer

        caller = "explore()"
        if bins is None:
            bins = "quantile:3" if "+" in by else "quantile:5"
        nap = naps(run, layer, by=by, measure=measure, bins=bins, contrastive=contrastive)
        self.renderer = layout if isinstance(layout, TopoRenderer) else get_renderer(layout, resolution=resolution)
        self.panels = build_panels(nap, frames=True, caller=caller)
        if self.panels.values.shape[-1] != self.renderer.n_neurons:
            raise InvalidInputError(f"{caller}: layer {layer!r} has {self.panels.values.shape[-1]} neurons but "
                                    f"its layout has {self.renderer.n_neurons}.")
        limits = grid_limits(self.panels.values, vlim=None, share="all", caller=caller)
        self.grid = MapGridFigure(self.panels, self.renderer, limits=limits, panel_size=1.25)
        self.grid.fig.set_dpi(80)
        table = run.snapshots
        self.titles = [f"{self.panels.title} · {table['label'].iloc[s] if 'label' in table else lab}"
                       for s, lab in zip(self.panels.frame_snapshots, self.panels.frame_labels, strict=True)]
        f = self.panels.values.shape[0]
        r, c = self.panels.values.shape[1:3]
        h, w = self.renderer.shape
        self.frames: np.ndarray | None = None
        if f * r * c * h * w * 4 <= _FRAME_BUDGET_BYTES:
            self.frames = np.empty((f, r, c, h, w, 4), dtype=np.uint8)
            step = max(1, (8 << 20) // max(1, r * c * h * w * 8))
            with tqdm(total=f, desc=f"{layer}: rendering maps", unit="snapshot", disable=not progress) as bar:
                for start in range(0, f, step):
                    stop = min(f, start + step)
                    self.frames[start:stop] = self.grid.to_rgba(self.renderer.render(self.panels.values[start:stop]))
                    bar.update(stop - start)
        self.grid.show(self.renderer.render(self.panels.values[0]), self.panels.notes[0], self.titles[0])
        self.grid.freeze()

    def frame(self, i: int) -> np.ndarray:
        if self.frames is not None:
            return self.frames[i]
        return self.grid.to_rgba(self.renderer.render(self.panels.values[i]))

    def draw(self, i: int) -> np.ndarray:
        return self.grid.blit(self.frame(i), self.panels.notes[i], self.titles[i])


class _CurveState:
    """Probe accuracy and mean confidence over training, with a marker."""

    def __init__(self, run: Any, measure: str, conf: Any) -> None:
        from .plots._maps import _new_figure

        values = np.asarray(conf.values, dtype=float)
        pred = np.asarray(conf["prediction"].values)
        labels = np.asarray(run.labels)
        self.x = np.asarray(run.snapshots["progress"], dtype=float)[: values.shape[0]]
        self.accuracy = (pred == labels[None, :]).mean(axis=1)
        self.mean_conf = np.nanmean(values, axis=1)
        fig = _new_figure((3.3, 3.2))
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        ax1.plot(self.x, self.accuracy, color="k", lw=1.2)
        ax1.set_ylabel("probe accuracy", fontsize=8)
        ax1.set_ylim(0, 1.02)
        ax2.plot(self.x, self.mean_conf, color="tab:purple", lw=1.2)
        ax2.set_ylabel(f"mean {measure}", fontsize=8)
        ax2.set_xlabel("epochs of training", fontsize=8)
        lo, hi = np.nanmin(self.mean_conf), np.nanmax(self.mean_conf)
        pad = 0.05 * (hi - lo) if hi > lo else 0.05
        ax2.set_ylim(lo - pad, hi + pad)
        for ax in (ax1, ax2):
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3, lw=0.5)
        self.markers = [ax1.plot([], [], "o", color="tab:red", ms=5)[0], ax2.plot([], [], "o", color="tab:red", ms=5)[0]]
        self.lines = [ax1.axvline(self.x[0], color="tab:red", lw=0.8, alpha=0.6),
                      ax2.axvline(self.x[0], color="tab:red", lw=0.8, alpha=0.6)]
        self.fig = fig
        self.blitter = _Blitter(fig, [*self.lines, *self.markers])

    def draw(self, i: int) -> np.ndarray:
        for line in self.lines:
            line.set_xdata([self.x[i], self.x[i]])
        self.markers[0].set_data([self.x[i]], [self.accuracy[i]])
        self.markers[1].set_data([self.x[i]], [self.mean_conf[i]])
        return self.blitter.draw()


class _CorrelationState:
    """Per-sample scatter, per-neuron correlation map and correlation curve, for one snapshot at a time."""

    def __init__(self, run: Any, layer: str, measure: str, conf: Any, layout: Any, color_by: str,
                 n_boot: int, progress: bool, resolution: int) -> None:
        from matplotlib import colormaps
        from matplotlib.colors import Normalize
        from tqdm.auto import tqdm

        from .analysis import activity_confidence, neuron_correlation, sample_activity
        from .plots._maps import _new_figure, _outline, _style_map_axes, _underlay
        from .render import TopoRenderer, get_renderer

        with tqdm(total=3, desc=f"{layer}: activity–confidence", disable=not progress) as bar:
            self.conf = np.asarray(conf.values, dtype=float)
            self.act = np.asarray(sample_activity(run, layer=layer).values, dtype=float)
            bar.update()
            table = activity_confidence(run, layers=layer, measure=measure, n_boot=n_boot)
            bar.update()
            rho_n = np.asarray(neuron_correlation(run, layer=layer, measure=measure).values, dtype=float)
            bar.update()
        s = self.conf.shape[0]
        self.rho = table["rho"].to_numpy(dtype=float)[:s]
        self.lo = table["ci_low"].to_numpy(dtype=float)[:s]
        self.hi = table["ci_high"].to_numpy(dtype=float)[:s]
        self.x = table["progress"].to_numpy(dtype=float)[:s]
        pred = np.asarray(conf["prediction"].values)
        labels = np.asarray(run.labels)
        self.correct = pred == labels[None, :]
        renderer = layout if isinstance(layout, TopoRenderer) else get_renderer(layout, resolution=resolution)
        if renderer.n_neurons != rho_n.shape[1]:
            raise InvalidInputError(f"explore_correlation(): layer {layer!r} has {rho_n.shape[1]} neurons but "
                                    f"its layout has {renderer.n_neurons}.")
        self.cmap = colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))
        self.norm = Normalize(-1, 1)
        self.maps = self.cmap(self.norm(renderer.render(rho_n)), bytes=True)  # (S, H, W, 4)

        fig = _new_figure((10.5, 3.2))
        ax_s, ax_m, ax_c = fig.subplots(1, 3, width_ratios=[1.15, 0.9, 1.15])
        # scatter: fixed limits over all snapshots
        xs, ys = self.conf[np.isfinite(self.conf)], self.act[np.isfinite(self.act)]
        xl = (np.min(xs), np.max(xs)) if xs.size else (0.0, 1.0)
        yl = (np.min(ys), np.max(ys)) if ys.size else (0.0, 1.0)
        xpad = 0.03 * (xl[1] - xl[0] or 1)
        ypad = 0.05 * (yl[1] - yl[0] or 1)
        ax_s.set_xlim(xl[0] - xpad, xl[1] + xpad)
        ax_s.set_ylim(yl[0] - ypad, yl[1] + ypad)
        ax_s.set_xlabel(f"confidence ({measure})", fontsize=8)
        ax_s.set_ylabel(f"mean activation of {layer}", fontsize=8)
        ax_s.tick_params(labelsize=7)
        self.color_by = color_by
        if color_by == "class":
            palette = colormaps[_CLASS_COLORS if run.n_classes <= 10 else "tab20"]
            cols = palette(np.asarray(run.labels) % palette.N)
            self.colors = np.broadcast_to(cols, (s, *cols.shape))
            from matplotlib.lines import Line2D

            names = list(run.class_names)
            if len(names) <= 20:
                handles = [Line2D([], [], ls="", marker="o", ms=4, color=palette(k % palette.N), label=str(nm))
                           for k, nm in enumerate(names)]
                ax_s.legend(handles=handles, fontsize=6, ncol=2 if len(names) > 10 else 1, loc="center left",
                            bbox_to_anchor=(1.0, 0.5), frameon=False, title="class", title_fontsize=7,
                            handletextpad=0.1, borderaxespad=0.2)
        else:
            good, bad = np.array([0.17, 0.63, 0.17, 1.0]), np.array([0.84, 0.15, 0.16, 1.0])
            self.colors = np.where(self.correct[..., None], good, bad)
            from matplotlib.lines import Line2D

            ax_s.legend(handles=[Line2D([], [], ls="", marker="o", ms=4, color=good, label="correct"),
                                 Line2D([], [], ls="", marker="o", ms=4, color=bad, label="wrong")],
                        fontsize=7, loc="best", frameon=False)
        self.scatter = ax_s.scatter(self.conf[0], self.act[0], s=6, c=self.colors[0], alpha=0.7, lw=0)
        # a plain text, not the axes title: the title's automatic placement breaks when blitted
        self.scatter_title = ax_s.text(0.5, 1.03, "initial: ρ = 0.00 [0.00, 0.00]", transform=ax_s.transAxes,
                                       ha="center", va="bottom", fontsize=9)
        # per-neuron correlation map
        _underlay(ax_m, renderer)
        self.image = ax_m.imshow(self.maps[0], origin="lower", extent=renderer.extent, interpolation="antialiased",
                                 zorder=0.5)
        _style_map_axes(ax_m, renderer)
        _outline(ax_m, renderer)
        ax_m.set_title("per-neuron ρ(activation, confidence)", fontsize=9)
        from matplotlib.cm import ScalarMappable

        cb = fig.colorbar(ScalarMappable(self.norm, self.cmap), ax=ax_m, shrink=0.8, pad=0.02)
        cb.ax.tick_params(labelsize=7)
        # correlation over training
        ax_c.axhline(0, color="0.6", lw=0.6)
        if np.isfinite(self.lo).any():
            ax_c.fill_between(self.x, self.lo, self.hi, color="tab:blue", alpha=0.2, lw=0, label="95% CI")
        ax_c.plot(self.x, self.rho, color="tab:blue", lw=1.2, label="Spearman ρ")
        ax_c.set_ylim(-1.02, 1.02)
        ax_c.set_xlabel("epochs of training", fontsize=8)
        ax_c.set_ylabel("ρ(confidence, activity)", fontsize=8)
        ax_c.tick_params(labelsize=7)
        ax_c.grid(alpha=0.3, lw=0.5)
        ax_c.legend(fontsize=7, loc="lower right", frameon=False)
        self.marker = ax_c.plot([], [], "o", color="tab:red", ms=5)[0]
        self.vline = ax_c.axvline(self.x[0], color="tab:red", lw=0.8, alpha=0.6)
        fig.set_layout_engine("constrained")
        self.fig = fig
        self.blitter = _Blitter(fig, [self.scatter, self.scatter_title, self.image, self.marker, self.vline])

    def draw(self, i: int, label: str) -> np.ndarray:
        self.scatter.set_offsets(np.column_stack([self.conf[i], self.act[i]]))
        self.scatter.set_facecolor(self.colors[i])
        rho, lo, hi = self.rho[i], self.lo[i], self.hi[i]
        text = f"{label}: ρ = {rho:.2f}" if np.isfinite(rho) else f"{label}: ρ undefined"
        if np.isfinite(lo):
            text += f" [{lo:.2f}, {hi:.2f}]"
        self.scatter_title.set_text(text)
        self.image.set_data(self.maps[i])
        self.marker.set_data([self.x[i]], [self.rho[i]])
        self.vline.set_xdata([self.x[i], self.x[i]])
        return self.blitter.draw()


# ---------------------------------------------------------------------------- the widget
def _make_explorer_class():
    import ipywidgets as widgets

    class _Explorer(widgets.VBox):
        """The explorer box; see :func:`explore`. Attributes give programmatic access:
        ``slider``, ``play``, ``layer_dropdown``, ``grouping``, ``measure_dropdown``,
        ``maps_view``, ``curve_view``, ``correlation_view`` (``ipywidgets.Image``),
        ``maps`` (the current map grid, with ``maps.grid.images`` the AxesImages)."""

        def __init__(self, run: Any, *, layer: str, by: str, measure: str, layout: Any, bins: Any,
                     contrastive: bool, show_maps: bool, correlation: bool, color_by: str, n_boot: int,
                     live: bool, poll_seconds: float, progress: bool, resolution: int) -> None:
            self.run = run
            self._layout_arg = layout
            self._layouts: dict[str, Any] = {}
            self._bins = bins
            self._contrastive = contrastive
            self._show_maps = show_maps
            self._correlation = correlation
            self._color_by = color_by
            self._n_boot = n_boot
            self._progress = progress
            self._resolution = resolution
            self._cache: dict[tuple, Any] = {}
            self.maps = self.curve = self.corr = None
            n = run.n_snapshots
            labels = list(run.snapshots["label"])
            self.play = widgets.Play(value=n - 1, min=0, max=n - 1, step=1, interval=400, description="play")
            self.slider = widgets.IntSlider(value=n - 1, min=0, max=n - 1, step=1, readout=False,
                                            continuous_update=True, description="snapshot",
                                            layout=widgets.Layout(width="420px"))
            widgets.jslink((self.play, "value"), (self.slider, "value"))
            self.snapshot_label = widgets.Label(labels[-1])
            self.layer_dropdown = widgets.Dropdown(options=list(run.layers), value=layer, description="layer",
                                                   layout=widgets.Layout(width="230px"))
            self.grouping = widgets.ToggleButtons(options=list(GROUPINGS), value=_grouping_label(by),
                                                  description="groups", style={"button_width": "auto"})
            self.measure_dropdown = widgets.Dropdown(options=available_measures(run), value=measure,
                                                     description="confidence", layout=widgets.Layout(width="260px"))
            self.status = widgets.Label("")
            self.maps_view = widgets.Image(format="jpeg")
            self.curve_view = widgets.Image(format="png")
            self.correlation_view = widgets.Image(format="jpeg")
            controls = [widgets.HBox([self.play, self.slider, self.snapshot_label])]
            settings = [self.layer_dropdown, self.measure_dropdown]
            if show_maps:
                controls.append(self.grouping)
            controls.append(widgets.HBox([*settings, self.status]))
            views = []
            if show_maps:
                views.append(widgets.HBox([self.maps_view, self.curve_view]))
            if correlation:
                views.append(self.correlation_view)
            super().__init__(children=[*controls, *views])
            self._recompute()
            self.slider.observe(self._on_slider, names="value")
            for w in (self.layer_dropdown, self.grouping, self.measure_dropdown):
                w.observe(self._on_setting, names="value")
            self._stop = threading.Event()
            self._thread = None
            if live:
                self._thread = threading.Thread(target=self._poll_loop, args=(poll_seconds,), daemon=True,
                                                name="actconf-explorer-live")
                self._thread.start()

        # -- state -------------------------------------------------------------------------
        @property
        def by(self) -> str:
            return GROUPINGS[self.grouping.value]

        def _recompute(self) -> None:
            from .confidence import confidence

            layer, measure = self.layer_dropdown.value, self.measure_dropdown.value
            n = self.run.n_snapshots
            self.status.value = "computing…"
            layout = _resolve_layout(self.run, layer, self._layout_arg, self._layouts, "explore()")
            ckey = ("conf", measure, n)
            if ckey not in self._cache:
                self._cache[ckey] = confidence(self.run, measure=measure)
            conf = self._cache[ckey]
            if self._show_maps:
                key = ("maps", layer, self.by, measure, n)
                if key not in self._cache:
                    self._cache[key] = _MapState(self.run, layer, self.by, measure, self._bins, self._contrastive,
                                                 layout, self._progress, self._resolution)
                self.maps = self._cache[key]
                key = ("curve", measure, n)
                if key not in self._cache:
                    self._cache[key] = _CurveState(self.run, measure, conf)
                self.curve = self._cache[key]
            if self._correlation:
                key = ("corr", layer, measure, n)
                if key not in self._cache:
                    self._cache[key] = _CorrelationState(self.run, layer, measure, conf, layout, self._color_by,
                                                         self._n_boot, self._progress, self._resolution)
                self.corr = self._cache[key]
            self.status.value = ""
            self.show(self.slider.value)

        def show(self, i: int) -> None:
            """Display snapshot position ``i`` (what moving the slider does)."""
            i = int(i)
            label = str(self.run.snapshots["label"].iloc[i])
            self.snapshot_label.value = label
            if self.maps is not None:
                self.maps_view.value = _encode(self.maps.draw(i))
                self.curve_view.value = _encode(self.curve.draw(i), "png")
            if self.corr is not None:
                self.correlation_view.value = _encode(self.corr.draw(i, label))

        def _on_slider(self, change: dict) -> None:
            self.show(change["new"])

        def _on_setting(self, change: dict) -> None:
            self._recompute()

        # -- live runs ----------------------------------------------------------------------
        def poll(self) -> int:
            """Pick up snapshots a still-running training added; return how many are new."""
            before = self.run.n_snapshots
            self.run.refresh()
            added = self.run.n_snapshots - before
            if added > 0:
                at_end = self.slider.value == before - 1
                # drop precomputed states of the old length; the next _recompute rebuilds
                self._cache = {k: v for k, v in self._cache.items() if k[-1] == self.run.n_snapshots}
                self.play.max = self.slider.max = self.run.n_snapshots - 1
                if at_end:
                    with self.hold_trait_notifications():
                        self.slider.unobserve(self._on_slider, names="value")
                        self.slider.value = self.run.n_snapshots - 1
                        self.slider.observe(self._on_slider, names="value")
                self._recompute()
            return added

        def _poll_loop(self, seconds: float) -> None:
            while not self._stop.wait(seconds):
                try:
                    self.poll()
                except Exception as exc:  # noqa: BLE001 - keep the UI alive; show the problem
                    self.status.value = f"live update failed: {exc}"

        def close(self) -> None:
            """Stop live updates and close the widgets."""
            self._stop.set()
            super().close()

    return _Explorer


def _grouping_label(by: str) -> str:
    for label, value in GROUPINGS.items():
        if value == by:
            return label
    raise KeyError(by)


_EXPLORER_CLASS = None


def _explorer_class():
    global _EXPLORER_CLASS
    if _EXPLORER_CLASS is None:
        _EXPLORER_CLASS = _make_explorer_class()
    return _EXPLORER_CLASS


def _validate(run: Any, layer: Any, measure: Any, caller: str) -> tuple[Any, str, str]:
    run = _check_run(run, caller)
    if run.n_snapshots < 1:
        raise InvalidInputError(f"{caller}: the run has no snapshots yet; start training (or wait) first.")
    layer = run.check_layer(layer)
    measures = available_measures(run)
    check_option("measure", measure, measures, caller)
    return run, layer, measure


def explore(
    run: Any,
    layer: str | None = None,
    *,
    by: str = "confidence",
    measure: str = "max_softmax",
    layout: Any = None,
    bins: Any = None,
    contrastive: bool = True,
    correlation: bool = True,
    live: bool = False,
    poll_seconds: float = 5.0,
    progress: bool = True,
):
    """Explore a run: topographic maps per group with an epoch slider.

    Parameters
    ----------
    run : Run
        A recorded run (:func:`actconf.open_run`); it may still be recording
        (``live=True``).
    layer : str, optional
        Initial layer (first recorded by default); the dropdown switches layers.
    by : {"class", "confidence", "correct", "class+confidence"}, default="confidence"
        Initial grouping of the probe inputs (the toggle switches).
    measure : str, default="max_softmax"
        Initial confidence measure (those the run supports are in the dropdown).
    layout : Layout, array, TopoRenderer or dict layer -> layout, optional
        Neuron positions. By default the layout saved in the run
        (:func:`actconf.layout.load_layout`), else one is computed with
        :func:`actconf.layout.layout_from_run` (UMAP + refinement; slow the first
        time in a process).
    bins : optional
        Confidence bins for :func:`actconf.naps.naps`; default equal-count bins
        (``"quantile:5"``, or ``"quantile:3"`` for class x confidence, giving a
        3 x n_classes grid), whose ranges are given under each map.
    contrastive : bool, default=True
        Contrastive NAPs (each group minus the mean over groups), as in the paper.
    correlation : bool, default=True
        Also show the activity–confidence views of :func:`explore_correlation`.
    live : bool, default=False
        Poll the run every ``poll_seconds`` for snapshots that a still-running
        training adds (:meth:`Run.refresh`); the slider grows, and follows the
        newest snapshot if it was at the end. ``explorer.poll()`` does one check.
    poll_seconds : float, default=5
    progress : bool, default=True
        Progress bars while frames are precomputed.

    Returns
    -------
    ipywidgets.VBox
        The explorer. Its ``slider`` selects the snapshot; ``show(i)`` does the same
        from code; ``close()`` stops live polling.
    """
    caller = "explore()"
    run, layer, measure = _validate(run, layer, measure, caller)
    from .naps import parse_by

    by_t = parse_by(by, caller)
    by = "+".join(by_t)
    if by not in GROUPINGS.values():
        raise param_error("by", caller, "one of " + ", ".join(repr(v) for v in GROUPINGS.values()), by)
    if not isinstance(contrastive, bool):
        raise param_error("contrastive", caller, "True or False", contrastive)
    poll_seconds = check_float("poll_seconds", poll_seconds, caller, min_value=0.1)
    return _explorer_class()(run, layer=layer, by=by, measure=measure, layout=layout, bins=bins,
                             contrastive=contrastive, show_maps=True, correlation=bool(correlation),
                             color_by="class", n_boot=500, live=bool(live), poll_seconds=poll_seconds,
                             progress=bool(progress), resolution=100)


def explore_correlation(
    run: Any,
    layer: str | None = None,
    *,
    measure: str = "max_softmax",
    layout: Any = None,
    color_by: str = "class",
    n_boot: int = 500,
    live: bool = False,
    progress: bool = True,
):
    """Confidence–activity correlation plots with an epoch slider.

    For the snapshot under the slider: a scatter of every probe sample's confidence
    against its mean activation in ``layer`` (rank correlation and bootstrap CI in
    the title), each neuron's Spearman correlation with confidence drawn on the
    layer's map, and the correlation over training with a marker at the snapshot.
    Axis and colour limits are fixed across snapshots.

    Parameters
    ----------
    run : Run
    layer : str, optional
        First recorded layer by default (the dropdown switches).
    measure : str, default="max_softmax"
        Confidence measure (the dropdown switches).
    layout : Layout, array, TopoRenderer or dict layer -> layout, optional
        As in :func:`explore`.
    color_by : {"class", "correct"}, default="class"
        Colour samples by true class or by correct/wrong prediction.
    n_boot : int, default=500
        Bootstrap resamples of the CI (0: no CI).
    live : bool, default=False
        As in :func:`explore`.
    progress : bool, default=True

    Returns
    -------
    ipywidgets.VBox
    """
    caller = "explore_correlation()"
    run, layer, measure = _validate(run, layer, measure, caller)
    check_option("color_by", color_by, ("class", "correct"), caller)
    n_boot = check_int("n_boot", n_boot, caller, min_value=0)
    return _explorer_class()(run, layer=layer, by="class", measure=measure, layout=layout, bins=None,
                             contrastive=True, show_maps=False, correlation=True, color_by=color_by,
                             n_boot=n_boot, live=bool(live), poll_seconds=5.0, progress=bool(progress),
                             resolution=100)
