"""The explorer widget: an ``anywidget`` whose browser side switches snapshots by itself.

:class:`Explorer` holds, for the current (layer, grouping, measure), the values of
every snapshot in synced traits (``scene_maps``, ``scene_curves``,
``scene_correlation``; see :mod:`._scene`), sent to the browser once; the ES module
``explorer.js`` draws maps, charts and scatter from them, so the slider and Play
never wait for the kernel. Changing a setting recomputes (progress in the widget)
and caches the state per setting; frames over the budget stay in the kernel and
the browser asks for each one. Beside the live widget the output carries a static
JPEG of the current view (:meth:`Explorer.static_image`) for saved and exported
notebooks.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..errors import InvalidInputError
from . import _scene
from ._data import RunData
from ._states import CorrelationState, CurveState, MapState, Settings, snapshot_labels

#: Grouping toggle labels -> ``by`` of :func:`actconf.naps.naps`.
GROUPINGS: dict[str, str] = {
    "class": "class",
    "confidence": "confidence",
    "correct / wrong": "correct",
    "class × confidence": "class+confidence",
}
#: Map resolution (pixels per side) at device pixel ratio 1.
BASE_RESOLUTION = 100
#: Kernel-side cache of computed states (bytes of their frames).
CACHE_BYTES = 512 << 20
#: Longest wait of the correlation worker for the page to report the new maps painted.
#: The maps go first: computing the correlation views while the maps' message travels
#: to the page and is drawn would slow both down (two cores shared by kernel, server, browser).
MAPS_FIRST_SECONDS = 3.0
_HERE = Path(__file__).parent


def grouping_label(by: str) -> str:
    for label, value in GROUPINGS.items():
        if value == by:
            return label
    raise KeyError(by)


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


def resolve_layout(run: Any, layer: str, layout: Any, caller: str) -> tuple[Any, str]:
    """The layout of ``layer`` and a status note: the user's, else the saved one, else one computed now.

    A computed layout is not saved (:func:`actconf.layout.ensure_layout` with
    ``save=False``); the note says how to keep it.
    """
    given = _given_layout(run, layer, layout, caller)
    if given is not None:
        return given, ""
    from ..layout import ensure_layout

    found = ensure_layout(run, layer, save=False)
    if found.saved_as is not None:
        return found, ""
    return found, (f"layout of {layer!r} computed now, not saved (keep it with "
                   f"actconf.layout.ensure_layout(run, {layer!r}, save=True))")


class Control:
    """One of the explorer's controls seen from Python: ``value`` (and ``options``) read and set its trait."""

    def __init__(self, widget: Explorer, trait: str, options: str | None = None) -> None:
        self._widget, self._trait, self._options = widget, trait, options

    @property
    def value(self) -> Any:
        return getattr(self._widget, self._trait)

    @value.setter
    def value(self, value: Any) -> None:
        setattr(self._widget, self._trait, value)

    @property
    def options(self) -> list[Any]:
        return list(getattr(self._widget, self._options)) if self._options else []


class SnapshotControl(Control):
    """The slider (and Play): ``value`` is the snapshot position, ``min``/``max`` its range."""

    min = 0

    @property
    def max(self) -> int:
        return len(self._widget.labels) - 1


class _Abandoned(Exception):
    """A worker job whose setting the user has left (raised between its steps)."""


class _Label:
    def __init__(self, get: Callable[[], str]) -> None:
        self._get = get

    @property
    def value(self) -> str:
        return self._get()


