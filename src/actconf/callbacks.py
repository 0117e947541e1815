"""``ActivationRecorder``: record hidden activity and outputs on probe sets during ``fit``.

This file, ``_layers.py``, ``_probe.py``, the ``store/`` folder and ``errors.py`` work on
their own: copy them into a folder of your project (e.g. ``actconf_lite/`` with an empty
``__init__.py``) to record without installing actconf; they need only ``keras``,
``numpy`` and ``zarr``. The recorder uses ``keras`` and ``keras.ops`` only, so it runs
on every Keras 3 backend (TensorFlow, JAX, PyTorch). Which layers it can tap and how
a layer becomes neurons is :mod:`actconf._layers`; the probe arguments are checked by
:mod:`actconf._probe`. The run's manifest and arrays are laid out by
:func:`actconf.store.run_layout`, the softmax of logits is :func:`actconf.store.softmax`.

No module-level state: everything lives on the recorder.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from . import _layers as L
from . import _probe as P
from .errors import (
    InvalidInputError,
    InvalidParameterError,
    ModelNotSupportedError,
    RecordingWarning,
    StorageError,
)
from .store import (
    DEFAULT_CHUNK_MB,
    RunWriter,
    check_target_directory,
    comparable_name,
    fingerprint,
    layer_entries,
    probe_fingerprint,
    probe_prefix,
    run_layout,
    snapshot_label,
    softmax,
)

__all__ = ["ActivationRecorder"]

_OUTPUT_MODES = ("auto", "logits", "probabilities")
_ON_ERROR = ("raise", "warn", "stop")
_DTYPES = ("float32", "float16")
#: how far a row of probabilities may sum from 1 before the output is refused as not a distribution
PROBABILITY_TOLERANCE = 1e-3
_DROPOUT_TYPES = tuple(
    getattr(keras.layers, n)
    for n in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
              "AlphaDropout", "GaussianDropout")
    if hasattr(keras.layers, n)
)
_bad = P.bad


def _probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax of recorded logits, stored as float32."""
    return softmax(logits).astype(np.float32)


def _check_layer_choice(layers: Any) -> list[Any] | None:
    """``layers`` as a non-empty list of paths / layer objects, or None (the default layers)."""
    if layers is None:
        return None
    if isinstance(layers, str | keras.layers.Layer):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError:
        raise _bad("layers", "None or a non-empty list of layer names, paths ('backbone/block_1') or layers",
                   layers) from None
    if not layers or not all(isinstance(item, str | keras.layers.Layer) for item in layers):
        raise _bad("layers", "None or a non-empty list of layer names, paths ('backbone/block_1') or layers",
                   layers)
    return layers


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _bad(name, "one of " + ", ".join(map(repr, choices)), value)
    return value


def _check_count(name: str, value: Any, min_value: int, *, allow_none: bool = False, hint: str = "") -> int | None:
    """An int >= ``min_value`` (or None when allowed), as ``int``."""
    if value is None and allow_none:
        return None
    if not P.is_int(value) or value < min_value:
        raise _bad(name, ("None or " if allow_none else "") + f"an int >= {min_value}", value, hint)
    return int(value)


def _check_output_index(value: Any) -> Any:
    if value is None or P.is_int(value) or (isinstance(value, str) and value):
        return value
    raise _bad("output_index", "None, an index into model.outputs or the name of an output layer", value)


class _AlwaysDropout(keras.layers.Layer):
    """Wraps a dropout layer so that it drops units even when called with ``training=False``."""

    def __init__(self, inner: keras.layers.Layer, **kwargs: Any):
        super().__init__(name=f"mc_{inner.name}", **kwargs)
        self.inner = inner

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.inner(inputs, training=True)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class _ProbeRun:
    """A probe set as the recorder uses it: checked inputs in model order, batches, array prefix."""

    def __init__(self, probe: P.ProbeSet, prefix: str):
        self.probe = probe
        self.prefix = prefix
        self.batches: list[tuple[int, Any]] = []


