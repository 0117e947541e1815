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

This module wires widgets to computations and figures: statistics come from
:mod:`actconf.naps`, :mod:`actconf.analysis` and :mod:`actconf.confidence`, the
layout from :func:`actconf.layout.ensure_layout` (never saved from here), and all
drawing from :mod:`actconf.plots` (``MapGridFigure``, ``curve_figure``,
``correlation_figure``, ``Blitter``).

How it stays fast
-----------------
When the layer, grouping or measure changes, everything the slider can show is
computed once (with a progress bar): NAPs and statistics for every snapshot, and
all maps of all snapshots rendered by one product with the layout's interpolation
operator and colour-mapped to RGBA. Moving the slider then only swaps image data
in place (``set_data``) and redraws the changing artists over a cached background
(blitting); nothing is re-interpolated and no figure is rebuilt. Colour limits and
axis limits are fixed across snapshots, so motion means change.

Caches
------
Each explorer keeps, per instance, the precomputed states of the (layer, grouping,
measure) combinations it has shown (so switching back is instant; states of an
older run length are dropped when a live run grows) and the layout of each layer.
The module keeps no state of its own; renderers are shared through
:func:`actconf.render.get_renderer`'s cache.

The figures are shown as PNG/JPEG images (``ipywidgets.Image``), which works in
JupyterLab, classic notebooks, VS Code and saved/exported notebooks without a
matplotlib widget backend. Status messages (computing, a layout computed but not
saved, a failed live update) appear in the explorer's status line.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np

from ._validation import check_bool, check_float, check_int, check_option, check_run, param_error
from .confidence import available_measures
from .errors import InvalidInputError

__all__ = ["explore", "explore_correlation"]

#: Grouping toggle labels -> ``by`` of :func:`actconf.naps.naps`.
GROUPINGS: dict[str, str] = {
    "class": "class",
    "confidence": "confidence",
    "correct / wrong": "correct",
    "class × confidence": "class+confidence",
}
_FRAME_BUDGET_BYTES = 256 << 20  # precomputed RGBA frames above this are drawn on the fly
_RESOLUTION = 100


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


def _given_layout(run: Any, layer: str, layout: Any, caller: str) -> Any:
    """The user's layout for ``layer`` (array/Layout/TopoRenderer or dict per layer), or None.

    A single layout with another number of neurons belongs to another layer: None.
    """
    given = layout.get(layer) if isinstance(layout, Mapping) else layout
    if given is None:
        return None
    n = run.layer_sizes[layer]
    size = given.n_neurons if hasattr(given, "operator") else np.shape(getattr(given, "positions", given))[0]
    if size == n:
        return given
    if isinstance(layout, Mapping):
        raise InvalidInputError(f"{caller}: the layout given for layer {layer!r} has {size} neurons; "
                                f"the layer has {n}.")
    return None


def _resolve_layout(run: Any, layer: str, layout: Any, caller: str) -> tuple[Any, str]:
    """The layout of ``layer`` and a status note: the user's, else the saved one, else one computed now.

    A computed layout is not saved (:func:`actconf.layout.ensure_layout` with
    ``save=False``); the note says how to keep it.
    """
    given = _given_layout(run, layer, layout, caller)
    if given is not None:
        return given, ""
    from .layout import ensure_layout

    found = ensure_layout(run, layer, save=False)
    if found.saved_as is not None:
        return found, ""
    return found, (f"layout of {layer!r} computed now, not saved (keep it with "
                   f"actconf.layout.ensure_layout(run, {layer!r}, save=True))")


@dataclass(frozen=True)
class _Settings:
    """What an explorer shows and how, fixed when it opens."""

    bins: Any
    contrastive: bool
    show_maps: bool
    correlation: bool
    color_by: str
    n_boot: int
    progress: bool
    live: bool
    poll_seconds: float
    resolution: int = _RESOLUTION


