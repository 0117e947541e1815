"""What a run is on disk: names, the manifest (:func:`run_layout`), the commit log's lines,
chunk shapes, fingerprints and the states a run folder can be in.

Nothing here writes arrays; :mod:`._writer` and :mod:`._reader` build on it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import RunExistsError

FORMAT_NAME = "actconf-run"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots.jsonl"
ARRAYS = "arrays.zarr"
PARTIAL = ".partial"
INITIAL_CAPACITY = 16
DEFAULT_CHUNK_MB = 4.0
#: a chunk holds at least this many samples before the neuron axis is split too
MIN_CHUNK_SAMPLES = 256


# --------------------------------------------------------------------------- small helpers
def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``: loop on short writes, fail on a write of 0 bytes."""
    view = memoryview(data)
    while view.nbytes:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the operating system wrote 0 bytes")
        view = view[written:]


def write_file(path: Path, data: bytes | memoryview, *, fsync: bool = False) -> None:
    """Write ``path`` whole, under a temporary name renamed into place (removed on failure)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    """Write a text file atomically (see :func:`write_file`)."""
    write_file(path, text.encode("utf-8"), fsync=fsync)


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


def snapshot_label(row: Mapping[str, Any]) -> str:
    """Human-readable name of a snapshot row: 'initial', 'epoch 3' or 'epoch 1 · batch 10'."""
    kind = row.get("kind")
    if kind == "initial":
        return "initial"
    if kind == "batch":
        return f"epoch {row.get('epoch')} · batch {row.get('batch')}"
    return f"epoch {row.get('epoch')}"


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of arrays (their dtype, shape and bytes) and JSON-able values."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            part = np.ascontiguousarray(part)
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(part.data)
        else:
            h.update(json.dumps(jsonable(part), sort_keys=True).encode())
        h.update(b"\x00")
    return "blake2b:" + h.hexdigest()


def probe_fingerprint(inputs: np.ndarray, labels: np.ndarray) -> str:
    """Fingerprint of a probe set: its inputs (as float32) and labels (as int64)."""
    return fingerprint(np.asarray(inputs, dtype=np.float32), np.asarray(labels, dtype=np.int64))


# --------------------------------------------------------------------------- folder states
def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding an actconf run (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def run_state(path: str | os.PathLike) -> str:
    """What a folder holds, for writing into it.

    ``"missing"``, ``"file"`` (not a folder), ``"empty"``, ``"run"`` (a manifest: a run,
    possibly with 0 snapshots), ``"unfinished"`` (what a writer killed before writing
    its manifest leaves: an empty commit log, perhaps a half-written manifest under a
    temporary name, nothing else) or ``"foreign"`` (anything else).
    """
    path = Path(path)
    if not path.exists():
        return "missing"
    if not path.is_dir():
        return "file"
    if is_run(path):
        return "run"
    names = [p.name for p in path.iterdir()]
    if not names:
        return "empty"
    log = path / SNAPSHOTS
    others = [n for n in names if n != SNAPSHOTS]
    if (log.is_file() and log.stat().st_size == 0
            and all(n.startswith(f".{MANIFEST}.") and n.endswith(PARTIAL) for n in others)):
        return "unfinished"
    return "foreign"


def check_target_directory(path: Path, overwrite: bool, *, resume: bool = False) -> None:
    """Refuse to write where a run (or unrelated data) already is; see ``RunWriter``.

    ``overwrite`` allows replacing a run or an unfinished run; ``resume`` allows
    appending to a run (or starting one where there is none).
    """
    path = Path(path)
    state = run_state(path)
    if state == "file":
        raise RunExistsError(
            f"Cannot record into {str(path)!r}: it exists and is a file, not a directory. "
            "Choose another directory."
        )
    if state == "run" and not (overwrite or resume):
        raise RunExistsError(
            f"{str(path)!r} already holds an actconf run; it was left untouched. "
            "Choose a new directory, pass overwrite=True to replace that run, or resume=True "
            "(ActivationRecorder) to append to it."
        )
    if state == "unfinished" and not (overwrite or resume):
        raise RunExistsError(
            f"{str(path)!r} holds an unfinished actconf run: its recording was interrupted before "
            f"the manifest was written, so it holds no snapshot. Pass overwrite=True to replace it, "
            "or choose another directory."
        )
    if state == "foreign":
        raise RunExistsError(
            f"{str(path)!r} is a non-empty directory that is not an actconf run; actconf "
            "will not write into it (not even with overwrite=True, which only replaces runs). "
            "Choose a new or empty directory."
        )


# --------------------------------------------------------------------------- the commit log
class LogScan(NamedTuple):
    """The commit log read line by line (see :func:`scan_log`)."""

    rows: list[dict[str, Any]]
    good_bytes: int
    """Bytes of intact, complete lines (where the next commit goes)."""
    problem: dict[str, Any] | None
    """None, or where the log is damaged: ``line`` (1-based), ``byte``, ``reason``,
    ``text`` (its start), ``skipped_lines`` and ``skipped_bytes`` after ``good_bytes``."""
    tail: int
    """Bytes of an incomplete last line (a commit that never finished; not damage)."""


def _check_row(line: bytes, expected: int) -> tuple[dict[str, Any] | None, str]:
    try:
        row = json.loads(line)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(row, dict):
        return None, "not a JSON object"
    if row.get("index") != expected:
        return None, f"index {row.get('index')!r} where {expected} was expected"
    return row, ""


def scan_log(data: bytes, *, first_index: int = 0, offset: int = 0) -> LogScan:
    """Parse commit-log bytes: the rows of the intact prefix and what stops it.

    ``first_index`` is the index the first line must carry and ``offset`` the byte
    position of ``data`` in the file (both for reading a log in pieces).
    """
    rows: list[dict[str, Any]] = []
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return LogScan(rows, offset + pos, None, len(data) - pos)
        row, reason = _check_row(data[pos:end], first_index + len(rows))
        if row is None:
            rest = data[pos:]
            problem = {"line": first_index + len(rows) + 1, "byte": offset + pos, "reason": reason,
                       "text": data[pos:end][:80], "skipped_lines": rest.count(b"\n") + (not rest.endswith(b"\n")),
                       "skipped_bytes": len(rest), "snapshot": first_index + len(rows)}
            return LogScan(rows, offset + pos, problem, 0)
        rows.append(row)
        pos = end + 1


def commit_line(meta: Mapping[str, Any], index: int) -> bytes:
    """The commit-log line of snapshot ``index`` (its metadata as one JSON line)."""
    row = dict(jsonable(meta))
    row["index"] = index
    return (json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8")


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
    dtype: str = "float32",
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
    dtype : {"float32", "float16"}, default="float32"
        How activations are stored (outputs are always float32).
    **sections
        Further top-level manifest fields (``dataset``, ``model``, ``recorder``,
        ``config``, ``versions``, ...); ``output_mode`` becomes ``outputs.mode``,
        ``probe_fingerprint`` becomes ``probe.fingerprint``.

    Returns
    -------
    RunLayout
        ``(manifest, arrays, static)``, to pass on to :class:`RunWriter`.
    """
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    n, k = len(labels), len(class_names)
    indices = range(n) if probe_indices is None else np.asarray(probe_indices).reshape(-1)
    entries = layer_entries(layers)
    act_dtype = str(np.dtype(dtype))
    arrays: dict[str, tuple[tuple[int, ...], tuple[str, ...], str]] = {
        e["array"]: ((n, e["n_neurons"]), ("snapshot", "sample", "neuron"), act_dtype) for e in entries
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
    if sections.get("probe_fingerprint") is not None:
        probe["fingerprint"] = str(sections.pop("probe_fingerprint"))
    sections.pop("probe_fingerprint", None)
    outputs: dict[str, Any] = {"logits": bool(logits), "mc_samples": int(mc_samples)}
    if "output_mode" in sections:
        outputs = {"mode": sections.pop("output_mode"), **outputs}
    manifest = {"dataset": sections.pop("dataset", {}), "probe": probe, "class_names": [str(c) for c in class_names],
                "layers": entries, "outputs": outputs, **sections}
    return RunLayout(manifest, arrays, static)


def complete_manifest(manifest: Mapping[str, Any], specs: Mapping[str, tuple], static: Mapping[str, tuple]) -> dict:
    """The manifest as written: the caller's fields plus format, creation time and array specs."""
    full = dict(manifest)
    full["format"] = FORMAT_NAME
    full["format_version"] = FORMAT_VERSION
    full.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    full["arrays"] = {
        name: {"shape": list(shape), "dims": list(dims), "dtype": dtype}
        for name, (shape, dims, dtype, *_) in specs.items()
    }
    full["static_arrays"] = {
        name: {"shape": list(value.shape), "dims": list(dims), "dtype": str(value.dtype)}
        for name, (value, dims) in static.items()
    }
    return jsonable(full)


# --------------------------------------------------------------------------- chunking
def chunk_shape(shape: Sequence[int], dims: Sequence[str], dtype: Any, *, chunk_mb: float = DEFAULT_CHUNK_MB,
                max_samples: int | None = None) -> tuple[int, ...]:
    """Per-snapshot chunk shape of an array: about ``chunk_mb`` MiB per chunk.

    ``shape``/``dims`` describe one snapshot (``dims`` with the leading ``"snapshot"``).
    A snapshot that fits is one chunk (the small case: one file per snapshot and
    array). Otherwise the ``sample`` axis is split, and the last axis too (``neuron``
    or ``class``) when a chunk would otherwise hold fewer than ``MIN_CHUNK_SAMPLES``
    samples. ``max_samples`` caps the samples per chunk (the recorder passes its probe
    batch size, preferring a size that divides it, so that every probe batch fills
    whole chunks and nothing waits in memory for the next batch).
    """
    shape = tuple(int(s) for s in shape)
    if "sample" not in dims[1:]:
        return shape
    s = list(dims[1:]).index("sample")
    n, last = shape[s], len(shape) - 1
    itemsize = np.dtype(dtype).itemsize
    target = max(1, int(chunk_mb * 2**20))
    row = int(np.prod(shape, dtype=np.int64)) // max(n, 1) * itemsize  # bytes of one sample
    chunks = list(shape)
    if row * n > target:
        rows = target // max(row, 1)
        if rows < min(MIN_CHUNK_SAMPLES, n) and last != s:
            rows = min(MIN_CHUNK_SAMPLES, n)
            per_unit = max(row // max(shape[last], 1), 1)  # bytes of one sample and one neuron
            chunks[last] = max(1, min(shape[last], target // (rows * per_unit)))
            rows = max(rows, target // (per_unit * chunks[last]))
        chunks[s] = max(1, min(n, rows))
    if max_samples is not None and n > max_samples:
        rows = min(chunks[s], int(max_samples))
        divisor = next((d for d in range(rows, 0, -1) if max_samples % d == 0), 1)
        chunks[s] = divisor if 2 * divisor >= rows else rows
    return tuple(chunks)


# --------------------------------------------------------------------------- resuming
def manifest_mismatch(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """What keeps ``new`` (the manifest a writer would create) from being appended to ``old``.

    Compares the probe (fingerprint, labels), class names, recorded layers, the model's
    architecture fingerprint and the arrays' shapes and types. Returns a sentence
    naming the first difference, or None when they match.
    """
    old_probe, new_probe = old.get("probe", {}), new.get("probe", {})
    if old_probe.get("fingerprint") is None or (old.get("model", {}).get("fingerprint") is None
                                                and new.get("model", {}).get("fingerprint") is not None):
        return ("the run was recorded without fingerprints of its probe set and model (by an older actconf), "
                "so it cannot be checked that the same probe and model continue")
    if new_probe.get("fingerprint") != old_probe.get("fingerprint") or new_probe.get("labels") != old_probe.get("labels"):
        return "the probe set differs (a different hash of its inputs and labels)"
    if list(new.get("class_names", [])) != list(old.get("class_names", [])):
        return f"the class names differ ({old.get('class_names')} in the run, {new.get('class_names')} now)"
    old_layers = [(e["name"], e["n_neurons"], e.get("kind")) for e in old.get("layers", [])]
    new_layers = [(e["name"], e["n_neurons"], e.get("kind")) for e in new.get("layers", [])]
    if _layer_keys(old.get("layers", [])) != _layer_keys(new.get("layers", [])):
        return f"the recorded layers differ ({old_layers} in the run, {new_layers} now)"
    arch = _architecture_difference(old.get("model", {}), new.get("model", {}))
    if arch:
        return arch
    old_arrays, new_arrays = old.get("arrays", {}), new.get("arrays", {})
    for name in sorted(set(old_arrays) | set(new_arrays)):
        a, b = old_arrays.get(name), new_arrays.get(name)
        if a is None or b is None or list(a["shape"]) != list(b["shape"]) or a["dtype"] != b["dtype"]:
            return (f"array {name!r} differs ({_describe(a)} in the run, {_describe(b)} now; e.g. another dtype, "
                    "mc_samples or output)")
    return None


def _describe(spec: Mapping[str, Any] | None) -> str:
    return "absent" if spec is None else f"shape {tuple(spec['shape'])} {spec['dtype']}"


def _snake_case(name: str) -> str:
    """Keras' automatic layer name for a class name (``Conv2D`` -> ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def comparable_name(name: str, class_name: str | None) -> str:
    """A layer name with Keras' numbering of automatic names removed.

    Keras names unnamed layers after their class and numbers them in creation order
    (``dense``, ``dense_3``), so the same model built twice in one process gets other
    names. An automatic name compares as its class's base name; chosen names as
    they are.
    """
    if class_name:
        base = _snake_case(str(class_name))
        if re.fullmatch(re.escape(base) + r"(_\d+)?", name):
            return base
    return name


def _layer_keys(entries: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [(comparable_name(str(e["name"]), e.get("class")), int(e["n_neurons"]), e.get("kind"))
            for e in entries]


def _architecture_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    if old.get("fingerprint") == new.get("fingerprint"):
        return None
    a, b = old.get("architecture") or [], new.get("architecture") or []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if list(x) != list(y):
            return f"the model's architecture differs at layer {i}: {x} in the run, {y} now"
    if len(a) != len(b):
        return f"the model's architecture differs: {len(a)} layers in the run, {len(b)} now"
    return "the model's architecture differs (its fingerprint)"
