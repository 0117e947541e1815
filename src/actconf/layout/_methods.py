"""The registry of layout methods behind :func:`actconf.layout.compute_layout`.

Every method is a function ``f(prep, rng, **options) -> (coords, params)``: it
takes the prepared profiles (:class:`~actconf.layout._profiles.Prepared`: unit
vectors, cosine and chord distances, the dead-neuron mask), a
``numpy.random.Generator`` and its options, and returns raw 2-D coordinates
(n, 2) with the parameters it actually used; ``compute_layout`` normalises the
coordinates to ``[0, 1]`` per axis afterwards. The methods live one family per
module: ``_umap`` (UMAP), ``_som`` (SOM and grid), ``_embed`` (PCA, t-SNE, MDS),
``_graph`` (threshold graph + springs), ``_pso`` (the authors' UMAP_PSO); the
random baseline is here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._embed import mds_layout, pca_layout, tsne_layout
from ._graph import graph_layout
from ._profiles import Prepared
from ._pso import umap_pso_layout
from ._som import grid_layout, som_layout
from ._umap import umap_layout


def random_layout(prep: Prepared, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Uniform random positions: the baseline every method should beat."""
    return rng.random((prep.n, 2)), {}


#: method name -> layout function, in the order of :data:`METHODS`
LAYOUT_FUNCTIONS = {
    "umap": umap_layout,
    "som": som_layout,
    "grid": grid_layout,
    "tsne": tsne_layout,
    "pca": pca_layout,
    "mds": mds_layout,
    "graph": graph_layout,
    "random": random_layout,
    "umap_pso": umap_pso_layout,
}

#: Layout methods accepted by :func:`actconf.layout.compute_layout`.
METHODS: tuple[str, ...] = tuple(LAYOUT_FUNCTIONS)

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
    "umap_pso": {"n_neighbors": 15, "min_dist": 0.1, "steps": 1000},
}