# ---------------------------------------------------------------------------- precomputation
class _MapState:
    """Everything the slider needs for one (layer, grouping, measure): the grid and its frames."""

    def __init__(self, run: Any, layer: str, by: str, measure: str, layout: Any, settings: _Settings) -> None:
        from .naps import naps
        from .plots import MapGridFigure, MapStyle, build_panels, grid_limits, map_renderer

        caller = "explore()"
        bins = settings.bins if settings.bins is not None else ("quantile:3" if "+" in by else "quantile:5")
        nap = naps(run, layer, by=by, measure=measure, bins=bins, contrastive=settings.contrastive)
        style = MapStyle(panel_size=1.25, dpi=80, cmap="RdBu_r", markers=False, contours=0)
        self.renderer = map_renderer(layout, style, resolution=settings.resolution)
        self.panels = build_panels(nap, frames=True, caller=caller)
        if self.panels.values.shape[-1] != self.renderer.n_neurons:
            raise InvalidInputError(f"{caller}: layer {layer!r} has {self.panels.values.shape[-1]} neurons but "
                                    f"its layout has {self.renderer.n_neurons}.")
        limits = grid_limits(self.panels.values, style)
        self.grid = MapGridFigure(self.panels, self.renderer, limits=limits, style=style)
        table = run.snapshots
        self.titles = [f"{self.panels.title} · {table['label'].iloc[s] if 'label' in table else lab}"
                       for s, lab in zip(self.panels.frame_snapshots, self.panels.frame_labels, strict=True)]
        self.frames = self._precompute_frames(layer, settings.progress)
        self.grid.show(self.renderer.render(self.panels.values[0]), self.panels.notes[0], self.titles[0])
        self.grid.freeze()

    def _precompute_frames(self, layer: str, progress: bool) -> np.ndarray | None:
        """RGBA frames of every snapshot, rendered in blocks of about 8 MB (None: over budget)."""
        from tqdm.auto import tqdm

        f, r, c = self.panels.values.shape[:3]
        h, w = self.renderer.shape
        if f * r * c * h * w * 4 > _FRAME_BUDGET_BYTES:
            return None
        frames = np.empty((f, r, c, h, w, 4), dtype=np.uint8)
        step = max(1, (8 << 20) // max(1, r * c * h * w * 8))
        with tqdm(total=f, desc=f"{layer}: rendering maps", unit="snapshot", disable=not progress) as bar:
            for start in range(0, f, step):
                stop = min(f, start + step)
                frames[start:stop] = self.grid.to_rgba(self.renderer.render(self.panels.values[start:stop]))
                bar.update(stop - start)
        return frames

    def frame(self, i: int) -> np.ndarray:
        if self.frames is not None:
            return self.frames[i]
        return self.grid.to_rgba(self.renderer.render(self.panels.values[i]))

    def draw(self, i: int) -> np.ndarray:
        return self.grid.blit(self.frame(i), self.panels.notes[i], self.titles[i])


class _CurveState:
    """Probe accuracy and mean confidence over training, with a marker."""

    def __init__(self, run: Any, measure: str, conf: Any) -> None:
        from .plots import Blitter, curve_figure

        values = np.asarray(conf.values, dtype=float)
        pred = np.asarray(conf["prediction"].values)
        self.x = np.asarray(run.snapshots["progress"], dtype=float)[: values.shape[0]]
        self.accuracy = (pred == np.asarray(run.labels)[None, :]).mean(axis=1)
        self.mean_conf = np.nanmean(values, axis=1)
        self.figure = curve_figure(self.x, self.accuracy, self.mean_conf, measure)
        self.fig, self.markers, self.lines = self.figure.fig, self.figure.markers, self.figure.lines
        self.blitter = Blitter(self.fig, self.figure.dynamic)

    def draw(self, i: int) -> np.ndarray:
        for line in self.lines:
            line.set_xdata([self.x[i], self.x[i]])
        self.markers[0].set_data([self.x[i]], [self.accuracy[i]])
        self.markers[1].set_data([self.x[i]], [self.mean_conf[i]])
        return self.blitter.draw()


class _CorrelationState:
    """Per-sample scatter, per-neuron correlation map and correlation curve, for one snapshot at a time."""

    def __init__(self, run: Any, layer: str, measure: str, conf: Any, layout: Any, settings: _Settings) -> None:
        from matplotlib import colormaps
        from matplotlib.colors import Normalize

        from .plots import Blitter, MapStyle, correlation_figure, map_renderer

        self.cmap = colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))
        self.norm = Normalize(-1, 1)
        renderer = map_renderer(layout, MapStyle(), resolution=settings.resolution)
        self.series = self._series(run, layer, measure, conf, renderer, settings)
        self.figure = correlation_figure(self.series, renderer, cmap=self.cmap, norm=self.norm)
        self.blitter = Blitter(self.figure.fig, self.figure.dynamic)

    def _series(self, run: Any, layer: str, measure: str, conf: Any, renderer: Any, settings: _Settings):
        """The statistics the views show, from :mod:`actconf.analysis` (one progress step each)."""
        from tqdm.auto import tqdm

        from .analysis import activity_confidence, neuron_correlation, sample_activity
        from .plots import CorrelationSeries, sample_colors

        with tqdm(total=3, desc=f"{layer}: activity–confidence", disable=not settings.progress) as bar:
            confidence = np.asarray(conf.values, dtype=float)
            activity = np.asarray(sample_activity(run, layer=layer).values, dtype=float)
            bar.update()
            table = activity_confidence(run, layers=layer, measure=measure, n_boot=settings.n_boot)
            bar.update()
            rho_n = np.asarray(neuron_correlation(run, layer=layer, measure=measure).values, dtype=float)
            bar.update()
        if renderer.n_neurons != rho_n.shape[1]:
            raise InvalidInputError(f"explore_correlation(): layer {layer!r} has {rho_n.shape[1]} neurons but "
                                    f"its layout has {renderer.n_neurons}.")
        s = confidence.shape[0]
        correct = np.asarray(conf["prediction"].values) == np.asarray(run.labels)[None, :]
        column = {name: table[name].to_numpy(dtype=float)[:s] for name in ("rho", "ci_low", "ci_high", "progress")}
        return CorrelationSeries(
            confidence=confidence, activity=activity,
            colors=sample_colors(run.labels, correct, list(run.class_names), settings.color_by),
            maps=self.cmap(self.norm(renderer.render(rho_n)), bytes=True), x=column["progress"],
            rho=column["rho"], ci_low=column["ci_low"], ci_high=column["ci_high"], measure=measure, layer=layer)

    # what tests and users read: the statistics and the moving artists
    conf = property(lambda self: self.series.confidence)
    act = property(lambda self: self.series.activity)
    rho = property(lambda self: self.series.rho)
    lo = property(lambda self: self.series.ci_low)
    hi = property(lambda self: self.series.ci_high)
    x = property(lambda self: self.series.x)
    maps = property(lambda self: self.series.maps)
    fig = property(lambda self: self.figure.fig)
    scatter = property(lambda self: self.figure.scatter)
    scatter_title = property(lambda self: self.figure.scatter_title)
    image = property(lambda self: self.figure.image)
    marker = property(lambda self: self.figure.marker)
    vline = property(lambda self: self.figure.vline)

    def draw(self, i: int, label: str) -> np.ndarray:
        from .plots import correlation_text

        s = self.series
        self.scatter.set_offsets(np.column_stack([s.confidence[i], s.activity[i]]))
        self.scatter.set_facecolor(s.colors.colors[i])
        self.scatter_title.set_text(correlation_text(label, s.rho[i], s.ci_low[i], s.ci_high[i]))
        self.image.set_data(s.maps[i])
        self.marker.set_data([s.x[i]], [s.rho[i]])
        self.vline.set_xdata([s.x[i], s.x[i]])
        return self.blitter.draw()


