"""Confidence measures and calibration, per snapshot and probe sample.

Every function takes either a :class:`~actconf.store.Run` or plain numpy arrays:

* ``confidence(run, measure=...)`` returns an ``xarray.DataArray`` (snapshot, sample)
  with the snapshot coordinates of the run, the true ``label`` and the ``prediction``
  of every sample;
* ``confidence(probabilities, measure=...)`` with an array of shape
  ``(..., n_samples, n_classes)`` returns a numpy array of shape ``(..., n_samples)``
  (pass ``from_logits=True`` when the array holds logits).

Measures (higher always means *more* confident):

``max_softmax`` (default, the paper's measure)
    Largest class probability, in [1/K, 1].
``margin``
    Largest minus second-largest class probability, in [0, 1].
``entropy``
    Normalised negative entropy ``1 - H(p) / log K`` (natural logarithm): 1 for a
    one-hot prediction (certain), 0 for the uniform distribution.
``energy``
    Negative free energy ``logsumexp(z)`` of the logits ``z`` (Liu et al., 2020), an
    unbounded score: use quantile bins to group by it. Needs logits.
``temperature``
    Largest probability after temperature scaling, ``max softmax(z / T)``. ``T`` is
    fitted per snapshot by minimising the negative log-likelihood with *cross-fitting*:
    the probe samples are split into ``n_folds`` folds stratified by true class
    (seeded); the confidence of a sample in fold *f* uses the temperature fitted on all
    other folds, so no sample is scored with a temperature fitted on itself. The
    default ``n_folds=2`` fits on one half and evaluates on the other, and vice versa.
    Without logits, the log-probabilities are scaled (they differ from the logits by a
    per-sample constant, which softmax ignores).
``mc_dropout``
    MC-dropout: the K stochastic passes recorded with ``ActivationRecorder(mc_samples=K)``
    are averaged to the predictive distribution ``p̄``; the confidence is the mean over
    the passes of the probability of the predicted class ``argmax p̄`` (that is,
    ``max p̄``). :func:`mc_dropout` also returns the predictive variance of that
    probability over the passes.

Calibration (:func:`calibration`, :func:`reliability`) gives one row per snapshot
(accuracy, NLL, Brier score, ECE with equal-width and equal-mass bins) or per snapshot ×
bin (reliability-diagram data), as tidy pandas DataFrames.

Non-finite values
    Arrays passed in must be finite: a NaN or infinite probability or logit raises
    :class:`~actconf.errors.InvalidInputError` (it would otherwise become a NaN
    confidence in silence). A *run* can hold snapshots whose outputs are non-finite
    (training diverged; the snapshot table's ``nonfinite`` column says which): those
    snapshots propagate NaN — their confidences and calibration rows are NaN — so that
    the rest of the run stays usable and the gap is visible.

Internal API for the other modules (not in ``__all__``): :func:`check_measure` (the
one check of a ``measure=`` argument) and :func:`resolve_confidence` (a measure name
or a precomputed confidence DataArray -> the confidence of given snapshots).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import (
    MAX_CALIBRATION_BINS,
    check_int,
    check_option,
    check_random_state,
    check_run,
    param_error,
)
from .errors import InvalidInputError, InvalidParameterError, MissingDataError
from .store import Run, softmax

__all__ = [
    "MEASURES",
    "PROBABILITY_MEASURES",
    "available_measures",
    "calibration",
    "confidence",
    "fit_temperature",
    "mc_dropout",
    "predictions",
    "reliability",
]

#: The confidence measures accepted by ``measure=`` everywhere in actconf.
MEASURES: tuple[str, ...] = ("max_softmax", "margin", "entropy", "energy", "temperature", "mc_dropout")
#: Measures that are the probability of the predicted class (usable for calibration).
PROBABILITY_MEASURES: tuple[str, ...] = ("max_softmax", "temperature", "mc_dropout")
#: Measures whose values lie in [0, 1] (fixed confidence-bin edges must lie there too).
BOUNDED_MEASURES: tuple[str, ...] = ("max_softmax", "margin", "entropy", "temperature", "mc_dropout")

_TINY = 1e-300
_DEFAULT_FOLDS = 2  # cross-fitting folds of temperature scaling
_T_MIN, _T_MAX = 1e-2, 1e2  # temperatures are fitted in this range


# --------------------------------------------------------------------------- helpers


def _per_sample(run: Run, idx: np.ndarray, values: np.ndarray, name: str, *, coords: dict | None = None,
                attrs: dict | None = None):
    """A (snapshot, sample) DataArray with the run's snapshot coordinates and true labels."""
    import xarray as xr

    full = {**run.snapshot_coords(idx), "sample": np.arange(run.n_samples), "label": ("sample", run.labels),
            **(coords or {})}
    return xr.DataArray(values, dims=("snapshot", "sample"), coords=full, name=name, attrs=attrs or {})


