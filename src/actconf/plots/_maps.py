"""Topographic activation map (TAM) figures.

:func:`plot_map` draws one map; :func:`plot_map_grid` draws a grid of maps from
NAPs (:func:`actconf.naps.naps`), e.g. classes x confidence bins, or classes x
snapshots. All maps of a grid come from one :class:`~actconf.render.TopoRenderer`
call, share one colour scale (symmetric around zero, diverging colormap) unless
asked otherwise, and carry labels a reader needs: the snapshot (epoch/batch), the
group and its size.

The grid machinery (:class:`MapGridFigure`) is also what the animation
(:mod:`actconf.animate`) and the explorer (:mod:`actconf.widgets`) use: it draws
the static parts once and then swaps image data in place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_float, check_int, check_option, param_error
from ..errors import InvalidInputError
from ..render import TopoRenderer, get_renderer

__all__ = ["plot_map", "plot_map_grid"]

_FACTORS = ("class", "prediction", "correct", "confidence")
_MINUS = "\u2212"
_DASH = "\u2013"
DEFAULT_CMAP = "RdBu_r"


# ---------------------------------------------------------------------------- helpers
def _renderer(layout: Any, method: str, mask: str | None, caller: str) -> TopoRenderer:
    """A TopoRenderer given as such, or the cached one of a layout / positions."""
    if isinstance(layout, TopoRenderer):
        return layout
    check_option("method", method, ("linear", "cubic", "nearest"), caller)
    if mask is not None:
        check_option("mask", mask, ("hull", "circle"), caller)
    return get_renderer(layout, method=method, mask=mask)


def symmetric_limits(values: Any) -> tuple[float, float]:
    """``(-m, m)`` with ``m = max |value|`` over the finite values (1 if there are none)."""
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    m = float(np.max(np.abs(finite))) if finite.size else 0.0
    if m <= 0:
        m = 1.0
    return -m, m


def _limits(vlim: Any, data: np.ndarray, caller: str) -> tuple[float, float]:
    if vlim is None:
        return symmetric_limits(data)
    if isinstance(vlim, int | float) and not isinstance(vlim, bool):
        m = check_float("vlim", vlim, caller, min_value=0, min_inclusive=False)
        return -m, m
    try:
        lo, hi = (float(v) for v in vlim)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise param_error("vlim", caller, "None (symmetric around 0), a positive number m (limits -m..m) "
                          "or a pair (vmin, vmax) with vmin < vmax", vlim)
    return lo, hi


def _outline(ax: Any, renderer: TopoRenderer, *, color: str = "0.55", lw: float = 0.6) -> None:
    """Thin outline of the drawn region (convex hull, circle or frame)."""
    from matplotlib.patches import Circle, Polygon

    if renderer.mask_kind == "circle":
        cx, cy, r = renderer.circle
        ax.add_patch(Circle((cx, cy), r, fill=False, ec=color, lw=lw))
        return
    if renderer.mask_kind is None:
        return
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(renderer.positions)
    except QhullError:  # degenerate layouts cannot use the hull mask anyway
        return
    ax.add_patch(Polygon(renderer.positions[hull.vertices], closed=True, fill=False, ec=color, lw=lw))


def _style_map_axes(ax: Any, renderer: TopoRenderer) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(renderer.mask_kind is None)
        spine.set_linewidth(0.5)
        spine.set_color("0.55")
    ax.set_xlim(renderer.extent[0], renderer.extent[1])
    ax.set_ylim(renderer.extent[2], renderer.extent[3])
    ax.set_aspect("equal")


def _new_figure(figsize: tuple[float, float], layout: str | None = "constrained"):
    """A Figure outside pyplot's registry (no double display in notebooks, no leaks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _contour(ax: Any, renderer: TopoRenderer, image: np.ndarray, levels: np.ndarray) -> None:
    if np.count_nonzero(np.isfinite(image)) < 4 or levels.size == 0:
        return
    finite = image[np.isfinite(image)]
    levels = levels[(levels > finite.min()) & (levels < finite.max())]
    if levels.size:
        ax.contour(renderer.xs, renderer.ys, image, levels=levels, colors="k", linewidths=0.5,
                   alpha=0.45, linestyles="solid")


def _contour_levels(contours: int, lo: float, hi: float) -> np.ndarray:
    """``contours`` equally spaced levels strictly between the limits, without the zero level
    (noise around zero would draw a wiggly line everywhere)."""
    if contours <= 0:
        return np.empty(0)
    levels = np.linspace(lo, hi, contours + 2)[1:-1]
    return levels[np.abs(levels) > 1e-9 * (hi - lo)]


