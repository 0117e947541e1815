"""Comparing layout methods over repeats, as in the TAM paper's evaluation: :func:`compare_layouts`.

Each repeat lays out the same profiles with another seed (``redraw="seed"``) or
new profiles from a random subsample of the probe samples (``redraw="inputs"``),
with every method, and scores each layout with the measures of
:func:`~actconf.layout.layout_quality` (smoothness by actconf's ``"masked"``
measure, the authors' ``"paper"`` measure or both) plus the smoothness error
curves. The result is a tidy DataFrame; :func:`actconf.plots.plot_layout_comparison`
draws it.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_bool, check_float, check_int, check_option, check_run, param_error
from ..errors import InvalidInputError, InvalidParameterError
from ._compute import compute_layout
from ._from_run import layout_profiles
from ._methods import METHODS
from ._profiles import check_profiles, prepare
from ._quality import check_quality, quality_detail

#: The methods :func:`compare_layouts` compares by default.
DEFAULT_COMPARE: tuple[str, ...] = ("random", "graph", "som", "grid", "pca", "mds", "tsne", "umap", "umap+refine")

_COLUMNS = ["method", "repeat", "seed", "measure", "param", "value"]
_MIN_GROUP = 5  # samples a group needs in a subsample (redraw="inputs")


# --------------------------------------------------------------------------- methods
def method_specs(methods: Any, caller: str) -> dict[str, dict[str, Any]]:
    """``compare_layouts``' ``methods`` as ``label -> compute_layout keyword arguments``."""
    specs: dict[str, dict[str, Any]] = {}
    for label, spec in _method_items(methods, caller):
        specs[str(label)] = _named_spec(label, caller) if spec is None else _given_spec(spec, caller)
    return specs


def _method_items(methods: Any, caller: str) -> list[tuple[Any, Any]]:
    """``(label, spec)`` pairs; ``spec`` is None for a method given by its name."""
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        return list(methods.items())
    if not (isinstance(methods, Sequence) and methods):
        raise param_error("methods", caller, "a non-empty list of method names or a dict label -> options",
                          methods)
    for m in methods:
        if not isinstance(m, str):
            raise param_error("methods", caller, "method names (str) or a dict label -> compute_layout "
                              "keyword arguments", methods)
    return [(m, None) for m in methods]


def _named_spec(label: str, caller: str) -> dict[str, Any]:
    """The spec of a name such as ``"som"`` (unrefined) or ``"umap+refine"``."""
    base, _, suffix = label.partition("+")
    if suffix not in ("", "refine"):
        raise param_error("methods", caller, f"names from {', '.join(map(repr, METHODS))}, "
                          "optionally with '+refine'", label)
    check_option("methods", base, METHODS, caller)
    return {"method": base, "refine": suffix == "refine"}


def _given_spec(spec: Any, caller: str) -> dict[str, Any]:
    """A spec given as compute_layout keyword arguments (unrefined unless it says so)."""
    if not isinstance(spec, Mapping) or "method" not in spec:
        raise param_error("methods", caller, "dict values that are compute_layout keyword arguments "
                          "including 'method'", spec)
    spec = dict(spec)
    check_option("methods", spec["method"], METHODS, caller)
    spec.setdefault("refine", False)
    return spec


# --------------------------------------------------------------------------- profiles
def subsampled_profiles(acts: Any, codes: np.ndarray, n_groups: int, fraction: float,
                        rng: np.random.Generator, contrastive: bool, min_size: int) -> np.ndarray:
    """Profiles (neuron, group) from a random subset (``fraction`` of each group's samples).

    ``acts`` (sample, neuron) in memory or as a dask array: the drawn samples' group
    means are one pass over its blocks of samples (:func:`actconf.naps.lazy_group_sums`).
    """
    from .._dask import as_blocks, compute
    from ..naps import lazy_group_sums

    drawn = np.full(codes.shape, -1, dtype=np.int64)
    takes = np.zeros(n_groups)
    for g in range(n_groups):
        members = np.flatnonzero(codes == g)
        take = max(1, int(round(fraction * members.size))) if members.size else 0
        if take < min_size:
            continue
        drawn[rng.choice(members, size=take, replace=False)] = g
        takes[g] = take
    ok = takes > 0
    (sums,) = compute(lazy_group_sums(as_blocks(acts)[None], drawn[None], n_groups))
    means = sums[0][ok] / takes[ok, None]
    if contrastive and len(means):
        means = means - means.mean(axis=0, keepdims=True)
    return means.T


