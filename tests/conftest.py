"""The shared test kit: one fixture per kind of data; the data comes from :mod:`actconf.testing`.

- Read-only data is session-scoped: written once per test process (``synthetic_run``,
  ``layout_run``, ``report_run``, ``planted``, ``digits_small``, ``recorded_digits``).
  Tests must not write into these runs.
- Tests that write into a run (save a layout, build a report next to it) take the
  function-scoped ``fresh_*`` fixtures: a new run in the test's ``tmp_path``.
- Anything that trains is session-scoped: one process pays Keras' start-up once.
- A fixture used by one test file only stays in that file, built from
  :mod:`actconf.testing` builders; test modules never import from each other or
  from this file.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from typing import Any, NamedTuple

import numpy as np
import pytest

from actconf import testing


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "synthetic_arrays(**params): parameters of actconf.testing.synthetic_arrays for the "
        "synthetic_run fixture (on a test or as a module's pytestmark)",
    )


# --------------------------------------------------------------------------- read-only runs
@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """``get(builder, **params)``: the run of ``builder(**params)``, written once per session.

    ``builder`` is one of the ``*_arrays`` functions of :mod:`actconf.testing`. The runs
    are shared by every test that asks for the same builder and parameters: read only.
    """
    cache: dict[tuple[str, str], Any] = {}

    def get(builder, **params):
        key = (builder.__name__, repr(sorted(params.items())))
        if key not in cache:
            path = tmp_path_factory.mktemp(builder.__name__) / "run"
            cache[key] = testing.write_synthetic_run(path, **builder(**params))
        return cache[key]

    return get


class SyntheticRun(NamedTuple):
    """A synthetic run and random positions for its layers (to pass as ``layout=``)."""

    run: Any
    layouts: dict[str, np.ndarray]


@pytest.fixture
def synthetic_run(request, shared_runs):
    """The run of :func:`actconf.testing.synthetic_arrays` (read only) and random layouts.

    ``(run, layouts)``: layouts are ``default_rng(3)`` positions in [0, 1)² for each
    layer in order. Other builder parameters come from the ``synthetic_arrays`` marker,
    e.g. ``pytestmark = pytest.mark.synthetic_arrays(sizes=(40,))``; each parameter set
    is written once per session.
    """
    marker = request.node.get_closest_marker("synthetic_arrays")
    run = shared_runs(testing.synthetic_arrays, **(marker.kwargs if marker else {}))
    rng = np.random.default_rng(3)
    return SyntheticRun(run, {layer: rng.random((size, 2)) for layer, size in run.layer_sizes.items()})


@pytest.fixture(scope="session")
def layout_run(shared_runs):
    """The run of :func:`actconf.testing.layout_arrays` (read only): ``(run, activations, labels)``.

    24 neurons, 10 classes x 8 samples, 3 snapshots; neurons 0..19 prefer one of 5
    classes, 20..23 dead. ``activations`` is layer ``dense``.
    """
    arrays = testing.layout_arrays()
    return shared_runs(testing.layout_arrays), arrays["activations"]["dense"], arrays["labels"]


@pytest.fixture
def fresh_layout_run(tmp_path):
    """Like ``layout_run``, written into this test's ``tmp_path``: tests may save layouts into it."""
    arrays = testing.layout_arrays()
    run = testing.write_synthetic_run(tmp_path / "layout_run", **arrays)
    return run, arrays["activations"]["dense"], arrays["labels"]


@pytest.fixture(scope="session")
def report_run(shared_runs):
    """The run of :func:`actconf.testing.report_arrays` (read only): two layers, logs, MC passes."""
    return shared_runs(testing.report_arrays)


@pytest.fixture
def fresh_report_run(tmp_path):
    """Like ``report_run``, written into this test's ``tmp_path``: tests may write next to or into it."""
    return testing.write_synthetic_run(tmp_path / "run", **testing.report_arrays())


@pytest.fixture(scope="session")
def planted():
    """``(profiles, cluster labels)`` of :func:`actconf.testing.planted_profiles` with its defaults."""
    return testing.planted_profiles()


# --------------------------------------------------------------------------- digits and training
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


@pytest.fixture(scope="session")
def recorded_digits(tmp_path_factory, digits_small):
    """A real recording: tiny MLP on digits, 2 epochs, batch snapshots every 5 batches, 2 MC passes.

    Returns a dict with the run path, the trained model, the history and the
    weights before training.
    """
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, probe_idx = digits_small
    model = testing.tiny_mlp()
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
