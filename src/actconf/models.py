"""The two networks of the reference studies, as Keras 3 Functional models.

* :func:`build_mlp` — "MNIST-MLP": Flatten → Dense(128, ReLU, L2 1e-3) →
  Dropout(0.5) → Dense(n_classes) logits; hidden sizes configurable.
* :func:`build_cnn` — the shallow CNN: two Conv2D(128, 3x3, stride 2, ReLU) layers,
  each followed by SpatialDropout2D(0.5), then Flatten → Dense(n_classes) logits.

Both are compiled like the reference: ``Adam(learning_rate)``,
``SparseCategoricalCrossentropy(from_logits=True)``, ``metrics=["accuracy"]``.
Every layer has a fixed name (``hidden_1``, ``conv_1``, ``logits``, ...), so the
recorder and the analysis can refer to them, and an explicit ``Input``, so layer
outputs are symbolic. Initial weights and dropout masks come from seeds derived
from ``seed`` (seeded initializers, no global random state), so the same ``seed``
gives the same untrained network.

Keras is imported inside the functions (``import actconf.models`` stays quick).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_float, check_int, param_error

__all__ = ["build_cnn", "build_mlp", "cnn_spatial_sizes"]


def build_mlp(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    hidden: int | Sequence[int] = (128,),
    l2: float = 1e-3,
    dropout: float = 0.5,
    seed: int = 0,
    compile: bool = True,
    learning_rate: float = 1e-3,
) -> Any:
    """Build the reference multi-layer perceptron.

    Layers: ``input`` → ``flatten`` → for each hidden size *k* (1-based):
    ``hidden_k`` = Dense(units, ReLU, L2 kernel penalty) → ``dropout_k`` =
    Dropout(dropout) → ``logits`` = Dense(n_classes) (linear).

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one input without the batch axis, e.g. ``(28, 28, 1)`` or
        ``dataset.input_shape``.
    n_classes : int
        Number of classes (>= 2): the units of the ``logits`` layer.
    hidden : int or sequence of int, default=(128,)
        Units of each hidden layer. The paper's reference: one layer of 128.
    l2 : float, default=1e-3
        L2 penalty factor on the hidden kernels (``0`` = none).
    dropout : float, default=0.5
        Dropout rate after each hidden layer, in ``[0, 1)``.
    seed : int, default=0
        Seed of the initial weights and the dropout masks.
    compile : bool, default=True
        Compile with Adam, sparse categorical cross-entropy from logits, accuracy.
    learning_rate : float, default=1e-3
        Adam's learning rate.

    Returns
    -------
    keras.Model
        A Functional model named ``"mlp"`` whose output is the logits.

    Notes
    -----
    Parameter count: ``sum((d_in + 1) * d_out)`` over the Dense layers, with
    ``d_in`` = prod(input_shape) for the first.

    Examples
    --------
    >>> model = build_mlp((8, 8, 1), 10)
    >>> [layer.name for layer in model.layers]
    ['input', 'flatten', 'hidden_1', 'dropout_1', 'logits']
    """
    import keras

    caller = "build_mlp()"
    shape = _check_shape(input_shape, caller)
    n_classes = check_int("n_classes", n_classes, caller, min_value=2)
    units = _check_hidden(hidden, caller)
    l2 = check_float("l2", l2, caller, min_value=0.0)
    dropout = check_float("dropout", dropout, caller, min_value=0.0, max_value=1.0,
                          max_inclusive=False)
    seeds = _layer_seeds(seed, 2 * len(units) + 1, caller)
    learning_rate = _check_common(compile, learning_rate, caller)

    inputs = keras.Input(shape=shape, name="input")
    h = keras.layers.Flatten(name="flatten")(inputs)
    for k, n in enumerate(units, start=1):
        h = keras.layers.Dense(
            n, activation="relu", name=f"hidden_{k}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seeds[2 * k - 2]),
            kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
        )(h)
        h = keras.layers.Dropout(dropout, seed=seeds[2 * k - 1], name=f"dropout_{k}")(h)
    outputs = keras.layers.Dense(
        n_classes, name="logits",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seeds[-1]),
    )(h)
    model = keras.Model(inputs, outputs, name="mlp")
    if compile:
        _compile(model, learning_rate)
    return model


def build_cnn(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: int = 128,
    dropout: float = 0.5,
    padding: str = "valid",
    seed: int = 0,
    compile: bool = True,
    learning_rate: float = 1e-3,
) -> Any:
    """Build the reference shallow convolutional network.

    Layers: ``input`` → ``conv_1`` = Conv2D(filters, 3x3, stride 2, ReLU) →
    ``spatial_dropout_1`` → ``conv_2`` = Conv2D(filters, 3x3, stride 2, ReLU) →
    ``spatial_dropout_2`` → ``flatten`` → ``logits`` = Dense(n_classes) (linear).

    Parameters
    ----------
    input_shape : sequence of 3 int
        ``(height, width, channels)`` of one image, e.g. ``(8, 8, 1)``,
        ``(28, 28, 1)`` or ``(32, 32, 3)``.
    n_classes : int
        Number of classes (>= 2).
    filters : int, default=128
        Channels of both convolutions (each channel is one "neuron" for the maps).
    dropout : float, default=0.5
        SpatialDropout2D rate after each convolution, in ``[0, 1)``.
    padding : {"valid", "same"}, default="valid"
        Convolution padding. ``"valid"`` (Keras' default, as in the reference)
        needs images of at least 7x7; see :func:`cnn_spatial_sizes`.
    seed : int, default=0
        Seed of the initial weights and the dropout masks.
    compile : bool, default=True
        Compile with Adam, sparse categorical cross-entropy from logits, accuracy.
    learning_rate : float, default=1e-3
        Adam's learning rate.

    Returns
    -------
    keras.Model
        A Functional model named ``"cnn"`` whose output is the logits.

    Notes
    -----
    The spatial sizes per layer are :func:`cnn_spatial_sizes` (with a table for the
    usual datasets); the default works for the 8x8 digits too (the second convolution
    then sees the whole 3x3 map and outputs one position per channel). Parameter
    count: ``(9 c + 1) f + (9 f + 1) f + (h2 w2 f + 1) n_classes``.

    Examples
    --------
    >>> model = build_cnn((8, 8, 1), 10)
    >>> model.get_layer("conv_2").output.shape
    (None, 1, 1, 128)
    """
    caller = "build_cnn()"
    shape = _check_image_shape(input_shape, caller)
    n_classes = check_int("n_classes", n_classes, caller, min_value=2)
    filters = check_int("filters", filters, caller, min_value=1)
    dropout = check_float("dropout", dropout, caller, min_value=0.0, max_value=1.0,
                          max_inclusive=False)
    padding = _check_padding(padding, caller)
    if min(cnn_spatial_sizes(shape[:2], padding=padding)[-1]) < 1:
        raise param_error(
            "input_shape", caller,
            "at least 7x7 pixels with padding='valid' (two 3x3 convolutions of stride 2)",
            tuple(input_shape), "Use padding='same', which works for any image size.",
        )
    seeds = _layer_seeds(seed, 5, caller)
    learning_rate = _check_common(compile, learning_rate, caller)
    model = _cnn_graph(shape, n_classes, filters, dropout, padding, seeds)
    if compile:
        _compile(model, learning_rate)
    return model


def _cnn_graph(shape: tuple[int, ...], n_classes: int, filters: int, dropout: float, padding: str,
               seeds: list[int]) -> Any:
    """The CNN's layers (see :func:`build_cnn`) as an uncompiled Functional model."""
    import keras

    inputs = keras.Input(shape=shape, name="input")
    h = inputs
    for k in (1, 2):
        h = keras.layers.Conv2D(
            filters, 3, strides=2, padding=padding, activation="relu", name=f"conv_{k}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seeds[2 * k - 2]),
        )(h)
        h = keras.layers.SpatialDropout2D(dropout, seed=seeds[2 * k - 1],
                                          name=f"spatial_dropout_{k}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    outputs = keras.layers.Dense(
        n_classes, name="logits",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seeds[-1]),
    )(h)
    return keras.Model(inputs, outputs, name="cnn")


