"""Dask as the engine of every analysis that reads activations: block sizes and computing.

The analyses (:mod:`actconf.naps`, :mod:`actconf.analysis`, layout profiles) express
their work on a layer's activations as dask graphs over blocks of
(snapshots, samples, neurons) and compute them with whatever scheduler is active:
dask's threaded scheduler by default, or a ``dask.distributed.Client`` the user
created (``Client()`` on this machine, ``Client("tcp://scheduler:8786")`` for a
cluster). Nothing here starts threads or processes of its own.

Memory is bounded by a block, not by the run: a block holds about
:func:`chunk_bytes` of float64 values (dask configuration key ``actconf.chunk-size``,
default ``"32MiB"``; e.g. ``dask.config.set({"actconf.chunk-size": "128MiB"})``),
made of whole storage chunks of the run, and one axis may be kept whole when the
computation needs it (all neurons of a sample for per-sample activity, all samples of
a neuron for ranks over the probe set).

Internal API (not in ``__all__``): :func:`chunk_bytes`, :func:`block_chunks`,
:func:`activation_blocks`, :func:`per_snapshot`, :func:`compute`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__: list[str] = []

#: dask configuration key of the block size of actconf's analyses
CONFIG_KEY = "actconf.chunk-size"
#: its default: float64 bytes per block
DEFAULT_CHUNK_SIZE = "32MiB"


def chunk_bytes() -> int:
    """Bytes of float64 values per block: dask's ``actconf.chunk-size`` setting (default 32 MiB)."""
    import dask
    from dask.utils import parse_bytes

    value = dask.config.get(CONFIG_KEY, DEFAULT_CHUNK_SIZE)
    size = parse_bytes(value) if isinstance(value, str) else int(value)
    return max(1, int(size))


def block_chunks(shape: Sequence[int], storage: Sequence[int], *, whole: str = "neuron",
                 target: int | None = None) -> tuple[int, ...]:
    """Block shape (snapshots, samples, neurons) of about ``target`` float64 bytes, in whole storage chunks.

    The axis named by ``whole`` (``"neuron"`` or ``"sample"``) is never split. A
    snapshot that fits is one block with all its samples and neurons (several
    snapshots per block when they fit); otherwise the other axis is split in
    multiples of its storage chunk.
    """
    target = chunk_bytes() if target is None else max(1, int(target))
    s, n, m = (int(x) for x in shape)
    cn, cm = (max(1, int(c)) for c in storage[1:])
    per_snapshot = n * m * 8
    if per_snapshot <= target:
        return (max(1, min(s, target // max(per_snapshot, 1))), n, m)
    if whole == "sample":
        return (1, n, int(min(m, max(1, target // (n * 8 * cm)) * cm)))
    return (1, int(min(n, max(1, target // (m * 8 * cn)) * cn)), m)


def activation_blocks(run: Any, layer: str, idx: np.ndarray, *, whole: str = "neuron"):
    """A layer's activations at the snapshot positions ``idx``, lazily: dask array (S, n, N).

    Blocks follow :func:`block_chunks` (``whole`` axis unsplit) and read only what
    they hold; values keep the stored dtype (float32 or float16).
    """
    name = run.layer_info(layer)["array"]
    shape, storage, _ = run.chunking(name)
    chunks = block_chunks(shape, storage, whole=whole)
    data = run.dask_array(name, chunks=chunks)
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == shape[0] and np.array_equal(idx, np.arange(shape[0])):
        return data
    return data[idx]


def per_snapshot(array: Any, values: np.ndarray):
    """``values`` (S, ...) as a dask array chunked along snapshots like ``array``'s first axis."""
    import dask.array as da

    values = np.asarray(values)
    return da.from_array(values, chunks=(array.chunks[0], *values.shape[1:]))


def compute(*arrays: Any) -> tuple[Any, ...]:
    """Compute dask collections together with the active scheduler (threads, or a distributed Client)."""
    import dask

    return dask.compute(*arrays)
