"""Groups of probe samples and neuron activation patterns (NAPs).

A *grouping* assigns every probe sample, at every snapshot, to a group. Groups are
built from four *factors*:

``class``
    the true class (fixed over training);
``prediction``
    the predicted class at that snapshot (group labels ``"pred 3"``);
``correct``
    whether the prediction is right (``"correct"`` / ``"wrong"``);
``confidence``
    a confidence bin at that snapshot, from fixed edges (labels such as ``"0.9–1.0"``;
    a bin includes its lower edge, the last bin also its upper edge) or from
    per-snapshot quantiles (labels ``"Q1/5"`` … ``"Q5/5"``: the samples sorted by
    confidence are split into equal-count parts as ``numpy.array_split`` does; equal
    confidences at a boundary are split by sample order).

``by`` is one factor or a combination joined with ``+`` (``"class+confidence"``,
``"class+prediction"``, …). Combined groups are the Cartesian product of the factor
levels, labelled ``"3 | 0.9–1.0"``, first factor outermost. The list of groups is the
same at every snapshot — a group empty at one snapshot is still there (size 0).

The NAP of a group is the mean activation of each neuron over the group's samples;
the *contrastive* NAP subtracts, per neuron, the mean over the groups' NAPs (groups
too small to have a NAP are left out of that mean). :func:`naps` is contrastive by
default, as the paper's reference maps.

Internal API for the other modules (not in ``__all__``): :func:`parse_by`,
:func:`make_grouping` (:func:`group_samples` with the caller's name for errors),
:func:`layer_group_sums` (group sums of a layer's activations, computed with dask block
by block; :func:`lazy_group_sums` is the graph, :func:`group_sizes` the counts) and
:attr:`Grouping.codes`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import MAX_CONFIDENCE_BINS, check_bool, check_int, check_run, param_error
from .confidence import BOUNDED_MEASURES, MEASURES, check_measure, resolve_confidence
from .errors import InvalidInputError, InvalidParameterError
from .store import Run

__all__ = [
    "FACTORS",
    "GROUPINGS",
    "Grouping",
    "assign_groups",
    "group_samples",
    "naps",
]

#: The grouping factors that ``by=`` combines.
FACTORS: tuple[str, ...] = ("class", "prediction", "correct", "confidence")
#: Common groupings (any ``+``-combination of distinct factors is accepted).
GROUPINGS: tuple[str, ...] = (
    "class", "prediction", "correct", "confidence", "class+confidence", "class+prediction",
)
DEFAULT_BINS = 10
_DASH = "\u2013"  # en dash, as in "0.9–1.0"


# --------------------------------------------------------------------------- parsing
def parse_by(by: Any, caller: str) -> tuple[str, ...]:
    """Split a grouping (``"class+confidence"``, ``"class×confidence"`` or a sequence) into factors.

    Internal API shared with the explorer; raises the standard parameter error for
    unknown or repeated factors.
    """
    if isinstance(by, str):
        parts = [p.strip() for p in by.replace("\u00d7", "+").replace("*", "+").split("+")]
    elif isinstance(by, Sequence) and all(isinstance(p, str) for p in by):
        parts = [p.strip() for p in by]
    else:
        parts = None
    ok = bool(parts) and all(p in FACTORS for p in parts) and len(set(parts)) == len(parts)
    if not ok:
        raise param_error(
            "by", caller, "one of " + ", ".join(repr(g) for g in GROUPINGS)
            + ", or another '+'-combination of distinct factors from "
            + ", ".join(repr(f) for f in FACTORS), by,
        )
    return tuple(parts)


def _fmt_edge(values: np.ndarray) -> list[str]:
    """Edges with the fewest decimals (1..4) that represent them all."""
    for d in range(1, 5):
        if np.allclose(np.round(values, d), values, rtol=0, atol=1e-9):
            return [f"{v:.{d}f}" for v in values]
    return [f"{v:.4g}" for v in values]


def quantile_codes(conf: np.ndarray, k: int) -> np.ndarray:
    """Equal-count bin (0 = least confident) of every value of ``conf`` (..., n); -1 if not finite.

    The samples sorted by confidence (stable: ties by sample order) are split as
    ``numpy.array_split`` splits ``n`` items into ``k`` parts: the rule of
    ``bins="quantile:k"``. Internal API shared with :mod:`actconf.analysis`.
    """
    conf = np.asarray(conf, dtype=np.float64)
    finite = np.isfinite(conf)
    order = np.argsort(np.where(finite, conf, np.inf), axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(conf.shape[-1]), conf.shape), axis=-1)
    m = finite.sum(axis=-1, keepdims=True)
    q, rem = m // k, m % k
    big = rem * (q + 1)
    b = np.where(ranks < big, ranks // (q + 1), rem + (ranks - big) // np.maximum(q, 1))
    return np.where(finite & (ranks < m), b, -1)


@dataclass(frozen=True, eq=False)
class _Bins:
    edges: np.ndarray | None  # fixed edges, or None for quantile bins
    quantiles: int | None
    labels: tuple[str, ...]
    spec: Any  # JSON-friendly description for attrs

    @property
    def n(self) -> int:
        return len(self.labels)

    def assign(self, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bin of every value in (S, n) (-1: none) and per-snapshot bin lower/upper bounds."""
        s, n = conf.shape
        finite = np.isfinite(conf)
        if self.edges is not None:
            e = self.edges
            b = np.searchsorted(e, np.where(finite, conf, -np.inf), side="right") - 1
            b = np.where(conf == e[-1], self.n - 1, b)
            b = np.where(finite & (b >= 0) & (b < self.n), b, -1)
            lower = np.broadcast_to(e[:-1], (s, self.n)).copy()
            upper = np.broadcast_to(e[1:], (s, self.n)).copy()
            return b, lower, upper
        k = self.n
        b = quantile_codes(conf, k)
        flat = np.where(b >= 0, b + k * np.arange(s)[:, None], s * k).ravel()
        lower = np.full(s * k + 1, np.inf)
        upper = np.full(s * k + 1, -np.inf)
        vals = np.where(finite, conf, 0.0).ravel()
        np.minimum.at(lower, flat, vals)
        np.maximum.at(upper, flat, vals)
        lower, upper = lower[:-1].reshape(s, k), upper[:-1].reshape(s, k)
        empty = ~np.isfinite(lower)
        lower[empty] = np.nan
        upper[empty] = np.nan
        return b, lower, upper


