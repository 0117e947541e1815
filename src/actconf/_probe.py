"""Probe sets of the recorder: checking what the user passes and cutting it into batches.

Owns: the probe arguments of :class:`~actconf.ActivationRecorder` (``x_probe``/``y_probe``
or named sets ``probes={"test": ..., "train": ...}``), probe objects (``x``, ``y``,
``indices``, ``class_names``), multi-input probes (a list, or a dict by input name),
the label convention (class indices ``>= 0``; ``-1`` = unlabelled, the only negative
label accepted) and the parameter-error message of the recorder (:func:`bad`).

Part of the recorder: needs only ``numpy`` (and ``keras`` for batching), so that it can be
copied with ``callbacks.py``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .errors import InvalidInputError, InvalidParameterError

#: the label of a probe sample without a known class
UNLABELLED = -1
#: the name of the probe set given as ``x_probe``
DEFAULT_PROBE = "default"


def bad(name: str, expected: str, value: Any, hint: str = "") -> InvalidParameterError:
    """The recorder's parameter error: ``The 'name' parameter of ActivationRecorder must be ...``."""
    text = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
    msg = f"The {name!r} parameter of ActivationRecorder must be {expected}. Got {text} instead."
    return InvalidParameterError(msg + (" " + hint if hint else ""))


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class ProbeSet(NamedTuple):
    """One checked probe set."""

    name: str
    inputs: list[np.ndarray]
    """One float32 array per model input, each (n_samples, ...)."""
    keys: list[str] | None
    """Input names when the inputs were given as a dict (matched to the model's inputs by name)."""
    labels: np.ndarray
    indices: np.ndarray

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_unlabelled(self) -> int:
        return int((self.labels == UNLABELLED).sum())


def unpack(x_probe: Any, y_probe: Any, probe_indices: Any, class_names: Any) -> tuple[Any, Any, Any, Any]:
    """(x, y, indices, class names): from a probe object (``x``, ``y``, ...) or as given.

    Explicit arguments win over the probe object's attributes.
    """
    if hasattr(x_probe, "x") and hasattr(x_probe, "y") and not isinstance(x_probe, np.ndarray):
        probe = x_probe
        x_probe = probe.x
        y_probe = probe.y if y_probe is None else y_probe
        if probe_indices is None:
            probe_indices = getattr(probe, "indices", None)
        if class_names is None:
            class_names = getattr(probe, "class_names", None)
    return x_probe, y_probe, probe_indices, class_names


