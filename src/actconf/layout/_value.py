"""The :class:`Layout` value and its files in a run: save, load, list.

A layout is saved as ``<run>/layouts/<layer>/<name>.npz`` (positions, neuron ids,
dead mask; read with ``allow_pickle=False``) and then ``<name>.json`` (everything
else plus a SHA-256 checksum of the ``.npz``). The ``.json`` is written last and
is the commit point: a layout whose ``.json`` is missing was never saved, one
whose checksum does not match is damaged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_bool, check_run, param_error
from ..errors import CorruptRunError, InvalidParameterError, MissingDataError

LAYOUT_FORMAT = "actconf-layout"
LAYOUT_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ARRAYS = ("positions", "neurons", "dead")


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
        pos = _check_positions(self.positions, caller)
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
        from ..store import jsonable

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
        run = check_run(run, caller, allow_path=True)
        name = check_name(name, caller)
        overwrite = check_bool("overwrite", overwrite, caller)
        layer = self._layer_of(run)
        folder = _layout_dir(run, layer)
        json_path = folder / f"{name}.json"
        if json_path.exists() and not overwrite:
            if self._is_saved_as(folder, name):
                return json_path
            raise InvalidParameterError(
                f"Layout.save(): a different layout named {name!r} is already saved for layer {layer!r} "
                f"in {str(folder)!r}. Pass overwrite=True to replace it, or choose another name=."
            )
        try:
            return self._write(folder, name)
        except OSError as exc:
            from ..errors import StorageError

            for leftover in folder.glob(f".{name}.{os.getpid()}.*.partial") if folder.is_dir() else ():
                leftover.unlink(missing_ok=True)
            raise StorageError(
                f"Layout.save(): cannot write the layout into {str(folder)!r} ({exc.strerror or exc}). "
                "Nothing of the run was changed; make the run folder writable (or free disk space), or "
                "keep the layout in memory and pass it as layout=...", path=folder, cause=exc) from exc

    def _layer_of(self, run: Any) -> str:
        """The run's name of this layout's layer, checked to hold all its neuron ids."""
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
        return layer

    def _is_saved_as(self, folder: Path, name: str) -> bool:
        """Whether ``folder`` already holds exactly this layout under ``name``."""
        try:
            existing = _read_layout(folder / f"{name}.json", folder / f"{name}.npz")
        except Exception:  # damaged: refuse, as for a different layout
            return False
        return existing.equals(self)

    def _write(self, folder: Path, name: str) -> Path:
        """Write ``<name>.npz``, then ``<name>.json`` (the commit point), each atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        json_path, npz_path = folder / f"{name}.json", folder / f"{name}.npz"
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


def _check_positions(positions: Any, caller: str) -> np.ndarray:
    """Positions as a float array (n >= 1, 2) with finite values in [0, 1]."""
    try:
        pos = np.array(positions, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error("positions", caller, "an array of shape (n_neurons, 2)",
                          type(positions).__name__) from None
    if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 1:
        raise param_error("positions", caller, "an array of shape (n_neurons, 2)", f"shape {pos.shape}")
    if not np.all(np.isfinite(pos)) or pos.min() < 0 or pos.max() > 1:
        raise param_error("positions", caller, "finite values in [0, 1]",
                          f"values in [{np.nanmin(pos)}, {np.nanmax(pos)}]" if np.isfinite(pos).any()
                          else "non-finite values",
                          "Normalise them first (each axis to [0, 1]).")
    return pos


# =========================================================================== files
def check_name(name: Any, caller: str) -> str:
    """Check a layout name (letters, digits, ``_``, ``-``, ``.``; no leading dot); return it."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith("."):
        raise param_error("name", caller, "a non-empty name of letters, digits, '_', '-' and '.' "
                          "(not starting with '.')", name)
    return name


def _layout_dir(run: Any, layer: str) -> Path:
    from ..store import safe_array_key

    return Path(run.path) / "layouts" / safe_array_key(layer)


def _read_layout(json_path: Path, npz_path: Path) -> Layout:
    """Read one saved layout; raise CorruptRunError for anything damaged or foreign."""
    meta = _read_meta(json_path)
    arrays = _read_arrays(npz_path, json_path, meta.get("sha256"))
    try:
        return Layout(positions=arrays["positions"], neurons=arrays["neurons"], layer=meta.get("layer"),
                      method=meta.get("method", "custom"), params=meta.get("params") or {},
                      source_snapshot=meta.get("source_snapshot"), seed=meta.get("seed"),
                      dead=arrays["dead"], saved_as=meta.get("name"))
    except InvalidParameterError as exc:
        raise CorruptRunError(f"Layout {str(json_path)!r} is damaged: {exc}") from exc


def _read_meta(json_path: Path) -> dict[str, Any]:
    """The ``.json`` metadata of a layout, checked to be an actconf layout this version reads."""
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
    return meta


def _read_arrays(npz_path: Path, json_path: Path, sha256: Any) -> dict[str, np.ndarray]:
    """The ``.npz`` arrays of a layout, checked against the checksum in its ``.json``."""
    try:
        raw = npz_path.read_bytes()
    except OSError as exc:
        raise CorruptRunError(f"Layout arrays {str(npz_path)!r} are missing: {exc}. Save the layout again.") from exc
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise CorruptRunError(
            f"Layout arrays {str(npz_path)!r} do not match {json_path.name} (checksum differs: an "
            "interrupted or foreign write). Save the layout again."
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in _ARRAYS}
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptRunError(f"Layout arrays {str(npz_path)!r} cannot be read: {exc}") from exc


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
    run = check_run(run, caller, allow_path=True)
    layer = run.check_layer(layer)
    name = check_name(name, caller)
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

    run = check_run(run, "list_layouts()", allow_path=True)
    rows = []
    for layer in run.layers:
        folder = _layout_dir(run, layer)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            meta = _listed_meta(path)
            if meta is None:
                continue
            rows.append({"layer": layer, "name": path.stem, "method": meta.get("method"),
                         "refined": (meta.get("params") or {}).get("refine") is not None,
                         "n_neurons": meta.get("n_neurons"), "seed": meta.get("seed"),
                         "source_snapshot": meta.get("source_snapshot"), "created": meta.get("created")})
    columns = ["layer", "name", "method", "refined", "n_neurons", "seed", "source_snapshot", "created"]
    return pd.DataFrame(rows, columns=columns)


def _listed_meta(path: Path) -> dict[str, Any] | None:
    """The metadata of a ``.json`` in a layouts folder, or None if it is not a layout file."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != LAYOUT_FORMAT:
        return None
    return meta