_BINS_FIX = (f"{MAX_CONFIDENCE_BINS} confidence bins is actconf's limit (each bin is a group of samples); "
             "5-10 bins is usual.")


def _parse_bins(bins: Any, measure: str | None, caller: str) -> _Bins:
    """int -> equal-width bins on [0, 1]; sequence -> edges; 'quantile[:N]' -> N quantile bins."""
    bounded = measure in BOUNDED_MEASURES
    if isinstance(bins, str):
        text = bins.strip().lower()
        n: Any = 5
        ok = text == "quantile" or text.startswith("quantile:")
        if ok and ":" in text:
            try:
                n = int(text.split(":", 1)[1])
            except ValueError:
                ok = False
        if not ok or n < 1:
            raise param_error("bins", caller, "an int, a sequence of increasing edges, 'quantile' or "
                              "'quantile:N' (N >= 1)", bins)
        if n > MAX_CONFIDENCE_BINS:
            raise param_error("bins", caller, f"'quantile:N' with N <= {MAX_CONFIDENCE_BINS}", bins, _BINS_FIX)
        return _Bins(None, n, tuple(f"Q{i + 1}/{n}" for i in range(n)), f"quantile:{n}")
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if bins < 1:
            raise param_error("bins", caller, "a positive int, a sequence of increasing edges or "
                              "'quantile[:N]'", bins)
        if bins > MAX_CONFIDENCE_BINS:
            raise param_error("bins", caller, f"an int <= {MAX_CONFIDENCE_BINS}", bins, _BINS_FIX)
        if not bounded and measure is not None:
            raise param_error(
                "bins", caller, "explicit edges or quantile bins for the unbounded measure "
                f"{measure!r}", bins, "Equal-width bins cover [0, 1]; use bins='quantile' or "
                "bins=[...edges...] instead.",
            )
        edges = np.linspace(0.0, 1.0, int(bins) + 1)
    else:
        try:
            edges = np.asarray(bins, dtype=np.float64)
        except (TypeError, ValueError):
            raise param_error("bins", caller, "an int, a sequence of increasing edges, 'quantile' or "
                              "'quantile:N'", bins) from None
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
            raise param_error("bins", caller, "a sequence of at least 2 finite edges", bins)
        if edges.size > MAX_CONFIDENCE_BINS + 1:
            raise param_error("bins", caller, f"at most {MAX_CONFIDENCE_BINS + 1} edges", f"{edges.size} edges",
                              _BINS_FIX)
        if not np.all(np.diff(edges) > 0):
            raise param_error("bins", caller, "an increasing sequence of edges", bins,
                              "Sort the edges and remove duplicates, e.g. bins=[0.0, 0.5, 0.9, 1.0].")
        if bounded and (edges[0] < 0 or edges[-1] > 1):
            raise param_error("bins", caller, f"edges within [0, 1] for the measure {measure!r}", bins,
                              "Confidence values of this measure lie in [0, 1].")
    text = _fmt_edge(edges)
    labels = tuple(f"{text[i]}{_DASH}{text[i + 1]}" for i in range(edges.size - 1))
    return _Bins(edges, None, labels, [float(e) for e in edges])