def _underlay(ax: Any, renderer: TopoRenderer) -> None:
    """Light grey where the mask shows pixels: NaN gaps (no data) read as grey, not as zero."""
    from matplotlib.colors import ListedColormap

    ax.imshow(np.where(renderer.mask, 1.0, np.nan), origin="lower", extent=renderer.extent,
              cmap=ListedColormap(["0.88"]), vmin=0, vmax=2, interpolation="nearest", zorder=0)


# ---------------------------------------------------------------------------- plot_map
def plot_map(
    values: Any,
    layout: Any,
    *,
    ax: Any = None,
    vlim: Any = None,
    cmap: str = DEFAULT_CMAP,
    contours: int = 6,
    markers: bool = True,
    colorbar: bool = True,
    title: str | None = None,
    label: str | None = None,
    method: str = "linear",
    mask: str | None = "hull",
):
    """Draw one topographic activation map.

    Parameters
    ----------
    values : array-like of shape (n_neurons,)
        One value per neuron (a NAP, a difference of NAPs, per-neuron correlations).
        NaN values leave holes (see :mod:`actconf.render`).
    layout : Layout, array of shape (n_neurons, 2) or TopoRenderer
        Neuron positions; a :class:`~actconf.render.TopoRenderer` fixes resolution,
        method and mask (``method``/``mask`` are then ignored).
    ax : matplotlib Axes, optional
        Draw here; by default a new figure is made.
    vlim : None, float or (float, float), default=None
        Colour limits. None: symmetric ``±max|value|`` (zero is white); a number
        ``m``: ``±m``; a pair: ``(vmin, vmax)``.
    cmap : str, default="RdBu_r"
        A diverging colormap (red = positive, blue = negative).
    contours : int, default=6
        Number of contour lines (0 for none), at equally spaced levels
        between the colour limits.
    markers : bool, default=True
        Mark the neuron positions with small dots.
    colorbar : bool, default=True
    title : str, optional
    label : str, optional
        Colorbar label (default: ``values.name`` for a DataArray, else "value").
    method, mask : str
        Interpolation method and mask of :class:`~actconf.render.TopoRenderer`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the map is ``fig.axes[0].images[0]`` (its array is the rendered
        image, NaN outside the mask).
    """
    caller = "plot_map()"
    renderer = _renderer(layout, method, mask, caller)
    name = getattr(values, "name", None)
    if name == "nap":
        name = "mean activation" + (f" {_MINUS} mean over groups" if values.attrs.get("contrastive") else "")
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise param_error("values", caller, "a numeric array of shape (n_neurons,)", type(values).__name__) from None
    if v.ndim != 1:
        raise param_error("values", caller, "a 1-D array with one value per neuron",
                          f"an array of shape {v.shape}",
                          "Select one map first, e.g. nap.isel(snapshot=-1, group=0), or use plot_map_grid().")
    contours = check_int("contours", contours, caller, min_value=0)
    if v.shape[0] != renderer.n_neurons:
        raise InvalidInputError(
            f"plot_map(): 'values' has {v.shape[0]} entries but the layout has {renderer.n_neurons} "
            "neurons. Use the layout of the same layer as the values."
        )
    lo, hi = _limits(vlim, v, caller)
    image = renderer.render(v)
    if ax is None:
        fig = _new_figure((4.2 if colorbar else 3.6, 3.6))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    from matplotlib.colors import Normalize

    _underlay(ax, renderer)
    im = ax.imshow(image, origin="lower", extent=renderer.extent, cmap=cmap, norm=Normalize(lo, hi),
                   interpolation="bilinear", zorder=0.5)
    _style_map_axes(ax, renderer)
    _outline(ax, renderer)
    _contour(ax, renderer, image, _contour_levels(contours, lo, hi))
    if markers:
        ax.plot(*renderer.positions.T, ".", color="k", ms=2.0, alpha=0.55, mec="none")
    if title is not None:
        ax.set_title(title, fontsize=10)
    if colorbar:
        cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.03)
        cb.set_label(label if label is not None else (name or "value"), fontsize=9)
        cb.ax.tick_params(labelsize=8)
    return fig