def cnn_spatial_sizes(
    image_size: Sequence[int], *, padding: str = "valid"
) -> list[tuple[int, int]]:
    """Spatial sizes (height, width) of the input, ``conv_1`` and ``conv_2`` of :func:`build_cnn`.

    Parameters
    ----------
    image_size : sequence of 2 int
        ``(height, width)`` of the input.
    padding : {"valid", "same"}, default="valid"

    Returns
    -------
    list of (int, int)
        Three sizes; a size below 1 means the input is too small.

    Notes
    -----
    A 3x3 convolution with stride 2 maps a side of ``n`` pixels to
    ``(n - 3) // 2 + 1`` with ``"valid"`` padding and ``ceil(n / 2)`` with
    ``"same"``:

    ============  ==================  ==================
    input         "valid"             "same"
    ============  ==================  ==================
    8x8 digits    8 → 3 → 1           8 → 4 → 2
    28x28 MNIST   28 → 13 → 6         28 → 14 → 7
    32x32 CIFAR   32 → 15 → 7         32 → 16 → 8
    ============  ==================  ==================
    """
    caller = "cnn_spatial_sizes()"
    padding = _check_padding(padding, caller)
    size = _check_shape(image_size, caller, name="image_size")
    if len(size) != 2:
        raise param_error("image_size", caller, "(height, width)", tuple(image_size))

    def step(n: int) -> int:
        if padding == "same":
            return -(-n // 2)
        return (n - 3) // 2 + 1 if n >= 3 else 0

    out = [size]
    for _ in range(2):
        out.append(tuple(step(n) for n in out[-1]))
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------- helpers


def _check_shape(shape: Any, caller: str, name: str = "input_shape") -> tuple[int, ...]:
    ok = isinstance(shape, Sequence) and not isinstance(shape, str) and len(shape) >= 1
    if ok:
        ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                 for s in shape)
    if not ok:
        raise param_error(
            name, caller, "a non-empty tuple of positive ints (no batch axis)", shape,
            "Pass e.g. dataset.input_shape, or (28, 28, 1) for MNIST.",
        )
    return tuple(int(s) for s in shape)