# --------------------------------------------------------------------------- grouping
@dataclass(frozen=True, eq=False)
class Grouping:
    """Group of every probe sample at every snapshot (see :func:`group_samples`).

    Attributes
    ----------
    assignment : xarray.DataArray of int (snapshot, sample)
        Group position (index into ``labels``) of every sample; -1 when the sample is in
        no group (confidence outside the bin edges, or not finite).
    labels : list of str
        Group labels, the same for every snapshot.
    factors : dict
        ``factor -> list`` of that factor's level per group (strings), for pivoting.
    by : tuple of str
        The factors, outermost first.
    measure : str
        The confidence measure (``"custom"`` for a user-supplied confidence).
    bins : list of float or str
        Bin edges, or ``"quantile:N"``.
    confidence : xarray.DataArray or None
        The confidence values used (snapshot, sample), when ``confidence`` is a factor.
    bin_lower, bin_upper : numpy.ndarray or None
        (snapshot, group) bounds of each group's confidence bin (the fixed edges, or
        for quantile bins the smallest/largest confidence in it; NaN when empty).
    """

    assignment: Any
    labels: list[str]
    factors: dict[str, list[str]]
    by: tuple[str, ...]
    measure: str
    bins: Any
    confidence: Any = None
    bin_lower: np.ndarray | None = None
    bin_upper: np.ndarray | None = None
    _codes: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    @property
    def codes(self) -> np.ndarray:
        """Group position of every sample, numpy int array (snapshot, sample); -1 = no group."""
        return self._codes if self._codes is not None else np.asarray(self.assignment.values)

    @property
    def by_name(self) -> str:
        """``by`` as one string, e.g. ``"class+confidence"``."""
        return "+".join(self.by)

    def sizes(self):
        """Number of samples per group, ``xarray.DataArray`` (snapshot, group)."""
        import xarray as xr

        codes = np.asarray(self.assignment.values)
        s, g = codes.shape[0], self.n_groups
        flat = np.where(codes >= 0, codes + g * np.arange(s)[:, None], s * g).ravel()
        counts = np.bincount(flat, minlength=s * g + 1)[:-1].reshape(s, g)
        coords = {k: v for k, v in self.assignment.coords.items() if v.dims == ("snapshot",)}
        coords.update(self.group_coords())
        return xr.DataArray(counts, dims=("snapshot", "group"), coords=coords, name="size")

    def group_coords(self) -> dict[str, Any]:
        """Coordinates along ``group``: the labels plus one per factor."""
        coords: dict[str, Any] = {"group": np.asarray(self.labels, dtype=object).astype(str)}
        for factor, values in self.factors.items():
            coords[factor] = ("group", np.asarray(values, dtype=str))
        return coords

    def members(self, snapshot: int, group: str | int) -> np.ndarray:
        """Sample indices in ``group`` (label or position) at ``snapshot`` (a position of
        ``assignment``, i.e. 0 for its first snapshot)."""
        if isinstance(group, str):
            if group not in self.labels:
                raise InvalidParameterError(
                    f"Group {group!r} does not exist; groups are {', '.join(map(repr, self.labels[:20]))}"
                    + (" ..." if len(self.labels) > 20 else "") + "."
                )
            group = self.labels.index(group)
        return np.flatnonzero(np.asarray(self.assignment.values)[snapshot] == group)


