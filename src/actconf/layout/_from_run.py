"""Layouts of a recorded run: its profiles, a layout computed from them, "the" layout of a layer.

:func:`layout_profiles` gives the NAP profiles of one snapshot,
:func:`layout_from_run` lays them out with :func:`~actconf.layout.compute_layout`,
and :func:`ensure_layout` is the one way the rest of actconf gets a layer's
layout: the saved one, else a computed one (saved only when asked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validation import check_bool, check_option, check_run, param_error
from ..errors import InvalidInputError, MissingDataError
from ._compute import compute_layout
from ._methods import METHODS
from ._value import Layout, check_name, load_layout


def layout_profiles(
    run: Any,
    layer: str | None = None,
    *,
    by: str = "class",
    snapshot: Any = "final",
    contrastive: bool = True,
    min_size: int = 5,
):
    """The profiles a run's layout is computed from: NAPs across groups at one snapshot.

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        First recorded layer by default.
    by : str, default="class"
        Grouping of the probe samples (see :func:`actconf.naps.naps`).
    snapshot : selector, default="final"
        Must select exactly one snapshot (see :meth:`Run.snapshot_index`).
    contrastive : bool, default=True
        Subtract each neuron's mean over groups (the paper's reference NAPs), so
        that profiles compare *which groups* a neuron prefers.
    min_size : int, default=5
        Groups with fewer samples have no NAP and are left out.

    Returns
    -------
    xarray.DataArray (neuron, group)
        ``attrs`` carry ``layer``, ``snapshot`` (position), ``snapshot_label``, ``by``,
        ``contrastive``, ``dropped_groups``.
    """
    from ..naps import naps

    caller = "layout_profiles()"
    run = check_run(run, caller, allow_path=True)
    layer = run.check_layer(layer)
    idx = run.snapshot_index(snapshot)
    if idx.size != 1:
        raise param_error("snapshot", caller, "a selector of exactly one snapshot (e.g. 'final', -1, 3)",
                          snapshot, f"It selects {idx.size} snapshots.")
    snap = int(idx[0])
    nap = naps(run, layer, by=by, snapshots=[snap], contrastive=bool(contrastive),
               min_size=min_size).isel(snapshot=0)
    ok = np.isfinite(nap.values).all(axis=1)
    if not ok.any():
        raise InvalidInputError(
            f"{caller}: no group has at least min_size={min_size} samples at snapshot {snap}, so "
            "there are no profiles to lay out. Lower min_size or group more coarsely."
        )
    dropped = [str(g) for g in np.asarray(nap["group"].values)[~ok]]
    prof = nap.isel(group=np.flatnonzero(ok)).transpose("neuron", "group")
    prof.attrs.update({"layer": layer, "snapshot": snap,
                       "snapshot_label": str(run.snapshots["label"].iloc[snap]),
                       "by": str(nap.attrs.get("by", by)), "contrastive": bool(contrastive),
                       "dropped_groups": dropped})
    return prof


def layout_from_run(
    run: Any,
    layer: str | None = None,
    *,
    method: str = "umap",
    by: str = "class",
    snapshot: Any = "final",
    contrastive: bool = True,
    refine: bool | Mapping[str, Any] | None = None,
    seed: int | np.random.Generator = 0,
    min_size: int = 5,
    **options: Any,
) -> Layout:
    """Compute a layer's layout from a recorded run (profiles from :func:`layout_profiles`).

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        First recorded layer by default.
    method, refine, seed, **options
        As for :func:`compute_layout`.
    by, snapshot, contrastive, min_size
        As for :func:`layout_profiles`: by default the contrastive class NAPs at the
        final snapshot (the paper computes the layout once, from the final model);
        ``min_size`` is the smallest group kept.

    Returns
    -------
    Layout
        With ``layer`` and ``source_snapshot`` set, ready for ``layout.save(run)``.

    Examples
    --------
    >>> layout = layout_from_run(run, "dense_1")          # doctest: +SKIP
    >>> layout.save(run)                                  # doctest: +SKIP
    >>> load_layout(run, "dense_1").equals(layout)       # doctest: +SKIP
    True
    """
    check_option("method", method, METHODS, "layout_from_run()")  # before the profiles are computed
    prof = layout_profiles(run, layer, by=by, snapshot=snapshot, contrastive=contrastive, min_size=min_size)
    lay = compute_layout(prof, method=method, refine=refine, seed=seed, layer=prof.attrs["layer"], **options)
    params = dict(lay.params)
    params["profiles"] = {"by": prof.attrs["by"], "contrastive": prof.attrs["contrastive"],
                          "groups": [str(g) for g in prof["group"].values],
                          "dropped_groups": prof.attrs["dropped_groups"],
                          "snapshot_label": prof.attrs["snapshot_label"]}
    return dataclasses.replace(lay, source_snapshot=prof.attrs["snapshot"], params=params)


def ensure_layout(
    run: Any,
    layer: str | None = None,
    *,
    name: str = "default",
    method: str = "umap",
    seed: int = 0,
    save: bool = False,
    **options: Any,
) -> Layout:
    """The layout saved in the run under ``name``, or a new one computed from the run.

    The one way every part of actconf (report, explorer, notebooks, CLI) gets "the"
    layout of a layer. A saved layout always wins (``method``, ``seed`` and
    ``options`` then do not matter); otherwise one is computed with
    :func:`layout_from_run` and, only with ``save=True``, saved under ``name``. The
    run on disk changes only then.

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        The first recorded layer by default.
    name : str, default="default"
        Name of the saved layout to look for (and to save under).
    method : str, default="umap"
        Method when a layout must be computed (UMAP is refined, as in the paper).
    seed : int, default=0
    save : bool, default=False
        Save a newly computed layout into the run.
    **options
        Further :func:`layout_from_run` arguments for a computed layout.

    Returns
    -------
    Layout
        ``saved_as`` tells where it came from: the name it is saved under in the
        run, or ``None`` for a computed layout that was not saved.

    Raises
    ------
    CorruptRunError
        A layout of that name is saved but damaged (nothing is recomputed silently;
        delete ``<run>/layouts/<layer>/<name>.*`` or save a new one with
        ``overwrite=True``).
    """
    caller = "ensure_layout()"
    run = check_run(run, caller, allow_path=True)
    layer = run.check_layer(layer)
    name = check_name(name, caller)
    check_option("method", method, METHODS, caller)
    save = check_bool("save", save, caller)
    try:
        return load_layout(run, layer, name=name)
    except MissingDataError:
        pass
    layout = layout_from_run(run, layer, method=method, seed=seed, **options)
    if save:
        layout.save(run, name=name)
        layout = dataclasses.replace(layout, saved_as=name)
    return layout
