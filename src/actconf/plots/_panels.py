"""Pivoting NAPs into panels: which map goes into which frame, row and column (no drawing).

:func:`build_panels` turns a NAP DataArray (snapshot, group, neuron) into
:class:`Panels`: values ``(F, R, C, n)`` with frame/row/column labels and group-size
notes. Rows and columns are the snapshot, the group, or a grouping factor of the
NAPs (``class``, ``confidence``, ``correct``, ``prediction``); frames are snapshots
(animations, the explorer's slider) or a single one (figures).

``snapshots=`` selects by the NAPs' ``snapshot`` coordinate, i.e. by *run snapshot
ids* (:func:`nap_snapshot_positions`): ``naps(run, layer, snapshots=[0, 5, 9])``
drawn with ``snapshots=5`` shows run snapshot 5, the NAPs' second entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_option, param_error
from ..errors import InvalidInputError

_FACTORS = ("class", "prediction", "correct", "confidence")
_MINUS = "\u2212"
_DASH = "\u2013"
_KINDS = {"epochs": ("initial", "epoch"), "batches": ("batch",), "initial": ("initial",)}
_SELECTORS = ("None/'all', 'final', 'initial', 'epochs', 'batches', a run snapshot id (int; negative: "
              "from the end), a list of them, a slice, a boolean mask or a dict such as {'epoch': 3}")


@dataclass
class Panels:
    """Maps to draw: values ``(F, R, C, n)`` plus labels (frames, rows, columns)."""

    values: np.ndarray
    notes: np.ndarray  # (F, R, C) str: group size notes
    frame_labels: list[str]
    frame_snapshots: list[int | None]  # run snapshot id (the NAPs' snapshot coordinate) per frame
    row_labels: list[str]
    col_labels: list[str]
    row_title: str
    col_title: str
    quantity: str
    title: str


@dataclass
class _Axis:
    key: str | None
    labels: list[str]  # display labels
    names: list[str]  # raw level names (for matching)
    snap: list[int | None]  # snapshot position per level (None: not a snapshot axis)
    gmask: np.ndarray  # (L, G) which groups a level selects


# ---------------------------------------------------------------------------- labels
def snapshot_labels(nap: Any) -> list[str]:
    """Readable labels of the snapshots of a NAP DataArray (``"initial"``, ``"epoch 3"``, ...)."""
    coords = nap.coords
    for name in ("snapshot_label", "label"):
        if name in coords and coords[name].dims == ("snapshot",):
            return [str(x) for x in coords[name].values]
    if "epoch" in coords and coords["epoch"].dims == ("snapshot",):
        epochs = np.asarray(coords["epoch"].values)
        prog = np.asarray(coords["progress"].values, dtype=float) if "progress" in coords else epochs.astype(float)
        return [_epoch_label(e, p) for e, p in zip(epochs, prog, strict=True)]
    raw = np.asarray(nap["snapshot"].values) if "snapshot" in coords else np.arange(nap.sizes["snapshot"])
    return [f"snapshot {s}" for s in raw]


def _epoch_label(epoch: Any, progress: float) -> str:
    if progress == 0 and epoch == 0:
        return "initial"
    if float(progress) == float(epoch):
        return f"epoch {int(epoch)}"
    return f"epoch {progress:.2f}"


def _is_number(text: str) -> bool:
    return re.fullmatch(r"[-+]?\d+(\.\d*)?", text) is not None


def _level_label(key: str, level: str, by: str = "") -> str:
    if key == "class" or (key == "group" and by == "class"):
        return f"class {level}" if _is_number(level) else level
    if key == "prediction" or (key == "group" and by == "prediction"):
        return f"pred. {level}" if _is_number(level) else level
    if key == "confidence" or (key == "group" and by == "confidence"):
        return f"conf. {level}"
    return level


# ---------------------------------------------------------------------------- input
def as_nap(naps: Any, caller: str):
    """A NAP DataArray (snapshot, group, neuron) from a DataArray or a plain array."""
    import xarray as xr

    if isinstance(naps, np.ndarray | list):
        arr = np.asarray(naps, dtype=float)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise param_error("naps", caller, "a NAP DataArray (snapshot, group, neuron) or an array of shape "
                              "(group, neuron) / (snapshot, group, neuron)", f"an array of shape {arr.shape}")
        return xr.DataArray(arr, dims=("snapshot", "group", "neuron"),
                            coords={"snapshot": np.arange(arr.shape[0]),
                                    "group": [str(g) for g in range(arr.shape[1])]})
    if not isinstance(naps, xr.DataArray):
        raise param_error("naps", caller, "a NAP DataArray from actconf.naps.naps()", type(naps).__name__)
    if "neuron" not in naps.dims or "group" not in naps.dims:
        raise param_error("naps", caller, "a DataArray with dims (snapshot, group, neuron)",
                          f"dims {naps.dims}")
    if "snapshot" not in naps.dims:
        naps = naps.expand_dims("snapshot")
    extra = set(naps.dims) - {"snapshot", "group", "neuron"}
    if extra:
        raise param_error("naps", caller, "a DataArray with dims (snapshot, group, neuron)", f"dims {naps.dims}",
                          "Select or average the other dimensions first.")
    return naps.transpose("snapshot", "group", "neuron")


def snapshot_ids(nap: Any) -> np.ndarray:
    """The run snapshot ids of a NAP DataArray (its ``snapshot`` coordinate, else 0..S-1)."""
    if "snapshot" in nap.coords:
        ids = np.asarray(nap["snapshot"].values)
        if ids.dtype.kind in "iu":
            return ids.astype(np.int64)
    return np.arange(nap.sizes["snapshot"])


# ---------------------------------------------------------------------------- snapshots
def nap_snapshot_positions(nap: Any, snapshots: Any, *, on_axis: bool, caller: str) -> np.ndarray:
    """Positions along the NAPs' snapshot dimension chosen by the run snapshot selector ``snapshots``.

    ``None`` means all snapshots when they form an axis of the figure
    (``on_axis``), else the last one. Ints are run snapshot ids (values of the
    NAPs' ``snapshot`` coordinate); negative ints count from the NAPs' end.
    Without ``on_axis`` the selector must pick exactly one snapshot.
    """
    n = nap.sizes["snapshot"]
    if snapshots is None or (isinstance(snapshots, str) and snapshots == "all"):
        pos = np.arange(n) if on_axis else np.array([n - 1])
    else:
        pos = _select(nap, snapshots, caller)
    if pos.size == 0:
        raise param_error("snapshots", caller, "a selector matching at least one snapshot of the NAPs "
                          f"(ids {_id_list(nap)})", snapshots)
    if not on_axis and pos.size != 1:
        raise param_error("snapshots", caller, "one snapshot (e.g. an id or 'final') unless rows or cols is "
                          "'snapshot'", snapshots, f"The NAPs hold snapshot ids {_id_list(nap)}.")
    return pos


def _id_list(nap: Any) -> str:
    ids = snapshot_ids(nap).tolist()
    return ", ".join(map(str, ids)) if len(ids) <= 12 else f"{ids[0]}..{ids[-1]} ({len(ids)} of them)"


def _select(nap: Any, select: Any, caller: str) -> np.ndarray:
    n = nap.sizes["snapshot"]
    if isinstance(select, str):
        return _select_by_name(nap, select, caller)
    if isinstance(select, Mapping):
        return _select_by_coords(nap, select, caller)
    ids = snapshot_ids(nap)
    if isinstance(select, slice):
        wanted = np.arange(int(ids.max()) + 1 if ids.size else 0)[select]
        return np.flatnonzero(np.isin(ids, wanted))
    arr = np.asarray(select)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise param_error("snapshots", caller, f"a boolean mask of length {n} (one per NAP snapshot)",
                              f"shape {arr.shape}")
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise param_error("snapshots", caller, _SELECTORS, select)
    return np.array([_position_of(int(i), ids, nap, select, caller) for i in arr.reshape(-1)], dtype=np.int64)


def _position_of(item: int, ids: np.ndarray, nap: Any, select: Any, caller: str) -> int:
    if item < 0:
        if item < -len(ids):
            raise param_error("snapshots", caller, f"an id of the NAPs' snapshots ({_id_list(nap)}) or a negative "
                              f"position >= -{len(ids)}", select)
        return len(ids) + item
    hit = np.flatnonzero(ids == item)
    if hit.size == 0:
        raise param_error("snapshots", caller, f"run snapshot ids held by the NAPs ({_id_list(nap)})", select,
                          "It selects by the NAPs' snapshot coordinate (run snapshot ids), not by position.")
    return int(hit[0])


def _select_by_name(nap: Any, name: str, caller: str) -> np.ndarray:
    n = nap.sizes["snapshot"]
    if name in ("final", "last"):
        return np.array([n - 1])
    if name not in _KINDS:
        raise param_error("snapshots", caller, _SELECTORS, name)
    kinds = _snapshot_kinds(nap)
    return np.flatnonzero(np.isin(kinds, _KINDS[name]))


def _snapshot_kinds(nap: Any) -> np.ndarray:
    """``initial``/``epoch``/``batch`` per NAP snapshot, from its labels or epoch/progress coordinates."""
    coords = nap.coords
    if "snapshot_label" in coords and coords["snapshot_label"].dims == ("snapshot",):
        labels = [str(x) for x in coords["snapshot_label"].values]
        return np.array(["initial" if lab == "initial" else "batch" if "batch" in lab else "epoch"
                         for lab in labels])
    if "epoch" in coords and "progress" in coords:
        epoch = np.asarray(coords["epoch"].values, dtype=float)
        prog = np.asarray(coords["progress"].values, dtype=float)
        return np.where((epoch == 0) & (prog == 0), "initial", np.where(prog == epoch, "epoch", "batch"))
    ids = snapshot_ids(nap)
    return np.where(ids == 0, "initial", "epoch")


def _select_by_coords(nap: Any, select: Mapping, caller: str) -> np.ndarray:
    mask = np.ones(nap.sizes["snapshot"], dtype=bool)
    along = [c for c, v in nap.coords.items() if v.dims == ("snapshot",)]
    for col, value in select.items():
        name = "snapshot_label" if col == "label" and "label" not in along else col
        if name not in along:
            raise param_error("snapshots", caller, "a dict of the NAPs' snapshot coordinates ("
                              + ", ".join(map(repr, along)) + ")", dict(select))
        mask &= np.asarray(nap.coords[name].values) == value
    return np.flatnonzero(mask)


# ---------------------------------------------------------------------------- axes of the grid
def _factors_present(nap: Any) -> list[str]:
    return [f for f in _FACTORS if f in nap.coords and nap.coords[f].dims == ("group",)
            and len(np.unique(np.asarray(nap.coords[f].values).astype(str))) > 1]


def _resolve_rows_cols(nap: Any, rows: Any, cols: Any, frames: bool, caller: str) -> tuple[Any, Any]:
    """``cols="auto"``: classes x the other factor with two factors, otherwise one column per group."""
    factors = _factors_present(nap)
    if isinstance(cols, str) and cols == "auto":
        if rows is None and len(factors) >= 2:
            rows = factors[1] if factors[0] == "class" else factors[0]
            cols = "class" if "class" in factors else factors[1]
        elif rows is not None and rows != "group" and len(factors) >= 2:
            cols = next((f for f in factors if f != rows), "group")
        else:
            cols = "group"
    for name, key in (("rows", rows), ("cols", cols)):
        if key is not None and not isinstance(key, str):
            raise param_error(name, caller, "None or a dimension/factor name", key)
    if rows is not None and rows == cols:
        raise param_error("rows", caller, f"different from cols ({cols!r})", rows)
    if frames and "snapshot" in (rows, cols):
        raise param_error("rows" if rows == "snapshot" else "cols", caller,
                          "a group factor (snapshots are the frames)", "snapshot")
    return rows, cols


def _single(g: int, label: str = "", name: str = "", snap: int | None = None) -> _Axis:
    return _Axis(None, [label], [name], [snap], np.ones((1, g), dtype=bool))


def _snapshot_axis(nap: Any, snaps: np.ndarray) -> _Axis:
    labels, ids = snapshot_labels(nap), snapshot_ids(nap)
    return _Axis("snapshot", [labels[s] for s in snaps], [str(ids[s]) for s in snaps], [int(s) for s in snaps],
                 np.ones((len(snaps), nap.sizes["group"]), dtype=bool))


def _make_axis(nap: Any, key: str | None, snaps: np.ndarray, by: str, caller: str, which: str) -> _Axis:
    g = nap.sizes["group"]
    if key is None:
        return _single(g)
    if key == "snapshot":
        return _snapshot_axis(nap, snaps)
    if key == "group":
        names = [str(x) for x in np.asarray(nap["group"].values)] if "group" in nap.coords else \
            [str(i) for i in range(g)]
        return _Axis("group", [_level_label("group", n, by) for n in names], names, [None] * g, np.eye(g, dtype=bool))
    if key in _FACTORS and key in nap.coords and nap.coords[key].dims == ("group",):
        vals = np.asarray(nap.coords[key].values).astype(str)
        names = list(dict.fromkeys(vals.tolist()))
        return _Axis(key, [_level_label(key, n) for n in names], names, [None] * len(names),
                     np.stack([vals == n for n in names]))
    present = ["snapshot", "group", *[f for f in _FACTORS if f in nap.coords]]
    raise param_error(which, caller, "None or one of " + ", ".join(repr(p) for p in present), key,
                      "Factors come from the NAPs' grouping (naps(run, by='class+confidence') gives "
                      "'class' and 'confidence').")


def _frame_axis(nap: Any, snaps: np.ndarray, frames: bool, rows: Any, cols: Any) -> _Axis:
    if frames:
        return _snapshot_axis(nap, snaps)
    g = nap.sizes["group"]
    if "snapshot" in (rows, cols):
        return _single(g)
    s = int(snaps[0])
    return _single(g, snapshot_labels(nap)[s], str(s), s)


@dataclass
class _Grid:
    """The three axes of a panel grid and the snapshot positions they draw from."""

    f: _Axis
    r: _Axis
    c: _Axis
    snaps: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.f.labels), len(self.r.labels), len(self.c.labels)

    def cells(self):
        """``(index, matching groups, snapshot position)`` per cell (frame, row, column)."""
        for idx in np.ndindex(*self.shape):
            match = np.flatnonzero(self.f.gmask[idx[0]] & self.r.gmask[idx[1]] & self.c.gmask[idx[2]])
            s = next((a.snap[i] for a, i in zip((self.f, self.r, self.c), idx, strict=True)
                      if a.snap[i] is not None), None)
            yield idx, match, int(self.snaps[-1]) if s is None else s


# ---------------------------------------------------------------------------- values and notes
def _fill(nap: Any, grid: _Grid, rows: Any, cols: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """Values ``(F, R, C, n)`` (NaN where no group matches) and group sizes ``(F, R, C)`` (-1: unknown)."""
    values_all = np.asarray(nap.values, dtype=float)  # (S, G, n)
    sizes = _group_sizes(nap)
    values = np.full((*grid.shape, nap.sizes["neuron"]), np.nan)
    counts = np.full(grid.shape, -1, dtype=np.int64)
    for idx, match, s in grid.cells():
        if match.size > 1:
            raise _ambiguous(nap, match.size, rows, cols, caller)
        if match.size == 0:
            continue
        values[idx] = values_all[s, match[0]]
        if sizes is not None:
            counts[idx] = int(sizes[s, match[0]])
    return values, counts


def _group_sizes(nap: Any) -> np.ndarray | None:
    sizes = np.asarray(nap.coords["size"].values) if "size" in nap.coords else None
    if sizes is not None and sizes.ndim == 1:
        sizes = np.broadcast_to(sizes, (nap.sizes["snapshot"], sizes.shape[0]))
    return sizes


def _ambiguous(nap: Any, n_match: int, rows: Any, cols: Any, caller: str) -> InvalidInputError:
    by = str(nap.attrs.get("by", ""))
    other = [f for f in _factors_present(nap) if f not in (rows, cols)]
    hint = (f" Select one level of {other[0]!r} first, e.g. "
            f"naps.isel(group=naps[{other[0]!r}] == {str(nap.coords[other[0]].values[0])!r}), "
            f"or use it as rows/cols." if other else " Use rows/cols that identify one group.")
    return InvalidInputError(f"{caller}: rows={rows!r} and cols={cols!r} leave {n_match} groups per map "
                             f"(the NAPs are grouped by {by or 'group'!r}).{hint}")


def _size_note(count: int, v: np.ndarray, min_size: Any) -> str:
    if count < 0:
        return "" if np.isfinite(v).any() else "no group"
    if not np.isfinite(v).any():
        return f"n={count} (too few)" if min_size is None or count < min_size else f"n={count}"
    return f"n={count}"


def _notes(nap: Any, grid: _Grid, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Group-size note per cell; equal-count (quantile) confidence bins move with training: add their range."""
    min_size = nap.attrs.get("min_size")
    notes = np.empty(grid.shape, dtype=object)
    for idx in np.ndindex(*grid.shape):
        notes[idx] = _size_note(int(counts[idx]), values[idx], min_size)
    by = str(nap.attrs.get("by", ""))
    if not ("confidence_lower" in nap.coords and "confidence" in by.split("+")
            and str(nap.attrs.get("bins", "")).startswith("quantile")):
        return notes
    lower = np.asarray(nap.coords["confidence_lower"].values, dtype=float)
    upper = np.asarray(nap.coords["confidence_upper"].values, dtype=float)
    for idx, match, s in grid.cells():
        if match.size == 1 and np.isfinite(lower[s, match[0]]) and np.isfinite(values[idx]).any():
            notes[idx] += f" · {lower[s, match[0]]:.2f}{_DASH}{upper[s, match[0]]:.2f}"
    return notes


# ---------------------------------------------------------------------------- differences and order
def _difference_pairs(difference: Any, caller: str) -> list:
    pairs = [difference] if (isinstance(difference, Sequence) and len(difference) == 2
                             and all(isinstance(x, str | int | np.integer) for x in difference)) \
        else list(difference) if isinstance(difference, Sequence) else None
    if not pairs or not all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in pairs):
        raise param_error("difference", caller, "a pair (A, B) or a list of pairs of row or column labels",
                          difference)
    return pairs