def _assign(
    labels: np.ndarray,
    pred: np.ndarray | None,
    conf: np.ndarray | None,
    by: tuple[str, ...],
    bins: _Bins | None,
    class_names: Sequence[str],
) -> tuple[np.ndarray, list[str], dict[str, list[str]], np.ndarray | None, np.ndarray | None]:
    """Mixed-radix group codes (S, n) and the group table."""
    s = (pred if pred is not None else conf).shape[0]
    n = labels.shape[0]
    codes = np.zeros((s, n), dtype=np.int64)
    valid = np.ones((s, n), dtype=bool)
    levels: list[list[str]] = []
    names: list[list[str]] = []
    lower = upper = None
    for factor in by:
        if factor == "class":
            c = np.broadcast_to(labels, (s, n))
            lv = list(class_names)
            nm = lv
        elif factor == "prediction":
            c = pred
            lv = list(class_names)
            nm = [f"pred {x}" for x in lv]
        elif factor == "correct":
            c = np.where(labels[None, :] < 0, -1, np.where(pred == labels[None, :], 0, 1))  # -1: unlabelled
            lv = ["correct", "wrong"]
            nm = lv
        else:
            c, lower, upper = bins.assign(conf)
            lv = list(bins.labels)
            nm = lv
        valid &= c >= 0
        codes = codes * len(lv) + np.where(c >= 0, c, 0)
        levels.append(lv)
        names.append(nm)
    codes = np.where(valid, codes, -1)
    grid = np.indices([len(lv) for lv in levels]).reshape(len(levels), -1)
    group_labels = [" | ".join(names[f][grid[f, g]] for f in range(len(by))) for g in range(grid.shape[1])]
    factors = {factor: [levels[f][grid[f, g]] for g in range(grid.shape[1])] for f, factor in enumerate(by)}
    b_lo = b_hi = None
    if lower is not None:
        f = by.index("confidence")
        b_lo = lower[:, grid[f]]
        b_hi = upper[:, grid[f]]
    return codes, group_labels, factors, b_lo, b_hi