# ---------------------------------------------------------------------------- panels
def snapshot_labels(nap: Any) -> list[str]:
    """Readable labels of the snapshots of a NAP DataArray (``"initial"``, ``"epoch 3"``, ...)."""
    n = nap.sizes["snapshot"]
    coords = nap.coords
    if "snapshot_label" in coords and coords["snapshot_label"].dims == ("snapshot",):
        return [str(x) for x in coords["snapshot_label"].values]
    if "label" in coords and coords["label"].dims == ("snapshot",):
        return [str(x) for x in coords["label"].values]
    if "epoch" in coords and coords["epoch"].dims == ("snapshot",):
        epochs = np.asarray(coords["epoch"].values)
        prog = np.asarray(coords["progress"].values, dtype=float) if "progress" in coords else epochs.astype(float)
        out = []
        for e, p in zip(epochs, prog, strict=True):
            if p == 0 and e == 0:
                out.append("initial")
            elif float(p) == float(e):
                out.append(f"epoch {int(e)}")
            else:
                out.append(f"epoch {p:.2f}")
        return out
    return [f"snapshot {s}" for s in np.asarray(nap["snapshot"].values)] if "snapshot" in coords else \
        [f"snapshot {i}" for i in range(n)]


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


@dataclass
class _Axis:
    key: str | None
    labels: list[str]  # display labels
    names: list[str]  # raw level names (for matching)
    snap: list[int | None]  # snapshot position per level (None: not a snapshot axis)
    gmask: np.ndarray  # (L, G) which groups a level selects


@dataclass
class Panels:
    """Maps to draw: values ``(F, R, C, n)`` plus labels (frames, rows, columns)."""

    values: np.ndarray
    notes: np.ndarray  # (F, R, C) str: group size notes
    frame_labels: list[str]
    frame_snapshots: list[int | None]  # positions along the NAP's snapshot dim
    row_labels: list[str]
    col_labels: list[str]
    row_title: str
    col_title: str
    quantity: str
    title: str


def _as_nap(naps: Any, caller: str):
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


def _factors_present(nap: Any) -> list[str]:
    return [f for f in _FACTORS if f in nap.coords and nap.coords[f].dims == ("group",)
            and len(np.unique(np.asarray(nap.coords[f].values).astype(str))) > 1]


def _make_axis(nap: Any, key: str | None, snaps: np.ndarray, by: str, caller: str, which: str) -> _Axis:
    g = nap.sizes["group"]
    if key is None:
        return _Axis(None, [""], [""], [None], np.ones((1, g), dtype=bool))
    if key == "snapshot":
        labels = snapshot_labels(nap)
        coord = np.asarray(nap["snapshot"].values) if "snapshot" in nap.coords else np.arange(nap.sizes["snapshot"])
        return _Axis("snapshot", [labels[s] for s in snaps], [str(coord[s]) for s in snaps],
                     [int(s) for s in snaps], np.ones((len(snaps), g), dtype=bool))
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


def _snapshot_positions(nap: Any, snapshot: Any, *, on_axis: bool, caller: str) -> np.ndarray:
    n = nap.sizes["snapshot"]
    if snapshot is None:
        return np.arange(n) if on_axis else np.array([n - 1])
    items = [snapshot] if np.ndim(snapshot) == 0 else list(snapshot)
    ok = len(items) > 0 and all(isinstance(i, int | np.integer) and not isinstance(i, bool) and -n <= i < n
                                for i in items)
    if not ok or (not on_axis and len(items) != 1):
        expected = (f"an int position in [-{n}, {n - 1}] or a list of them" if on_axis
                    else f"an int position in [-{n}, {n - 1}]")
        raise param_error("snapshot", caller, expected, snapshot,
                          "It indexes the NAPs' snapshot dimension (-1: the last one).")
    return np.array([int(i) % n for i in items])


