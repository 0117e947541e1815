"""The ``"umap"`` layout method: umap-learn on the unit-normalised profiles.

umap-learn is slow to import (~6 s) and compiles with numba on its first fit
(~10 s), so nothing here imports it before it is needed: :func:`import_umap`
imports it on first use (without TensorFlow), :func:`warm_up_umap` pays the
compilation once per process.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from ._coords import seed_int
from ._embed import mds_layout
from ._profiles import Prepared

_WARM = False  # True once a UMAP fit ran in this process (numba compiled)


def is_warm() -> bool:
    """Whether a UMAP fit already ran in this process (so the next one is quick)."""
    return _WARM


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
    global _WARM
    if _WARM:
        return False
    umap = import_umap()
    x = np.random.default_rng(0).normal(size=(40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=10, random_state=0, n_jobs=1).fit_transform(x)
    _WARM = True
    return True


def umap_layout(prep: Prepared, rng: np.random.Generator, *, n_neighbors: int = 15,
                min_dist: float = 0.1) -> tuple[np.ndarray, dict[str, Any]]:
    """UMAP (Euclidean on unit vectors = cosine order), ``n_neighbors`` capped at ``n - 1``.

    Three or fewer neurons leave nothing to learn (and UMAP's spectral
    initialisation needs more points): they are placed by classical MDS.
    """
    global _WARM
    n = prep.n
    if n <= 3:
        coords, _ = mds_layout(prep, rng)
        return coords, {"n_neighbors": None, "min_dist": float(min_dist), "small_n": "classical MDS"}
    k = int(min(n_neighbors, n - 1))
    umap = import_umap()
    model = umap.UMAP(n_neighbors=k, min_dist=float(min_dist), metric="euclidean",
                      random_state=seed_int(rng), n_jobs=1, init="spectral" if n > k + 1 else "random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = model.fit_transform(prep.unit.astype(np.float32))
    _WARM = True
    coords = np.asarray(coords, dtype=np.float64)
    if not np.all(np.isfinite(coords)):  # pragma: no cover - seen only on degenerate inputs
        coords, _ = mds_layout(prep, rng)
    return coords, {"n_neighbors": k, "min_dist": float(min_dist)}
