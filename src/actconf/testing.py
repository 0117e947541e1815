"""Build runs from arrays, without training: for tests, examples and benchmarks.

``write_synthetic_run`` writes arrays you constructed through the same
:class:`~actconf.store.RunWriter` the recorder uses, so that every analysis can be
checked on data whose answer is known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .store import RunWriter, open_run, safe_array_key, snapshot_label


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def write_synthetic_run(
    path: str | os.PathLike,
    *,
    activations: Mapping[str, np.ndarray],
    labels: Sequence[int] | np.ndarray,
    logits: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    mc_probabilities: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    epochs: Sequence[int] | None = None,
    batches: Sequence[int] | None = None,
    logs: Sequence[Mapping[str, float]] | None = None,
    probe_inputs: np.ndarray | None = None,
    overwrite: bool = False,
):
    """Write a run from arrays and return it opened (:class:`~actconf.store.Run`).

    Parameters
    ----------
    path : path-like
        Where to write the run.
    activations : dict
        ``layer name -> array (n_snapshots, n_samples, n_neurons)``.
    labels : array-like of shape (n_samples,)
        True class of every probe sample.
    logits, probabilities : array of shape (n_snapshots, n_samples, n_classes), optional
        At least one is needed. With only logits, probabilities are their softmax.
        With only probabilities, the run has no logits (as for a softmax model).
    mc_probabilities : array of shape (n_snapshots, mc, n_samples, n_classes), optional
    class_names : list of str, optional
        Defaults to ``"0" .. "K-1"``.
    kinds, epochs, batches : sequences of length n_snapshots, optional
        Snapshot kinds and positions. By default snapshot 0 is ``"initial"`` and
        snapshot ``i`` is the end of epoch ``i``.
    logs : sequence of dict, optional
        Keras-style logs per snapshot (``{"loss": ..., "accuracy": ...}``).
    probe_inputs : array, optional
        Stored as the probe inputs.
    overwrite : bool, default=False
    """
    if logits is None and probabilities is None:
        raise ValueError("write_synthetic_run needs logits or probabilities.")
    if probabilities is None:
        probabilities = _softmax(np.asarray(logits, dtype=np.float64))
    probabilities = np.asarray(probabilities, dtype=np.float32)
    n_snap, n_samples, n_classes = probabilities.shape
    labels = np.asarray(labels, dtype=np.int64)
    class_names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    kinds = list(kinds) if kinds is not None else ["initial"] + ["epoch"] * (n_snap - 1)
    epochs = list(epochs) if epochs is not None else list(range(n_snap))
    batches = list(batches) if batches is not None else [0] * n_snap

    arrays: dict[str, Any] = {}
    layers = []
    for name, act in activations.items():
        act = np.asarray(act, dtype=np.float32)
        key = "activations/" + safe_array_key(name)
        arrays[key] = (act.shape[1:], ("snapshot", "sample", "neuron"), "float32")
        layers.append({"name": name, "array": key, "kind": "dense", "n_neurons": int(act.shape[2]),
                       "output_shape": [None, int(act.shape[2])]})
    arrays["outputs/probabilities"] = ((n_samples, n_classes), ("snapshot", "sample", "class"), "float32")
    if logits is not None:
        arrays["outputs/logits"] = ((n_samples, n_classes), ("snapshot", "sample", "class"), "float32")
    mc = 0
    if mc_probabilities is not None:
        mc = int(np.shape(mc_probabilities)[1])
        arrays["outputs/mc_probabilities"] = ((mc, n_samples, n_classes), ("snapshot", "mc", "sample", "class"), "float32")
    static = {}
    if probe_inputs is not None:
        probe_inputs = np.asarray(probe_inputs, dtype=np.float32)
        static["probe_inputs"] = (probe_inputs, ("sample",) + tuple(f"input_{i}" for i in range(probe_inputs.ndim - 1)))
    manifest = {
        "dataset": {"name": "synthetic"},
        "probe": {"indices": list(range(n_samples)), "labels": labels.tolist()},
        "class_names": class_names,
        "layers": layers,
        "outputs": {"logits": logits is not None, "mc_samples": mc},
        "model": {"name": "synthetic"},
        "recorder": {},
    }
    writer = RunWriter(path, manifest=manifest, arrays=arrays, static=static, overwrite=overwrite)
    with writer:
        for i in range(n_snap):
            snap = {"outputs/probabilities": probabilities[i]}
            if logits is not None:
                snap["outputs/logits"] = np.asarray(logits[i], dtype=np.float32)
            if mc_probabilities is not None:
                snap["outputs/mc_probabilities"] = np.asarray(mc_probabilities[i], dtype=np.float32)
            for name, act in activations.items():
                snap["activations/" + safe_array_key(name)] = np.asarray(act[i], dtype=np.float32)
            nonfinite = not all(np.all(np.isfinite(v)) for v in snap.values())
            row = {"kind": kinds[i], "epoch": int(epochs[i]), "batch": int(batches[i]),
                   "step": i, "progress": float(epochs[i]), "time": float(i), "wall_time": float(i),
                   "nonfinite": nonfinite, "logs": dict(logs[i]) if logs is not None else {}}
            row["label"] = snapshot_label(row)
            writer.append(snap, row)
    return open_run(path)