def _find(axis: _Axis, item: Any) -> int | None:
    text = str(item)
    for i, (lab, name) in enumerate(zip(axis.labels, axis.names, strict=True)):
        if text in (lab, name):
            return i
    return None


def _difference_target(grid: _Grid, pairs: list, difference: Any, caller: str) -> tuple[str, list]:
    """Which axis (``"cols"`` first, then ``"rows"``) holds every label of the pairs, and their indices."""
    for axis_name, axis in (("cols", grid.c), ("rows", grid.r)):
        idx = [(_find(axis, a), _find(axis, b)) for a, b in pairs]
        if all(i is not None and j is not None for i, j in idx):
            return axis_name, idx
    raise param_error(
        "difference", caller, "pairs of labels found among the columns "
        f"({', '.join(map(repr, grid.c.names[:12]))}) or the rows ({', '.join(map(repr, grid.r.names[:12]))})",
        difference,
    )


def _difference_note(a: str, b: str) -> str:
    return f"{a} vs {b.removeprefix('n=')}" if a.startswith("n=") and b.startswith("n=") else (a or b)


def _apply_difference(grid: _Grid, values: np.ndarray, notes: np.ndarray, difference: Any, caller: str):
    """Replace the rows or columns named in ``difference`` by one ``A − B`` row/column per pair."""
    axis_name, idx = _difference_target(grid, _difference_pairs(difference, caller), difference, caller)
    axis = grid.c if axis_name == "cols" else grid.r
    dim = 2 if axis_name == "cols" else 1
    first, second = [i for i, _ in idx], [j for _, j in idx]
    values = np.take(values, first, axis=dim) - np.take(values, second, axis=dim)
    na, nb = np.take(notes, first, axis=dim), np.take(notes, second, axis=dim)
    new_notes = np.empty(values.shape[:3], dtype=object)
    for k in np.ndindex(new_notes.shape):
        new_notes[k] = _difference_note(na[k], nb[k])
    new_axis = _Axis(axis.key, [f"{axis.labels[i]} {_MINUS} {axis.labels[j]}" for i, j in idx],
                     [f"{axis.names[i]} {_MINUS} {axis.names[j]}" for i, j in idx], [None] * len(idx),
                     np.zeros((len(idx), 0), dtype=bool))
    if axis_name == "cols":
        grid.c = new_axis
    else:
        grid.r = new_axis
    return values, new_notes


