"""ActivationRecorder: what it records, checked against independent computations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import actconf
from actconf.errors import (
    InvalidInputError,
    InvalidParameterError,
    ModelNotSupportedError,
    RunExistsError,
)
from actconf.testing import tiny_mlp

ROOT = Path(__file__).resolve().parents[1]


def _relu(z):
    return np.maximum(z, 0.0)


def _hidden_numpy(x, weights):
    """hidden_1 of tiny_mlp, computed with numpy from its weights (kernel, bias)."""
    kernel, bias = weights[0], weights[1]
    return _relu(x.reshape(len(x), -1) @ kernel + bias)


def _logits_numpy(x, weights):
    return _hidden_numpy(x, weights) @ weights[2] + weights[3]


@pytest.mark.slow
def test_snapshot_schedule(recorded_digits):
    run = actconf.open_run(recorded_digits["path"])
    table = run.snapshots
    # 480 training samples / batch 32 = 15 steps per epoch; every 5 batches in epoch 1
    # (batch 15 is the epoch end, recorded as the epoch snapshot instead).
    assert list(table["kind"]) == ["initial", "batch", "batch", "epoch", "epoch"]
    assert list(table["epoch"]) == [0, 1, 1, 1, 2]
    assert list(table["batch"]) == [0, 5, 10, 15, 15]
    assert list(table["step"]) == [0, 5, 10, 15, 30]
    np.testing.assert_allclose(table["progress"], [0, 1 / 3, 2 / 3, 1, 2])
    assert list(table["label"]) == ["initial", "epoch 1 · batch 5", "epoch 1 · batch 10", "epoch 1", "epoch 2"]
    assert not table["nonfinite"].any()
    assert np.all(np.diff(table["time"]) >= 0)


@pytest.mark.slow
def test_logs_match_history(recorded_digits):
    run = actconf.open_run(recorded_digits["path"])
    epochs = run.snapshots[run.snapshots["kind"] == "epoch"]
    hist = recorded_digits["history"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(epochs[key].to_numpy(), hist[key], rtol=1e-6)
    assert np.isnan(run.snapshots.loc[0, "loss"])  # nothing trained yet


@pytest.mark.slow
def test_activations_equal_numpy_forward_pass(recorded_digits):
    run = actconf.open_run(recorded_digits["path"])
    x = recorded_digits["x_probe"]
    acts = run.activations("hidden_1").values
    assert acts.shape == (5, 100, 32) and acts.dtype == np.float32
    np.testing.assert_allclose(acts[0], _hidden_numpy(x, recorded_digits["initial_weights"]), atol=1e-5)
    final = recorded_digits["model"].get_weights()
    np.testing.assert_allclose(acts[-1], _hidden_numpy(x, final), atol=1e-5)
    logits = run.logits().values
    np.testing.assert_allclose(logits[-1], _logits_numpy(x, final), atol=1e-4)
    # states in between differ from both ends: training moved the weights
    assert not np.allclose(acts[1], acts[0]) and not np.allclose(acts[1], acts[-1])


@pytest.mark.slow
def test_probabilities_are_softmax_of_logits(recorded_digits):
    from scipy.special import softmax

    run = actconf.open_run(recorded_digits["path"])
    logits = run.logits().values
    probs = run.probabilities().values
    np.testing.assert_allclose(probs, softmax(logits.astype(np.float64), axis=-1), atol=1e-6)


@pytest.mark.slow
def test_manifest_describes_the_run(recorded_digits):
    run = actconf.open_run(recorded_digits["path"])
    np.testing.assert_array_equal(run.labels, recorded_digits["y_probe"])
    np.testing.assert_array_equal(run.probe_indices, recorded_digits["probe_idx"])
    np.testing.assert_array_equal(run.probe_inputs(), recorded_digits["x_probe"])
    assert run.layers == ["hidden_1"] and run.layer_sizes == {"hidden_1": 32}
    assert run.class_names == [str(i) for i in range(10)]
    m = run.manifest
    assert m["model"]["n_params"] == recorded_digits["model"].count_params()
    assert "hidden_1" in m["model"]["summary"]
    assert m["versions"]["backend"] == "tensorflow"
    assert m["recorder"]["every_n_batches"] == 5 and m["dataset"]["name"] == "digits"
    assert run.has_logits and run.mc_samples == 2


@pytest.mark.slow
def test_mc_dropout_passes(recorded_digits):
    run = actconf.open_run(recorded_digits["path"])
    mc = run.mc_probabilities().values
    assert mc.shape == (5, 2, 100, 10)
    np.testing.assert_allclose(mc.sum(-1), 1.0, atol=1e-5)
    # dropout is active: the two passes differ from each other and from the deterministic pass
    assert np.abs(mc[-1, 0] - mc[-1, 1]).max() > 1e-3
    assert np.abs(mc[-1, 0] - run.probabilities().values[-1]).max() > 1e-3


@pytest.mark.slow
def test_default_layers_cnn_with_batchnorm_and_softmax_layer(tmp_path):
    """Conv channels are spatial means; logits come from the Softmax layer's input; MC keeps BN frozen."""
    import keras

    from actconf.callbacks import ActivationRecorder

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.random((96, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 96)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv_1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.SpatialDropout2D(0.3)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(5, activation="relu", name="dense_1")(h)
    h = keras.layers.Dense(3, name="to_logits")(h)
    out = keras.layers.Softmax(name="probs")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    rec = ActivationRecorder(tmp_path / "cnn", x[:20], y[:20], mc_samples=3, compiled=False)  # eager path
    model.fit(x, y, epochs=1, batch_size=32, callbacks=[rec], verbose=0)
    run = actconf.open_run(tmp_path / "cnn")
    assert run.layers == ["conv_1", "dense_1"]
    assert [e["kind"] for e in run.manifest["layers"]] == ["conv", "dense"]
    tap = keras.Model(inp, [model.get_layer("conv_1").output, model.get_layer("to_logits").output])
    conv_maps, logits = (np.asarray(t) for t in tap(x[:20], training=False))
    np.testing.assert_allclose(run.activations("conv_1").values[-1], conv_maps.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(run.logits().values[-1], logits, atol=1e-5)
    # BatchNorm statistics are not touched by recording MC passes
    bn = model.get_layer("bn")
    before = [keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)]
    rec._forward_batch(rec._x_batches[0][1])
    after = [keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(b, a)


def test_sequential_without_input_layer(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    rec = ActivationRecorder(tmp_path / "seq", x_probe, y_probe)
    model.fit(x_train[:64], y_train[:64], epochs=1, callbacks=[rec], verbose=0)
    run = actconf.open_run(tmp_path / "seq")
    assert run.n_snapshots == 2 and run.layer_sizes == {run.layers[0]: 8}
    assert not run.has_logits  # softmax output: probabilities only
    np.testing.assert_allclose(run.probabilities().values.sum(-1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_second_fit_appends(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    rec = ActivationRecorder(tmp_path / "twice", x_probe, y_probe)
    model.fit(x_train[:64], y_train[:64], epochs=2, callbacks=[rec], verbose=0)
    model.fit(x_train[:64], y_train[:64], epochs=1, callbacks=[rec], verbose=0)
    table = actconf.open_run(tmp_path / "twice").snapshots
    assert list(table["epoch"]) == [0, 1, 2, 3]
    assert list(table["kind"]) == ["initial", "epoch", "epoch", "epoch"]
    assert list(table["step"]) == [0, 2, 4, 6]


@pytest.mark.slow
def test_nonfinite_activations_are_flagged_not_fatal(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    weights = model.get_weights()
    weights[1][:] = np.inf  # hidden bias: activations become inf, logits NaN
    model.set_weights(weights)
    rec = ActivationRecorder(tmp_path / "nan", x_probe, y_probe)
    model.fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
    run = actconf.open_run(tmp_path / "nan")
    assert run.snapshots["nonfinite"].all()
    assert "NaN/inf" in run.summary()


# ------------------------------------------------------------------ bad input
def test_subclassed_model_is_refused_and_nothing_written(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = keras.layers.Flatten()
            self.out = keras.layers.Dense(10)

        def call(self, x):
            return self.out(self.flat(x))

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = Sub()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    target = tmp_path / "sub"
    rec = ActivationRecorder(target, x_probe, y_probe)
    with pytest.raises(ModelNotSupportedError, match="Functional API"):
        model.fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
    assert not target.exists()


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_every_n_batches_must_be_positive_int(tmp_path, digits_small, value):
    from actconf.callbacks import ActivationRecorder

    _, _, x_probe, y_probe, _ = digits_small
    with pytest.raises(InvalidParameterError, match="every_n_batches"):
        ActivationRecorder(tmp_path / "r", x_probe, y_probe, every_n_batches=value)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("layers", "match"),
    [(["nope"], "'hidden_1'"), (["logits"], "not a hidden layer"), (["hidden_1", "hidden_1"], "twice")],
)
def test_bad_layer_choice(tmp_path, digits_small, layers, match):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, layers=layers)
    with pytest.raises(InvalidParameterError, match=match):
        tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
    assert not (tmp_path / "r").exists()


def test_probe_shape_mismatch(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    rec = ActivationRecorder(tmp_path / "r", x_probe.reshape(len(x_probe), 64), y_probe)
    with pytest.raises(InvalidInputError, match=r"\(64,\).*\(8, 8, 1\)"):
        tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
    assert not (tmp_path / "r").exists()


def test_labels_out_of_range(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, _, _ = digits_small
    rec = ActivationRecorder(tmp_path / "r", x_probe, np.full(len(x_probe), 12))
    with pytest.raises(InvalidInputError, match="class 12"):
        tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)


@pytest.mark.slow
def test_existing_run_is_never_clobbered(recorded_digits, tmp_path):
    from actconf.callbacks import ActivationRecorder

    path = recorded_digits["path"]
    before = (path / "snapshots.jsonl").read_bytes()
    with pytest.raises(RunExistsError, match="overwrite=True"):
        ActivationRecorder(path, recorded_digits["x_probe"], recorded_digits["y_probe"])
    assert (path / "snapshots.jsonl").read_bytes() == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(RunExistsError, match="not an actconf run"):
        ActivationRecorder(other, recorded_digits["x_probe"], overwrite=True)
    assert (other / "thesis.txt").read_text() == "precious"


@pytest.mark.slow
def test_overwrite_replaces_a_run(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=4)
    model.fit(x_train[:32], y_train[:32], epochs=2, verbose=0,
              callbacks=[ActivationRecorder(tmp_path / "r", x_probe, y_probe)])
    assert actconf.open_run(tmp_path / "r").n_snapshots == 3
    model.fit(x_train[:32], y_train[:32], epochs=1, verbose=0,
              callbacks=[ActivationRecorder(tmp_path / "r", x_probe, y_probe, overwrite=True)])
    assert actconf.open_run(tmp_path / "r").n_snapshots == 2


def test_bad_probe_arguments(tmp_path):
    from actconf.callbacks import ActivationRecorder

    with pytest.raises(InvalidParameterError, match="x_probe"):
        ActivationRecorder(tmp_path / "r", np.zeros((0, 4)))
    with pytest.raises(InvalidParameterError, match="x_probe"):
        ActivationRecorder(tmp_path / "r", np.array([[np.nan, 1.0]]))
    with pytest.raises(InvalidParameterError, match="argmax"):
        ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), np.eye(3))
    with pytest.raises(InvalidParameterError, match="output"):
        ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), output="probs")
    with pytest.raises(InvalidParameterError, match="mc_samples"):
        ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), mc_samples=-1)


def test_probe_object_is_unpacked_and_explicit_arguments_win(tmp_path):
    from types import SimpleNamespace

    from actconf.callbacks import ActivationRecorder

    probe = SimpleNamespace(x=np.zeros((3, 4)), y=np.array([0, 1, 2]), indices=np.array([7, 8, 9]),
                            class_names=["a", "b", "c"])
    rec = ActivationRecorder(tmp_path / "r", probe)
    assert rec.x_probe.shape == (3, 4) and rec.x_probe.dtype == np.float32
    assert rec.y_probe.tolist() == [0, 1, 2] and rec.probe_indices.tolist() == [7, 8, 9]
    assert rec.class_names == ["a", "b", "c"]
    rec = ActivationRecorder(tmp_path / "r", probe, np.array([2.0, 2.0, 1.0]), probe_indices=[1, 2, 3],
                             class_names=["x", "y", "z"])
    assert rec.y_probe.tolist() == [2, 2, 1] and rec.y_probe.dtype == np.int64
    assert rec.probe_indices.tolist() == [1, 2, 3] and rec.class_names == ["x", "y", "z"]
    with pytest.raises(InvalidParameterError, match="'probe_indices'.*3 integers"):
        ActivationRecorder(tmp_path / "r", probe, probe_indices=[1, 2])
    with pytest.raises(InvalidParameterError, match="'y_probe'.*3 integer class labels"):
        ActivationRecorder(tmp_path / "r", probe, np.array([0.5, 1.0, 2.0]))
    unlabelled = ActivationRecorder(tmp_path / "r", np.zeros((2, 3)))
    assert unlabelled.y_probe.tolist() == [-1, -1] and unlabelled.probe_indices.tolist() == [0, 1]
    assert not (tmp_path / "r").exists()  # the constructor validates only, it writes nothing


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"batch_epochs": 0}, "'batch_epochs' parameter of ActivationRecorder must be None or an int >= 1"),
     ({"probe_batch_size": 0}, "'probe_batch_size' parameter of ActivationRecorder must be an int >= 1"),
     ({"mc_samples": 1.5}, "'mc_samples' parameter of ActivationRecorder must be an int >= 0"),
     ({"layers": []}, "'layers' parameter"), ({"layers": [3]}, "'layers' parameter")],
)
def test_bad_recorder_options(tmp_path, kwargs, fragment):
    from actconf.callbacks import ActivationRecorder

    with pytest.raises(InvalidParameterError) as info:
        ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), **kwargs)
    assert fragment in str(info.value)


