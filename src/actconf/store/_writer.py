"""``RunWriter``: create a run (or reopen one to append) and commit snapshots crash-safely.

A snapshot is written chunk by chunk (whole, with :meth:`RunWriter.append`, or in
slices along the sample axis with :meth:`~RunWriter.begin` / :meth:`~RunWriter.write`
/ :meth:`~RunWriter.commit`), and committed by appending its line to the commit log
once every chunk is on disk. Every write is checked (short writes are continued);
a failed commit is cut off the log again, and the snapshot's index is only used up
once its commit succeeded, so a later snapshot continues without a gap. Operating
system failures surface as :class:`~actconf.errors.StorageError`, naming the path,
the cause and the snapshots that are safely committed.

State beyond the objects: a writer with ``background=True`` registers an ``atexit``
hook (removed by ``close``) that gives queued snapshots a bounded time to commit when
the interpreter exits. While a writer is open it holds an advisory lock on the commit
log (where the platform has ``fcntl``), so that no second writer, repair or overwrite
touches a run that is being recorded.
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
from typing import Any

import numpy as np

from ..errors import (
    CorruptRunError,
    InvalidParameterError,
    RunExistsError,
    RunMismatchError,
    StorageError,
)
from ._chunks import ChunkFiles, chunk_grid, direct_chunk_files, stale_partials
from ._format import (
    ARRAYS,
    DEFAULT_CHUNK_MB,
    INITIAL_CAPACITY,
    MANIFEST,
    SNAPSHOTS,
    atomic_write_text,
    check_target_directory,
    chunk_shape,
    commit_line,
    complete_manifest,
    jsonable,
    manifest_mismatch,
    run_state,
    scan_log,
    write_all,
)

try:  # advisory locks where the platform has them
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def locked_error(path: Path) -> RunExistsError:
    """The error for a run whose commit log another writer holds."""
    return RunExistsError(
        f"Run {str(path)!r} is being written right now (its commit log is locked by another "
        "writer); it was left untouched. Wait until that recording ends, or choose another directory. "
        "If the writer is in this process (e.g. a fit() interrupted in a notebook), close it first: "
        "recorder.close() (or writer.close())."
    )


def lock_log(fd: int, path: Path) -> None:
    """Take the writer's lock on an open commit log; refuse if another writer holds it."""
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise locked_error(path) from None
    except OSError:  # a file system without locks: go on without one
        pass


