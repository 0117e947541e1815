"""The embedding methods ``"pca"``, ``"tsne"`` and ``"mds"`` (and classical MDS).

PCA is a deterministic SVD of the centred unit vectors; t-SNE is scikit-learn's
(PCA initialisation, perplexity capped at ``(n - 1) / 3``); MDS is scikit-learn's
metric SMACOF from classical MDS of the chord distances ``sqrt(2 * cosine)``.
scikit-learn's manifold module is imported inside the functions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._coords import seed_int
from ._profiles import Prepared


def pca_layout(prep: Prepared, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The first two principal components of the unit vectors."""
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
    """t-SNE from the (scaled) PCA layout; three or fewer neurons by classical MDS."""
    n = prep.n
    if n <= 3:
        coords, _ = mds_layout(prep, rng)
        return coords, {"perplexity": None, "small_n": "classical MDS"}
    from sklearn.manifold import TSNE

    perp = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    init = pca_layout(prep, rng)[0]
    std = init[:, 0].std()
    init = init / std * 1e-4 if std > 0 else rng.normal(scale=1e-4, size=(n, 2))
    model = TSNE(2, perplexity=perp, init=init, random_state=seed_int(rng), max_iter=int(max_iter),
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


def mds_layout(prep: Prepared, rng: np.random.Generator, *,
               max_iter: int = 300) -> tuple[np.ndarray, dict[str, Any]]:
    """Metric MDS (SMACOF from classical MDS) of the chord distances."""
    dist = prep.chord()
    if prep.n <= 3:
        return classical_mds(dist), {"init": "classical", "max_iter": 0}
    from sklearn.manifold import MDS

    model = MDS(2, metric="precomputed", init="classical_mds", max_iter=int(max_iter), n_init=1,
                random_state=seed_int(rng), normalized_stress="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = model.fit_transform(dist)
    return np.asarray(coords, dtype=np.float64), {"distance": "chord", "init": "classical_mds",
                                                  "max_iter": int(max_iter)}