def test_mc_needs_dropout(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="relu"), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, mc_samples=4)
    with pytest.raises(ModelNotSupportedError, match="dropout"):
        model.fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ portability
_SCRIPT = """
import sys, numpy as np, keras
{import_line}
rng = np.random.default_rng(0)
x = rng.random((64, 6)).astype("float32"); y = rng.integers(0, 3, 64)
keras.utils.set_random_seed(0)
inp = keras.Input((6,)); h = keras.layers.Dense(5, activation="relu", name="h")(inp)
h = keras.layers.Dropout(0.2)(h); out = keras.layers.Dense(3)(h)
model = keras.Model(inp, out)
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rec = ActivationRecorder(sys.argv[1], x[:10], y[:10], every_n_batches=1, mc_samples=2)
model.fit(x, y, epochs=2, batch_size=16, callbacks=[rec], verbose=0)
# (Keras itself may import matplotlib/pandas; the recorder must add nothing of actconf's analysis stack)
heavy = [m for m in ("seaborn", "umap", "actconf.naps", "actconf.plots", "actconf.layout", "actconf.analysis") if m in sys.modules]
eager = keras.Model(inp, model.get_layer("h").output)(x[:10], training=False)
np.save(sys.argv[1] + "-final.npy", keras.ops.convert_to_numpy(eager))
print("HEAVY", heavy, "ACTCONF", "actconf" in sys.modules)
"""


