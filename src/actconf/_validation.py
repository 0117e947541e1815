"""Parameter checks shared by the public functions.

One message template everywhere::

    The 'bins' parameter of naps() must be an increasing sequence in [0, 1]. Got [0.5, 0.2] instead.

followed, where useful, by a sentence that says how to fix it.

Size limits
-----------
Parameters that size an allocation are bounded, so that a typo (``resolution=100000``)
ends in a clear error instead of a ``MemoryError`` minutes later. The limits lie far
above any real use; each public function's docstring repeats the limit of its
parameters:

``MAX_RESOLUTION`` (2048)
    Pixels per axis of a topographic map (:class:`~actconf.render.TopoRenderer`).
``MAX_OPERATOR_ELEMENTS`` (5e7)
    Pixels x neurons of a dense (``method="cubic"``) map operator: 400 MB of float64.
``MAX_CALIBRATION_BINS`` (10,000)
    ``n_bins`` of :func:`~actconf.confidence.calibration` and ``reliability``.
``MAX_CONFIDENCE_BINS`` (1,000)
    Confidence bins of a grouping (``bins=N``, ``"quantile:N"``, or edges).
``MAX_RESAMPLES`` (100,000 bootstrap resamples; 1,000,000 sign-flip patterns)
    ``n_boot`` of the analysis functions; ``n_resamples`` of ``sign_flip_pvalue``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InvalidParameterError

MAX_RESOLUTION = 2048
MAX_OPERATOR_ELEMENTS = 50_000_000
MAX_CALIBRATION_BINS = 10_000
MAX_CONFIDENCE_BINS = 1_000
MAX_RESAMPLES = 100_000
MAX_SIGN_FLIPS = 1_000_000


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def param_error(name: str, caller: str, expected: str, value: Any, hint: str = "") -> InvalidParameterError:
    """Build the standard error for a bad parameter (returned, to be raised by the caller)."""
    msg = f"The {name!r} parameter of {caller} must be {expected}. Got {_fmt(value)} instead."
    if hint:
        msg += " " + hint
    return InvalidParameterError(msg)


def check_option(name: str, value: Any, options: Iterable[str], caller: str) -> str:
    """Check that ``value`` is one of the string ``options``; return it."""
    options = list(options)
    if not isinstance(value, str) or value not in options:
        choices = ", ".join(repr(o) for o in options)
        raise param_error(name, caller, f"one of {choices}", value)
    return value


def check_int(
    name: str,
    value: Any,
    caller: str,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    allow_none: bool = False,
    hint: str = "",
) -> int | None:
    """Check that ``value`` is an integer (not a bool) within bounds; return it as ``int``.

    ``hint`` is appended to the message (say how to fix it, e.g. why there is a maximum).
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and min_value is not None and value < min_value:
        ok = False
    if ok and max_value is not None and value > max_value:
        ok = False
    if not ok:
        parts = ["an int"]
        if min_value is not None and max_value is not None:
            parts.append(f"in [{min_value}, {max_value}]")
        elif min_value is not None:
            parts.append(f">= {min_value}")
        elif max_value is not None:
            parts.append(f"<= {max_value}")
        if allow_none:
            parts.append("or None")
        if hint == "" and max_value is not None and isinstance(value, numbers.Integral) and value > max_value:
            hint = f"{max_value} is actconf's limit for {name!r} (far above any real use); pass a smaller value."
        raise param_error(name, caller, " ".join(parts), value, hint)
    return int(value)


def check_float(
    name: str,
    value: Any,
    caller: str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_none: bool = False,
) -> float | None:
    """Check that ``value`` is a finite real number within bounds; return it as ``float``."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and min_value is not None:
        ok = value >= min_value if min_inclusive else value > min_value
    if ok and max_value is not None:
        ok = ok and (value <= max_value if max_inclusive else value < max_value)
    if not ok:
        lo = "[" if min_inclusive else "("
        hi = "]" if max_inclusive else ")"
        rng = ""
        if min_value is not None or max_value is not None:
            rng = f" in {lo}{'-inf' if min_value is None else min_value}, {'inf' if max_value is None else max_value}{hi}"
        raise param_error(name, caller, f"a finite number{rng}" + (" or None" if allow_none else ""), value)
    return float(value)


def check_random_state(seed: Any, caller: str = "this function", name: str = "seed") -> np.random.Generator:
    """Turn an int or a ``numpy.random.Generator`` into a Generator.

    ``None`` is not accepted: actconf functions default to a fixed seed so that
    results are reproducible unless the user asks otherwise.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise param_error(name, caller, "a non-negative int or a numpy.random.Generator", seed)


def check_finite_array(name: str, value: Any, caller: str, *, ndim: int | None = None) -> np.ndarray:
    """Convert to a float array and reject NaN/inf and wrong dimensionality."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise param_error(name, caller, "a numeric array", type(value).__name__) from None
    if ndim is not None and arr.ndim != ndim:
        raise param_error(name, caller, f"a {ndim}-D array", f"an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise param_error(
            name, caller, "finite (no NaN or inf)", f"{bad} non-finite value(s) in an array of shape {arr.shape}"
        )
    return arr


def check_run(run: Any, caller: str, *, allow_path: bool = False) -> Any:
    """Return ``run`` if it is an actconf :class:`~actconf.store.Run`.

    With ``allow_path=True`` a run directory (str or path-like) is accepted too and
    opened with :func:`actconf.open_run`. Anything else raises the standard
    parameter error, naming how to get a Run.
    """
    from .store import Run, open_run

    if isinstance(run, Run):
        return run
    if allow_path and isinstance(run, str | os.PathLike):
        return open_run(run)
    expected = "an actconf Run (from actconf.open_run)" + (" or a run directory" if allow_path else "")
    raise param_error("run", caller, expected, type(run).__name__,
                      "Open the run first: run = actconf.open_run(path).")


def check_bool(name: str, value: Any, caller: str) -> bool:
    """Check that ``value`` is True or False (numpy booleans too); return a ``bool``."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise param_error(name, caller, "True or False", value)