def _as_scores(value: Any, caller: str, name: str, *, min_ndim: int) -> np.ndarray:
    """An array of probabilities/logits as float64 with at least ``min_ndim`` dims."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error(name, caller, "a Run or a numeric array", type(value).__name__) from None
    if arr.ndim < min_ndim:
        raise param_error(
            name, caller, f"a Run or an array with at least {min_ndim} dimensions "
            "(..., n_samples, n_classes)", f"an array of shape {arr.shape}"
        )
    if arr.shape[-1] < 2:
        raise param_error(name, caller, "an array with at least 2 classes in its last axis",
                          f"an array of shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise InvalidInputError(
            f"{caller}: the {name!r} array holds {int(arr.size - finite.sum())} NaN or infinite value(s) "
            f"(the first at index {tuple(int(i) for i in bad)}), which would turn into NaN confidences "
            "without a word. Drop or repair those rows first (e.g. data[np.isfinite(data).all(axis=-1)]); "
            "for masked classes use a large negative logit (-1e9) instead of -inf."
        )
    return arr


def _check_labels(labels: Any, n_samples: int, n_classes: int, caller: str, *,
                  unlabelled: bool = False) -> np.ndarray:
    """Labels as int64 class indices; with ``unlabelled=True`` also -1 (a sample without a label)."""
    if labels is None:
        raise param_error("labels", caller, "the true class of every sample when the data are "
                          "arrays", None, "Pass labels=<int array of shape (n_samples,)>.")
    arr = np.asarray(labels)
    if arr.shape != (n_samples,) or not np.issubdtype(arr.dtype, np.integer):
        raise param_error("labels", caller, f"an int array of shape ({n_samples},)",
                          f"an array of dtype {arr.dtype} and shape {arr.shape}")
    low = -1 if unlabelled else 0
    if arr.size and (arr.min() < low or arr.max() >= n_classes):
        what = f"class indices in [0, {n_classes - 1}]" + (" or -1 (unlabelled)" if unlabelled else "")
        raise param_error("labels", caller, what, f"values in [{arr.min()}, {arr.max()}]")
    if unlabelled and arr.size and arr.max() < 0:
        raise InvalidInputError(f"{caller}: every sample is unlabelled (-1), so no temperature can be fitted. "
                                "Pass the true classes (labels=) or use another measure.")
    return arr.astype(np.int64)


def available_measures(run: Any) -> list[str]:
    """The confidence measures :func:`confidence` can compute for a run, in :data:`MEASURES` order.

    ``energy`` needs recorded logits; ``mc_dropout`` needs MC-dropout passes
    (``ActivationRecorder(mc_samples=K)``); ``temperature`` works with or without
    logits (log-probabilities stand in for them) but needs at least 4 probe samples
    (two cross-fitting folds of two). The probability measures are always there.

    Parameters
    ----------
    run : Run

    Returns
    -------
    list of str
    """
    run = check_run(run, "available_measures()")
    out = []
    for measure in MEASURES:
        if measure == "energy" and not run.has_logits:
            continue
        if measure == "temperature" and run.n_samples < 2 * _DEFAULT_FOLDS:
            continue
        if measure == "mc_dropout" and not run.mc_samples:
            continue
        out.append(measure)
    return out


def check_measure(measure: Any, caller: str, *, allow_dataarray: bool = True) -> Any:
    """Return ``measure`` if it is a name in :data:`MEASURES` (or a DataArray, when allowed).

    The one check of a ``measure=`` argument (internal API for naps and analysis). A
    DataArray is checked against the run later, by :func:`resolve_confidence`.
    """
    if isinstance(measure, str) and measure in MEASURES:
        return measure
    if not allow_dataarray:
        return check_option("measure", measure, MEASURES, caller)
    import xarray as xr

    if isinstance(measure, xr.DataArray):
        return measure
    raise param_error("measure", caller, "one of " + ", ".join(repr(m) for m in MEASURES)
                      + " or a confidence DataArray from actconf.confidence.confidence()", measure)


def resolve_confidence(run: Run, measure: Any, idx: np.ndarray, caller: str):
    """(measure name, confidence DataArray at the snapshot positions ``idx``).

    ``measure`` is a name (computed with :func:`confidence`) or a confidence DataArray
    (snapshot, sample) computed beforehand, which must cover the snapshots ``idx``.
    """
    measure = check_measure(measure, caller)
    if isinstance(measure, str):
        return measure, confidence(run, measure=measure, snapshots=idx)
    if set(measure.dims) != {"snapshot", "sample"} or measure.sizes["sample"] != run.n_samples:
        raise param_error("measure", caller, f"a measure name or a confidence DataArray (snapshot, "
                          f"sample) with {run.n_samples} samples", f"a DataArray with sizes "
                          f"{dict(measure.sizes)}")
    missing = np.setdiff1d(idx, np.asarray(measure["snapshot"].values))
    if missing.size:
        raise InvalidParameterError(
            f"The confidence DataArray passed as 'measure' to {caller} lacks snapshot(s) "
            f"{missing[:10].tolist()}; compute it for the same snapshots (snapshots=...)."
        )
    return str(measure.attrs.get("measure", measure.name or "custom")), measure.sel(snapshot=idx)


def _stratified_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of every sample: each class's samples are shuffled and dealt round-robin."""
    folds = np.empty(labels.shape[0], dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(members.size)]
        folds[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size  # continue dealing where the last class stopped: balanced folds
    return folds


# --------------------------------------------------------------------------- temperature
def _fit_beta(z: np.ndarray, labels: np.ndarray, weights: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Inverse temperature minimising the weighted NLL, for every leading index at once.

    ``z``: (B, n, K) logits (or log-probabilities); ``weights``: (B, n) sample weights
    (0 = not used). The NLL is convex in beta = 1/T, with derivative
    ``g = sum_i w_i (E_p[z_i] - z_{i, y_i})`` and second derivative
    ``h = sum_i w_i Var_p[z_i]`` (p = softmax(beta z_i)). Safeguarded Newton: a bracket
    [1/T_MAX, 1/T_MIN] shrinks with the sign of ``g``; a Newton step leaving it is
    replaced by bisection (in log beta). The result is clipped to the bracket, so an
    optimum beyond it (e.g. labels unrelated to the logits) gives the nearest bound.
    """
    zy = np.take_along_axis(z, np.broadcast_to(labels[None, :, None], (z.shape[0], z.shape[1], 1)), axis=-1)[..., 0]
    wsum = np.maximum(weights.sum(axis=1), _TINY)

    def derivatives(sel: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zs, ws = z[sel], weights[sel]
        p = softmax(b[:, None, None] * zs)
        mean = (p * zs).sum(axis=-1)
        var = np.maximum((p * zs * zs).sum(axis=-1) - mean * mean, 0.0)
        return ((mean - zy[sel]) * ws).sum(axis=1) / wsum[sel], (var * ws).sum(axis=1) / wsum[sel]

    lo = np.full(z.shape[0], 1 / _T_MAX)
    hi = np.full(z.shape[0], 1 / _T_MIN)
    everything = np.ones(z.shape[0], dtype=bool)
    g_lo = derivatives(everything, lo)[0]
    g_hi = derivatives(everything, hi)[0]
    beta = np.where(g_lo >= 0, lo, np.where(g_hi <= 0, hi, 1.0))  # optimum at or beyond a bound
    active = (g_lo < 0) & (g_hi > 0)
    for _ in range(iterations):
        if not active.any():
            break
        b = beta[active]
        g, h = derivatives(active, b)
        lo_a = np.where(g < 0, b, lo[active])  # NLL still decreasing: the optimum has a larger beta
        hi_a = np.where(g < 0, hi[active], b)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = b - g / h
        inside = np.isfinite(newton) & (newton > lo_a) & (newton < hi_a)
        new = np.where(inside, newton, np.sqrt(lo_a * hi_a))
        lo[active], hi[active] = lo_a, hi_a
        done = (np.abs(new - b) <= 1e-10 * b) | (hi_a / lo_a < 1 + 1e-12)
        beta[active] = new
        active[np.flatnonzero(active)[done]] = False
    return np.clip(beta, 1 / _T_MAX, 1 / _T_MIN)


def _temperature_scores(arr: np.ndarray, from_logits: bool) -> np.ndarray:
    """Logits, or log-probabilities standing in for them (equal up to a per-sample constant)."""
    if from_logits:
        return arr
    return np.log(np.clip(arr, _TINY, None))


def fit_temperature(
    data: Any,
    *,
    labels: Any = None,
    snapshots: Any = None,
    from_logits: bool = False,
) -> np.ndarray:
    """Fit the temperature that minimises the NLL of the given samples, per snapshot.

    This fits on *all* samples given; use it on held-out data. ``confidence(...,
    measure="temperature")`` does the held-out fitting for you (cross-fitting).

    Parameters
    ----------
    data : Run or array of shape (..., n_samples, n_classes)
        A run (its logits if recorded, otherwise its log-probabilities), or an array
        of probabilities (logits with ``from_logits=True``).
    labels : int array of shape (n_samples,), optional
        True classes; taken from the run when ``data`` is a Run.
    snapshots : selector, optional
        Snapshots of a run (see :meth:`Run.snapshot_index`); ignored for arrays.
    from_logits : bool, default=False
        Whether an array ``data`` holds logits.

    Returns
    -------
    numpy.ndarray of shape (...) — one temperature per snapshot (per leading index);
    values lie in [0.01, 100].
    """
    caller = "fit_temperature()"
    if isinstance(data, Run):
        z, labels, _ = _run_scores(data, snapshots, caller)
        lead = z.shape[:-2]
    else:
        arr = _as_scores(data, caller, "data", min_ndim=2)
        labels = _check_labels(labels, arr.shape[-2], arr.shape[-1], caller)
        lead = arr.shape[:-2]
        z = _temperature_scores(arr, bool(from_logits))
    z3 = z.reshape(-1, *z.shape[-2:])
    finite = np.all(np.isfinite(z3), axis=(1, 2))
    beta = np.full(z3.shape[0], np.nan)
    if finite.any():
        beta[finite] = _fit_beta(z3[finite], labels, np.ones((int(finite.sum()), z3.shape[1])))
    return (1.0 / beta).reshape(lead)


def _run_scores(run: Run, snapshots: Any, caller: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(temperature scores, labels, snapshot positions) of a run."""
    idx = run.snapshot_index(snapshots)
    if run.has_logits:
        z = run.read("outputs/logits", idx).astype(np.float64)
    else:
        z = _temperature_scores(run.read("outputs/probabilities", idx).astype(np.float64), False)
    return z, run.labels, idx


def _cross_fitted(z: np.ndarray, labels: np.ndarray, n_folds: int, seed: Any, caller: str):
    """Temperature-scaled probabilities and per-sample temperatures with cross-fitting."""
    rng = check_random_state(seed, caller)
    n = z.shape[-2]
    if n < 2 * n_folds:
        raise InvalidInputError(
            f"{caller}: temperature scaling with n_folds={n_folds} needs at least {2 * n_folds} "
            f"samples (every fold is fitted on the others); got {n}."
        )
    folds = _stratified_folds(labels, n_folds, rng)
    lead = z.shape[:-2]
    z3 = z.reshape(-1, *z.shape[-2:])
    temps = np.full(z3.shape[:2], np.nan)
    finite = np.all(np.isfinite(z3), axis=(1, 2))
    zf = z3[finite]
    if zf.shape[0]:
        t_fin = np.empty(zf.shape[:2])
        for f in range(n_folds):
            # unlabelled samples (-1) get a temperature but never fit one
            train = ((folds != f) & (labels >= 0)).astype(np.float64)
            beta = _fit_beta(zf, labels, np.broadcast_to(train, zf.shape[:2]))
            t_fin[:, folds == f] = (1.0 / beta)[:, None]
        temps[finite] = t_fin
    probs = softmax(z3 / temps[..., None])
    return probs.reshape(z.shape), temps.reshape(*lead, n)


# --------------------------------------------------------------------------- measures
def _from_probabilities(measure: str, p: np.ndarray) -> np.ndarray:
    k = p.shape[-1]
    if measure == "max_softmax":
        return p.max(axis=-1)
    if measure == "margin":
        top2 = np.partition(p, k - 2, axis=-1)[..., k - 2:]
        return top2[..., 1] - top2[..., 0]
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        return 1.0 + plogp.sum(axis=-1) / np.log(k)
    raise AssertionError(measure)  # pragma: no cover


def _energy(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _mc_stats(mc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mc: (..., K_mc, n, C) -> (confidence, variance, prediction, mean probabilities)."""
    mean = mc.mean(axis=-3)
    pred = mean.argmax(axis=-1)
    picked = np.take_along_axis(mc, np.expand_dims(pred, (-3, -1)).repeat(mc.shape[-3], axis=-3), axis=-1)[..., 0]
    conf = picked.mean(axis=-2)
    var = picked.var(axis=-2)
    return conf, var, pred, mean


def _check_n_folds(n_folds: Any, caller: str) -> int:
    return check_int("n_folds", n_folds, caller, min_value=2)


def _array_measure(
    measure: str, arr: np.ndarray, *, from_logits: bool, labels: Any, n_folds: int, seed: Any, caller: str
) -> dict[str, np.ndarray]:
    """Compute a measure from an array; returns confidence, prediction and extras."""
    if measure == "mc_dropout":
        if arr.ndim < 3:
            raise param_error("data", caller, "an array of shape (..., mc, n_samples, n_classes) "
                              "for measure='mc_dropout'", f"an array of shape {arr.shape}")
        probs = softmax(arr) if from_logits else arr
        conf, var, pred, _ = _mc_stats(probs)
        return {"confidence": conf, "prediction": pred, "variance": var}
    if measure == "energy":
        if not from_logits:
            raise MissingDataError(
                f"{caller}: the 'energy' measure needs logits, but the array was given as "
                "probabilities. Pass logits with from_logits=True, or use a probability-based "
                "measure (max_softmax, margin, entropy)."
            )
        return {"confidence": _energy(arr), "prediction": arr.argmax(axis=-1)}
    if measure == "temperature":  # unlabelled samples (-1) are scaled but do not fit the temperature
        labels = _check_labels(labels, arr.shape[-2], arr.shape[-1], caller, unlabelled=True)
        z = _temperature_scores(arr, from_logits)
        probs, temps = _cross_fitted(z, labels, n_folds, seed, caller)
        return {"confidence": probs.max(axis=-1), "prediction": arr.argmax(axis=-1),
                "temperature": temps, "probabilities": probs}
    probs = softmax(arr) if from_logits else arr
    return {"confidence": _from_probabilities(measure, probs), "prediction": probs.argmax(axis=-1)}


def _run_measure(run: Run, measure: str, idx: np.ndarray, *, n_folds: int, seed: Any, caller: str):
    """Compute a measure for the snapshots ``idx`` of a run."""
    if measure == "energy":
        run.logits()  # raises MissingDataError with the explanation when there are none
        z = run.read("outputs/logits", idx).astype(np.float64)
        return _array_measure(measure, z, from_logits=True, labels=None, n_folds=n_folds, seed=seed, caller=caller)
    if measure == "mc_dropout":
        run.mc_probabilities()  # raises MissingDataError when no MC passes were recorded
        mc = run.read("outputs/mc_probabilities", idx).astype(np.float64)
        return _array_measure(measure, mc, from_logits=False, labels=None, n_folds=n_folds, seed=seed, caller=caller)
    if measure == "temperature":
        if run.has_logits:
            arr, from_logits = run.read("outputs/logits", idx).astype(np.float64), True
        else:
            arr, from_logits = run.read("outputs/probabilities", idx).astype(np.float64), False
        return _array_measure(measure, arr, from_logits=from_logits, labels=run.labels,
                              n_folds=n_folds, seed=seed, caller=caller)
    probs = run.read("outputs/probabilities", idx).astype(np.float64)
    return _array_measure(measure, probs, from_logits=False, labels=None, n_folds=n_folds, seed=seed, caller=caller)


def confidence(
    data: Any,
    *,
    measure: str = "max_softmax",
    snapshots: Any = None,
    labels: Any = None,
    from_logits: bool = False,
    n_folds: int = _DEFAULT_FOLDS,
    seed: int | np.random.Generator = 0,
):
    """Confidence of every probe sample at every snapshot.

    Parameters
    ----------
    data : Run or array of shape (..., n_samples, n_classes)
        A recorded run, or class probabilities (logits with ``from_logits=True``).
        For ``measure="mc_dropout"`` an array must have shape
        ``(..., mc, n_samples, n_classes)``.
    measure : {"max_softmax", "margin", "entropy", "energy", "temperature", "mc_dropout"}, default="max_softmax"
        See the module documentation; higher values always mean more confident.
        ``entropy`` is normalised to [0, 1] (1 = certain, 0 = uniform); ``energy`` is
        unbounded.
    snapshots : selector, optional
        Which snapshots of a run (see :meth:`Run.snapshot_index`); all by default.
        Ignored for arrays.
    labels : int array of shape (n_samples,), optional
        True classes; needed for ``temperature`` on arrays (a run has its own).
    from_logits : bool, default=False
        Whether an array ``data`` holds logits rather than probabilities.
    n_folds : int, default=2
        Cross-fitting folds for ``temperature`` (stratified by class).
    seed : int or numpy.random.Generator, default=0
        Seeds the fold assignment of ``temperature``.

    Returns
    -------
    xarray.DataArray or numpy.ndarray
        For a run: DataArray (snapshot, sample) named after the measure, with snapshot
        coordinates (``epoch``, ``step``, ``progress``), the true ``label`` per sample and
        ``prediction`` (snapshot, sample) — the argmax class (of the MC-averaged
        distribution for ``mc_dropout``). ``temperature`` adds a ``temperature``
        coordinate (snapshot, sample): the temperature used for each sample.
        For arrays: numpy array of shape ``data.shape[:-1]`` (without the MC axis for
        ``mc_dropout``).

    Raises
    ------
    InvalidParameterError
        Unknown measure, bad snapshot selector or bad array.
    MissingDataError
        ``energy`` on a run without logits; ``mc_dropout`` on a run without MC passes.
    """
    caller = "confidence()"
    measure = check_measure(measure, caller, allow_dataarray=False)
    n_folds = _check_n_folds(n_folds, caller)
    if not isinstance(data, Run):
        arr = _as_scores(data, caller, "data", min_ndim=2)
        return _array_measure(measure, arr, from_logits=bool(from_logits), labels=labels,
                              n_folds=n_folds, seed=seed, caller=caller)["confidence"]
    idx = data.snapshot_index(snapshots)
    out = _run_measure(data, measure, idx, n_folds=n_folds, seed=seed, caller=caller)
    coords = {"prediction": (("snapshot", "sample"), out["prediction"])}
    if "temperature" in out:
        coords["temperature"] = (("snapshot", "sample"), out["temperature"])
    attrs = {"measure": measure}
    if measure == "temperature":
        attrs.update(n_folds=n_folds, seed=seed if isinstance(seed, int) else "generator")
    return _per_sample(data, idx, out["confidence"], measure, coords=coords, attrs=attrs)


def predictions(data: Any, *, snapshots: Any = None):
    """Predicted class (argmax probability) of every sample at every snapshot.

    Parameters
    ----------
    data : Run or array of shape (..., n_samples, n_classes)
    snapshots : selector, optional
        Snapshots of a run; ignored for arrays.

    Returns
    -------
    xarray.DataArray (snapshot, sample) of int for a run; numpy int array for arrays.
    """
    if isinstance(data, Run):
        idx = data.snapshot_index(snapshots)
        pred = data.read("outputs/probabilities", idx).argmax(axis=-1)
        return _per_sample(data, idx, pred, "prediction")
    return _as_scores(data, "predictions()", "data", min_ndim=2).argmax(axis=-1)


def mc_dropout(data: Any, *, snapshots: Any = None, from_logits: bool = False):
    """MC-dropout confidence and predictive variance.

    Parameters
    ----------
    data : Run or array of shape (..., mc, n_samples, n_classes)
        A run recorded with ``ActivationRecorder(mc_samples=K)``, or the K passes'
        probabilities (logits with ``from_logits=True``).
    snapshots : selector, optional
        Snapshots of a run; ignored for arrays.
    from_logits : bool, default=False

    Returns
    -------
    xarray.Dataset
        ``confidence`` (mean over passes of the probability of the predicted class),
        ``variance`` (variance over passes of that probability) and ``prediction``
        (argmax of the pass-averaged distribution), each (snapshot, sample); attribute
        ``mc_samples``. For a run with the run's snapshot and sample coordinates; for
        an array of shape (mc, n_samples, n_classes) the variables are (sample), and
        axes before ``snapshot`` are called ``dim_0``, ``dim_1``, ...

    Raises
    ------
    MissingDataError
        The run has no MC-dropout passes.
    """
    import xarray as xr

    caller = "mc_dropout()"
    names = ("confidence", "variance", "prediction")
    if isinstance(data, Run):
        idx = data.snapshot_index(snapshots)
        out = _run_measure(data, "mc_dropout", idx, n_folds=_DEFAULT_FOLDS, seed=0, caller=caller)
        return xr.Dataset({k: _per_sample(data, idx, out[k], k) for k in names}, attrs={"mc_samples": data.mc_samples})
    arr = _as_scores(data, caller, "data", min_ndim=3)
    out = _array_measure("mc_dropout", arr, from_logits=bool(from_logits), labels=None,
                         n_folds=_DEFAULT_FOLDS, seed=0, caller=caller)
    ndim = out["confidence"].ndim
    dims = tuple(f"dim_{i}" for i in range(ndim - 2)) + ("snapshot", "sample")[-min(ndim, 2):]
    return xr.Dataset({k: (dims, out[k]) for k in names}, attrs={"mc_samples": int(arr.shape[-3])})


# --------------------------------------------------------------------------- calibration
def _calibration_inputs(data, *, measure, labels, snapshots, from_logits, n_folds, seed, caller):
    """(probability vectors used, labels, snapshot frame or None) for calibration."""
    if measure not in PROBABILITY_MEASURES:
        raise param_error("measure", caller, "a probability-valued measure: "
                          + ", ".join(repr(m) for m in PROBABILITY_MEASURES), measure,
                          "Calibration compares a probability of being right with the accuracy.")
    if isinstance(data, Run):
        idx = data.snapshot_index(snapshots)
        labels = data.labels
        frame = data.snapshot_frame(idx)
        if measure == "mc_dropout":
            data.mc_probabilities()
            probs = _mc_stats(data.read("outputs/mc_probabilities", idx).astype(np.float64))[3]
        elif measure == "temperature":
            out = _run_measure(data, "temperature", idx, n_folds=n_folds, seed=seed, caller=caller)
            probs = out["probabilities"]
        elif data.has_logits:
            probs = softmax(data.read("outputs/logits", idx).astype(np.float64))
        else:
            probs = data.read("outputs/probabilities", idx).astype(np.float64)
        labelled = labels >= 0  # -1 = unlabelled: left out of accuracy and calibration
        if not labelled.any():
            raise InvalidInputError(f"{caller}: every probe sample of run {str(data.path)!r} is unlabelled (-1), so "
                                    "accuracy and calibration cannot be measured. Record with y_probe=.")
        return probs[..., labelled, :], labels[labelled], frame
    arr = _as_scores(data, caller, "data", min_ndim=2)
    if measure == "mc_dropout":
        if arr.ndim < 3:
            raise param_error("data", caller, "an array of shape (..., mc, n_samples, n_classes) "
                              "for measure='mc_dropout'", f"an array of shape {arr.shape}")
        probs = _mc_stats(softmax(arr) if from_logits else arr)[3]
    elif measure == "temperature":
        labels_ = _check_labels(labels, arr.shape[-2], arr.shape[-1], caller)
        probs = _cross_fitted(_temperature_scores(arr, bool(from_logits)), labels_, n_folds, seed, caller)[0]
    else:
        probs = softmax(arr) if from_logits else arr
    labels = _check_labels(labels, probs.shape[-2], probs.shape[-1], caller)
    return probs, labels, None


def _bin_index(conf: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin of every confidence in (S, n): equal-width on [0, 1] or equal-mass per row.

    Equal width: bin b holds [b/B, (b+1)/B); 0 lands in the first bin and 1 (or
    float noise above it) in the last. Equal mass: samples sorted by confidence (stable)
    are split as ``numpy.array_split`` does (the first ``n % B`` bins get one more).
    """
    if strategy == "width":
        return np.clip(np.floor(np.nan_to_num(conf, nan=0.0) * n_bins), 0, n_bins - 1).astype(np.int64)
    n = conf.shape[-1]
    order = np.argsort(np.nan_to_num(conf, nan=0.0), axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(conf.shape[0], axis=0), axis=-1)
    q, rem = divmod(n, n_bins)
    big = rem * (q + 1)
    small = rem + (ranks - big) // q if q else np.zeros_like(ranks)
    return np.where(ranks < big, ranks // (q + 1), small)


def _binned_sums(conf, correct, n_bins, strategy):
    """Per (snapshot, bin): count, sum of confidence, sum of correctness, min, max."""
    s, n = conf.shape
    bins = _bin_index(conf, n_bins, strategy)
    flat = (bins + n_bins * np.arange(s)[:, None]).ravel()
    size = s * n_bins
    count = np.bincount(flat, minlength=size).reshape(s, n_bins)
    sconf = np.bincount(flat, weights=conf.ravel(), minlength=size).reshape(s, n_bins)
    scorr = np.bincount(flat, weights=correct.ravel().astype(float), minlength=size).reshape(s, n_bins)
    lo = np.full(size, np.inf)
    hi = np.full(size, -np.inf)
    np.minimum.at(lo, flat, conf.ravel())
    np.maximum.at(hi, flat, conf.ravel())
    return count, sconf, scorr, lo.reshape(s, n_bins), hi.reshape(s, n_bins)


def _ece(conf, correct, n_bins, strategy):
    count, sconf, scorr, _, _ = _binned_sums(conf, correct, n_bins, strategy)
    return np.abs(scorr - sconf).sum(axis=1) / conf.shape[1]


def _check_n_bins(n_bins: Any, caller: str) -> int:
    return check_int("n_bins", n_bins, caller, min_value=1, max_value=MAX_CALIBRATION_BINS,
                     hint=f"{MAX_CALIBRATION_BINS} bins is actconf's limit; 10-20 is usual (15 by default).")


def _calibration_metrics(p3: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """Per-snapshot calibration columns of probabilities p3 (S, n, K); see :func:`calibration`."""
    s, n, k = p3.shape
    conf = p3.max(axis=-1)
    correct = p3.argmax(axis=-1) == labels[None, :]
    py = np.take_along_axis(p3, labels[None, :, None].repeat(s, axis=0), axis=-1)[..., 0]
    onehot = np.eye(k)[labels]
    with np.errstate(invalid="ignore"):
        result = {
            "n_samples": np.full(s, n),
            "accuracy": correct.mean(axis=1),
            "mean_confidence": conf.mean(axis=1),
            "nll": -np.log(np.clip(py, _TINY, None)).mean(axis=1),
            "brier": ((p3 - onehot[None]) ** 2).sum(axis=-1).mean(axis=1),
            "ece_width": _ece(conf, correct, n_bins, "width"),
            "ece_mass": _ece(conf, correct, n_bins, "mass"),
        }
    result["overconfidence"] = result["mean_confidence"] - result["accuracy"]
    return result


def calibration(
    data: Any,
    *,
    measure: str = "max_softmax",
    n_bins: int = 15,
    snapshots: Any = None,
    labels: Any = None,
    from_logits: bool = False,
    n_folds: int = _DEFAULT_FOLDS,
    seed: int | np.random.Generator = 0,
):
    """Calibration of the predicted probabilities, one row per snapshot.

    Parameters
    ----------
    data : Run or array of shape (n_samples, n_classes) or (n_snapshots, n_samples, n_classes)
        A run, or probabilities (logits with ``from_logits=True``); for
        ``measure="mc_dropout"`` arrays carry an MC axis before the samples.
    measure : {"max_softmax", "temperature", "mc_dropout"}, default="max_softmax"
        Which probabilities to assess: as predicted, after cross-fitted temperature
        scaling (every sample scored with a temperature fitted on other samples), or
        MC-dropout averaged.
    n_bins : int, default=15
        Bins for the expected calibration error (1 to 10,000).
    snapshots : selector, optional
        Snapshots of a run; ignored for arrays.
    labels : int array of shape (n_samples,), optional
        True classes (needed for arrays).
    from_logits : bool, default=False
    n_folds : int, default=2
    seed : int or numpy.random.Generator, default=0
        For ``temperature``: see :func:`confidence`.

    Returns
    -------
    pandas.DataFrame
        One row per snapshot (for a run: with ``snapshot``, ``kind``, ``epoch``,
        ``batch``, ``step``, ``progress``, ``label``) and columns ``n_samples``,
        ``accuracy``, ``mean_confidence``, ``nll`` (mean negative log-likelihood of the
        true class, natural log), ``brier`` (mean over samples of the squared distance
        between probability vector and one-hot label; in [0, 2]), ``ece_width`` and
        ``ece_mass`` (expected calibration error with equal-width bins on [0, 1] and with
        equal-mass bins), ``overconfidence`` (mean confidence − accuracy).
        Snapshots with non-finite outputs give NaN.
    """
    import pandas as pd

    caller = "calibration()"
    measure = check_measure(measure, caller, allow_dataarray=False)
    n_bins = _check_n_bins(n_bins, caller)
    n_folds = _check_n_folds(n_folds, caller)
    probs, labels, frame = _calibration_inputs(data, measure=measure, labels=labels, snapshots=snapshots,
                                               from_logits=from_logits, n_folds=n_folds, seed=seed, caller=caller)
    p3 = probs.reshape(-1, *probs.shape[-2:])
    table = pd.DataFrame(_calibration_metrics(p3, labels, n_bins))
    finite = np.all(np.isfinite(p3), axis=(1, 2))
    for col in table.columns[1:]:
        table.loc[~finite, col] = np.nan
    if frame is not None:
        table = pd.concat([frame, table], axis=1)
    table.attrs.update(measure=measure, n_bins=n_bins)
    return table


def _reliability_columns(p3: np.ndarray, labels: np.ndarray, n_bins: int, strategy: str) -> dict[str, np.ndarray]:
    """Per snapshot × bin reliability columns (flattened, snapshot-major); see :func:`reliability`."""
    s, n, _ = p3.shape
    conf = p3.max(axis=-1)
    correct = p3.argmax(axis=-1) == labels[None, :]
    count, sconf, scorr, lo, hi = _binned_sums(conf, correct, n_bins, strategy)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = sconf / count
        acc = scorr / count
    if strategy == "width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lo = np.broadcast_to(edges[:-1], (s, n_bins))
        hi = np.broadcast_to(edges[1:], (s, n_bins))
    else:
        lo = np.where(count > 0, lo, np.nan)
        hi = np.where(count > 0, hi, np.nan)
    return {
        "row": np.repeat(np.arange(s), n_bins),
        "bin": np.tile(np.arange(n_bins), s),
        "lower": lo.ravel(),
        "upper": hi.ravel(),
        "count": count.ravel(),
        "mean_confidence": mean_conf.ravel(),
        "accuracy": acc.ravel(),
        "gap": (acc - mean_conf).ravel(),
        "weight": (count / n).ravel(),
    }


def reliability(
    data: Any,
    *,
    measure: str = "max_softmax",
    n_bins: int = 15,
    strategy: str = "width",
    snapshots: Any = None,
    labels: Any = None,
    from_logits: bool = False,
    n_folds: int = _DEFAULT_FOLDS,
    seed: int | np.random.Generator = 0,
):
    """Reliability-diagram data: accuracy against confidence per bin, per snapshot.

    Parameters
    ----------
    data, measure, n_bins, snapshots, labels, from_logits, n_folds, seed
        As in :func:`calibration`.
    strategy : {"width", "mass"}, default="width"
        Equal-width bins on [0, 1] (confidence exactly 1 lands in the last bin, 0 in
        the first) or equal-mass bins (the samples sorted by confidence split into
        ``n_bins`` nearly equal parts).

    Returns
    -------
    pandas.DataFrame
        One row per snapshot × bin (empty bins included, with NaN means): snapshot
        metadata (for a run), ``bin``, ``lower``/``upper`` (bin edges for ``width``;
        smallest/largest confidence in the bin for ``mass``), ``count``,
        ``mean_confidence``, ``accuracy``, ``gap`` (accuracy − mean confidence; negative
        = overconfident) and ``weight`` (fraction of samples in the bin). The ECE is
        ``(weight * |gap|).sum()`` per snapshot.
    """
    import pandas as pd

    caller = "reliability()"
    measure = check_measure(measure, caller, allow_dataarray=False)
    n_bins = _check_n_bins(n_bins, caller)
    strategy = check_option("strategy", strategy, ("width", "mass"), caller)
    n_folds = _check_n_folds(n_folds, caller)
    probs, labels, frame = _calibration_inputs(data, measure=measure, labels=labels, snapshots=snapshots,
                                               from_logits=from_logits, n_folds=n_folds, seed=seed, caller=caller)
    p3 = probs.reshape(-1, *probs.shape[-2:])
    table = pd.DataFrame(_reliability_columns(p3, labels, n_bins, strategy))
    finite = np.all(np.isfinite(p3), axis=(1, 2))
    table.loc[~finite[table["row"].to_numpy()], ["mean_confidence", "accuracy", "gap"]] = np.nan
    if frame is not None:
        meta = frame.iloc[table["row"].to_numpy()].reset_index(drop=True)
        table = pd.concat([meta, table.drop(columns="row")], axis=1)
    else:
        table = table.rename(columns={"row": "snapshot"})
    table.attrs.update(measure=measure, n_bins=n_bins, strategy=strategy)
    return table