def _run_script(tmp_path, script, env_extra, args):
    env = {**os.environ, **env_extra}
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_jax_backend(tmp_path):
    out = _run_script(tmp_path, textwrap.dedent(_SCRIPT.format(import_line="from actconf.callbacks import ActivationRecorder")),
                      {"KERAS_BACKEND": "jax"}, [str(tmp_path / "jax")])
    assert "HEAVY []" in out
    run = actconf.open_run(tmp_path / "jax")
    assert run.manifest["versions"]["backend"] == "jax"
    # 4 batches per epoch, every batch in epoch 1 (the 4th is the epoch end) + epoch 2
    assert list(run.snapshots["kind"]) == ["initial", "batch", "batch", "batch", "epoch", "epoch"]
    acts = run.activations("h").values
    assert acts.shape == (6, 10, 5) and np.isfinite(acts).all()
    assert not np.allclose(acts[0], acts[-1])
    # the recorded final state equals an eager forward pass of the trained model
    np.testing.assert_allclose(acts[-1], np.load(str(tmp_path / "jax") + "-final.npy"), atol=1e-5)


@pytest.mark.slow
def test_copied_files_work_without_actconf(tmp_path):
    """errors.py + the store/ folder + callbacks.py, _layers.py, _probe.py copied into a user's folder record a readable run."""
    import shutil

    lite = tmp_path / "actconf_lite"
    lite.mkdir()
    (lite / "__init__.py").write_text("")
    for name in ("errors.py", "callbacks.py", "_layers.py", "_probe.py"):
        (lite / name).write_text((ROOT / "src" / "actconf" / name).read_text())
    shutil.copytree(ROOT / "src" / "actconf" / "store", lite / "store",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = _run_script(tmp_path, textwrap.dedent(_SCRIPT.format(import_line="from actconf_lite.callbacks import ActivationRecorder")),
                      {"PYTHONPATH": str(tmp_path)}, [str(tmp_path / "lite_run")])
    assert "HEAVY [] ACTCONF False" in out
    run = actconf.open_run(tmp_path / "lite_run")
    assert run.n_snapshots == 6 and run.mc_samples == 2


# ------------------------------------------------------------------ resuming, step bookkeeping
def _fit(model, data, recorder, **kwargs):
    x, y = data
    return model.fit(x[:64], y[:64], batch_size=32, callbacks=[recorder], verbose=0, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("initial_epoch", [0, 2])
def test_resume_continues_the_run(tmp_path, digits_small, initial_epoch):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    _fit(model, (x_train, y_train), ActivationRecorder(tmp_path / "r", x_probe, y_probe), epochs=2)
    before = actconf.open_run(tmp_path / "r")
    assert before.manifest["probe"]["fingerprint"].startswith("blake2b:")
    assert before.manifest["model"]["architecture"][2][:2] == ["Dense", "hidden_1"]
    weights = model.get_weights()
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, resume=True)  # e.g. after a crash, from a checkpoint
    _fit(model, (x_train, y_train), rec, initial_epoch=initial_epoch, epochs=initial_epoch + 2)
    run = actconf.open_run(tmp_path / "r", strict=True)
    table = run.snapshots
    assert rec.n_snapshots == run.n_snapshots == 5
    assert list(table["kind"]) == ["initial", "epoch", "epoch", "epoch", "epoch"]  # no second start snapshot
    assert list(table["epoch"]) == [0, 1, 2, 3, 4] and list(table["step"]) == [0, 2, 4, 6, 8]
    assert table["time"].is_monotonic_increasing
    np.testing.assert_array_equal(run.activations("hidden_1").values[:3], before.activations("hidden_1").values)
    assert not np.allclose(_hidden_numpy(x_probe, weights), run.activations("hidden_1").values[3])  # trained on
    run.verify()


@pytest.mark.slow
def test_resume_refuses_another_probe_layers_or_model(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder
    from actconf.errors import RunMismatchError

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    _fit(model, (x_train, y_train), ActivationRecorder(tmp_path / "r", x_probe, y_probe, layers=["hidden_1"]),
         epochs=1)
    files = {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}

    def wider():  # hidden_1 as before, one more layer in front of the logits
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8, 8, 1))
        h = keras.layers.Dense(8, activation="relu", name="hidden_1")(keras.layers.Flatten()(inputs))
        h = keras.layers.Dense(8, activation="relu", name="extra")(keras.layers.Dropout(0.5, name="dropout")(h))
        m = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    cases = [({"x_probe": x_probe + 0.01}, model, "probe set differs"),
             ({"y_probe": np.roll(y_probe, 1)}, model, "probe set differs"),
             ({"layers": ["dropout"]}, model, "recorded layers differ"),
             ({}, tiny_mlp(hidden=16), "recorded layers differ"),
             ({}, wider(), r"architecture differs at layer 4: .*'logits'.* in the run, .*'extra'")]
    for kwargs, other, match in cases:
        args = {"x_probe": x_probe, "y_probe": y_probe, "layers": ["hidden_1"], **kwargs}
        rec = ActivationRecorder(tmp_path / "r", args.pop("x_probe"), args.pop("y_probe"), resume=True, **args)
        with pytest.raises(RunMismatchError, match=match):
            _fit(other, (x_train, y_train), rec, epochs=1)
    assert {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()} == files  # untouched
    # the same model built again (Keras numbers unnamed layers anew: flatten_1, ...) may resume
    again = tiny_mlp(hidden=8)
    _fit(again, (x_train, y_train), ActivationRecorder(tmp_path / "r", x_probe, y_probe, layers=["hidden_1"],
                                                       resume=True), epochs=1)
    assert actconf.open_run(tmp_path / "r", strict=True).n_snapshots == 3


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    from actconf.callbacks import ActivationRecorder

    with pytest.raises(InvalidParameterError, match="not both"):
        ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), resume=True, overwrite=True)
    for name, value in (("on_error", "ignore"), ("dtype", "float64"), ("chunk_mb", 0), ("chunk_mb", "4")):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of ActivationRecorder"):
            ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), **{name: value})
    ActivationRecorder(tmp_path / "r", np.zeros((3, 4)), resume=True)  # nothing there yet: a new run
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_recompiling_between_fits_keeps_steps_increasing(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, every_n_batches=1)
    _fit(model, (x_train, y_train), rec, epochs=2)
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0  # a new optimizer counts from 0
    _fit(model, (x_train, y_train), rec, epochs=1)
    table = actconf.open_run(tmp_path / "r", strict=True).snapshots
    assert list(table["label"]) == ["initial", "epoch 1 · batch 1", "epoch 1", "epoch 2", "epoch 3"]
    assert list(table["step"]) == [0, 1, 2, 4, 6] and rec.n_snapshots == 5