def assign_groups(
    labels: Any,
    *,
    predictions: Any = None,
    confidence: Any = None,
    by: str | Sequence[str] = "class",
    bins: Any = DEFAULT_BINS,
    class_names: Sequence[str] | None = None,
    measure: str | None = None,
) -> Grouping:
    """Group samples from plain arrays (the array counterpart of :func:`group_samples`).

    Parameters
    ----------
    labels : int array of shape (n_samples,)
        True classes.
    predictions : int array of shape (n_snapshots, n_samples), optional
        Needed for the ``prediction`` and ``correct`` factors.
    confidence : array of shape (n_snapshots, n_samples), optional
        Needed for the ``confidence`` factor.
    by, bins
        As in :func:`group_samples`.
    class_names : list of str, optional
        Defaults to ``"0" .. "K-1"`` with K = ``labels.max() + 1`` (or the predictions').
    measure : str, optional
        Name of the confidence measure; when it is bounded, fixed edges must lie in [0, 1].

    Returns
    -------
    Grouping
        With ``assignment`` dims (snapshot, sample) and snapshot positions 0..S-1.
    """
    import xarray as xr

    caller = "assign_groups()"
    by_t = parse_by(by, caller)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise param_error("labels", caller, "a 1-D int array", f"an array of dtype {labels.dtype} "
                          f"and shape {labels.shape}")
    n = labels.shape[0]
    pred = conf = None
    if "prediction" in by_t or "correct" in by_t:
        if predictions is None:
            raise param_error("predictions", caller, f"an int array (n_snapshots, {n}) for by={by!r}", None)
        pred = np.asarray(predictions)
        if pred.ndim == 1:
            pred = pred[None]
        if pred.ndim != 2 or pred.shape[1] != n or not np.issubdtype(pred.dtype, np.integer):
            raise param_error("predictions", caller, f"an int array (n_snapshots, {n})",
                              f"an array of dtype {pred.dtype} and shape {pred.shape}")
    bins_t = None
    if "confidence" in by_t:
        if confidence is None:
            raise param_error("confidence", caller, f"an array (n_snapshots, {n}) for by={by!r}", None)
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.ndim == 1:
            conf = conf[None]
        if conf.ndim != 2 or conf.shape[1] != n:
            raise param_error("confidence", caller, f"an array (n_snapshots, {n})", f"an array of shape {conf.shape}")
        bins_t = _parse_bins(bins, measure, caller)
    if pred is None and conf is None:
        s = 1
        pred = np.zeros((1, n), dtype=np.int64)  # only for the shape; 'class' ignores it
    elif pred is not None and conf is not None and pred.shape[0] != conf.shape[0]:
        raise InvalidInputError(f"{caller}: predictions have {pred.shape[0]} snapshots but confidence "
                                f"has {conf.shape[0]}.")
    s = (pred if pred is not None else conf).shape[0]
    if class_names is None:
        k = int(max(labels.max(initial=-1), pred.max(initial=-1) if pred is not None else -1)) + 1
        class_names = [str(i) for i in range(k)]
    codes, group_labels, factors, lo, hi = _assign(labels, pred, conf, by_t, bins_t, list(class_names))
    assignment = xr.DataArray(codes, dims=("snapshot", "sample"),
                              coords={"snapshot": np.arange(s), "sample": np.arange(n)}, name="group")
    return Grouping(assignment, group_labels, factors, by_t, measure or "custom",
                    bins_t.spec if bins_t else None,
                    None if conf is None else xr.DataArray(conf, dims=("snapshot", "sample")),
                    lo, hi, codes)


def group_samples(
    run: Run,
    *,
    by: str | Sequence[str] = "class",
    measure: Any = "max_softmax",
    bins: Any = DEFAULT_BINS,
    snapshots: Any = None,
) -> Grouping:
    """Assign every probe sample to a group, per snapshot.

    Parameters
    ----------
    run : Run
    by : str or sequence of str, default="class"
        ``"class"``, ``"prediction"``, ``"correct"``, ``"confidence"`` or a
        ``+``-combination such as ``"class+confidence"`` or ``"class+prediction"``.
    measure : str or xarray.DataArray, default="max_softmax"
        Confidence measure for the ``confidence`` factor (see
        :mod:`actconf.confidence`), or a confidence DataArray (snapshot, sample) you
        computed (e.g. ``confidence(run, measure="temperature", seed=1)``). For the
        ``prediction``/``correct`` factors, ``mc_dropout`` and a DataArray with a
        ``prediction`` coordinate supply their own predictions (the MC-averaged argmax);
        otherwise the argmax of the recorded probabilities is used.
    bins : int, sequence of float or str, default=10
        Confidence bins: ``n`` equal-width bins on [0, 1]; increasing edges (values
        outside them belong to no group); or ``"quantile"`` / ``"quantile:N"`` for N
        (default 5) equal-count bins per snapshot. At most 1,000 bins.
    snapshots : selector, optional
        See :meth:`Run.snapshot_index`; all snapshots by default.

    Returns
    -------
    Grouping
        ``assignment`` (snapshot, sample) carries the run's snapshot coordinates.

    Raises
    ------
    InvalidParameterError
        Unknown grouping or measure, bad bins, or a snapshot selector matching nothing.
    MissingDataError
        A measure that needs logits or MC passes the run does not have.
    """
    return make_grouping(run, by=by, measure=measure, bins=bins, snapshots=snapshots,
                         caller="group_samples()")


