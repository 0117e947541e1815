"""``open_run`` and ``Run``: a recorded run, read lazily (xarray/dask) and checked as it is read.

Readers trust nothing the commit log does not list. A damaged line in the log ends
what is read (the intact prefix opens, with a :class:`~actconf.errors.DamagedRunWarning`
naming what was skipped; ``strict=True`` refuses instead; :meth:`Run.repair` rewrites
a clean log). A committed snapshot whose chunk file is missing raises
:class:`~actconf.errors.CorruptRunError` naming the snapshot and the array, instead of
reading as NaN (Zarr's fill value).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import (
    CorruptRunError,
    DamagedRunWarning,
    InvalidParameterError,
    MissingDataError,
    NotARunError,
    RunFormatError,
)
from ._chunks import chunk_files_of, chunk_grid, local_root
from ._format import (
    ARRAYS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    SNAPSHOTS,
    run_state,
    scan_log,
    snapshot_label,
)
from ._remote import split_location

#: target size of one dask chunk when reading
DASK_CHUNK_BYTES = 64 << 20


def _outside_store() -> int:
    """The ``stacklevel`` of the first caller outside this package (for warnings)."""
    frame, level = sys._getframe(1), 1
    here = os.path.dirname(os.path.abspath(__file__))
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def open_run(path: str | os.PathLike, *, strict: bool = False,
             storage_options: dict[str, Any] | None = None) -> Run:
    """Open a run directory written by :class:`~actconf.ActivationRecorder`.

    Opening is cheap: arrays are read lazily, when used. A run that is still being
    recorded can be opened and later brought up to date with :meth:`Run.refresh`.

    Parameters
    ----------
    path : path-like or str URL
        The run directory, or an fsspec URL of one in object storage
        (``"s3://bucket/runs/r"``, ``"gs://..."``, ``"memory://runs/r"``; ``"file:///..."``
        is a local path). Remote runs are read-only (copy a local run up with
        :func:`actconf.store.upload_run`).
    strict : bool, default=False
        Refuse a run whose commit log is damaged. By default such a run opens with
        the snapshots before the damage (a :class:`~actconf.errors.DamagedRunWarning`
        names what was skipped; :meth:`Run.repair` or ``actconf repair RUN`` rewrites a
        clean log).
    storage_options : dict, optional
        Options of the fsspec filesystem of a URL (credentials, endpoint, ...), e.g.
        ``{"anon": True}`` for a public S3 bucket.

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
        The manifest or (with ``strict=True``) the commit log is damaged.
    """
    return Run(path, strict=strict, storage_options=storage_options)


#: runs reopened in this process from a pickle (dask workers), by location
_REOPENED: dict[tuple[str, bool, str], Run] = {}


def _reopen_run(location: Any, strict: bool, storage_options: dict[str, Any] | None) -> Run:
    """A pickled :class:`Run` in another process (a dask worker): opened once per process."""
    key = (str(location), bool(strict), repr(sorted((storage_options or {}).items())))
    run = _REOPENED.get(key)
    if run is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DamagedRunWarning)  # the client was told already
            run = Run(location, strict=strict, storage_options=storage_options)
        if len(_REOPENED) >= 8:
            _REOPENED.pop(next(iter(_REOPENED)))
        _REOPENED[key] = run
    return run


def _snapshot_view(run: Run, name: str, n: int) -> _SnapshotArray:
    """A pickled :class:`_SnapshotArray`: the view of ``n`` snapshots, rebuilt from its run."""
    if run.n_snapshots < n:
        run.refresh()
    return _SnapshotArray(run, name, n)


class _SnapshotArray:
    """Array-like view of the committed part of a Zarr array, for ``dask.array.from_array``.

    Before reading, every chunk file the request needs is checked to exist (a deleted
    chunk would read as the fill value, NaN); reading errors are re-raised as
    :class:`CorruptRunError` naming the array and the snapshot whose chunk is damaged.
    """

    def __init__(self, run: Run, name: str, n: int):
        self._run = run
        self._name = name
        z = run._zarr_array(name)
        self._z = z
        self.shape = (n, *z.shape[1:])
        self.dtype = z.dtype
        self.ndim = len(self.shape)
        self.chunks = chunk_grid(z) or self.shape
        self._root = local_root(z)
        self._n = n

    def __reduce__(self):  # small pickles for dask workers: rebuilt from the run's location
        return _snapshot_view, (self._run, self._name, self._n)

    def _region(self, key: Any) -> list[slice]:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        region = []
        for k, n in zip(key, self.shape, strict=True):
            if isinstance(k, slice):
                start, stop, _ = k.indices(n)
            else:
                start = int(k) + (n if int(k) < 0 else 0)
                stop = start + 1
            region.append(slice(start, max(start, stop)))
        return region

    def check_chunks(self, key: Any) -> None:
        """Raise :class:`CorruptRunError` if a committed chunk file the request needs is missing."""
        region = self._region(key)
        remote = self._run._remote
        if self._root is None and remote is None:  # an unknown store: Zarr alone decides
            return
        for i in range(region[0].start, region[0].stop):
            if remote is not None:  # one listing per snapshot
                base = PurePosixPath(ARRAYS) / self._name
                found = remote.existing(str(base / "c" / str(i)))
                for rel in chunk_files_of(base, i, self.shape[1:], self.chunks[1:], region[1:]):
                    if rel.as_posix() not in found:
                        raise self._run._missing(self._name, i, self._run.path / rel)
                continue
            for path in chunk_files_of(self._root, i, self.shape[1:], self.chunks[1:], region[1:]):
                if not os.path.isfile(path):
                    raise self._run._missing(self._name, i, path)

    def __getitem__(self, key: Any) -> np.ndarray:
        self.check_chunks(key)
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


def dask_chunks(shape: Sequence[int], storage: Sequence[int], itemsize: int,
                target: int = DASK_CHUNK_BYTES) -> tuple[int, ...]:
    """Dask chunks of about ``target`` bytes made of whole storage chunks.

    One snapshot at a time: the last axes grow to their full length first (in
    multiples of the storage chunks), then, once a snapshot fits, several snapshots
    make one dask chunk.
    """
    ndim = len(shape)
    chunks = [1] + [max(1, min(int(c), int(n))) for c, n in zip(storage[1:], shape[1:], strict=True)]
    size = int(np.prod(chunks, dtype=np.int64)) * itemsize
    for ax in range(ndim - 1, 0, -1):
        per = size // chunks[ax]  # bytes per unit of this axis
        if per * shape[ax] <= target:
            chunks[ax] = int(shape[ax])
            size = per * shape[ax]
            continue
        k = max(1, target // max(per * chunks[ax], 1))
        chunks[ax] = int(min(shape[ax], k * chunks[ax]))
        return tuple(chunks)
    chunks[0] = int(max(1, min(shape[0], target // max(size, 1))))
    return tuple(chunks)


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

    def __init__(self, path: str | os.PathLike, *, strict: bool = False,
                 storage_options: dict[str, Any] | None = None):
        self._remote, self.path = split_location(path, storage_options)
        self.strict = bool(strict)
        self._location = path if self._remote is not None else self.path
        manifest = self._open_remote() if self._remote is not None else self._open_local()
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise NotARunError(f"{str(self.path / MANIFEST)!r} is not an actconf run manifest.")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise RunFormatError(
                f"Run {str(self.path)!r} has format version {version!r}, but this actconf reads "
                f"versions up to {FORMAT_VERSION}. Upgrade actconf (pip install -U actconf)."
            )
        self.manifest: dict[str, Any] = manifest
        self._reset()
        self.refresh()

    def _open_local(self) -> Any:
        if not self.path.is_dir():
            raise NotARunError(
                f"{str(self.path)!r} does not exist or is not a directory. Pass the directory "
                "that ActivationRecorder (or `actconf run --out`) wrote."
            )
        state = run_state(self.path)
        if state == "unfinished":
            raise NotARunError(
                f"{str(self.path)!r} is an unfinished actconf run: its recording was interrupted before "
                f"the manifest was written, so it holds no snapshot. Record it again (with overwrite=True "
                "to replace it)."
            )
        if state != "run":
            raise NotARunError(
                f"{str(self.path)!r} is not an actconf run: it has no {MANIFEST}. Pass the "
                "directory that ActivationRecorder (or `actconf run --out`) wrote."
            )
        try:
            return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptRunError(f"The manifest of run {str(self.path)!r} is damaged: {exc}") from exc

    def _open_remote(self) -> Any:
        remote = self._remote
        try:
            found = remote.isfile(MANIFEST)
        except OSError as exc:
            raise NotARunError(f"{remote.url!r} cannot be read ({type(exc).__name__}: {exc}).") from exc
        if not found:
            raise NotARunError(
                f"{remote.url!r} is not an actconf run: it has no {MANIFEST}. Pass the URL of the folder "
                "that ActivationRecorder wrote (copied there with actconf.store.upload_run)."
            )
        try:
            return json.loads(remote.read_bytes(MANIFEST).decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptRunError(f"The manifest of run {remote.url!r} is damaged: {exc}") from exc

    def __reduce__(self):  # dask workers reopen the run from its location (once per process)
        return _reopen_run, (self._location, self.strict, self._remote.storage_options if self._remote else None)

    def _reset(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._log_offset = 0
        self._zarr_root = None
        self._zarr_cache: dict[str, Any] = {}
        self._table = None
        self.damage: dict[str, Any] | None = None

    # ..................................................................... metadata
    def refresh(self) -> int:
        """Read snapshots committed since the last look; return how many are new.

        A damaged line ends the readable part of the log: what follows it is skipped
        (with a :class:`~actconf.errors.DamagedRunWarning`, once; or a
        :class:`CorruptRunError` for a run opened with ``strict=True``) and
        :attr:`damage` says where and why.
        """
        if self.damage is not None:
            return 0
        try:
            if self._remote is not None:
                data = self._remote.read_bytes(SNAPSHOTS, self._log_offset)
            else:
                with open(self.path / SNAPSHOTS, "rb") as fh:
                    fh.seek(self._log_offset)
                    data = fh.read()
        except FileNotFoundError as exc:
            raise CorruptRunError(
                f"Run {str(self.path)!r} has no {SNAPSHOTS} (its commit log): {exc}. It cannot be read; "
                "re-record it."
            ) from exc
        scan = scan_log(data, first_index=len(self._rows), offset=self._log_offset)
        if scan.problem is not None:
            self._damage_found(scan.problem, len(self._rows) + len(scan.rows))
        self._rows.extend(scan.rows)
        self._log_offset = scan.good_bytes
        if scan.rows:
            self._table = None
        return len(scan.rows)

    def _damage_found(self, problem: dict[str, Any], intact: int) -> None:
        where = (f"{SNAPSHOTS} of run {str(self.path)!r} is damaged at snapshot {problem['snapshot']} (line "
                 f"{problem['line']}, byte {problem['byte']}: {problem['reason']}; it reads {problem['text']!r})")
        skipped = f"{problem['skipped_lines']} line(s), {problem['skipped_bytes']} bytes from the damaged line on"
        if self.strict:
            raise CorruptRunError(
                f"{where}. open_run(path) without strict=True opens the {intact} intact snapshot(s) before it; "
                f"`actconf repair {self.path}` (or run.repair()) rewrites a clean log from them, keeping a backup."
            )
        self.damage = {**problem, "intact": intact}
        warnings.warn(
            f"{where}. Opened the {intact} intact snapshot(s) before it and skipped {skipped}. "
            f"Run `actconf repair {self.path}` (or run.repair()) to rewrite a clean log from the intact "
            "snapshots (a backup of the old log is kept); open_run(path, strict=True) refuses instead.",
            DamagedRunWarning, stacklevel=_outside_store(),
        )

    def repair(self):
        """Rewrite a clean commit log from the intact snapshots, keeping a backup; reload.

        See :func:`actconf.store.repair_run` (which this calls) for what is changed.
        Do not repair a run while it is being recorded (it is refused when the
        writer's lock is visible).

        Returns
        -------
        RepairReport
        """
        from ._repair import repair_run

        if self._remote is not None:
            raise InvalidParameterError(
                f"Run {self._remote.url!r} is in object storage, which is read-only for actconf. Copy it "
                "to a local folder, repair it there (actconf repair DIR) and upload it again."
            )
        report = repair_run(self.path)
        self._reset()
        self.refresh()
        return report

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
                self._zarr_root = (self._remote.zarr_group() if self._remote is not None
                                   else zarr.open_group(str(self.path / ARRAYS), mode="r"))
            arr = self._zarr_root[name]
        except Exception as exc:
            if self.n_snapshots == 0:
                raise MissingDataError(
                    f"Run {str(self.path)!r} holds no committed snapshot, and its array {name!r} does not "
                    "exist yet (the recording was interrupted before its arrays were created, or has not "
                    "got that far). Wait for the first snapshot and call run.refresh(), or record it again."
                ) from exc
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

    def _missing(self, name: str, snapshot: int, path: Path) -> CorruptRunError:
        label = self._rows[snapshot].get("label") or snapshot_label(self._rows[snapshot])
        return CorruptRunError(
            f"Array {name!r} of run {str(self.path)!r} is missing a chunk of snapshot {snapshot} ({label}): "
            f"{str(path.relative_to(self.path))!r} does not exist. The snapshot was committed, so the file was "
            "deleted or lost after recording and these values are unknown (not NaN). The other snapshots are "
            f"readable, e.g. run.read({name!r}, snapshots=[...]) without {snapshot}; or re-record the run."
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

    def chunking(self, name: str) -> tuple[tuple[int, ...], tuple[int, ...], np.dtype]:
        """``(shape, storage chunks, dtype)`` of the committed part of array ``name``."""
        view = _SnapshotArray(self, name, self.n_snapshots)
        return view.shape, tuple(int(c) for c in view.chunks), view.dtype

    def dask_array(self, name: str, *, chunks: Sequence[int] | None = None):
        """The committed snapshots of array ``name`` as a dask array (no coordinates).

        ``chunks`` defaults to blocks of about 64 MiB made of whole storage chunks
        (:func:`dask_chunks`); every block reads only the chunks it covers, checking
        that they exist. The array pickles small (a dask worker reopens the run from
        its path or URL), so graphs built on it run on a ``dask.distributed`` cluster
        whose workers can reach the run.
        """
        import dask.array as da
        from dask.base import tokenize

        n = self.n_snapshots
        if n == 0:
            raise MissingDataError(
                f"Run {str(self.path)!r} has no committed snapshot yet; wait for the first one "
                "and call run.refresh()."
            )
        view = _SnapshotArray(self, name, n)
        chunks = tuple(chunks) if chunks is not None else dask_chunks(view.shape, view.chunks, view.dtype.itemsize)
        token = tokenize(str(self._location), name, n, chunks)
        return da.from_array(view, chunks=chunks, lock=False, asarray=True, fancy=False,
                             name=f"actconf-{self.path.name}-{name.replace('/', '-')}-{token}", inline_array=True)

    def _lazy(self, name: str, dims: Sequence[str], coords: dict[str, Any]):
        import xarray as xr

        data = self.dask_array(name)
        n = data.shape[0]
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
        """Check every committed snapshot: its chunk files exist and decode.

        Raises :class:`CorruptRunError` at the first problem (naming the array and the
        snapshot), also when the commit log itself is damaged. A run without committed
        snapshots (e.g. one whose recording was interrupted at its start) passes.
        """
        self._verify_snapshots()
        if self.damage is not None:
            raise CorruptRunError(
                f"{SNAPSHOTS} of run {str(self.path)!r} is damaged at snapshot {self.damage['snapshot']} (line "
                f"{self.damage['line']}: {self.damage['reason']}); the {self.damage['intact']} intact snapshot(s) before it are fine. "
                f"Run `actconf repair {self.path}` (or run.repair()) to rewrite a clean log from them."
            )

    def _verify_snapshots(self) -> None:
        n = self.n_snapshots
        if n == 0:
            return
        for name in self._specs_static():
            self._zarr_array(name)[...]
        for name in self.manifest["arrays"]:
            view = _SnapshotArray(self, name, n)
            for i in range(n):
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
        if self.damage is not None:
            lines.append(f"  WARNING: the commit log is damaged at line {self.damage['line']} ({self.damage['reason']}); "
                         f"the {self.damage['intact']} snapshot(s) before it are shown. Repair: actconf repair {self.path}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<actconf.Run {str(self.path)!r}: {self.n_snapshots} snapshots, layers {self.layer_sizes}>"

