"""Which layers of a Keras 3 model the recorder can tap, and how a layer's output becomes neurons.

Owns: layer *paths* (``"backbone/block_16_project"``: the names of the nested models
down to the layer), finding layers by path, name or object (:func:`find_tap`), the
symbolic output of any layer — nested ones included — in the outer model's graph
(:func:`tap_tensors`), the per-layer reductions (:data:`REDUCTIONS`,
:func:`reduce_output`), the default choice of layers (:func:`default_taps`), the
model's heads (:func:`head_index`) and :func:`list_layers`.

Part of the recorder: like ``callbacks.py`` it needs only ``keras`` and ``numpy``
(:func:`list_layers` also uses pandas), so that it can be copied with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from .errors import InvalidParameterError, ModelNotSupportedError

__all__ = ["REDUCTIONS", "list_layers"]

#: the named reductions of ``reduce=`` (a callable is accepted too)
REDUCTIONS = ("auto", "mean", "max", "first", "flatten")
#: a model with more hidden weighted layers than this records stage outputs by default
MAX_DEFAULT_LAYERS = 16

_TRIVIAL = tuple(
    getattr(keras.layers, n) for n in (
        "InputLayer", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "GaussianDropout", "GaussianNoise", "AlphaDropout", "Reshape", "Rescaling", "Normalization",
    ) if hasattr(keras.layers, n)
)
# block outputs (residual sums, concatenations); not Multiply, which gates inside a block (squeeze-excite)
_MERGE = tuple(getattr(keras.layers, n) for n in ("Add", "Concatenate", "Average", "Maximum")
               if hasattr(keras.layers, n))
_RNN = tuple(getattr(keras.layers, n) for n in ("RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional",
                                                 "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
             if hasattr(keras.layers, n))


class Tap(NamedTuple):
    """A layer reachable from the outer model: its path, the layer and the nested models above it."""

    path: str
    layer: Any
    chain: tuple[Any, ...]


# --------------------------------------------------------------------------- what a layer is
def is_model(layer: Any) -> bool:
    """A nested model whose layers can be looked into (Functional or Sequential with a graph)."""
    if not isinstance(layer, keras.Model):
        return False
    try:
        return bool(layer.inputs) and bool(layer.outputs)
    except (AttributeError, ValueError):
        return False


def is_conv(layer: Any) -> bool:
    return hasattr(layer, "kernel_size") and hasattr(layer, "data_format") and (
        hasattr(layer, "filters") or hasattr(layer, "depth_multiplier")
    )


def has_weights(layer: Any) -> bool:
    """A layer of the kinds recorded by default: Dense, EinsumDense, Conv, attention, recurrent."""
    kinds = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.MultiHeadAttention, *_RNN)
    return (isinstance(layer, kinds) or is_conv(layer)) and bool(layer.weights)


def activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", type(act).__name__)


def _shape(tensor: Any) -> list[int | None]:
    return [None if d is None else int(d) for d in tensor.shape]


# --------------------------------------------------------------------------- paths
def walk(model: Any, prefix: str = "", chain: tuple[Any, ...] = ()) -> list[Tap]:
    """Every layer of ``model`` (not its inputs), nested models and their layers included, in order."""
    taps = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        taps.append(Tap(path, layer, chain))
        if is_model(layer):
            taps.extend(walk(layer, path + "/", (*chain, layer)))
    return taps


def find_tap(model: Any, item: Any, taps: Sequence[Tap]) -> Tap | None:
    """The tap of a path, a layer name unique in the model, or a layer object (None if absent)."""
    if isinstance(item, keras.layers.Layer):
        return next((t for t in taps if t.layer is item), None)
    exact = [t for t in taps if t.path == item]
    if exact:
        return exact[0]
    leaf = [t for t in taps if t.layer.name == item]
    if len(leaf) > 1:
        raise InvalidParameterError(
            f"Layer name {item!r} occurs {len(leaf)} times in model {model.name!r} (in nested models); "
            f"give its path: {', '.join(repr(t.path) for t in leaf)}."
        )
    return leaf[0] if leaf else None


def _node_index(graph: Any, op: Any) -> int:
    """Index of the call of ``op`` that belongs to the graph of ``graph`` (a Functional model)."""
    keys = getattr(graph, "_nodes", None)
    nodes = getattr(op, "_inbound_nodes", [])
    if keys is not None:
        found = [i for i in range(len(nodes)) if f"{id(op)}_ib-{i}" in keys]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ModelNotSupportedError(
                f"Layer {op.name!r} is called {len(found)} times in model {graph.name!r} (a shared layer), "
                "so it has no single output to record. Record another layer."
            )
    return 0


def _output_in(graph: Any, layer: Any) -> Any:
    node = layer._inbound_nodes[_node_index(graph, layer)]
    out = node.output_tensors
    if len(out) != 1:
        raise ModelNotSupportedError(
            f"Layer {layer.name!r} has {len(out)} outputs; the recorder records layers with one output. "
            "Record the layer after it."
        )
    return out[0]


def tap_tensors(model: Any, taps: Sequence[Tap], depth: int = 0) -> list[Any]:
    """The symbolic output of every tap in the graph of ``model`` (taps nested below ``model``).

    A layer of a nested model is reached through a sub-model (the nested model's inputs
    to the layers' outputs, sharing their weights) called on the tensors the nested
    model gets in its parent's graph, so that the probe model runs the whole model once.
    """
    out: list[Any] = [None] * len(taps)
    groups: dict[int, list[int]] = {}
    for i, tap in enumerate(taps):
        if len(tap.chain) == depth:
            out[i] = _output_in(model, tap.layer)
        else:
            groups.setdefault(id(tap.chain[depth]), []).append(i)
    for members in groups.values():
        nested = taps[members[0]].chain[depth]
        inner = tap_tensors(nested, [taps[i] for i in members], depth + 1)
        sub = keras.Model(nested.inputs, inner, name=f"actconf_tap_{nested.name}")
        node = nested._inbound_nodes[_node_index(model, nested)]
        result = sub(*node.arguments.args, **node.arguments.kwargs)
        result = result if isinstance(result, list | tuple) else [result]
        for i, tensor in zip(members, result, strict=True):
            out[i] = tensor
    return out


# --------------------------------------------------------------------------- heads
def heads(model: Any) -> list[str]:
    """Names of the model's outputs (the layers that make them)."""
    names = []
    for i, tensor in enumerate(model.outputs):
        history = getattr(tensor, "_keras_history", None)
        names.append(history[0].name if history is not None else f"output {i}")
    return names


def head_index(model: Any, head: Any) -> int:
    """Position of the chosen head among ``model.outputs`` (one output: 0)."""
    names = heads(model)
    listing = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if head is None:
        if len(names) > 1:
            raise ModelNotSupportedError(
                f"Model {model.name!r} has {len(names)} outputs ({listing}); the recorder records the "
                "confidence of one of them. Choose it with output_index=<index or output layer name>, e.g. "
                f"ActivationRecorder(..., output_index={names[0]!r})."
            )
        return 0
    if isinstance(head, int | np.integer) and not isinstance(head, bool) and -len(names) <= head < len(names):
        return int(head) % len(names)
    if isinstance(head, str) and head in names:
        return names.index(head)
    raise InvalidParameterError(
        f"The 'output_index' parameter of ActivationRecorder must be the index or the output layer name of one "
        f"of the model's outputs ({listing}). Got {head!r} instead."
    )


def output_layer(model: Any, index: int = 0) -> Any:
    history = getattr(model.outputs[index], "_keras_history", None)
    return history[0] if history is not None else model.layers[-1]


def output_layers(model: Any, index: int) -> set[int]:
    """ids of the layers that make the model's outputs (and the logits before a parameter-free head)."""
    excluded = set()
    for i in range(len(model.outputs)):
        layer = output_layer(model, i)
        excluded.add(id(layer))
        if i == index and not layer.weights:  # e.g. Activation('softmax'): its input layer makes the logits
            inbound = getattr(layer.input, "_keras_history", None)
            if inbound is not None:
                excluded.add(id(inbound[0]))
    return excluded


# --------------------------------------------------------------------------- reductions
class _CallableReduce(keras.layers.Layer):
    """Applies a user's function to the backend tensor of a layer's output, inside the probe model."""

    def __init__(self, fn: Callable[[Any], Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, inputs: Any) -> Any:
        return self.fn(inputs)


def check_reduce(reduce: Any) -> Any:
    """``reduce=`` as given: a reduction, a callable, or a dict of them by layer (path or object)."""
    def one(value: Any, where: str) -> Any:
        if callable(value) or (isinstance(value, str) and value in REDUCTIONS):
            return value
        raise InvalidParameterError(
            f"The 'reduce' parameter of ActivationRecorder must be one of {', '.join(map(repr, REDUCTIONS))}, "
            f"a callable on the layer's output tensor, or a dict of them by layer. Got {value!r}{where} instead."
        )

    if isinstance(reduce, dict):
        return {key: one(value, f" for layer {getattr(key, 'name', key)!r}") for key, value in reduce.items()}
    return one(reduce, "")


def reduction_for(reduce: Any, tap: Tap) -> Any:
    """The reduction of one tap under ``reduce`` (a dict falls back to "auto")."""
    if not isinstance(reduce, dict):
        return reduce
    for key in (tap.layer, tap.path, tap.layer.name):
        try:
            if key in reduce:
                return reduce[key]
        except TypeError:
            continue
    return "auto"


def _channel_axis(layer: Any, rank: int) -> int:
    fmt = getattr(layer, "data_format", None)
    if fmt is None and rank >= 4:
        fmt = keras.config.image_data_format()
    return 1 if fmt == "channels_first" else rank - 1


def describe(layer: Any, shape: Sequence[int | None], how: Any) -> dict[str, Any]:
    """What ``how`` makes of a layer's output: ``kind``, ``reduce``, ``neuron`` (one neuron, in words)."""
    rank = len(shape)
    if callable(how):
        name = getattr(how, "__name__", type(how).__name__)
        return {"kind": "custom", "reduce": f"custom:{name}", "neuron": f"a value of {name}(output)"}
    positions = [d for i, d in enumerate(shape[1:], start=1) if i != _channel_axis(layer, rank)]
    where = "x".join("?" if d is None else str(d) for d in positions)
    unit = "channel" if (is_conv(layer) or rank >= 4) else "unit"
    if rank == 2 and how in ("auto", "mean", "max", "first"):
        return {"kind": "dense" if has_weights(layer) else "units", "reduce": "none", "neuron": "unit"}
    if how == "flatten" or rank < 2:
        size = int(np.prod([d or 0 for d in shape[1:]]))
        return {"kind": "flatten", "reduce": "flatten", "neuron": f"one of the {size} values of the output"}
    if how == "first":
        if rank != 3:
            raise InvalidParameterError(
                f"reduce='first' takes the first position of a sequence (a class token), but layer "
                f"{layer.name!r} has output shape {tuple(shape)}. Use 'mean', 'max' or 'flatten' for it."
            )
        return {"kind": "first", "reduce": "first", "neuron": f"{unit} at the first of {where} positions"}
    stat = "max" if how == "max" else "mean"
    kind = "conv" if how == "auto" and is_conv(layer) else stat
    return {"kind": kind, "reduce": stat, "neuron": f"{unit} ({stat} over {where} positions)"}


def reduce_output(layer: Any, tensor: Any, how: Any) -> tuple[Any, dict[str, Any]]:
    """A layer's symbolic output as (samples, neurons), and its description (see :func:`describe`)."""
    shape = _shape(tensor)
    info = describe(layer, shape, how)
    rank = len(shape)
    if info["reduce"] == "none":
        reduced = tensor
    elif callable(how):
        reduced = _CallableReduce(how, name=f"actconf_reduce_{layer.name}")(tensor)
    elif info["reduce"] == "flatten":
        reduced = ops.reshape(tensor, (-1, int(np.prod(shape[1:]))))
    elif info["reduce"] == "first":
        reduced = ops.take(tensor, 0, axis=1)
    else:
        axes = tuple(i for i in range(1, rank) if i != _channel_axis(layer, rank))
        reduced = ops.max(tensor, axis=axes) if info["reduce"] == "max" else ops.mean(tensor, axis=axes)
    if len(reduced.shape) != 2 or reduced.shape[-1] is None:
        raise InvalidParameterError(
            f"The reduction {info['reduce']!r} of layer {layer.name!r} gives shape {tuple(reduced.shape)}; "
            "it must give (samples, neurons) with a known number of neurons."
        )
    return reduced, info


# --------------------------------------------------------------------------- the default choice
def _spatial(tap: Tap) -> tuple | None:
    """The spatial size of a layer's output (rank >= 4), or None."""
    try:
        shape = _shape(tap.layer.output)
    except (AttributeError, ValueError):
        return None
    if len(shape) < 4:
        return None
    axis = _channel_axis(tap.layer, len(shape))
    return tuple(d for i, d in enumerate(shape[1:], start=1) if i != axis)


def stage_outputs(taps: Sequence[Tap]) -> list[Tap]:
    """Per spatial resolution, the block output that ends it: the last merge (``Add``, ...) at that
    resolution, or the activation right after it, else the resolution's last layer; at the last
    (deepest) resolution its last layer (the features the classifier pools, e.g. ``out_relu``)."""
    stages: dict[tuple, list[Tap]] = {}
    if not any(_spatial(t) is not None for t in taps):
        return []
    for tap in taps:
        size = _spatial(tap)
        if size is not None and not isinstance(tap.layer, _TRIVIAL):
            stages.setdefault(size, []).append(tap)
    last = _spatial(next(t for t in reversed(taps) if _spatial(t) is not None and not isinstance(t.layer, _TRIVIAL)))
    chosen = []
    for size, members in stages.items():
        if size == last:
            chosen.append(members[-1])
            continue
        if all(d == 1 for d in size):  # squeeze-excite gates (1x1 inside blocks), not a stage of the network
            continue
        merges = [i for i, t in enumerate(members) if isinstance(t.layer, _MERGE)]
        pick = merges[-1] if merges else len(members) - 1
        after = members[pick + 1] if pick + 1 < len(members) else None
        if merges and after is not None and isinstance(after.layer, keras.layers.Activation | keras.layers.ReLU):
            pick += 1
        chosen.append(members[pick])
    return chosen


def default_taps(model: Any, taps: Sequence[Tap], excluded: set[int]) -> list[Tap]:
    """The layers recorded by default (see ``ActivationRecorder``'s ``layers``).

    Every hidden weighted layer (Dense, EinsumDense, Conv, attention, recurrent) of the
    outer model when there are at most :data:`MAX_DEFAULT_LAYERS` and no nested model.
    Otherwise: the output of every nested model, and of the outer model's weighted
    layers the non-spatial ones (e.g. a classifier's hidden Dense layers) plus, for a
    big convolutional network, the stage outputs (:func:`stage_outputs`).
    """
    top = [t for t in taps if not t.chain and id(t.layer) not in excluded]
    weighted = [t for t in top if has_weights(t.layer)]
    nested = [t for t in top if is_model(t.layer)]
    if not nested and len(weighted) <= MAX_DEFAULT_LAYERS:
        return weighted
    order = {id(t.layer): i for i, t in enumerate(top)}
    chosen = {id(t.layer): t for t in nested}
    for t in weighted:
        if _spatial(t) is None:
            chosen[id(t.layer)] = t
    if len(weighted) > MAX_DEFAULT_LAYERS:
        for t in stage_outputs([t for t in top if not is_model(t.layer)]):
            chosen[id(t.layer)] = t
    return sorted(chosen.values(), key=lambda t: order[id(t.layer)])


# --------------------------------------------------------------------------- listing
def list_layers(model: Any, *, output_index: Any = None):
    """What the recorder can record in ``model``: one row per layer, nested models' layers included.

    Parameters
    ----------
    model : keras.Model
        A Functional or Sequential Keras 3 model (built).
    output_index : int or str, optional
        The output whose confidence would be recorded (for multi-output models), as in
        :class:`~actconf.ActivationRecorder`. Its layers are marked ``output``.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (what ``layers=`` takes), ``class``, ``output_shape``,
        ``neurons`` (how many after the default reduction), ``neuron`` (what one neuron
        is), ``reduce`` (what ``reduce="auto"`` does: ``none``, ``mean``, ``flatten``),
        ``default`` (recorded when ``layers`` is not given) and ``role``
        (``hidden``, ``model`` for a nested model, ``output``).

    Examples
    --------
    >>> table = actconf.list_layers(model)              # doctest: +SKIP
    >>> table[table["default"]]                          # doctest: +SKIP
    """
    import pandas as pd

    if not is_model(model):
        raise ModelNotSupportedError(
            f"list_layers() needs a Functional or Sequential Keras model with inputs and outputs; got "
            f"{type(model).__name__}. Build the model first (keras.Input -> layers -> keras.Model)."
        )
    taps = walk(model)
    head = output_index
    index = head_index(model, head) if head is not None or len(model.outputs) == 1 else 0
    excluded = output_layers(model, index) if head is not None or len(model.outputs) == 1 else {
        id(output_layer(model, i)) for i in range(len(model.outputs))}
    defaults = {id(t.layer) for t in default_taps(model, taps, excluded)}
    rows = []
    for tap in taps:
        try:
            shape = _shape(_output_in(tap.chain[-1] if tap.chain else model, tap.layer))
        except (AttributeError, ValueError, IndexError, ModelNotSupportedError):
            continue
        try:
            info = describe(tap.layer, shape, "auto")
        except InvalidParameterError:
            continue
        neurons = shape[-1] if info["reduce"] != "flatten" else int(np.prod([d or 0 for d in shape[1:]]))
        if info["reduce"] == "mean" and _channel_axis(tap.layer, len(shape)) == 1:
            neurons = shape[1]
        role = "output" if (not tap.chain and id(tap.layer) in excluded) else (
            "model" if is_model(tap.layer) else "hidden")
        rows.append({"path": tap.path, "class": type(tap.layer).__name__, "output_shape": tuple(shape),
                     "neurons": neurons, "neuron": info["neuron"], "reduce": info["reduce"],
                     "default": id(tap.layer) in defaults, "role": role})
    return pd.DataFrame(rows, columns=["path", "class", "output_shape", "neurons", "neuron", "reduce",
                                       "default", "role"])


def load_model_for_listing(path: str) -> Any:
    """A saved ``.keras`` model for ``actconf layers`` (a clear error for a missing or foreign file)."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file() or file.suffix not in (".keras", ".h5"):
        raise InvalidParameterError(
            f"The 'model' argument of actconf layers must be a model file saved with "
            f"model.save('name.keras'). Got {str(path)!r} ({'no such file' if not file.is_file() else 'not .keras'}) "
            "instead. Save the model first, then pass its path."
        )
    try:
        return keras.saving.load_model(str(file), compile=False)
    except Exception as exc:  # noqa: BLE001  (Keras raises many kinds for a foreign file)
        raise ModelNotSupportedError(
            f"Cannot load {str(path)!r} as a Keras model ({type(exc).__name__}: {exc}). Pass a file written by "
            "model.save(...) with Keras 3; custom layers must be importable (registered) to load."
        ) from exc
