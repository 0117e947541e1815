"""What the explorer shows for one setting, computed once: maps, curves, correlation views.

A state holds the values of every snapshot (so the browser can switch snapshots
by itself) and turns them into the browser's wire format (:mod:`._scene`) and into
static figures (:mod:`actconf.plots`) for saved notebooks. Statistics come from
:mod:`actconf.naps`, :mod:`actconf.analysis` and :mod:`actconf.confidence`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from . import _scene
from ._data import RunData

#: Colour-index bytes of all frames of one view above which frames stay in the kernel
#: and the browser asks for each one (a kernel round trip per slider move).
FRAME_BUDGET_BYTES = 64 << 20

Step = Callable[[str], None]


def _no_step(_: str) -> None:
    pass


@dataclass(frozen=True)
class Settings:
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
    budget: int = FRAME_BUDGET_BYTES


def snapshot_labels(run: Any, n: int | None = None) -> list[str]:
    table = run.snapshots
    labels = [str(v) for v in table["label"]] if "label" in table else [str(i) for i in range(len(table))]
    return labels if n is None else labels[:n]


# ---------------------------------------------------------------------------- maps
class MapState:
    """The map grid of one (layer, grouping, measure) at every snapshot, as colour indices."""

    def __init__(self, data: RunData, layer: str, by: str, measure: str, layout: Any, settings: Settings, *,
                 resolution: int, step: Step = _no_step) -> None:
        from ..naps import grouping_naps, make_grouping
        from ..plots import MapStyle, build_panels, drawn_values, grid_colours, map_renderer

        caller = "explore()"
        run = data.run
        bins = settings.bins if settings.bins is not None else ("quantile:3" if "+" in by else "quantile:5")
        step("NAPs")
        # naps(run, layer, by=by, measure=measure, bins=bins, contrastive=...) from the arrays kept in `data`
        grouping = make_grouping(run, by=by, measure=measure, bins=bins, snapshots=None, caller=caller,
                                 confidence=data.confidence(measure),
                                 predictions=data.predictions() if "correct" in by or "prediction" in by else None)
        self.nap = grouping_naps(run, layer, grouping, contrastive=settings.contrastive,
                                 activations=data.activations(layer))
        self.renderer = map_renderer(layout, MapStyle(), resolution=resolution)
        self.panels = build_panels(self.nap, frames=True, caller=caller)
        if self.panels.values.shape[-1] != self.renderer.n_neurons:
            raise InvalidInputError(f"{caller}: layer {layer!r} has {self.panels.values.shape[-1]} neurons but "
                                    f"its layout has {self.renderer.n_neurons}.")
        # colour limits of the values as drawn (neighbour means above 512 neurons), as in the static grids
        self._drawn = drawn_values(self.renderer, self.panels.values)
        # the renderer of the drawn values as they are (they are smoothed once, here)
        self._draws = getattr(self.renderer, "base", self.renderer)  # a SmoothedRenderer's own renderer
        self.style, self.limits = grid_colours(self._drawn, MapStyle(panel_size=1.25, dpi=96))
        self.cmap = str(self.style.cmap)
        labels = snapshot_labels(run)
        self.titles = [f"{self.panels.title} · {labels[s] if s is not None and s < len(labels) else lab}"
                       for s, lab in zip(self.panels.frame_snapshots, self.panels.frame_labels, strict=True)]
        f, r, c = self.panels.values.shape[:3]
        h, w = self.renderer.shape
        self.remote = f * r * c * h * w * 9 // 8 > settings.budget
        step("maps")
        self.frames = None if self.remote else self._frames(slice(None))
        self._fields = (layer, by, f, resolution)
        self._scene: dict[str, Any] | None = None
        self.key = self._key(measure)

    def _key(self, measure: str) -> str:
        layer, by, f, resolution = self._fields
        return f"maps|{layer}|{by}|{measure}|{f}|{resolution}"

    def for_measure(self, measure: str) -> MapState:
        """These maps under another measure's name (for groupings that do not depend on it): frames shared."""
        other = copy.copy(self)
        other.key = self._key(measure)
        other._scene = None
        other.nap = self.nap.copy(deep=False)
        other.nap.attrs = {**self.nap.attrs, "measure": measure}
        return other

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns of the grid."""
        return len(self.panels.row_labels), len(self.panels.col_labels)

    @property
    def n_frames(self) -> int:
        return int(self.panels.values.shape[0])

    def _frames(self, which: slice) -> _scene.MapFrames:
        return _scene.map_frames(self._drawn[which], self._draws, self.limits, self.cmap)

    def frame(self, i: int) -> _scene.MapFrames:
        """The colour indices of frame ``i`` alone (computed now for frames over the budget)."""
        if self.frames is not None:
            return _scene.MapFrames(self.frames.indices[i:i + 1], self.frames.nan[i:i + 1], self.frames.valid,
                                    self.frames.lut)
        return self._frames(slice(i, i + 1))

    def rgba(self, i: int) -> np.ndarray:
        """The maps of frame ``i`` as the browser colours them, (R, C, H, W, 4) uint8."""
        return self.frame(i).rgba(0)

    def scene(self, index: int) -> dict[str, Any]:
        """The wire format (all frames: made once; over the budget: frame ``index`` only)."""
        if not self.remote and self._scene is not None:
            return self._scene
        frames = self.frame(index) if self.remote else self.frames
        scene = _scene.map_grid_scene(
            frames, key=self.key, renderer=self.renderer, limits=self.limits,
            share_rows=self.style.share == "row" and self.shape[0] > 1, row_labels=self.panels.row_labels,
            col_labels=self.panels.col_labels, notes=self.panels.notes, title=self.panels.title,
            quantity=self.panels.quantity, cmap=self.cmap, remote_frame=index if self.remote else None)
        if not self.remote:
            self._scene = scene
        return scene

    def figure(self, index: int, title: str) -> Any:
        """The grid at frame ``index`` as a matplotlib Figure (the static image of saved notebooks)."""
        from ..plots import map_mosaic_figure

        frame = self.frame(index)
        return map_mosaic_figure(frame.rgba(0), frame.valid, row_labels=self.panels.row_labels,
                                 col_labels=self.panels.col_labels, notes=self.panels.notes[index], title=title,
                                 cmap=self.cmap, limits=tuple(self.limits[0]), quantity=self.panels.quantity)


# ---------------------------------------------------------------------------- accuracy / confidence
class CurveState:
    """Probe accuracy and mean confidence over training (the marker follows the slider)."""

    def __init__(self, run: Any, measure: str, conf: Any) -> None:
        values = np.asarray(conf.values, dtype=float)
        pred = np.asarray(conf["prediction"].values)
        self.measure = measure
        self.x = np.asarray(run.snapshots["progress"], dtype=float)[: values.shape[0]]
        labels = np.asarray(run.labels)
        labelled = labels >= 0  # -1: unlabelled, neither right nor wrong
        self.accuracy = ((pred == labels[None, :]) & labelled).sum(axis=1) / max(int(labelled.sum()), 1)
        self.mean_conf = np.nanmean(values, axis=1)
        self.key = f"curves|{measure}|{values.shape[0]}"

    def scene(self) -> dict[str, Any]:
        acc = _scene.chart_scene("accuracy", [_scene.line(self.x, self.accuracy, label="probe accuracy",
                                                          color="#222222", marker=True)],
                                 xlabel="", ylabel="probe accuracy", ylim=(0.0, 1.02), height=130)
        conf = _scene.chart_scene("confidence", [_scene.line(self.x, self.mean_conf, label=f"mean {self.measure}",
                                                             color="#8e44ad", marker=True)],
                                  xlabel="epochs of training", ylabel=f"mean {self.measure}", height=150)
        return {"key": self.key, "charts": [acc, conf]}

    def figure(self, index: int) -> Any:
        from ..plots import curve_figure

        return curve_figure(self.x, self.accuracy, self.mean_conf, self.measure, index=index, dpi=96)


# ---------------------------------------------------------------------------- correlation
class CorrelationState:
    """Per-sample scatter, per-neuron correlation map and correlation curve of one (layer, measure)."""

    def __init__(self, data: RunData, layer: str, measure: str, conf: Any, layout: Any, settings: Settings, *,
                 resolution: int, step: Step = _no_step) -> None:
        from ..plots import MapStyle, map_renderer

        run = data.run
        self.renderer = map_renderer(layout, MapStyle(), resolution=resolution)
        self.series = self._series(data, layer, measure, conf, settings, step)
        self.labels = snapshot_labels(run, self.series.confidence.shape[0])
        s = self.series.confidence.shape[0]
        self.maps = _scene.map_frames(self.rho_n[:, None, None], self.renderer, np.array([[-1.0, 1.0]]), "RdBu_r")
        self.key = f"corr|{layer}|{measure}|{s}|{resolution}"

    def _series(self, data: RunData, layer: str, measure: str, conf: Any, settings: Settings, step: Step):
        """The statistics the views show, from :mod:`actconf.analysis`."""
        from ..analysis import activity_confidence, neuron_correlation
        from ..plots import CorrelationSeries, baseline_and_control, sample_colors

        run = data.run
        step("activity")
        confidence = np.asarray(conf.values, dtype=float)
        activity = np.asarray(data.activity(layer).values, dtype=float)
        step("correlation")
        # measure=conf: the confidence computed once (e.g. temperature's fits), not again per statistic
        table = activity_confidence(run, layers=layer, measure=conf, n_boot=settings.n_boot, control=True)
        step("per-neuron correlation")
        self.rho_n = rho_n = np.asarray(neuron_correlation(run, layer=layer, measure=conf).values, dtype=float)
        if self.renderer.n_neurons != rho_n.shape[1]:
            raise InvalidInputError(f"explore_correlation(): layer {layer!r} has {rho_n.shape[1]} neurons but "
                                    f"its layout has {self.renderer.n_neurons}.")
        s = confidence.shape[0]
        correct = np.asarray(conf["prediction"].values) == np.asarray(run.labels)[None, :]
        column = {name: table[name].to_numpy(dtype=float)[:s] for name in ("rho", "ci_low", "ci_high", "progress")}
        return CorrelationSeries(
            confidence=confidence, activity=activity,
            colors=sample_colors(run.labels, correct, list(run.class_names), settings.color_by),
            maps=self.renderer.render(rho_n), x=column["progress"], rho=column["rho"], ci_low=column["ci_low"],
            ci_high=column["ci_high"], measure=measure, layer=layer,
            **baseline_and_control(table, s))  # issue 10: the scale control and the untrained baseline

    # what tests and users read: the statistics
    conf = property(lambda self: self.series.confidence)
    act = property(lambda self: self.series.activity)
    rho = property(lambda self: self.series.rho)
    lo = property(lambda self: self.series.ci_low)
    hi = property(lambda self: self.series.ci_high)
    x = property(lambda self: self.series.x)

    def title(self, i: int) -> str:
        from ..plots import correlation_text

        s = self.series
        return correlation_text(self.labels[i], s.rho[i], s.ci_low[i], s.ci_high[i])

    def map_rgba(self, i: int) -> np.ndarray:
        """The per-neuron correlation map of snapshot ``i`` as the browser colours it, (H, W, 4) uint8."""
        return self.maps.rgba(i)[0, 0]

    def scene(self) -> dict[str, Any]:
        s = self.series
        scatter = _scene.scatter_scene(
            s.confidence, s.activity, colors=s.colors.codes, palette=s.colors.palette,
            legend=[[str(label), k] for k, (label, _) in enumerate(s.colors.handles)],
            xlabel=f"confidence ({s.measure})", ylabel=f"mean activation of {s.layer}",
            titles=[self.title(i) for i in range(len(self.labels))])
        rho_map = _scene.map_grid_scene(
            self.maps, key=self.key, renderer=self.renderer, limits=np.array([[-1.0, 1.0]]), share_rows=False,
            row_labels=[""], col_labels=[""], notes=np.full((len(self.labels), 1, 1), "", dtype=object),
            title="per-neuron ρ(activation, confidence)", quantity="Spearman ρ", cmap="RdBu_r")
        return {"key": self.key, "scatter": scatter, "map": rho_map, "chart": self._chart()}

    def _chart(self) -> dict[str, Any]:
        s = self.series
        band = (s.ci_low, s.ci_high) if np.isfinite(s.ci_low).any() else None
        lines = [_scene.line(s.x, s.rho, label="Spearman ρ", color="#1f77b4", band=band, marker=True)]
        for (name, values), color in zip(s.curves.items(), s.EXTRA_COLORS, strict=False):
            curve_band = s.bands.get(name)
            curve_band = curve_band if curve_band is not None and np.isfinite(curve_band[0]).any() else None
            lines.append(_scene.line(s.x, values, label=name, color=color, band=curve_band, dash="2 3"))
        refs = [{"y": 0.0, "label": "", "color": "#999999", "dash": None}]
        refs += [{"y": float(value), "label": name, "color": color, "dash": "5 3"}
                 for (name, value), color in zip(s.references.items(), s.REFERENCE_COLORS, strict=False)]
        return _scene.chart_scene("correlation", lines, xlabel="epochs of training",
                                  ylabel="ρ(confidence, activity)", ylim=(-1.02, 1.02), references=refs,
                                  legend=True, height=230)

    def figure(self, index: int) -> Any:
        from ..plots import correlation_figure

        return correlation_figure(self.series, self.renderer, label=self.labels[index], index=index, dpi=96)