def _column_permutation(order: Any, c_ax: _Axis, values: np.ndarray, caller: str) -> np.ndarray:
    n_cols = values.shape[2]
    if isinstance(order, str):
        check_option("order", order, ("cluster",), caller)
        return _cluster_order(values) if n_cols > 2 else np.arange(n_cols)
    try:
        wanted = [str(o) for o in order]
    except TypeError:
        raise param_error("order", caller, "None, 'cluster' or a list of column labels", order) from None
    lookup = {name: i for i, name in enumerate(c_ax.names)}
    lookup.update({lab: i for i, lab in enumerate(c_ax.labels)})
    perm = [lookup.get(w) for w in wanted]
    if None in perm or sorted(perm) != list(range(n_cols)):
        raise param_error("order", caller, f"a permutation of the column labels {c_ax.names}", order)
    return np.asarray(perm)


def _apply_order(grid: _Grid, values: np.ndarray, notes: np.ndarray, order: Any, caller: str):
    perm = _column_permutation(order, grid.c, values, caller)
    c = grid.c
    grid.c = _Axis(c.key, [c.labels[i] for i in perm], [c.names[i] for i in perm], [c.snap[i] for i in perm],
                   c.gmask[perm] if c.gmask.shape[0] == values.shape[2] else c.gmask)
    return values[:, :, perm], notes[:, :, perm]


