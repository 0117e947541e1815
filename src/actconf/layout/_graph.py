"""The ``"graph"`` layout method: a threshold graph of similar neurons, drawn by springs.

Neurons whose cosine distance is at most a percentile of all pairwise distances are
connected, smaller components are joined to the largest by their closest pair, and
a Fruchterman-Reingold spring layout (vectorised numpy) places the graph.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._profiles import Prepared


def threshold_graph(dist: np.ndarray, percentile: float) -> tuple[np.ndarray, float, int]:
    """Edges (m, 2) between neurons closer than the percentile, components joined.

    Every component other than the largest is attached to the largest by the
    closest pair between them. Returns the edges, the threshold and the number of
    components before joining.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(dist)
    iu = np.triu_indices(n, 1)
    threshold = float(np.percentile(dist[iu], percentile))
    keep = dist[iu] <= threshold
    edges = np.column_stack([iu[0][keep], iu[1][keep]])
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    n_comp, comp = connected_components(adj, directed=False)
    if n_comp > 1:
        edges = np.vstack([edges, _joining_edges(dist, comp, n_comp)])
    return edges, threshold, int(n_comp)


def _joining_edges(dist: np.ndarray, comp: np.ndarray, n_comp: int) -> np.ndarray:
    """One edge from every smaller component to the largest: their closest pair."""
    main = np.argmax(np.bincount(comp))
    in_main = np.flatnonzero(comp == main)
    extra = []
    for c in range(n_comp):
        if c == main:
            continue
        members = np.flatnonzero(comp == c)
        sub = dist[np.ix_(members, in_main)]
        i, j = np.unravel_index(np.argmin(sub), sub.shape)
        extra.append((members[i], in_main[j]))
    return np.asarray(extra)


def spring_layout(n: int, edges: np.ndarray, rng: np.random.Generator, *, iterations: int = 50) -> np.ndarray:
    """Fruchterman–Reingold force-directed layout (vectorised numpy)."""
    pos = rng.random((n, 2))
    if n == 1:
        return pos
    k = 1.0 / math.sqrt(n)
    adj = np.zeros((n, n))
    adj[edges[:, 0], edges[:, 1]] = 1.0
    adj[edges[:, 1], edges[:, 0]] = 1.0
    temperature = 0.1
    cooling = temperature / (iterations + 1)
    for _ in range(iterations):
        dx = pos[:, None, 0] - pos[None, :, 0]
        dy = pos[:, None, 1] - pos[None, :, 1]
        dist = np.sqrt(dx * dx + dy * dy)
        np.maximum(dist, 0.01, out=dist)
        # displacement: repulsion k^2/d, attraction d^2/k along edges; both along (dx, dy)/d
        strength = (k * k) / (dist * dist) - adj * dist / k
        np.fill_diagonal(strength, 0.0)
        disp = np.column_stack([(dx * strength).sum(1), (dy * strength).sum(1)])
        length = np.maximum(np.hypot(disp[:, 0], disp[:, 1]), 0.01)
        pos += disp * (temperature / length)[:, None]
        temperature -= cooling
    return pos


def graph_layout(prep: Prepared, rng: np.random.Generator, *, percentile: float = 7.5,
                 iterations: int = 50) -> tuple[np.ndarray, dict[str, Any]]:
    """Spring layout of the joined threshold graph of the cosine distances."""
    n = prep.n
    if n == 1:
        return np.zeros((1, 2)), {"percentile": float(percentile)}
    edges, threshold, n_comp = threshold_graph(prep.cosine(), percentile)
    coords = spring_layout(n, edges, rng, iterations=int(iterations))
    return coords, {"percentile": float(percentile), "threshold": threshold, "edges": int(len(edges)),
                    "components": n_comp, "iterations": int(iterations)}