def _profile_source(data: Any, redraw: str, layer: Any, by: str, snapshot: Any, contrastive: bool,
                    caller: str) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int] | None]:
    """The fixed profiles and, for ``redraw="inputs"``, what to subsample new ones from.

    The sampler is ``(activations (sample, neuron), group code per sample, n_groups)``
    at the profiles' snapshot.
    """
    from ..store import Run

    if not isinstance(data, Run | str | os.PathLike):
        if redraw == "inputs":
            raise InvalidParameterError(
                f"{caller}: redraw='inputs' re-draws probe samples, so it needs a run as data, not an "
                "array of profiles. Pass the run, or use redraw='seed'."
            )
        return check_profiles(data, caller, name="data")[0], None
    run = check_run(data, caller, allow_path=True)
    prof = layout_profiles(run, layer, by=by, snapshot=snapshot, contrastive=contrastive)
    fixed = np.asarray(prof.values, dtype=np.float64)
    if redraw != "inputs":
        return fixed, None
    from ..naps import group_samples

    snap = prof.attrs["snapshot"]
    grouping = group_samples(run, by=by, snapshots=[snap])
    codes = np.asarray(grouping.assignment.values)[0]
    from .._dask import snapshot_blocks

    return fixed, (snapshot_blocks(run, prof.attrs["layer"], snap), codes, grouping.n_groups)


def _repeat_profiles(fixed: np.ndarray, sampler: Any, repeat: int, seed: int, subsample: float,
                     contrastive: bool, caller: str) -> np.ndarray:
    """The profiles of one repeat: the fixed ones, or a new subsample's."""
    if sampler is None:
        return fixed
    draw_rng = np.random.default_rng([seed, repeat])
    profiles = subsampled_profiles(*sampler, subsample, draw_rng, contrastive, _MIN_GROUP)
    if profiles.shape[1] == 0:
        raise InvalidInputError(
            f"{caller}: with subsample={subsample} no group keeps {_MIN_GROUP} samples; raise subsample."
        )
    return profiles


# --------------------------------------------------------------------------- one layout
def _timed_layout(profiles: np.ndarray, spec: Mapping[str, Any], seed: int) -> tuple[np.ndarray, float]:
    """Positions of one method's layout and the seconds it took."""
    kwargs = {k: v for k, v in spec.items() if k != "seed"}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lay = compute_layout(profiles, seed=seed, **kwargs)
    return lay.positions, time.perf_counter() - start


def _score_rows(base: dict[str, Any], positions: np.ndarray, dist: np.ndarray, profiles: np.ndarray,
                seconds: float, kinds: tuple[str, ...], wraparound: bool) -> list[dict[str, Any]]:
    """The tidy rows of one layout: its error curves, its scores and its time."""
    scores, curves = quality_detail(positions, dist, profiles.T, k=10, resolution=100, kinds=kinds,
                                    wraparound=wraparound)
    rows = []
    for measure, (xs, ys) in curves.items():
        for x, y in zip(xs, ys, strict=True):
            rows.append({**base, "measure": measure, "param": float(x), "value": float(y)})
    for measure, value in scores.items():
        rows.append({**base, "measure": measure, "param": np.nan, "value": float(value)})
    rows.append({**base, "measure": "seconds", "param": np.nan, "value": seconds})
    return rows


