"""The self-organising methods: ``"som"`` (MiniSom placement) and ``"grid"`` (one neuron per cell).

``"som"`` trains a square MiniSom on the unit vectors and puts each neuron on its
winning node, spreading neurons that share a node on a small circle. ``"grid"``
assigns neurons to the cells of a square grid (optimal assignment) so that each
stays close to its place in a base layout (the SOM's winning nodes by default).
MiniSom and SciPy's optimiser are imported inside the functions.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._coords import normalise, seed_int
from ._profiles import Prepared


def som_nodes(prep: Prepared, rng: np.random.Generator, *, side: int | None, sigma: float,
              learning_rate: float, iterations: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the SOM; return each neuron's winning node (n, 2) and the parameters."""
    from minisom import MiniSom

    n, dim = prep.unit.shape
    side = int(side) if side is not None else int(math.floor(math.sqrt(n))) + 1
    iterations = int(iterations) if iterations is not None else 10 * n
    som = MiniSom(side, side, dim, sigma=float(sigma), learning_rate=float(learning_rate),
                  random_seed=seed_int(rng))
    data = prep.unit
    if dim >= 2 and n >= 2 and side >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            som.pca_weights_init(data)
    som.train(data, iterations, random_order=True)
    weights = som.get_weights().reshape(side * side, dim)
    d2 = (data**2).sum(1)[:, None] - 2 * data @ weights.T + (weights**2).sum(1)[None]
    win = np.argmin(d2, axis=1)
    nodes = np.column_stack([win // side, win % side]).astype(np.float64)
    params = {"side": side, "sigma": float(sigma), "learning_rate": float(learning_rate),
              "iterations": iterations, "init": "pca"}
    return nodes, params


def som_layout(prep: Prepared, rng: np.random.Generator, *, side: int | None = None,
               sigma: float = 1.0, learning_rate: float = 0.5, iterations: int | None = None,
               spread: float = 0.25) -> tuple[np.ndarray, dict[str, Any]]:
    """Winning SOM nodes; neurons sharing a node evenly on a circle of radius ``spread``."""
    nodes, params = som_nodes(prep, rng, side=side, sigma=sigma, learning_rate=learning_rate,
                              iterations=iterations)
    coords = nodes.copy()
    # neurons sharing a node: evenly on a circle of radius `spread` (node spacing 1)
    _, inverse, counts = np.unique(nodes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    for node in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == node)
        angle = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(len(members)) / len(members)
        coords[members, 0] += spread * np.cos(angle)
        coords[members, 1] += spread * np.sin(angle)
    params["spread"] = float(spread)
    params["shared_nodes"] = int(np.sum(counts > 1))
    return coords, params


def grid_layout(prep: Prepared, rng: np.random.Generator, *, base: str = "som", side: int | None = None,
                **base_options: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """One neuron per cell of a square grid, assigned to stay close to a base layout."""
    from scipy.optimize import linear_sum_assignment

    n = prep.n
    side = int(side) if side is not None else max(1, math.ceil(math.sqrt(n)))
    base_coords, base_params = _base_layout(prep, rng, base, base_options)
    target = normalise(base_coords) * (side - 1)
    gx, gy = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64))
    cells = np.column_stack([gx.ravel(), gy.ravel()])
    cost = ((target[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    coords = np.empty((n, 2))
    coords[rows] = cells[cols]
    return coords, {"base": base, "side": side, "base_params": base_params}


def _base_layout(prep: Prepared, rng: np.random.Generator, base: str,
                 options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """The layout ``"grid"`` snaps to the cells: SOM winning nodes or any other method."""
    if base != "som":
        from ._methods import LAYOUT_FUNCTIONS  # the registry imports this module

        return LAYOUT_FUNCTIONS[base](prep, rng, **options)
    coords, params = som_nodes(prep, rng, side=options.pop("som_side", None),
                               sigma=options.pop("sigma", 1.0),
                               learning_rate=options.pop("learning_rate", 0.5),
                               iterations=options.pop("iterations", None))
    # break ties between neurons sharing a node by a hair, seeded
    return coords + rng.normal(scale=1e-6, size=coords.shape), params
