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
The explorer is an ``anywidget`` (:class:`Explorer`; JupyterLab, Notebook 7, VS
Code). For the current (layer, grouping, measure) the values of *every* snapshot
are sent to the browser once — each map as one colour index per pixel, charts and
scatter as numbers — and the browser draws the snapshot under the slider itself:
the slider, the arrow keys and Play never wait for the kernel. Changing a setting
computes on demand (progress in the widget) and caches the result per setting;
the maps appear first, the correlation views follow once the page has drawn them
(computed meanwhile in a worker thread, which gives up when you move on to another
setting). A new setting reads nothing from the run: the explorer keeps the confidence
of each measure shown, the predictions and — up to 256 MB in all
(``widgets._data.ACTIVATION_BUDGET``) — the layers' activations; over that, a layer is
read block by block for every new setting. Maps are rendered at the
browser's device pixel ratio; charts and text are drawn by the browser, so they are
sharp at any zoom, and the panels wrap to the width of the output area. Runs whose
frames exceed :data:`FRAME_BUDGET_BYTES` (64 MB) keep them in the kernel, which then
sends each frame when the slider reaches it.

Saved notebooks
---------------
Besides the widget, the output holds a static JPEG of the explorer as it was first
shown (what exports, GitHub and untrusted notebooks display). With JupyterLab's
*Settings → Save Widget State Automatically* the widget itself is saved and works
without a kernel (slider and Play; settings need the kernel). Progress while the
explorer is first computed is one line of text when done (:func:`progress_bar`).

This package wires computations to the browser: statistics come from
:mod:`actconf.naps`, :mod:`actconf.analysis` and :mod:`actconf.confidence`, the
layout from :func:`actconf.layout.ensure_layout` (never saved from here), static
figures from :mod:`actconf.plots`. Each explorer keeps its own caches; renderers
are shared through :func:`actconf.render.get_renderer`'s cache.
"""

from __future__ import annotations

from typing import Any

from .._validation import check_bool, check_float, check_int, check_option, check_run, param_error
from ..errors import InvalidInputError
from ._explorer import GROUPINGS as GROUPINGS
from ._explorer import Explorer as Explorer
from ._progress import progress_bar as progress_bar
from ._states import FRAME_BUDGET_BYTES as FRAME_BUDGET_BYTES
from ._states import Settings

# named internal API besides __all__: Explorer, GROUPINGS, FRAME_BUDGET_BYTES, progress_bar
__all__ = ["explore", "explore_correlation"]


def _validate(run: Any, layer: Any, measure: Any, caller: str) -> tuple[Any, str, str, list[str]]:
    from ..confidence import available_measures

    run = check_run(run, caller)
    if run.n_snapshots < 1:
        raise InvalidInputError(f"{caller}: the run has no snapshots yet; start training (or wait) first.")
    layer = run.check_layer(layer)
    measures = list(available_measures(run))
    check_option("measure", measure, measures, caller)
    return run, layer, measure, measures


def _budget(frame_budget: Any, caller: str) -> int:
    return check_int("frame_budget", frame_budget, caller, min_value=0)


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
    frame_budget: int = FRAME_BUDGET_BYTES,
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
        Contrastive NAPs (each group minus the mean over groups), as in the paper:
        a diverging colour scale around 0. With False, mean activations on a
        sequential scale from 0 (the convention of :func:`actconf.plots.plot_map_grid`).
    correlation : bool, default=True
        Also show the activity–confidence views of :func:`explore_correlation`.
    live : bool, default=False
        Poll the run every ``poll_seconds`` for snapshots that a still-running
        training adds (:meth:`Run.refresh`); the slider grows, and follows the
        newest snapshot if it was at the end. ``explorer.poll()`` does one check.
    poll_seconds : float, default=5
    progress : bool, default=True
        Show progress while the first view is computed (later in the widget).
    frame_budget : int, default=64 MB
        Bytes of map frames sent to the browser at once; above it the kernel sends
        each frame when the slider reaches it (slower, but any run fits).

    Returns
    -------
    Explorer (an anywidget / ipywidgets DOMWidget)
        Its ``slider`` selects the snapshot (``slider.value``); ``show(i)`` does
        the same from code; ``close()`` stops live polling.
    """
    caller = "explore()"
    run, layer, measure, measures = _validate(run, layer, measure, caller)
    from ..naps import parse_by

    by = "+".join(parse_by(by, caller))
    if by not in GROUPINGS.values():
        raise param_error("by", caller, "one of " + ", ".join(repr(v) for v in GROUPINGS.values()), by)
    settings = Settings(bins=bins, contrastive=check_bool("contrastive", contrastive, caller), show_maps=True,
                        correlation=bool(correlation), color_by="class", n_boot=500, progress=bool(progress),
                        live=bool(live), poll_seconds=check_float("poll_seconds", poll_seconds, caller,
                                                                  min_value=0.1),
                        budget=_budget(frame_budget, caller))
    return Explorer(run, layer=layer, by=by, measure=measure, layout=layout, settings=settings, measures=measures)


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
    layer's map (diverging scale, -1 to 1), and the correlation over training with
    a marker at the snapshot. Axis and colour limits are fixed across snapshots.

    The chart over training shows, as :func:`actconf.plots.plot_correlation` does,
    the raw correlation (solid, with its CI), the correlation controlled for the logit
    spread (dotted, with its CI; ``activity_confidence(control=True)``'s ``rho_ctrl``:
    how much of the relation is more than a sharper softmax) and the untrained
    network's correlation (snapshot 0) as a dashed reference line: only the change
    from it is learned.

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
    Explorer (an anywidget / ipywidgets DOMWidget)
    """
    caller = "explore_correlation()"
    run, layer, measure, measures = _validate(run, layer, measure, caller)
    check_option("color_by", color_by, ("class", "correct"), caller)
    settings = Settings(bins=None, contrastive=True, show_maps=False, correlation=True, color_by=color_by,
                        n_boot=check_int("n_boot", n_boot, caller, min_value=0), progress=bool(progress),
                        live=bool(live), poll_seconds=5.0)
    return Explorer(run, layer=layer, by="class", measure=measure, layout=layout, settings=settings,
                    measures=measures)