def _one_input(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise bad(name, "a numeric array of shape (n_samples, *input_shape)", type(x).__name__) from None
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise bad(name, "an array of shape (n_samples, *input_shape) with n_samples >= 1",
                  f"an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise bad(name, "finite (no NaN or inf)", "an array with non-finite values")
    return arr


def check_inputs(x: Any, name: str = "x_probe") -> tuple[list[np.ndarray], list[str] | None]:
    """Probe inputs as one array per model input (a list or a dict for multi-input models)."""
    if isinstance(x, Mapping):
        if not x:
            raise bad(name, "an array, or a non-empty list/dict of arrays (one per model input)", x)
        keys = [str(k) for k in x]
        arrays = [_one_input(v, f"{name}[{k!r}]") for k, v in x.items()]
    elif isinstance(x, list | tuple) and x and all(hasattr(v, "shape") for v in x):
        keys = None
        arrays = [_one_input(v, f"{name}[{i}]") for i, v in enumerate(x)]
    else:
        keys = None
        arrays = [_one_input(x, name)]
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) != 1:
        raise bad(name, "arrays with the same number of samples (one per model input)",
                  f"arrays of {sorted(sizes)} samples")
    return arrays, keys


def check_labels(y_probe: Any, n: int, name: str = "y_probe") -> np.ndarray:
    """Integer labels of the n probe samples; -1 (unlabelled) for all when ``y_probe`` is None."""
    if y_probe is None:
        return np.full(n, UNLABELLED, dtype=np.int64)
    y = np.asarray(y_probe)
    if y.ndim == 2 and y.shape[1] > 1:
        raise bad(name, "integer class labels of shape (n_samples,)", f"an array of shape {y.shape}",
                  "For one-hot labels pass y.argmax(axis=1).")
    y = y.reshape(-1)
    numeric = np.issubdtype(y.dtype, np.number) and not np.issubdtype(y.dtype, np.complexfloating)
    if y.shape[0] != n or not numeric or not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise bad(name, f"{n} integer class labels (one per probe sample)",
                  f"an array of shape {np.shape(y_probe)} and dtype {y.dtype}")
    y = y.astype(np.int64)
    wrong = np.unique(y[y < UNLABELLED])
    if wrong.size:
        raise bad(name, f"class indices >= 0, or {UNLABELLED} for an unlabelled sample",
                  f"labels with {wrong[:5].tolist()}",
                  f"Mark samples without a class with {UNLABELLED} (they are left out of accuracy, "
                  "calibration and class groupings); other negative labels are refused.")
    return y


def check_indices(probe_indices: Any, n: int, name: str = "probe_indices") -> np.ndarray:
    if probe_indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(probe_indices).reshape(-1)
    if idx.shape[0] != n or not np.issubdtype(idx.dtype, np.integer):
        raise bad(name, f"{n} integers (one per probe sample)", f"shape {idx.shape}, dtype {idx.dtype}")
    return idx.astype(np.int64)


def _named_entry(name: str, value: Any) -> tuple[Any, Any, Any, Any]:
    """(x, y, indices, class names) of one entry of ``probes=``."""
    if isinstance(value, tuple) and len(value) == 2 and not all(hasattr(v, "shape") and np.ndim(v) > 1
                                                                 for v in value):
        return value[0], value[1], None, None
    if isinstance(value, Mapping) and "x" in value:
        extra = set(value) - {"x", "y", "indices", "class_names"}
        if extra:
            raise bad("probes", "probe sets: probe objects, (x, y) tuples or dicts with keys x, y, indices, "
                      "class_names", f"{name!r} with keys {sorted(extra)}")
        return value["x"], value.get("y"), value.get("indices"), value.get("class_names")
    return unpack(value, None, None, None)


def probe_sets(x_probe: Any, y_probe: Any, probe_indices: Any, class_names: Any,
               probes: Mapping[str, Any] | None) -> tuple[list[ProbeSet], Any]:
    """The checked probe sets (the first is the default one) and the class names given.

    Either ``x_probe`` (with ``y_probe``, ``probe_indices``; one set named
    ``"default"``) or ``probes``, a dict of named sets, each a probe object, an
    ``(x, y)`` tuple or a dict with ``x`` (and ``y``, ``indices``).
    """
    if probes is None:
        if x_probe is None:
            raise bad("x_probe", "the probe inputs (or pass probes={name: probe, ...})", None)
        x, y, idx, class_names = unpack(x_probe, y_probe, probe_indices, class_names)
        return [_probe_set(DEFAULT_PROBE, x, y, idx, "")], class_names
    if x_probe is not None or y_probe is not None or probe_indices is not None:
        raise bad("probes", "given without x_probe, y_probe and probe_indices", "both",
                  "Pass either x_probe (one probe set) or probes={'test': ..., 'train': ...} (several).")
    if not isinstance(probes, Mapping) or not probes:
        raise bad("probes", "a non-empty dict {name: probe}", probes)
    sets, keys = [], set()
    for name, value in probes.items():
        if not isinstance(name, str) or not name or name != name.strip() or "/" in name:
            raise bad("probes", "a dict with non-empty names without '/' as keys", name)
        key = "".join(c if (c.isalnum() or c in "_-.") else "_" for c in name)
        if key in keys:
            raise bad("probes", "names that stay distinct as file names", list(probes),
                      "Use names made of letters, digits, '_', '-' and '.'.")
        keys.add(key)
        x, y, idx, names = _named_entry(name, value)
        class_names = class_names if class_names is not None else names
        sets.append(_probe_set(name, x, y, idx, f"probes[{name!r}]"))
    shapes = {tuple(tuple(a.shape[1:]) for a in s.inputs) for s in sets}
    if len(shapes) != 1:
        raise bad("probes", "probe sets whose samples have the same shape", f"shapes {sorted(shapes)}")
    return sets, class_names


def _probe_set(name: str, x: Any, y: Any, idx: Any, where: str) -> ProbeSet:
    inputs, keys = check_inputs(x, f"{where}.x" if where else "x_probe")
    n = inputs[0].shape[0]
    labels = check_labels(y, n, f"{where}.y" if where else "y_probe")
    indices = check_indices(idx, n, f"{where}.indices" if where else "probe_indices")
    return ProbeSet(name, inputs, keys, labels, indices)


def order_inputs(probe: ProbeSet, model: Any) -> ProbeSet:
    """The probe's inputs in the order of ``model.inputs``, checked against their shapes."""
    expected = [tuple(t.shape)[1:] for t in model.inputs]
    inputs = probe.inputs
    if probe.keys is not None:
        names = [getattr(t, "name", None) for t in model.inputs]
        missing = [n for n in names if n not in probe.keys]
        if missing or len(names) != len(probe.keys):
            raise InvalidInputError(
                f"The probe inputs of {probe.name!r} are named {probe.keys}, but model {model.name!r} has inputs "
                f"{names}. Give one array per model input, keyed by the input's name (keras.Input(name=...))."
            )
        inputs = [probe.inputs[probe.keys.index(n)] for n in names]
    got = [a.shape[1:] for a in inputs]
    fits = len(got) == len(expected) and all(
        len(e) == len(g) and all(d is None or d == h for d, h in zip(e, g, strict=True))
        for e, g in zip(expected, got, strict=True))
    if not fits:
        one = len(expected) == 1
        raise InvalidInputError(
            f"The probe inputs {('of ' + repr(probe.name) + ' ') if probe.name != DEFAULT_PROBE else ''}have "
            f"shape {got[0] if len(got) == 1 else got} per sample, but model {model.name!r} expects "
            f"{expected[0] if one else expected}. Give the probe samples the same shape as the training inputs"
            + ("." if one else " (a list in the order of model.inputs, or a dict by input name).")
        )
    return probe._replace(inputs=inputs, keys=None)


def batches(probe: ProbeSet, size: int, n_inputs: int) -> list[tuple[int, Any]]:
    """(start, batch) pairs: the probe inputs as backend tensors, ``size`` samples at a time."""
    from keras import ops

    out = []
    for i in range(0, probe.n, size):
        parts = [ops.convert_to_tensor(a[i:i + size]) for a in probe.inputs]
        out.append((i, parts[0] if n_inputs == 1 else parts))
    return out


def fingerprint_parts(probe: ProbeSet) -> list[Any]:
    """What the probe's fingerprint hashes: its inputs and labels (one input: as before)."""
    return [*probe.inputs, probe.labels]


def check_names(value: Sequence[Any] | None, n_classes: int) -> list[str]:
    names = [str(i) for i in range(n_classes)] if value is None else [str(c) for c in value]
    if len(names) != n_classes:
        raise bad("class_names", f"{n_classes} names (one per model output)", list(value))
    return names