@pytest.mark.slow
def test_batch_snapshots_with_several_steps_per_execution(tmp_path, digits_small):
    """Keras reports every 3rd batch (and batch 12 for the epoch's last, 10th): snapshots land at
    the first report past each multiple of 4, labelled with the batches done, and hold what a
    one-step-per-call fit holds after as many batches."""
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    data = (x_train[:320], y_train[:320])
    runs = {}
    for spe, every in ((3, 4), (1, 3)):
        model = tiny_mlp(hidden=8)
        model.steps_per_execution = spe
        rec = ActivationRecorder(tmp_path / f"spe{spe}", x_probe, y_probe, every_n_batches=every)
        model.fit(*data, batch_size=32, epochs=2, callbacks=[rec], verbose=0)
        runs[spe] = actconf.open_run(tmp_path / f"spe{spe}", strict=True)
    table = runs[3].snapshots
    assert list(table["label"]) == ["initial", "epoch 1 · batch 6", "epoch 1 · batch 9", "epoch 1", "epoch 2"]
    assert list(table["step"]) == [0, 6, 9, 10, 20] and list(table["batch"]) == [0, 6, 9, 10, 10]
    reference = runs[1].snapshots  # every 3 batches: 3, 6, 9, then the epoch ends
    assert list(reference["step"]) == [0, 3, 6, 9, 10, 20]
    a, b = runs[3].activations("hidden_1").values, runs[1].activations("hidden_1").values
    np.testing.assert_array_equal(a, b[[0, 2, 3, 4, 5]])