def _check_image_shape(shape: Any, caller: str) -> tuple[int, int, int]:
    """``(height, width, channels)`` of positive ints."""
    checked = _check_shape(shape, caller)
    if len(checked) != 3:
        raise param_error(
            "input_shape", caller, "(height, width, channels)", tuple(shape),
            "Add a channel axis to grey images, e.g. (28, 28) -> (28, 28, 1).",
        )
    return checked  # type: ignore[return-value]


def _check_padding(padding: Any, caller: str) -> str:
    if padding not in ("valid", "same"):
        raise param_error("padding", caller, "'valid' or 'same'", padding)
    return padding


def _check_hidden(hidden: Any, caller: str) -> tuple[int, ...]:
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    ok = isinstance(hidden, Sequence) and not isinstance(hidden, str) and len(hidden) >= 1
    if ok:
        ok = all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1
                 for n in hidden)
    if not ok:
        raise param_error("hidden", caller,
                          "a positive int or a non-empty sequence of positive ints", hidden)
    return tuple(int(n) for n in hidden)


def _check_common(compile: Any, learning_rate: Any, caller: str) -> float:
    if not isinstance(compile, bool):
        raise param_error("compile", caller, "a bool", compile)
    return check_float("learning_rate", learning_rate, caller, min_value=0.0,
                       min_inclusive=False)


def _layer_seeds(seed: Any, n: int, caller: str) -> list[int]:
    """``n`` distinct per-layer seeds derived from ``seed``.

    Keras initializers with an int seed give the same values at every call, so
    each layer needs its own seed.
    """
    seed = check_int("seed", seed, caller, min_value=0)
    state = np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)
    return [int(s) & 0x7FFFFFFF for s in state]


def _compile(model: Any, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