# --------------------------------------------------------------------------- public
def compare_layouts(
    data: Any,
    *,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] = DEFAULT_COMPARE,
    repeats: int = 10,
    first_repeat: int = 0,
    redraw: str = "seed",
    subsample: float = 0.5,
    layer: str | None = None,
    by: str = "class",
    snapshot: Any = "final",
    contrastive: bool = True,
    seed: int = 0,
    progress: bool = True,
    quality: str = "masked",
    wraparound: bool = False,
):
    """Compare layout methods over repeats, as in the TAM paper's evaluation.

    Parameters
    ----------
    data : array-like (n_neurons, n_features) or Run or path-like
        Profiles, or a run (profiles from :func:`layout_profiles` with ``layer``,
        ``by``, ``snapshot``, ``contrastive``).
    methods : list of str or dict, default: all methods plus ``"umap+refine"``
        Method names, optionally suffixed ``"+refine"`` (otherwise unrefined), or
        a dict ``label -> compute_layout keyword arguments`` (with ``method``).
    repeats : int, default=10
        Repeats per method (the paper used 100).
    first_repeat : int, default=0
        Index of the first repeat: the call computes repeats ``first_repeat``,
        ..., ``first_repeat + repeats - 1``. A repeat's rows depend only on
        ``seed`` and its index, so a long comparison can be split into parts
        whose concatenated frames equal one call's (except ``seconds``).
    redraw : {"seed", "inputs"}, default="seed"
        What changes between repeats. ``"seed"``: only the layout's seed
        (``seed + r``), same profiles. ``"inputs"`` (needs a run): every repeat
        draws a random ``subsample`` fraction of each group's probe samples,
        recomputes the NAP profiles from them and lays them out with seed
        ``seed + r`` -- everything is re-drawn, as in the paper's input repeats.
        Quality is always measured against the profiles the layout was computed from.
    subsample : float, default=0.5
        Fraction of each group's samples per repeat with ``redraw="inputs"``.
    layer, by, snapshot, contrastive
        Profile source when ``data`` is a run.
    seed : int, default=0
    progress : bool, default=True
        Show a tqdm progress bar.
    quality : {"masked", "paper", "both"}, default="masked"
        The smoothness measure(s), as in :func:`layout_quality`: actconf's
        ``"masked"`` (blanks are missing data; the default, see there why), the TAM
        authors' ``"paper"`` (blanks are white in an RGB figure) or both, computed
        on the same layouts.
    wraparound : bool, default=False
        With the paper measure: its errors in wrapping 8-bit arithmetic, as the
        authors computed them (see :func:`layout_quality`).

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per ``method``, ``repeat``, ``measure``, ``param``:
        ``value``, plus the ``seed`` of the repeat. Measures: the error curves
        (``param`` = size or radius in px) -- ``resize_mse``, ``blur_mse`` for
        ``"masked"``, ``paper_resize_mse``, ``paper_blur_mse`` for ``"paper"`` --,
        the scores of :func:`layout_quality` (``param`` NaN; ``resize_auc``,
        ``blur_auc`` or ``paper_resize_auc``, ``paper_blur_auc``, and the four
        neighbourhood scores) and ``seconds`` (time to compute the layout).
        ``attrs`` holds ``redraw``, ``quality`` and ``wraparound``. Draw it with
        :func:`actconf.plots.plot_layout_comparison`.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    caller = "compare_layouts()"
    specs = method_specs(methods, caller)
    repeats = check_int("repeats", repeats, caller, min_value=1)
    first_repeat = check_int("first_repeat", first_repeat, caller, min_value=0)
    check_option("redraw", redraw, ("seed", "inputs"), caller)
    subsample = check_float("subsample", subsample, caller, min_value=0.0, max_value=1.0, min_inclusive=False)
    seed = check_int("seed", seed, caller, min_value=0)
    progress = check_bool("progress", progress, caller)
    kinds, wraparound = check_quality(quality, wraparound, caller)
    fixed, sampler = _profile_source(data, redraw, layer, by, snapshot, contrastive, caller)

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=repeats * len(specs), desc="layouts", disable=not progress, leave=False)
    try:
        for r in range(first_repeat, first_repeat + repeats):
            profiles = _repeat_profiles(fixed, sampler, r, seed, subsample, bool(contrastive), caller)
            dist = prepare(profiles).cosine()
            for label, spec in specs.items():
                bar.set_postfix_str(f"{label}, repeat {r + 1}")
                positions, seconds = _timed_layout(profiles, spec, seed + r)
                base = {"method": label, "repeat": r, "seed": seed + r}
                rows += _score_rows(base, positions, dist, profiles, seconds, kinds, wraparound)
                bar.update(1)
    finally:
        bar.close()
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame.attrs.update(redraw=redraw, quality=quality, wraparound=wraparound)
    return frame