@pytest.mark.slow
def test_a_fit_from_a_later_epoch_starts_with_a_trained_snapshot(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    _fit(model, (x_train, y_train), ActivationRecorder(tmp_path / "r", x_probe, y_probe), epochs=2)
    trained = model.get_weights()
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, overwrite=True)
    _fit(model, (x_train, y_train), rec, initial_epoch=2, epochs=4)
    run = actconf.open_run(tmp_path / "r", strict=True)
    table = run.snapshots
    assert list(table["kind"]) == ["epoch", "epoch", "epoch"]
    assert list(table["label"]) == ["epoch 2 (start)", "epoch 3", "epoch 4"]
    assert list(table["epoch"]) == [2, 3, 4] and list(table["step"]) == [4, 6, 8]
    np.testing.assert_allclose(table["progress"], [2, 3, 4])
    with pytest.raises(InvalidParameterError, match="matches no snapshot"):
        run.snapshot_index("initial")  # the model was not untrained
    np.testing.assert_allclose(run.activations("hidden_1").values[0], _hidden_numpy(x_probe, trained), atol=1e-5)


# ------------------------------------------------------------------ large probes: chunks, float16, memory
@pytest.mark.slow
def test_float16_and_small_chunks_record_what_float32_records(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=32)
    plain = ActivationRecorder(tmp_path / "plain", x_probe, y_probe, mc_samples=2)
    small = ActivationRecorder(tmp_path / "small", x_probe, y_probe, mc_samples=2, dtype="float16",
                               chunk_mb=1600 / 2**20, probe_batch_size=16)  # 100 samples: 7 batches
    x, y = x_train[:64], y_train[:64]
    model.fit(x, y, batch_size=32, epochs=2, callbacks=[plain, small], verbose=0)
    a, b = actconf.open_run(tmp_path / "plain"), actconf.open_run(tmp_path / "small", strict=True)
    za = b._zarr_array("activations/hidden_1")
    # 1600 bytes: 100 samples x 8 neurons x 2 bytes, then at most one probe batch (16) of samples
    assert za.chunks == (1, 16, 8) and za.dtype == np.float16
    assert len(list((b.path / "arrays.zarr" / "activations" / "hidden_1" / "c" / "0").rglob("*/*"))) == 7 * 4
    got, ref = b.activations("hidden_1").values, a.activations("hidden_1").values
    np.testing.assert_allclose(got.astype("float32"), ref, rtol=2e-3, atol=2e-3)
    assert np.abs(got.astype("float32") - ref).max() > 0  # really stored as float16
    np.testing.assert_allclose(b.probabilities().values, a.probabilities().values, atol=1e-6)
    np.testing.assert_allclose(b.logits().values, a.logits().values, atol=1e-5)
    assert b.mc_probabilities().shape == a.mc_probabilities().shape
    assert b.manifest["recorder"]["dtype"] == "float16" and list(b.snapshots["label"]) == list(a.snapshots["label"])
    b.verify()


