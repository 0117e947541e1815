"""The compiled colour-mapping loop of :meth:`actconf.render.TopoRenderer.render_rgba`.

``render_rgba`` with a linear norm is, per map and pixel, three multiply-adds
(the barycentric weights times the normalised neuron values), a colour index
(matplotlib's rule of :func:`actconf.render.lut_indices`) and a look-up in the
colormap's table of RGBA words. NumPy needs five passes for that (the sparse
product, a transpose, the index arithmetic, the look-up), each writing an array
as large as the output; this numba loop does it in one, writing every output
word once. It computes exactly what the NumPy path computes: the same single-
precision weights and values, summed in the operator's order (SciPy's
``csr_matvecs`` order, no fused multiply-add), the same index rule.

numba is imported only here, and this module only when :mod:`actconf.render`
decides the loop pays (see ``TopoRenderer.render_rgba``). The compiled code is
cached on disk in :func:`actconf._paths.numba_cache_dir` (the folder of the UMAP
code); the first compilation on a machine takes a few seconds and says so on
stderr, later processes load it in milliseconds.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numba
import numpy as np
from numba.core import config

from ._paths import numba_cache_dir, writable_folder
from ._process import usable_cores

__all__ = ["colour_maps", "padded_operator"]

#: Non-zeros per pixel of a barycentric operator (fewer are padded with zero weights).
WIDTH = 3


@numba.njit(nogil=True, boundscheck=False)
def _colour_loop(index, weight, values, lut, n_colors, plain_ends, out):  # pragma: no cover - compiled
    top = np.float32(n_colors - 1)
    span = np.float32(n_colors)
    zero = np.float32(0.0)
    under = lut[0] if plain_ends else lut[n_colors]
    bad = lut[n_colors + 2]
    for m in range(values.shape[0]):
        v = values[m]
        row = out[m]
        for p in range(index.shape[0]):
            s = weight[p, 0] * v[index[p, 0]]
            s += weight[p, 1] * v[index[p, 1]]
            s += weight[p, 2] * v[index[p, 2]]
            if s >= zero:
                if s > span and not plain_ends:
                    row[p] = lut[n_colors + 1]
                else:
                    row[p] = lut[np.uint32(min(s, top))]
            elif s < zero:
                row[p] = under
            else:  # NaN
                row[p] = bad


#: False when numba runs with ``NUMBA_DISABLE_JIT`` (the loop would be plain Python).
AVAILABLE = hasattr(_colour_loop, "enable_caching")

_STATE = {"ready": False}


def _prepare() -> None:
    """Switch the disk cache on (once); announce a first compilation on this machine."""
    if _STATE["ready"]:
        return
    _STATE["ready"] = True
    folder = writable_folder(numba_cache_dir())
    if folder is None:
        return
    before = config.CACHE_DIR
    config.CACHE_DIR = str(folder)
    try:
        _colour_loop.enable_caching()
    finally:
        config.CACHE_DIR = before
    if not list(folder.glob("**/_colour_kernel._colour_loop-*.nbi")):
        print(f"actconf: compiling the colour-mapping loop of render_rgba (a few seconds, once; cached in {folder})",
              file=sys.stderr, flush=True)


def padded_operator(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                    zero_column: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A CSR operator as ``(index, weight)`` arrays ``(pixels, 3)``; None if a row has more than 3 non-zeros.

    Rows with fewer entries are padded with weight 0 on ``zero_column`` (a value
    that is always 0, so the padding adds +0.0 and changes no sum); entries keep
    their CSR order, the order SciPy's product adds them in.
    """
    counts = np.diff(indptr)
    if counts.size and counts.max() > WIDTH:
        return None
    rows = counts.size
    index = np.full((rows, WIDTH), zero_column, dtype=np.uint32)
    weight = np.zeros((rows, WIDTH), dtype=np.float32)
    slot = np.arange(indices.size) - np.repeat(indptr[:-1], counts)
    row_of = np.repeat(np.arange(rows), counts)
    index[row_of, slot] = indices
    weight[row_of, slot] = data
    return index, weight


#: Pixel-maps below which one thread does the work (a thread hand-off costs more than it saves).
THREAD_MIN_PIXEL_MAPS = 2_000_000
_POOL: dict[int, Any] = {}
_POOL_LOCK = threading.Lock()


def _threads() -> int:
    """Threads for the colour loop: the cores this process may use (at most 4)."""
    return min(4, usable_cores())


def _pool(n: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if n not in _POOL:
            _POOL[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="actconf-colour")
        return _POOL[n]


def colour_maps(index: np.ndarray, weight: np.ndarray, values: np.ndarray, lut: np.ndarray, n_colors: int,
                plain_ends: bool, out: np.ndarray, *, threads: int | None = None) -> None:
    """Fill ``out`` (maps, pixels) uint32 with the colours of ``values`` (maps, columns) float32 times N.

    The loop releases the GIL, so large jobs are split by maps over ``threads``
    threads (default: the usable cores, at most 4; each map is computed exactly as by
    one thread, so the pixels do not depend on the split).
    """
    _prepare()
    n_maps = values.shape[0]
    n = _threads() if threads is None else max(1, int(threads))
    n = min(n, n_maps)
    if n <= 1 or n_maps * index.shape[0] < THREAD_MIN_PIXEL_MAPS:
        _colour_loop(index, weight, values, lut, n_colors, plain_ends, out)
        return
    bounds = np.linspace(0, n_maps, n + 1).astype(int)
    jobs = [_pool(n).submit(_colour_loop, index, weight, values[a:b], lut, n_colors, plain_ends, out[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    for job in jobs:
        job.result()
