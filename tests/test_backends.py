"""The recorder on every Keras 3 backend: TensorFlow (this process), JAX and PyTorch.

Keras picks its backend once per process, so JAX and PyTorch run a small recording in a
subprocess with ``KERAS_BACKEND`` set: a two-input model with a nested backbone (a
layer recorded by its path), a token layer (mean over positions), ``reduce="first"``,
batch snapshots and MC dropout. The run is opened here and its last snapshot compared
with the backend's own eager forward pass of the trained model, saved by the script.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import actconf

pytestmark = pytest.mark.slow

_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, keras
    from actconf.callbacks import ActivationRecorder

    rng = np.random.default_rng(0)
    xi = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    xt = rng.normal(size=(32, 5, 4)).astype("float32")
    y = np.arange(32) % 3
    inner = keras.Input((6, 6, 2))
    c = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inner)
    feat = keras.layers.Dense(5, activation="relu", name="feat")(keras.layers.GlobalAveragePooling2D()(c))
    backbone = keras.Model(inner, feat, name="backbone")
    image, tokens = keras.Input((6, 6, 2), name="image"), keras.Input((5, 4), name="tokens")
    t = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(6, activation="relu", name="tok")(tokens))
    h = keras.layers.Concatenate()([backbone(image), keras.layers.GlobalAveragePooling1D()(t)])
    out = keras.layers.Dense(3, name="logits")(keras.layers.Dropout(0.2)(h))
    model = keras.Model([image, tokens], out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = {"image": xi[:10], "tokens": xt[:10]}
    rec = ActivationRecorder(sys.argv[1], probe, y[:10], layers=["backbone/conv", "backbone", "tok", "norm"],
                             reduce={"norm": "first"}, every_n_batches=2, mc_samples=2, probe_batch_size=4)
    model.fit({"image": xi, "tokens": xt}, y, epochs=2, batch_size=8, callbacks=[rec], verbose=0)

    def eager(m, x):
        return keras.ops.convert_to_numpy(m(x, training=False))

    pair = [xi[:10], xt[:10]]
    np.savez(sys.argv[1] + "-ref.npz",
             conv=eager(keras.Model(backbone.inputs, backbone.get_layer("conv").output), xi[:10]).mean(axis=(1, 2)),
             backbone=eager(backbone, xi[:10]),
             tok=eager(keras.Model(model.inputs, model.get_layer("tok").output), pair).mean(axis=1),
             norm=eager(keras.Model(model.inputs, model.get_layer("norm").output), pair)[:, 0],
             logits=eager(model, pair))
    print("BACKEND", keras.backend.backend())
    """
)


def _record_in_subprocess(tmp_path, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    path = tmp_path / backend
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"BACKEND {backend}" in proc.stdout
    return path


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_records_what_it_computes(tmp_path, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install -e '.[test]' installs it)")
    path = _record_in_subprocess(tmp_path, backend)
    run = actconf.open_run(path)
    assert run.manifest["versions"]["backend"] == backend
    # 4 batches per epoch: batch 2 in epoch 1 (batch 4 is the epoch end) + both epoch ends
    assert list(run.snapshots["kind"]) == ["initial", "batch", "epoch", "epoch"]
    assert run.layer_sizes == {"backbone/conv": 4, "backbone": 5, "tok": 6, "norm": 6}
    ref = np.load(str(path) + "-ref.npz")
    for layer in ("backbone/conv", "backbone", "tok", "norm"):
        np.testing.assert_allclose(run.activations(layer).values[-1], ref[layer.replace("backbone/", "")],
                                   rtol=1e-4, atol=1e-5, err_msg=layer)
    np.testing.assert_allclose(run.logits().values[-1], ref["logits"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(run.activations("tok").values[0], run.activations("tok").values[-1])
    mc = run.mc_probabilities().values
    assert mc.shape == (4, 2, 10, 3) and np.allclose(mc.sum(axis=-1), 1.0, atol=1e-5)
    inputs = run.probe_inputs()
    assert [a.shape for a in inputs] == [(10, 6, 6, 2), (10, 5, 4)]


def test_tensorflow_in_process(tmp_path):
    """The same recording on TensorFlow, in this process (the suite's backend)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the suite runs on another backend")
    code = _SCRIPT.replace("sys.argv[1]", "PATH")
    exec(compile(code, "<backend script>", "exec"), {"PATH": str(tmp_path / "tf"), "__name__": "script"})
    run = actconf.open_run(tmp_path / "tf")
    ref = np.load(str(tmp_path / "tf") + "-ref.npz")
    assert run.manifest["versions"]["backend"] == "tensorflow"
    for layer in ("backbone/conv", "backbone", "tok", "norm"):
        np.testing.assert_allclose(run.activations(layer).values[-1], ref[layer.replace("backbone/", "")],
                                   rtol=1e-4, atol=1e-5, err_msg=layer)
