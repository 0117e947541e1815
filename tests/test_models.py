"""Tests of actconf.models: the reference MLP and CNN.

Keras is imported once per session (module-scoped fixtures); nothing trains for
more than one epoch on a few hundred digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from actconf.errors import InvalidParameterError
from actconf.models import build_cnn, build_mlp, cnn_spatial_sizes


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.fixture(scope="module")
def mlp(keras):
    return build_mlp((8, 8, 1), 10)


@pytest.fixture(scope="module")
def cnn(keras):
    return build_cnn((8, 8, 1), 10)


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def _mlp_params(input_shape, hidden, n_classes):
    sizes = [int(np.prod(input_shape)), *hidden, n_classes]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def _conv_side(n, padding):
    return (n - 3) // 2 + 1 if padding == "valid" else -(-n // 2)


def _cnn_params(input_shape, filters, n_classes, padding):
    h, w, c = input_shape
    for _ in range(2):
        h, w = _conv_side(h, padding), _conv_side(w, padding)
    return (9 * c + 1) * filters + (9 * filters + 1) * filters + (h * w * filters + 1) * n_classes


# -------------------------------------------------------------------------------- MLP


def test_mlp_layers(mlp, keras):
    layers = mlp.layers
    assert [layer.name for layer in layers] == ["input", "flatten", "hidden_1", "dropout_1", "logits"]
    assert mlp.name == "mlp" and isinstance(mlp, keras.Model)
    assert isinstance(layers[0], keras.layers.InputLayer)
    assert isinstance(layers[1], keras.layers.Flatten)
    hidden, drop, logits = layers[2], layers[3], layers[4]
    assert isinstance(hidden, keras.layers.Dense) and hidden.units == 128
    assert hidden.activation is keras.activations.relu
    assert isinstance(hidden.kernel_regularizer, keras.regularizers.L2)
    assert hidden.kernel_regularizer.get_config()["l2"] == pytest.approx(1e-3)
    assert isinstance(drop, keras.layers.Dropout) and drop.rate == 0.5
    assert isinstance(logits, keras.layers.Dense) and logits.units == 10
    assert logits.activation is keras.activations.linear and logits.kernel_regularizer is None
    assert mlp.count_params() == _mlp_params((8, 8, 1), (128,), 10) == 64 * 128 + 128 + 1290
    # layer outputs are symbolic, as the recorder needs
    assert tuple(mlp.get_layer("hidden_1").output.shape) == (None, 128)


def test_mlp_l2_penalty_matches_formula(mlp):
    kernel = np.asarray(mlp.get_layer("hidden_1").kernel)
    penalty = sum(float(np.asarray(loss)) for loss in mlp.losses)
    assert penalty == pytest.approx(1e-3 * float(np.sum(kernel.astype(np.float64) ** 2)), rel=1e-5)


@pytest.mark.parametrize(
    "input_shape, hidden, n_classes",
    [((28, 28, 1), (128,), 10), ((8, 8, 1), (64, 32), 10), ((7,), 16, 3), ((32, 32, 3), (50, 40, 30), 10)],
)
def test_mlp_shapes_and_parameter_counts(keras, input_shape, hidden, n_classes):
    model = build_mlp(input_shape, n_classes, hidden=hidden, l2=0.0, dropout=0.2, compile=False)
    sizes = (hidden,) if isinstance(hidden, int) else hidden
    assert model.count_params() == _mlp_params(input_shape, sizes, n_classes)
    names = [layer.name for layer in model.layers]
    for k in range(1, len(sizes) + 1):
        assert names.index(f"hidden_{k}") + 1 == names.index(f"dropout_{k}")
        assert model.get_layer(f"hidden_{k}").kernel_regularizer is None  # l2=0: no penalty
        assert model.get_layer(f"dropout_{k}").rate == pytest.approx(0.2)
    x = np.random.default_rng(0).random((3, *input_shape)).astype("float32")
    assert tuple(model(x, training=False).shape) == (3, n_classes)
    assert model.compiled is False


# -------------------------------------------------------------------------------- CNN


def test_cnn_layers(cnn, keras):
    names = [layer.name for layer in cnn.layers]
    assert names == ["input", "conv_1", "spatial_dropout_1", "conv_2", "spatial_dropout_2",
                     "flatten", "logits"]
    assert cnn.name == "cnn"
    for k in (1, 2):
        conv = cnn.get_layer(f"conv_{k}")
        assert isinstance(conv, keras.layers.Conv2D)
        assert conv.filters == 128 and tuple(conv.kernel_size) == (3, 3)
        assert tuple(conv.strides) == (2, 2) and conv.padding == "valid"
        assert conv.activation is keras.activations.relu
        drop = cnn.get_layer(f"spatial_dropout_{k}")
        assert isinstance(drop, keras.layers.SpatialDropout2D) and drop.rate == 0.5
    logits = cnn.get_layer("logits")
    assert isinstance(logits, keras.layers.Dense) and logits.activation is keras.activations.linear
    # 8x8 digits with 'valid' padding: 8 -> 3 -> 1
    assert tuple(cnn.get_layer("conv_1").output.shape) == (None, 3, 3, 128)
    assert tuple(cnn.get_layer("conv_2").output.shape) == (None, 1, 1, 128)
    assert cnn.count_params() == _cnn_params((8, 8, 1), 128, 10, "valid")


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("input_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3), (9, 13, 2)])
def test_cnn_spatial_sizes_and_parameters(keras, input_shape, padding):
    model = build_cnn(input_shape, 10, filters=8, padding=padding, compile=False)
    sizes = cnn_spatial_sizes(input_shape[:2], padding=padding)
    h, w = input_shape[:2]
    for k in (1, 2):
        h, w = _conv_side(h, padding), _conv_side(w, padding)
        assert sizes[k] == (h, w)
        assert tuple(model.get_layer(f"conv_{k}").output.shape) == (None, h, w, 8)
    assert model.count_params() == _cnn_params(input_shape, 8, 10, padding)
    x = np.random.default_rng(0).random((2, *input_shape)).astype("float32")
    assert tuple(model(x, training=False).shape) == (2, 10)


def test_cnn_spatial_size_table():
    """The table in cnn_spatial_sizes' docstring."""
    assert cnn_spatial_sizes((8, 8)) == [(8, 8), (3, 3), (1, 1)]
    assert cnn_spatial_sizes((28, 28)) == [(28, 28), (13, 13), (6, 6)]
    assert cnn_spatial_sizes((32, 32)) == [(32, 32), (15, 15), (7, 7)]
    assert cnn_spatial_sizes((8, 8), padding="same") == [(8, 8), (4, 4), (2, 2)]
    assert cnn_spatial_sizes((28, 28), padding="same") == [(28, 28), (14, 14), (7, 7)]
    assert cnn_spatial_sizes((32, 32), padding="same") == [(32, 32), (16, 16), (8, 8)]
    assert cnn_spatial_sizes((7, 7))[-1] == (1, 1) and cnn_spatial_sizes((6, 6))[-1] == (0, 0)