def build_panels(
    naps: Any,
    *,
    rows: str | None = None,
    cols: str | None = "auto",
    snapshot: Any = None,
    difference: Any = None,
    order: Any = None,
    frames: bool = False,
    caller: str = "plot_map_grid()",
) -> Panels:
    """Pivot NAPs into a grid of maps (see :func:`plot_map_grid` for the parameters).

    With ``frames=True`` the snapshots become frames (for animations and sliders) and
    neither ``rows`` nor ``cols`` may be ``"snapshot"``.
    """
    nap = _as_nap(naps, caller)
    by = str(nap.attrs.get("by", ""))
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
    on_axis = frames or "snapshot" in (rows, cols)
    snaps = _snapshot_positions(nap, snapshot, on_axis=on_axis, caller=caller)
    r_ax = _make_axis(nap, rows, snaps, by, caller, "rows")
    c_ax = _make_axis(nap, cols, snaps, by, caller, "cols")
    if frames:
        labels = snapshot_labels(nap)
        f_ax = _Axis("snapshot", [labels[s] for s in snaps], [str(s) for s in snaps], [int(s) for s in snaps],
                     np.ones((len(snaps), nap.sizes["group"]), dtype=bool))
    elif "snapshot" in (rows, cols):
        f_ax = _Axis(None, [""], [""], [None], np.ones((1, nap.sizes["group"]), dtype=bool))
    else:
        s = int(snaps[0])
        f_ax = _Axis(None, [snapshot_labels(nap)[s]], [str(s)], [s], np.ones((1, nap.sizes["group"]), dtype=bool))

    values_all = np.asarray(nap.values, dtype=float)  # (S, G, n)
    sizes = np.asarray(nap.coords["size"].values) if "size" in nap.coords else None
    if sizes is not None and sizes.ndim == 1:
        sizes = np.broadcast_to(sizes, (nap.sizes["snapshot"], sizes.shape[0]))
    min_size = nap.attrs.get("min_size")
    fl, rl, cl = len(f_ax.labels), len(r_ax.labels), len(c_ax.labels)
    n = nap.sizes["neuron"]
    values = np.full((fl, rl, cl, n), np.nan)
    counts = np.full((fl, rl, cl), -1, dtype=np.int64)
    for fi in range(fl):
        for ri in range(rl):
            for ci in range(cl):
                match = np.flatnonzero(f_ax.gmask[fi] & r_ax.gmask[ri] & c_ax.gmask[ci])
                if match.size > 1:
                    other = [f for f in factors if f not in (rows, cols)]
                    hint = (f" Select one level of {other[0]!r} first, e.g. "
                            f"naps.isel(group=naps[{other[0]!r}] == {str(nap.coords[other[0]].values[0])!r}), "
                            f"or use it as rows/cols." if other else " Use rows/cols that identify one group.")
                    raise InvalidInputError(
                        f"{caller}: rows={rows!r} and cols={cols!r} leave {match.size} groups per map "
                        f"(the NAPs are grouped by {by or 'group'!r}).{hint}"
                    )
                if match.size == 0:
                    continue
                s = next((a.snap[i] for a, i in ((f_ax, fi), (r_ax, ri), (c_ax, ci)) if a.snap[i] is not None), None)
                s = int(snaps[-1]) if s is None else s
                values[fi, ri, ci] = values_all[s, match[0]]
                if sizes is not None:
                    counts[fi, ri, ci] = int(sizes[s, match[0]])

    def note(c: int, v: np.ndarray) -> str:
        if c < 0:
            return "" if np.isfinite(v).any() else "no group"
        if not np.isfinite(v).any():
            return f"n={c} (too few)" if min_size is None or c < min_size else f"n={c}"
        return f"n={c}"

    notes = np.empty((fl, rl, cl), dtype=object)
    for idx in np.ndindex(fl, rl, cl):
        notes[idx] = note(int(counts[idx]), values[idx])
    # equal-count (quantile) confidence bins move with training: give their range
    if "confidence_lower" in nap.coords and "confidence" in by.split("+") and \
            str(nap.attrs.get("bins", "")).startswith("quantile"):
        lower = np.asarray(nap.coords["confidence_lower"].values, dtype=float)
        upper = np.asarray(nap.coords["confidence_upper"].values, dtype=float)
        for fi, ri, ci in np.ndindex(fl, rl, cl):
            match = np.flatnonzero(f_ax.gmask[fi] & r_ax.gmask[ri] & c_ax.gmask[ci])
            s = next((a.snap[i] for a, i in ((f_ax, fi), (r_ax, ri), (c_ax, ci)) if a.snap[i] is not None), None)
            s = int(snaps[-1]) if s is None else s
            if match.size == 1 and np.isfinite(lower[s, match[0]]) and np.isfinite(values[fi, ri, ci]).any():
                notes[fi, ri, ci] += f" · {lower[s, match[0]]:.2f}{_DASH}{upper[s, match[0]]:.2f}"

    contrastive = bool(nap.attrs.get("contrastive", False))
    quantity = "mean activation" + (f" {_MINUS} mean over groups" if contrastive else "")

    # -- differences ------------------------------------------------------------------
    if difference is not None:
        pairs = [difference] if (isinstance(difference, Sequence) and len(difference) == 2
                                 and all(isinstance(x, str | int | np.integer) for x in difference)) \
            else list(difference) if isinstance(difference, Sequence) else None
        if not pairs or not all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in pairs):
            raise param_error("difference", caller, "a pair (A, B) or a list of pairs of row or column labels",
                              difference)

        def find(axis: _Axis, item: Any) -> int | None:
            text = str(item)
            for i, (lab, name) in enumerate(zip(axis.labels, axis.names, strict=True)):
                if text in (lab, name):
                    return i
            return None

        target = None
        for axis_name, axis in (("cols", c_ax), ("rows", r_ax)):
            idx = [(find(axis, a), find(axis, b)) for a, b in pairs]
            if all(i is not None and j is not None for i, j in idx):
                target = (axis_name, axis, idx)
                break
        if target is None:
            raise param_error(
                "difference", caller, "pairs of labels found among the columns "
                f"({', '.join(map(repr, c_ax.names[:12]))}) or the rows ({', '.join(map(repr, r_ax.names[:12]))})",
                difference,
            )
        axis_name, axis, idx = target
        dim = 2 if axis_name == "cols" else 1
        va = np.take(values, [i for i, _ in idx], axis=dim)
        vb = np.take(values, [j for _, j in idx], axis=dim)
        values = va - vb
        na = np.take(notes, [i for i, _ in idx], axis=dim)
        nb = np.take(notes, [j for _, j in idx], axis=dim)
        notes = np.empty(values.shape[:3], dtype=object)
        for k in np.ndindex(notes.shape):
            a, b = na[k], nb[k]
            notes[k] = f"{a} vs {b.removeprefix('n=')}" if a.startswith("n=") and b.startswith("n=") else (a or b)
        new_labels = [f"{axis.labels[i]} {_MINUS} {axis.labels[j]}" for i, j in idx]
        new_names = [f"{axis.names[i]} {_MINUS} {axis.names[j]}" for i, j in idx]
        new_axis = _Axis(axis.key, new_labels, new_names, [None] * len(idx), np.zeros((len(idx), 0), dtype=bool))
        if axis_name == "cols":
            c_ax = new_axis
        else:
            r_ax = new_axis
        quantity = f"difference of {quantity}"

    # -- column order -------------------------------------------------------------------
    n_cols = values.shape[2]
    if order is not None:
        if isinstance(order, str):
            check_option("order", order, ("cluster",), caller)
            perm = _cluster_order(values) if n_cols > 2 else np.arange(n_cols)
        else:
            try:
                wanted = [str(o) for o in order]
            except TypeError:
                raise param_error("order", caller, "None, 'cluster' or a list of column labels", order) from None
            lookup = {name: i for i, name in enumerate(c_ax.names)}
            lookup.update({lab: i for i, lab in enumerate(c_ax.labels)})
            perm_list = [lookup.get(w) for w in wanted]
            if None in perm_list or sorted(perm_list) != list(range(n_cols)):
                raise param_error("order", caller, f"a permutation of the column labels {c_ax.names}", order)
            perm = np.asarray(perm_list)
        values = values[:, :, perm]
        notes = notes[:, :, perm]
        c_ax = _Axis(c_ax.key, [c_ax.labels[i] for i in perm], [c_ax.names[i] for i in perm],
                     [c_ax.snap[i] for i in perm], c_ax.gmask[perm] if c_ax.gmask.shape[0] == n_cols else c_ax.gmask)

    layer = nap.attrs.get("layer")
    title_parts = []
    if layer:
        title_parts.append(f"layer {layer}")
    what = ("contrastive NAPs" if contrastive else "NAPs") + (f" by {by.replace('+', ' × ')}" if by else "")
    measure = nap.attrs.get("measure")
    if measure and "confidence" in by:
        what += f" (confidence: {measure})"
    title_parts.append(what)
    return Panels(values=values, notes=notes, frame_labels=f_ax.labels, frame_snapshots=f_ax.snap,
                  row_labels=r_ax.labels, col_labels=c_ax.labels, row_title=rows or "", col_title=cols or "",
                  quantity=quantity, title=" · ".join(title_parts))


