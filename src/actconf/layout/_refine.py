"""The force-directed refinement (the paper's "PSO" step) usable after any method.

:func:`refine_positions` spreads a normalised layout by gradient steps on three
terms -- local repulsion, optional attraction towards profile neighbours and an
optional global distance term -- with a neighbour list from a k-d tree; see its
docstring and the package docstring for the defaults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._coords import normalise

#: refine options and their defaults (``compute_layout(refine={...})``, ``refine_layout``)
REFINE_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "spacing": 0.8,
    "attraction": 0.0,
    "global_weight": 0.0,
    "n_neighbors": 10,
}


def refine_positions(pos: np.ndarray, unit: np.ndarray | None, rng: np.random.Generator, *,
                     steps: int, spacing: float, attraction: float, global_weight: float,
                     n_neighbors: int) -> np.ndarray:
    """Force-directed spreading of a normalised layout (see ``compute_layout``'s notes).

    Minimises, by gradient steps with a decaying step size,

    * overlap: ``sum (d0 - d)^2`` over pairs closer than ``d0 = spacing / sqrt(n)``
      (local repulsion: too-close neurons are pushed apart);
    * cohesion: ``attraction * sum (d - d0)^2`` over each neuron's ``n_neighbors``
      nearest neighbours *in profile space* that sit farther than ``d0`` (local
      attraction: far-away look-alikes are pulled in);
    * global: ``global_weight * sum (d - s * chord)^2`` over random pairs, where
      ``chord`` is the profile distance and ``s`` the least-squares scale (layout
      distances follow profile distances).

    The layout may grow beyond the unit square while spreading (the repulsion
    vanishes once neighbours are ``d0`` apart, so it stops growing); it is min-max
    normalised at the end.
    """
    from scipy.spatial import cKDTree

    n = len(pos)
    p = normalise(pos)
    d0 = spacing / math.sqrt(n)
    # coincident neurons have no direction to be pushed in: separate them by a hair
    p = p + rng.normal(scale=1e-3 * d0, size=p.shape)
    use_profiles = unit is not None and n > 2
    neighbours = profile_neighbours(unit, n_neighbors) if use_profiles and attraction > 0 else None
    n_pairs = int(min(8 * n, n * (n - 1) // 2)) if use_profiles and global_weight > 0 else 0
    scale_fit = None
    pairs = np.empty((0, 2), dtype=np.int64)
    for t in range(int(steps)):
        if t % 10 == 0:
            pairs = cKDTree(p).query_pairs(1.5 * d0, output_type="ndarray")
        lr = 0.25 * (1.0 - t / steps) + 0.01
        force = np.zeros_like(p)
        _add_repulsion(force, p, pairs, d0, rng)
        if neighbours is not None:
            _add_cohesion(force, p, neighbours, d0, attraction)
        if n_pairs:
            scale_fit = _add_global(force, p, unit, rng, n_pairs, scale_fit, global_weight)
        p = p + _capped(lr * force, 0.5 * d0)
    return normalise(p)


def profile_neighbours(unit: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``: each neuron ``i`` and its ``n_neighbors`` nearest profiles ``j``."""
    from scipy.spatial import cKDTree

    n = len(unit)
    k = int(min(n_neighbors, n - 1))
    _, idx = cKDTree(unit).query(unit, k=k + 1)
    nn_i = np.repeat(np.arange(n), k)
    nn_j = idx[:, 1:].ravel()
    bad = nn_j >= n  # (never for exact queries, kept for safety)
    return nn_i[~bad], nn_j[~bad]


def _scatter(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``out[index] += values`` with repeated indices summed (faster than ``np.add.at``)."""
    n = len(out)
    out[:, 0] += np.bincount(index, weights=values[:, 0], minlength=n)
    out[:, 1] += np.bincount(index, weights=values[:, 1], minlength=n)


def _add_repulsion(force: np.ndarray, p: np.ndarray, pairs: np.ndarray, d0: float,
                   rng: np.random.Generator) -> None:
    """Push apart the candidate ``pairs`` that sit closer than ``d0``."""
    if not len(pairs):
        return
    i, j = pairs[:, 0], pairs[:, 1]
    delta = p[i] - p[j]
    d = np.sqrt((delta**2).sum(1))
    close = d < d0
    if not close.any():
        return
    ic, jc, dc, dl = i[close], j[close], d[close], delta[close]
    same = dc < 1e-9 * d0  # coincident: push apart in a random direction
    if same.any():
        angle = rng.uniform(0, 2 * np.pi, int(same.sum()))
        dl[same] = np.column_stack([np.cos(angle), np.sin(angle)]) * (1e-9 * d0)
        dc = np.where(same, 1e-9 * d0, dc)
    push = ((d0 - dc) / dc)[:, None] * dl
    _scatter(force, ic, push)
    _scatter(force, jc, -push)


def _add_cohesion(force: np.ndarray, p: np.ndarray, neighbours: tuple[np.ndarray, np.ndarray],
                  d0: float, attraction: float) -> None:
    """Pull each neuron towards its profile neighbours that sit farther than ``d0``."""
    nn_i, nn_j = neighbours
    delta = p[nn_j] - p[nn_i]
    d = np.sqrt((delta**2).sum(1))
    far = d > d0
    if far.any():
        pull = attraction * ((d[far] - d0) / d[far])[:, None] * delta[far]
        _scatter(force, nn_i[far], pull)


def _add_global(force: np.ndarray, p: np.ndarray, unit: np.ndarray, rng: np.random.Generator,
                n_pairs: int, scale_fit: float | None, global_weight: float) -> float:
    """Pull layout distances of random pairs towards the scaled profile (chord) distances.

    Returns the running least-squares scale between layout and chord distances.
    """
    n = len(p)
    i = rng.integers(0, n, n_pairs)
    j = rng.integers(0, n, n_pairs)
    ok = i != j
    i, j = i[ok], j[ok]
    delta = p[i] - p[j]
    d = np.maximum(np.sqrt((delta**2).sum(1)), 1e-12)
    chord = np.sqrt(np.maximum((unit[i] - unit[j]) ** 2, 0).sum(1))
    s = float((d * chord).sum() / max((chord * chord).sum(), 1e-12))
    scale_fit = s if scale_fit is None else 0.9 * scale_fit + 0.1 * s
    g = global_weight * ((scale_fit * chord - d) / d)[:, None] * delta * (n / n_pairs)
    _scatter(force, i, g)
    _scatter(force, j, -g)
    return scale_fit


def _capped(move: np.ndarray, cap: float) -> np.ndarray:
    """Shorten every move longer than ``cap`` to length ``cap`` (in place)."""
    length = np.sqrt((move**2).sum(1))
    too_far = length > cap
    if too_far.any():
        move[too_far] *= (cap / length[too_far])[:, None]
    return move
