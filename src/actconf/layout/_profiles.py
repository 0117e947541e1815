"""Profiles as every layout method sees them: validated, then turned into unit vectors.

:func:`check_profiles` validates what users pass (arrays or a NAP ``DataArray``);
:func:`prepare` normalises validated profiles to unit vectors and gives dead neurons
(all-zero profiles) defined distances, as the package docstring explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import param_error

#: Profiles whose Euclidean norm is at most this fraction of the largest profile
#: norm count as dead (all zero up to rounding).
DEAD_TOL = 1e-7


# --------------------------------------------------------------------------- validation
def check_profiles(profiles: Any, caller: str, name: str = "profiles") -> tuple[np.ndarray, np.ndarray | None]:
    """Validate profiles; accept arrays or an xarray (neuron, group) / (group, neuron).

    Returns the (n_neurons, n_features) float array and the integer ``neuron``
    coordinate of a DataArray (None for plain arrays).
    """
    profiles, neurons = _from_dataarray(profiles, caller, name)
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


def _from_dataarray(profiles: Any, caller: str, name: str) -> tuple[Any, np.ndarray | None]:
    """A DataArray with a ``neuron`` dimension as (neuron, group) values and its neuron ids."""
    dims = getattr(profiles, "dims", None)
    if dims is None or "neuron" not in dims:
        return profiles, None
    if len(dims) != 2:
        raise param_error(name, caller, "a 2-D (neuron, group) array",
                          f"a DataArray with dims {tuple(dims)}",
                          "Select one snapshot first, e.g. nap.isel(snapshot=-1).")
    profiles = profiles.transpose("neuron", *[d for d in dims if d != "neuron"])
    neurons = np.asarray(profiles["neuron"].values) if "neuron" in profiles.coords else None
    return profiles.values, neurons


# --------------------------------------------------------------------------- unit vectors
@dataclass(frozen=True)
class Prepared:
    """Profiles turned into what the methods need.

    ``unit`` holds one unit vector per neuron: the profile divided by its norm for
    live neurons and, if there are dead neurons, one extra coordinate that is 1 for
    dead neurons and 0 otherwise. Hence the cosine distance between rows of
    ``unit`` is the profile cosine distance for live pairs, 1 between a dead and a
    live neuron (orthogonal: a zero vector shares no direction) and 0 between dead
    neurons; the Euclidean distance between rows (the *chord*) is
    ``sqrt(2 * cosine)``, which orders neighbours exactly as cosine distance does.
    """

    unit: np.ndarray  # (n, f) or (n, f + 1)
    dead: np.ndarray  # (n,) bool
    constant: np.ndarray  # (n,) bool: live profiles with one value in every column
    profiles: np.ndarray | None = None  # (n, f) the validated profiles themselves (for "umap_pso")

    @property
    def n(self) -> int:
        return int(self.unit.shape[0])

    def cosine(self) -> np.ndarray:
        """Cosine distances (n, n) in [0, 2], exact zeros on the diagonal."""
        sim = self.unit @ self.unit.T
        dist = np.clip(1.0 - sim, 0.0, 2.0)
        np.fill_diagonal(dist, 0.0)
        return dist

    def chord(self) -> np.ndarray:
        """Euclidean distances between the unit vectors, ``sqrt(2 * cosine)``."""
        return np.sqrt(2.0 * self.cosine())


def prepare(profiles: np.ndarray) -> Prepared:
    """Normalise validated profiles (n, f) to unit vectors; flag dead and constant ones."""
    x = np.asarray(profiles, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    top = float(norms.max()) if norms.size else 0.0
    dead = norms <= DEAD_TOL * top if top > 0 else np.ones(len(x), dtype=bool)
    unit = np.zeros_like(x)
    live = ~dead
    unit[live] = x[live] / norms[live, None]
    if dead.any():
        unit = np.hstack([unit, dead[:, None].astype(np.float64)])
    spread = np.ptp(x, axis=1) if x.shape[1] else np.zeros(len(x))
    constant = live & (spread <= 1e-12 * np.maximum(np.abs(x).max(axis=1), 1e-300))
    if x.shape[1] == 1:  # one group: every profile is "constant"; not worth flagging
        constant = np.zeros(len(x), dtype=bool)
    return Prepared(unit=unit, dead=dead, constant=constant, profiles=x)


def n_distinct(unit: np.ndarray) -> int:
    """Number of distinct unit vectors (rounded to 1e-9)."""
    return int(np.unique(np.round(unit, 9), axis=0).shape[0])