def _cluster_order(values: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering of the columns' maps (all frames and rows)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    cols = np.moveaxis(values, 2, 0).reshape(values.shape[2], -1)
    cols = np.nan_to_num(cols, nan=0.0)
    if not np.any(cols):
        return np.arange(values.shape[2])
    return leaves_list(linkage(cols, method="average", metric="euclidean", optimal_ordering=True))


# ---------------------------------------------------------------------------- titles
def quantity_of(nap: Any) -> str:
    """What the maps show (the colour bar label)."""
    contrastive = bool(nap.attrs.get("contrastive", False))
    return "mean activation" + (f" {_MINUS} mean over groups" if contrastive else "")


def _title(nap: Any) -> str:
    by = str(nap.attrs.get("by", ""))
    layer = nap.attrs.get("layer")
    parts = [f"layer {layer}"] if layer else []
    what = ("contrastive NAPs" if nap.attrs.get("contrastive", False) else "NAPs") + \
        (f" by {by.replace('+', ' × ')}" if by else "")
    measure = nap.attrs.get("measure")
    if measure and "confidence" in by:
        what += f" (confidence: {measure})"
    parts.append(what)
    return " · ".join(parts)


# ---------------------------------------------------------------------------- build_panels
def build_panels(
    naps: Any,
    *,
    rows: str | None = None,
    cols: str | None = "auto",
    snapshots: Any = None,
    difference: Any = None,
    order: Any = None,
    frames: bool = False,
    caller: str = "plot_map_grid()",
) -> Panels:
    """Pivot NAPs into a grid of maps (see :func:`~actconf.plots.plot_map_grid` for the parameters).

    With ``frames=True`` the snapshots become frames (for animations and sliders) and
    neither ``rows`` nor ``cols`` may be ``"snapshot"``.
    """
    nap = as_nap(naps, caller)
    rows, cols = _resolve_rows_cols(nap, rows, cols, frames, caller)
    on_axis = frames or "snapshot" in (rows, cols)
    snaps = nap_snapshot_positions(nap, snapshots, on_axis=on_axis, caller=caller)
    by = str(nap.attrs.get("by", ""))
    grid = _Grid(_frame_axis(nap, snaps, frames, rows, cols), _make_axis(nap, rows, snaps, by, caller, "rows"),
                 _make_axis(nap, cols, snaps, by, caller, "cols"), snaps)
    values, counts = _fill(nap, grid, rows, cols, caller)
    notes = _notes(nap, grid, values, counts)
    quantity = quantity_of(nap)
    if difference is not None:
        values, notes = _apply_difference(grid, values, notes, difference, caller)
        quantity = f"difference of {quantity}"
    if order is not None:
        values, notes = _apply_order(grid, values, notes, order, caller)
    ids = snapshot_ids(nap)
    return Panels(values=values, notes=notes, frame_labels=grid.f.labels,
                  frame_snapshots=[None if s is None else int(ids[s]) for s in grid.f.snap],
                  row_labels=grid.r.labels, col_labels=grid.c.labels, row_title=rows or "", col_title=cols or "",
                  quantity=quantity, title=_title(nap))


def check_panels_fit(panels: Panels, renderer: Any, caller: str) -> None:
    """Raise unless the panels have one value per neuron of the renderer's layout."""
    n = panels.values.shape[-1]
    if n != renderer.n_neurons:
        raise InvalidInputError(f"{caller}: the NAPs have {n} neurons but the layout has {renderer.n_neurons}. "
                                "Use the layout of the NAPs' layer.")
