"""The on-disk run format: crash-safe writing and lazy reading.

A *run* is a directory::

    run/
      manifest.json      what was recorded: format version, dataset, probe samples,
                         class names, layers and their sizes, model, configuration
      snapshots.jsonl    the commit log: one JSON line per completed snapshot
      arrays.zarr/       Zarr v3 group, one array per recorded quantity, chunked one
                         snapshot per chunk along the first axis
        probe_inputs             (sample, ...)                  the probe set itself
        activations/<layer>      (snapshot, sample, neuron)
        outputs/logits           (snapshot, sample, class)      when the model has them
        outputs/probabilities    (snapshot, sample, class)
        outputs/mc_probabilities (snapshot, mc, sample, class)  with MC-dropout passes

Crash safety: a snapshot's arrays are written first (Zarr's local store writes every
file to a temporary name and renames it into place), and only then is its line
appended to ``snapshots.jsonl`` in a single ``write``. Readers trust nothing that
the commit log does not list, so a process killed at any moment leaves a run that
opens with every completed snapshot and no partial one. Arrays grow in blocks
(their Zarr shape may exceed the number of committed snapshots while recording) and
are trimmed when recording ends.

Chunks are encoded as Zarr v3 ``bytes`` (little-endian) then ``blosc`` (LZ4, level 5,
bit-shuffle); :class:`RunWriter` writes each snapshot's chunk file itself when the
arrays have exactly that layout and leaves the write to Zarr otherwise.

:func:`run_layout` is the one description of what a run holds (manifest, per-snapshot
array specs, static arrays); the recorder and :func:`actconf.testing.write_synthetic_run`
both build their runs with it. :func:`softmax` is the one numpy softmax of actconf.

Writing needs only numpy and zarr (so that this file, ``errors.py`` and
``callbacks.py`` can be copied into a project that does not install actconf);
reading additionally uses pandas, xarray and dask, imported when a run is opened.

State beyond the objects: a :class:`RunWriter` with ``background=True`` registers an
``atexit`` hook (removed by ``close``) that gives queued snapshots a bounded time to
commit when the interpreter exits. Nothing else is module-level state.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import (
    CorruptRunError,
    InvalidParameterError,
    MissingDataError,
    NotARunError,
    RunExistsError,
    RunFormatError,
)

FORMAT_NAME = "actconf-run"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots.jsonl"
ARRAYS = "arrays.zarr"
_INITIAL_CAPACITY = 16

__all__ = [
    "FORMAT_VERSION",
    "Run",
    "RunLayout",
    "RunWriter",
    "is_run",
    "open_run",
    "run_layout",
    "softmax",
]


# --------------------------------------------------------------------------- helpers
def _atomic_write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and paths so that ``json`` can write them."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else (1e308 if value > 0 else -1e308)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding an actconf run (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def safe_array_key(name: str) -> str:
    """A Zarr-safe node name for a layer name (letters, digits, ``_``, ``-``, ``.``)."""
    key = "".join(c if (c.isalnum() or c in "_-.") else "_" for c in name)
    return key or "_"


def softmax(z: Any) -> np.ndarray:
    """Softmax over the last axis, computed in float64 (max-shifted, so large logits are safe).

    Returns float64; cast the result where another dtype is stored.
    """
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_target_directory(path: Path, overwrite: bool) -> None:
    """Refuse to write where a run (or unrelated data) already is; see ``RunWriter``."""
    if path.exists() and not path.is_dir():
        raise RunExistsError(
            f"Cannot record into {str(path)!r}: it exists and is a file, not a directory. "
            "Choose another directory."
        )
    if is_run(path):
        if not overwrite:
            raise RunExistsError(
                f"{str(path)!r} already holds an actconf run; it was left untouched. "
                "Choose a new directory, or pass overwrite=True to replace that run."
            )
        return
    if path.is_dir() and any(path.iterdir()):
        raise RunExistsError(
            f"{str(path)!r} is a non-empty directory that is not an actconf run; actconf "
            "will not write into it (not even with overwrite=True, which only replaces runs). "
            "Choose a new or empty directory."
        )


# --------------------------------------------------------------------------- layout
class RunLayout(NamedTuple):
    """What a run holds, in the form :class:`RunWriter` takes (see :func:`run_layout`)."""

    manifest: dict[str, Any]
    arrays: dict[str, tuple[tuple[int, ...], tuple[str, ...], str]]
    static: dict[str, tuple[np.ndarray, tuple[str, ...]]]


def layer_entries(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Manifest entries of recorded layers, each with a distinct Zarr ``array`` key.

    Every entry needs ``name`` and ``n_neurons``; its other fields (``kind``,
    ``class``, ``output_shape``, ...) are kept. An entry without ``array`` gets
    ``"activations/" + safe_array_key(name)``, with ``_`` appended until it is unique.
    """
    entries, used = [], set()
    for layer in layers:
        entry = dict(layer)
        key = entry.get("array") or "activations/" + safe_array_key(str(entry["name"]))
        while key in used:
            key += "_"
        used.add(key)
        entry["array"] = key
        entry["n_neurons"] = int(entry["n_neurons"])
        entries.append(entry)
    return entries


