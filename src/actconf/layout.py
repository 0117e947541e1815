"""Topographic layouts of neurons: place similar neurons close together in 2-D.

A layout gives every neuron of a layer a position in the unit square so that
neurons with similar *profiles* sit close together. A profile is a neuron's vector
of NAP values across groups of inputs (e.g. its mean activation per class at the
final snapshot); similarity is the cosine of two profiles, as in the TAM paper.
The layout is computed once, from one snapshot, and then serves every snapshot and
every group: the maps of a training run differ in activity, never in geometry.

Methods (``compute_layout(profiles, method=...)``)
-------------------------------------------------
``"umap"`` (default)
    umap-learn on the unit-normalised profiles (Euclidean distance between unit
    vectors orders neighbours exactly as cosine distance does), ``n_neighbors``
    capped at ``n - 1``. By default followed by ``refine`` (the paper's recipe for
    its applications: UMAP then force-directed spreading). umap-learn is imported
    on first use, without TensorFlow; its first fit in a process spends ~10 s
    compiling with numba -- call :func:`warm_up` early to pay that up front.
``"som"``
    Self-organising placement (MiniSom): a square map of side ``floor(sqrt(n)) + 1``
    (13 x 13 for 128 neurons), sigma 1, learning rate 0.5, ``10 n`` iterations in
    random order, weights initialised on the profiles' first two principal
    components. Each neuron goes to its winning node; neurons sharing a node are
    spread evenly on a circle of radius ``spread`` (a quarter of the node spacing).
``"grid"``
    Exactly one neuron per cell of a ``ceil(sqrt(n))``-sided square grid: the
    neurons are assigned to cells by :func:`scipy.optimize.linear_sum_assignment`,
    minimising the squared distance between each neuron's position in a base layout
    (``base="som"`` winning nodes by default, or any other method) and its cell.
``"tsne"``, ``"pca"``, ``"mds"``
    t-SNE (scikit-learn, PCA initialisation, perplexity capped at ``(n - 1) / 3``),
    PCA, and metric MDS (SMACOF from classical MDS) of the chord distances
    ``sqrt(2 * cosine)``.
``"graph"``
    Threshold graph: neurons whose cosine distance is at most the 7.5th percentile
    of all pairwise distances are connected, every smaller connected component is
    attached to the largest by its closest pair, then a Fruchterman-Reingold spring
    layout (50 iterations).
``"random"``
    Uniform random positions: the baseline every method should beat.

All positions are min-max normalised to ``[0, 1]`` per axis (an axis without any
extent is set to 0.5).

Refinement (``refine=``)
------------------------
A force-directed particle simulation (the paper's "PSO" step) usable after any
method: too-close neurons (nearer than ``d0 = spacing / sqrt(n)``) push each other
apart (local repulsion); optionally neurons are pulled towards their
``n_neighbors`` most similar neurons when those sit farther than ``d0``
(``attraction``, local attraction) and layout distances of random pairs are pulled
towards the profile distances (``global_weight``, the global term). 1000 steps
with a decaying step size, vectorised numpy with a neighbour list from a k-d tree.
``refine=None`` (default) refines UMAP layouts only; ``True``/``False`` force it;
a dict sets its options (``steps``, ``spacing``, ``attraction``,
``global_weight``, ``n_neighbors``) and implies ``True``.

Defaults (``spacing=0.8``, ``attraction=0``, ``global_weight=0``) were chosen on the
class NAPs of a trained 128-unit MLP (digits): UMAP packs similar neurons on top of
each other, and spreading them to ~0.8 of a uniform spacing makes every neuron
visible while changing the quality scores only slightly (resize error -7 %,
blur error +4 %, trustworthiness 0.94 -> 0.93). Any attraction towards profile
neighbours, even 0.003, pulled the layout into a kNN-graph-like blob and lowered
trustworthiness to ~0.88, so it is off by default.

Dead and constant neurons
-------------------------
*Dead* neurons (profile all zero, up to ``1e-7`` of the largest profile norm) have
no direction, so their cosine distance is undefined. actconf defines it: dead
neurons are at distance 0 from each other and at distance 1 (orthogonal, no shared
direction) from every live neuron. Every method sees exactly these distances (the
unit vectors get one extra coordinate that only dead neurons have), so dead neurons
form one group of their own, placed by the method like any other group; they are
flagged in ``Layout.dead``. For contrastive profiles (per-neuron mean over groups
subtracted, the default of :func:`layout_from_run`) a neuron with the same NAP in
every group has an all-zero profile and is therefore dead in this sense.
*Constant* profiles of non-contrastive NAPs (the same non-zero value in every group)
are not degenerate for the cosine: they all point along ``(1, ..., 1)`` and are
placed together, near neurons that respond almost equally to every group; they are
counted in ``params["n_constant"]``. If all profiles are identical (e.g. every
neuron dead), no method has anything to work with: the neurons are placed on a
square grid in index order, with a warning, and ``params["degenerate"]`` says so.
One neuron sits at ``(0.5, 0.5)``. Positions are never NaN.

Storage
-------
``layout.save(run, name=...)`` writes ``<run>/layouts/<layer>/<name>.npz``
(positions, neuron ids, dead mask; read with ``allow_pickle=False``) and then
``<name>.json`` (everything else plus a checksum of the ``.npz``; written last, it
is the commit point). :func:`load_layout` reads them back, :func:`list_layouts`
lists what a run holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _layout_methods as _m
from . import _layout_quality as _q
from ._validation import check_float, check_int, check_option, check_random_state, param_error
from .errors import CorruptRunError, InvalidInputError, InvalidParameterError, MissingDataError

__all__ = [
    "METHODS",
    "Layout",
    "compare_layouts",
    "compute_layout",
    "ensure_layout",
    "layout_from_run",
    "layout_profiles",
    "layout_quality",
    "list_layouts",
    "load_layout",
    "refine_layout",
    "warm_up",
]

#: Layout methods accepted by :func:`compute_layout`.
METHODS: tuple[str, ...] = tuple(_m.METHODS)

LAYOUT_FORMAT = "actconf-layout"
LAYOUT_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


# =========================================================================== Layout
@dataclass(frozen=True, eq=False)
class Layout:
    """Positions of a layer's neurons in the unit square, with their provenance.

    Attributes
    ----------
    positions : ndarray of shape (n_neurons, 2)
        ``x`` (horizontal) and ``y`` (vertical, upwards) in ``[0, 1]``.
    neurons : ndarray of int, shape (n_neurons,)
        Neuron index in the layer of every row of ``positions``.
    layer : str or None
        The layer the neurons belong to (``None`` for layouts of bare arrays).
    method : str
        One of :data:`METHODS`, or ``"custom"``.
    params : dict
        What produced the layout: method options actually used, refinement
        options (``params["refine"]``, ``None`` if not refined), numbers of dead
        and constant profiles, profile source (groups, ``by``, ``contrastive``).
    source_snapshot : int or None
        Position of the snapshot whose NAPs gave the profiles.
    seed : int or None
        The seed it was computed with (``None`` when a Generator was passed).
    dead : ndarray of bool, shape (n_neurons,)
        Neurons whose profile was all zero (see the module notes).
    saved_as : str or None
        The name it is saved under in its run, when it was loaded from (or saved
        into) a run by :func:`load_layout` / :func:`ensure_layout`; else None.
        Not part of :meth:`equals`.

    Notes
    -----
    Arrays are stored read-only copies; a Layout never changes. Pass it wherever
    positions are expected (``TopoRenderer(layout)``).
    """

    positions: np.ndarray
    neurons: np.ndarray | None = None
    layer: str | None = None
    method: str = "custom"
    params: dict[str, Any] = field(default_factory=dict)
    source_snapshot: int | None = None
    seed: int | None = None
    dead: np.ndarray | None = None
    saved_as: str | None = None

    def __post_init__(self) -> None:
        caller = "Layout()"
        try:
            pos = np.array(self.positions, dtype=np.float64)
        except (TypeError, ValueError):
            raise param_error("positions", caller, "an array of shape (n_neurons, 2)",
                              type(self.positions).__name__) from None
        if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 1:
            raise param_error("positions", caller, "an array of shape (n_neurons, 2)", f"shape {pos.shape}")
        if not np.all(np.isfinite(pos)) or pos.min() < 0 or pos.max() > 1:
            raise param_error("positions", caller, "finite values in [0, 1]",
                              f"values in [{np.nanmin(pos)}, {np.nanmax(pos)}]" if np.isfinite(pos).any()
                              else "non-finite values",
                              "Normalise them first (each axis to [0, 1]).")
        n = len(pos)
        neurons = np.arange(n) if self.neurons is None else np.array(self.neurons)
        if neurons.shape != (n,) or not np.issubdtype(neurons.dtype, np.integer):
            raise param_error("neurons", caller, f"{n} integer neuron ids (one per position)",
                              f"an array of shape {neurons.shape} and dtype {neurons.dtype}")
        if len(np.unique(neurons)) != n or (n and neurons.min() < 0):
            raise param_error("neurons", caller, "distinct non-negative neuron ids", neurons.tolist())
        dead = np.zeros(n, dtype=bool) if self.dead is None else np.array(self.dead, dtype=bool)
        if dead.shape != (n,):
            raise param_error("dead", caller, f"a boolean mask of length {n}", f"shape {dead.shape}")
        if self.layer is not None and not isinstance(self.layer, str):
            raise param_error("layer", caller, "a layer name (str) or None", self.layer)
        for arr in (pos, neurons, dead):
            arr.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "neurons", neurons.astype(np.int64))
        object.__setattr__(self, "dead", dead)
        object.__setattr__(self, "params", dict(self.params))

    # ------------------------------------------------------------------ basics
    @property
    def n_neurons(self) -> int:
        """Number of neurons placed."""
        return int(self.positions.shape[0])

    @property
    def refined(self) -> bool:
        """Whether the force-directed refinement ran."""
        return self.params.get("refine") is not None

    @property
    def label(self) -> str:
        """Short name such as ``"umap+refine"``."""
        return self.method + ("+refine" if self.refined else "")

    def equals(self, other: Any) -> bool:
        """Same positions, neurons, dead mask and metadata."""
        return (
            isinstance(other, Layout)
            and np.array_equal(self.positions, other.positions)
            and np.array_equal(self.neurons, other.neurons)
            and np.array_equal(self.dead, other.dead)
            and self._meta() == other._meta()
        )

    def __repr__(self) -> str:
        where = f"layer {self.layer!r}, " if self.layer is not None else ""
        snap = f", snapshot {self.source_snapshot}" if self.source_snapshot is not None else ""
        dead = f", {int(self.dead.sum())} dead" if self.dead.any() else ""
        return f"<actconf.Layout {self.label}: {where}{self.n_neurons} neurons{dead}, seed {self.seed}{snap}>"

    def _meta(self) -> dict[str, Any]:
        from .store import jsonable

        return jsonable({
            "layer": self.layer,
            "method": self.method,
            "params": self.params,
            "source_snapshot": self.source_snapshot,
            "seed": self.seed,
            "n_neurons": self.n_neurons,
        })

    # ------------------------------------------------------------------ storage
    def save(self, run: Any, *, name: str = "default", overwrite: bool = False) -> Path:
        """Save into the run directory so that every notebook can load the same layout.

        Parameters
        ----------
        run : Run or path-like
            The run the layout belongs to.
        name : str, default="default"
            Letters, digits, ``_``, ``-`` and ``.``; one layer can hold several.
        overwrite : bool, default=False
            Replace a different layout saved under the same name. Saving an
            identical layout again is always allowed (re-running a notebook).

        Returns
        -------
        pathlib.Path
            The ``.json`` file written.

        Raises
        ------
        InvalidParameterError
            The layout has no layer, the layer is not in the run, its neuron ids do
            not fit the layer, the name is invalid, or a different layout already
            has this name and ``overwrite`` is False.
        """
        caller = "Layout.save()"
        run = _as_run(run, caller)
        name = _check_name(name, caller)
        if not isinstance(overwrite, bool):
            raise param_error("overwrite", caller, "True or False", overwrite)
        if self.layer is None:
            raise InvalidParameterError(
                "Layout.save(): this layout has no layer, so it cannot be filed in a run. Create it "
                "with layout_from_run(run, layer, ...), or give it one: "
                "dataclasses.replace(layout, layer='dense_1')."
            )
        layer = run.check_layer(self.layer)
        size = run.layer_sizes[layer]
        if self.neurons.max() >= size:
            raise InvalidParameterError(
                f"Layout.save(): the layout places neuron ids up to {int(self.neurons.max())}, but layer "
                f"{layer!r} of run {str(run.path)!r} has {size} neurons. Was it computed for another layer?"
            )
        folder = _layout_dir(run, layer)
        json_path, npz_path = folder / f"{name}.json", folder / f"{name}.npz"
        if json_path.exists() and not overwrite:
            try:
                existing = _read_layout(json_path, npz_path)
            except Exception:  # damaged: refuse, as for a different layout
                existing = None
            if existing is not None and existing.equals(self):
                return json_path
            raise InvalidParameterError(
                f"Layout.save(): a different layout named {name!r} is already saved for layer {layer!r} "
                f"in {str(folder)!r}. Pass overwrite=True to replace it, or choose another name=."
            )
        folder.mkdir(parents=True, exist_ok=True)
        tmp_npz = folder / f".{name}.{os.getpid()}.npz.partial"
        with open(tmp_npz, "wb") as fh:
            np.savez(fh, positions=self.positions, neurons=self.neurons, dead=self.dead)
        digest = hashlib.sha256(tmp_npz.read_bytes()).hexdigest()
        os.replace(tmp_npz, npz_path)
        meta = {
            "format": LAYOUT_FORMAT,
            "format_version": LAYOUT_FORMAT_VERSION,
            "name": name,
            **self._meta(),
            "arrays": npz_path.name,
            "sha256": digest,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp_json = folder / f".{name}.{os.getpid()}.json.partial"
        tmp_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp_json, json_path)
        return json_path


def _as_run(run: Any, caller: str):
    from .store import Run, open_run

    if isinstance(run, Run):
        return run
    if isinstance(run, str | os.PathLike):
        return open_run(run)
    raise param_error("run", caller, "an actconf Run (from actconf.open_run) or a run directory",
                      type(run).__name__)


def _check_name(name: Any, caller: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith("."):
        raise param_error("name", caller, "a non-empty name of letters, digits, '_', '-' and '.' "
                          "(not starting with '.')", name)
    return name


def _layout_dir(run: Any, layer: str) -> Path:
    from .store import safe_array_key

    return Path(run.path) / "layouts" / safe_array_key(layer)


def _read_layout(json_path: Path, npz_path: Path) -> Layout:
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptRunError(f"Layout file {str(json_path)!r} cannot be read: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != LAYOUT_FORMAT:
        raise CorruptRunError(f"{str(json_path)!r} is not an actconf layout file.")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > LAYOUT_FORMAT_VERSION:
        raise CorruptRunError(
            f"Layout {str(json_path)!r} has format version {meta.get('format_version')!r}; this actconf "
            f"reads up to {LAYOUT_FORMAT_VERSION}. Upgrade actconf."
        )
    try:
        raw = npz_path.read_bytes()
    except OSError as exc:
        raise CorruptRunError(f"Layout arrays {str(npz_path)!r} are missing: {exc}. Save the layout again.") from exc
    if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        raise CorruptRunError(
            f"Layout arrays {str(npz_path)!r} do not match {json_path.name} (checksum differs: an "
            "interrupted or foreign write). Save the layout again."
        )
    import io

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in ("positions", "neurons", "dead")}
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptRunError(f"Layout arrays {str(npz_path)!r} cannot be read: {exc}") from exc
    try:
        return Layout(positions=arrays["positions"], neurons=arrays["neurons"], layer=meta.get("layer"),
                      method=meta.get("method", "custom"), params=meta.get("params") or {},
                      source_snapshot=meta.get("source_snapshot"), seed=meta.get("seed"),
                      dead=arrays["dead"], saved_as=meta.get("name"))
    except InvalidParameterError as exc:
        raise CorruptRunError(f"Layout {str(json_path)!r} is damaged: {exc}") from exc


def load_layout(run: Any, layer: str | None = None, *, name: str = "default") -> Layout:
    """Load a layout saved with :meth:`Layout.save`.

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        The layer; the first recorded layer by default.
    name : str, default="default"

    Returns
    -------
    Layout

    Raises
    ------
    MissingDataError
        No layout of that name is saved for the layer (the message lists those that are).
    CorruptRunError
        The files are damaged or do not belong together.
    """
    caller = "load_layout()"
    run = _as_run(run, caller)
    layer = run.check_layer(layer)
    name = _check_name(name, caller)
    folder = _layout_dir(run, layer)
    json_path = folder / f"{name}.json"
    if not json_path.is_file():
        saved = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        hint = (f"Saved layouts for this layer: {', '.join(map(repr, saved))}." if saved else
                "No layout is saved for this layer yet.")
        raise MissingDataError(
            f"load_layout(): run {str(run.path)!r} has no layout {name!r} for layer {layer!r}. {hint} "
            f"Compute and save one with actconf.layout.layout_from_run(run, {layer!r}).save(run, name={name!r})."
        )
    return _read_layout(json_path, folder / f"{name}.npz")


def list_layouts(run: Any):
    """The layouts saved in a run.

    Parameters
    ----------
    run : Run or path-like

    Returns
    -------
    pandas.DataFrame
        One row per saved layout: ``layer``, ``name``, ``method``, ``refined``,
        ``n_neurons``, ``seed``, ``source_snapshot``, ``created``.
    """
    import pandas as pd

    run = _as_run(run, "list_layouts()")
    rows = []
    for layer in run.layers:
        folder = _layout_dir(run, layer)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(meta, dict) or meta.get("format") != LAYOUT_FORMAT:
                continue
            rows.append({"layer": layer, "name": path.stem, "method": meta.get("method"),
                         "refined": (meta.get("params") or {}).get("refine") is not None,
                         "n_neurons": meta.get("n_neurons"), "seed": meta.get("seed"),
                         "source_snapshot": meta.get("source_snapshot"), "created": meta.get("created")})
    columns = ["layer", "name", "method", "refined", "n_neurons", "seed", "source_snapshot", "created"]
    return pd.DataFrame(rows, columns=columns)


# =========================================================================== computing
def warm_up() -> float:
    """Import umap-learn and compile its numba code now; return the seconds spent.

    The first UMAP fit in a process costs ~10 s of compilation, later fits of a
    few hundred neurons ~0.1-0.3 s. Call this early (e.g. while a model trains, or
    at the top of a notebook) so that the first layout is quick. Calling it again is
    free.
    """
    start = time.perf_counter()
    _m.warm_up_umap()
    return time.perf_counter() - start


def _profiles_array(profiles: Any, caller: str, name: str = "profiles") -> tuple[np.ndarray, np.ndarray | None]:
    """Validate profiles; accept arrays or an xarray (neuron, group) / (group, neuron)."""
    neurons = None
    dims = getattr(profiles, "dims", None)
    if dims is not None and "neuron" in dims:
        if len(dims) != 2:
            raise param_error(name, caller, "a 2-D (neuron, group) array",
                              f"a DataArray with dims {tuple(dims)}",
                              "Select one snapshot first, e.g. nap.isel(snapshot=-1).")
        profiles = profiles.transpose("neuron", *[d for d in dims if d != "neuron"])
        neurons = np.asarray(profiles["neuron"].values) if "neuron" in profiles.coords else None
        profiles = profiles.values
    try:
        arr = np.asarray(profiles, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error(name, caller, "a numeric array of shape (n_neurons, n_features)",
                          type(profiles).__name__) from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise param_error(name, caller, "a 2-D array of shape (n_neurons, n_features) with n_neurons >= 1 "
                          "and n_features >= 1", f"an array of shape {arr.shape}",
                          "Rows are neurons, columns the groups' NAP values (e.g. nap.isel(snapshot=-1).T).")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise param_error(name, caller, "finite (no NaN or inf)",
                          f"{int(bad.sum())} non-finite value(s) in neuron row(s) {rows[:10].tolist()}"
                          + (" ..." if len(rows) > 10 else ""),
                          "Drop groups whose NAP is NaN (too few samples) before laying out.")
    if neurons is not None and not np.issubdtype(np.asarray(neurons).dtype, np.integer):
        neurons = None
    return arr, neurons


def _check_options(method: str, options: Mapping[str, Any], n: int, caller: str) -> dict[str, Any]:
    allowed = dict(_m.OPTIONS[method])
    if method == "grid":
        allowed.update({"sigma": 1.0, "learning_rate": 0.5, "iterations": None})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        accepted = ", ".join(repr(k) for k in allowed) or "none"
        raise InvalidParameterError(
            f"{caller}: unknown option(s) {', '.join(map(repr, unknown))} for method={method!r}. "
            f"Options it accepts: {accepted}."
        )
    if method == "grid" and options.get("base", "som") != "som":
        som_only = sorted({"sigma", "learning_rate", "iterations"} & set(options))
        if som_only:
            raise InvalidParameterError(
                f"{caller}: option(s) {', '.join(map(repr, som_only))} belong to the SOM, but "
                f"base={options['base']!r}. Drop them, or use base='som'."
            )
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "n_neighbors":
            out[key] = check_int(key, value, caller, min_value=2)
        elif key in ("min_dist",):
            out[key] = check_float(key, value, caller, min_value=0.0)
        elif key == "side":
            minimum = math.ceil(math.sqrt(n)) if method == "grid" else 1
            out[key] = check_int(key, value, caller, min_value=minimum, allow_none=True)
        elif key in ("sigma", "learning_rate", "perplexity"):
            out[key] = check_float(key, value, caller, min_value=0.0, min_inclusive=False)
        elif key == "iterations":
            out[key] = check_int(key, value, caller, min_value=1, allow_none=True)
        elif key == "max_iter":
            out[key] = check_int(key, value, caller, min_value=250 if method == "tsne" else 1)
        elif key == "spread":
            out[key] = check_float(key, value, caller, min_value=0.0, max_value=0.5)
        elif key == "percentile":
            out[key] = check_float(key, value, caller, min_value=0.0, max_value=100.0, min_inclusive=False)
        elif key == "base":
            out[key] = check_option(key, value, [m for m in METHODS if m != "grid"], caller)
        else:  # pragma: no cover - every option is listed above
            out[key] = value
    return out


def _check_refine(refine: Any, method: str, n: int, caller: str) -> dict[str, Any] | None:
    if refine is None:
        return dict(_m.REFINE_DEFAULTS) if (method == "umap" and n >= 2) else None
    if isinstance(refine, bool | np.bool_):
        opts: dict[str, Any] | None = dict(_m.REFINE_DEFAULTS) if refine else None
    elif isinstance(refine, Mapping):
        unknown = sorted(set(refine) - set(_m.REFINE_DEFAULTS))
        if unknown:
            raise InvalidParameterError(
                f"{caller}: unknown refine option(s) {', '.join(map(repr, unknown))}. Options: "
                f"{', '.join(repr(k) for k in _m.REFINE_DEFAULTS)}."
            )
        opts = {**_m.REFINE_DEFAULTS, **refine}
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
    return _refine_options(opts, caller)


def _refine_options(opts: Mapping[str, Any], caller: str) -> dict[str, Any]:
    return {
        "steps": check_int("steps", opts["steps"], caller, min_value=1),
        "spacing": check_float("spacing", opts["spacing"], caller, min_value=0.0, min_inclusive=False,
                               max_value=2.0),
        "attraction": check_float("attraction", opts["attraction"], caller, min_value=0.0),
        "global_weight": check_float("global_weight", opts["global_weight"], caller, min_value=0.0),
        "n_neighbors": check_int("n_neighbors", opts["n_neighbors"], caller, min_value=1),
    }


def _seed_value(seed: Any, caller: str) -> tuple[np.random.Generator, int | None]:
    rng = check_random_state(seed, caller)
    return rng, (int(seed) if isinstance(seed, numbers.Integral) else None)


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
        ``"graph"``, ``"random"`` (see the module docstring).
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
        ``percentile=7.5``, ``iterations=50``.

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
    arr, coord_ids = _profiles_array(profiles, caller)
    n = arr.shape[0]
    rng, seed_int = _seed_value(seed, caller)
    opts = _check_options(method, options, n, caller)
    refine_opts = _check_refine(refine, method, n, caller)
    ids = coord_ids if neurons is None else neurons
    if ids is not None:
        ids = np.asarray(ids)
        if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
            raise param_error("neurons", caller, f"{n} integer ids, one per profile row",
                              f"an array of shape {ids.shape} and dtype {ids.dtype}")
    if layer is not None and not isinstance(layer, str):
        raise param_error("layer", caller, "a layer name (str) or None", layer)

    prep = _m.prepare(arr)
    params: dict[str, Any] = {"metric": "cosine", "n_dead": int(prep.dead.sum()),
                              "n_constant": int(prep.constant.sum()), "n_features": int(arr.shape[1])}
    if n == 1:
        pos = np.array([[0.5, 0.5]])
        params["small_n"] = "one neuron at the centre"
    elif method != "random" and _m.n_distinct(prep.unit) == 1:
        warnings.warn(
            f"{caller}: all {n} profiles are identical (or all dead), so method={method!r} has "
            "nothing to arrange; the neurons are placed on a square grid in index order.",
            RuntimeWarning, stacklevel=2,
        )
        pos = _m.normalise(_m.square_grid(n))
        params["degenerate"] = "all profiles identical: square grid in index order"
        refine_opts = None
    else:
        coords, used = _m.METHODS[method](prep, rng, **opts)
        params.update(used)
        pos = _m.normalise(coords)
        if refine_opts is not None:
            pos = _m.refine_positions(pos, prep.unit, rng, **refine_opts)
    params["refine"] = refine_opts
    return Layout(positions=pos, neurons=ids, layer=layer, method=method, params=params, seed=seed_int,
                  dead=prep.dead)


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
    from .render import positions_of

    is_layout = isinstance(layout_or_positions, Layout)
    pos = positions_of(layout_or_positions, caller)
    n = len(pos)
    if n < 2:
        raise InvalidParameterError(
            f"{caller}: refinement needs at least 2 neurons to spread apart; got {n}. A single neuron "
            "is already placed (at the centre)."
        )
    unit = None
    if profiles is not None:
        arr, _ = _profiles_array(profiles, caller)
        if arr.shape[0] != n:
            raise param_error("profiles", caller, f"one row per neuron ({n})", f"an array of shape {arr.shape}")
        unit = _m.prepare(arr).unit
    rng, _ = _seed_value(seed, caller)
    opts = _refine_options({"steps": steps, "spacing": spacing, "attraction": attraction,
                            "global_weight": global_weight, "n_neighbors": n_neighbors}, caller)
    new = _m.refine_positions(_m.normalise(pos), unit, rng, **opts)
    if not is_layout:
        return new
    import dataclasses

    params = dict(layout_or_positions.params)
    params["refine"] = opts
    return dataclasses.replace(layout_or_positions, positions=new, params=params)


# =========================================================================== from a run
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
    from .naps import naps

    caller = "layout_profiles()"
    run = _as_run(run, caller)
    layer = run.check_layer(layer)
    idx = run.snapshot_index(snapshot)
    if idx.size != 1:
        raise param_error("snapshot", caller, "a selector of exactly one snapshot (e.g. 'final', -1, 3)",
                          snapshot, f"It selects {idx.size} snapshots.")
    nap = naps(run, layer, by=by, snapshots=[int(idx[0])], contrastive=bool(contrastive),
               min_size=min_size).isel(snapshot=0)
    ok = np.isfinite(nap.values).all(axis=1)
    if not ok.any():
        raise InvalidInputError(
            f"{caller}: no group has at least min_size={min_size} samples at snapshot {int(idx[0])}, so "
            "there are no profiles to lay out. Lower min_size or group more coarsely."
        )
    dropped = [str(g) for g in np.asarray(nap["group"].values)[~ok]]
    prof = nap.isel(group=np.flatnonzero(ok)).transpose("neuron", "group")
    prof.attrs.update({"layer": layer, "snapshot": int(idx[0]),
                       "snapshot_label": str(run.snapshots["label"].iloc[int(idx[0])]),
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
    by, snapshot, contrastive
        As for :func:`layout_profiles`: by default the contrastive class NAPs at the
        final snapshot (the paper computes the layout once, from the final model).

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
    import dataclasses

    prof = layout_profiles(run, layer, by=by, snapshot=snapshot, contrastive=contrastive)
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
    import dataclasses

    caller = "ensure_layout()"
    run = _as_run(run, caller)
    layer = run.check_layer(layer)
    name = _check_name(name, caller)
    check_option("method", method, METHODS, caller)
    if not isinstance(save, bool):
        raise param_error("save", caller, "True or False", save)
    try:
        return load_layout(run, layer, name=name)
    except MissingDataError:
        pass
    layout = layout_from_run(run, layer, method=method, seed=seed, **options)
    if save:
        layout.save(run, name=name)
        layout = dataclasses.replace(layout, saved_as=name)
    return layout


# =========================================================================== quality
def layout_quality(
    layout_or_positions: Any,
    profiles: Any,
    *,
    values: Any = None,
    k: int = 10,
    resolution: int = 100,
) -> dict[str, float]:
    """How well a layout arranges its neurons: smoothness of the maps and neighbourhoods.

    Parameters
    ----------
    layout_or_positions : Layout or array-like of shape (n_neurons, 2)
    profiles : array-like of shape (n_neurons, n_features)
        The profiles the layout should reflect (cosine distances, dead neurons as
        in :func:`compute_layout`).
    values : array-like of shape (n_maps, n_neurons), optional
        The maps to judge for smoothness; by default one map per profile column
        (``profiles.T``, e.g. each class's NAP).
    k : int, default=10
        Neighbourhood size for trustworthiness, continuity and kNN preservation
        (capped at ``ceil(n / 2) - 1``).
    resolution : int, default=100
        Map size in pixels (the paper's 100).

    Returns
    -------
    dict of str to float
        ``resize_auc``, ``blur_auc`` (lower is better); ``trustworthiness``,
        ``continuity``, ``spearman``, ``knn_preservation`` (higher is better).
        NaN where undefined: smoothness needs 3 neurons not on one line;
        the others need 3 neurons.

    Notes
    -----
    *Smoothness* (the TAM paper's measure) is computed on the rendered map arrays
    (``TopoRenderer``, linear interpolation, blank outside the convex hull).
    Values are divided by the largest absolute value over all maps, so scores do
    not depend on the activation scale. Each map is (a) down-scaled to 55, 50, ...,
    10 px and up-scaled back (bilinear with antialiasing) and (b) blurred with a
    Gaussian of standard deviation 2, 4, ..., 20 px (sizes and radii scale with
    ``resolution / 100``). Blank pixels outside the convex hull are *missing
    data*, not zeros: resizing and blurring are normalised convolutions over the
    drawn pixels (filter ``map * mask`` and ``mask``, divide), and the squared
    error is averaged over the drawn pixels only. So a constant map scores 0 and
    the hull's shape and size do not enter the score. (The paper measured its
    rendered images, where blank is white, i.e. 0 on the symmetric diverging
    scale; that mixes the hull's outline into the score: values near the hull
    edge are blurred towards 0, and layouts are punished for strong activity at
    their border.) Errors are averaged over maps; each score is the area under its
    error curve over the 10 steps (trapezoidal rule, unit spacing). A smooth map
    changes little when resized or blurred: lower is better.

    *Trustworthiness* and *continuity* (Venna & Kaski, 2001) penalise layout
    neighbours that are not profile neighbours, and profile neighbours that are
    not layout neighbours, by their rank (1 is perfect; trustworthiness uses
    scikit-learn's formula, continuity is the same with the spaces swapped).
    *Spearman* is the rank correlation between profile and layout distances over
    all pairs. *kNN preservation* is the mean fraction of each neuron's ``k``
    nearest profile neighbours among its ``k`` nearest layout neighbours.
    """
    caller = "layout_quality()"
    from .render import positions_of

    pos = positions_of(layout_or_positions, caller)
    arr, _ = _profiles_array(profiles, caller)
    n = len(pos)
    if arr.shape[0] != n:
        raise param_error("profiles", caller, f"one row per neuron of the layout ({n})",
                          f"an array of shape {arr.shape}")
    if values is None:
        vals = arr.T
    else:
        try:
            vals = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise param_error("values", caller, "a numeric array of shape (n_maps, n_neurons)",
                              type(values).__name__) from None
        if vals.ndim == 1:
            vals = vals[None]
        if vals.ndim != 2 or vals.shape[1] != n:
            raise param_error("values", caller, f"an array of shape (n_maps, {n})", f"shape {vals.shape}")
    k = check_int("k", k, caller, min_value=1)
    resolution = check_int("resolution", resolution, caller, min_value=20)
    prep = _m.prepare(arr)
    scores, _ = _q.quality_detail(pos, prep.cosine(), vals, k=k, resolution=resolution)
    return scores


# =========================================================================== comparison
DEFAULT_COMPARE: tuple[str, ...] = ("random", "graph", "som", "grid", "pca", "mds", "tsne", "umap", "umap+refine")


def _method_specs(methods: Any, caller: str) -> dict[str, dict[str, Any]]:
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        items = list(methods.items())
    elif isinstance(methods, Sequence) and methods:
        items = []
        for m in methods:
            if not isinstance(m, str):
                raise param_error("methods", caller, "method names (str) or a dict label -> compute_layout "
                                  "keyword arguments", methods)
            items.append((m, None))
    else:
        raise param_error("methods", caller, "a non-empty list of method names or a dict label -> options",
                          methods)
    specs: dict[str, dict[str, Any]] = {}
    for label, spec in items:
        if spec is None:
            base, _, suffix = label.partition("+")
            if suffix not in ("", "refine"):
                raise param_error("methods", caller, f"names from {', '.join(map(repr, METHODS))}, "
                                  "optionally with '+refine'", label)
            check_option("methods", base, METHODS, caller)
            spec = {"method": base, "refine": suffix == "refine"}
        elif not isinstance(spec, Mapping) or "method" not in spec:
            raise param_error("methods", caller, "dict values that are compute_layout keyword arguments "
                              "including 'method'", spec)
        else:
            spec = dict(spec)
            check_option("methods", spec["method"], METHODS, caller)
            spec.setdefault("refine", False)
        specs[str(label)] = spec
    return specs


def _subsampled_profiles(acts: np.ndarray, codes: np.ndarray, n_groups: int, fraction: float,
                         rng: np.random.Generator, contrastive: bool, min_size: int) -> np.ndarray:
    """Profiles (neuron, group) from a random subset (``fraction`` of each group's samples)."""
    means = np.full((n_groups, acts.shape[1]), np.nan)
    for g in range(n_groups):
        members = np.flatnonzero(codes == g)
        take = max(1, int(round(fraction * members.size))) if members.size else 0
        if take < min_size:
            continue
        chosen = rng.choice(members, size=take, replace=False)
        means[g] = acts[chosen].mean(axis=0)
    ok = np.isfinite(means).all(axis=1)
    means = means[ok]
    if contrastive and len(means):
        means = means - means.mean(axis=0, keepdims=True)
    return means.T


def compare_layouts(
    data: Any,
    *,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] = DEFAULT_COMPARE,
    repeats: int = 10,
    redraw: str = "seed",
    subsample: float = 0.5,
    layer: str | None = None,
    by: str = "class",
    snapshot: Any = "final",
    contrastive: bool = True,
    seed: int = 0,
    progress: bool = True,
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

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per ``method``, ``repeat``, ``measure``, ``param``:
        ``value``, plus the ``seed`` of the repeat. Measures: the error curves
        ``resize_mse`` (``param`` = size in px) and ``blur_mse`` (``param`` = radius
        in px), the scores of :func:`layout_quality` (``param`` NaN) and
        ``seconds`` (time to compute the layout). Draw it with
        :func:`actconf.plots.plot_layout_comparison`.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from .store import Run

    caller = "compare_layouts()"
    specs = _method_specs(methods, caller)
    repeats = check_int("repeats", repeats, caller, min_value=1)
    check_option("redraw", redraw, ("seed", "inputs"), caller)
    subsample = check_float("subsample", subsample, caller, min_value=0.0, max_value=1.0, min_inclusive=False)
    seed = check_int("seed", seed, caller, min_value=0)
    if not isinstance(progress, bool):
        raise param_error("progress", caller, "True or False", progress)

    is_run = isinstance(data, Run | str | os.PathLike)
    if redraw == "inputs" and not is_run:
        raise InvalidParameterError(
            f"{caller}: redraw='inputs' re-draws probe samples, so it needs a run as data, not an array "
            "of profiles. Pass the run, or use redraw='seed'."
        )
    fixed = None
    sampler = None
    if is_run:
        run = _as_run(data, caller)
        prof = layout_profiles(run, layer, by=by, snapshot=snapshot, contrastive=contrastive)
        fixed = np.asarray(prof.values, dtype=np.float64)
        if redraw == "inputs":
            from .naps import group_samples

            snap = prof.attrs["snapshot"]
            grouping = group_samples(run, by=by, snapshots=[snap])
            codes = np.asarray(grouping.assignment.values)[0]
            acts = run.read(run.layer_info(prof.attrs["layer"])["array"], [snap])[0].astype(np.float64)
            sampler = (acts, codes, grouping.n_groups)
    else:
        fixed, _ = _profiles_array(data, caller, name="data")

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=repeats * len(specs), desc="layouts", disable=not progress, leave=False)
    try:
        for r in range(repeats):
            profiles = fixed
            if sampler is not None:
                draw_rng = np.random.default_rng([seed, r])
                profiles = _subsampled_profiles(*sampler, subsample, draw_rng, bool(contrastive), 5)
                if profiles.shape[1] == 0:
                    raise InvalidInputError(
                        f"{caller}: with subsample={subsample} no group keeps 5 samples; raise subsample."
                    )
            prep = _m.prepare(profiles)
            dist = prep.cosine()
            for label, spec in specs.items():
                bar.set_postfix_str(f"{label}, repeat {r + 1}")
                kwargs = {k: v for k, v in spec.items() if k != "seed"}
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lay = compute_layout(profiles, seed=seed + r, **kwargs)
                seconds = time.perf_counter() - start
                scores, curves = _q.quality_detail(lay.positions, dist, profiles.T, k=10, resolution=100)
                base = {"method": label, "repeat": r, "seed": seed + r}
                for measure, (xs, ys) in curves.items():
                    for x, y in zip(xs, ys, strict=True):
                        rows.append({**base, "measure": measure, "param": float(x), "value": float(y)})
                for measure, value in scores.items():
                    rows.append({**base, "measure": measure, "param": np.nan, "value": float(value)})
                rows.append({**base, "measure": "seconds", "param": np.nan, "value": seconds})
                bar.update(1)
    finally:
        bar.close()
    frame = pd.DataFrame(rows, columns=["method", "repeat", "seed", "measure", "param", "value"])
    frame.attrs["redraw"] = redraw
    return frame
