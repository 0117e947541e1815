"""The TAM authors' UMAP_PSO pipeline: ``compute_layout(profiles, method="umap_pso")``.

What the authors' public code (valeriekrug/ANN-topomaps) does for its ``UMAP_PSO``
method, re-implemented here from a reading of it:

1. UMAP with umap-learn's defaults (``n_neighbors=15``, ``min_dist=0.1``, the
   *Euclidean* metric) on the neuron profiles themselves (the contrastive NAP
   values per group, not their unit vectors and not rows of a distance matrix),
   then min-max normalised to ``[0, 1]`` per axis.
2. Their particle simulation ("PSO") from those positions, 1000 steps. Every pair
   of neurons at layout distance ``d`` (at least 0.01) exerts the local force
   ``f(d) = 1.5 / (d + 1)**3 - 15 exp(-d / 2)``, which is negative -- a repulsion --
   up to ``d`` of about 23, i.e. for every pair in the unit square. The force is
   weighted by ``(tanh(t) + 1) / 2`` with ``t`` running linearly from -3 to 6 over
   the steps, halved, and each step moves neuron ``i`` by the mean over all ``j``
   of ``(p_j - p_i) f(d_ij)``. Their global term (pulling layout distances towards
   profile distances) has weight zero whenever the simulation starts from another
   method's positions, so it is left out: the simulation only spreads points
   apart, more strongly where they are crowded. The cloud grows far beyond the
   unit square; positions are normalised again at the end.

actconf's own ``"umap"`` differs: UMAP on unit vectors (cosine order) followed by
:func:`~actconf.layout.refine_layout`'s bounded spreading.

Differences from the authors' code, on purpose: UMAP is seeded (``random_state``
from the layout's seed, ``n_jobs=1``), so the same seed gives the same positions;
``n_neighbors`` is capped at ``n - 1`` and three or fewer neurons are placed by
classical MDS (as for ``"umap"``); *dead* neurons (all-zero profiles) get the
treatment of every actconf method -- one group of their own -- by moving them off
the origin along an extra axis by the median norm of the live profiles (distance 0
between dead neurons, at least that norm to every live one). In the authors' code
they sit at the origin, among the weakest live neurons.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._coords import normalise, seed_int
from ._embed import mds_layout
from ._profiles import Prepared

#: The local force of the authors' simulation: attraction ``a / (d + 1)**3``,
#: repulsion ``b * exp(-d / c)``.
PSO_ATTRACTION, PSO_REPULSION, PSO_LENGTH = 1.5, 15.0, 2.0
#: The schedule of the local force's weight: ``(tanh(t) + 1) / 2``, ``t`` from -3 to 6.
PSO_SCHEDULE = (-3.0, 6.0)
#: Layout distances below this count as this (the authors' floor).
PSO_MIN_DISTANCE = 0.01


def authors_pso(positions: np.ndarray, *, steps: int = 1000) -> np.ndarray:
    """The authors' particle simulation started from ``positions`` (n, 2), global term zero.

    Returns the raw (un-normalised) positions after ``steps`` steps; see the module
    docstring. Each step is two (n, n) array operations and one (n, n) x (n, 2)
    product, so the cost grows with ``n**2``.
    """
    p = np.array(positions, dtype=np.float64)
    n = len(p)
    weights = (np.tanh(np.linspace(*PSO_SCHEDULE, int(steps))) + 1.0) / 2.0
    for w in weights:
        sq = (p * p).sum(axis=1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (p @ p.T), 0.0))
        np.maximum(d, PSO_MIN_DISTANCE, out=d)
        f = PSO_ATTRACTION / (d + 1.0) ** 3 - PSO_REPULSION * np.exp(-d / PSO_LENGTH)
        f *= w / 2.0
        # mean over j of (p_j - p_i) f_ij, without the (n, n, 2) differences
        p = p + (f @ p - p * f.sum(axis=1)[:, None]) / n
    return p


def euclidean_input(prep: Prepared) -> np.ndarray:
    """The profiles UMAP sees: as given, dead neurons moved off the origin (module docstring)."""
    x = np.array(prep.profiles if prep.profiles is not None else prep.unit, dtype=np.float64)
    if not prep.dead.any():
        return x
    x[prep.dead] = 0.0
    live = np.linalg.norm(x[~prep.dead], axis=1)
    lift = float(np.median(live)) if live.size else 1.0
    return np.hstack([x, np.where(prep.dead, lift, 0.0)[:, None]])


def umap_pso_layout(prep: Prepared, rng: np.random.Generator, *, n_neighbors: int = 15, min_dist: float = 0.1,
                    steps: int = 1000) -> tuple[np.ndarray, dict[str, Any]]:
    """UMAP (Euclidean, on the profiles) then the authors' simulation: their ``UMAP_PSO``."""
    from ._umap import import_umap

    n = prep.n
    params: dict[str, Any] = {"metric": "euclidean", "input": "profiles", "min_dist": float(min_dist),
                              "steps": int(steps), "global_weight": 0.0}
    if n <= 3:
        start, _ = mds_layout(prep, rng)
        params.update(n_neighbors=None, small_n="classical MDS")
    else:
        k = int(min(n_neighbors, n - 1))
        umap = import_umap()
        model = umap.UMAP(n_neighbors=k, min_dist=float(min_dist), metric="euclidean",
                          random_state=seed_int(rng), n_jobs=1, init="spectral" if n > k + 1 else "random")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = np.asarray(model.fit_transform(euclidean_input(prep).astype(np.float32)), dtype=np.float64)
        if not np.all(np.isfinite(start)):  # pragma: no cover - seen only on degenerate inputs
            start, _ = mds_layout(prep, rng)
        params["n_neighbors"] = k
    return authors_pso(normalise(start), steps=steps), params
