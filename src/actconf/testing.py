"""Build runs from arrays, without training: for tests, examples and benchmarks.

``write_synthetic_run`` writes arrays you constructed through the same
:func:`~actconf.store.run_layout` and :class:`~actconf.store.RunWriter` the recorder
uses, so that every analysis can be checked on data whose answer is known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._validation import param_error
from .store import RunWriter, open_run, run_layout, snapshot_label, softmax

__all__ = ["write_synthetic_run"]


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
        raise param_error("logits", "write_synthetic_run()", "an array when 'probabilities' is not given", None,
                          "Pass logits=... or probabilities=... of shape (n_snapshots, n_samples, n_classes).")
    if probabilities is None:
        probabilities = softmax(logits)
    outputs = {"outputs/probabilities": np.asarray(probabilities, dtype=np.float32)}
    if logits is not None:
        outputs["outputs/logits"] = np.asarray(logits, dtype=np.float32)
    if mc_probabilities is not None:
        outputs["outputs/mc_probabilities"] = np.asarray(mc_probabilities, dtype=np.float32)
    n_snap, _, n_classes = outputs["outputs/probabilities"].shape
    acts = {name: np.asarray(act, dtype=np.float32) for name, act in activations.items()}
    layout = run_layout(
        labels=np.asarray(labels, dtype=np.int64),
        class_names=list(class_names) if class_names is not None else [str(i) for i in range(n_classes)],
        layers=[{"name": name, "kind": "dense", "n_neurons": int(a.shape[2]), "output_shape": [None, int(a.shape[2])]}
                for name, a in acts.items()],
        logits=logits is not None,
        mc_samples=0 if mc_probabilities is None else int(np.shape(mc_probabilities)[1]),
        probe_inputs=None if probe_inputs is None else np.asarray(probe_inputs, dtype=np.float32),
        dataset={"name": "synthetic"}, model={"name": "synthetic"}, recorder={},
    )
    for entry in layout.manifest["layers"]:
        outputs[entry["array"]] = acts[entry["name"]]
    rows = _snapshot_rows(n_snap, kinds, epochs, batches, logs)
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, static=layout.static,
                   overwrite=overwrite) as writer:
        for i, row in enumerate(rows):
            snap = {key: value[i] for key, value in outputs.items()}
            row["nonfinite"] = not all(np.all(np.isfinite(v)) for v in snap.values())
            writer.append(snap, row)
    return open_run(path)


def _snapshot_rows(
    n_snap: int,
    kinds: Sequence[str] | None,
    epochs: Sequence[int] | None,
    batches: Sequence[int] | None,
    logs: Sequence[Mapping[str, float]] | None,
) -> list[dict[str, Any]]:
    """Commit-log rows of a synthetic run (``nonfinite`` is set when the snapshot is written)."""
    kinds = list(kinds) if kinds is not None else ["initial"] + ["epoch"] * (n_snap - 1)
    epochs = list(epochs) if epochs is not None else list(range(n_snap))
    batches = list(batches) if batches is not None else [0] * n_snap
    rows = []
    for i in range(n_snap):
        row = {"kind": kinds[i], "epoch": int(epochs[i]), "batch": int(batches[i]), "step": i,
               "progress": float(epochs[i]), "time": float(i), "wall_time": float(i), "nonfinite": False,
               "logs": dict(logs[i]) if logs is not None else {}}
        row["label"] = snapshot_label(row)
        rows.append(row)
    return rows