def make_grouping(run: Run, *, by: Any, measure: Any, bins: Any, snapshots: Any, caller: str,
                  confidence: Any = None, predictions: np.ndarray | None = None) -> Grouping:
    """:func:`group_samples`, with errors naming ``caller`` (internal API for analysis and the widgets).

    ``confidence`` — :func:`~actconf.confidence.confidence` of the measure name ``measure``
    at the selected snapshots — and ``predictions`` — the argmax of the recorded
    probabilities there, (S, n) — are used instead of computing them again when given
    (the explorer keeps both).
    """
    import xarray as xr

    run = check_run(run, caller)
    by_t = parse_by(by, caller)
    idx = run.snapshot_index(snapshots)
    measure = check_measure(measure, caller)
    conf = pred = None
    bins_t = None
    name = measure if isinstance(measure, str) else "custom"
    needs_pred = "prediction" in by_t or "correct" in by_t
    # MC dropout (or a user-supplied confidence) may carry its own predictions
    own_pred = needs_pred and (not isinstance(measure, str) or measure == "mc_dropout")
    if "confidence" in by_t and isinstance(measure, str):
        _parse_bins(bins, measure, caller)  # fail on bad bins before reading any data
    if ("confidence" in by_t or own_pred) and confidence is not None and isinstance(measure, str):
        name, conf = measure, confidence
    elif "confidence" in by_t or own_pred:
        name, conf = resolve_confidence(run, measure, idx, caller)
    if "confidence" in by_t:
        bins_t = _parse_bins(bins, name if name in MEASURES else None, caller)
    if needs_pred:
        if conf is not None and "prediction" in conf.coords:
            pred = np.asarray(conf["prediction"].values)
        elif predictions is not None:
            pred = np.asarray(predictions)
        else:
            pred = run.read("outputs/probabilities", idx).argmax(axis=-1)
    if pred is None and conf is None:
        pred = np.zeros((idx.size, run.n_samples), dtype=np.int64)
    conf_values = None if bins_t is None else np.asarray(conf.values, dtype=np.float64)
    if ("class" in by_t or "correct" in by_t) and not (run.labels >= 0).any():
        raise InvalidInputError(
            f"{caller}: grouping by={'+'.join(by_t)!r} needs class labels, but every probe sample of run "
            f"{str(run.path)!r} is unlabelled (-1). Group by 'prediction' or 'confidence', or record with y_probe=."
        )
    codes, labels, factors, lo, hi = _assign(run.labels, pred, conf_values, by_t, bins_t, run.class_names)
    coords = {**run.snapshot_coords(idx), "sample": np.arange(run.n_samples),
              "label": ("sample", run.labels)}
    assignment = xr.DataArray(codes, dims=("snapshot", "sample"), coords=coords, name="group",
                              attrs={"by": "+".join(by_t)})
    return Grouping(assignment, labels, factors, by_t, name, bins_t.spec if bins_t else None,
                    conf if bins_t is not None else None, lo, hi, codes)


