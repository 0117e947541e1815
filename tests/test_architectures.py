"""The recorder on the models users bring: keras.applications CNNs, a nested backbone, a
small transformer encoder, an LSTM and a multi-input model (issue 13.2).

Every model is built with ``weights=None`` (no download), tiny inputs, trained for one
epoch of 2 batches on random data, recorded on a probe of 16 samples, then opened,
grouped into NAPs, laid out (PCA: no UMAP start-up) and mapped. The recorded last
snapshot is compared with an independent computation: the tapped layer's output from
a separate Keras sub-model, reduced with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import actconf

pytestmark = pytest.mark.slow

N_PROBE, N_CLASSES = 16, 3  # 16 samples: every class group has >= 5 (a layout's min_size)


def _data(shape, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    return x, np.arange(n) % N_CLASSES


def _record(path, model, x, y, **kwargs):
    """Compile, fit one epoch of 2 batches with a recorder, open the run."""
    import keras

    # eager training steps: tracing (or XLA-compiling) ResNet50's step for 2 batches costs minutes
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=kwargs.pop("logits", True)),
                  run_eagerly=True)
    if isinstance(x, dict):
        probe = {k: v[:N_PROBE] for k, v in x.items()}
    else:
        probe = [v[:N_PROBE] for v in x] if isinstance(x, list) else x[:N_PROBE]
    recorder = actconf.ActivationRecorder(path, probe, y[:N_PROBE], probe_batch_size=4, **kwargs)
    model.fit(x, y, epochs=1, batch_size=len(y) // 2, callbacks=[recorder], verbose=0)
    return actconf.open_run(path), recorder


def _analyse(run, layer):
    """NAPs by class, a PCA layout and one rendered map of ``layer``: all finite, right sizes."""
    from actconf.layout import ensure_layout
    from actconf.naps import naps
    from actconf.render import TopoRenderer

    nap = naps(run, layer, by="class", min_size=1)
    n = run.layer_sizes[layer]
    assert nap.shape == (run.n_snapshots, N_CLASSES, n)
    assert np.isfinite(nap.values).all()
    # NAPs are group means: recompute the last one from the activations (brute force)
    acts, labels = run.activations(layer).values[-1].astype(np.float64), run.labels
    means = np.stack([acts[labels == c].mean(axis=0) for c in range(N_CLASSES)])
    np.testing.assert_allclose(nap.values[-1], means - means.mean(axis=0), rtol=1e-4,
                               atol=1e-6 * max(1.0, np.abs(acts).max()))
    layout = ensure_layout(run, layer, method="pca")
    assert layout.positions.shape == (n, 2) and np.isfinite(layout.positions).all()
    image = TopoRenderer(layout, resolution=12).render(nap.values[-1, 0])
    assert image.shape == (12, 12) and np.isfinite(image).any()
    return nap


def _reference(model_inputs, tensor, x, axes):
    """A tapped tensor computed by a separate sub-model, reduced with numpy (mean over ``axes``)."""
    import keras

    out = keras.ops.convert_to_numpy(keras.Model(model_inputs, tensor)(x, training=False))
    return out.mean(axis=axes) if axes else out


def _check_recorded(run, layer, reference):
    np.testing.assert_allclose(run.activations(layer).values[-1], reference, rtol=2e-3, atol=2e-4)


def test_resnet50_records_its_stage_outputs(tmp_path):
    import keras

    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=N_CLASSES,
                                        classifier_activation=None)
    x, y = _data((32, 32, 3))
    run, _ = _record(tmp_path / "r", model, x, y)
    assert list(run.layer_sizes) == ["conv1_relu", "conv2_block3_out", "conv3_block4_out",
                                     "conv4_block6_out", "conv5_block3_out"]
    assert run.layer_sizes["conv5_block3_out"] == 2048
    entry = {e["name"]: e for e in run.manifest["layers"]}["conv3_block4_out"]
    assert entry["reduce"] == "mean" and entry["neuron"].startswith("channel")
    _check_recorded(run, "conv3_block4_out",
                    _reference(model.inputs, model.get_layer("conv3_block4_out").output, x[:N_PROBE], (1, 2)))
    _analyse(run, "conv3_block4_out")


def test_mobilenetv2_and_efficientnetb0(tmp_path):
    import keras

    x, y = _data((32, 32, 3))
    for name, kwargs, last in [("MobileNetV2", {"alpha": 0.35}, "out_relu"),
                               ("EfficientNetB0", {}, "top_activation")]:
        model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=N_CLASSES,
                                                  **kwargs)
        run, _ = _record(tmp_path / name, model, x, y, logits=False)
        assert run.manifest["outputs"]["mode"] == "probabilities"
        assert list(run.layer_sizes)[-1] == last and len(run.layer_sizes) == 5
        np.testing.assert_allclose(run.probabilities().values.sum(axis=-1), 1.0, atol=1e-5)
        _check_recorded(run, last, _reference(model.inputs, model.get_layer(last).output, x[:N_PROBE], (1, 2)))
        _analyse(run, last)


def _transfer_model():
    import keras

    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35)
    inp = keras.Input((32, 32, 3))
    h = keras.layers.GlobalAveragePooling2D()(base(inp))
    h = keras.layers.Dense(16, activation="relu", name="head_hidden")(h)
    return keras.Model(inp, keras.layers.Dense(N_CLASSES)(h)), base


def test_nested_backbone_by_path_and_object(tmp_path):
    model, base = _transfer_model()
    table = actconf.list_layers(model)
    assert set(table.loc[table["default"], "path"]) == {base.name, "head_hidden"}
    path = f"{base.name}/block_16_project"
    row = table[table["path"] == path].iloc[0]
    assert row["neurons"] == base.get_layer("block_16_project").output.shape[-1] == 112
    assert row["reduce"] == "mean" and not row["default"]
    x, y = _data((32, 32, 3))
    inner = base.get_layer("block_13_expand_relu")
    run, _ = _record(tmp_path / "t", model, x, y, layers=[path, inner, "head_hidden"])
    assert list(run.layer_sizes) == [path, f"{base.name}/block_13_expand_relu", "head_hidden"]
    _check_recorded(run, path, _reference(base.inputs, base.get_layer("block_16_project").output,
                                          x[:N_PROBE], (1, 2)))
    _check_recorded(run, f"{base.name}/block_13_expand_relu",
                    _reference(base.inputs, inner.output, x[:N_PROBE], (1, 2)))
    _analyse(run, path)


def test_nested_backbone_defaults(tmp_path):
    model, base = _transfer_model()
    x, y = _data((32, 32, 3))
    run, _ = _record(tmp_path / "d", model, x, y)
    assert run.layer_sizes == {base.name: 1280, "head_hidden": 16}
    _check_recorded(run, base.name, _reference(base.inputs, base.outputs[0], x[:N_PROBE], (1, 2)))
    _analyse(run, "head_hidden")


def test_transformer_encoder_pools_tokens(tmp_path):
    import keras

    tokens, width = 6, 8
    inp = keras.Input((tokens, width))
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")(inp, inp)
    h = keras.layers.LayerNormalization(name="norm_1")(inp + att)
    ffn = keras.layers.Dense(12, activation="relu", name="ffn")(h)
    h = keras.layers.LayerNormalization(name="norm_2")(h + keras.layers.Dense(width, name="ffn_out")(ffn))
    out = keras.layers.Dense(N_CLASSES)(keras.layers.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, out)
    x, y = _data((tokens, width))
    run, _ = _record(tmp_path / "tr", model, x, y, layers=["attention", "norm_1", "ffn", "norm_2"],
                     reduce={"norm_2": "first"})
    # a token layer is a unit per feature (mean over the positions), not tokens x units
    assert run.layer_sizes == {"attention": width, "norm_1": width, "ffn": 12, "norm_2": width}
    kinds = {e["name"]: e["reduce"] for e in run.manifest["layers"]}
    assert kinds == {"attention": "mean", "norm_1": "mean", "ffn": "mean", "norm_2": "first"}
    probe = x[:N_PROBE]
    _check_recorded(run, "ffn", _reference(model.inputs, model.get_layer("ffn").output, probe, (1,)))
    first = _reference(model.inputs, model.get_layer("norm_2").output, probe, None)[:, 0]
    _check_recorded(run, "norm_2", first)
    _analyse(run, "ffn")


def test_lstm_and_reductions(tmp_path):
    import keras

    inp = keras.Input((10, 4))
    seq = keras.layers.LSTM(8, return_sequences=True, name="lstm_seq")(inp)
    last = keras.layers.LSTM(6, name="lstm_last")(seq)
    model = keras.Model(inp, keras.layers.Dense(N_CLASSES)(last))
    table = actconf.list_layers(model)
    assert set(table.loc[table["default"], "path"]) == {"lstm_seq", "lstm_last"}
    x, y = _data((10, 4))

    def last_step(t):
        return t[:, -1, :]

    run, _ = _record(tmp_path / "l", model, x, y, layers=["lstm_seq", "lstm_last"],
                     reduce={"lstm_seq": "max"})
    assert run.layer_sizes == {"lstm_seq": 8, "lstm_last": 6}
    seq_ref = _reference(model.inputs, seq, x[:N_PROBE], None)
    _check_recorded(run, "lstm_seq", seq_ref.max(axis=1))
    _check_recorded(run, "lstm_last", _reference(model.inputs, last, x[:N_PROBE], None))
    _analyse(run, "lstm_seq")
    # a callable and "flatten", inside the same probe model
    run2, _ = _record(tmp_path / "l2", model, x, y, layers=["lstm_seq"], reduce=last_step)
    entry = run2.manifest["layers"][0]
    assert entry["reduce"] == "custom:last_step" and entry["n_neurons"] == 8
    seq_ref = _reference(model.inputs, seq, x[:N_PROBE], None)
    _check_recorded(run2, "lstm_seq", seq_ref[:, -1, :])
    run3, _ = _record(tmp_path / "l3", model, x, y, layers=["lstm_seq"], reduce="flatten")
    assert run3.layer_sizes == {"lstm_seq": 80}


def test_multi_input_model_with_list_and_dict_probes(tmp_path):
    import keras

    image = keras.Input((6, 6, 2), name="image")
    meta = keras.Input((5,), name="meta")
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    h = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(conv),
                                    keras.layers.Dense(3, activation="relu", name="meta_dense")(meta)])
    h = keras.layers.Dense(7, activation="relu", name="joint")(h)
    model = keras.Model([image, meta], keras.layers.Dense(N_CLASSES)(h))
    xi, y = _data((6, 6, 2))
    xm, _ = _data((5,), seed=1)
    # a dict by input name, in another order than model.inputs
    run, _ = _record(tmp_path / "m", model, {"meta": xm, "image": xi}, y)
    assert run.layer_sizes == {"conv": 4, "meta_dense": 3, "joint": 7}
    stored = run.probe_inputs()
    np.testing.assert_array_equal(stored[0], xi[:N_PROBE])
    np.testing.assert_array_equal(stored[1], xm[:N_PROBE])
    _check_recorded(run, "joint", _reference(model.inputs, model.get_layer("joint").output,
                                             [xi[:N_PROBE], xm[:N_PROBE]], None))
    _check_recorded(run, "conv", _reference(model.inputs, conv, [xi[:N_PROBE], xm[:N_PROBE]], (1, 2)))
    _analyse(run, "joint")
    # a list in the order of model.inputs records the same untrained state
    model2 = keras.models.clone_model(model)
    model2.set_weights(model.get_weights())
    run2, _ = _record(tmp_path / "m2", model2, [xi, xm], y, layers=["joint"])
    np.testing.assert_allclose(run2.activations("joint").values[0], run.activations("joint").values[-1],
                               rtol=1e-5, atol=1e-6)


def test_cli_layers_lists_a_saved_model(tmp_path, capsys):
    from actconf.cli import main

    model, base = _transfer_model()
    model.save(tmp_path / "transfer.keras")
    assert main(["layers", str(tmp_path / "transfer.keras")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["path", "class", "output_shape", "neurons"]
    assert any(line.split()[0] == f"{base.name}/block_16_project" for line in lines[1:])
    assert len(lines) == 1 + len(actconf.list_layers(model))
    assert main(["layers", "--default", str(tmp_path / "transfer.keras")]) == 0
    defaults = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert defaults == [base.name, "head_hidden"]
    assert main(["layers", str(tmp_path / "missing.keras")]) == 2
    err = capsys.readouterr().err
    assert "'model' argument of actconf layers" in err and "model.save" in err


def test_reduce_naming_a_layer_not_recorded_is_refused(tmp_path):
    import keras

    from actconf.errors import InvalidParameterError
    from actconf.testing import folder_hashes

    inp = keras.Input((5, 4))
    h = keras.layers.Dense(6, name="tokens")(inp)
    model = keras.Model(inp, keras.layers.Dense(N_CLASSES)(keras.layers.GlobalAveragePooling1D()(h)))
    x, y = _data((5, 4))
    (tmp_path / "r").mkdir()
    before = folder_hashes(tmp_path)
    with pytest.raises(InvalidParameterError, match="'reduce'.*'tokenz'.*layers=") as info:
        _record(tmp_path / "r", model, x, y, reduce={"tokenz": "max"})
    assert "['tokens']" in str(info.value)
    assert folder_hashes(tmp_path) == before
    with pytest.raises(InvalidParameterError, match="'reduce'.*'auto', 'mean', 'max', 'first', 'flatten'"):
        actconf.ActivationRecorder(tmp_path / "r", x, y, reduce="median")