class Explorer(anywidget.AnyWidget):
    """The explorer; see :func:`actconf.widgets.explore`.

    Python access: ``slider`` / ``play`` (``.value``: snapshot position), ``layer_dropdown``,
    ``grouping``, ``measure_dropdown`` (``.value``, ``.options``), ``status`` and
    ``snapshot_label`` (``.value``), ``show(i)``, ``poll()``, ``close()``; the
    current states ``maps`` (:class:`MapState`), ``curve`` and ``corr``.
    """

    _esm = _HERE / "explorer.js"
    _css = _HERE / "explorer.css"

    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    fps = traitlets.Float(15.0).tag(sync=True)
    layers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    groupings = traitlets.List(traitlets.Unicode()).tag(sync=True)
    grouping_value = traitlets.Unicode("").tag(sync=True)
    measures = traitlets.List(traitlets.Unicode()).tag(sync=True)
    measure = traitlets.Unicode("").tag(sync=True)
    show_maps = traitlets.Bool(True).tag(sync=True)
    show_correlation = traitlets.Bool(True).tag(sync=True)
    scene_maps = traitlets.Dict().tag(sync=True)
    scene_curves = traitlets.Dict().tag(sync=True)
    scene_correlation = traitlets.Dict().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Float(1.0).tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    pixel_ratio = traitlets.Float(1.0).tag(sync=True)
    frontend = traitlets.Bool(False).tag(sync=True)  # set by a live page: then work may continue in a thread

    def __init__(self, run: Any, *, layer: str, by: str, measure: str, layout: Any, settings: Settings,
                 measures: list[str]) -> None:
        super().__init__(labels=snapshot_labels(run), index=run.n_snapshots - 1, layers=list(run.layers),
                         layer=layer, groupings=list(GROUPINGS), grouping_value=grouping_label(by),
                         measures=list(measures), measure=measure, show_maps=settings.show_maps,
                         show_correlation=settings.correlation)
        self.run = run
        self._stop = threading.Event()
        self._thread = None
        self._layout_arg, self._settings = layout, settings
        self._layouts: dict[str, tuple[Any, str]] = {}
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._data = RunData(run)  # confidence, predictions, activations: read once, not per setting
        self._lock = threading.RLock()
        self._static: tuple[tuple, bytes] | None = None
        self._resolution_used = 0
        self._executor: Any = None
        self._wanted: tuple | None = None
        self._painted = threading.Event()  # the page reports the current maps drawn (message "drawn")
        self.maps: MapState | None = None
        self.curve: CurveState | None = None
        self.corr: CorrelationState | None = None
        self.slider = self.play = SnapshotControl(self, "index")
        self.layer_dropdown = Control(self, "layer", "layers")
        self.grouping = Control(self, "grouping_value", "groupings")
        self.measure_dropdown = Control(self, "measure", "measures")
        self.status = Control(self, "status_text")
        self.snapshot_label = _Label(lambda: self.labels[self.index])
        from ._progress import progress_bar

        with progress_bar(self._n_steps(), f"explorer of {layer}", enabled=settings.progress) as bar:
            self._recompute(bar)
        self.observe(self._on_setting, names=["layer", "grouping_value", "measure", "pixel_ratio"])
        self.observe(self._on_index, names="index")
        self.on_msg(self._on_message)
        if settings.live:
            self._thread = threading.Thread(target=self._poll_loop, args=(settings.poll_seconds,), daemon=True,
                                            name="actconf-explorer-live")
            self._thread.start()

    # -- state -------------------------------------------------------------------------
    @property
    def by(self) -> str:
        return GROUPINGS[self.grouping_value]

    @property
    def resolution(self) -> int:
        """Map pixels per side: the base resolution times the browser's device pixel ratio (1 to 2)."""
        return int(round(BASE_RESOLUTION * min(2.0, max(1.0, float(self.pixel_ratio)))))

    def _n_steps(self) -> int:
        return 2 * self._settings.show_maps + 3 * self._settings.correlation

    def _cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The state under ``key`` (``(kind, run length, ...)``), made once; oldest dropped over the budget."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = make()
        self._cache[key] = value
        sizes = {k: getattr(getattr(v, "frames", None), "nbytes", 0) for k, v in self._cache.items()}
        while sum(sizes.values()) > CACHE_BYTES and len(self._cache) > 1:
            oldest = next(iter(self._cache))
            self._cache.pop(oldest)
            sizes.pop(oldest)
        return value

    def _layout(self, layer: str) -> tuple[Any, str]:
        if layer not in self._layouts:
            self._layouts[layer] = resolve_layout(self.run, layer, self._layout_arg, "explore()")
        return self._layouts[layer]

    def _recompute(self, bar: Any = None) -> None:
        """Compute (or take from the cache) what the current setting shows and send it to the browser.

        The maps come first. With a live page (``frontend``), correlation views not
        cached yet are computed in a worker thread, so the kernel takes the next
        setting change at once; without one (Python use) everything is computed here.
        """
        with self._lock:
            self.busy, self.progress = True, 0.0
            pending = False
            try:
                pending = self._compute(bar)
            except Exception as exc:
                self.status_text = f"failed: {exc}"
                raise
            finally:
                if not pending:
                    self.busy, self.progress = False, 1.0

    def _compute(self, bar: Any) -> bool:
        """Send the current setting's scenes; True if the correlation views are still being computed."""
        run, settings = self.run, self._settings
        layer, measure, by, n, res = self.layer, self.measure, self.by, run.n_snapshots, self.resolution
        self._resolution_used = res
        total, done = self._n_steps(), [0]

        def step(what: str) -> None:
            self.status_text = f"computing {what}…"
            self.progress = done[0] / total
            done[0] += 1
            if bar is not None:
                bar.set_description(what)
                bar.update()

        layout, note = self._layout(layer)
        conf = self._data.confidence(measure)
        if settings.show_maps:
            self.maps = self._cached(("maps", n, layer, by, measure, res), lambda: self._same_maps(
                n, layer, by, measure, res) or MapState(self._data, layer, by, measure, layout, settings,
                                                        resolution=res, step=step))
            self.curve = self._cached(("curve", n, measure), lambda: CurveState(run, measure, conf))
            self.index = min(self.index, self.maps.n_frames - 1)
            # `setting`: what the browser files a scene under, to draw it again at once when the user comes back
            self._painted.clear()
            with self.hold_sync():  # one message: the page draws maps and curves of the new setting at once
                self.scene_curves = {**self.curve.scene(), "setting": measure}
                self.scene_maps = {**self.maps.scene(self.index),
                                   "setting": f"{layer}|{self.grouping_value}|{measure}"}
        self.status_text = note
        if not settings.correlation:
            return False
        key = ("corr", n, layer, measure, res)

        def corr_step(what: str) -> None:
            # a worker job the user has left (another setting is wanted) stops here
            if threading.current_thread() is not threading.main_thread() and self._wanted != key:
                raise _Abandoned(key)
            step(what)

        def make() -> CorrelationState:
            return CorrelationState(self._data, layer, measure, conf, layout, settings, resolution=res,
                                    step=corr_step)

        self._wanted = key  # a job for another setting still running stops (and never shows its views)
        if key in self._cache or not self.frontend:
            self._show_correlation(key, self._cached(key, make), note)
            return False
        maps_key = self.maps.key if settings.show_maps and self.maps is not None else None
        self._worker().submit(self._correlation_job, key, make, note, maps_key)
        return True

    def _same_maps(self, n: int, layer: str, by: str, measure: str, res: int) -> MapState | None:
        """The maps of another measure when ``by`` does not depend on the measure (no confidence
        factor; predictions are the recorded argmax except with mc_dropout), under this measure's key."""
        def free(m: str) -> bool:
            return "confidence" not in by and not (m == "mc_dropout" and ("correct" in by or "prediction" in by))

        if not free(measure):
            return None
        for (kind, *rest), state in reversed(self._cache.items()):
            if kind == "maps" and rest[:3] == [n, layer, by] and rest[4] == res and free(rest[3]):
                return state.for_measure(measure)
        return None

    def _show_correlation(self, key: tuple, state: CorrelationState, note: str) -> None:
        self.corr = state
        self.scene_correlation = {**state.scene(), "setting": f"{state.series.layer}|{state.series.measure}"}
        self.status_text = note

    def _correlation_job(self, key: tuple, make: Callable[[], CorrelationState], note: str,
                         maps_key: str | None) -> None:
        """In the worker: compute the correlation views of ``key``; show them if still wanted.

        First the page draws the new maps (``maps_key``; at most :data:`MAPS_FIRST_SECONDS`);
        a job whose setting the user has left by then, or between its steps, stops.
        """
        try:
            if maps_key is not None:
                self._painted.wait(MAPS_FIRST_SECONDS)
            if self._wanted != key:
                return
            state = self._cache.get(key) or _abandonable(make, lambda: self._wanted != key)
            with self._lock:
                self._cached(key, lambda: state)
                if self._wanted == key:
                    self._show_correlation(key, state, note)
        except _Abandoned:
            pass
        except Exception as exc:  # noqa: BLE001 - shown in the status line; the widget stays usable
            self.status_text = f"failed: {exc}"
        finally:
            if self._wanted == key:
                self.busy, self.progress = False, 1.0

    def _worker(self) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actconf-explorer")
        return self._executor

    def _on_setting(self, change: dict) -> None:
        if change["name"] == "pixel_ratio" and self.resolution == self._resolution_used:
            return
        try:
            self._recompute()
        except Exception:  # noqa: BLE001 - shown in the status line; the widget stays usable
            pass

    def _on_index(self, change: dict) -> None:
        if self.maps is not None and self.maps.remote:
            self._send_frame(int(change["new"]))

    def _on_message(self, _: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "frame":
            self._send_frame(int(content.get("index", self.index)))
        elif content.get("type") == "drawn" and self.maps is not None and content.get("key") == self.maps.key:
            self._painted.set()

    def _send_frame(self, i: int) -> None:
        """Frames over the budget: the colour indices of frame ``i`` for the browser."""
        if self.maps is None or not self.maps.remote or not 0 <= i < self.maps.n_frames:
            return
        self.send({"type": "frame", "key": self.maps.key, "index": i},
                  buffers=list(_scene.wire_frames(self.maps.frame(i))))

    def show(self, i: int) -> None:
        """Display snapshot position ``i`` (what moving the slider does)."""
        self.index = int(i)

    # -- static image --------------------------------------------------------------------
    def static_image(self) -> bytes:
        """A JPEG of what the explorer shows now (maps, curves, correlation views) for saved notebooks."""
        from PIL import Image

        i = self.index
        key = (getattr(self.maps, "key", None), getattr(self.corr, "key", None), i)
        if self._static is not None and self._static[0] == key:
            return self._static[1]
        rows = []
        if self.maps is not None:
            rows.append([_pixels(self.maps.figure(i, self.maps.titles[i])), _pixels(self.curve.figure(i))])
        if self.corr is not None:
            rows.append([_pixels(self.corr.figure(i))])
        width = max(sum(im.shape[1] for im in row) for row in rows)
        height = sum(max(im.shape[0] for im in row) for row in rows)
        canvas = Image.new("RGB", (width, height), "white")
        y = 0
        for row in rows:
            x = 0
            for im in row:
                canvas.paste(Image.fromarray(im), (x, y))
                x += im.shape[1]
            y += max(im.shape[0] for im in row)
        buf = io.BytesIO()
        canvas.save(buf, format="JPEG", quality=90, subsampling=0)
        self._static = (key, buf.getvalue())
        return self._static[1]

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data = dict(data)
        data["image/jpeg"] = base64.b64encode(self.static_image()).decode("ascii")
        return data, metadata

    # -- live runs ----------------------------------------------------------------------
    def poll(self) -> int:
        """Pick up snapshots a still-running training added; return how many are new."""
        before = self.run.n_snapshots
        self.run.refresh()
        added = self.run.n_snapshots - before
        if added > 0:
            self._grow(at_end=self.index == before - 1)
        return added

    def _grow(self, *, at_end: bool) -> None:
        """Extend the slider to the run's new length (following the end if it was there) and recompute."""
        n = self.run.n_snapshots
        with self._lock:
            for key in [k for k in self._cache if k[1] != n]:
                self._cache.pop(key)
            with self.hold_trait_notifications():
                self.labels = snapshot_labels(self.run)
                if at_end:
                    self.index = n - 1
            self._recompute()

    def _poll_loop(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - keep the UI alive; show the problem
                self.status_text = f"live update failed: {exc}"

    def close(self) -> None:
        """Stop live updates and close the widget."""
        self._stop.set()
        if getattr(self, "_executor", None) is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()


def _abandonable(make: Callable[[], Any], left: Callable[[], bool]) -> Any:
    """``make()``, stopped before its next dask task once ``left()`` (the user moved on); only dask
    work of this thread is watched (dask's callbacks run in the thread that computes)."""
    from dask.callbacks import Callback

    me = threading.current_thread()

    def check(*_: Any) -> None:
        if threading.current_thread() is me and left():
            raise _Abandoned()

    with Callback(pretask=check):
        return make()


def _pixels(fig: Any) -> np.ndarray:
    """RGB pixels of a matplotlib Figure (Agg canvas)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