def run_layout(
    *,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    layers: Sequence[Mapping[str, Any]],
    logits: bool,
    mc_samples: int = 0,
    probe_indices: Sequence[int] | np.ndarray | None = None,
    probe_inputs: np.ndarray | None = None,
    input_shape: Sequence[int] | None = None,
    **sections: Any,
) -> RunLayout:
    """The manifest, array specs and static arrays of a run: the one place that defines them.

    Parameters
    ----------
    labels : sequence of int
        True class of every probe sample (-1 = unknown); fixes the number of samples.
    class_names : sequence of str
        One name per model output.
    layers : sequence of dict
        Recorded layers, each with ``name`` and ``n_neurons`` (see :func:`layer_entries`).
    logits : bool
        Whether ``outputs/logits`` is recorded (``outputs/probabilities`` always is).
    mc_samples : int, default=0
        MC-dropout passes per snapshot (``outputs/mc_probabilities`` when > 0).
    probe_indices : sequence of int, optional
        Index of each probe sample in its dataset split; ``0..n-1`` by default.
    probe_inputs : array of shape (n_samples, ...), optional
        Stored once as the static array ``probe_inputs``.
    input_shape : sequence of int, optional
        Shape of one probe input; taken from ``probe_inputs`` when not given.
    **sections
        Further top-level manifest fields (``dataset``, ``model``, ``recorder``,
        ``config``, ``versions``, ...); ``output_mode`` becomes ``outputs.mode``.

    Returns
    -------
    RunLayout
        ``(manifest, arrays, static)``, to pass on to :class:`RunWriter`.
    """
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    n, k = len(labels), len(class_names)
    indices = range(n) if probe_indices is None else np.asarray(probe_indices).reshape(-1)
    entries = layer_entries(layers)
    arrays: dict[str, tuple[tuple[int, ...], tuple[str, ...], str]] = {
        e["array"]: ((n, e["n_neurons"]), ("snapshot", "sample", "neuron"), "float32") for e in entries
    }
    arrays["outputs/probabilities"] = ((n, k), ("snapshot", "sample", "class"), "float32")
    if logits:
        arrays["outputs/logits"] = ((n, k), ("snapshot", "sample", "class"), "float32")
    if mc_samples:
        arrays["outputs/mc_probabilities"] = ((int(mc_samples), n, k), ("snapshot", "mc", "sample", "class"),
                                              "float32")
    static = {}
    probe: dict[str, Any] = {"indices": [int(i) for i in indices], "labels": labels}
    if probe_inputs is not None:
        dims = ("sample",) + tuple(f"input_{i}" for i in range(probe_inputs.ndim - 1))
        static["probe_inputs"] = (probe_inputs, dims)
        input_shape = probe_inputs.shape[1:] if input_shape is None else input_shape
    if input_shape is not None:
        probe["input_shape"] = [int(d) for d in input_shape]
    outputs: dict[str, Any] = {"logits": bool(logits), "mc_samples": int(mc_samples)}
    if "output_mode" in sections:
        outputs = {"mode": sections.pop("output_mode"), **outputs}
    manifest = {"dataset": sections.pop("dataset", {}), "probe": probe, "class_names": [str(c) for c in class_names],
                "layers": entries, "outputs": outputs, **sections}
    return RunLayout(manifest, arrays, static)


