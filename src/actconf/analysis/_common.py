"""Checks and reading shared by the analysis modules."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import param_error
from ..confidence import resolve_confidence
from ..errors import ActconfWarning, InvalidInputError
from ..store import Run

#: Per-sample summaries of a layer's activity.
ACTIVITIES: tuple[str, ...] = ("mean", "l2", "active_fraction")


def check_layers(run: Run, layers: Any, caller: str) -> list[str]:
    """``layers`` (None = all, a name, or a list of names) as a list of recorded layer names."""
    if layers is None:
        return run.layers
    if isinstance(layers, str):
        return [run.check_layer(layers)]
    if isinstance(layers, Sequence) and layers and all(isinstance(x, str) for x in layers):
        return [run.check_layer(x) for x in layers]
    raise param_error("layers", caller, "a layer name, a list of layer names or None (all layers)", layers,
                      f"Recorded layers: {', '.join(map(repr, run.layers))}.")


def confidence_values(run: Run, measure: Any, idx: np.ndarray, caller: str) -> tuple[str, np.ndarray]:
    """(measure name, confidence (S, n) as float64) for the snapshot positions ``idx``."""
    name, conf = resolve_confidence(run, measure, idx, caller)
    return name, np.asarray(conf.values, dtype=np.float64)


#: The fewest probe samples a rank correlation over samples is computed from.
MIN_CORRELATION_SAMPLES = 3


def check_correlation_samples(run: Run, caller: str) -> None:
    """Refuse a probe set too small for a rank correlation over its samples."""
    if run.n_samples < MIN_CORRELATION_SAMPLES:
        raise InvalidInputError(
            f"{caller}: run {str(run.path)!r} has {run.n_samples} probe sample(s); a rank correlation over "
            f"samples needs at least {MIN_CORRELATION_SAMPLES} (with fewer, rho is NaN or trivially +-1 at "
            "every snapshot). Record with a larger probe set, e.g. make_probe(..., n_per_class=50)."
        )


def warn_constant_confidence(conf: np.ndarray, name: str, caller: str) -> None:
    """Warn when the confidence is constant over the samples at every snapshot (every rho is NaN)."""
    if conf.size and np.all(np.nanmax(conf, axis=1) == np.nanmin(conf, axis=1)):
        warnings.warn(
            f"{caller}: the confidence ({name}) is the same for every probe sample at every snapshot, so "
            "every correlation with it is NaN. Check the run's outputs (a constant model, or one class "
            "only), or choose another measure=.", ActconfWarning, stacklevel=3,
        )
