"""``ActivationRecorder``: record hidden activity and outputs on a probe set during ``fit``.

This file, the ``store/`` folder and ``errors.py`` work on their own: copy them into a
folder of your project (e.g. ``actconf_lite/`` with an empty ``__init__.py``) to
record without installing actconf; they need only ``keras``, ``numpy`` and ``zarr``.
The recorder uses ``keras`` and ``keras.ops`` only, so it runs on every Keras 3
backend (TensorFlow, JAX, PyTorch). The run's manifest and arrays are laid out by
:func:`actconf.store.run_layout`, the softmax of logits is :func:`actconf.store.softmax`.

No module-level state: package versions are looked up when a recording starts (a
few milliseconds), everything else lives on the recorder.
"""

from __future__ import annotations

import numbers
import os
import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

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
    run_layout,
    snapshot_label,
    softmax,
)

__all__ = ["ActivationRecorder"]

_OUTPUT_MODES = ("auto", "logits", "probabilities")
_ON_ERROR = ("raise", "warn", "stop")
_DTYPES = ("float32", "float16")
_DROPOUT_TYPES = tuple(
    getattr(keras.layers, n)
    for n in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
              "AlphaDropout", "GaussianDropout")
    if hasattr(keras.layers, n)
)


def _bad(name: str, expected: str, value: Any, hint: str = "") -> InvalidParameterError:
    text = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
    msg = f"The {name!r} parameter of ActivationRecorder must be {expected}. Got {text} instead."
    return InvalidParameterError(msg + (" " + hint if hint else ""))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax of recorded logits, stored as float32."""
    return softmax(logits).astype(np.float32)


def _unpack_probe(x_probe: Any, y_probe: Any, probe_indices: Any, class_names: Any) -> tuple[Any, Any, Any, Any]:
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


def _check_x_probe(x_probe: Any) -> np.ndarray:
    try:
        x = np.asarray(x_probe, dtype=np.float32)
    except (TypeError, ValueError):
        raise _bad("x_probe", "a numeric array of shape (n_samples, *input_shape)", type(x_probe).__name__) from None
    if x.ndim < 2 or x.shape[0] == 0:
        raise _bad("x_probe", "an array of shape (n_samples, *input_shape) with n_samples >= 1",
                   f"an array of shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise _bad("x_probe", "finite (no NaN or inf)", "an array with non-finite values")
    return x


def _check_y_probe(y_probe: Any, n: int) -> np.ndarray:
    """Integer labels of the n probe samples (-1 for all when unknown)."""
    if y_probe is None:
        return np.full(n, -1, dtype=np.int64)
    y = np.asarray(y_probe)
    if y.ndim == 2 and y.shape[1] > 1:
        raise _bad("y_probe", "integer class labels of shape (n_samples,)", f"an array of shape {y.shape}",
                   "For one-hot labels pass y.argmax(axis=1).")
    y = y.reshape(-1)
    if y.shape[0] != n or not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise _bad("y_probe", f"{n} integer class labels (one per probe sample)",
                   f"an array of shape {np.shape(y_probe)} and dtype {y.dtype}")
    return y.astype(np.int64)


def _check_probe_indices(probe_indices: Any, n: int) -> np.ndarray:
    if probe_indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(probe_indices).reshape(-1)
    if idx.shape[0] != n or not np.issubdtype(idx.dtype, np.integer):
        raise _bad("probe_indices", f"{n} integers (one per probe sample)", f"shape {idx.shape}, dtype {idx.dtype}")
    return idx.astype(np.int64)


def _check_layer_choice(layers: Any) -> list[Any] | None:
    """``layers`` as a non-empty list of names / layer objects, or None (the default layers)."""
    if layers is None:
        return None
    if isinstance(layers, str | keras.layers.Layer):
        layers = [layers]
    layers = list(layers)
    if not layers or not all(isinstance(item, str | keras.layers.Layer) for item in layers):
        raise _bad("layers", "None or a non-empty list of layer names / layers", layers)
    return layers


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _bad(name, "one of " + ", ".join(map(repr, choices)), value)
    return value


def _check_count(name: str, value: Any, min_value: int, *, allow_none: bool = False, hint: str = "") -> int | None:
    """An int >= ``min_value`` (or None when allowed), as ``int``."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < min_value:
        raise _bad(name, ("None or " if allow_none else "") + f"an int >= {min_value}", value, hint)
    return int(value)