# ---------------------------------------------------------------------------- the widget
def _grouping_label(by: str) -> str:
    for label, value in GROUPINGS.items():
        if value == by:
            return label
    raise KeyError(by)


class Explorer(ipywidgets.VBox):
    """The explorer box; see :func:`explore`. Attributes give programmatic access:
    ``slider``, ``play``, ``layer_dropdown``, ``grouping``, ``measure_dropdown``,
    ``status``, ``maps_view``, ``curve_view``, ``correlation_view``
    (``ipywidgets.Image``), ``maps`` (the current map grid, with
    ``maps.grid.images`` the AxesImages), ``curve`` and ``corr``."""

    def __init__(self, run: Any, *, layer: str, by: str, measure: str, layout: Any, settings: _Settings) -> None:
        self.run = run
        self._layout_arg = layout
        self._settings = settings
        self._layouts: dict[str, tuple[Any, str]] = {}
        self._cache: dict[tuple, Any] = {}
        self.maps = self.curve = self.corr = None
        controls = self._make_controls(layer, by, measure)
        super().__init__(children=[*controls, *self._make_views()])
        self._recompute()
        self.slider.observe(self._on_slider, names="value")
        for w in (self.layer_dropdown, self.grouping, self.measure_dropdown):
            w.observe(self._on_setting, names="value")
        self._stop = threading.Event()
        self._thread = None
        if settings.live:
            self._thread = threading.Thread(target=self._poll_loop, args=(settings.poll_seconds,), daemon=True,
                                            name="actconf-explorer-live")
            self._thread.start()

    # -- building ------------------------------------------------------------------------
    def _make_controls(self, layer: str, by: str, measure: str) -> list[Any]:
        widgets = ipywidgets
        n = self.run.n_snapshots
        self.play = widgets.Play(value=n - 1, min=0, max=n - 1, step=1, interval=400, description="play")
        self.slider = widgets.IntSlider(value=n - 1, min=0, max=n - 1, step=1, readout=False,
                                        continuous_update=True, description="snapshot",
                                        layout=widgets.Layout(width="420px"))
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.snapshot_label = widgets.Label(str(self.run.snapshots["label"].iloc[-1]))
        self.layer_dropdown = widgets.Dropdown(options=list(self.run.layers), value=layer, description="layer",
                                               layout=widgets.Layout(width="230px"))
        self.grouping = widgets.ToggleButtons(options=list(GROUPINGS), value=_grouping_label(by),
                                              description="groups", style={"button_width": "auto"})
        self.measure_dropdown = widgets.Dropdown(options=available_measures(self.run), value=measure,
                                                 description="confidence", layout=widgets.Layout(width="260px"))
        self.status = widgets.Label("")
        controls = [widgets.HBox([self.play, self.slider, self.snapshot_label])]
        if self._settings.show_maps:
            controls.append(self.grouping)
        controls.append(widgets.HBox([self.layer_dropdown, self.measure_dropdown, self.status]))
        return controls

    def _make_views(self) -> list[Any]:
        self.maps_view = ipywidgets.Image(format="jpeg")
        self.curve_view = ipywidgets.Image(format="png")
        self.correlation_view = ipywidgets.Image(format="jpeg")
        views = []
        if self._settings.show_maps:
            views.append(ipywidgets.HBox([self.maps_view, self.curve_view]))
        if self._settings.correlation:
            views.append(self.correlation_view)
        return views

    # -- state -------------------------------------------------------------------------
    @property
    def by(self) -> str:
        return GROUPINGS[self.grouping.value]

    def _cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The state under ``key`` (its last entry is the run length), made once."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _layout(self, layer: str) -> tuple[Any, str]:
        if layer not in self._layouts:
            self._layouts[layer] = _resolve_layout(self.run, layer, self._layout_arg, "explore()")
        return self._layouts[layer]

    def _recompute(self) -> None:
        from .confidence import confidence

        run, settings = self.run, self._settings
        layer, measure, by, n = self.layer_dropdown.value, self.measure_dropdown.value, self.by, run.n_snapshots
        self.status.value = "computing…"
        layout, note = self._layout(layer)
        conf = self._cached(("conf", measure, n), lambda: confidence(run, measure=measure))
        if settings.show_maps:
            self.maps = self._cached(("maps", layer, by, measure, n),
                                     lambda: _MapState(run, layer, by, measure, layout, settings))
            self.curve = self._cached(("curve", measure, n), lambda: _CurveState(run, measure, conf))
        if settings.correlation:
            self.corr = self._cached(("corr", layer, measure, n),
                                     lambda: _CorrelationState(run, layer, measure, conf, layout, settings))
        self.status.value = note
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
            self._grow(at_end=self.slider.value == before - 1)
        return added

    def _grow(self, *, at_end: bool) -> None:
        """Extend the slider to the run's new length (following the end if it was there) and recompute."""
        n = self.run.n_snapshots
        # drop precomputed states of the old length; the next _recompute rebuilds
        self._cache = {k: v for k, v in self._cache.items() if k[-1] == n}
        self.play.max = self.slider.max = n - 1
        if at_end:
            with self.hold_trait_notifications():
                self.slider.unobserve(self._on_slider, names="value")
                self.slider.value = n - 1
                self.slider.observe(self._on_slider, names="value")
        self._recompute()

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


