"""Data with a known answer, without training: for tests, examples and benchmarks.

This module owns the builders of synthetic data that actconf's own tests use, so
that a test, a benchmark or a user's notebook can check an analysis on data whose
structure is planted:

- runs: :func:`write_synthetic_run` writes constructed arrays through the same
  :func:`~actconf.store.run_layout` and :class:`~actconf.store.RunWriter` the recorder
  uses; :class:`SyntheticRecording` writes them one snapshot at a time, like a
  recording in progress;
- arrays for a run (each returns the keyword arguments of
  :func:`write_synthetic_run`): :func:`synthetic_arrays` (activity grows with training
  and confidence, batch snapshots), :func:`report_arrays` (everything the report
  draws: Keras logs, two layers, MC passes), :func:`relation_arrays` (activity related
  to confidence positively, negatively or not at all), :func:`layout_arrays` (neurons
  that prefer known classes, some dead);
- other values: :func:`planted_profiles` (neuron profiles in known clusters),
  :func:`synthetic_naps` (a NAP DataArray with the :func:`~actconf.naps.naps`
  contract), :func:`tiny_mlp` (a small compiled Keras MLP), :func:`folder_hashes`
  (what a folder holds, to assert that nothing was written);
- references: :func:`reference_ece` (the expected calibration error by plain loops,
  to check vectorised code against).

Every builder is seeded (``seed=0`` by default): the same call gives the same data.
Keras is imported inside :func:`tiny_mlp` only; :func:`tiny_mlp` seeds Keras' global
random generators (``keras.utils.set_random_seed``), as a training script would.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_option, param_error
from .store import RunWriter, open_run, run_layout, snapshot_label, softmax

__all__ = [
    "SyntheticRecording",
    "folder_hashes",
    "layout_arrays",
    "planted_profiles",
    "reference_ece",
    "relation_arrays",
    "report_arrays",
    "synthetic_arrays",
    "synthetic_naps",
    "tiny_mlp",
    "write_synthetic_run",
]


# --------------------------------------------------------------------------- writing runs
class SyntheticRecording:
    """A run written from arrays one snapshot at a time, like a recording in progress.

    Takes the arrays of :func:`write_synthetic_run`; nothing is committed until
    :meth:`append` is called. Use it to test code that reads a run while it grows
    (``Run.refresh``, live explorers).

    Parameters
    ----------
    path : path-like
        Where to write the run.
    kinds, epochs, batches, logs, overwrite
        As in :func:`write_synthetic_run`.
    **arrays
        The arrays of :func:`write_synthetic_run`: ``activations``, ``labels``,
        ``logits`` and/or ``probabilities``, and optionally ``mc_probabilities``,
        ``class_names``, ``probe_inputs``.

    Examples
    --------
    >>> rec = SyntheticRecording(tmp / "live", **synthetic_arrays(logits=False))  # doctest: +SKIP
    >>> rec.append(0); rec.append(1)  # doctest: +SKIP
    >>> rec.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        kinds: Sequence[str] | None = None,
        epochs: Sequence[int] | None = None,
        batches: Sequence[int] | None = None,
        logs: Sequence[Mapping[str, float]] | None = None,
        overwrite: bool = False,
        **arrays: Any,
    ):
        layout, self._outputs = _synthetic_layout(**arrays)
        self.n_snapshots = len(self._outputs["outputs/probabilities"])
        self._rows = _snapshot_rows(self.n_snapshots, kinds, epochs, batches, logs)
        self._writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, static=layout.static,
                                 overwrite=overwrite)

    def append(self, i: int) -> int:
        """Commit snapshot ``i`` of the arrays as the run's next snapshot; returns its position."""
        snap = {key: value[i] for key, value in self._outputs.items()}
        row = dict(self._rows[i])
        row["nonfinite"] = not all(np.all(np.isfinite(v)) for v in snap.values())
        return self._writer.append(snap, row)

    def close(self) -> None:
        """Finish the run (trims the arrays to the committed snapshots)."""
        self._writer.close()

    def __enter__(self) -> SyntheticRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    with SyntheticRecording(
        path, activations=activations, labels=labels, logits=logits, probabilities=probabilities,
        mc_probabilities=mc_probabilities, class_names=class_names, kinds=kinds, epochs=epochs,
        batches=batches, logs=logs, probe_inputs=probe_inputs, overwrite=overwrite,
    ) as recording:
        for i in range(recording.n_snapshots):
            recording.append(i)
    return open_run(path)