def test_cnn_too_small_for_valid_padding(keras):
    build_cnn((7, 7, 1), 10, filters=4, compile=False)  # smallest size that works
    with pytest.raises(InvalidParameterError, match="at least 7x7.*padding='same'"):
        build_cnn((5, 5, 1), 10, filters=4)
    model = build_cnn((5, 5, 1), 10, filters=4, padding="same", compile=False)
    assert tuple(model.get_layer("conv_2").output.shape) == (None, 2, 2, 4)


# ---------------------------------------------------------------------------- compile


@pytest.mark.parametrize("builder", [build_mlp, build_cnn])
def test_compiled_like_the_reference(keras, builder):
    model = builder((8, 8, 1), 10, learning_rate=3e-4)
    assert model.compiled
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(3e-4)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert model.loss.get_config()["from_logits"] is True
    assert model.get_compile_config()["metrics"] == ["accuracy"]


# -------------------------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    "builder, kwargs",
    [(build_mlp, {"hidden": (16, 8)}), (build_cnn, {"filters": 8})],
)
def test_same_seed_same_weights_different_seed_different(keras, builder, kwargs):
    a = _weights(builder((8, 8, 1), 10, seed=5, compile=False, **kwargs))
    b = _weights(builder((8, 8, 1), 10, seed=5, compile=False, **kwargs))
    c = _weights(builder((8, 8, 1), 10, seed=6, compile=False, **kwargs))
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    kernels_a = [w for w in a if w.ndim > 1]
    kernels_c = [w for w in c if w.ndim > 1]
    assert all(not np.array_equal(x, y) for x, y in zip(kernels_a, kernels_c, strict=True))
    # biases start at zero; kernels are Glorot-uniform within +-sqrt(6 / (fan_in + fan_out))
    for w in a:
        if w.ndim == 1:
            assert not w.any()
        else:
            fan_in = int(np.prod(w.shape[:-1]))
            fan_out = w.shape[-1] * (int(np.prod(w.shape[:-2])) if w.ndim == 4 else 1)
            assert np.abs(w).max() <= np.sqrt(6 / (fan_in + fan_out)) + 1e-6
            assert w.std() > 0


def test_seeded_build_leaves_global_random_state_alone(keras):
    keras.utils.set_random_seed(123)
    expected = np.random.random()  # noqa: NPY002 - the global state is what is tested
    keras.utils.set_random_seed(123)
    build_mlp((8, 8, 1), 10, seed=1, compile=False)
    assert np.random.random() == expected  # noqa: NPY002


