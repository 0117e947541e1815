"""Computing layouts from profile arrays: :func:`compute_layout`, :func:`refine_layout`, :func:`warm_up`.

Validates the method, its options and the refine options, prepares the profiles
(:mod:`._profiles`), runs the method from the registry (:mod:`._methods`),
normalises and optionally refines (:mod:`._refine`) the positions, and wraps them
in a :class:`~actconf.layout.Layout`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_float, check_int, check_option, check_random_state, param_error
from ..errors import InvalidParameterError
from . import _umap
from ._coords import normalise, square_grid
from ._methods import LAYOUT_FUNCTIONS, METHODS, OPTIONS
from ._profiles import Prepared, check_profiles, n_distinct, prepare
from ._refine import REFINE_DEFAULTS, refine_positions
from ._value import Layout

#: options of the SOM that ``method="grid"`` passes on to its default base
_GRID_SOM_OPTIONS = {"sigma": 1.0, "learning_rate": 0.5, "iterations": None}


def warm_up() -> float:
    """Import umap-learn and load (or, the first time on this machine, compile) its numba code; return the seconds.

    A fresh process pays 2-4 s to import umap-learn; the very first UMAP fit on a
    machine also compiles umap-learn's numba code (10-30 s), which is then cached on
    disk (:func:`~actconf.layout._umap.umap_cache_dir`) so that later processes load
    it in ~0.3 s. Fits of a few hundred neurons then take ~0.1-0.3 s. Call this early
    (e.g. at the top of a notebook) so that the first layout is quick. Calling it
    again in the same process is free.
    """
    start = time.perf_counter()
    _umap.warm_up_umap()
    return time.perf_counter() - start


# =========================================================================== checks
def check_method_options(method: str, options: Mapping[str, Any], n: int, caller: str) -> dict[str, Any]:
    """Validate ``compute_layout``'s ``**options`` for ``method`` (``n`` neurons); return them."""
    allowed = dict(OPTIONS[method])
    if method == "grid":
        allowed.update(_GRID_SOM_OPTIONS)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        accepted = ", ".join(repr(k) for k in allowed) or "none"
        raise InvalidParameterError(
            f"{caller}: unknown option(s) {', '.join(map(repr, unknown))} for method={method!r}. "
            f"Options it accepts: {accepted}."
        )
    if method == "grid" and options.get("base", "som") != "som":
        som_only = sorted(set(_GRID_SOM_OPTIONS) & set(options))
        if som_only:
            raise InvalidParameterError(
                f"{caller}: option(s) {', '.join(map(repr, som_only))} belong to the SOM, but "
                f"base={options['base']!r}. Drop them, or use base='som'."
            )
    return {key: _check_option_value(key, value, method, n, caller) for key, value in options.items()}


def _check_option_value(key: str, value: Any, method: str, n: int, caller: str) -> Any:
    """One method option, checked against its range (some ranges depend on the method)."""
    if key == "n_neighbors":
        return check_int(key, value, caller, min_value=2)
    if key == "min_dist":
        return check_float(key, value, caller, min_value=0.0)
    if key == "side":
        minimum = math.ceil(math.sqrt(n)) if method == "grid" else 1
        return check_int(key, value, caller, min_value=minimum, allow_none=True)
    if key in ("sigma", "learning_rate", "perplexity"):
        return check_float(key, value, caller, min_value=0.0, min_inclusive=False)
    if key == "steps":
        return check_int(key, value, caller, min_value=1)
    if key == "iterations":
        return check_int(key, value, caller, min_value=1, allow_none=True)
    if key == "max_iter":
        return check_int(key, value, caller, min_value=250 if method == "tsne" else 1)
    if key == "spread":
        return check_float(key, value, caller, min_value=0.0, max_value=0.5)
    if key == "percentile":
        return check_float(key, value, caller, min_value=0.0, max_value=100.0, min_inclusive=False)
    if key == "base":
        return check_option(key, value, [m for m in METHODS if m != "grid"], caller)
    return value  # pragma: no cover - every option is listed above


def check_refine(refine: Any, method: str, n: int, caller: str) -> dict[str, Any] | None:
    """Resolve ``compute_layout``'s ``refine`` to refine options, or None for no refinement."""
    if refine is None:
        return dict(REFINE_DEFAULTS) if (method == "umap" and n >= 2) else None
    if isinstance(refine, bool | np.bool_):
        opts: dict[str, Any] | None = dict(REFINE_DEFAULTS) if refine else None
    elif isinstance(refine, Mapping):
        unknown = sorted(set(refine) - set(REFINE_DEFAULTS))
        if unknown:
            raise InvalidParameterError(
                f"{caller}: unknown refine option(s) {', '.join(map(repr, unknown))}. Options: "
                f"{', '.join(repr(k) for k in REFINE_DEFAULTS)}."
            )
        opts = {**REFINE_DEFAULTS, **refine}
    else:
        raise param_error("refine", caller, "None (refine UMAP layouts only), True, False or a dict of "
                          "refine options", refine)
    if opts is None:
        return None
    if n < 2:
        raise InvalidParameterError(
            f"{caller}: refine needs at least 2 neurons to spread apart, but the profiles hold {n}. "
            "Pass refine=False (one neuron is simply placed at (0.5, 0.5))."
        )
    return check_refine_options(opts, caller)