# --------------------------------------------------------------------------- NAPs
def _group_sums(acts: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group sums via one sparse product: acts (S, n, N), codes (S, n) -> sums (S, G, N), sizes (S, G).

    ``codes`` may also be (S, M, n): every sample then belongs to M groups at once (e.g.
    one per random split), still with one pass over the activations.
    """
    from scipy import sparse

    s, n, m = acts.shape
    codes = codes[:, None, :] if codes.ndim == 2 else codes
    valid = (codes >= 0).ravel()
    rows = (codes + n_groups * np.arange(s)[:, None, None]).ravel()[valid]
    cols = np.broadcast_to((np.arange(s)[:, None] * n + np.arange(n))[:, None, :], codes.shape).ravel()[valid]
    onehot = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(s * n_groups, s * n))
    sums = np.asarray(onehot @ acts.reshape(s * n, m).astype(np.float64)).reshape(s, n_groups, m)
    sizes = np.bincount(rows, minlength=s * n_groups).reshape(s, n_groups)
    return sums, sizes


def _block_sums(acts: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """One block's group sums: acts (s, b, N), codes (s, M, b) -> (s, 1, G, N) float64."""
    return _group_sums(acts, codes, n_groups)[0][:, None]


def lazy_group_sums(acts: Any, codes: np.ndarray, n_groups: int):
    """Group sums of dask activations (S, n, N) as a dask array (S, G, N), float64.

    Every block of (snapshots, samples) gives its partial sums with one sparse product;
    the partials are summed over the sample blocks (a snapshot held in one block is
    summed exactly as :func:`_group_sums` sums it). ``codes`` (S, n) or (S, M, n) as
    for :func:`_group_sums`. Internal API shared with :mod:`actconf.analysis`.
    """
    import dask.array as da

    codes = codes[:, None, :] if codes.ndim == 2 else codes
    if len(acts.chunks[2]) > 1:
        acts = acts.rechunk({2: -1})
    dcodes = da.from_array(codes, chunks=(acts.chunks[0], codes.shape[1], acts.chunks[1]))
    partial = da.blockwise(_block_sums, "sngk", acts, "snk", dcodes, "smn", n_groups=n_groups,
                           new_axes={"g": n_groups}, adjust_chunks={"n": 1}, dtype=np.float64,
                           concatenate=True, meta=np.empty((0, 0, 0, 0)))
    return partial.sum(axis=1) if partial.numblocks[1] > 1 else partial[:, 0]


def group_sizes(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Samples per group (S, G) from codes (S, n) or (S, M, n) (-1 = no group)."""
    codes = codes[:, None, :] if codes.ndim == 2 else codes
    s = codes.shape[0]
    valid = (codes >= 0).ravel()
    rows = (codes + n_groups * np.arange(s)[:, None, None]).ravel()[valid]
    return np.bincount(rows, minlength=s * n_groups).reshape(s, n_groups)


def layer_group_sums(run: Run, layer: str, idx: np.ndarray, codes: np.ndarray, n_groups: int, *,
                     activations: np.ndarray | None = None):
    """Group sums (S, G, N) and sizes (S, G) of a layer's activations, computed with dask.

    ``codes`` (S, n) are group positions (-1 = no group) for the snapshot positions ``idx``;
    (S, M, n) puts every sample in M groups (see ``_group_sums``). The activations are
    read block by block (:func:`actconf._dask.activation_blocks`): memory is bounded by
    a block and the result, not by the run; the active dask scheduler (threads, or a
    ``dask.distributed`` Client) does the work. ``activations`` (S, n, N), the layer's
    activations at ``idx`` already in memory, are split into the same blocks instead of
    being read: the same sums to the last bit.
    """
    from ._dask import activation_blocks, compute

    acts = activation_blocks(run, layer, idx, whole="neuron")
    if activations is not None and len(acts.chunks[1]) == 1:
        # every block holds all samples: its sums are one sparse product, as lazy_group_sums makes them
        bounds = np.cumsum((0, *acts.chunks[0]))
        sums = np.concatenate([_group_sums(activations[a:b], codes[a:b], n_groups)[0]
                               for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
        return sums, group_sizes(codes, n_groups)
    if activations is not None:
        import dask.array as da

        acts = da.from_array(activations, chunks=acts.chunks, name=False)
    (sums,) = compute(lazy_group_sums(acts, codes, n_groups))
    return sums, group_sizes(codes, n_groups)


def _nap_values(sums: np.ndarray, sizes: np.ndarray, min_size: int, contrastive: bool) -> np.ndarray:
    """NAP values (S, G, N) from group sums and sizes: NaN below ``min_size``, optionally centred."""
    with np.errstate(invalid="ignore", divide="ignore"):
        values = sums / sizes[..., None]
    values[sizes < min_size] = np.nan
    if contrastive:
        ok = np.isfinite(values).all(axis=-1, keepdims=True) & (sizes >= min_size)[..., None]
        n_ok = ok.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, values, 0.0).sum(axis=1, keepdims=True) / n_ok
        values = values - mean
    return values


def naps(
    run: Run,
    layer: str | None = None,
    *,
    by: str | Sequence[str] = "class",
    measure: Any = "max_softmax",
    bins: Any = DEFAULT_BINS,
    snapshots: Any = None,
    contrastive: bool = True,
    min_size: int = 5,
):
    """Neuron activation patterns: the mean activation of every neuron per group.

    Parameters
    ----------
    run : Run
    layer : str, optional
        A recorded layer; the first one by default.
    by, measure, bins, snapshots
        The grouping, as in :func:`group_samples`.
    contrastive : bool, default=True
        Subtract, per snapshot and neuron, the mean over the groups' NAPs (groups below
        ``min_size`` are left out of that mean), as the paper's reference maps do.
        ``False`` gives the plain group means (the size of activity).
    min_size : int, default=5
        Groups with fewer samples get NaN instead of a noisy (or empty) mean; their
        sizes stay visible in the ``size`` coordinate.

    Returns
    -------
    xarray.DataArray (snapshot, group, neuron), named ``"nap"``
        Coordinates: the snapshot coordinates (``epoch``, ``step``, ``progress``),
        ``group`` (string labels such as ``"3"``, ``"0.9–1.0"``, ``"3 | 0.9–1.0"``),
        one coordinate along ``group`` per factor of ``by`` (``class``,
        ``prediction``, ``correct``, ``confidence``: that factor's level),
        ``size`` (snapshot, group), for confidence groupings ``confidence_lower`` and
        ``confidence_upper`` (snapshot, group), and ``neuron``. ``attrs``: ``layer``,
        ``by``, ``measure``, ``contrastive``, ``min_size``, ``bins``.

    Raises
    ------
    InvalidParameterError
        Unknown grouping/measure/layer, bad bins or min_size, or a snapshot selector
        that matches nothing.
    MissingDataError
        A confidence measure that needs logits or MC passes the run lacks.

    Examples
    --------
    >>> nap = naps(run, "hidden_1", by="class+confidence", bins=[0, 0.5, 0.9, 1])  # doctest: +SKIP
    >>> nap.sel(snapshot=-1)  # doctest: +SKIP
    """
    caller = "naps()"
    run = check_run(run, caller)
    layer = run.check_layer(layer)
    min_size = check_int("min_size", min_size, caller, min_value=1)
    contrastive = check_bool("contrastive", contrastive, caller)
    grouping = make_grouping(run, by=by, measure=measure, bins=bins, snapshots=snapshots, caller=caller)
    return grouping_naps(run, layer, grouping, min_size=min_size, contrastive=contrastive)


def grouping_naps(run: Run, layer: str, grouping: Grouping, *, min_size: int = 5, contrastive: bool = True,
                  activations: np.ndarray | None = None):
    """:func:`naps` of a grouping from :func:`make_grouping` (internal API of the widgets).

    ``activations``: the layer's activations at the grouping's snapshots, already in
    memory (see :func:`layer_group_sums`); read from the store block by block otherwise.
    """
    import xarray as xr

    idx = np.asarray(grouping.assignment["snapshot"].values)
    sums, sizes = layer_group_sums(run, layer, idx, grouping.codes, grouping.n_groups, activations=activations)
    values = _nap_values(sums, sizes, min_size, contrastive)
    coords: dict[str, Any] = {**run.snapshot_coords(idx), **grouping.group_coords(),
                              "size": (("snapshot", "group"), sizes),
                              "neuron": np.arange(values.shape[-1])}
    if grouping.bin_lower is not None:
        coords["confidence_lower"] = (("snapshot", "group"), grouping.bin_lower)
        coords["confidence_upper"] = (("snapshot", "group"), grouping.bin_upper)
    attrs = {"layer": layer, "by": grouping.by_name, "measure": grouping.measure,
             "contrastive": contrastive, "min_size": min_size}
    if grouping.bins is not None:
        attrs["bins"] = grouping.bins
    return xr.DataArray(values, dims=("snapshot", "group", "neuron"), coords=coords, name="nap", attrs=attrs)
