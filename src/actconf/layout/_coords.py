"""Coordinate helpers shared by the layout methods: normalising, square grids, seeds."""

from __future__ import annotations

import math

import numpy as np


def normalise(coords: np.ndarray) -> np.ndarray:
    """Min-max scale every axis to [0, 1]; an axis without extent becomes 0.5."""
    pos = np.asarray(coords, dtype=np.float64).copy()
    if not np.all(np.isfinite(pos)):  # pragma: no cover - guarded by the methods
        raise FloatingPointError("layout method produced non-finite coordinates")
    lo = pos.min(axis=0)
    span = pos.max(axis=0) - lo
    scale = max(float(np.abs(pos).max()), 1.0)
    for axis in range(2):
        if span[axis] > 1e-12 * scale:
            pos[:, axis] = (pos[:, axis] - lo[axis]) / span[axis]
        else:
            pos[:, axis] = 0.5
    return np.clip(pos, 0.0, 1.0)


def square_grid(n: int, side: int | None = None) -> np.ndarray:
    """Row-major cell centres of the smallest square grid with at least ``n`` cells."""
    side = side or max(1, math.ceil(math.sqrt(n)))
    idx = np.arange(n)
    return np.column_stack([idx % side, idx // side]).astype(np.float64)


def seed_int(rng: np.random.Generator) -> int:
    """An int seed for libraries that want one (drawn from the layout's generator)."""
    return int(rng.integers(0, 2**31 - 1))
