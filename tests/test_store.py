"""The run store: round trips, selectors, damaged runs, crash safety and live reading."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import actconf
from actconf.errors import (
    CorruptRunError,
    DamagedRunWarning,
    InvalidParameterError,
    MissingDataError,
    NotARunError,
    RunExistsError,
    RunFormatError,
)
from actconf.testing import write_synthetic_run


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    n_snap, n, k = 6, 40, 4
    return {
        "act": {"a": rng.normal(size=(n_snap, n, 7)), "b/c": rng.normal(size=(n_snap, n, 3))},
        "logits": rng.normal(size=(n_snap, n, k)),
        "mc": rng.dirichlet(np.ones(k), size=(n_snap, 2, n)),
        "labels": rng.integers(0, k, n),
        "inputs": rng.random((n, 2, 3)),
    }


@pytest.fixture
def synthetic(tmp_path, arrays):
    return write_synthetic_run(
        tmp_path / "run", activations=arrays["act"], labels=arrays["labels"], logits=arrays["logits"],
        mc_probabilities=arrays["mc"], probe_inputs=arrays["inputs"],
        class_names=["w", "x", "y", "z"],
        kinds=["initial", "batch", "batch", "epoch", "epoch", "epoch"], epochs=[0, 1, 1, 1, 2, 3],
        batches=[0, 2, 4, 6, 6, 6], logs=[{"loss": float(i)} for i in range(6)],
    )


def test_round_trip(synthetic, arrays):
    run = synthetic
    np.testing.assert_allclose(run.activations("a").values, arrays["act"]["a"], rtol=1e-6)
    np.testing.assert_allclose(run.activations("b/c").values, arrays["act"]["b/c"], rtol=1e-6)
    np.testing.assert_allclose(run.logits().values, arrays["logits"], rtol=1e-6)
    np.testing.assert_allclose(run.mc_probabilities().values, arrays["mc"], rtol=1e-6)
    np.testing.assert_allclose(run.probe_inputs(), arrays["inputs"], rtol=1e-6)
    np.testing.assert_array_equal(run.labels, arrays["labels"])
    da = run.probabilities()
    assert da.dims == ("snapshot", "sample", "class")
    assert list(da["class"].values) == ["w", "x", "y", "z"]
    np.testing.assert_array_equal(da["label"].values, arrays["labels"])
    np.testing.assert_array_equal(da["epoch"].values, [0, 1, 1, 1, 2, 3])
    assert run.layers == ["a", "b/c"] and run.layer_sizes == {"a": 7, "b/c": 3}
    assert list(run.snapshots["loss"]) == [0, 1, 2, 3, 4, 5]
    assert run.snapshots.index.name == "snapshot"
    # lazy: the DataArray is dask-backed until asked for values
    assert type(da.data).__module__.startswith("dask")
    np.testing.assert_allclose(run.read("activations/a", [5, 1]), arrays["act"]["a"][[5, 1]], rtol=1e-6)


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (None, [0, 1, 2, 3, 4, 5]), ("epochs", [0, 3, 4, 5]), ("batches", [1, 2]), ("final", [5]),
        ("initial", [0]), (-2, [4]), (slice(1, 3), [1, 2]), ([0, 5], [0, 5]), ({"epoch": 1}, [1, 2, 3]),
        ({"epoch": 1, "kind": "epoch"}, [3]), (np.array([True, False] * 3), [0, 2, 4]),
    ],
)
def test_snapshot_selectors(synthetic, select, expected):
    assert synthetic.snapshot_index(select).tolist() == expected


@pytest.mark.parametrize(
    ("select", "match"),
    [({"epoch": 99}, "matches no snapshot"), ("warmup", "Unknown snapshot selector"), (6, "out of range"),
     ({"nope": 1}, "not in the snapshot table"), (np.array([True]), "length 6"), (1.5, "Cannot select")],
)
def test_bad_selectors(synthetic, select, match):
    with pytest.raises(InvalidParameterError, match=match):
        synthetic.snapshot_index(select)


def test_unknown_layer_lists_recorded_ones(synthetic):
    with pytest.raises(InvalidParameterError, match=r"'a', 'b/c'"):
        synthetic.activations("hidden")


def test_missing_logits_and_mc(tmp_path, arrays):
    run = write_synthetic_run(tmp_path / "p", activations={"a": arrays["act"]["a"]}, labels=arrays["labels"],
                              probabilities=arrays["mc"][:, 0])
    with pytest.raises(MissingDataError, match="energy"):
        run.logits()
    with pytest.raises(MissingDataError, match="mc_samples"):
        run.mc_probabilities()


def test_not_a_run(tmp_path):
    with pytest.raises(NotARunError, match="does not exist"):
        actconf.open_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunError, match="no manifest.json"):
        actconf.open_run(tmp_path / "empty")


def test_newer_format_is_refused(synthetic):
    path = synthetic.path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(RunFormatError, match="version 99.*Upgrade"):
        actconf.open_run(synthetic.path)


def test_damaged_chunk_names_array_and_snapshot(synthetic, arrays):
    chunk = synthetic.path / "arrays.zarr" / "activations" / "a" / "c" / "2" / "0" / "0"
    assert chunk.is_file()
    chunk.write_bytes(b"\x00garbage" * 5)
    run = actconf.open_run(synthetic.path)
    with pytest.raises(CorruptRunError, match=r"'activations/a'.*snapshot 2 \(epoch 1 · batch 4\)"):
        run.activations("a").values
    with pytest.raises(CorruptRunError, match="snapshot 2"):
        run.verify()
    # the other snapshots remain readable
    np.testing.assert_allclose(run.read("activations/a", [0, 1, 3]), arrays["act"]["a"][[0, 1, 3]], rtol=1e-6)
    np.testing.assert_allclose(run.logits().values, arrays["logits"], rtol=1e-6)


def test_damaged_array_metadata(synthetic):
    (synthetic.path / "arrays.zarr" / "outputs" / "logits" / "zarr.json").write_text("{not json")
    run = actconf.open_run(synthetic.path)
    with pytest.raises(CorruptRunError, match="'outputs/logits' .*cannot be opened"):
        run.logits().values


def test_damaged_commit_log(synthetic):
    log = synthetic.path / "snapshots.jsonl"
    lines = log.read_bytes().split(b"\n")
    lines[2] = b'{"index": 2, "kind": "ba'
    log.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptRunError, match="damaged at snapshot 2"):
        actconf.open_run(synthetic.path, strict=True)
    # by default the intact prefix opens, with a warning naming what was skipped
    with pytest.warns(DamagedRunWarning, match=r"damaged at snapshot 2 \(line 3.*skipped 4 line\(s\).*repair"):
        run = actconf.open_run(synthetic.path)
    assert run.n_snapshots == 2 and run.damage["line"] == 3


def test_incomplete_last_commit_is_ignored(synthetic):
    log = synthetic.path / "snapshots.jsonl"
    with open(log, "ab") as fh:
        fh.write(b'{"index": 6, "kind": "epo')  # a writer killed in the middle of its commit
    run = actconf.open_run(synthetic.path)
    assert run.n_snapshots == 6
    run.verify()


def test_writer_refuses_existing_run_and_foreign_dirs(synthetic, tmp_path, arrays):
    before = (synthetic.path / "snapshots.jsonl").read_bytes()
    with pytest.raises(RunExistsError):
        write_synthetic_run(synthetic.path, activations={"a": arrays["act"]["a"]}, labels=arrays["labels"],
                            logits=arrays["logits"])
    assert (synthetic.path / "snapshots.jsonl").read_bytes() == before
    run = write_synthetic_run(synthetic.path, activations={"a": arrays["act"]["a"][:2]},
                              labels=arrays["labels"], logits=arrays["logits"][:2], overwrite=True)
    assert run.n_snapshots == 2 and run.layers == ["a"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(RunExistsError, match="not an actconf run"):
        write_synthetic_run(foreign, activations={"a": arrays["act"]["a"]}, labels=arrays["labels"],
                            logits=arrays["logits"], overwrite=True)
    assert (foreign / "keep.txt").exists()


def test_snapshot_coords_and_frame_follow_the_table(synthetic):
    idx = np.array([4, 0, 2])
    coords = synthetic.snapshot_coords(idx)
    np.testing.assert_array_equal(coords["snapshot"], idx)
    table = synthetic.snapshots
    for name, column in (("epoch", "epoch"), ("step", "step"), ("progress", "progress"), ("snapshot_label", "label")):
        assert coords[name][0] == "snapshot"
        assert list(coords[name][1]) == [table.loc[i, column] for i in idx]
    frame = synthetic.snapshot_frame(idx)
    assert list(frame.columns) == ["snapshot", "kind", "epoch", "batch", "step", "progress", "label"]
    assert list(frame.index) == [0, 1, 2]
    for row, i in zip(frame.itertuples(), idx, strict=True):
        assert (row.snapshot, row.kind, row.epoch, row.batch) == (i, table.loc[i, "kind"], table.loc[i, "epoch"],
                                                                  table.loc[i, "batch"])
    # the lazy arrays carry the same coordinates
    da = synthetic.activations("a")
    assert list(da["snapshot_label"].values) == list(table["label"])


def test_softmax_matches_scipy_and_survives_large_logits():
    from scipy.special import softmax as scipy_softmax

    from actconf.store import softmax

    z = np.random.default_rng(3).normal(size=(4, 5, 6)) * 30
    np.testing.assert_allclose(softmax(z), scipy_softmax(z, axis=-1), rtol=1e-12, atol=1e-300)
    big = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    assert big.dtype == np.float64
    np.testing.assert_allclose(big, [[0.5, 0.5, 0.0]], atol=1e-300)


def test_run_layout_describes_arrays_and_manifest():
    from actconf.store import run_layout

    inputs = np.zeros((3, 2, 4), "float32")
    layout = run_layout(labels=[1, 0, 1], class_names=["no", "yes"], logits=True, mc_samples=5,
                        layers=[{"name": "a/b", "n_neurons": 7, "kind": "dense"}, {"name": "a_b", "n_neurons": 2}],
                        probe_inputs=inputs, output_mode="logits", dataset={"name": "d"}, model={"name": "m"})
    keys = [entry["array"] for entry in layout.manifest["layers"]]
    assert keys == ["activations/a_b", "activations/a_b_"]  # distinct keys for names that clash
    assert layout.arrays == {
        "activations/a_b": ((3, 7), ("snapshot", "sample", "neuron"), "float32"),
        "activations/a_b_": ((3, 2), ("snapshot", "sample", "neuron"), "float32"),
        "outputs/probabilities": ((3, 2), ("snapshot", "sample", "class"), "float32"),
        "outputs/logits": ((3, 2), ("snapshot", "sample", "class"), "float32"),
        "outputs/mc_probabilities": ((5, 3, 2), ("snapshot", "mc", "sample", "class"), "float32"),
    }
    assert layout.static["probe_inputs"][1] == ("sample", "input_0", "input_1")
    m = layout.manifest
    assert m["probe"] == {"indices": [0, 1, 2], "labels": [1, 0, 1], "input_shape": [2, 4]}
    assert m["outputs"] == {"mode": "logits", "logits": True, "mc_samples": 5}
    assert m["layers"][0]["kind"] == "dense" and m["dataset"] == {"name": "d"} and m["model"] == {"name": "m"}
    plain = run_layout(labels=[0, 0], class_names=["a", "b"], layers=[{"name": "h", "n_neurons": 1}], logits=False)
    assert set(plain.arrays) == {"activations/h", "outputs/probabilities"} and plain.static == {}
    assert "input_shape" not in plain.manifest["probe"]


def test_summary_and_repr(synthetic):
    text = synthetic.summary()
    assert "snapshots: 6 (1 initial, 2 batch, 3 epoch)" in text and "a (7 neurons)" in text
    assert "6 snapshots" in repr(synthetic)


# ------------------------------------------------------------------ crash safety
_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from actconf.store import RunWriter, run_layout
    path = sys.argv[1]
    layout = run_layout(labels=[0] * 300, class_names=list("abcdefghij"), layers=[{"name": "x", "n_neurons": 64}],
                        logits=False)
    w = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
    for i in range(100000):
        w.append({"activations/x": np.full((300, 64), i, "float32"),
                  "outputs/probabilities": np.full((300, 10), i, "float32")},
                 {"kind": "epoch", "epoch": i, "batch": 0, "step": i, "progress": float(i), "nonfinite": False})
        print("ACK", i, flush=True)
    """
)


