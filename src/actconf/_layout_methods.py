"""Layout algorithms behind :func:`actconf.layout.compute_layout` (private).

Every method takes the prepared profiles (:class:`Prepared`: unit vectors, cosine
and chord distances, the dead-neuron mask), a seed and its options, and returns raw
2-D coordinates; :func:`normalise` maps them to ``[0, 1]`` per axis afterwards.
Slow imports (umap, minisom, scikit-learn's manifold module) happen inside the
functions.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Profiles whose Euclidean norm is at most this fraction of the largest profile
#: norm count as dead (all zero up to rounding).
DEAD_TOL = 1e-7


# --------------------------------------------------------------------------- profiles
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
    return Prepared(unit=unit, dead=dead, constant=constant)


def n_distinct(unit: np.ndarray) -> int:
    """Number of distinct unit vectors (rounded to 1e-9)."""
    return int(np.unique(np.round(unit, 9), axis=0).shape[0])


# --------------------------------------------------------------------------- utilities
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


def _seed_int(rng: np.random.Generator) -> int:
    """An int seed for libraries that want one (drawn from the layout's generator)."""
    return int(rng.integers(0, 2**31 - 1))


# --------------------------------------------------------------------------- UMAP
_UMAP_WARM = False


def import_umap():
    """Import umap-learn without letting it import TensorFlow.

    ``umap/__init__.py`` imports ``umap.parametric_umap`` (and with it TensorFlow,
    ~5 s) only to offer ``ParametricUMAP``, which actconf does not use. If
    TensorFlow is not loaded yet, that submodule is hidden during the import; umap
    then installs its placeholder for ``umap.ParametricUMAP`` (``import
    umap.parametric_umap`` keeps working normally afterwards).
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    hide = "tensorflow" not in sys.modules and "umap.parametric_umap" not in sys.modules
    if hide:
        sys.modules["umap.parametric_umap"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    finally:
        if hide and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return umap


def warm_up_umap() -> bool:
    """Fit UMAP once on 40 random points so numba compiles; True if work was done."""
    global _UMAP_WARM
    if _UMAP_WARM:
        return False
    umap = import_umap()
    x = np.random.default_rng(0).normal(size=(40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=10, random_state=0, n_jobs=1).fit_transform(x)
    _UMAP_WARM = True
    return True


def umap_layout(prep: Prepared, rng: np.random.Generator, *, n_neighbors: int = 15,
                min_dist: float = 0.1) -> tuple[np.ndarray, dict[str, Any]]:
    global _UMAP_WARM
    n = prep.n
    if n <= 3:  # nothing to learn; UMAP's spectral init needs more points
        coords, _ = mds_layout(prep, rng)
        return coords, {"n_neighbors": None, "min_dist": float(min_dist), "small_n": "classical MDS"}
    k = int(min(n_neighbors, n - 1))
    umap = import_umap()
    model = umap.UMAP(n_neighbors=k, min_dist=float(min_dist), metric="euclidean",
                      random_state=_seed_int(rng), n_jobs=1, init="spectral" if n > k + 1 else "random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = model.fit_transform(prep.unit.astype(np.float32))
    _UMAP_WARM = True
    coords = np.asarray(coords, dtype=np.float64)
    if not np.all(np.isfinite(coords)):  # pragma: no cover - seen only on degenerate inputs
        coords, _ = mds_layout(prep, rng)
    return coords, {"n_neighbors": k, "min_dist": float(min_dist)}


# --------------------------------------------------------------------------- SOM
def som_nodes(prep: Prepared, rng: np.random.Generator, *, side: int | None, sigma: float,
              learning_rate: float, iterations: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the SOM; return each neuron's winning node (n, 2) and the parameters."""
    from minisom import MiniSom

    n, dim = prep.unit.shape
    side = int(side) if side is not None else int(math.floor(math.sqrt(n))) + 1
    iterations = int(iterations) if iterations is not None else 10 * n
    som = MiniSom(side, side, dim, sigma=float(sigma), learning_rate=float(learning_rate),
                  random_seed=_seed_int(rng))
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
    if base == "som":
        base_coords, base_params = som_nodes(prep, rng, side=base_options.pop("som_side", None),
                                             sigma=base_options.pop("sigma", 1.0),
                                             learning_rate=base_options.pop("learning_rate", 0.5),
                                             iterations=base_options.pop("iterations", None))
        # break ties between neurons sharing a node by a hair, seeded
        base_coords = base_coords + rng.normal(scale=1e-6, size=base_coords.shape)
    else:
        base_coords, base_params = METHODS[base](prep, rng, **base_options)
    target = normalise(base_coords) * (side - 1)
    gx, gy = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64))
    cells = np.column_stack([gx.ravel(), gy.ravel()])
    cost = ((target[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    coords = np.empty((n, 2))
    coords[rows] = cells[cols]
    return coords, {"base": base, "side": side, "base_params": base_params}


# --------------------------------------------------------------------------- scikit-learn
def pca_layout(prep: Prepared, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    x = prep.unit - prep.unit.mean(axis=0)
    # SVD with a deterministic sign (largest |loading| positive), as scikit-learn's svd_flip
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, len(s))
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    signs[signs == 0] = 1
    coords = np.zeros((prep.n, 2))
    coords[:, :k] = u[:, :k] * s[:k] * signs
    total = float((s**2).sum())
    ratio = [float(v) for v in (s[:k] ** 2 / total)] if total > 0 else [0.0] * k
    return coords, {"explained_variance_ratio": ratio}


def tsne_layout(prep: Prepared, rng: np.random.Generator, *, perplexity: float = 30.0,
                max_iter: int = 1000) -> tuple[np.ndarray, dict[str, Any]]:
    n = prep.n
    if n <= 3:
        coords, _ = mds_layout(prep, rng)
        return coords, {"perplexity": None, "small_n": "classical MDS"}
    from sklearn.manifold import TSNE

    perp = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    init = pca_layout(prep, rng)[0]
    std = init[:, 0].std()
    init = init / std * 1e-4 if std > 0 else rng.normal(scale=1e-4, size=(n, 2))
    model = TSNE(2, perplexity=perp, init=init, random_state=_seed_int(rng), max_iter=int(max_iter),
                 method="barnes_hut" if n > 200 else "exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = model.fit_transform(prep.unit)
    return np.asarray(coords, dtype=np.float64), {"perplexity": perp, "init": "pca", "max_iter": int(max_iter)}


def classical_mds(dist: np.ndarray) -> np.ndarray:
    """Torgerson's classical MDS (2-D) of a distance matrix."""
    n = len(dist)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (dist**2) @ j
    vals, vecs = np.linalg.eigh(b)
    order = np.argsort(vals)[::-1][:2]
    vals = np.clip(vals[order], 0, None)
    coords = np.zeros((n, 2))
    coords[:, : len(order)] = vecs[:, order] * np.sqrt(vals)
    # deterministic sign
    for axis in range(coords.shape[1]):
        i = np.argmax(np.abs(coords[:, axis]))
        if coords[i, axis] < 0:
            coords[:, axis] *= -1
    return coords


def mds_layout(prep: Prepared, rng: np.random.Generator, *, max_iter: int = 300) -> tuple[np.ndarray, dict[str, Any]]:
    dist = prep.chord()
    if prep.n <= 3:
        return classical_mds(dist), {"init": "classical", "max_iter": 0}
    from sklearn.manifold import MDS

    model = MDS(2, metric="precomputed", init="classical_mds", max_iter=int(max_iter), n_init=1,
                random_state=_seed_int(rng), normalized_stress="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = model.fit_transform(dist)
    return np.asarray(coords, dtype=np.float64), {"distance": "chord", "init": "classical_mds",
                                                  "max_iter": int(max_iter)}


# --------------------------------------------------------------------------- graph
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
        edges = np.vstack([edges, np.asarray(extra)])
    return edges, threshold, int(n_comp)


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
    n = prep.n
    if n == 1:
        return np.zeros((1, 2)), {"percentile": float(percentile)}
    edges, threshold, n_comp = threshold_graph(prep.cosine(), percentile)
    coords = spring_layout(n, edges, rng, iterations=int(iterations))
    return coords, {"percentile": float(percentile), "threshold": threshold, "edges": int(len(edges)),
                    "components": n_comp, "iterations": int(iterations)}


def random_layout(prep: Prepared, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    return rng.random((prep.n, 2)), {}


METHODS = {
    "umap": umap_layout,
    "som": som_layout,
    "grid": grid_layout,
    "tsne": tsne_layout,
    "pca": pca_layout,
    "mds": mds_layout,
    "graph": graph_layout,
    "random": random_layout,
}

#: option name -> default, per method (what compute_layout accepts as **options)
OPTIONS: dict[str, dict[str, Any]] = {
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
    "som": {"side": None, "sigma": 1.0, "learning_rate": 0.5, "iterations": None, "spread": 0.25},
    "grid": {"base": "som", "side": None},
    "tsne": {"perplexity": 30.0, "max_iter": 1000},
    "pca": {},
    "mds": {"max_iter": 300},
    "graph": {"percentile": 7.5, "iterations": 50},
    "random": {},
}


# --------------------------------------------------------------------------- refinement
REFINE_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "spacing": 0.8,
    "attraction": 0.0,
    "global_weight": 0.0,
    "n_neighbors": 10,
}


def _scatter(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``out[index] += values`` with repeated indices summed (faster than ``np.add.at``)."""
    n = len(out)
    out[:, 0] += np.bincount(index, weights=values[:, 0], minlength=n)
    out[:, 1] += np.bincount(index, weights=values[:, 1], minlength=n)


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

    nn_i = nn_j = None
    if unit is not None and attraction > 0 and n > 2:
        k = int(min(n_neighbors, n - 1))
        tree = cKDTree(unit)
        _, idx = tree.query(unit, k=k + 1)
        nn_i = np.repeat(np.arange(n), k)
        nn_j = idx[:, 1:].ravel()
        bad = nn_j >= n  # (never for exact queries, kept for safety)
        nn_i, nn_j = nn_i[~bad], nn_j[~bad]
    scale_fit = None
    n_pairs = 0
    if unit is not None and global_weight > 0 and n > 2:
        n_pairs = int(min(8 * n, n * (n - 1) // 2))

    step0 = 0.25
    radius = 1.5 * d0
    pairs = np.empty((0, 2), dtype=np.int64)
    for t in range(int(steps)):
        if t % 10 == 0:
            pairs = cKDTree(p).query_pairs(radius, output_type="ndarray")
        lr = step0 * (1.0 - t / steps) + 0.01
        force = np.zeros_like(p)
        if len(pairs):
            i, j = pairs[:, 0], pairs[:, 1]
            delta = p[i] - p[j]
            d = np.sqrt((delta**2).sum(1))
            close = d < d0
            if close.any():
                ic, jc, dc, dl = i[close], j[close], d[close], delta[close]
                same = dc < 1e-9 * d0  # coincident: push apart in a random direction
                if same.any():
                    angle = rng.uniform(0, 2 * np.pi, int(same.sum()))
                    dl[same] = np.column_stack([np.cos(angle), np.sin(angle)]) * (1e-9 * d0)
                    dc = np.where(same, 1e-9 * d0, dc)
                push = ((d0 - dc) / dc)[:, None] * dl
                _scatter(force, ic, push)
                _scatter(force, jc, -push)
        if nn_i is not None:
            delta = p[nn_j] - p[nn_i]
            d = np.sqrt((delta**2).sum(1))
            far = d > d0
            if far.any():
                pull = attraction * ((d[far] - d0) / d[far])[:, None] * delta[far]
                _scatter(force, nn_i[far], pull)
        if n_pairs:
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
        move = lr * force
        length = np.sqrt((move**2).sum(1))
        cap = 0.5 * d0
        too_far = length > cap
        if too_far.any():
            move[too_far] *= (cap / length[too_far])[:, None]
        p = p + move
    return normalise(p)