def log_is_locked(path: Path) -> bool:
    """Whether a writer currently holds the lock on the run's commit log."""
    if fcntl is None or not (path / SNAPSHOTS).is_file():
        return False
    fd = os.open(path / SNAPSHOTS, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _sample_axis(dims: Sequence[str]) -> int | None:
    return list(dims[1:]).index("sample") if "sample" in dims[1:] else None


class RunWriter:
    """Append snapshots to a run directory, crash-safely.

    Parameters
    ----------
    path : path-like
        The run directory. It must not exist, be empty, or (with ``overwrite=True``)
        hold a previous or unfinished run, which is then deleted; with
        ``resume=True`` a run there is appended to.
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
        after copying the arrays (at most three writes wait in the queue). The
        commit protocol is unchanged: a snapshot is visible only once complete.
    chunk_mb : float, default=4
        Size of a chunk file in MiB (before compression). A snapshot of an array that
        fits is one chunk; larger ones are split along samples (and neurons).
    chunk_samples : int, optional
        At most this many samples per chunk (the recorder passes its probe batch size).
    resume : bool, default=False
        Append to the run at ``path`` if there is one with committed snapshots.
        Refused with :class:`~actconf.errors.RunMismatchError` when ``manifest`` and
        ``arrays`` describe another probe set, other layers, another model
        architecture or other arrays than the run's; the log's incomplete last line
        (a commit a crash cut short) is removed and stale ``*.partial`` files are
        deleted. ``last_row`` is then the run's last committed row.

    Attributes
    ----------
    n_snapshots : int
        Committed snapshots (visible to readers).
    last_row : dict or None
        The commit-log row of the last committed snapshot.

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
        chunk_mb: float = DEFAULT_CHUNK_MB,
        chunk_samples: int | None = None,
        resume: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fsync = bool(fsync)
        self._specs = _check_specs(arrays)
        self._rows_needed = {name: (shape[s] if (s := _sample_axis(dims)) is not None else 1)
                             for name, (shape, dims, _) in self._specs.items()}
        self._chunk_options = _check_chunking(chunk_mb, chunk_samples)
        if resume and overwrite:
            raise InvalidParameterError(
                "RunWriter(): pass either overwrite=True (replace a run) or resume=True (append to it), not both."
            )
        static = {name: (np.asarray(value), tuple(dims)) for name, (value, dims) in (static or {}).items()}
        check_target_directory(self.path, overwrite, resume=resume)
        self.n_snapshots = 0  # committed
        self.last_row: dict[str, Any] | None = None
        self._next = 0  # index of the next snapshot to begin
        self._current: dict[str, Any] | None = None
        self._fd: int | None = None
        self._log_size = 0
        self._log_dirty = False
        self._arrays: dict[str, Any] = {}
        self._direct: ChunkFiles | None = None
        self._capacity = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        state = run_state(self.path)
        if not (resume and state == "run" and self._reopen(manifest, static)):
            self._create(manifest, static, replace=state in ("run", "unfinished"))
        if background:
            # Every disk step after this point (creating the arrays, writing, trimming)
            # runs in order in the writer thread; append() only copies and enqueues.
            self._queue = queue.Queue(maxsize=3)
            self._thread = threading.Thread(target=self._work, name="actconf-writer", daemon=True)
            self._thread.start()
            atexit.register(self._flush_at_exit)
        if not self._arrays:
            self._do(self._create_arrays, static)

    # ..................................................................... creating
    def _create(self, manifest: Mapping[str, Any], static: Mapping[str, tuple], *, replace: bool) -> None:
        self.manifest = complete_manifest(manifest, self._specs, static)
        self._chunks = {name: chunk_shape(shape, dims, dtype, **self._chunk_options)
                        for name, (shape, dims, dtype) in self._specs.items()}
        try:
            if replace:  # overwrite=True (or resume of a run without snapshots): replace it entirely
                if log_is_locked(self.path):
                    raise locked_error(self.path)
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True, exist_ok=True)
            # The commit log exists (empty) before the manifest: a directory with a
            # manifest is always a complete, openable run (with 0 snapshots until the
            # first commit, which needs the arrays: readers never look at them before).
            self._fd = os.open(self.path / SNAPSHOTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
            lock_log(self._fd, self.path)
            atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=1), fsync=self.fsync)
        except OSError as exc:
            if isinstance(exc, RunExistsError):
                raise
            raise self._storage_error("create the run", exc) from exc

    def _create_arrays(self, static: Mapping[str, tuple[np.ndarray, tuple[str, ...]]]) -> None:
        import zarr

        try:
            root = zarr.open_group(str(self.path / ARRAYS), mode="w", zarr_format=3)
            for name, (shape, dims, dtype) in self._specs.items():
                fill = np.nan if np.dtype(dtype).kind == "f" else 0
                self._arrays[name] = root.create_array(
                    name,
                    shape=(INITIAL_CAPACITY, *shape),
                    chunks=(1, *self._chunks[name]) if shape else (1,),
                    dtype=dtype,
                    fill_value=fill,
                    dimension_names=list(dims),
                    serializer=zarr.codecs.BytesCodec(endian="little"),
                    compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle",
                                                       typesize=np.dtype(dtype).itemsize),
                    config={"write_empty_chunks": True},  # a committed chunk is always a file
                )
            self._capacity = INITIAL_CAPACITY
            self._direct = direct_chunk_files(self._arrays, self._sample_axes())
            for name, (value, dims) in static.items():
                arr = root.create_array(
                    name,
                    shape=value.shape,
                    chunks=value.shape if value.size else None,
                    dtype=value.dtype,
                    dimension_names=list(dims),
                    config={"write_empty_chunks": True},
                )
                arr[...] = value
        except OSError as exc:
            raise self._storage_error("create the run (its arrays)", exc) from exc

    def _sample_axes(self) -> dict[str, int | None]:
        return {name: _sample_axis(dims) for name, (_, dims, _) in self._specs.items()}

    # ..................................................................... resuming
    def _reopen(self, manifest: Mapping[str, Any], static: Mapping[str, tuple]) -> bool:
        """Open the run at ``path`` for appending; False if it has no committed snapshot."""
        try:
            old = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
            data = (self.path / SNAPSHOTS).read_bytes() if (self.path / SNAPSHOTS).is_file() else b""
        except (OSError, ValueError) as exc:
            raise CorruptRunError(
                f"Cannot resume run {str(self.path)!r}: its manifest or commit log cannot be read ({exc}). "
                "Record into a new directory, or pass overwrite=True to replace it."
            ) from exc
        scan = scan_log(data)
        if scan.problem is not None:
            raise CorruptRunError(
                f"Cannot resume run {str(self.path)!r}: its commit log {SNAPSHOTS} is damaged at line "
                f"{scan.problem['line']} ({scan.problem['reason']}). Repair it first (`actconf repair "
                f"{self.path}` or actconf.open_run(path).repair(), which keeps a backup), then resume."
            )
        if not scan.rows:
            return False
        why = manifest_mismatch(old, complete_manifest(manifest, self._specs, static))
        if why:
            raise RunMismatchError(
                f"Cannot resume run {str(self.path)!r}: {why}. Resume only with the probe set, layers and "
                "model the run was recorded with; otherwise record into a new directory (or pass "
                "overwrite=True to replace the run)."
            )
        self.n_snapshots = self._next = len(scan.rows)
        try:
            self._fd = os.open(self.path / SNAPSHOTS, os.O_WRONLY | os.O_APPEND)
            lock_log(self._fd, self.path)
            if scan.tail:  # a commit a crash cut short: never committed, nothing is lost
                os.ftruncate(self._fd, scan.good_bytes)
            for stale in stale_partials(self.path):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            if isinstance(exc, RunExistsError):
                raise
            raise self._storage_error("reopen it for appending", exc) from exc
        self.manifest = old
        self._log_size = scan.good_bytes
        self.last_row = scan.rows[-1]
        self._open_arrays()
        return True

    def _open_arrays(self) -> None:
        import zarr

        try:
            root = zarr.open_group(str(self.path / ARRAYS), mode="r+")
            for name, (shape, _, dtype) in self._specs.items():
                arr = root[name]
                if tuple(arr.shape[1:]) != shape or str(arr.dtype) != dtype or arr.shape[0] < self.n_snapshots:
                    raise ValueError(f"shape {arr.shape} and dtype {arr.dtype}")
                self._arrays[name] = arr
        except Exception as exc:
            raise CorruptRunError(
                f"Cannot resume run {str(self.path)!r}: its arrays do not match its manifest ({exc}). "
                "Check it with open_run(path).verify(); record into a new directory."
            ) from exc
        self._chunks = {name: chunk_grid(arr)[1:] for name, arr in self._arrays.items()}
        self._capacity = min(arr.shape[0] for arr in self._arrays.values())
        self._direct = direct_chunk_files(self._arrays, self._sample_axes())

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
            self._queue.join()  # the tasks queued after the failure are skipped
            exc, self._error = self._error, None
            self._forget_current()
            raise exc

    def _forget_current(self) -> None:
        """Drop a snapshot that will not be committed; the next one takes its index."""
        if self._direct is not None:
            self._direct.discard(self.n_snapshots)
        self._current = None
        self._next = self.n_snapshots

    def _storage_error(self, what: str, exc: OSError, index: int | None = None) -> StorageError:
        n = self.n_snapshots
        safe = (f"Snapshots 0-{n - 1} ({n}) are committed and safe in {str(self.path)!r}" if n
                else f"No snapshot of {str(self.path)!r} is committed yet")
        if index is not None:
            safe += (f"; snapshot {index} was not recorded. Free disk space (or fix the cause) and go on: "
                     f"the next snapshot written takes index {n}, without a gap")
        return StorageError(f"Run {str(self.path)!r}: could not {what}: {exc}. {safe}.",
                            path=getattr(exc, "filename", None) or self.path, committed=n, cause=exc)

    # ..................................................................... appending
    def append(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> int:
        """Write one snapshot and commit it; return its index.

        ``arrays`` must hold every declared array with its per-snapshot shape.
        Without ``background``, the snapshot is committed (visible to readers) when
        this returns; with it, the arrays are copied and committed by the writer
        thread shortly after (call :meth:`flush` to wait).
        """
        missing = set(self._specs) - set(arrays)
        if missing:
            raise InvalidParameterError(f"append() is missing arrays {sorted(missing)}.")
        for name, (shape, _, _) in self._specs.items():
            if np.shape(arrays[name]) != shape:
                raise InvalidParameterError(
                    f"append(): array {name!r} has shape {np.shape(arrays[name])}, expected {shape}."
                )
        self.begin()
        for name in self._specs:
            self.write(name, arrays[name])
        return self.commit(meta)

    def begin(self) -> int:
        """Start the next snapshot and return its index (committed by :meth:`commit`)."""
        self._raise_pending()
        if self._fd is None:
            raise InvalidParameterError("This RunWriter is closed; open a new one to write more.")
        if self._current is not None:
            raise InvalidParameterError(
                f"Snapshot {self._current['index']} was begun but neither committed nor aborted.")
        index = self._next
        self._next += 1
        self._current = {"index": index, "rows": dict.fromkeys(self._specs, 0)}
        self._run(self._prepare, index)
        return index

    def write(self, name: str, value: np.ndarray, *, start: int = 0) -> None:
        """Write ``value`` into array ``name`` of the begun snapshot.

        ``value`` has the array's per-snapshot shape, except along the ``sample`` axis,
        where it holds the samples ``start .. start + len - 1`` (a probe batch).
        """
        cur = self._current
        if cur is None:
            raise InvalidParameterError("write() needs a snapshot begun with begin().")
        if name not in self._specs:
            raise InvalidParameterError(f"write(): the run has no array {name!r}; it has {sorted(self._specs)}.")
        shape, dims, dtype = self._specs[name]
        s = _sample_axis(dims)
        value = np.asarray(value, dtype=dtype) if self._queue is None else np.array(value, dtype=dtype)
        expected = list(shape)
        if s is not None:
            expected[s] = value.shape[s] if value.ndim == len(shape) else -1
        if list(value.shape) != expected or start < 0 or (s is not None and start + value.shape[s] > shape[s]):
            self.abort()
            raise InvalidParameterError(
                f"write(): array {name!r} got shape {value.shape} at sample {start}; expected {shape} "
                "(fewer samples allowed, within the probe set)."
            )
        cur["rows"][name] += value.shape[s] if s is not None else 1
        self._run(self._write_part, name, cur["index"], value, int(start))

    def commit(self, meta: Mapping[str, Any]) -> int:
        """Commit the begun snapshot (every array complete) with its metadata row; return its index."""
        cur = self._current
        if cur is None:
            raise InvalidParameterError("commit() needs a snapshot begun with begin().")
        incomplete = [name for name, rows in cur["rows"].items() if rows != self._rows_needed[name]]
        if incomplete:
            self.abort()
            raise InvalidParameterError(
                f"commit(): snapshot {cur['index']} is incomplete: arrays {incomplete} did not get every "
                "sample exactly once. It was not committed.")
        self._current = None
        self._run(self._commit, cur["index"], dict(meta))
        return cur["index"]

    def abort(self) -> None:
        """Give up the begun snapshot (nothing of it is committed; its index is used again)."""
        if self._queue is not None:
            self._queue.join()
            self._error = None
        self._forget_current()

    def _run(self, fn: Any, *args: Any) -> None:
        """Do a step of the current snapshot; on failure, forget the snapshot and raise."""
        try:
            self._do(fn, *args)
        except BaseException:
            self._forget_current()
            raise

    def _prepare(self, index: int) -> None:
        if index >= self._capacity:
            try:
                self._set_capacity(max(2 * self._capacity, index + 1))
            except OSError as exc:
                raise self._storage_error(f"grow the arrays for snapshot {index}", exc, index) from exc

    def _write_part(self, name: str, index: int, value: np.ndarray, start: int) -> None:
        try:
            if self._direct is not None:
                self._direct.write(name, index, value, start)
            else:
                s = _sample_axis(self._specs[name][1])
                region = (slice(None),) * s + (slice(start, start + value.shape[s]),) if s is not None else ()
                self._arrays[name][(index, *region)] = value
        except OSError as exc:
            raise self._storage_error(f"write snapshot {index} (array {name!r})", exc, index) from exc

    def _commit(self, index: int, meta: Mapping[str, Any]) -> None:
        line = commit_line(meta, index)
        try:
            if self._log_dirty:  # a failed commit left part of its line: cut it off first
                os.ftruncate(self._fd, self._log_size)
                self._log_dirty = False
            write_all(self._fd, line)  # the commit point
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._log_dirty = True
            try:
                os.ftruncate(self._fd, self._log_size)
                self._log_dirty = False
            except OSError:
                pass  # readers ignore an unfinished last line; the next commit cuts it off
            raise self._storage_error(f"commit snapshot {index} to {SNAPSHOTS}", exc, index) from exc
        self._log_size += len(line)
        self.last_row = {**meta, "index": index}
        self.n_snapshots = index + 1

    def _set_capacity(self, capacity: int) -> None:
        if self._direct is not None:
            self._direct.set_length(capacity)
        else:
            for name, arr in self._arrays.items():
                arr.resize((capacity, *self._specs[name][0]))
        self._capacity = capacity

    def _trim_now(self) -> None:
        if self._capacity != self.n_snapshots and self._arrays:
            try:
                self._set_capacity(self.n_snapshots)
            except OSError as exc:
                raise self._storage_error("trim the arrays to the committed snapshots", exc) from exc

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
        try:
            atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=1), fsync=self.fsync)
        except OSError as exc:
            raise self._storage_error("update the manifest", exc) from exc

    def trim(self, *, wait: bool = True) -> None:
        """Shrink the arrays to the committed snapshots (``close`` does it too).

        With ``background`` and ``wait=False``, the trim is queued behind the
        pending snapshots and this returns at once.
        """
        self._do(self._trim_now)
        if wait:
            self.flush()

    @property
    def is_open(self) -> bool:
        """Whether snapshots can still be appended (not closed or abandoned)."""
        return self._fd is not None

    def abandon(self) -> None:
        """Close without committing or trimming anything more (after a failure); releases the run.

        What is committed stays readable; arrays may stay larger than the committed
        snapshots, which readers ignore.
        """
        if self._fd is None:
            return
        if self._queue is not None:
            self._error = self._error or StorageError("abandoned", path=self.path)  # skip what is queued
            self._queue.put(None)
            self._thread.join(timeout=60)
            atexit.unregister(self._flush_at_exit)
            self._queue = None
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = None
        self._current = None

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


def _check_specs(arrays: Mapping[str, tuple]) -> dict[str, tuple[tuple[int, ...], tuple[str, ...], str]]:
    specs = {
        name: (tuple(int(s) for s in shape), tuple(dims), str(np.dtype(dtype)))
        for name, (shape, dims, dtype) in arrays.items()
    }
    for name, (shape, dims, _) in specs.items():
        if len(dims) != len(shape) + 1 or dims[0] != "snapshot":
            raise InvalidParameterError(
                f"Array {name!r}: dims {dims} must start with 'snapshot' and name every "
                f"axis of the per-snapshot shape {shape}."
            )
    return specs


def _check_chunking(chunk_mb: Any, chunk_samples: Any) -> dict[str, Any]:
    ok_mb = isinstance(chunk_mb, int | float) and not isinstance(chunk_mb, bool) and 0 < chunk_mb <= 2048
    if not ok_mb:
        raise InvalidParameterError(
            f"The 'chunk_mb' parameter of RunWriter must be a number in (0, 2048] (MiB per chunk). "
            f"Got {chunk_mb!r} instead. The default, 4, suits small and large runs."
        )
    if chunk_samples is not None and (not isinstance(chunk_samples, int) or isinstance(chunk_samples, bool)
                                      or chunk_samples < 1):
        raise InvalidParameterError(
            f"The 'chunk_samples' parameter of RunWriter must be None or an int >= 1. Got {chunk_samples!r} instead."
        )
    return {"chunk_mb": float(chunk_mb), "max_samples": chunk_samples}
