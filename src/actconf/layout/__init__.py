"""Topographic layouts of neurons: place similar neurons close together in 2-D.

A layout gives every neuron of a layer a position in the unit square so that
neurons with similar *profiles* sit close together. A profile is a neuron's vector
of NAP values across groups of inputs (e.g. its mean activation per class at the
final snapshot); similarity is the cosine of two profiles, as in the TAM paper.
The layout is computed once, from one snapshot, and then serves every snapshot and
every group: the maps of a training run differ in activity, never in geometry.

Methods (``compute_layout(profiles, method=...)``)
-------------------------------------------------
``"umap"`` (default)
    umap-learn on the unit-normalised profiles (Euclidean distance between unit
    vectors orders neighbours exactly as cosine distance does), ``n_neighbors``
    capped at ``n - 1``. By default followed by ``refine`` (the paper's recipe for
    its applications: UMAP then force-directed spreading). umap-learn is imported
    on first use, without TensorFlow (2-4 s). The first UMAP fit on a machine
    compiles umap-learn's numba code (10-30 s, announced on stderr) into a disk
    cache (``$NUMBA_CACHE_DIR``, else ``~/.cache/actconf/numba``); later processes
    load it in a fraction of a second, with the same layouts. :func:`warm_up` pays
    the import (and a first compilation) at a moment of your choosing.
``"som"``
    Self-organising placement (MiniSom): a square map of side ``floor(sqrt(n)) + 1``
    (13 x 13 for 128 neurons), sigma 1, learning rate 0.5, ``10 n`` iterations in
    random order, weights initialised on the profiles' first two principal
    components. Each neuron goes to its winning node; neurons sharing a node are
    spread evenly on a circle of radius ``spread`` (a quarter of the node spacing).
``"grid"``
    Exactly one neuron per cell of a ``ceil(sqrt(n))``-sided square grid: the
    neurons are assigned to cells by :func:`scipy.optimize.linear_sum_assignment`,
    minimising the squared distance between each neuron's position in a base layout
    (``base="som"`` winning nodes by default, or any other method) and its cell.
``"tsne"``, ``"pca"``, ``"mds"``
    t-SNE (scikit-learn, PCA initialisation, perplexity capped at ``(n - 1) / 3``),
    PCA, and metric MDS (SMACOF from classical MDS) of the chord distances
    ``sqrt(2 * cosine)``.
``"graph"``
    Threshold graph: neurons whose cosine distance is at most the 7.5th percentile
    of all pairwise distances are connected, every smaller connected component is
    attached to the largest by its closest pair, then a Fruchterman-Reingold spring
    layout (50 iterations).
``"random"``
    Uniform random positions: the baseline every method should beat.
``"umap_pso"``
    The TAM authors' ``UMAP_PSO`` pipeline as their public code runs it: UMAP
    with umap-learn's defaults and the *Euclidean* metric on the profiles
    themselves (not unit vectors), then their particle simulation (1000 steps of
    a pairwise force that only repels within the unit square; its global term has
    weight zero in their configurations). It spreads the points into an evenly
    filled disc. Seeded (same seed, same positions); dead neurons are moved off the
    origin so that they form one group of their own, as with every method here
    (see :mod:`actconf.layout._pso`). Not refined by default.

All positions are min-max normalised to ``[0, 1]`` per axis (an axis without any
extent is set to 0.5).

Refinement (``refine=``)
------------------------
A force-directed particle simulation (the paper's "PSO" step) usable after any
method: too-close neurons (nearer than ``d0 = spacing / sqrt(n)``) push each other
apart (local repulsion); optionally neurons are pulled towards their
``n_neighbors`` most similar neurons when those sit farther than ``d0``
(``attraction``, local attraction) and layout distances of random pairs are pulled
towards the profile distances (``global_weight``, the global term). 1000 steps
with a decaying step size, vectorised numpy with a neighbour list from a k-d tree.
``refine=None`` (default) refines UMAP layouts only; ``True``/``False`` force it;
a dict sets its options (``steps``, ``spacing``, ``attraction``,
``global_weight``, ``n_neighbors``) and implies ``True``.

Defaults (``spacing=0.8``, ``attraction=0``, ``global_weight=0``) were chosen on the
class NAPs of a trained 128-unit MLP (digits): UMAP packs similar neurons on top of
each other, and spreading them to ~0.8 of a uniform spacing makes every neuron
visible while changing the quality scores only slightly (resize error -7 %,
blur error +4 %, trustworthiness 0.94 -> 0.93). Any attraction towards profile
neighbours, even 0.003, pulled the layout into a kNN-graph-like blob and lowered
trustworthiness to ~0.88, so it is off by default.

Dead and constant neurons
-------------------------
*Dead* neurons (profile all zero, up to ``1e-7`` of the largest profile norm) have
no direction, so their cosine distance is undefined. actconf defines it: dead
neurons are at distance 0 from each other and at distance 1 (orthogonal, no shared
direction) from every live neuron. Every method sees exactly these distances (the
unit vectors get one extra coordinate that only dead neurons have), so dead neurons
form one group of their own, placed by the method like any other group; they are
flagged in ``Layout.dead``. For contrastive profiles (per-neuron mean over groups
subtracted, the default of :func:`layout_from_run`) a neuron with the same NAP in
every group has an all-zero profile and is therefore dead in this sense.
*Constant* profiles of non-contrastive NAPs (the same non-zero value in every group)
are not degenerate for the cosine: they all point along ``(1, ..., 1)`` and are
placed together, near neurons that respond almost equally to every group; they are
counted in ``params["n_constant"]``. If all profiles are identical (e.g. every
neuron dead), no method has anything to work with: the neurons are placed on a
square grid in index order, with a warning, and ``params["degenerate"]`` says so.
One neuron sits at ``(0.5, 0.5)``. Positions are never NaN.

Quality (``layout_quality``, ``compare_layouts``)
-------------------------------------------------
Smoothness of the maps in two definitions, ``quality="masked"`` (default) or
``"paper"`` (or ``"both"``): actconf's measure treats blank pixels outside the
convex hull as missing data and works on the values (scores ``resize_auc``,
``blur_auc``; curves ``resize_mse``, ``blur_mse``); the authors' measure draws
each map as their RGB figure, where blanks are white, and compares 8-bit pixels
(``paper_resize_auc``, ``paper_blur_auc``; curves ``paper_resize_mse``,
``paper_blur_mse``), optionally with their wrapping ``uint8`` arithmetic
(``wraparound=True``). Plus trustworthiness, continuity, Spearman and kNN
preservation. ``docs/layout-quality.md`` explains the difference and how the
rankings of methods differ.

Storage
-------
``layout.save(run, name=...)`` writes ``<run>/layouts/<layer>/<name>.npz``
(positions, neuron ids, dead mask; read with ``allow_pickle=False``) and then
``<name>.json`` (everything else plus a checksum of the ``.npz``; written last, it
is the commit point). :func:`load_layout` reads them back, :func:`list_layouts`
lists what a run holds.

Modules
-------
One module per job; everything public is imported here:

=====================  =========================================================
``_value``             :class:`Layout`, its files: ``save``, :func:`load_layout`,
                       :func:`list_layouts`
``_compute``           :func:`compute_layout`, :func:`refine_layout`,
                       :func:`warm_up`; option checks
``_from_run``          :func:`layout_profiles`, :func:`layout_from_run`,
                       :func:`ensure_layout`
``_profiles``          validating profiles, unit vectors, dead neurons
``_methods``           the registry of methods; ``_umap``, ``_som`` (som, grid),
                       ``_embed`` (pca, tsne, mds), ``_graph`` hold them
``_coords``            normalising coordinates, square grids, seeds for libraries
``_refine``            the force-directed refinement
``_pso``               ``"umap_pso"``: the authors' UMAP + particle simulation
``_quality``           :func:`layout_quality` (smoothness, neighbourhood scores)
``_paper_quality``     the authors' smoothness measure (``quality="paper"``)
``_compare``           :func:`compare_layouts`
=====================  =========================================================
"""

from __future__ import annotations

# The public API (__all__) and, as `X as X`, the named internal API that
# actconf.plots, the tests and the benchmarks use.
from ._compare import DEFAULT_COMPARE as DEFAULT_COMPARE
from ._compare import compare_layouts
from ._compute import compute_layout, refine_layout, warm_up
from ._from_run import ensure_layout, layout_from_run, layout_profiles
from ._graph import threshold_graph as threshold_graph
from ._methods import METHODS
from ._profiles import prepare as prepare
from ._quality import MEASURES as MEASURES
from ._quality import QUALITIES as QUALITIES
from ._quality import SMOOTHNESS as SMOOTHNESS
from ._quality import layout_quality
from ._umap import import_umap as import_umap
from ._value import LAYOUT_FORMAT as LAYOUT_FORMAT
from ._value import LAYOUT_FORMAT_VERSION as LAYOUT_FORMAT_VERSION
from ._value import Layout, list_layouts, load_layout

__all__ = [
    "METHODS",
    "Layout",
    "compare_layouts",
    "compute_layout",
    "ensure_layout",
    "layout_from_run",
    "layout_profiles",
    "layout_quality",
    "list_layouts",
    "load_layout",
    "refine_layout",
    "warm_up",
]
