"""The on-disk run format: crash-safe writing, lazy reading, checking and repair.

A *run* is a directory::

    run/
      manifest.json      what was recorded: format version, dataset, probe samples (and
                         their fingerprint), class names, layers and their sizes, model
                         (and its architecture fingerprint), configuration
      snapshots.jsonl    the commit log: one JSON line per completed snapshot
      arrays.zarr/       Zarr v3 group, one array per recorded quantity, chunked one
                         snapshot per chunk along the first axis and, for large
                         snapshots, along samples (and neurons): a few MiB per chunk
        probe_inputs             (sample, ...)                  the probe set itself
        activations/<layer>      (snapshot, sample, neuron)     float32 or float16
        outputs/logits           (snapshot, sample, class)      when the model has them
        outputs/probabilities    (snapshot, sample, class)
        outputs/mc_probabilities (snapshot, mc, sample, class)  with MC-dropout passes

Crash safety: a snapshot's chunks are written first (each to a temporary name, then
renamed into place), and only then is its line appended to ``snapshots.jsonl`` (every
byte checked; a failed commit is cut off again). Readers trust nothing that the commit
log does not list, so a process killed at any moment leaves a run that opens with
every completed snapshot and no partial one; a damaged log opens up to the damage
(:meth:`Run.repair` rewrites it) and a deleted chunk is reported, not read as NaN.
Arrays grow in blocks (their Zarr shape may exceed the number of committed snapshots
while recording) and are trimmed when recording ends. Disk failures raise
:class:`~actconf.errors.StorageError` saying which snapshots are safe.

The modules: ``_format`` (names, :func:`run_layout`, the commit log's lines, chunk
shapes, fingerprints, folder states), ``_chunks`` (chunk files written straight into
the Zarr layout: Zarr v3 ``bytes`` then ``blosc`` LZ4 level 5 bit-shuffle; Zarr itself
writes when the metadata differs), ``_writer`` (:class:`RunWriter`), ``_reader``
(:func:`open_run`, :class:`Run`), ``_remote`` (runs in object storage: fsspec URLs for
the reader, :func:`upload_run`), ``_repair`` (:func:`repair_run`).

Besides the public names in ``__all__``, the package exports a named internal API for
the rest of actconf (it may change): ``check_target_directory``, ``run_state``,
``jsonable``, ``safe_array_key``, ``layer_entries``, ``snapshot_label``, ``chunk_shape``,
``dask_chunks``, ``fingerprint``, ``probe_fingerprint``, ``comparable_name`` and the file
names ``MANIFEST``, ``SNAPSHOTS``, ``ARRAYS``.

Writing needs only numpy and zarr (so that this folder, ``errors.py`` and
``callbacks.py`` can be copied into a project that does not install actconf);
reading additionally uses pandas, xarray and dask, imported when a run is opened.
"""

from __future__ import annotations

from ._format import ARRAYS as ARRAYS
from ._format import DEFAULT_CHUNK_MB as DEFAULT_CHUNK_MB
from ._format import FORMAT_NAME as FORMAT_NAME
from ._format import FORMAT_VERSION, RunLayout, is_run, run_layout, softmax
from ._format import MANIFEST as MANIFEST
from ._format import SNAPSHOTS as SNAPSHOTS
from ._format import check_target_directory as check_target_directory
from ._format import chunk_shape as chunk_shape
from ._format import comparable_name as comparable_name
from ._format import fingerprint as fingerprint
from ._format import jsonable as jsonable
from ._format import layer_entries as layer_entries
from ._format import probe_fingerprint as probe_fingerprint
from ._format import run_state as run_state
from ._format import safe_array_key as safe_array_key
from ._format import snapshot_label as snapshot_label
from ._reader import Run, open_run
from ._reader import dask_chunks as dask_chunks
from ._remote import upload_run
from ._repair import RepairReport, repair_run
from ._writer import RunWriter

__all__ = [
    "FORMAT_VERSION",
    "RepairReport",
    "Run",
    "RunLayout",
    "RunWriter",
    "is_run",
    "open_run",
    "repair_run",
    "run_layout",
    "softmax",
    "upload_run",
]