def check_refine_options(opts: Mapping[str, Any], caller: str) -> dict[str, Any]:
    """Validate the five refine options (all present); return them typed."""
    return {
        "steps": check_int("steps", opts["steps"], caller, min_value=1),
        "spacing": check_float("spacing", opts["spacing"], caller, min_value=0.0, min_inclusive=False,
                               max_value=2.0),
        "attraction": check_float("attraction", opts["attraction"], caller, min_value=0.0),
        "global_weight": check_float("global_weight", opts["global_weight"], caller, min_value=0.0),
        "n_neighbors": check_int("n_neighbors", opts["n_neighbors"], caller, min_value=1),
    }


def _seed_value(seed: Any, caller: str) -> tuple[np.random.Generator, int | None]:
    """The generator of ``seed`` and the int to record (None for a Generator)."""
    rng = check_random_state(seed, caller)
    return rng, (int(seed) if isinstance(seed, numbers.Integral) else None)


def _check_neuron_ids(ids: Any, n: int, caller: str) -> np.ndarray | None:
    """``n`` integer neuron ids (one per profile row) as an array, or None for ``0..n-1``."""
    if ids is None:
        return None
    ids = np.asarray(ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise param_error("neurons", caller, f"{n} integer ids, one per profile row",
                          f"an array of shape {ids.shape} and dtype {ids.dtype}")
    return ids


# =========================================================================== computing
def compute_layout(
    profiles: Any,
    *,
    method: str = "umap",
    refine: bool | Mapping[str, Any] | None = None,
    seed: int | np.random.Generator = 0,
    neurons: Sequence[int] | np.ndarray | None = None,
    layer: str | None = None,
    **options: Any,
) -> Layout:
    """Place neurons in the unit square so that similar profiles sit close together.

    Parameters
    ----------
    profiles : array-like of shape (n_neurons, n_features)
        One row per neuron, e.g. its NAP in every group (``nap.isel(snapshot=-1).T``);
        an ``xarray.DataArray`` with a ``neuron`` dimension is transposed as needed.
        Compared by cosine distance; all-zero rows are *dead* (see the module notes).
    method : str, default="umap"
        One of ``"umap"``, ``"som"``, ``"grid"``, ``"tsne"``, ``"pca"``, ``"mds"``,
        ``"graph"``, ``"random"``, ``"umap_pso"`` (the TAM authors' UMAP_PSO: see
        the module docstring).
    refine : None, bool or dict, default=None
        Force-directed spreading after the method. ``None``: only after UMAP (the
        paper's recipe); a dict sets refine options (``steps=1000``,
        ``spacing=0.8``, ``attraction=0.0``, ``global_weight=0.0``,
        ``n_neighbors=10``).
    seed : int or numpy.random.Generator, default=0
        Same seed, same positions.
    neurons : sequence of int, optional
        Neuron ids of the rows (default ``0..n-1``, or the ``neuron`` coordinate).
    layer : str, optional
        Recorded on the Layout (needed to save it in a run).
    **options
        Method options: ``umap``: ``n_neighbors=15``, ``min_dist=0.1``; ``som``:
        ``side``, ``sigma=1``, ``learning_rate=0.5``, ``iterations=10 n``,
        ``spread=0.25``; ``grid``: ``base="som"``, ``side`` (and the SOM's
        ``sigma``, ``learning_rate``, ``iterations``); ``tsne``: ``perplexity=30``,
        ``max_iter=1000``; ``mds``: ``max_iter=300``; ``graph``:
        ``percentile=7.5``, ``iterations=50``; ``umap_pso``: ``n_neighbors=15``,
        ``min_dist=0.1``, ``steps=1000`` (of the authors' simulation).

    Returns
    -------
    Layout
        ``positions`` in ``[0, 1]^2``; ``params`` holds the options used.

    Raises
    ------
    InvalidParameterError
        Unknown method or option, profiles that are not a finite 2-D array,
        ``refine`` requested for a single neuron, a bad seed.

    Examples
    --------
    >>> import numpy as np
    >>> from actconf.layout import compute_layout
    >>> profiles = np.random.default_rng(0).normal(size=(64, 10))
    >>> layout = compute_layout(profiles, method="som", seed=1)
    >>> layout.positions.shape
    (64, 2)
    """
    caller = "compute_layout()"
    check_option("method", method, METHODS, caller)
    arr, coord_ids = check_profiles(profiles, caller)
    n = arr.shape[0]
    rng, seed_int = _seed_value(seed, caller)
    opts = check_method_options(method, options, n, caller)
    refine_opts = check_refine(refine, method, n, caller)
    ids = _check_neuron_ids(coord_ids if neurons is None else neurons, n, caller)
    if layer is not None and not isinstance(layer, str):
        raise param_error("layer", caller, "a layer name (str) or None", layer)

    prep = prepare(arr)
    params: dict[str, Any] = {"metric": "cosine", "n_dead": int(prep.dead.sum()),
                              "n_constant": int(prep.constant.sum()), "n_features": int(arr.shape[1])}
    pos, refined = _place(prep, method, opts, refine_opts, rng, params, caller)
    params["refine"] = refined
    return Layout(positions=pos, neurons=ids, layer=layer, method=method, params=params, seed=seed_int,
                  dead=prep.dead)


def _place(prep: Prepared, method: str, opts: dict[str, Any], refine_opts: dict[str, Any] | None,
           rng: np.random.Generator, params: dict[str, Any],
           caller: str) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Normalised positions and the refine options that ran; records what was done in ``params``.

    One neuron sits at the centre; identical profiles (nothing to arrange) go on a
    square grid in index order, with a warning; otherwise the method runs and,
    if asked, the refinement.
    """
    n = prep.n
    if n == 1:
        params["small_n"] = "one neuron at the centre"
        return np.array([[0.5, 0.5]]), refine_opts
    if method != "random" and n_distinct(prep.unit) == 1:
        warnings.warn(
            f"{caller}: all {n} profiles are identical (or all dead), so method={method!r} has "
            "nothing to arrange; the neurons are placed on a square grid in index order.",
            RuntimeWarning, stacklevel=3,
        )
        params["degenerate"] = "all profiles identical: square grid in index order"
        return normalise(square_grid(n)), None
    coords, used = LAYOUT_FUNCTIONS[method](prep, rng, **opts)
    params.update(used)
    pos = normalise(coords)
    if refine_opts is not None:
        pos = refine_positions(pos, prep.unit, rng, **refine_opts)
    return pos, refine_opts


def refine_layout(
    layout_or_positions: Any,
    *,
    profiles: Any = None,
    seed: int | np.random.Generator = 0,
    steps: int = 1000,
    spacing: float = 0.8,
    attraction: float = 0.0,
    global_weight: float = 0.0,
    n_neighbors: int = 10,
) -> Any:
    """Spread a layout out with the force-directed refinement (the paper's "PSO" step).

    Parameters
    ----------
    layout_or_positions : Layout or array-like of shape (n_neurons, 2)
        At least 2 neurons. Positions are min-max normalised first.
    profiles : array-like of shape (n_neurons, n_features), optional
        Needed for the attraction and global terms (without them, only the
        local repulsion acts).
    seed : int or Generator, default=0
    steps : int, default=1000
    spacing : float, default=0.8
        Neurons closer than ``spacing / sqrt(n)`` repel each other.
    attraction : float, default=0.0
        Pull towards the ``n_neighbors`` most similar neurons (by profile) that
        are farther than that distance.
    global_weight : float, default=0.0
        Weight of the term that pulls layout distances of random pairs towards
        the profile distances.
    n_neighbors : int, default=10

    Returns
    -------
    Layout or ndarray
        The same kind as given: a new Layout (``params["refine"]`` filled in) or an
        array of positions in ``[0, 1]^2``.
    """
    caller = "refine_layout()"
    from ..render import positions_of

    pos = positions_of(layout_or_positions, caller)
    n = len(pos)
    if n < 2:
        raise InvalidParameterError(
            f"{caller}: refinement needs at least 2 neurons to spread apart; got {n}. A single neuron "
            "is already placed (at the centre)."
        )
    unit = None
    if profiles is not None:
        arr, _ = check_profiles(profiles, caller)
        if arr.shape[0] != n:
            raise param_error("profiles", caller, f"one row per neuron ({n})", f"an array of shape {arr.shape}")
        unit = prepare(arr).unit
    rng, _ = _seed_value(seed, caller)
    opts = check_refine_options({"steps": steps, "spacing": spacing, "attraction": attraction,
                                 "global_weight": global_weight, "n_neighbors": n_neighbors}, caller)
    new = refine_positions(normalise(pos), unit, rng, **opts)
    if not isinstance(layout_or_positions, Layout):
        return new
    params = {**layout_or_positions.params, "refine": opts}
    return dataclasses.replace(layout_or_positions, positions=new, params=params)