# --------------------------------------------------------------------------- writing
class _ChunkFiles:
    """Write whole per-snapshot chunks straight into a Zarr v3 local store.

    A snapshot's chunk of an array with chunks ``(1, *shape)`` is one file,
    ``<array>/c/<snapshot>/0/...``, holding the Blosc frame (LZ4, bit-shuffled) of the
    array's little-endian bytes (the arrays' declared codecs: ``bytes`` then ``blosc``;
    about 0.1 ms per 256 kB, compressing ReLU activations to about 85 %).
    Writing it directly skips Zarr's per-call machinery (about 1 ms per array),
    which matters inside training. Each file is written under a temporary name and
    renamed into place, as Zarr's own store does.
    """

    def __init__(self, arrays: Any):
        from numcodecs import Blosc

        # From a thread other than the main one, numcodecs' Blosc runs single-threaded.
        self._codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE)
        self._dirs = {}
        for arr in arrays:
            root = Path(arr.store_path.store.root) / arr.store_path.path
            self._dirs[arr.path] = (root, ("0",) * (arr.ndim - 1))

    def set_length(self, length: int) -> None:
        """Set the first dimension of every array in its ``zarr.json`` (atomic rewrite).

        Only the shape changes; chunks beyond the new length are never written
        before it grows again, so nothing else needs touching. Done without Zarr's
        event loop, which may already be stopped when this runs at interpreter exit.
        """
        for root, _ in self._dirs.values():
            meta_path = root / "zarr.json"
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["shape"] = [int(length), *meta["shape"][1:]]
            _atomic_write_text(meta_path, json.dumps(meta, indent=2))

    def write(self, name: str, index: int, value: np.ndarray) -> None:
        root, rest = self._dirs[name]
        data = self._codec.encode(np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")))
        target = root.joinpath("c", str(index), *rest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)


def _direct_chunk_writes(arrays: Any) -> _ChunkFiles | None:
    """A direct chunk writer when the arrays use the layout it writes, else None (use Zarr)."""
    try:
        from zarr.codecs import BloscCodec, BytesCodec
        from zarr.storage import LocalStore

        for arr in arrays:
            meta = arr.metadata
            codecs = tuple(meta.codecs)
            encoding = meta.chunk_key_encoding
            if not (
                isinstance(arr.store_path.store, LocalStore)
                and getattr(encoding, "name", None) == "default"
                and getattr(encoding, "separator", None) == "/"
                and len(codecs) == 2
                and isinstance(codecs[0], BytesCodec)
                and isinstance(codecs[1], BloscCodec)
                and str(getattr(codecs[1].cname, "value", codecs[1].cname)) == "lz4"
                and str(getattr(codecs[1].shuffle, "value", codecs[1].shuffle)) == "bitshuffle"
                and codecs[1].clevel == 5
                and tuple(meta.chunk_grid.chunk_shape) == (1, *arr.shape[1:])
            ):
                return None
        return _ChunkFiles(arrays)
    except Exception:  # any surprise in zarr's API: fall back to its own writes
        return None


def _complete_manifest(manifest: Mapping[str, Any], specs: Mapping[str, tuple], static: Mapping[str, tuple]) -> dict:
    """The manifest as written: the caller's fields plus format, creation time and array specs."""
    full = dict(manifest)
    full["format"] = FORMAT_NAME
    full["format_version"] = FORMAT_VERSION
    full.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    full["arrays"] = {
        name: {"shape": list(shape), "dims": list(dims), "dtype": dtype} for name, (shape, dims, dtype) in specs.items()
    }
    full["static_arrays"] = {
        name: {"shape": list(value.shape), "dims": list(dims), "dtype": str(value.dtype)}
        for name, (value, dims) in static.items()
    }
    return jsonable(full)


class RunWriter:
    """Append snapshots to a run directory, crash-safely.

    Parameters
    ----------
    path : path-like
        The run directory. It must not exist, be empty, or (with ``overwrite=True``)
        hold a previous run, which is then deleted.
    manifest : dict
        JSON-serialisable description of the run. ``format``, ``format_version`` and
        ``arrays`` are filled in by the writer.
    arrays : dict
        ``name -> (per_snapshot_shape, dims, dtype)``; ``dims`` names every axis
        including the leading ``"snapshot"``.
    static : dict, optional
        ``name -> (array, dims)`` written once (e.g. the probe inputs).
    overwrite : bool, default=False
        Replace an existing run at ``path``.
    fsync : bool, default=False
        Also ``fsync`` the commit log after every snapshot. Not needed for crash
        safety against a killed process; it protects against power loss, at a cost.
    background : bool, default=False
        Write and commit snapshots in a writer thread, so that ``append`` returns
        after copying the arrays (at most two snapshots wait in the queue). The
        commit protocol is unchanged: a snapshot is visible only once complete.

    Notes
    -----
    Validate everything before constructing a writer: the constructor is the first
    step that touches the disk.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        manifest: Mapping[str, Any],
        arrays: Mapping[str, tuple[Sequence[int], Sequence[str], str]],
        static: Mapping[str, tuple[np.ndarray, Sequence[str]]] | None = None,
        overwrite: bool = False,
        fsync: bool = False,
        background: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fsync = bool(fsync)
        self._specs = {
            name: (tuple(int(s) for s in shape), tuple(dims), str(np.dtype(dtype)))
            for name, (shape, dims, dtype) in arrays.items()
        }
        for name, (shape, dims, _) in self._specs.items():
            if len(dims) != len(shape) + 1 or dims[0] != "snapshot":
                raise InvalidParameterError(
                    f"Array {name!r}: dims {dims} must start with 'snapshot' and name every "
                    f"axis of the per-snapshot shape {shape}."
                )
        static = {name: (np.asarray(value), tuple(dims)) for name, (value, dims) in (static or {}).items()}
        check_target_directory(self.path, overwrite)
        if is_run(self.path):  # overwrite=True: replace the previous run entirely
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

        self.manifest = _complete_manifest(manifest, self._specs, static)
        # The commit log exists (empty) before the manifest: a directory with a
        # manifest is always a complete, openable run (with 0 snapshots until the
        # first commit, which needs the arrays: readers never look at them before).
        (self.path / SNAPSHOTS).write_bytes(b"")
        _atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=1), fsync=self.fsync)
        self._fd = os.open(self.path / SNAPSHOTS, os.O_WRONLY | os.O_APPEND)
        self.n_snapshots = 0  # committed
        self._n_appended = 0
        self._arrays: dict[str, Any] = {}
        self._direct: _ChunkFiles | None = None
        self._capacity = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        if background:
            # Every disk step after this point (creating the arrays, writing, trimming)
            # runs in order in the writer thread; append() only copies and enqueues.
            self._queue = queue.Queue(maxsize=3)
            self._thread = threading.Thread(target=self._work, name="actconf-writer", daemon=True)
            self._thread.start()
            atexit.register(self._flush_at_exit)
        self._do(self._create_arrays, static)

    def _create_arrays(self, static: Mapping[str, tuple[np.ndarray, tuple[str, ...]]]) -> None:
        import zarr

        root = zarr.open_group(str(self.path / ARRAYS), mode="w", zarr_format=3)
        for name, (shape, dims, dtype) in self._specs.items():
            fill = np.nan if np.dtype(dtype).kind == "f" else 0
            self._arrays[name] = root.create_array(
                name,
                shape=(_INITIAL_CAPACITY, *shape),
                chunks=(1, *shape) if shape else (1,),
                dtype=dtype,
                fill_value=fill,
                dimension_names=list(dims),
                serializer=zarr.codecs.BytesCodec(endian="little"),
                compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle",
                                                   typesize=np.dtype(dtype).itemsize),
            )
        self._capacity = _INITIAL_CAPACITY
        self._direct = _direct_chunk_writes(self._arrays.values())
        for name, (value, dims) in static.items():
            arr = root.create_array(
                name,
                shape=value.shape,
                chunks=value.shape if value.size else None,
                dtype=value.dtype,
                dimension_names=list(dims),
            )
            arr[...] = value

    # ..................................................................... tasks
    def _do(self, fn: Any, *args: Any) -> None:
        """Run a disk step now, or queue it for the writer thread."""
        if self._queue is None:
            fn(*args)
        else:
            self._queue.put((fn, args))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    fn, args = item
                    fn(*args)
            except BaseException as exc:  # reported to the caller at its next append/flush
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc

    # ..................................................................... appending
    def append(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> int:
        """Write one snapshot and commit it; return its index.

        ``arrays`` must hold every declared array with its per-snapshot shape.
        Without ``background``, the snapshot is committed (visible to readers) when
        this returns; with it, the arrays are copied and committed by the writer
        thread shortly after (call :meth:`flush` to wait).
        """
        self._raise_pending()
        if self._fd is None:
            raise InvalidParameterError("This RunWriter is closed; open a new one to write more.")
        missing = set(self._specs) - set(arrays)
        if missing:
            raise InvalidParameterError(f"append() is missing arrays {sorted(missing)}.")
        values = {}
        for name, (shape, _, dtype) in self._specs.items():
            value = np.array(arrays[name], dtype=dtype, copy=self._queue is not None)
            if value.shape != shape:
                raise InvalidParameterError(
                    f"append(): array {name!r} has shape {value.shape}, expected {shape}."
                )
            values[name] = value
        index = self._n_appended
        self._n_appended += 1
        self._do(self._write, index, values, dict(meta))
        return index

    def _write(self, index: int, values: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        if index >= self._capacity:
            self._grow(max(2 * self._capacity, index + 1))
        for name, value in values.items():
            if self._direct is not None:
                self._direct.write(name, index, value)
            else:
                self._arrays[name][index] = value
        row = dict(jsonable(meta))
        row["index"] = index
        line = (json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8")
        os.write(self._fd, line)  # one write: the commit point
        if self.fsync:
            os.fsync(self._fd)
        self.n_snapshots = index + 1

    def _set_capacity(self, capacity: int) -> None:
        if self._direct is not None:
            self._direct.set_length(capacity)
        else:
            for name, arr in self._arrays.items():
                arr.resize((capacity, *self._specs[name][0]))
        self._capacity = capacity

    def _grow(self, capacity: int) -> None:
        self._set_capacity(capacity)

    def _trim_now(self) -> None:
        if self._capacity != self.n_snapshots:
            self._set_capacity(self.n_snapshots)

    def flush(self) -> None:
        """Wait until every appended snapshot is committed (no-op without ``background``)."""
        if self._queue is not None:
            self._queue.join()
        self._raise_pending()

    def _flush_at_exit(self, timeout: float = 60.0) -> None:
        """Give queued snapshots a bounded time to commit when the interpreter exits."""
        deadline = time.monotonic() + timeout
        while self._queue is not None and self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def update_manifest(self, **fields: Any) -> None:
        """Add or replace top-level manifest fields (written atomically)."""
        self.manifest.update(jsonable(fields))
        _atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=1), fsync=self.fsync)

    def trim(self, *, wait: bool = True) -> None:
        """Shrink the arrays to the committed snapshots (``close`` does it too).

        With ``background`` and ``wait=False``, the trim is queued behind the
        pending snapshots and this returns at once.
        """
        self._do(self._trim_now)
        if wait:
            self.flush()

    def close(self) -> None:
        """Commit what is queued, trim the arrays and close the commit log. Safe to call twice."""
        if self._fd is None:
            return
        try:
            self.trim()
        finally:
            if self._queue is not None:
                self._queue.put(None)
                self._thread.join()
                atexit.unregister(self._flush_at_exit)
                self._queue = None
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and getattr(self, "_queue", None) is None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- reading
def open_run(path: str | os.PathLike) -> Run:
    """Open a run directory written by :class:`~actconf.ActivationRecorder`.

    Opening is cheap: arrays are read lazily, when used. A run that is still being
    recorded can be opened and later brought up to date with :meth:`Run.refresh`.

    Parameters
    ----------
    path : path-like
        The run directory.

    Returns
    -------
    Run

    Raises
    ------
    NotARunError
        ``path`` does not exist or holds no run.
    RunFormatError
        The run was written by a newer actconf.
    CorruptRunError
        The manifest or commit log is damaged.
    """
    return Run(path)


class _SnapshotArray:
    """Array-like view of the committed part of a Zarr array, for ``dask.array.from_array``.

    Reading errors are re-raised as :class:`CorruptRunError` naming the array and the
    snapshot whose chunk is damaged.
    """

    def __init__(self, run: Run, name: str, n: int):
        self._run = run
        self._name = name
        z = run._zarr_array(name)
        self._z = z
        self.shape = (n, *z.shape[1:])
        self.dtype = z.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self._z[key])
        except Exception as exc:  # find the first unreadable snapshot in the request
            first = key[0] if isinstance(key, tuple) else key
            snaps = range(self.shape[0])[first] if isinstance(first, slice) else [int(first)]
            for i in snaps:
                try:
                    self._z[i]
                except Exception as inner:
                    raise self._run._damaged(self._name, i, inner) from inner
            raise CorruptRunError(
                f"Array {self._name!r} of run {str(self._run.path)!r} cannot be read: {exc}"
            ) from exc


class Run:
    """A recorded training run, opened from disk (see :func:`open_run`).

    Attributes
    ----------
    path : pathlib.Path
    manifest : dict
        Everything recorded about the run's setup.
    snapshots : pandas.DataFrame
        One row per committed snapshot, indexed ``0..n-1`` ("snapshot"), with
        columns ``kind`` ("initial", "batch", "epoch"), ``epoch``, ``batch``,
        ``step``, ``progress`` (epochs of training done, as a float), ``label``,
        ``time`` (seconds since training began), ``wall_time``, ``nonfinite`` and
        the Keras logs at that point (``loss``, ``accuracy``, ``val_*``, ...).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise NotARunError(
                f"{str(self.path)!r} does not exist or is not a directory. Pass the directory "
                "that ActivationRecorder (or `actconf run --out`) wrote."
            )
        if not is_run(self.path):
            raise NotARunError(
                f"{str(self.path)!r} is not an actconf run: it has no {MANIFEST}. Pass the "
                "directory that ActivationRecorder (or `actconf run --out`) wrote."
            )
        try:
            manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptRunError(f"The manifest of run {str(self.path)!r} is damaged: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise NotARunError(f"{str(self.path / MANIFEST)!r} is not an actconf run manifest.")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise RunFormatError(
                f"Run {str(self.path)!r} has format version {version!r}, but this actconf reads "
                f"versions up to {FORMAT_VERSION}. Upgrade actconf (pip install -U actconf)."
            )
        self.manifest: dict[str, Any] = manifest
        self._rows: list[dict[str, Any]] = []
        self._log_offset = 0
        self._zarr_root = None
        self._zarr_cache: dict[str, Any] = {}
        self._table = None
        self.refresh()

    # ..................................................................... metadata
    def refresh(self) -> int:
        """Read snapshots committed since the last look; return how many are new."""
        try:
            with open(self.path / SNAPSHOTS, "rb") as fh:
                fh.seek(self._log_offset)
                data = fh.read()
        except FileNotFoundError as exc:
            raise CorruptRunError(f"Run {str(self.path)!r} has no {SNAPSHOTS}: {exc}") from exc
        new = 0
        pos = 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:  # an incomplete last line is a commit that never finished
                break
            line = data[pos:end]
            try:
                row = json.loads(line)
                ok = isinstance(row, dict) and row.get("index") == len(self._rows)
            except ValueError:
                ok = False
            if not ok:
                raise CorruptRunError(
                    f"{SNAPSHOTS} of run {str(self.path)!r} is damaged at snapshot "
                    f"{len(self._rows)} (byte {self._log_offset + pos}): {line[:80]!r}."
                )
            self._rows.append(row)
            pos = end + 1
            new += 1
        self._log_offset += pos
        if new:
            self._table = None
        return new

    @property
    def n_snapshots(self) -> int:
        """Number of committed snapshots."""
        return len(self._rows)

    @property
    def snapshots(self):
        """The snapshot table (see the class docstring)."""
        if self._table is None:
            import pandas as pd

            records = []
            for row in self._rows:
                rec = {k: v for k, v in row.items() if k not in ("logs", "index")}
                for key, value in (row.get("logs") or {}).items():
                    rec[key] = np.nan if value is None else value
                records.append(rec)
            table = pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records), name="snapshot"))
            if "label" not in table and len(table):
                table["label"] = [snapshot_label(r) for r in self._rows]
            self._table = table
        return self._table

    @property
    def layers(self) -> list[str]:
        """Names of the recorded layers, in model order."""
        return [entry["name"] for entry in self.manifest["layers"]]

    @property
    def layer_sizes(self) -> dict[str, int]:
        """Number of neurons recorded per layer."""
        return {entry["name"]: int(entry["n_neurons"]) for entry in self.manifest["layers"]}

    @property
    def labels(self) -> np.ndarray:
        """True class of every probe sample, shape ``(n_samples,)``."""
        return np.asarray(self.manifest["probe"]["labels"], dtype=np.int64)

    @property
    def probe_indices(self) -> np.ndarray:
        """Index of every probe sample in the dataset's test split (or -1 if unknown)."""
        return np.asarray(self.manifest["probe"]["indices"], dtype=np.int64)

    @property
    def n_samples(self) -> int:
        return len(self.manifest["probe"]["labels"])

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def n_classes(self) -> int:
        return len(self.manifest["class_names"])

    @property
    def has_logits(self) -> bool:
        return "outputs/logits" in self.manifest["arrays"]

    @property
    def mc_samples(self) -> int:
        """Number of MC-dropout passes recorded per snapshot (0 if none)."""
        return int(self.manifest.get("outputs", {}).get("mc_samples", 0))

    def layer_info(self, layer: str) -> dict[str, Any]:
        """Manifest entry of one layer (name, array key, kind, output shape, size)."""
        for entry in self.manifest["layers"]:
            if entry["name"] == layer:
                return entry
        raise InvalidParameterError(
            f"Layer {layer!r} is not in run {str(self.path)!r}. Recorded layers: "
            f"{', '.join(repr(n) for n in self.layers)}."
        )

    def check_layer(self, layer: str | None) -> str:
        """Return ``layer`` if recorded (``None`` means the first recorded layer)."""
        if layer is None:
            return self.layers[0]
        return self.layer_info(layer)["name"]

    def snapshot_index(self, select: Any = None) -> np.ndarray:
        """Resolve a snapshot selector to an array of snapshot positions.

        ``select`` may be ``None`` or ``"all"`` (every snapshot), ``"epochs"`` (the
        initial state and every epoch end), ``"batches"``, ``"initial"``,
        ``"final"``/``"last"``, an int (negative counts from the end), a slice, a
        sequence of ints, a boolean mask, or a dict of column values such as
        ``{"epoch": 3}`` (rows matching all of them).
        """
        n = self.n_snapshots
        table = self.snapshots
        all_idx = np.arange(n)
        if select is None or (isinstance(select, str) and select == "all"):
            idx = all_idx
        elif isinstance(select, str):
            kinds = {"epochs": ("initial", "epoch"), "batches": ("batch",), "initial": ("initial",)}
            if select in ("final", "last"):
                idx = all_idx[-1:]
            elif select in kinds:
                idx = all_idx[table["kind"].isin(kinds[select]).to_numpy()] if n else all_idx
            else:
                raise InvalidParameterError(
                    f"Unknown snapshot selector {select!r}. Use 'all', 'epochs', 'batches', "
                    "'initial', 'final', an int, a slice, a list of ints, a boolean mask or a "
                    "dict such as {'epoch': 3}."
                )
        elif isinstance(select, Mapping):
            mask = np.ones(n, dtype=bool)
            for col, value in select.items():
                if col not in table:
                    raise InvalidParameterError(
                        f"Snapshot selector column {col!r} is not in the snapshot table; columns "
                        f"are {', '.join(map(repr, table.columns))}."
                    )
                mask &= (table[col] == value).to_numpy()
            idx = all_idx[mask]
        elif isinstance(select, slice):
            idx = all_idx[select]
        else:
            arr = np.asarray(select)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise InvalidParameterError(
                        f"A boolean snapshot mask must have length {n}; got shape {arr.shape}."
                    )
                idx = all_idx[arr]
            elif np.issubdtype(arr.dtype, np.integer):
                flat = arr.reshape(-1)
                bad = flat[(flat >= n) | (flat < -n)]
                if bad.size:
                    raise InvalidParameterError(
                        f"Snapshot position(s) {bad.tolist()} out of range: run {str(self.path)!r} "
                        f"has {n} snapshots (0..{n - 1})."
                    )
                idx = all_idx[flat]
            else:
                raise InvalidParameterError(
                    f"Cannot select snapshots with {select!r}; see Run.snapshot_index for the "
                    "accepted selectors."
                )
        if idx.size == 0:
            raise InvalidParameterError(
                f"The snapshot selector {select!r} matches no snapshot of run {str(self.path)!r} "
                f"({n} snapshots; kinds: {sorted(set(table['kind'])) if n else []})."
            )
        return idx

    def snapshot_coords(self, idx: Any) -> dict[str, Any]:
        """xarray coordinates along ``snapshot`` for the snapshot positions ``idx``.

        ``snapshot`` (the positions) plus ``epoch``, ``step``, ``progress`` and
        ``snapshot_label``: what every per-snapshot DataArray of actconf carries.
        """
        idx = np.asarray(idx)
        table = self.snapshots.iloc[idx]
        return {
            "snapshot": idx,
            "epoch": ("snapshot", table["epoch"].to_numpy()),
            "step": ("snapshot", table["step"].to_numpy()),
            "progress": ("snapshot", table["progress"].to_numpy(dtype=float)),
            "snapshot_label": ("snapshot", table["label"].astype(str).to_numpy()),
        }

    def snapshot_frame(self, idx: Any):
        """Snapshot metadata for tidy tables: a DataFrame with one row per position in ``idx``.

        Columns ``snapshot``, ``kind``, ``epoch``, ``batch``, ``step``, ``progress`` and
        ``label`` (those the table has), indexed ``0..len(idx)-1``.
        """
        cols = [c for c in ("kind", "epoch", "batch", "step", "progress", "label") if c in self.snapshots]
        return self.snapshots.iloc[np.asarray(idx)][cols].reset_index()

    # ..................................................................... arrays
    def _zarr_array(self, name: str):
        import zarr

        cached = self._zarr_cache.get(name)
        if cached is not None and cached.shape[0] >= self.n_snapshots:
            return cached
        try:
            if self._zarr_root is None:
                self._zarr_root = zarr.open_group(str(self.path / ARRAYS), mode="r")
            arr = self._zarr_root[name]
        except Exception as exc:
            raise CorruptRunError(
                f"Array {name!r} of run {str(self.path)!r} cannot be opened ({type(exc).__name__}: "
                f"{exc}). Its metadata under {ARRAYS}/{name}/ is damaged or missing."
            ) from exc
        if name in self._specs_static() or arr.shape[0] >= self.n_snapshots:
            self._zarr_cache[name] = arr
            return arr
        raise CorruptRunError(
            f"Array {name!r} of run {str(self.path)!r} holds {arr.shape[0]} snapshots but "
            f"{self.n_snapshots} are committed: the array is damaged."
        )

    def _specs_static(self) -> dict[str, Any]:
        return self.manifest.get("static_arrays", {})

    def _damaged(self, name: str, snapshot: int, exc: BaseException) -> CorruptRunError:
        label = self._rows[snapshot].get("label") or snapshot_label(self._rows[snapshot])
        return CorruptRunError(
            f"Array {name!r} of run {str(self.path)!r} is damaged at snapshot {snapshot} "
            f"({label}): {type(exc).__name__}: {exc}. The other snapshots are readable, e.g. "
            f"run.read({name!r}, snapshots=[...]) without {snapshot}; or re-record the run."
        )

    def read(self, name: str, snapshots: Any = None) -> np.ndarray:
        """Read a recorded array eagerly as numpy (``snapshots`` as in :meth:`snapshot_index`)."""
        if name not in self.manifest["arrays"]:
            raise MissingDataError(
                f"Run {str(self.path)!r} has no array {name!r}; it has "
                f"{', '.join(map(repr, self.manifest['arrays']))}."
            )
        idx = self.snapshot_index(snapshots)
        view = _SnapshotArray(self, name, self.n_snapshots)
        if idx.size and np.all(np.diff(idx) == 1):
            return view[slice(int(idx[0]), int(idx[-1]) + 1)]
        return np.stack([view[int(i)] for i in idx]) if idx.size else view[0:0]

    def _lazy(self, name: str, dims: Sequence[str], coords: dict[str, Any]):
        import dask.array as da
        import xarray as xr

        n = self.n_snapshots
        if n == 0:
            raise MissingDataError(
                f"Run {str(self.path)!r} has no committed snapshot yet; wait for the first one "
                "and call run.refresh()."
            )
        view = _SnapshotArray(self, name, n)
        per = int(np.prod(view.shape[1:], dtype=np.int64)) * view.dtype.itemsize
        step = max(1, min(n, (64 << 20) // max(per, 1)))
        chunks = (step, *view.shape[1:])
        data = da.from_array(view, chunks=chunks, lock=False, asarray=True, fancy=False,
                             name=f"actconf-{self.path.name}-{name}-{n}", inline_array=True)
        return xr.DataArray(data, dims=tuple(dims), coords={**self.snapshot_coords(np.arange(n)), **coords},
                            name=name)

    def _sample_coords(self) -> dict[str, Any]:
        return {
            "sample": np.arange(self.n_samples),
            "label": ("sample", self.labels),
            "probe_index": ("sample", self.probe_indices),
        }

    def activations(self, layer: str | None = None):
        """Lazy activations of one layer, ``xarray.DataArray`` (snapshot, sample, neuron).

        ``layer=None`` means the first recorded layer. Call ``.values`` (or
        ``.isel(snapshot=...)`` first) to read.
        """
        info = self.layer_info(self.check_layer(layer))
        return self._lazy(
            info["array"],
            ("snapshot", "sample", "neuron"),
            {**self._sample_coords(), "neuron": np.arange(int(info["n_neurons"]))},
        )

    def probabilities(self):
        """Lazy predicted class probabilities, ``xarray.DataArray`` (snapshot, sample, class)."""
        return self._lazy(
            "outputs/probabilities",
            ("snapshot", "sample", "class"),
            {**self._sample_coords(), "class": self.class_names},
        )

    def logits(self):
        """Lazy logits, ``xarray.DataArray`` (snapshot, sample, class).

        Raises
        ------
        MissingDataError
            The model's output was already a probability (softmax) so no logits exist.
        """
        if not self.has_logits:
            raise MissingDataError(
                f"Run {str(self.path)!r} has no logits: the model's last layer outputs "
                "probabilities (softmax), so logit-based measures such as 'energy' are not "
                "available. Record a model whose last layer is linear (logits, as the paper's "
                "models), or use a probability-based measure (max_softmax, margin, entropy)."
            )
        return self._lazy(
            "outputs/logits",
            ("snapshot", "sample", "class"),
            {**self._sample_coords(), "class": self.class_names},
        )

    def mc_probabilities(self):
        """Lazy MC-dropout probabilities, ``xarray.DataArray`` (snapshot, mc, sample, class)."""
        if self.mc_samples == 0:
            raise MissingDataError(
                f"Run {str(self.path)!r} has no MC-dropout passes. Record them with "
                "ActivationRecorder(..., mc_samples=K) (e.g. K=20) on a model with Dropout."
            )
        return self._lazy(
            "outputs/mc_probabilities",
            ("snapshot", "mc", "sample", "class"),
            {**self._sample_coords(), "mc": np.arange(self.mc_samples), "class": self.class_names},
        )

    def probe_inputs(self) -> np.ndarray:
        """The probe inputs as recorded, shape ``(n_samples, *input_shape)``."""
        if "probe_inputs" not in self._specs_static():
            raise MissingDataError(f"Run {str(self.path)!r} did not store its probe inputs.")
        return np.asarray(self._zarr_array("probe_inputs")[...])

    def verify(self) -> None:
        """Read every committed chunk; raise :class:`CorruptRunError` at the first damaged one."""
        for name in self.manifest["arrays"]:
            view = _SnapshotArray(self, name, self.n_snapshots)
            for i in range(self.n_snapshots):
                view[i]

    # ..................................................................... display
    def summary(self) -> str:
        """A few lines that say what the run holds."""
        table = self.snapshots
        kinds = table["kind"].value_counts().to_dict() if len(table) else {}
        lines = [
            f"actconf run at {self.path}",
            f"  dataset: {self.manifest.get('dataset', {}).get('name', '?')}, "
            f"{self.n_samples} probe samples, {self.n_classes} classes",
            "  layers: " + ", ".join(f"{k} ({v} neurons)" for k, v in self.layer_sizes.items()),
            f"  snapshots: {self.n_snapshots} ("
            + ", ".join(f"{kinds.get(k, 0)} {k}" for k in ("initial", "batch", "epoch"))
            + ")",
        ]
        if len(table):
            last = table.iloc[-1]
            metrics = [f"{c}={last[c]:.4f}" for c in table.columns if c in ("loss", "accuracy", "val_loss", "val_accuracy") and np.isfinite(last[c])]
            lines.append(f"  last: {last['label']}" + (" — " + ", ".join(metrics) if metrics else ""))
            if bool(table["nonfinite"].any()):
                lines.append(f"  WARNING: {int(table['nonfinite'].sum())} snapshot(s) hold NaN/inf values (diverged training?)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<actconf.Run {str(self.path)!r}: {self.n_snapshots} snapshots, layers {self.layer_sizes}>"


def snapshot_label(row: Mapping[str, Any]) -> str:
    """Human-readable name of a snapshot row: 'initial', 'epoch 3' or 'epoch 1 · batch 10'."""
    kind = row.get("kind")
    if kind == "initial":
        return "initial"
    if kind == "batch":
        return f"epoch {row.get('epoch')} · batch {row.get('batch')}"
    return f"epoch {row.get('epoch')}"