# ---------------------------------------------------------------------------- entry points
def _validate(run: Any, layer: Any, measure: Any, caller: str) -> tuple[Any, str, str]:
    run = check_run(run, caller)
    if run.n_snapshots < 1:
        raise InvalidInputError(f"{caller}: the run has no snapshots yet; start training (or wait) first.")
    layer = run.check_layer(layer)
    check_option("measure", measure, available_measures(run), caller)
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
        Neuron positions. By default :func:`actconf.layout.ensure_layout`: the
        layout saved in the run, else one computed now (UMAP + refinement; slow
        the first time in a process) and *not* saved — the status line says how
        to keep it.
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
    Explorer (an ipywidgets.VBox)
        Its ``slider`` selects the snapshot; ``show(i)`` does the same from code;
        ``close()`` stops live polling.
    """
    caller = "explore()"
    run, layer, measure = _validate(run, layer, measure, caller)
    from .naps import parse_by

    by = "+".join(parse_by(by, caller))
    if by not in GROUPINGS.values():
        raise param_error("by", caller, "one of " + ", ".join(repr(v) for v in GROUPINGS.values()), by)
    settings = _Settings(bins=bins, contrastive=check_bool("contrastive", contrastive, caller), show_maps=True,
                         correlation=bool(correlation), color_by="class", n_boot=500, progress=bool(progress),
                         live=bool(live), poll_seconds=check_float("poll_seconds", poll_seconds, caller,
                                                                   min_value=0.1))
    return Explorer(run, layer=layer, by=by, measure=measure, layout=layout, settings=settings)


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
    Explorer (an ipywidgets.VBox)
    """
    caller = "explore_correlation()"
    run, layer, measure = _validate(run, layer, measure, caller)
    check_option("color_by", color_by, ("class", "correct"), caller)
    settings = _Settings(bins=None, contrastive=True, show_maps=False, correlation=True, color_by=color_by,
                         n_boot=check_int("n_boot", n_boot, caller, min_value=0), progress=bool(progress),
                         live=bool(live), poll_seconds=5.0)
    return Explorer(run, layer=layer, by="class", measure=measure, layout=layout, settings=settings)