def test_seed_decides_weights_not_build_order(keras):
    first = _weights(build_mlp((8, 8, 1), 10, hidden=8, seed=2, compile=False))
    build_cnn((8, 8, 1), 10, filters=4, seed=9, compile=False)
    again = _weights(build_mlp((8, 8, 1), 10, hidden=8, seed=2, compile=False))
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def digits_subset():
    from actconf.datasets import load_dataset

    ds = load_dataset("digits", max_train=400)
    return ds


@pytest.mark.parametrize("builder, kwargs", [(build_mlp, {}), (build_cnn, {"filters": 16})])
@pytest.mark.slow
def test_one_epoch_lowers_the_loss(keras, digits_subset, builder, kwargs):
    ds = digits_subset
    model = builder(ds.input_shape, ds.n_classes, seed=0, **kwargs)
    before = model.evaluate(ds.x_test, ds.y_test, verbose=0, return_dict=True)
    initial = _weights(model)
    model.fit(ds.x_train, ds.y_train, epochs=1, batch_size=32, verbose=0)
    after = model.evaluate(ds.x_test, ds.y_test, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    assert any(not np.array_equal(a, b) for a, b in zip(initial, _weights(model), strict=True))


@pytest.mark.slow
def test_recorder_defaults_on_the_reference_models(keras, digits_subset, tmp_path):
    """The recorder's default layers are the mapped ones: hidden_1, or conv_1 and conv_2."""
    from actconf import ActivationRecorder, make_probe, open_run

    ds = digits_subset
    probe = make_probe(ds, n_per_class=3)
    for builder, expected in ((build_mlp, ["hidden_1"]), (build_cnn, ["conv_1", "conv_2"])):
        model = builder(ds.input_shape, ds.n_classes, **({"filters": 8} if builder is build_cnn else {}))
        path = tmp_path / model.name
        model.fit(ds.x_train[:64], ds.y_train[:64], epochs=1, batch_size=32, verbose=0,
                  callbacks=[ActivationRecorder(path, probe)])
        run = open_run(path)
        assert list(run.layers) == expected
        assert run.has_logits and run.n_samples == 30
        np.testing.assert_array_equal(run.probe_indices, probe.indices)


# ----------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": 64}, "'input_shape' parameter"),
        ({"input_shape": ()}, "'input_shape' parameter"),
        ({"input_shape": (8, 0, 1)}, "'input_shape' parameter"),
        ({"input_shape": (8.0, 8, 1)}, "'input_shape' parameter"),
        ({"input_shape": "8x8"}, "'input_shape' parameter"),
        ({"n_classes": 1}, "'n_classes' parameter"),
        ({"n_classes": 10.0}, "'n_classes' parameter"),
        ({"hidden": ()}, "'hidden' parameter"),
        ({"hidden": (128, 0)}, "'hidden' parameter"),
        ({"hidden": True}, "'hidden' parameter"),
        ({"l2": -1e-3}, "'l2' parameter"),
        ({"l2": float("nan")}, "'l2' parameter"),
        ({"dropout": 1.0}, "'dropout' parameter"),
        ({"dropout": -0.1}, "'dropout' parameter"),
        ({"seed": -1}, "'seed' parameter"),
        ({"seed": None}, "'seed' parameter"),
        ({"compile": "yes"}, "'compile' parameter"),
        ({"learning_rate": 0}, "'learning_rate' parameter"),
    ],
)
def test_build_mlp_bad_arguments(keras, kwargs, match):
    args = {"input_shape": (8, 8, 1), "n_classes": 10, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        build_mlp(args.pop("input_shape"), args.pop("n_classes"), **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (28, 28)}, "channel axis"),
        ({"input_shape": (784,)}, "channel axis"),
        ({"n_classes": 0}, "'n_classes' parameter"),
        ({"filters": 0}, "'filters' parameter"),
        ({"dropout": 1.5}, "'dropout' parameter"),
        ({"padding": "causal"}, "'padding' parameter"),
        ({"seed": 1.5}, "'seed' parameter"),
        ({"learning_rate": -1.0}, "'learning_rate' parameter"),
    ],
)
def test_build_cnn_bad_arguments(keras, kwargs, match):
    args = {"input_shape": (8, 8, 1), "n_classes": 10, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        build_cnn(args.pop("input_shape"), args.pop("n_classes"), **args)


def test_cnn_spatial_sizes_bad_arguments():
    with pytest.raises(InvalidParameterError, match="'image_size' parameter"):
        cnn_spatial_sizes((8, 8, 1))
    with pytest.raises(InvalidParameterError, match="'padding' parameter"):
        cnn_spatial_sizes((8, 8), padding="full")


def test_top_level_exports():
    import actconf

    assert actconf.build_mlp is build_mlp and actconf.build_cnn is build_cnn