def _synthetic_layout(*, activations, labels, logits=None, probabilities=None, mc_probabilities=None,
                      class_names=None, probe_inputs=None):
    """The run layout and the per-snapshot arrays of a synthetic run (see :func:`write_synthetic_run`)."""
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
    n_classes = outputs["outputs/probabilities"].shape[-1]
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
    return layout, outputs


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


# --------------------------------------------------------------------------- arrays for runs
def synthetic_arrays(
    *,
    n_snapshots: int = 6,
    n_samples: int = 200,
    n_classes: int = 10,
    sizes: Sequence[int] = (40, 16),
    logits: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """A run whose activity grows with training and with confidence (the papers' finding).

    Every neuron has a random preference per class; a sample's activation is that
    preference scaled by ``0.3 + 2 t c`` (``t`` the training progress in [0, 1], ``c``
    the sample's max-softmax confidence) plus uniform noise. Confidence itself rises
    with ``t`` for the true class. Snapshots: ``initial``, two batch snapshots of
    epoch 1 (batches 5 and 10), then one per epoch; logs hold ``accuracy``.

    Parameters
    ----------
    n_snapshots : int, default=6
        At least 4 (the initial and two batch snapshots come first).
    n_samples : int, default=200
        Probe samples; sample ``i`` has class ``i % n_classes``.
    n_classes : int, default=10
    sizes : sequence of int, default=(40, 16)
        Neurons per layer; the layers are named ``dense``, ``dense_1``, ``dense_2``, ...
    logits : bool, default=True
        Return ``logits``; with False, ``probabilities`` (their softmax) instead, as a
        model with a softmax output records.
    seed : int, default=0

    Returns
    -------
    dict
        Keyword arguments of :func:`write_synthetic_run`.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    layers = {f"dense{'_' + str(i) if i else ''}": n for i, n in enumerate(sizes)}
    protos = {name: rng.random((n_classes, n)) for name, n in layers.items()}
    acts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    z_all = []
    for s in range(n_snapshots):
        t = s / max(1, n_snapshots - 1)
        z = rng.normal(0, 1, (n_samples, n_classes)) + 5 * t * np.eye(n_classes)[labels] * rng.random((n_samples, 1))
        z_all.append(z)
        conf = softmax(z).max(1)
        for name in layers:
            noise = 0.2 * rng.random((n_samples, layers[name]))
            acts[name].append((0.3 + 2 * t * conf[:, None]) * protos[name][labels] + noise)
    out: dict[str, Any] = {
        "activations": {k: np.stack(v) for k, v in acts.items()}, "labels": labels,
        "kinds": ["initial", "batch", "batch"] + ["epoch"] * (n_snapshots - 3),
        "epochs": [0, 1, 1] + list(range(1, n_snapshots - 2)),
        "batches": [0, 5, 10] + [0] * (n_snapshots - 3),
        "logs": [{"accuracy": 0.1 + 0.8 * s / n_snapshots} for s in range(n_snapshots)],
    }
    if logits:
        out["logits"] = np.stack(z_all)
    else:
        out["probabilities"] = softmax(np.stack(z_all))
    return out


def report_arrays(
    *,
    n_snapshots: int = 5,
    n_samples: int = 60,
    n_classes: int = 3,
    layers: Mapping[str, int] | None = None,
    mc: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """A small run with everything the report draws: Keras logs, two layers, MC passes.

    Activations grow with training (``base[class] * (1 + s)`` at snapshot ``s``, plus
    normal noise, clipped at 0) and differ by class; logits learn the labels (the true
    class gains ``s``). Logs hold ``loss``, ``accuracy``, ``val_loss`` and
    ``val_accuracy``; snapshot 0 is the initial one, then one per epoch.

    Parameters
    ----------
    n_snapshots, n_samples, n_classes : int, default=5, 60, 3
        Sample ``i`` has class ``i % n_classes``.
    layers : dict, optional
        ``name -> neurons``; default ``{"hidden_1": 12, "hidden_2": 8}``.
    mc : bool, default=True
        Add two MC-dropout passes per snapshot (``mc_probabilities``).
    seed : int, default=0

    Returns
    -------
    dict
        Keyword arguments of :func:`write_synthetic_run`.
    """
    layers = {"hidden_1": 12, "hidden_2": 8} if layers is None else dict(layers)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    activations = {}
    for name, width in layers.items():
        base = rng.random((n_classes, width))
        act = np.stack([base[labels] * (1 + s) + rng.normal(0, 0.5, (n_samples, width))
                        for s in range(n_snapshots)])
        activations[name] = np.maximum(act, 0.0)
    logits = rng.normal(0, 1, (n_snapshots, n_samples, n_classes))
    logits[:, np.arange(n_samples), labels] += np.arange(n_snapshots)[:, None]
    out = {"activations": activations, "labels": labels, "logits": logits,
           "logs": [{"loss": 2.0 / (s + 1), "accuracy": s / n_snapshots, "val_loss": 2.1 / (s + 1),
                     "val_accuracy": s / n_snapshots} for s in range(n_snapshots)]}
    if mc:
        z = logits[:, None] + rng.normal(0, 0.3, (n_snapshots, 2, n_samples, n_classes))
        out["mc_probabilities"] = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return out


RELATIONS = ("positive", "negative", "none")


def relation_arrays(
    relation: str,
    *,
    n_snapshots: int = 6,
    n_samples: int = 240,
    n_classes: int = 4,
    n_neurons: int = 12,
    seed: int = 0,
) -> dict[str, Any]:
    """A run whose activity relates to confidence and training time as ``relation`` says.

    Confidence sharpens over training. Every sample's activity is a shared pattern
    plus ``g`` times its class's pattern (plus noise): ``g`` grows with confidence and
    time (``"positive"``), shrinks with them (``"negative"``), or activity is pure
    noise (``"none"``). A larger ``g`` means stronger activity and more distinct class
    patterns. The last neuron of layer ``dense`` is dead (always 0); layer ``copy`` is
    twice the first five neurons of ``dense``.

    Parameters
    ----------
    relation : {"positive", "negative", "none"}
    n_snapshots, n_samples, n_classes, n_neurons : int, default=6, 240, 4, 12
        Sample ``i`` has class ``i % n_classes``; ``n_neurons`` is the width of ``dense``.
    seed : int, default=0

    Returns
    -------
    dict
        Keyword arguments of :func:`write_synthetic_run`.
    """
    check_option("relation", relation, RELATIONS, "relation_arrays()")
    s_, n, k, m = n_snapshots, n_samples, n_classes, n_neurons
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    t = np.arange(s_)[:, None]
    scale = np.linspace(0.3, 3.0, s_)[:, None, None]
    logits = rng.normal(size=(s_, n, k)) * scale
    logits[:, np.arange(n), labels] += 1.2 * scale[..., 0]
    conf = softmax(logits).max(-1)
    base = np.full(m, 0.5)
    proto = rng.random((k, m)) ** 3
    if relation == "none":
        acts = rng.gamma(2.0, 0.5, size=(s_, n, m))
    else:
        g = conf * (1 + t) if relation == "positive" else (1.1 - conf) * (s_ - t)
        acts = base + g[..., None] * proto[labels][None] + rng.normal(scale=0.05, size=(s_, n, m))
    acts = np.maximum(acts, 0)
    acts[..., -1] = 0.0  # a dead neuron
    return {"activations": {"dense": acts, "copy": acts[..., :5] * 2}, "labels": labels, "logits": logits}


def layout_arrays(*, seed: int = 0) -> dict[str, Any]:
    """24 neurons, 10 classes x 8 samples, 3 snapshots; neurons 0..19 prefer one of 5 classes, 20..23 dead.

    Neuron ``j < 20`` is active (1 + s at snapshot ``s``, over uniform noise in
    [0, 0.2)) on samples of class ``j % 5``; neurons 20..23 are always 0. Layers
    ``"dense"`` (24 neurons) and ``"other"`` (its first 6); logits are noise.

    Parameters
    ----------
    seed : int, default=0

    Returns
    -------
    dict
        Keyword arguments of :func:`write_synthetic_run`.
    """
    rng = np.random.default_rng(seed)
    n_cls, per, n_neu = 10, 8, 24
    labels = np.repeat(np.arange(n_cls), per)
    pref = np.concatenate([np.arange(20) % 5, [-1] * 4])
    acts = np.zeros((3, len(labels), n_neu), dtype=np.float32)
    for s in range(3):
        base = 0.2 * rng.random((len(labels), n_neu))
        boost = (labels[:, None] == pref[None, :]) * (1.0 + s)
        acts[s] = base + boost
    acts[:, :, 20:] = 0.0
    logits = rng.normal(size=(3, len(labels), n_cls))
    return {"activations": {"dense": acts, "other": acts[:, :, :6]}, "labels": labels, "logits": logits}


# --------------------------------------------------------------------------- other values
def planted_profiles(
    *,
    n_per_cluster: int = 12,
    n_clusters: int = 4,
    n_features: int = 10,
    noise: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Neuron profiles around ``n_clusters`` random directions, for judging layouts.

    Parameters
    ----------
    n_per_cluster, n_clusters, n_features : int, default=12, 4, 10
    noise : float, default=0.25
        Standard deviation of the normal noise around each cluster's centre (the
        centres are standard normal).
    seed : int, default=0

    Returns
    -------
    profiles : ndarray of shape (n_per_cluster * n_clusters, n_features)
    labels : ndarray of shape (n_per_cluster * n_clusters,)
        The cluster of every profile (the answer a layout should recover).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, n_features))
    labels = np.repeat(np.arange(n_clusters), n_per_cluster)
    x = centres[labels] + noise * rng.normal(size=(len(labels), n_features))
    return x, labels


def synthetic_naps(
    *,
    n_neurons: int = 40,
    n_classes: int = 4,
    bins: Sequence[str] = ("0.0–0.5", "0.5–1.0"),
    n_snapshots: int = 3,
    by: str = "class+confidence",
    contrastive: bool = False,
    seed: int = 0,
    small: Sequence[tuple[int, int]] = (),
):
    """A NAP DataArray with the :func:`~actconf.naps.naps` contract, from standard normal values.

    Dimensions ``(snapshot, group, neuron)``; coordinates ``epoch``, ``progress``,
    ``class`` (and ``confidence`` when ``by`` groups by it) and ``size`` (20 samples
    per group); ``attrs`` as :func:`~actconf.naps.naps` sets them (layer ``"dense"``).

    Parameters
    ----------
    n_neurons, n_classes : int, default=40, 4
    bins : sequence of str, default=("0.0–0.5", "0.5–1.0")
        Confidence-bin labels (used when ``by`` contains ``"confidence"``).
    n_snapshots : int, default=3
        Snapshots ``0 .. n_snapshots - 1`` (epoch = snapshot).
    by : {"class+confidence", "class"}, default="class+confidence"
    contrastive : bool, default=False
        Only recorded in ``attrs``; the values are not centred.
    seed : int, default=0
    small : sequence of (snapshot, group) pairs, default=()
        Groups too small to average: size 2 and NaN values, as ``naps`` leaves them.

    Returns
    -------
    xarray.DataArray
    """
    import xarray as xr

    rng = np.random.default_rng(seed)
    groups, cls, conf = [], [], []
    for c in range(n_classes):
        for b in (bins if "confidence" in by else bins[:1]):
            groups.append(f"{c} | {b}" if "confidence" in by else str(c))
            cls.append(str(c))
            conf.append(b)
    values = rng.standard_normal((n_snapshots, len(groups), n_neurons))
    size = np.full((n_snapshots, len(groups)), 20)
    for s, g in small:
        size[s, g] = 2
        values[s, g] = np.nan
    coords = {"snapshot": np.arange(n_snapshots), "epoch": ("snapshot", np.arange(n_snapshots)),
              "progress": ("snapshot", np.arange(n_snapshots, dtype=float)), "group": groups,
              "class": ("group", cls), "size": (("snapshot", "group"), size), "neuron": np.arange(n_neurons)}
    if "confidence" in by:
        coords["confidence"] = ("group", conf)
    return xr.DataArray(values, dims=("snapshot", "group", "neuron"), coords=coords, name="nap",
                        attrs={"layer": "dense", "by": by, "measure": "max_softmax",
                               "contrastive": contrastive, "min_size": 5})


def tiny_mlp(input_shape: Sequence[int] = (8, 8, 1), n_classes: int = 10, hidden: int = 32, seed: int = 0):
    """A small compiled Keras MLP: Flatten, Dense ``hidden_1`` (ReLU), Dropout 0.5, Dense ``logits``.

    Compiled with Adam (1e-3), sparse categorical cross-entropy from logits and
    accuracy. Seeds Keras' global random generators with ``seed`` before building
    (``keras.utils.set_random_seed``), so the initial weights are reproducible.

    Parameters
    ----------
    input_shape : sequence of int, default=(8, 8, 1)
        Shape of one input (scikit-learn digits by default).
    n_classes : int, default=10
    hidden : int, default=32
        Neurons of ``hidden_1``.
    seed : int, default=0

    Returns
    -------
    keras.Model
        Named ``"tiny_mlp"``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(tuple(input_shape))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(hidden, activation="relu", name="hidden_1")(h)
    h = keras.layers.Dropout(0.5, name="dropout")(h)
    out = keras.layers.Dense(n_classes, name="logits")(h)
    model = keras.Model(inputs, out, name="tiny_mlp")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def reference_ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15, strategy: str = "width") -> float:
    """Expected calibration error of one snapshot, by plain loops over bins and samples.

    A slow, obvious reference for tests (not for analyses: use
    :func:`actconf.confidence.calibration`).

    Parameters
    ----------
    confidence : array of shape (n_samples,)
        Confidence in [0, 1] of every sample.
    correct : array of bool of shape (n_samples,)
        Whether each prediction was right.
    n_bins : int, default=15
    strategy : {"width", "mass"}, default="width"
        ``"width"``: bins ``[b/n, (b+1)/n)``, a confidence of exactly 1 in the last bin.
        ``"mass"``: the samples sorted by confidence (stable) and split into ``n_bins``
        parts of (nearly) equal count.

    Returns
    -------
    float
        The sum over bins of ``|bin| / n * |accuracy(bin) - mean confidence(bin)|``.
    """
    check_option("strategy", strategy, ("width", "mass"), "reference_ece()")
    conf, correct = np.asarray(confidence, dtype=float), np.asarray(correct)
    if strategy == "width":
        total = 0.0
        for b in range(n_bins):
            lo, hi = b / n_bins, (b + 1) / n_bins
            members = [i for i in range(len(conf)) if lo <= conf[i] < hi or (b == n_bins - 1 and conf[i] == 1.0)]
            if members:
                total += len(members) / len(conf) * abs(np.mean(correct[members]) - np.mean(conf[members]))
        return total
    order = np.argsort(conf, kind="stable")
    total = 0.0
    for part in np.array_split(order, n_bins):
        if len(part):
            total += len(part) / len(conf) * abs(correct[part].mean() - conf[part].mean())
    return total


def folder_hashes(path: str | os.PathLike) -> dict[str, str]:
    """Every file and folder under ``path``: relative name -> SHA-256 of the content, or ``"dir"``.

    Compare the result before and after a call to assert that the call wrote nothing
    (not even an empty folder) into ``path``.
    """
    path = Path(path)
    out = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out