def _cluster_order(values: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering of the columns' maps (all frames and rows)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    cols = np.moveaxis(values, 2, 0).reshape(values.shape[2], -1)
    cols = np.nan_to_num(cols, nan=0.0)
    if not np.any(cols):
        return np.arange(values.shape[2])
    return leaves_list(linkage(cols, method="average", metric="euclidean", optimal_ordering=True))


# ---------------------------------------------------------------------------- grid figure
class MapGridFigure:
    """A figure with a grid of maps whose image data can be swapped in place.

    Parameters
    ----------
    panels : Panels
    renderer : TopoRenderer
    limits : array of shape (R, 2)
        Colour limits per row (identical rows for a shared scale).
    cmap : str
    markers : bool
    panel_size : float
        Inches per map.
    share : {"all", "row"}
    extra_title : str
        Appended to the frame label in the title (e.g. accuracy).
    """

    def __init__(self, panels: Panels, renderer: TopoRenderer, *, limits: np.ndarray, cmap: str = DEFAULT_CMAP,
                 markers: bool = False, panel_size: float = 1.5, share: str = "all", fig: Any = None) -> None:
        from matplotlib import colormaps
        from matplotlib.colors import Normalize

        self.panels = panels
        self.renderer = renderer
        self.limits = np.asarray(limits, dtype=float)
        r, c = len(panels.row_labels), len(panels.col_labels)
        self.shape = (r, c)
        has_rows = any(panels.row_labels)
        width = c * panel_size + (0.9 if has_rows else 0.2) + 0.9
        height = r * (panel_size + 0.25) + 0.75
        self.fig = fig if fig is not None else _new_figure((width, height))
        self.cmap = colormaps[cmap].with_extremes(bad=(0, 0, 0, 0))
        cb_cols = 1
        gs = self.fig.add_gridspec(r, c + cb_cols, width_ratios=[1] * c + [0.07 * (1 if c > 1 else 2)])
        self.axes = np.empty((r, c), dtype=object)
        self.images = np.empty((r, c), dtype=object)
        self.note_texts = np.empty((r, c), dtype=object)
        self.norms = [Normalize(*self.limits[i]) for i in range(r)]
        blank = np.full(renderer.shape, np.nan)
        for i in range(r):
            for j in range(c):
                ax = self.fig.add_subplot(gs[i, j])
                self.axes[i, j] = ax
                _underlay(ax, renderer)
                self.images[i, j] = ax.imshow(blank, origin="lower", extent=renderer.extent, cmap=self.cmap,
                                              norm=self.norms[i], interpolation="antialiased", zorder=0.5)
                _style_map_axes(ax, renderer)
                _outline(ax, renderer)
                if markers:
                    ax.plot(*renderer.positions.T, ".", color="k", ms=1.2, alpha=0.45, mec="none")
                self.note_texts[i, j] = ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top",
                                                fontsize=7, color="0.35")
                if i == 0 and panels.col_labels[j]:
                    ax.set_title(panels.col_labels[j], fontsize=9, pad=3)
                if j == 0 and panels.row_labels[i]:
                    ax.set_ylabel(panels.row_labels[i], fontsize=9)
        self.colorbars = []
        if share == "row" and r > 1:
            for i in range(r):
                cax = self.fig.add_subplot(gs[i, c])
                cb = self.fig.colorbar(self.images[i, 0], cax=cax)
                cb.ax.tick_params(labelsize=7)
                self.colorbars.append(cb)
            self.colorbars[r // 2].set_label(panels.quantity, fontsize=8)
        else:
            cax = self.fig.add_subplot(gs[:, c])
            cb = self.fig.colorbar(self.images[0, 0], cax=cax)
            cb.set_label(panels.quantity, fontsize=8)
            cb.ax.tick_params(labelsize=7)
            self.colorbars.append(cb)
        self.title = self.fig.suptitle("", fontsize=10)
        self._background = None
        self._rgba_lut: np.ndarray | None = None

    # -- static use ------------------------------------------------------------------------
    def show(self, images: np.ndarray, notes: np.ndarray, title: str) -> None:
        """Set float images ``(R, C, H, W)``, the size notes ``(R, C)`` and the title."""
        for idx in np.ndindex(*self.shape):
            self.images[idx].set_data(images[idx])
            self.note_texts[idx].set_text(notes[idx])
        self.title.set_text(title)

    # -- fast frame updates -------------------------------------------------------------------
    def to_rgba(self, images: np.ndarray) -> np.ndarray:
        """Colour-map float images ``(..., R, C, H, W)`` to uint8 RGBA with the grid's norms.

        NaN pixels become transparent. Precomputing frames this way makes a frame
        update a pure copy of pixels.
        """
        out = np.empty(images.shape + (4,), dtype=np.uint8)
        for i in range(self.shape[0]):
            out[..., i, :, :, :, :] = self.cmap(self.norms[i](images[..., i, :, :, :]), bytes=True)
        return out

    def freeze(self) -> None:
        """Draw everything except the frame-dependent artists once and keep it as background.

        After this, :meth:`blit` redraws only images (with their outlines and
        markers), size notes and the title. The layout is fixed from here on (no
        re-layout per frame), and images are drawn without resampling filters.
        """
        from matplotlib.transforms import Bbox

        dynamic = [*self.images.ravel(), *self.note_texts.ravel(), self.title]
        if not self.title.get_text():
            self.title.set_text(" ")  # reserve the title's space in the layout
        self.fig.canvas.draw()  # the layout engine places everything once, with the title
        self.fig.set_layout_engine("none")
        for a in dynamic:
            a.set_visible(False)
        self.fig.canvas.draw()
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        for a in dynamic:
            a.set_visible(True)
        for im in self.images.ravel():
            im.set_interpolation("nearest")  # frames are shown near 1:1; 3x cheaper than antialiasing
        self._markers = [ln for ax in self.axes.ravel() for ln in ax.lines]
        self._outlines = [p for ax in self.axes.ravel() for p in ax.patches]
        # fixed screen regions of the texts; rendered texts are cached per (region, string)
        renderer = self.fig.canvas.get_renderer()
        self._note_boxes = np.empty(self.shape, dtype=object)
        for idx in np.ndindex(*self.shape):
            ax_box = self.axes[idx].get_window_extent(renderer)
            text = self.note_texts[idx]
            old = text.get_text()
            text.set_text("n=88 · 0.00–1.00 (ÅgÉ)")
            tb = text.get_window_extent(renderer)
            text.set_text(old)
            self._note_boxes[idx] = Bbox.from_extents(ax_box.x0, tb.y0 - 1, ax_box.x1, tb.y1 + 1)
        fb = self.fig.bbox
        tb = self.title.get_window_extent(renderer)
        self._title_box = Bbox.from_extents(fb.x0, max(fb.y0, tb.y0 - 2), fb.x1, min(fb.y1, tb.y1 + 2))
        self._sprites: dict[tuple, Any] = {}

    def _text(self, key: tuple, artist: Any, text: str, box: Any) -> None:
        """Draw ``artist`` showing ``text`` (from the sprite cache when possible)."""
        canvas = self.fig.canvas
        sprite = self._sprites.get((key, text))
        if sprite is None:
            artist.set_text(text)
            if artist.axes is not None:
                artist.axes.draw_artist(artist)
            else:
                self.fig.draw_artist(artist)
            sprite = canvas.copy_from_bbox(box)
            if len(self._sprites) < 20_000:
                self._sprites[(key, text)] = sprite
        else:
            artist.set_text(text)
            canvas.restore_region(sprite)

    def blit(self, images: np.ndarray, notes: np.ndarray | None = None, title: str | None = None) -> np.ndarray:
        """Show one frame: ``images`` (R, C, H, W) floats or (R, C, H, W, 4) uint8 RGBA.

        Restores the frozen background, draws only the changing artists and returns
        the canvas pixels (H_px, W_px, 4) uint8 (a view; copy it to keep it).
        """
        if self._background is None:
            self.freeze()
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        for idx in np.ndindex(*self.shape):
            im = self.images[idx]
            im.set_data(images[idx])
            im.axes.draw_artist(im)
        for artist in self._outlines + self._markers:
            artist.axes.draw_artist(artist)
        for idx in np.ndindex(*self.shape):
            text = self.note_texts[idx].get_text() if notes is None else str(notes[idx])
            self._text(("note", idx), self.note_texts[idx], text, self._note_boxes[idx])
        self._text(("title",), self.title, self.title.get_text() if title is None else title, self._title_box)
        return np.asarray(canvas.buffer_rgba())


def grid_limits(values: np.ndarray, *, vlim: Any, share: str, caller: str) -> np.ndarray:
    """Colour limits per row ``(R, 2)`` for values ``(F, R, C, n)``."""
    r = values.shape[1]
    if share == "row" and vlim is None:
        return np.array([symmetric_limits(values[:, i]) for i in range(r)])
    lo, hi = _limits(vlim, values, caller)
    return np.tile([lo, hi], (r, 1))


def plot_map_grid(
    naps: Any,
    layout: Any,
    *,
    rows: str | None = None,
    cols: str | None = "auto",
    snapshot: Any = None,
    difference: Any = None,
    order: Any = None,
    vlim: Any = None,
    share: str = "all",
    contours: int = 0,
    markers: bool = False,
    cmap: str | None = None,
    method: str = "linear",
    mask: str | None = "hull",
    title: str | None = None,
    panel_size: float = 1.5,
):
    """Draw a grid of topographic activation maps from NAPs.

    Parameters
    ----------
    naps : xarray.DataArray (snapshot, group, neuron)
        NAPs from :func:`actconf.naps.naps` (or an array ``(group, neuron)``).
    layout : Layout, array of shape (n_neurons, 2) or TopoRenderer
        Neuron positions of the same layer.
    rows, cols : str or None
        What varies along rows and columns: ``"snapshot"``, ``"group"`` or a
        grouping factor of the NAPs (``"class"``, ``"confidence"``, ``"correct"``,
        ``"prediction"``). ``cols="auto"`` (default): with two factors (e.g.
        ``by="class+confidence"``) columns are classes and rows the other factor;
        otherwise one column per group. ``rows="snapshot"`` shows training
        progress. Each map must be one group: combine with ``naps.isel(...)`` to
        fix the other factors.
    snapshot : int or list of int, optional
        Positions along the NAPs' ``snapshot`` dimension. Default: the last one, or
        all of them when rows or cols is ``"snapshot"``.
    difference : (A, B) or list of such pairs, optional
        Show differences of maps instead: A and B are row labels or column labels
        (as shown, e.g. ``"0.9–1.0"`` / ``"class 3"``, or raw group/level names);
        each pair replaces that axis with one ``A − B`` row/column. E.g.
        ``rows="snapshot", difference=("epoch 20", "initial")``.
    order : None, "cluster" or list of column labels, optional
        ``"cluster"``: order columns by average-linkage hierarchical clustering of
        their maps, so that similar groups sit side by side.
    vlim : None, float or (float, float)
        Colour limits; None: symmetric ``±max|value|`` over the grid (or per row).
    share : {"all", "row"}, default="all"
        One colour scale for the whole grid (maps are comparable) or one per row.
    contours : int, default=0
        Contour lines per map at levels shared by the whole grid (0: none).
    markers : bool, default=False
        Mark neuron positions.
    cmap : str, optional
        Default: ``"RdBu_r"`` with symmetric limits (zero is white) — unless
        ``vlim`` is None and no shown value is negative (e.g. plain NAPs of a ReLU
        layer), then the sequential ``"Reds"`` from 0, so that no half of the scale
        goes unused.
    method, mask : str
        Interpolation and mask (see :class:`~actconf.render.TopoRenderer`); ignored
        when ``layout`` is a TopoRenderer.
    title : str, optional
        Figure title (default: layer, grouping and snapshot).
    panel_size : float, default=1.5
        Size of one map in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Maps are ``fig.axes[i * n_cols + j].images[0]`` (row-major); the shared
        colorbar axes follows them.
    """
    caller = "plot_map_grid()"
    renderer = _renderer(layout, method, mask, caller)
    check_option("share", share, ("all", "row"), caller)
    contours = check_int("contours", contours, caller, min_value=0)
    panel_size = check_float("panel_size", panel_size, caller, min_value=0.3, max_value=10)
    panels = build_panels(naps, rows=rows, cols=cols, snapshot=snapshot, difference=difference, order=order,
                          frames=False, caller=caller)
    if panels.values.shape[-1] != renderer.n_neurons:
        raise InvalidInputError(
            f"{caller}: the NAPs have {panels.values.shape[-1]} neurons but the layout has "
            f"{renderer.n_neurons}. Use the layout of the NAPs' layer."
        )
    images = renderer.render(panels.values[0])  # one product for all maps: (R, C, H, W)
    limits = grid_limits(panels.values, vlim=vlim, share=share, caller=caller)
    if cmap is None:
        finite = panels.values[np.isfinite(panels.values)]
        cmap = DEFAULT_CMAP
        if vlim is None and finite.size and finite.min() >= 0:
            cmap = "Reds"
            limits[:, 0] = 0.0
    grid = MapGridFigure(panels, renderer, limits=limits, cmap=cmap, markers=markers, panel_size=panel_size,
                         share=share)
    frame = panels.frame_labels[0]
    full_title = title if title is not None else " · ".join(p for p in (panels.title, frame) if p)
    grid.show(images, panels.notes[0], full_title)
    if contours:
        for idx in np.ndindex(*grid.shape):
            _contour(grid.axes[idx], renderer, images[idx], _contour_levels(contours, *limits[idx[0]]))
    return grid.fig