@pytest.mark.slow
def test_memory_is_bounded_by_one_probe_batch(tmp_path):
    """Recording a 20,000-sample probe of a 256-unit layer holds about one probe batch, not the probe set."""
    import tracemalloc

    import keras

    from actconf.callbacks import ActivationRecorder

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,))
    h = keras.layers.Dense(256, activation="relu", name="wide")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x_probe = rng.normal(size=(20000, 16)).astype("float32")
    batch = 1024
    rec = ActivationRecorder(tmp_path / "big", x_probe, record_initial=False, probe_batch_size=batch,
                             store_inputs=False)
    peaks = []

    class Trace(keras.callbacks.Callback):  # around the recorder's epoch-end snapshot only
        def __init__(self, start):
            super().__init__()
            self.start = start

        def on_epoch_end(self, epoch, logs=None):
            if self.start:
                tracemalloc.start()
                tracemalloc.reset_peak()
            else:
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()

    model.fit(x_probe[:64], rng.integers(0, 10, 64), epochs=2, batch_size=32, verbose=0,
              callbacks=[Trace(True), rec, Trace(False)])
    one_batch = batch * 256 * 4  # the layer's activations for one probe batch, float32
    snapshot = 20000 * 256 * 4  # ... for the whole probe set: 20 MB
    assert len(peaks) == 2 and max(peaks) < 3 * one_batch < snapshot / 6
    run = actconf.open_run(tmp_path / "big", strict=True)
    assert run._zarr_array("activations/wide").chunks == (1, 1024, 256)
    tap = keras.Model(inputs, h)
    np.testing.assert_allclose(run.activations("wide").values[-1], tap.predict(x_probe, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_an_interrupted_fit_keeps_the_run_until_closed(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x_train[:64], y_train[:64], epochs=4, callbacks=[rec, Interrupt()], verbose=0)
    assert actconf.open_run(tmp_path / "r").n_snapshots == 3  # readers are never locked out
    other = ActivationRecorder(tmp_path / "r", x_probe, y_probe, resume=True)
    with pytest.raises(RunExistsError, match=r"being written right now.*recorder\.close\(\)"):
        _fit(model, (x_train, y_train), other, epochs=1)
    rec.close()
    _fit(model, (x_train, y_train), other, epochs=1)
    table = actconf.open_run(tmp_path / "r", strict=True).snapshots
    assert list(table["epoch"]) == [0, 1, 2, 3] and table["step"].is_monotonic_increasing


# ------------------------------------------------------------------ labels, heads, probabilities (issue 14.6-14.8)
@pytest.fixture
def existing_run(recorded_digits, tmp_path):
    """A copy of a recorded run, and the hashes of its files (to show a refusal wrote nothing)."""
    import shutil

    from actconf.testing import folder_hashes

    path = tmp_path / "existing"
    shutil.copytree(recorded_digits["path"], path)
    return path, folder_hashes(path)


@pytest.mark.slow
@pytest.mark.parametrize("bad", [-3, -2])
def test_negative_labels_other_than_unlabelled_are_refused(existing_run, digits_small, bad):
    from actconf.callbacks import ActivationRecorder
    from actconf.errors import ActconfError
    from actconf.testing import folder_hashes

    path, before = existing_run
    _, _, x_probe, y_probe, _ = digits_small
    y = y_probe.copy()
    y[4] = bad
    with pytest.raises(InvalidParameterError, match="'y_probe'") as info:
        ActivationRecorder(path, x_probe, y, overwrite=True)
    assert isinstance(info.value, ActconfError)
    assert f"[{bad}]" in str(info.value) and "Mark samples without a class with -1" in str(info.value)
    assert folder_hashes(path) == before


@pytest.mark.slow
def test_unlabelled_samples_are_left_out_of_label_based_measures(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder
    from actconf.confidence import calibration
    from actconf.naps import naps

    x_train, y_train, x_probe, y_probe, _ = digits_small
    y = y_probe.copy()
    y[::3] = -1  # a third unlabelled
    model = tiny_mlp(hidden=8)
    model.fit(x_train[:64], y_train[:64], epochs=1, verbose=0, batch_size=32,
              callbacks=[ActivationRecorder(tmp_path / "r", x_probe, y)])
    run = actconf.open_run(tmp_path / "r")
    np.testing.assert_array_equal(run.labelled, y >= 0)
    pred = run.probabilities().values.argmax(axis=-1)
    keep = y >= 0
    expected = (pred[:, keep] == y[keep]).mean(axis=1)  # accuracy on the labelled samples only
    np.testing.assert_allclose(calibration(run)["accuracy"].values, expected)
    by_correct = naps(run, "hidden_1", by="correct", min_size=1, contrastive=False)
    sizes = by_correct["size"].values
    np.testing.assert_array_equal(sizes.sum(axis=1), np.full(run.n_snapshots, keep.sum()))
    wrong = ((pred != y) & keep).sum(axis=1)
    np.testing.assert_array_equal(sizes[:, 1], wrong)
    by_class = naps(run, "hidden_1", by="class", min_size=1)
    assert by_class["size"].values.sum(axis=1).tolist() == [int(keep.sum())] * run.n_snapshots


@pytest.mark.slow
def test_no_labels_refuses_label_based_measures_clearly(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder
    from actconf.confidence import calibration
    from actconf.naps import naps

    x_train, y_train, x_probe, _, _ = digits_small
    model = tiny_mlp(hidden=8)
    model.fit(x_train[:64], y_train[:64], epochs=1, verbose=0, batch_size=32,
              callbacks=[ActivationRecorder(tmp_path / "r", x_probe)])
    run = actconf.open_run(tmp_path / "r")
    assert not run.labelled.any()
    with pytest.raises(InvalidInputError, match="unlabelled.*y_probe="):
        calibration(run)
    for by in ("class", "correct", "class+confidence"):
        with pytest.raises(InvalidInputError, match="needs class labels.*'prediction' or 'confidence'"):
            naps(run, "hidden_1", by=by)
    # groupings that need no labels still work
    assert naps(run, "hidden_1", by="prediction", min_size=1).sizes["group"] == 10


def _two_heads():
    import keras

    inp = keras.Input((8, 8, 1))
    h = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Flatten()(inp))
    digits = keras.layers.Dense(10, name="digits")(h)
    parity = keras.layers.Dense(2, activation="softmax", name="parity")(h)
    model = keras.Model(inp, [digits, parity])
    model.compile("adam", [keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           keras.losses.SparseCategoricalCrossentropy()])
    return model


@pytest.mark.slow
def test_multi_output_models_need_an_explicit_head(existing_run, digits_small):
    from actconf.callbacks import ActivationRecorder
    from actconf.testing import folder_hashes

    path, before = existing_run
    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = _two_heads()
    targets = (y_train[:32], y_train[:32] % 2)
    rec = ActivationRecorder(path, x_probe, y_probe, overwrite=True)
    with pytest.raises(ModelNotSupportedError, match="2 outputs.*output_index=") as info:
        model.fit(x_train[:32], targets, epochs=1, verbose=0, callbacks=[rec])
    assert "'digits'" in str(info.value) and "'parity'" in str(info.value)
    assert folder_hashes(path) == before
    with pytest.raises(InvalidParameterError, match="'output_index'.*0: 'digits', 1: 'parity'"):
        model.fit(x_train[:32], targets, epochs=1, verbose=0,
                  callbacks=[ActivationRecorder(path, x_probe, y_probe, overwrite=True, output_index="nope")])
    assert folder_hashes(path) == before
    # chosen by name: that head's logits are recorded, the other head is not a hidden layer
    for choice, n_classes in (("digits", 10), (1, 2)):
        out = path.parent / f"heads-{choice}"
        yp = y_probe if n_classes == 10 else y_probe % 2
        model.fit(x_train[:32], targets, epochs=1, verbose=0,
                  callbacks=[ActivationRecorder(out, x_probe, yp, output_index=choice)])
        run = actconf.open_run(out)
        assert run.layer_sizes == {"hidden": 6} and run.n_classes == n_classes
        import keras

        expected = keras.ops.convert_to_numpy(model(x_probe, training=False)[0 if n_classes == 10 else 1])
        recorded = run.logits().values[-1] if n_classes == 10 else run.probabilities().values[-1]
        np.testing.assert_allclose(recorded, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_probabilities_must_be_a_distribution(existing_run, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder
    from actconf.testing import folder_hashes

    path, before = existing_run
    x_train, y_train, x_probe, y_probe, _ = digits_small
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Dense(6, activation="relu")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, keras.layers.Dense(10, activation="sigmoid", name="multi_label")(h))
    model.compile("adam", "binary_crossentropy")
    rec = ActivationRecorder(path, x_probe, y_probe, overwrite=True, output="probabilities")
    with pytest.raises(InvalidInputError, match="not a probability distribution") as info:
        model.fit(x_train[:32], keras.utils.to_categorical(y_train[:32], 10), epochs=1, verbose=0,
                  callbacks=[rec])
    message = str(info.value)
    assert "'multi_label'" in message and "sums to" in message
    assert "output='logits'" in message and "softmax" in message and "Nothing was written" in message
    assert folder_hashes(path) == before


@pytest.mark.slow
def test_auto_compiles_from_the_start_of_a_long_fit(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=4)
    short = ActivationRecorder(tmp_path / "short", x_probe, y_probe)
    model.fit(x_train[:64], y_train[:64], epochs=3, batch_size=32, verbose=0, callbacks=[short])
    assert short._use_compiled is False  # 4 snapshots: eager
    long = ActivationRecorder(tmp_path / "long", x_probe, y_probe, every_n_batches=1, batch_epochs=None)
    model.fit(x_train[:64], y_train[:64], epochs=12, batch_size=32, verbose=0, callbacks=[long])
    assert long._use_compiled is True  # 1 + 12 epochs + 12 batch snapshots > 24: traced from the first
    run = actconf.open_run(tmp_path / "long")
    assert run.n_snapshots == 25
    eager = keras.Model(model.inputs, model.get_layer("hidden_1").output)(x_probe, training=False)
    np.testing.assert_allclose(run.activations("hidden_1").values[-1], keras.ops.convert_to_numpy(eager),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_auto_compiles_a_fit_of_more_than_8_snapshots_from_the_start(tmp_path, digits_small):
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    eager = ActivationRecorder(tmp_path / "eager", x_probe, y_probe)
    tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=7, verbose=0, callbacks=[eager])
    assert eager._use_compiled is False  # 8 snapshots
    traced = ActivationRecorder(tmp_path / "traced", x_probe, y_probe)
    calls = []
    original = traced._call_probe
    traced._call_probe = lambda model, xb: calls.append(traced._use_compiled) or original(model, xb)
    tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=8, verbose=0, callbacks=[traced])
    assert calls[1:] and all(calls[1:])  # 9 snapshots: every one traced (the first call checks the output)
    assert actconf.open_run(tmp_path / "traced").n_snapshots == 9


@pytest.mark.slow
@pytest.mark.parametrize(("batch_size", "per_call"), [(1024, 4), (250, 2), (60, 1)])
def test_mc_passes_run_several_per_call_within_the_probe_batch_size(tmp_path, digits_small, batch_size,
                                                                    per_call):
    """100 probe samples, 4 passes: as many passes per call as fit into probe_batch_size samples."""
    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    rec = ActivationRecorder(tmp_path / "r", x_probe, y_probe, mc_samples=4, probe_batch_size=batch_size,
                             compiled=False)
    sizes = []
    original = rec._call_probe

    def counting(model, xb):
        if model is rec._mc_model:
            sizes.append(int(xb.shape[0]))
        return original(model, xb)

    rec._call_probe = counting
    tiny_mlp(hidden=16).fit(x_train[:64], y_train[:64], epochs=2, verbose=0, callbacks=[rec])
    run = actconf.open_run(tmp_path / "r")
    n_batches = -(-len(x_probe) // batch_size)
    assert len(sizes) == run.n_snapshots * n_batches * (4 // per_call)
    assert max(sizes) <= batch_size
    batches = [min(batch_size, len(x_probe) - start) for start in range(0, len(x_probe), batch_size)]
    assert set(sizes) == {per_call * n for n in batches}
    mc = run.mc_probabilities().values
    assert mc.shape == (3, 4, 100, 10)
    np.testing.assert_allclose(mc.sum(-1), 1.0, atol=1e-5)
    for i in range(4):  # every pass its own dropout masks
        for j in range(i):
            assert np.abs(mc[-1, i] - mc[-1, j]).max() > 1e-3
    # and each pass is a dropout pass of this model: its mean is near the deterministic output
    deterministic = run.probabilities().values[-1]
    assert np.abs(mc[-1].mean(0) - deterministic).mean() < np.abs(mc[-1, 0] - deterministic).mean()


@pytest.mark.slow
def test_named_probe_sets_in_one_run(tmp_path, digits_small):
    import keras

    from actconf.callbacks import ActivationRecorder

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=4)
    rec = ActivationRecorder(tmp_path / "r", probes={"test": (x_probe, y_probe), "train": (x_train[:40], y_train[:40])})
    model.fit(x_train[:64], y_train[:64], epochs=2, batch_size=32, verbose=0, callbacks=[rec])
    run = actconf.open_run(tmp_path / "r")
    assert run.probes == ["test", "train"] and run.probe_name == "test" and run.n_samples == len(x_probe)
    train = run.probe("train")
    assert train.n_samples == 40 and train.n_snapshots == run.n_snapshots == 3
    np.testing.assert_array_equal(train.labels, y_train[:40])
    hidden = keras.Model(model.inputs, model.get_layer("hidden_1").output)
    for view, x in ((run, x_probe), (train, x_train[:40])):
        expected = keras.ops.convert_to_numpy(hidden(x, training=False))
        np.testing.assert_allclose(view.activations("hidden_1").values[-1], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="no probe set 'val'.*'test', 'train'"):
        actconf.open_run(tmp_path / "r", probe="val")
    with pytest.raises(InvalidParameterError, match="either x_probe"):
        ActivationRecorder(tmp_path / "r2", x_probe, probes={"a": (x_probe, y_probe)})