class ActivationRecorder(keras.callbacks.Callback):
    """Record hidden-layer activations and model outputs on fixed probe sets.

    At the start of training the recorder builds one multi-output probe model
    (the chosen layers, reduced to neurons, plus the model output) and then calls it
    on each probe batch with ``training=False`` — never ``model.predict``, never
    rebuilt; see ``compiled`` — once before training (the untrained state), at every
    epoch end and, if asked, every ``every_n_batches`` batches during the first
    ``batch_epochs`` epochs. Each snapshot is committed to ``directory`` as soon as
    it is taken (see :mod:`actconf.store`), so a crash loses no completed snapshot;
    open the run with :func:`actconf.open_run` at any time, even while training goes on.

    Any layer of a Functional or Sequential Keras 3 model can be recorded, also
    inside nested models (a backbone in a transfer-learning model), by its path
    (``"backbone/block_16_project"``), its name (when unique) or the layer object;
    :func:`actconf.list_layers` lists them. What a neuron is depends on ``reduce``;
    by default (``"auto"``) a Dense layer's units, a convolutional layer's channels
    (spatial mean), and for sequences (tokens from Dense/EinsumDense, attention,
    normalisation, recurrent layers with ``return_sequences``) a unit's mean over the
    positions. The model's output is recorded as logits and softmax probabilities
    when the last layer is linear, or as probabilities when it already is a softmax
    (a separate ``Softmax``/``Activation("softmax")`` layer after a linear one yields
    both). Plus a row of metadata: epoch, batch, global step, times, and the Keras
    logs at that point (batch-level logs are Keras' running means over the epoch so far).

    Args:
        directory: Path of the run directory to create. It must not exist, be
            empty, or hold a previous run (replaced only with ``overwrite=True``).
        x_probe: Probe inputs, an array of shape ``(n_samples, *input_shape)`` (for a
            multi-input model a list in the order of ``model.inputs`` or a dict by
            input name); or a probe object with attributes ``x``, ``y``, ``indices``
            and ``class_names`` (such as :func:`actconf.make_probe` returns). Not
            given when ``probes`` is.
        y_probe: Integer class labels of the probe samples (needed for class
            groupings, accuracy and calibration). ``-1`` marks a sample without a
            known class (the only negative label accepted; such samples are left out
            of label-based measures, ``run.labelled`` tells which). Default: all
            unlabelled.
        probes: Several named probe sets recorded in one run instead of ``x_probe``,
            e.g. ``{"test": probe_a, "train": probe_b}`` (each a probe object, an
            ``(x, y)`` tuple or a dict with ``x``, ``y``, ``indices``). Every snapshot
            holds all of them; ``open_run(path)`` shows the first,
            ``open_run(path, probe="train")`` (or ``run.probe("train")``) another.
        layers: Paths, names or layer objects of the layers to record. Default: every
            hidden Dense, EinsumDense, Conv, attention and recurrent layer of the model
            when it has at most 16 of them and no nested model; otherwise (big
            networks, e.g. from ``keras.applications``) the output of every nested
            model, the hidden Dense layers and, per spatial resolution, the block
            output that ends it (the last ``Add``/merge, or the activation after it).
        reduce: How a layer's output becomes neurons: ``"auto"`` (see above),
            ``"mean"`` / ``"max"`` over every axis but the last (channels first:
            but the channel axis), ``"first"`` (the first position of a sequence,
            e.g. a class token), ``"flatten"`` (every value a neuron), or a callable
            on the backend tensor returning ``(samples, neurons)``; or a dict
            ``{layer: reduction}`` (by path, name or object; others ``"auto"``). All
            inside the one probe model.
        output_index: Which output of a multi-output model is the classifier whose
            confidence is recorded: its index in ``model.outputs`` or the name of its
            layer. Required for multi-output models (refused otherwise); the other
            heads are neither recorded as outputs nor as hidden layers.
        every_n_batches: Also record every N batches (int >= 1), during the first
            ``batch_epochs`` epochs. Default ``None``: epoch ends only. A model
            compiled with ``steps_per_execution=k`` reports only every k-th batch;
            the snapshot is then taken at the first report at or after each
            multiple of N and labelled with the batches actually done (choose N a
            multiple of k to get exactly every N).
        batch_epochs: Number of epochs during which batch snapshots are taken
            (default 1, the early-training view); ``None`` for all epochs.
        record_initial: Record the untrained state before the first batch.
        overwrite: Replace a run already present in ``directory``.
        mc_samples: Number of MC-dropout passes per snapshot (dropout active,
            everything else — BatchNorm included — in inference mode). 0 = none.
        output: ``"auto"`` (detect from the last layer), ``"logits"`` or
            ``"probabilities"``: what the model's output is. Probabilities must be a
            distribution (rows summing to 1): the first probe batch is checked
            before anything is written, so sigmoid outputs are refused.
        probe_batch_size: Probe samples per forward call.
        probe_indices: Index of each probe sample in its dataset split (stored
            so that the run remembers which samples it used).
        class_names: Names of the classes (default ``"0"``, ``"1"``, ...).
        dataset: Free-form description of the data (dict), stored in the manifest.
        config: Free-form configuration (dict), stored in the manifest.
        store_inputs: Store the probe inputs in the run (default True).
        fsync: ``fsync`` the commit log after every snapshot (power-loss safety;
            not needed against crashes of the process).
        background: Write snapshots to disk in a writer thread while training
            goes on. Each snapshot is still committed only once all of it is
            written; at most two wait in memory. Worth it on slow (network)
            disks; on a local disk writing inside the callback (the default) is
            cheaper than the thread's competition with training for the
            interpreter, and a snapshot is on disk when the callback returns.
        compiled: Run the probe model through Keras' compiled single-batch
            inference (``predict_on_batch``: traced once by the backend, no
            ``predict()`` loop, callbacks or data adapters; about 3x faster per call
            than an eager call, after a one-off tracing). ``False`` calls the probe
            model eagerly, ``probe(x, training=False)``. ``"auto"`` (default) compiles
            it from the first snapshot of a ``fit`` that will take more than 8
            snapshots (epochs + 1 + batch snapshots: the tracing pays off, since an
            eager call inside training costs 2-4x what it costs alone), else calls
            it eagerly and compiles it once 8 snapshots were taken. All give
            identical values. MC-dropout passes are run several per call (the probe
            batch repeated, within ``probe_batch_size`` samples per call).
        resume: Append to the run already in ``directory`` (or start one if there
            is none): epochs and steps continue after its last snapshot (an
            interrupted epoch counts as begun; ``fit(initial_epoch=k)`` numbers
            epochs from ``k + 1``), and no start snapshot is recorded. Refused with
            :class:`~actconf.errors.RunMismatchError` when the probe sets (hashes of
            their inputs and labels), the recorded layers or the model's
            architecture (layer classes, names, shapes, parameter counts) differ
            from the fingerprints in the run's manifest.
        on_error: What a storage failure (full disk, read-only folder, ...) does:
            ``"raise"`` (default) a :class:`~actconf.errors.StorageError` naming the
            path, the cause and the snapshots safely committed; ``"warn"``: warn
            (:class:`~actconf.errors.RecordingWarning`) and train on with recording
            off until this ``fit`` ends; ``"stop"``: warn and stop training
            (``model.stop_training = True``). A later ``fit`` with the same
            recorder records again, continuing the run without a gap.
        dtype: How activations are stored: ``"float32"`` (default) or
            ``"float16"`` (half the space; about 3 significant digits, values
            beyond ±65504 become inf). Outputs are always float32.
        chunk_mb: Size of one chunk file in MiB (before compression). A snapshot
            that fits is one file per array; larger ones are split along samples
            (and neurons), each probe batch being written straight to its chunks,
            so that memory stays bounded by one probe batch.

    The first snapshot of a new run is ``"initial"`` when training starts at
    epoch 0; a ``fit(initial_epoch=k)`` into a new run (or with ``overwrite=True``)
    records the model it gets as kind ``"epoch"``, epoch ``k``, label
    ``"epoch k (start)"``, since it is not untrained. Steps are counted by the
    recorder (batches done), so re-compiling the model between two ``fit`` calls
    (which resets the optimizer's counter) does not move them back.

    Example:

    ```python
    recorder = ActivationRecorder("runs/mlp", x_test[:500], y_test[:500],
                                  every_n_batches=10)
    model.fit(x_train, y_train, epochs=20, callbacks=[recorder])
    run = actconf.open_run("runs/mlp")
    ```
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        x_probe: Any = None,
        y_probe: Any = None,
        *,
        probes: Mapping[str, Any] | None = None,
        layers: Sequence[Any] | None = None,
        reduce: Any = "auto",
        output_index: int | str | None = None,
        every_n_batches: int | None = None,
        batch_epochs: int | None = 1,
        record_initial: bool = True,
        overwrite: bool = False,
        mc_samples: int = 0,
        output: str = "auto",
        probe_batch_size: int = 1024,
        probe_indices: Any = None,
        class_names: Sequence[str] | None = None,
        dataset: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        store_inputs: bool = True,
        fsync: bool = False,
        background: bool = False,
        compiled: bool | str = "auto",
        resume: bool = False,
        on_error: str = "raise",
        dtype: str = "float32",
        chunk_mb: float = DEFAULT_CHUNK_MB,
    ) -> None:
        super().__init__()
        if not isinstance(directory, str | os.PathLike):
            raise _bad("directory", "a path (str or os.PathLike)", directory)
        self.directory = Path(directory)
        self.overwrite = bool(overwrite)
        self.resume = bool(resume)
        if self.resume and self.overwrite:
            raise _bad("resume", "False when overwrite=True", resume,
                       "Pass overwrite=True to replace a run, or resume=True to append to it, not both.")
        self.on_error = _check_choice("on_error", on_error, _ON_ERROR)
        self.dtype = _check_choice("dtype", dtype, _DTYPES)
        if not isinstance(chunk_mb, int | float) or isinstance(chunk_mb, bool) or not 0 < chunk_mb <= 2048:
            raise _bad("chunk_mb", "a number in (0, 2048] (MiB per chunk file)", chunk_mb,
                       "The default, 4, suits small and large runs.")
        self.chunk_mb = float(chunk_mb)
        check_target_directory(self.directory, self.overwrite, resume=self.resume)
        self._sets, class_names = P.probe_sets(x_probe, y_probe, probe_indices, class_names, probes)
        self.layers_requested = _check_layer_choice(layers)
        self.reduce = L.check_reduce(reduce)
        self.output_index = _check_output_index(output_index)
        self.every_n_batches = _check_count(
            "every_n_batches", every_n_batches, 1, allow_none=True,
            hint="Use e.g. every_n_batches=10 to record every 10 batches early in training.")
        self.batch_epochs = _check_count("batch_epochs", batch_epochs, 1, allow_none=True)
        self.mc_samples = _check_count("mc_samples", mc_samples, 0)
        self.output = _check_choice("output", output, _OUTPUT_MODES)
        self.probe_batch_size = _check_count("probe_batch_size", probe_batch_size, 1)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.dataset = dict(dataset or {})
        self.config = dict(config or {})
        self.record_initial = bool(record_initial)
        self.store_inputs = bool(store_inputs)
        self.fsync = bool(fsync)
        self.background = bool(background)
        if compiled != "auto" and not isinstance(compiled, bool):
            raise _bad("compiled", "True, False or 'auto'", compiled)
        self.compiled = compiled
        if self.every_n_batches is not None:
            self.on_train_batch_end = self._on_train_batch_end

        self._writer: RunWriter | None = None
        self._model_id: int | None = None
        self._opened = False  # the run was opened (created or resumed) once
        self._recording_off = False

    # ------------------------------------------------------------------ the first probe set
    @property
    def x_probe(self) -> np.ndarray | list[np.ndarray]:
        """The (first) probe set's inputs (a list for multi-input models)."""
        inputs = self._sets[0].inputs
        return inputs[0] if len(inputs) == 1 else list(inputs)

    @property
    def y_probe(self) -> np.ndarray:
        """The (first) probe set's labels (-1 = unlabelled)."""
        return self._sets[0].labels

    @property
    def probe_indices(self) -> np.ndarray:
        return self._sets[0].indices

    @property
    def probe_names(self) -> list[str]:
        """Names of the probe sets (the first is the run's default)."""
        return [s.name for s in self._sets]

    @property
    def _x_batches(self) -> list[tuple[int, Any]]:
        return self._runs[0].batches

    # ------------------------------------------------------------------ set-up
    def _symbolic_model(self, model: keras.Model) -> None:
        """Raise a clear error unless the model has a symbolic graph to tap."""
        if isinstance(model, keras.Sequential) and not model.built:
            # A Sequential model without keras.Input is built by its first batch, after
            # on_train_begin; build it now from the probe shape (same weights fit would make).
            model.build((None, *self._sets[0].inputs[0].shape[1:]))
        if not L.is_model(model):
            raise ModelNotSupportedError(
                f"ActivationRecorder cannot tap the layers of {type(model).__name__}: it is a "
                "subclassed keras.Model without a symbolic graph (no model.inputs/outputs, so "
                "layer outputs are unknown). Build the model with the Functional API "
                "(keras.Input -> layers -> keras.Model(inputs, outputs)) or as keras.Sequential "
                "starting with keras.Input(shape), possibly reusing the layers of your class."
            )

    def _resolve_layers(self, model: keras.Model, excluded: set[int]) -> list[L.Tap]:
        taps = L.walk(model)
        valid = [t.path for t in taps if id(t.layer) not in excluded or t.chain]
        if self.layers_requested is None:
            chosen = L.default_taps(model, taps, excluded)
            if not chosen:
                raise ModelNotSupportedError(
                    "The model has no hidden Dense, Conv, attention or recurrent layer to record by default. "
                    f"Pass layers=[...] with some of: {', '.join(map(repr, valid[:40]))}."
                )
            return chosen
        chosen: list[L.Tap] = []
        for item in self.layers_requested:
            tap = L.find_tap(model, item, taps)
            name = item if isinstance(item, str) else item.name
            if tap is None:
                raise InvalidParameterError(
                    f"Layer {name!r} is not in model {model.name!r}. Layers that can be recorded: "
                    f"{', '.join(map(repr, valid[:40]))}{' ...' if len(valid) > 40 else ''} "
                    "(actconf.list_layers(model) lists them all, with their output shapes)."
                )
            if not tap.chain and id(tap.layer) in excluded:
                raise InvalidParameterError(
                    f"Layer {name!r} produces the model's output (logits/probabilities), which is "
                    "recorded anyway; it is not a hidden layer. Choose among: "
                    f"{', '.join(map(repr, valid[:40]))}."
                )
            if any(c.layer is tap.layer for c in chosen):
                raise InvalidParameterError(f"Layer {name!r} is listed twice in 'layers'.")
            chosen.append(tap)
        return chosen

    def _output_kind(self, model: keras.Model, head: int) -> tuple[str, Any]:
        """Return (mode, logits tensor or None) for the model's chosen output."""
        out = model.outputs[head]
        layer = L.output_layer(model, head)
        if self.output != "auto":
            return self.output, (out if self.output == "logits" else None)
        name = L.activation_name(layer)
        is_softmax_layer = isinstance(layer, keras.layers.Softmax) or (
            isinstance(layer, keras.layers.Activation) and name == "softmax"
        )
        if is_softmax_layer:
            logits = layer.input
            return "probabilities", (logits if not isinstance(logits, list | tuple) else None)
        if name == "softmax":
            return "probabilities", None
        if name == "linear":
            return "logits", out
        raise ModelNotSupportedError(
            f"Cannot tell whether the output of layer {layer.name!r} (activation {name!r}) is "
            "logits or probabilities. Pass output='logits' or output='probabilities'."
        )

    def _check_labels(self, n_classes: int) -> None:
        for probe in self._sets:
            labelled = probe.labels[probe.labels >= 0]
            if labelled.size and labelled.max() >= n_classes:
                where = "" if len(self._sets) == 1 else f" (probe set {probe.name!r})"
                raise InvalidInputError(
                    f"y_probe{where} holds class {int(labelled.max())}, but the model outputs only {n_classes} "
                    "classes. Check the labels or the model's output size."
                )

    def _build(self, model: keras.Model) -> None:
        self._symbolic_model(model)
        head = L.head_index(model, self.output_index)
        self._sets = [P.order_inputs(s, model) for s in self._sets]
        excluded = L.output_layers(model, head)
        taps = self._resolve_layers(model, excluded)
        self._check_reduce_keys(taps)
        mode, logits_tensor = self._output_kind(model, head)
        n_classes = int(model.outputs[head].shape[-1])
        if n_classes < 2:
            raise ModelNotSupportedError(
                f"The model output has {n_classes} unit(s); ActivationRecorder needs one unit per "
                "class (>= 2), e.g. Dense(n_classes) logits."
            )
        self._check_labels(n_classes)
        self._class_names = P.check_names(self.class_names, n_classes)
        outputs, infos = [], []
        for tap, tensor in zip(taps, L.tap_tensors(model, taps), strict=True):
            reduced, info = L.reduce_output(tap.layer, tensor, L.reduction_for(self.reduce, tap))
            outputs.append(reduced)
            infos.append({"name": tap.path, **info, "class": type(tap.layer).__name__,
                          "n_neurons": int(reduced.shape[-1]),
                          "output_shape": [None if d is None else int(d) for d in tensor.shape]})
        self._n_layers = len(outputs)
        self._mode = mode
        self._has_logits = logits_tensor is not None
        outputs.append(model.outputs[head])
        if mode == "probabilities" and self._has_logits:
            outputs.append(logits_tensor)
        # one input as a tensor, not a list of one: the probe batches are given that way (no structure warning)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self._probe = keras.Model(inputs=inputs, outputs=outputs, name="actconf_probe")
        self._layer_infos = layer_entries(infos)  # each with its array key
        self._head = head
        self._mc_model = self._build_mc_model(model, head) if self.mc_samples else None
        self._mc_inputs: dict[int, Any] = {}  # id(probe batch) -> the batch repeated for several MC passes
        self._runs = [_ProbeRun(s, probe_prefix(s.name, i)) for i, s in enumerate(self._sets)]
        for run in self._runs:
            run.batches = P.batches(run.probe, self.probe_batch_size, len(model.inputs))
        self._calls = 0
        self._use_compiled = self.compiled is True
        if mode == "probabilities":
            self._check_distribution(model)

    def _check_reduce_keys(self, taps: Sequence[L.Tap]) -> None:
        """Every layer named in a ``reduce`` dict must be recorded (a typo would be ignored otherwise)."""
        if not isinstance(self.reduce, dict):
            return
        for key in self.reduce:
            if not any(key is t.layer or key in (t.path, t.layer.name) for t in taps):
                raise _bad("reduce", "a dict whose keys are recorded layers",
                           getattr(key, "name", key),
                           f"That layer is not recorded; the recorded layers are {[t.path for t in taps]}. "
                           "Add it to layers=[...] or drop it from reduce.")

    def _check_distribution(self, model: keras.Model) -> None:
        """Refuse probabilities that are not a distribution (e.g. sigmoid outputs), before any write."""
        p = self._forward_batch(self._x_batches[0][1])["outputs/probabilities"]
        finite = np.isfinite(p).all(axis=-1)
        if not finite.any():
            return  # diverged weights: flagged as non-finite at every snapshot instead
        sums = p[finite].sum(axis=-1, dtype=np.float64)
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        if abs(worst - 1.0) > PROBABILITY_TOLERANCE or float(p[finite].min()) < -PROBABILITY_TOLERANCE:
            layer = L.output_layer(model, self._head)
            raise InvalidInputError(
                f"The output of layer {layer.name!r} (activation {L.activation_name(layer)!r}) is not a "
                f"probability distribution over the classes: a row sums to {worst:.3f}, not 1 (tolerance "
                f"{PROBABILITY_TOLERANCE}). Confidence measures need one: end the classifier with a softmax, "
                "or pass output='logits' if the output is unnormalised scores. Independent sigmoid outputs "
                "(multi-label) are not supported. Nothing was written."
            )

    def _build_mc_model(self, model: keras.Model, head: int) -> keras.Model:
        if not any(isinstance(t.layer, _DROPOUT_TYPES) for t in L.walk(model)):
            raise ModelNotSupportedError(
                f"mc_samples={self.mc_samples} needs dropout layers, but model {model.name!r} has "
                "none. Add Dropout to the model or set mc_samples=0."
            )

        def swap(layer: Any) -> Any:
            return _AlwaysDropout(layer) if isinstance(layer, _DROPOUT_TYPES) else layer

        try:
            clone = keras.models.clone_model(model, clone_function=swap, recursive=True)
        except TypeError:  # a Keras without recursive cloning: dropout of nested models stays off
            clone = keras.models.clone_model(model, clone_function=swap)
        inputs = clone.inputs[0] if len(clone.inputs) == 1 else clone.inputs
        return keras.Model(inputs=inputs, outputs=clone.outputs[head], name="actconf_mc_probe")

    def _model_description(self, model: keras.Model) -> dict[str, Any]:
        architecture = _architecture(model)
        return {"name": model.name, "class": type(model).__name__,
                "n_params": int(model.count_params()), "summary": _summary(model.name, architecture),
                "architecture": architecture, "fingerprint": fingerprint(architecture),
                "inputs": [getattr(t, "name", None) for t in model.inputs],
                "outputs": L.heads(model), "head": self._head}

    def _make_layout(self, model: keras.Model) -> Any:
        first = self._sets[0]
        extra = [{"name": s.name, "labels": s.labels, "indices": s.indices,
                  "inputs": (s.inputs if len(s.inputs) > 1 else s.inputs[0]) if self.store_inputs else None,
                  "input_shape": [list(a.shape[1:]) for a in s.inputs] if len(s.inputs) > 1 else s.inputs[0].shape[1:],
                  "fingerprint": _probe_fingerprint(s)} for s in self._sets[1:]]
        single = len(first.inputs) == 1
        return run_layout(
            labels=first.labels, class_names=self._class_names, layers=self._layer_infos,
            logits=self._has_logits or self._mode == "logits", mc_samples=self.mc_samples,
            probe_indices=first.indices,
            probe_inputs=(first.inputs[0] if single else list(first.inputs)) if self.store_inputs else None,
            input_shape=first.inputs[0].shape[1:] if single else [list(a.shape[1:]) for a in first.inputs],
            output_mode=self._mode, dtype=self.dtype, probes=extra, probe_name=first.name,
            probe_fingerprint=_probe_fingerprint(first),
            dataset=self.dataset, model=self._model_description(model),
            recorder={"every_n_batches": self.every_n_batches, "batch_epochs": self.batch_epochs,
                      "record_initial": self.record_initial, "mc_samples": self.mc_samples,
                      "compiled": self.compiled, "background": self.background,
                      "probe_batch_size": self.probe_batch_size, "dtype": self.dtype,
                      "chunk_mb": self.chunk_mb, "output_index": self._head,
                      "reduce": _describe_reduce(self.reduce)},
            config=self.config, versions={**_package_versions(), "backend": keras.backend.backend()},
        )

    def _open_writer(self) -> bool:
        """Open the run for this ``fit``: create it (or resume it) the first time, reopen it later."""
        if self._writer is not None and self._writer.is_open:
            return True  # an earlier fit() ended with an exception before on_train_end
        first = not self._opened
        layout = self._layout
        try:
            writer = RunWriter(self.directory, manifest=layout.manifest, arrays=layout.arrays,
                               static=layout.static, overwrite=self.overwrite and first,
                               resume=self.resume or not first, fsync=self.fsync,
                               background=self.background, chunk_mb=self.chunk_mb,
                               chunk_samples=self.probe_batch_size)
        except StorageError as exc:
            self._storage_failed(exc)
            return False
        self._writer = writer
        return True

    # ------------------------------------------------------------------ recording
    def _call_probe(self, model: keras.Model, xb: Any) -> Any:
        """One call of a probe model: compiled (``predict_on_batch``) or eager."""
        if self._use_compiled:
            return model.predict_on_batch(xb)
        return model(xb, training=False)

    def _forward_batch(self, xb: Any) -> dict[str, np.ndarray]:
        """Every recorded array for one probe batch (samples along the batch axis)."""
        out = self._call_probe(self._probe, xb)
        out = out if isinstance(out, list | tuple) else [out]
        cols = [o if isinstance(o, np.ndarray) else ops.convert_to_numpy(o) for o in out]  # (no second copy)
        dtype = np.dtype(self.dtype)
        arrays = {info["array"]: cols[i].astype(dtype, copy=False) for i, info in enumerate(self._layer_infos)}
        head = cols[self._n_layers]
        if self._mode == "logits":
            arrays["outputs/logits"] = head
            arrays["outputs/probabilities"] = _probabilities(head)
        else:
            arrays["outputs/probabilities"] = head
            if self._has_logits:
                arrays["outputs/logits"] = cols[self._n_layers + 1]
        if self._mc_model is not None:
            arrays["outputs/mc_probabilities"] = self._mc_passes(xb, head.shape[0])
        return arrays

    def _mc_passes(self, xb: Any, n: int) -> np.ndarray:
        """``(mc_samples, n, classes)`` MC-dropout probabilities of one probe batch of ``n`` samples.

        Several passes per call: the batch repeated ``k`` times (``k`` the largest divisor of
        ``mc_samples`` with ``k * n <= probe_batch_size``, so that every call has one shape);
        each row gets its own dropout mask, so the passes are independent as before.
        """
        mc = self.mc_samples
        k = max(d for d in range(1, mc + 1) if mc % d == 0 and (d == 1 or d * n <= self.probe_batch_size))
        if k > 1:
            tiled = self._mc_inputs.get(id(xb))
            if tiled is None:  # once per probe batch (the batches live as long as the recorder)
                parts = [ops.concatenate([p] * k, axis=0) for p in (xb if isinstance(xb, list) else [xb])]
                tiled = self._mc_inputs[id(xb)] = parts if isinstance(xb, list) else parts[0]
            xb = tiled
        passes = []
        for _ in range(mc // k):
            out = ops.convert_to_numpy(self._call_probe(self._mc_model, xb))
            out = _probabilities(out) if self._mode == "logits" else out
            passes.append(out.reshape(k, n, *out.shape[1:]))
        return np.concatenate(passes, axis=0)

    def _record(self, kind: str, epoch: int, batch: int, logs: dict[str, Any] | None, *, step: int,
                label: str | None = None) -> None:
        """Take one snapshot: run each probe set batch by batch, write each batch, commit."""
        writer = self._writer
        if self._recording_off or writer is None:
            return
        # Keras' Callback.model property syncs the JAX backend's training state back into
        # the model's variables (which the probe model shares); other backends: no-op.
        _ = self.model
        self._calls += 1
        if self.compiled == "auto" and self._calls > _EAGER_SNAPSHOTS:
            self._use_compiled = True
        try:
            writer.begin()
            nonfinite = False
            for run in self._runs:
                for start, xb in run.batches:
                    for name, value in self._forward_batch(xb).items():
                        # min/max propagate NaN and show inf, without a temporary array the size of the batch
                        nonfinite = nonfinite or not (np.isfinite(value.min()) and np.isfinite(value.max()))
                        writer.write(run.prefix + name, value, start=start)
            writer.commit(self._row(kind, epoch, batch, logs, step, nonfinite, label))
        except StorageError as exc:
            self._storage_failed(exc)
        except BaseException:
            writer.abort()
            raise

    def _row(self, kind: str, epoch: int, batch: int, logs: dict[str, Any] | None, step: int,
             nonfinite: bool, label: str | None) -> dict[str, Any]:
        """The commit-log row of a snapshot (see the Run contract in docs/architecture.md)."""
        steps = self._steps_per_epoch
        if kind == "batch":
            progress = epoch - 1 + (batch / steps if steps else 0.0)
        else:
            progress = float(epoch)
        clean_logs = {}
        for key, value in (logs or {}).items():
            try:
                clean_logs[str(key)] = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
        row = {"kind": kind, "epoch": int(epoch), "batch": int(batch), "step": int(step),
               "progress": float(progress), "time": time.perf_counter() - self._t0,
               "wall_time": time.time(), "nonfinite": bool(nonfinite), "logs": clean_logs}
        row["label"] = label or snapshot_label(row)
        return row

    def _storage_failed(self, exc: StorageError) -> None:
        """Apply ``on_error`` to a storage failure."""
        if self.on_error == "raise":
            self._close_quietly()
            raise exc
        self._recording_off = True
        stop = self.on_error == "stop"
        if stop:
            self.model.stop_training = True
        warnings.warn(
            f"{exc} Recording is off until this fit() ends; "
            + ("training stops (on_error='stop')." if stop else "training goes on (on_error='warn')."),
            RecordingWarning, stacklevel=3,
        )

    def _close_quietly(self) -> None:
        """Close the writer after a failure (releasing its lock), ignoring a second failure."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (StorageError, OSError):
                self._writer.abandon()

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = self.model
        self._steps_per_epoch = (self.params or {}).get("steps")
        self._recording_off = False
        self._starting = True
        if self._model_id is not None and self._model_id != id(model):
            raise InvalidParameterError(
                "This ActivationRecorder already recorded another model into "
                f"{str(self.directory)!r}; create a new recorder (and directory) per model."
            )
        if self._model_id is None:  # the first fit(): build the probe model, then open the run
            self._build(model)
            self._layout = self._make_layout(model)
            self._model_id = id(model)
            self._t0 = time.perf_counter()
            self._fresh = True  # no epoch begun yet by this recorder
            self._last_epoch = 0
            self._epoch_start_step = 0
        self._plan_compiled()
        first = not self._opened
        if self._open_writer() and first:
            self._opened = True
            last = self._writer.last_row
            if last is not None and self._fresh:  # resumed a run: continue after its last snapshot
                self._fresh = False
                self._last_epoch = int(last.get("epoch", 0))
                self._epoch_start_step = int(last.get("step", 0))
                self._t0 = time.perf_counter() - float(last.get("time") or 0.0)

    def _plan_compiled(self) -> None:
        """``compiled="auto"``: trace the probe model from this fit's first snapshot when the fit
        will take more than :data:`_EAGER_SNAPSHOTS` snapshots (the tracing then pays off), instead
        of after that many eager ones."""
        if self.compiled != "auto" or self._use_compiled:
            return
        params = self.params or {}
        epochs, steps = params.get("epochs"), self._steps_per_epoch
        if not isinstance(epochs, int):
            return
        expected = epochs + 1
        if self.every_n_batches is not None and steps:
            batch_epochs = epochs if self.batch_epochs is None else min(epochs, self.batch_epochs)
            expected += batch_epochs * ((steps - 1) // self.every_n_batches)  # the last batch is the epoch end
        if self._calls + expected > _EAGER_SNAPSHOTS:
            self._use_compiled = True

    def _start_fit(self, first_epoch: int) -> None:
        """Number this fit's epochs and steps; take the start snapshot of a new run."""
        steps = self._steps_per_epoch or 0
        if self._fresh:
            self._fresh = False
            self._epoch_offset = 0
            self._last_epoch = first_epoch
            self._epoch_start_step = first_epoch * steps
            if self.record_initial and first_epoch == 0:
                self._record("initial", 0, 0, None, step=0)
            elif self.record_initial:  # fit(initial_epoch=k): the model is trained already
                self._record("epoch", first_epoch, steps, None, step=self._epoch_start_step,
                             label=f"epoch {first_epoch} (start)")
            return
        # a later fit() or a resumed run: continue after the last epoch, never go back
        self._epoch_offset = max(0, self._last_epoch - first_epoch)
        self._epoch_start_step += max(0, first_epoch - self._last_epoch) * steps

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._keras_epoch = epoch
        self._batches_done = 0
        if self._starting:
            self._starting = False
            self._start_fit(epoch)
        if not self._steps_per_epoch and self.every_n_batches is None:
            self._iterations_at_begin = self._iterations()

    def _epoch_number(self) -> int:
        return self._keras_epoch + 1 + self._epoch_offset

    def _iterations(self) -> int | None:
        """The optimizer's step counter (a sync with the backend; read only when needed)."""
        optimizer = getattr(self._model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        if iterations is None:
            return None
        return int(ops.convert_to_numpy(ops.convert_to_tensor(iterations)))

    def _epoch_batches(self) -> int:
        """Batches done in the epoch that ends: counted by the batch hook, else the epoch's length."""
        if self.every_n_batches is not None:
            return self._batches_done
        if self._steps_per_epoch:
            return self._steps_per_epoch
        _ = self.model  # unknown epoch length: ask the optimizer (JAX: sync the training state first)
        now, before = self._iterations(), self._iterations_at_begin
        return 0 if now is None or before is None else max(0, now - before)

    def _on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Bound as ``on_train_batch_end`` only when batch snapshots are requested: a
        # batch hook makes Keras wait for every batch's logs, which slows training.
        # With ``steps_per_execution = k`` Keras calls this once per k batches, with the
        # index of the execution's last batch (past the epoch's end in its last execution).
        done = batch + 1 if not self._steps_per_epoch else min(batch + 1, self._steps_per_epoch)
        before, self._batches_done = self._batches_done, done
        n = self.every_n_batches
        if done // n == before // n:  # no multiple of n reached since the last call
            return
        epoch = self._epoch_number()
        if self.batch_epochs is not None and epoch > self.batch_epochs:
            return
        if self._steps_per_epoch and done >= self._steps_per_epoch:
            return  # the epoch-end snapshot follows immediately
        self._record("batch", epoch, done, logs, step=self._epoch_start_step + done)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        number = self._epoch_number()
        batches = self._epoch_batches()
        self._record("epoch", number, batches, logs, step=self._epoch_start_step + batches)
        self._epoch_start_step += batches
        self._last_epoch = number

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._starting and self._fresh:  # fit(epochs=0): no epoch began; record the start anyway
            self._starting = False
            self._start_fit(0)
        if self._writer is not None and self._writer.is_open:
            try:
                self._writer.close()  # waits for the last snapshot's commit, trims, releases the run
            except StorageError as exc:
                self._writer.abandon()
                if self.on_error == "raise":
                    raise
                warnings.warn(str(exc), RecordingWarning, stacklevel=2)

    def close(self) -> None:
        """Close the run now (release it to other writers); ``fit`` reopens it when called again.

        ``fit`` closes it at its end by itself; call this after a ``fit`` that ended with
        an exception (e.g. interrupted), before another recorder writes into the run.
        """
        if self._writer is not None and self._writer.is_open:
            self._writer.close()

    @property
    def n_snapshots(self) -> int:
        """Number of snapshots committed so far (readable by ``open_run``)."""
        return 0 if self._writer is None else self._writer.n_snapshots

    def flush(self) -> None:
        """Wait until every snapshot taken so far is committed to disk."""
        if self._writer is not None and self._writer.is_open:
            self._writer.flush()



#: snapshots taken with eager calls before ``compiled="auto"`` traces the probe model. Measured
#: inside a digits fit (load 5-6): tracing 40-60 ms, an eager call 13-23 ms, a traced one 6 ms;
#: on a quiet machine 20 ms, 1.1 ms and 0.4 ms. Beyond 8 snapshots tracing wins under load and
#: costs at most about 15 ms on a quiet machine.
_EAGER_SNAPSHOTS = 8


def _probe_fingerprint(probe: P.ProbeSet) -> str:
    return probe_fingerprint(probe.inputs[0] if len(probe.inputs) == 1 else list(probe.inputs), probe.labels)


def _describe_reduce(reduce: Any) -> Any:
    """``reduce=`` for the manifest (callables by name)."""
    def one(value: Any) -> str:
        return f"custom:{getattr(value, '__name__', type(value).__name__)}" if callable(value) else str(value)

    if isinstance(reduce, dict):
        return {str(getattr(k, "name", k)): one(v) for k, v in reduce.items()}
    return one(reduce)


def _architecture(model: Any, prefix: str = "") -> list[list[Any]]:
    """The model's layers as [class, name, output shape, parameters]: its fingerprint's content.

    Nested models are listed layer by layer (names ``outer/inner``); Keras' numbered
    automatic names compare as their base (see :func:`actconf.store.comparable_name`).
    """
    rows: list[list[Any]] = []
    for layer in getattr(model, "layers", []):
        cls = type(layer).__name__
        try:
            shape = [None if d is None else int(d) for d in layer.output.shape]
        except (AttributeError, ValueError, TypeError):
            shape = None
        try:
            params = int(layer.count_params())
        except (ValueError, AttributeError):
            params = None
        name = prefix + comparable_name(layer.name, cls)
        rows.append([cls, name, shape, params])
        if isinstance(layer, keras.Model):
            rows.extend(_architecture(layer, prefix=name + "/"))
    return rows


def _summary(name: str, architecture: Sequence[Sequence[Any]]) -> str:
    """A plain-text table of the model's layers (name, class, output shape, parameters).

    Built from the architecture rows rather than ``model.summary()``, whose rendering
    costs more than a whole snapshot.
    """
    lines = [f"Model: {name!r}", f"{'layer':<48} {'class':<24} {'output shape':<24} {'params':>10}"]
    for cls, path, shape, params in architecture:
        text = "?" if shape is None else "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        lines.append(f"{path:<48} {cls:<24} {text:<24} {'' if params is None else params:>10}")
    return "\n".join(lines)


def _package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on (for the manifest), from the imported modules.

    Only modules already imported are asked (their ``__version__``), which costs
    nothing; the backend's framework is imported by Keras by then.
    """
    versions = {"python": platform.python_version()}
    for name in ("actconf", "numpy", "keras", "zarr", "tensorflow", "jax", "torch"):
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            versions[name] = version
    return versions
