"""Chunk files of a run's arrays: written straight into the Zarr v3 layout, and found again.

A snapshot's part of an array is one or more chunk files
``<array>/c/<snapshot>/<j>/<k>...`` (one index per per-snapshot axis), each the Blosc
frame (LZ4, bit-shuffled) of the chunk's little-endian bytes: the arrays' declared
codecs, ``bytes`` then ``blosc``. Edge chunks are padded to the full chunk shape with
the fill value, as Zarr stores them. Writing them directly skips Zarr's per-call
machinery (about 1 ms per array), which matters inside training; every file is
written under a temporary name (``*.partial``) and renamed into place.

:func:`chunk_files_of` lists the files a committed snapshot must have, so that
readers can tell a deleted chunk from one that holds NaN (Zarr returns the fill
value for a missing chunk).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._format import PARTIAL, atomic_write_text, write_all


def chunk_grid(arr: Any) -> tuple[int, ...] | None:
    """The regular chunk shape of a Zarr array (None for another grid)."""
    try:
        return tuple(int(c) for c in arr.metadata.chunk_grid.chunk_shape)
    except AttributeError:
        return None


def local_root(arr: Any) -> Path | None:
    """The folder of a Zarr array in a local store (None for other stores)."""
    try:
        from zarr.storage import LocalStore
    except ImportError:  # pragma: no cover - zarr is a dependency
        return None
    store = arr.store_path.store
    if not isinstance(store, LocalStore):
        return None
    return Path(store.root) / arr.store_path.path


def chunk_ranges(start: int, stop: int, size: int) -> range:
    """Indices of the chunks of ``size`` that the half-open range [start, stop) touches."""
    if stop <= start:
        return range(0)
    return range(start // size, -(-stop // size))


def chunk_files_of(root: Path, snapshot: int, shape: Sequence[int], chunks: Sequence[int],
                   region: Sequence[slice] | None = None) -> Iterator[Path]:
    """The chunk files of one snapshot (``shape``/``chunks`` per snapshot), within ``region``."""
    axes = []
    for i, (n, c) in enumerate(zip(shape, chunks, strict=True)):
        sl = slice(0, n) if region is None else region[i]
        start, stop, _ = sl.indices(n)
        axes.append(chunk_ranges(start, stop, c))
    base = root / "c" / str(snapshot)
    for coords in itertools.product(*axes):
        yield base.joinpath(*map(str, coords))


class ChunkFiles:
    """Write chunks of per-snapshot arrays straight into a Zarr v3 local store.

    ``write(name, index, value, start)`` takes the slice ``[start, start + len)`` of
    the array's ``sample`` axis (the whole snapshot by default) and writes every
    chunk it completes; a chunk that a slice covers only in part waits in memory
    until the rest of it arrives (never more than one chunk band per array).
    """

    def __init__(self, arrays: dict[str, Any], sample_axes: dict[str, int | None]):
        from numcodecs import Blosc

        # From a thread other than the main one, numcodecs' Blosc runs single-threaded.
        self._codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE)
        self._info: dict[str, tuple[Path, tuple[int, ...], tuple[int, ...], Any, Any, int | None]] = {}
        for name, arr in arrays.items():
            root = local_root(arr)
            grid = chunk_grid(arr)
            self._info[name] = (root, tuple(arr.shape[1:]), grid[1:], arr.dtype, arr.fill_value,
                                sample_axes.get(name))
        self._bands: dict[tuple[str, int, int], list[Any]] = {}
        self._dirs: set[str] = {str(info[0]) for info in self._info.values()}  # folders known to exist

    def set_length(self, length: int) -> None:
        """Set the first dimension of every array in its ``zarr.json`` (atomic rewrite).

        Only the shape changes; chunks beyond the new length are never written
        before it grows again, so nothing else needs touching. Done without Zarr's
        event loop, which may already be stopped when this runs at interpreter exit.
        """
        for root, *_ in self._info.values():
            meta_path = root / "zarr.json"
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["shape"] = [int(length), *meta["shape"][1:]]
            atomic_write_text(meta_path, json.dumps(meta, indent=2))

    def discard(self, first: int) -> None:
        """Forget chunks of snapshots ``first`` and later still waiting for the rest of their data."""
        for key in [k for k in self._bands if k[1] >= first]:
            del self._bands[key]

    def write(self, name: str, index: int, value: np.ndarray, start: int = 0) -> None:
        """Write the chunks of snapshot ``index`` that ``value`` (rows from ``start``) completes."""
        _, shape, chunks, dtype, fill, s = self._info[name]
        if s is None or (start == 0 and value.shape[s] == shape[s] and chunks[s] >= shape[s]):
            self._write_block(name, index, value, 0)  # the small case: the whole snapshot in one band
            return
        size, stop = chunks[s], start + value.shape[s]
        for j in chunk_ranges(start, stop, size):
            c0, c1 = j * size, min((j + 1) * size, shape[s])
            a, b = max(c0, start), min(c1, stop)
            part = value[(slice(None),) * s + (slice(a - start, b - start),)] if (a, b) != (start, stop) else value
            if (a, b) == (c0, c1):
                self._write_block(name, index, part, j)
                continue
            key = (name, index, j)
            band = self._bands.get(key)
            if band is None:
                band_shape = list(shape)
                band_shape[s] = c1 - c0
                band = self._bands[key] = [np.full(band_shape, fill, dtype=dtype), 0]
            where = [slice(None)] * len(shape)
            where[s] = slice(a - c0, b - c0)
            band[0][tuple(where)] = part
            band[1] += b - a
            if band[1] >= c1 - c0:
                del self._bands[key]
                self._write_block(name, index, band[0], j)

    def _write_block(self, name: str, index: int, block: np.ndarray, j: int) -> None:
        """Write a band of whole chunks (full extent on every axis but the sample axis's chunk ``j``)."""
        root, _, chunks, dtype, fill, s = self._info[name]
        axes = [range(-(-d // c)) if i != s else [j] for i, (d, c) in enumerate(zip(block.shape, chunks, strict=True))]
        single = all(len(a) == 1 for a in axes)
        for coords in itertools.product(*axes):
            if single:
                sub = block
            else:
                sub = block[tuple(slice(0, None) if i == s else slice(c * chunks[i], (c + 1) * chunks[i])
                                  for i, c in enumerate(coords))]
            if sub.shape != chunks:
                padded = np.full(chunks, fill, dtype=dtype)
                padded[tuple(slice(0, d) for d in sub.shape)] = sub
                sub = padded
            *folders, last = map(str, coords)
            self._write_file(os.path.join(str(root), "c", str(index), *folders), last, sub, dtype)

    def _make_folder(self, folder: str) -> None:
        """Create ``folder`` and its missing parents, one ``mkdir`` each (the snapshot's folders are new)."""
        missing = []
        while folder not in self._dirs and os.path.dirname(folder) != folder:
            missing.append(folder)
            folder = os.path.dirname(folder)
        for path in reversed(missing):  # the array folders exist: at most c/, c/<snapshot>/, ... are made
            try:
                os.mkdir(path)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise
            self._dirs.add(path)

    def _write_file(self, folder: str, name: str, sub: np.ndarray, dtype: Any) -> None:
        data = self._codec.encode(np.ascontiguousarray(sub, dtype=np.dtype(dtype).newbyteorder("<")))
        if folder not in self._dirs:
            self._make_folder(folder)
        target = os.path.join(folder, name)
        tmp = f"{target}.{os.getpid()}{PARTIAL}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def direct_chunk_files(arrays: dict[str, Any], sample_axes: dict[str, int | None]) -> ChunkFiles | None:
    """A direct chunk writer when the arrays use the layout it writes, else None (use Zarr)."""
    try:
        from zarr.codecs import BloscCodec, BytesCodec

        for arr in arrays.values():
            meta = arr.metadata
            codecs = tuple(meta.codecs)
            encoding = meta.chunk_key_encoding
            grid = chunk_grid(arr)
            if not (
                local_root(arr) is not None
                and getattr(encoding, "name", None) == "default"
                and getattr(encoding, "separator", None) == "/"
                and len(codecs) == 2
                and isinstance(codecs[0], BytesCodec)
                and isinstance(codecs[1], BloscCodec)
                and str(getattr(codecs[1].cname, "value", codecs[1].cname)) == "lz4"
                and str(getattr(codecs[1].shuffle, "value", codecs[1].shuffle)) == "bitshuffle"
                and codecs[1].clevel == 5
                and grid is not None
                and grid[0] == 1
            ):
                return None
        return ChunkFiles(arrays, sample_axes)
    except Exception:  # any surprise in zarr's API: fall back to its own writes
        return None


def stale_partials(path: Path) -> list[Path]:
    """Temporary files (``*.partial``) a killed writer left in a run folder and its arrays."""
    found = [p for p in path.glob(f".*{PARTIAL}") if p.is_file()]
    arrays = path / "arrays.zarr"
    if arrays.is_dir():
        for folder, _, files in os.walk(arrays):
            found.extend(Path(folder) / f for f in files if f.endswith(PARTIAL))
    return found