def _is_conv(layer: Any) -> bool:
    return hasattr(layer, "kernel_size") and hasattr(layer, "data_format") and (
        hasattr(layer, "filters") or hasattr(layer, "depth_multiplier")
    )


def _has_weights(layer: Any) -> bool:
    return isinstance(layer, keras.layers.Dense | keras.layers.EinsumDense) or (
        _is_conv(layer) and bool(layer.weights)
    )


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", type(act).__name__)


class _AlwaysDropout(keras.layers.Layer):
    """Wraps a dropout layer so that it drops units even when called with ``training=False``."""

    def __init__(self, inner: keras.layers.Layer, **kwargs: Any):
        super().__init__(name=f"mc_{inner.name}", **kwargs)
        self.inner = inner

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.inner(inputs, training=True)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class ActivationRecorder(keras.callbacks.Callback):
    """Record hidden-layer activations and model outputs on a fixed probe set.

    At the start of training the recorder builds one multi-output probe model
    (the chosen layers plus the model output) and then calls it on each probe
    batch with ``training=False`` — never ``model.predict``, never rebuilt; see
    ``compiled`` — on the probe inputs: once before training
    (the untrained state), at every epoch end and, if asked, every
    ``every_n_batches`` batches during the first ``batch_epochs`` epochs. Each
    snapshot is committed to ``directory`` as soon as it is taken (see
    :mod:`actconf.store`), so a crash loses no completed snapshot; open the run
    with :func:`actconf.open_run` at any time, even while training goes on.

    What is recorded per probe sample: for Dense layers the units; for
    convolutional layers the spatial mean of every channel (one "neuron" per
    channel); for other layers the flattened output. The model's output as logits
    and softmax probabilities when the last layer is linear, or as probabilities
    when it already is a softmax (a separate ``Softmax``/``Activation("softmax")``
    layer after a linear one yields both). Plus a row of metadata: epoch, batch,
    global step, times, and the Keras logs at that point (batch-level logs are
    Keras' running means over the epoch so far).

    Args:
        directory: Path of the run directory to create. It must not exist, be
            empty, or hold a previous run (replaced only with ``overwrite=True``).
        x_probe: Probe inputs, an array of shape ``(n_samples, *input_shape)``;
            or a probe object with attributes ``x``, ``y``, ``indices`` and
            ``class_names`` (such as :func:`actconf.make_probe` returns).
        y_probe: Integer class labels of the probe samples (needed for class
            groupings and correctness). Optional.
        layers: Names (or layer objects) of the layers to record. Default: every
            Dense/Conv layer except the output layer.
        every_n_batches: Also record every N batches (int >= 1), during the first
            ``batch_epochs`` epochs. Default ``None``: epoch ends only.
        batch_epochs: Number of epochs during which batch snapshots are taken
            (default 1, the early-training view); ``None`` for all epochs.
        record_initial: Record the untrained state before the first batch.
        overwrite: Replace a run already present in ``directory``.
        mc_samples: Number of MC-dropout passes per snapshot (dropout active,
            everything else — BatchNorm included — in inference mode). 0 = none.
        output: ``"auto"`` (detect from the last layer), ``"logits"`` or
            ``"probabilities"``: what the model's output is.
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
            disks; on a local disk writing inside the callback (the default,
            about 0.6 ms per snapshot of 500 x 128) is cheaper than the thread's
            competition with training for the interpreter, and a snapshot is on
            disk when the callback returns.
        compiled: Run the probe model through Keras' compiled single-batch
            inference (``predict_on_batch``: traced once by the backend, no
            ``predict()`` loop, callbacks or data adapters; about 4x faster than
            an eager call). ``False`` calls the probe model eagerly,
            ``probe(x, training=False)``. Both give identical values.
        resume: Append to the run already in ``directory`` (or start one if there
            is none): epochs and steps continue after its last snapshot (an
            interrupted epoch counts as begun; ``fit(initial_epoch=k)`` numbers
            epochs from ``k + 1``), and no start snapshot is recorded. Refused with
            :class:`~actconf.errors.RunMismatchError` when the probe set (a hash of
            its inputs and labels), the recorded layers or the model's
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
        x_probe: Any,
        y_probe: Any = None,
        *,
        layers: Sequence[Any] | None = None,
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
        compiled: bool = True,
        resume: bool = False,
        on_error: str = "raise",
        dtype: str = "float32",
        chunk_mb: float = DEFAULT_CHUNK_MB,
    ) -> None:
        super().__init__()
        x_probe, y_probe, probe_indices, class_names = _unpack_probe(x_probe, y_probe, probe_indices, class_names)
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
        self.x_probe = _check_x_probe(x_probe)
        self.y_probe = _check_y_probe(y_probe, self.x_probe.shape[0])
        self.probe_indices = _check_probe_indices(probe_indices, self.x_probe.shape[0])
        self.layers_requested = _check_layer_choice(layers)
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
        self.compiled = bool(compiled)
        if self.every_n_batches is not None:
            self.on_train_batch_end = self._on_train_batch_end

        self._writer: RunWriter | None = None
        self._model_id: int | None = None
        self._opened = False  # the run was opened (created or resumed) once
        self._recording_off = False

    # ------------------------------------------------------------------ set-up
    def _output_layer(self, model: keras.Model) -> Any:
        history = getattr(model.outputs[0], "_keras_history", None)
        return history[0] if history is not None else model.layers[-1]

    def _symbolic_model(self, model: keras.Model) -> None:
        """Raise a clear error unless the model has a symbolic graph to tap."""
        if isinstance(model, keras.Sequential) and not model.built:
            # A Sequential model without keras.Input is built by its first batch, after
            # on_train_begin; build it now from the probe shape (same weights fit would make).
            model.build((None, *self.x_probe.shape[1:]))
        try:
            inputs = model.inputs
            outputs = model.outputs
            ok = bool(inputs) and bool(outputs)
        except (AttributeError, ValueError):
            ok = False
        if not ok:
            raise ModelNotSupportedError(
                f"ActivationRecorder cannot tap the layers of {type(model).__name__}: it is a "
                "subclassed keras.Model without a symbolic graph (no model.inputs/outputs, so "
                "layer outputs are unknown). Build the model with the Functional API "
                "(keras.Input -> layers -> keras.Model(inputs, outputs)) or as keras.Sequential "
                "starting with keras.Input(shape), possibly reusing the layers of your class."
            )

    def _resolve_layers(self, model: keras.Model) -> list[Any]:
        output_layer = self._output_layer(model)
        excluded = {id(output_layer)}
        if not output_layer.weights:  # e.g. Activation('softmax'): its input layer makes the logits
            inbound = getattr(output_layer.input, "_keras_history", None)
            if inbound is not None:
                excluded.add(id(inbound[0]))
        candidates = [lyr for lyr in model.layers if not isinstance(lyr, keras.layers.InputLayer)]
        valid_names = [lyr.name for lyr in candidates if id(lyr) not in excluded]
        if self.layers_requested is None:
            chosen = [lyr for lyr in candidates if id(lyr) not in excluded and _has_weights(lyr)]
            if not chosen:
                raise ModelNotSupportedError(
                    "The model has no hidden Dense or Conv layer to record by default. Pass "
                    f"layers=[...] with some of: {', '.join(map(repr, valid_names))}."
                )
            return chosen
        chosen = []
        for item in self.layers_requested:
            name = item if isinstance(item, str) else item.name
            match = [lyr for lyr in candidates if lyr.name == name]
            if not match:
                raise InvalidParameterError(
                    f"Layer {name!r} is not in model {model.name!r}. Hidden layers that can be "
                    f"recorded: {', '.join(map(repr, valid_names))}."
                )
            if id(match[0]) in excluded:
                raise InvalidParameterError(
                    f"Layer {name!r} produces the model's output (logits/probabilities), which is "
                    "recorded anyway; it is not a hidden layer. Choose among: "
                    f"{', '.join(map(repr, valid_names))}."
                )
            if name in [c.name for c in chosen]:
                raise InvalidParameterError(f"Layer {name!r} is listed twice in 'layers'.")
            chosen.append(match[0])
        return chosen

    def _check_probe_shape(self, model: keras.Model) -> None:
        expected = tuple(model.inputs[0].shape)[1:]
        got = self.x_probe.shape[1:]
        fits = len(expected) == len(got) and all(e is None or e == g for e, g in zip(expected, got, strict=True))
        if len(model.inputs) != 1 or not fits:
            raise InvalidInputError(
                f"The probe inputs have shape {got} per sample, but model {model.name!r} expects "
                f"{expected if len(model.inputs) == 1 else [tuple(t.shape)[1:] for t in model.inputs]}. "
                "Give the probe samples the same shape as the training inputs (one model input is "
                "supported)."
            )

    def _output_kind(self, model: keras.Model) -> tuple[str, Any]:
        """Return (mode, logits tensor or None) for the model's first output."""
        out = model.outputs[0]
        layer = self._output_layer(model)
        if self.output != "auto":
            return self.output, (out if self.output == "logits" else None)
        name = _activation_name(layer)
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

    @staticmethod
    def _reduce(layer: Any, tensor: Any) -> tuple[Any, str]:
        rank = len(tensor.shape)
        if rank == 2:
            return tensor, "dense" if _has_weights(layer) else "units"
        if _is_conv(layer):
            if getattr(layer, "data_format", "channels_last") == "channels_first":
                axes = tuple(range(2, rank))
            else:
                axes = tuple(range(1, rank - 1))
            return ops.mean(tensor, axis=axes), "conv"
        size = int(np.prod([d for d in tensor.shape[1:]]))
        return ops.reshape(tensor, (-1, size)), "flatten"

    def _build(self, model: keras.Model) -> None:
        self._symbolic_model(model)
        self._check_probe_shape(model)
        layers = self._resolve_layers(model)
        mode, logits_tensor = self._output_kind(model)
        n_classes = int(model.outputs[0].shape[-1])
        if n_classes < 2:
            raise ModelNotSupportedError(
                f"The model output has {n_classes} unit(s); ActivationRecorder needs one unit per "
                "class (>= 2), e.g. Dense(n_classes) logits."
            )
        labelled = self.y_probe[self.y_probe >= 0]
        if labelled.size and labelled.max() >= n_classes:
            raise InvalidInputError(
                f"y_probe holds class {int(labelled.max())}, but the model outputs only {n_classes} "
                "classes. Check the labels or the model's output size."
            )
        class_names = self.class_names or [str(i) for i in range(n_classes)]
        if len(class_names) != n_classes:
            raise _bad("class_names", f"{n_classes} names (one per model output)", class_names)

        outputs, infos = [], []
        for layer in layers:
            try:
                tensor = layer.output
            except (AttributeError, ValueError) as exc:
                raise ModelNotSupportedError(
                    f"Layer {layer.name!r} has no single symbolic output ({exc}); it may be shared "
                    "or nested. Record another layer."
                ) from None
            reduced, kind = self._reduce(layer, tensor)
            outputs.append(reduced)
            infos.append({"name": layer.name, "kind": kind, "class": type(layer).__name__,
                          "n_neurons": int(reduced.shape[-1]),
                          "output_shape": [None if d is None else int(d) for d in tensor.shape]})
        self._n_layers = len(outputs)
        self._mode = mode
        self._has_logits = logits_tensor is not None
        outputs.append(model.outputs[0])
        if mode == "probabilities" and self._has_logits:
            outputs.append(logits_tensor)
        self._probe = keras.Model(inputs=model.inputs, outputs=outputs, name="actconf_probe")
        self._layer_infos = layer_entries(infos)  # each with its array key
        self._mc_model = self._build_mc_model(model) if self.mc_samples else None
        n = self.x_probe.shape[0]
        self._x_batches = [
            (i, ops.convert_to_tensor(self.x_probe[i:i + self.probe_batch_size]))
            for i in range(0, n, self.probe_batch_size)
        ]
        self._class_names = class_names
        self._n_classes = n_classes

    def _build_mc_model(self, model: keras.Model) -> keras.Model:
        if not any(isinstance(lyr, _DROPOUT_TYPES) for lyr in model.layers):
            raise ModelNotSupportedError(
                f"mc_samples={self.mc_samples} needs dropout layers, but model {model.name!r} has "
                "none. Add Dropout to the model or set mc_samples=0."
            )

        def swap(layer: Any) -> Any:
            return _AlwaysDropout(layer) if isinstance(layer, _DROPOUT_TYPES) else layer

        clone = keras.models.clone_model(model, clone_function=swap)
        return keras.Model(inputs=clone.inputs, outputs=clone.outputs[0], name="actconf_mc_probe")

    def _model_description(self, model: keras.Model) -> dict[str, Any]:
        lines: list[str] = []
        try:
            model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=100)
        except Exception:  # summary is a convenience; never block recording on it
            lines = []
        architecture = _architecture(model)
        return {"name": model.name, "class": type(model).__name__,
                "n_params": int(model.count_params()), "summary": "\n".join(lines),
                "architecture": architecture, "fingerprint": fingerprint(architecture)}

    def _make_layout(self, model: keras.Model) -> Any:
        return run_layout(
            labels=self.y_probe, class_names=self._class_names, layers=self._layer_infos,
            logits=self._has_logits or self._mode == "logits", mc_samples=self.mc_samples,
            probe_indices=self.probe_indices, probe_inputs=self.x_probe if self.store_inputs else None,
            input_shape=self.x_probe.shape[1:], output_mode=self._mode, dtype=self.dtype,
            probe_fingerprint=probe_fingerprint(self.x_probe, self.y_probe),
            dataset=self.dataset, model=self._model_description(model),
            recorder={"every_n_batches": self.every_n_batches, "batch_epochs": self.batch_epochs,
                      "record_initial": self.record_initial, "mc_samples": self.mc_samples,
                      "compiled": self.compiled, "background": self.background,
                      "probe_batch_size": self.probe_batch_size, "dtype": self.dtype,
                      "chunk_mb": self.chunk_mb},
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
    def _forward_batch(self, xb: Any) -> dict[str, np.ndarray]:
        """Every recorded array for one probe batch (samples along the batch axis)."""
        if self.compiled:
            out = self._probe.predict_on_batch(xb)
        else:
            out = self._probe(xb, training=False)
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
            passes = []
            for _ in range(self.mc_samples):
                out = ops.convert_to_numpy(self._mc_model(xb, training=False))
                passes.append(_probabilities(out) if self._mode == "logits" else out)
            arrays["outputs/mc_probabilities"] = np.stack(passes)
        return arrays

    def _record(self, kind: str, epoch: int, batch: int, logs: dict[str, Any] | None, *, step: int,
                label: str | None = None) -> None:
        """Take one snapshot: run the probe batch by batch, write each batch, commit."""
        writer = self._writer
        if self._recording_off or writer is None:
            return
        # Keras' Callback.model property syncs the JAX backend's training state back into
        # the model's variables (which the probe model shares); other backends: no-op.
        _ = self.model
        try:
            writer.begin()
            nonfinite = False
            for start, xb in self._x_batches:
                for name, value in self._forward_batch(xb).items():
                    # min/max propagate NaN and show inf, without a temporary array the size of the batch
                    nonfinite = nonfinite or not (np.isfinite(value.min()) and np.isfinite(value.max()))
                    writer.write(name, value, start=start)
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
        first = not self._opened
        if self._open_writer() and first:
            self._opened = True
            last = self._writer.last_row
            if last is not None and self._fresh:  # resumed a run: continue after its last snapshot
                self._fresh = False
                self._last_epoch = int(last.get("epoch", 0))
                self._epoch_start_step = int(last.get("step", 0))
                self._t0 = time.perf_counter() - float(last.get("time") or 0.0)

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
        self._batches_done = batch + 1
        n = self.every_n_batches
        if (batch + 1) % n:
            return
        epoch = self._epoch_number()
        if self.batch_epochs is not None and epoch > self.batch_epochs:
            return
        if self._steps_per_epoch and batch + 1 >= self._steps_per_epoch:
            return  # the epoch-end snapshot follows immediately
        self._record("batch", epoch, batch + 1, logs, step=self._epoch_start_step + batch + 1)

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


def _package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on (for the manifest)."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("actconf", "numpy", "keras", "zarr", "tensorflow", "tensorflow-cpu", "jax", "torch"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions
