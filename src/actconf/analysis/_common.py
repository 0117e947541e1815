"""Checks and reading shared by the analysis modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import param_error
from ..confidence import resolve_confidence
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
