"""Shared fixtures. Anything that trains is session-scoped: one process pays Keras' start-up once."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest


def _digits(n_train: int = 600, n_probe_per_class: int = 10):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    probe_idx = np.concatenate([order[y[order] == c][:n_probe_per_class] for c in range(10)])
    rest = np.setdiff1d(order, probe_idx)[:n_train]
    return x[rest], y[rest], x[probe_idx], y[probe_idx], probe_idx


@pytest.fixture(scope="session")
def digits_small():
    """(x_train, y_train, x_probe, y_probe, probe_indices) from scikit-learn digits; 100 probe samples."""
    return _digits()


def tiny_mlp(input_shape=(8, 8, 1), n_classes=10, hidden=32, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
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


@pytest.fixture(scope="session")
def recorded_digits(tmp_path_factory, digits_small):
    """A real recording: tiny MLP on digits, 2 epochs, batch snapshots every 5 batches, 2 MC passes.

    Returns a dict with the run path, the trained model, the history and the
    weights before training.
    """
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, probe_idx = digits_small
    model = tiny_mlp()
    initial_weights = [w.copy() for w in model.get_weights()]
    path = tmp_path_factory.mktemp("runs") / "digits"
    recorder = ActivationRecorder(
        path, x_probe, y_probe, every_n_batches=5, probe_indices=probe_idx,
        mc_samples=2, dataset={"name": "digits"}, probe_batch_size=64,
    )
    history = model.fit(
        x_train, y_train, epochs=2, batch_size=32, validation_split=0.2,
        callbacks=[recorder], verbose=0, shuffle=False,
    )
    return {"path": path, "model": model, "history": history.history,
            "initial_weights": initial_weights, "recorder": recorder,
            "x_probe": x_probe, "y_probe": y_probe, "probe_idx": probe_idx,
            "n_train": int(len(x_train) * 0.8)}