def _kill_after(cmd, delay, env=None, min_acks=1):
    """Start ``cmd``, SIGKILL it ``delay`` seconds after its ``min_acks``-th ACK; return the ACK lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    acks = []
    while len(acks) < min_acks:
        line = proc.stdout.readline()
        assert line.startswith("ACK"), f"child died before snapshot {len(acks)}: {line!r}"
        acks.append(line)
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.set_blocking(proc.stdout.fileno(), True)
    # a line cut short by the kill ("ACK" without its number) is not an acknowledgement
    acks.extend(line for line in proc.stdout.read().splitlines() if re.fullmatch(r"ACK \d+.*", line))
    return acks


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_sigkill_during_writes_loses_no_completed_snapshot(tmp_path, seed):
    delay = np.random.default_rng(seed).uniform(0.0, 0.8)
    path = tmp_path / "killed"
    acks = _kill_after([sys.executable, "-c", _WRITER_SCRIPT, str(path)], delay)
    acknowledged = int(acks[-1].split()[1]) + 1
    run = actconf.open_run(path)
    # every acknowledged snapshot is there; at most one more (committed, killed before its ACK)
    assert acknowledged <= run.n_snapshots <= acknowledged + 1
    x = run.activations("x").values
    p = run.probabilities().values
    expected = np.arange(run.n_snapshots, dtype="float32")[:, None, None]
    np.testing.assert_array_equal(x, np.broadcast_to(expected, x.shape))
    np.testing.assert_array_equal(p, np.broadcast_to(expected, p.shape))
    assert list(run.snapshots["epoch"]) == list(range(run.n_snapshots))


_TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, keras
    from actconf.callbacks import ActivationRecorder
    rng = np.random.default_rng(0)
    x = rng.random((2048, 8, 8, 1)).astype("float32"); y = rng.integers(0, 10, 2048)
    inp = keras.Input((8, 8, 1)); h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(64, activation="relu", name="hidden_1")(h); out = keras.layers.Dense(10)(h)
    model = keras.Model(inp, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rec = ActivationRecorder(sys.argv[1], x[:500], y[:500], every_n_batches=1, batch_epochs=None)
    class Ack(keras.callbacks.Callback):  # committed (written in the background) and taken snapshots
        def ack(self): print("ACK", rec.n_snapshots - 1, rec._writer._next, flush=True)
        def on_train_begin(self, logs=None): self.ack()
        def on_train_batch_end(self, batch, logs=None): self.ack()
    model.fit(x, y, epochs=50, batch_size=32, callbacks=[rec, Ack()], verbose=0)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(("min_acks", "delay"), [(3, 0.013), (40, 0.101)])
def test_sigkill_during_training(tmp_path, min_acks, delay):
    path = tmp_path / "train_killed"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    acks = _kill_after([sys.executable, "-c", _TRAIN_SCRIPT, str(path)], delay, env=env, min_acks=min_acks)
    acknowledged = int(acks[-1].split()[1]) + 1
    taken = int(acks[-1].split()[2])
    run = actconf.open_run(path)
    # every snapshot committed before the last ACK is there; nothing beyond what was taken
    # (plus at most one taken after that ACK, just before the kill)
    assert acknowledged <= run.n_snapshots <= taken + 1
    assert run.n_snapshots >= 1
    run.verify()
    acts = run.activations("hidden_1").values
    assert np.isfinite(acts).all()
    table = run.snapshots
    assert table["step"].is_monotonic_increasing and table["kind"].iloc[0] == "initial"


# ------------------------------------------------------------------ live reading
_SLOW_WRITER = _WRITER_SCRIPT.replace('print("ACK", i, flush=True)',
                                      'print("ACK", i, flush=True); import time; time.sleep(0.02)\n    if i == 40: break') + "w.close()\n"


@pytest.mark.slow
def test_read_while_another_process_writes(tmp_path):
    path = tmp_path / "live"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("ACK")
    run = actconf.open_run(path)
    seen = [run.n_snapshots]
    while proc.poll() is None or seen[-1] < 41:
        run.refresh()
        n = run.n_snapshots
        if n:
            x = run.activations("x").values
            assert x.shape[0] == n
            np.testing.assert_array_equal(x[:, 0, 0], np.arange(n, dtype="float32"))
        seen.append(n)
        if proc.poll() is not None and run.refresh() == 0 and run.n_snapshots == seen[-1]:
            break
        time.sleep(0.01)
    proc.wait()
    assert run.n_snapshots == 41
    assert len(set(seen)) > 3  # the reader saw the run grow
    assert all(a <= b for a, b in zip(seen, seen[1:], strict=False))
    # the finished run's arrays are trimmed to the committed snapshots
    import zarr

    assert zarr.open_array(str(Path(path) / "arrays.zarr" / "activations" / "x"), mode="r").shape[0] == 41


# ------------------------------------------------------------------ background writer
def _tiny_writer(path, background):
    from actconf.store import RunWriter, run_layout

    layout = run_layout(labels=[0] * 5, class_names=["a", "b"], layers=[{"name": "x", "n_neurons": 3}], logits=False)
    return RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, background=background)


def _snap(i):
    return ({"activations/x": np.full((5, 3), i, "float32"), "outputs/probabilities": np.full((5, 2), i, "float32")},
            {"kind": "epoch", "epoch": i, "batch": 0, "step": i, "progress": float(i), "nonfinite": False})


def test_background_writer_commits_everything_in_order(tmp_path):
    writer = _tiny_writer(tmp_path / "bg", background=True)
    buffer = np.zeros((5, 3), "float32")
    for i in range(40):
        arrays, meta = _snap(i)
        buffer[:] = i  # the writer must have copied: reusing the caller's buffer is safe
        arrays["activations/x"] = buffer
        assert writer.append(arrays, meta) == i
    writer.close()
    run = actconf.open_run(tmp_path / "bg")
    assert run.n_snapshots == 40
    np.testing.assert_array_equal(run.activations("x").values[:, 0, 0], np.arange(40))


def test_background_writer_reports_worker_errors(tmp_path):
    writer = _tiny_writer(tmp_path / "bg", background=True)
    for i in range(3):
        writer.append(*_snap(i))
    writer.flush()

    class Broken:
        def __setitem__(self, key, value):
            raise OSError("disk full")

        def resize(self, shape):
            pass

    writer._arrays["outputs/probabilities"] = Broken()  # zarr's own write path

    def broken_write(name, index, value, start=0):  # the direct chunk-file path
        raise OSError("disk full")

    if writer._direct is not None:
        writer._direct.write = broken_write
    writer.append(*_snap(3))
    with pytest.raises(OSError, match="disk full"):
        writer.flush()
    run = actconf.open_run(tmp_path / "bg")
    assert run.n_snapshots == 3  # the failed snapshot was never committed
    run.verify()
