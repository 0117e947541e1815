"""The ``"umap"`` layout method: umap-learn on the unit-normalised profiles.

umap-learn is slow to start: ``import umap`` takes 2-4 s (scikit-learn, SciPy,
pynndescent, numba) and its first fit compiles its numba functions (10-20 s).
umap-learn declares those functions without ``cache=True``, so numba compiles
them again in every process and ``NUMBA_CACHE_DIR`` alone changes nothing.
This module therefore

* imports umap-learn only when a UMAP layout is asked for (:func:`import_umap`,
  without TensorFlow);
* switches numba's on-disk cache on for the functions a fit of fewer than 4096
  points runs (:data:`CACHED_FUNCTIONS`, umap-learn's own dispatchers: same code,
  same compiler flags, hence the same layouts), in :func:`umap_cache_dir`
  (``$NUMBA_CACHE_DIR`` if set, else ``<user cache>/actconf/numba``, created on
  first use). The first UMAP fit on a machine compiles and says so on stderr;
  later processes load the compiled code in a fraction of a second;
* caches the functions umap-learn compiles *while it is imported* (declared
  with explicit signatures, so numba compiles them eagerly, ~0.5-1 s per process:
  :data:`EAGER_MODULES`) in the same folder: during :func:`import_umap` numba's
  decorator turns ``cache=True`` on for exactly those (same code and flags);
* offers :func:`warm_up_umap` to pay the import (and, the first time, the
  compilation) at a moment of the caller's choosing.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._paths import numba_cache_dir, writable_folder
from ._coords import seed_int
from ._embed import mds_layout
from ._profiles import Prepared

#: (module, name) of the umap-learn numba functions a fit of < 4096 points compiles:
#: the exact nearest neighbours, the fuzzy graph and the layout optimisation.
CACHED_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("umap.distances", "euclidean"),
    ("umap.utils", "fast_knn_indices"),
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)

#: Top-level packages whose signature-declared numba functions (compiled while the package
#: is imported) get ``cache=True`` during :func:`import_umap`; pynndescent already caches its own.
EAGER_MODULES: tuple[str, ...] = ("umap",)

_STATE: dict[str, Any] = {"warm": False, "cache": None, "cache_checked": False}


def is_warm() -> bool:
    """Whether a UMAP fit already ran in this process (so the next one is quick)."""
    return _STATE["warm"]


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
        with warnings.catch_warnings(), caching_eager_compiles(cache_folder()):
            warnings.simplefilter("ignore")
            import umap
    finally:
        if hide and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return umap


# --------------------------------------------------------------------------- disk cache
@contextlib.contextmanager
def caching_eager_compiles(folder: Path | None):
    """While active, numba functions of :data:`EAGER_MODULES` declared with signatures cache in ``folder``.

    numba compiles a function declared with signatures when its module is imported,
    through ``numba.core.decorators._jit`` (the one funnel of ``numba.jit`` and
    ``numba.njit``). The hook passes ``cache=True`` for those functions only, with
    ``folder`` as numba's cache folder while their dispatcher is created; every
    other function is decorated exactly as before. Restored on exit; ``folder=None``
    changes nothing.
    """
    if folder is None:
        yield
        return
    from numba.core import config, decorators

    original = decorators._jit

    def jit(sigs, locals, target, cache, targetoptions, **kwargs):
        plain = original(sigs, locals, target, cache, targetoptions, **kwargs)
        if sigs is None or cache or target != "cpu":
            return plain
        cached = original(sigs, locals, target, True, targetoptions, **kwargs)

        def wrapper(func):
            if (getattr(func, "__module__", None) or "").split(".")[0] not in EAGER_MODULES:
                return plain(func)
            before = config.CACHE_DIR
            config.CACHE_DIR = str(folder)
            try:
                return cached(func)
            finally:
                config.CACHE_DIR = before

        return wrapper

    decorators._jit = jit
    try:
        yield
    finally:
        decorators._jit = original


def cache_folder() -> Path | None:
    """:func:`umap_cache_dir`, created if needed; None if it cannot be written."""
    return writable_folder(umap_cache_dir())


def umap_cache_dir() -> Path:
    """The folder of the compiled UMAP code (:func:`actconf._paths.numba_cache_dir`). Nothing is created here."""
    return numba_cache_dir()


def _ready_marker(folder: Path) -> Path:
    """The file saying that a fit with this umap-learn version filled ``folder``."""
    import umap

    version = getattr(umap, "__version__", None) or _dist_version("umap-learn")
    return folder / f"actconf-umap-{version}.ready"


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - umap imported from a source tree
        return "unknown"


def enable_disk_cache() -> Path | None:
    """Let numba cache umap-learn's fit functions on disk; return the folder (None: not writable).

    Runs once per process (later calls return the first answer). Numba's own
    setting ``NUMBA_CACHE_DIR`` wins; otherwise the folder is set only for these
    functions, not for numba as a whole.
    """
    if _STATE["cache_checked"]:
        return _STATE["cache"]
    _STATE["cache_checked"] = True
    import_umap()
    from numba.core import config

    folder = cache_folder()
    if folder is None:
        return None
    before = config.CACHE_DIR
    config.CACHE_DIR = str(folder)
    try:
        for module, name in CACHED_FUNCTIONS:
            dispatcher = getattr(sys.modules.get(module), name, None)
            if callable(getattr(dispatcher, "enable_caching", None)):
                dispatcher.enable_caching()
    finally:
        config.CACHE_DIR = before
    _STATE["cache"] = folder
    return folder


def fit_umap(x: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``umap.UMAP(**kwargs).fit_transform(x)`` with the disk cache on; announces a first compilation."""
    umap = import_umap()
    folder = enable_disk_cache()
    cold = not _STATE["warm"] and (folder is None or not _ready_marker(folder).exists())
    if cold:
        where = (f"cached in {folder}, so later processes skip it" if folder is not None else
                 f"not cached: {umap_cache_dir()} is not writable, so every new process compiles again")
        print(f"actconf: compiling umap-learn's numba code for the first UMAP layout (10-30 s, once; {where})",
              file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = umap.UMAP(**kwargs).fit_transform(x)
    _STATE["warm"] = True
    if cold and folder is not None:
        try:
            _ready_marker(folder).touch()
        except OSError:  # pragma: no cover - the folder was writable a moment ago
            pass
    return coords


def warm_up_umap() -> bool:
    """Fit UMAP once on 40 random points (import, load or compile its code); True if work was done."""
    if _STATE["warm"]:
        return False
    x = np.random.default_rng(0).normal(size=(40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    fit_umap(x.astype(np.float32), n_neighbors=10, random_state=0, n_jobs=1)
    return True


def umap_layout(prep: Prepared, rng: np.random.Generator, *, n_neighbors: int = 15,
                min_dist: float = 0.1) -> tuple[np.ndarray, dict[str, Any]]:
    """UMAP (Euclidean on unit vectors = cosine order), ``n_neighbors`` capped at ``n - 1``.

    Three or fewer neurons leave nothing to learn (and UMAP's spectral
    initialisation needs more points): they are placed by classical MDS.
    """
    n = prep.n
    if n <= 3:
        coords, _ = mds_layout(prep, rng)
        return coords, {"n_neighbors": None, "min_dist": float(min_dist), "small_n": "classical MDS"}
    k = int(min(n_neighbors, n - 1))
    coords = fit_umap(prep.unit.astype(np.float32), n_neighbors=k, min_dist=float(min_dist), metric="euclidean",
                  random_state=seed_int(rng), n_jobs=1, init="spectral" if n > k + 1 else "random")
    coords = np.asarray(coords, dtype=np.float64)
    if not np.all(np.isfinite(coords)):  # pragma: no cover - seen only on degenerate inputs
        coords, _ = mds_layout(prep, rng)
    return coords, {"n_neighbors": k, "min_dist": float(min_dist)}
