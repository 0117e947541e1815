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


# ------------------------------------------------------------------ chunking, float16, streaming writes
def _layout(n, n_neurons, k=10, mc=0, dtype="float32", fingerprints=False):
    from actconf.store import run_layout

    extra = {"probe_fingerprint": "probe-1", "model": {"fingerprint": "model-1"}} if fingerprints else {}
    return run_layout(labels=np.arange(n) % k, class_names=[str(i) for i in range(k)],
                      layers=[{"name": "h", "n_neurons": n_neurons, "kind": "dense"}], logits=False,
                      mc_samples=mc, dtype=dtype, **extra)


def _row(i):
    return {"kind": "epoch", "epoch": i, "batch": 0, "step": i, "progress": float(i), "nonfinite": False}


def _grid_files(path, name):
    return sorted(p for p in (path / "arrays.zarr" / name / "c").rglob("*") if p.is_file())


@pytest.mark.parametrize(("chunk_mb", "chunk_samples", "dtype"),
                         [(0.05, None, "float32"), (0.02, 96, "float32"), (0.05, 128, "float16"), (4, None, "float16")])
def test_chunked_and_float16_runs_read_as_one_chunk_float32(tmp_path, chunk_mb, chunk_samples, dtype):
    from actconf.store import RunWriter

    rng = np.random.default_rng(1)
    n_snap, n, width, k = 4, 700, 300, 10
    acts = rng.normal(size=(n_snap, n, width)).astype("float32") * 10
    probs = rng.dirichlet(np.ones(k), size=(n_snap, n)).astype("float32")
    mc = rng.dirichlet(np.ones(k), size=(n_snap, 2, n)).astype("float32")
    reference = _layout(n, width, mc=2)
    with RunWriter(tmp_path / "one", manifest=reference.manifest, arrays=reference.arrays, chunk_mb=64) as w:
        for i in range(n_snap):
            w.append({"activations/h": acts[i], "outputs/probabilities": probs[i], "outputs/mc_probabilities": mc[i]},
                     _row(i))
    layout = _layout(n, width, mc=2, dtype=dtype)
    cuts = [0, 33, 96, 97, 400, n]  # uneven slices: chunks complete across several writes
    with RunWriter(tmp_path / "chunked", manifest=layout.manifest, arrays=layout.arrays, chunk_mb=chunk_mb,
                   chunk_samples=chunk_samples) as w:
        for i in range(n_snap):
            assert w.begin() == i
            for a, b in zip(cuts, cuts[1:], strict=False):
                w.write("activations/h", acts[i, a:b], start=a)
                w.write("outputs/probabilities", probs[i, a:b], start=a)
                w.write("outputs/mc_probabilities", mc[i, :, a:b], start=a)
            assert w.commit(_row(i)) == i
    one, chunked = actconf.open_run(tmp_path / "one"), actconf.open_run(tmp_path / "chunked")
    storage = chunked._zarr_array("activations/h").chunks
    assert one._zarr_array("activations/h").chunks == (1, n, width)
    if chunk_mb < 1:  # split along samples and neurons, as many files per snapshot as the grid has chunks
        assert storage[1] < n and storage[2] < width
        per_snapshot = -(-n // storage[1]) * -(-width // storage[2])
        assert len(_grid_files(chunked.path, "activations/h")) == n_snap * per_snapshot
        assert storage[1] * storage[2] * np.dtype(dtype).itemsize <= chunk_mb * 2**20
    if chunk_samples:
        assert chunk_samples % storage[1] == 0  # every probe batch fills whole chunks
    got = chunked.activations("h")
    assert got.dtype == np.dtype(dtype)
    for axis, size in ((1, storage[1]), (2, storage[2])):  # dask chunks are made of whole storage chunks
        bounds = np.cumsum(got.data.chunks[axis])[:-1]
        assert np.all(bounds % size == 0)
    if dtype == "float32":
        np.testing.assert_array_equal(got.values, one.activations("h").values)
    else:
        np.testing.assert_array_equal(got.values, acts.astype("float16"))
        np.testing.assert_allclose(got.values.astype("float32"), one.activations("h").values, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(chunked.probabilities().values, probs)
    np.testing.assert_array_equal(chunked.mc_probabilities().values, mc)
    np.testing.assert_array_equal(chunked.read("activations/h", [3, 0]), got.values[[3, 0]])
    chunked.verify()


@pytest.mark.parametrize(("shape", "dims", "dtype", "mb", "batch", "expected"), [
    ((500, 128), ("snapshot", "sample", "neuron"), "float32", 4, 1024, (500, 128)),      # small: one chunk
    ((20000, 256), ("snapshot", "sample", "neuron"), "float32", 4, None, (4096, 256)),   # split along samples
    ((20000, 256), ("snapshot", "sample", "neuron"), "float32", 4, 1024, (1024, 256)),   # at most one batch
    ((20000, 256), ("snapshot", "sample", "neuron"), "float32", 4, 1000, (1000, 256)),
    ((20000, 100000), ("snapshot", "sample", "neuron"), "float16", 4, None, (256, 8192)),  # wide: neurons too
    ((3, 20000, 10), ("snapshot", "mc", "sample", "class"), "float32", 0.1, None, (3, 873, 10)),
    ((7,), ("snapshot", "x"), "float32", 0.0001, None, (7,)),                              # no sample axis
])
def test_chunk_shapes(shape, dims, dtype, mb, batch, expected):
    from actconf.store import chunk_shape

    chunks = chunk_shape(shape, dims, dtype, chunk_mb=mb, max_samples=batch)
    assert chunks == expected
    if chunks != shape:
        assert np.prod(chunks) * np.dtype(dtype).itemsize <= mb * 2**20


def test_commit_needs_every_sample_and_keeps_the_index(tmp_path):
    from actconf.store import RunWriter

    layout = _layout(50, 4)
    w = RunWriter(tmp_path / "r", manifest=layout.manifest, arrays=layout.arrays)
    assert w.begin() == 0
    w.write("activations/h", np.ones((20, 4)), start=0)
    w.write("outputs/probabilities", np.ones((50, 10)))
    with pytest.raises(InvalidParameterError, match=r"incomplete.*activations/h"):
        w.commit(_row(0))
    with pytest.raises(InvalidParameterError, match="needs a snapshot begun"):
        w.write("activations/h", np.ones((30, 4)), start=20)
    with pytest.raises(InvalidParameterError, match="expected"):
        w.begin()
        w.write("activations/h", np.ones((30, 5)), start=20)
    assert w.n_snapshots == 0
    full = {"activations/h": np.full((50, 4), 7.0), "outputs/probabilities": np.ones((50, 10))}
    assert w.append(full, _row(0)) == 0  # the failed attempts used no index
    w.close()
    run = actconf.open_run(tmp_path / "r")
    assert run.n_snapshots == 1 and np.all(run.activations("h").values == 7)


def test_open_writer_locks_the_run(tmp_path):
    from actconf.store import RunWriter, repair_run

    layout = _layout(5, 3)
    w = RunWriter(tmp_path / "r", manifest=layout.manifest, arrays=layout.arrays)
    w.append({"activations/h": np.zeros((5, 3)), "outputs/probabilities": np.zeros((5, 10))}, _row(0))
    for attempt in (lambda: RunWriter(tmp_path / "r", manifest=layout.manifest, arrays=layout.arrays, overwrite=True),
                    lambda: repair_run(tmp_path / "r")):
        with pytest.raises(RunExistsError, match="being written right now"):
            attempt()
    assert actconf.open_run(tmp_path / "r").n_snapshots == 1  # readers are never locked out
    w.close()
    RunWriter(tmp_path / "r", manifest=layout.manifest, arrays=layout.arrays, overwrite=True).close()


# ------------------------------------------------------------------ missing chunks
def test_deleted_chunk_is_an_error_not_nan(synthetic, arrays):
    from actconf.store import repair_run

    chunk = synthetic.path / "arrays.zarr" / "activations" / "a" / "c" / "3" / "0" / "0"
    chunk.unlink()
    run = actconf.open_run(synthetic.path)
    with pytest.raises(CorruptRunError, match=r"'activations/a'.*missing a chunk of snapshot 3 \(epoch 1\).*not NaN"):
        run.activations("a").values
    with pytest.raises(CorruptRunError, match="snapshot 3"):
        run.read("activations/a", 3)
    with pytest.raises(CorruptRunError, match=r"missing a chunk of snapshot 3"):
        run.verify()
    np.testing.assert_allclose(run.read("activations/a", [0, 1, 2, 4, 5]), arrays["act"]["a"][[0, 1, 2, 4, 5]],
                               rtol=1e-6)
    np.testing.assert_allclose(run.activations("b/c").values, arrays["act"]["b/c"], rtol=1e-6)
    report = repair_run(synthetic.path)
    assert report.missing_chunks == ["activations/a snapshot 3"] and report.backup is None


def test_deleted_chunk_of_a_multi_chunk_snapshot(tmp_path):
    from actconf.store import RunWriter

    layout = _layout(600, 300)
    acts = np.arange(600 * 300, dtype="float32").reshape(600, 300)
    with RunWriter(tmp_path / "r", manifest=layout.manifest, arrays=layout.arrays, chunk_mb=0.05) as w:
        for i in range(3):
            w.append({"activations/h": acts + i, "outputs/probabilities": np.ones((600, 10))}, _row(i))
    files = [p for p in _grid_files(tmp_path / "r", "activations/h") if p.parts[-3] == "1"]
    assert len(files) > 4
    files[3].unlink()
    run = actconf.open_run(tmp_path / "r")
    np.testing.assert_array_equal(run.read("activations/h", [0, 2]), np.stack([acts, acts + 2]))
    with pytest.raises(CorruptRunError, match=r"snapshot 1 \(epoch 1\)"):
        run.activations("h").values
    with pytest.raises(CorruptRunError, match="snapshot 1"):
        run.verify()


# ------------------------------------------------------------------ damaged commit logs: prefix and repair
def _damage_line(path, line_no, text=b'{"index": 9, "kind": "x"}'):
    log = path / "snapshots.jsonl"
    lines = log.read_bytes().split(b"\n")
    lines[line_no] = text
    log.write_bytes(b"\n".join(lines))
    return log.read_bytes()


@pytest.mark.parametrize(("line_no", "text", "reason"), [
    (3, b'{"index": 3, "ki', "not valid JSON"), (3, b"[1, 2]", "not a JSON object"),
    (3, b'{"index": 4, "kind": "epoch"}', "index 4 where 3 was expected"),  # a gap, as the old writer made
])
def test_damaged_log_opens_its_prefix_and_repair_keeps_a_backup(synthetic, arrays, line_no, text, reason):
    import warnings

    old = _damage_line(synthetic.path, line_no, text)
    with pytest.warns(DamagedRunWarning, match=reason):
        run = actconf.open_run(synthetic.path)
    assert run.n_snapshots == 3
    assert "commit log is damaged at line 4" in run.summary() and "actconf repair" in run.summary()
    np.testing.assert_allclose(run.activations("a").values, arrays["act"]["a"][:3], rtol=1e-6)
    with pytest.raises(CorruptRunError, match="damaged at snapshot 3"):
        run.verify()  # the prefix is fine, the run is not
    report = run.repair()
    assert (report.kept, report.dropped_lines, report.problem["line"]) == (3, 3, 4)
    assert report.backup.read_bytes() == old  # the old log, byte for byte
    assert "old log kept as" in report.summary()
    assert (synthetic.path / "snapshots.jsonl").read_bytes() == b"\n".join(old.split(b"\n")[:3]) + b"\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = actconf.open_run(synthetic.path, strict=True)
    assert again.n_snapshots == run.n_snapshots == 3 and run.damage is None
    again.verify()
    assert actconf.store.repair_run(synthetic.path).backup is None  # nothing left to repair


def test_repair_cli(synthetic, capsys):
    from actconf.cli import main

    _damage_line(synthetic.path, 1, b"garbage")
    (synthetic.path / "arrays.zarr" / "activations" / "a" / "c" / "0" / "0" / "0.123.partial").write_bytes(b"x")
    assert main(["repair", str(synthetic.path)]) == 0
    out = capsys.readouterr().out
    assert "1 intact snapshot(s)" in out and "dropped 5 line(s)" in out and "1 stale temporary file" in out
    assert len(list(synthetic.path.glob("snapshots.jsonl.*.bak"))) == 1
    assert not list(synthetic.path.rglob("*.partial"))
    assert main(["repair", str(synthetic.path)]) == 0
    assert "intact, unchanged" in capsys.readouterr().out
    (synthetic.path / "arrays.zarr" / "outputs" / "logits" / "c" / "0" / "0" / "0").unlink()
    assert main(["repair", str(synthetic.path)]) == 1  # a lost chunk cannot be repaired: said, and exit 1
    assert "NOT repairable" in capsys.readouterr().out
    assert main(["repair", str(synthetic.path.parent / "nothing")]) == 1


def test_repair_drops_an_unfinished_last_line(synthetic):
    log = synthetic.path / "snapshots.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + b'{"index": 6, "ki')
    report = actconf.open_run(synthetic.path).repair()
    assert (report.kept, report.dropped_lines, report.problem) == (6, 1, None)
    assert log.read_bytes() == good


# ------------------------------------------------------------------ unfinished runs
def _partial_states(tmp_path):
    """Every state a writer killed early can leave, built as the writer builds a run."""
    from actconf.store import RunWriter

    layout = _layout(5, 3)
    states = {}
    log_only = tmp_path / "log_only"  # 1. the commit log exists, the manifest not yet
    log_only.mkdir()
    (log_only / "snapshots.jsonl").write_bytes(b"")
    states["log only"] = log_only
    half = tmp_path / "half_manifest"  # 2. ... and the manifest is half written under its temporary name
    half.mkdir()
    (half / "snapshots.jsonl").write_bytes(b"")
    (half / ".manifest.json.4242.partial").write_text('{"format": "actconf-r')
    states["half manifest"] = half
    for name, keep in (("no_arrays", ()), ("some_arrays", ("activations",))):  # 3./4. manifest, arrays not (all) made
        path = tmp_path / name
        RunWriter(path, manifest=layout.manifest, arrays=layout.arrays).close()
        import shutil

        for node in (path / "arrays.zarr").iterdir():
            if node.name not in keep and node.name != "zarr.json":
                shutil.rmtree(node) if node.is_dir() else node.unlink()
        if not keep:
            shutil.rmtree(path / "arrays.zarr")
        states[name.replace("_", " ")] = path
    return states, layout


def test_unfinished_runs_are_recognised_and_replaceable(tmp_path):
    from actconf.store import RunWriter, run_state

    states, layout = _partial_states(tmp_path)
    for what, path in states.items():
        if what in ("log only", "half manifest"):
            assert run_state(path) == "unfinished", what
            with pytest.raises(NotARunError, match="unfinished actconf run"):
                actconf.open_run(path)
            with pytest.raises(RunExistsError, match="unfinished actconf run.*overwrite=True"):
                RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
        else:
            run = actconf.open_run(path)
            assert run.n_snapshots == 0, what
            run.verify()
            with pytest.raises(MissingDataError, match="no committed snapshot"):
                run.activations("h")
        with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, overwrite=True) as w:
            w.append({"activations/h": np.ones((5, 3)), "outputs/probabilities": np.ones((5, 10))}, _row(0))
        run = actconf.open_run(path)
        assert run.n_snapshots == 1 and not list(path.glob(".*.partial")), what
        run.verify()


def test_stale_partial_files_are_ignored_and_cleaned_when_resuming(tmp_path):
    from actconf.store import RunWriter

    layout = _layout(5, 3, fingerprints=True)
    path = tmp_path / "r"
    snap = {"activations/h": np.ones((5, 3)), "outputs/probabilities": np.ones((5, 10))}
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays) as w:
        w.append(snap, _row(0))
    stale = [path / "arrays.zarr" / "activations" / "h" / "c" / "1" / "0" / "0.777.partial",
             path / ".manifest.json.777.partial", path / "arrays.zarr" / "outputs" / "zarr.abc.partial"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half")
    with open(path / "snapshots.jsonl", "ab") as fh:
        fh.write(b'{"index": 1, "kin')  # and a commit a kill cut short
    run = actconf.open_run(path)
    assert run.n_snapshots == 1
    run.verify()
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, resume=True) as w:
        assert not any(p.exists() for p in stale)
        assert w.n_snapshots == 1 and w.last_row["index"] == 0
        assert w.append(snap, _row(1)) == 1
    run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == 2
    run.verify()


def test_writer_resume_checks_the_manifest(tmp_path):
    from actconf.errors import RunMismatchError
    from actconf.store import RunWriter, run_layout

    layout = _layout(5, 3, fingerprints=True)
    path = tmp_path / "r"
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays) as w:
        w.append({"activations/h": np.ones((5, 3)), "outputs/probabilities": np.ones((5, 10))}, _row(0))
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    other_probe = run_layout(labels=np.arange(5) % 10, class_names=[str(i) for i in range(10)],
                             layers=[{"name": "h", "n_neurons": 3, "kind": "dense"}], logits=False,
                             probe_fingerprint="probe-2", model={"fingerprint": "model-1"})
    cases = [(other_probe, "probe set differs"), (_layout(5, 4, fingerprints=True), "recorded layers differ"),
             (_layout(5, 3, dtype="float16", fingerprints=True), "array 'activations/h' differs"),
             (_layout(5, 3, mc=2, fingerprints=True), "array 'outputs/mc_probabilities' differs")]
    arch = _layout(5, 3, fingerprints=True)
    arch.manifest["model"] = {"fingerprint": "model-2", "architecture": [["Dense", "h", [None, 3], 12]]}
    cases.append((arch, "architecture differs"))
    for other, match in cases:
        with pytest.raises(RunMismatchError, match=match):
            RunWriter(path, manifest=other.manifest, arrays=other.arrays, resume=True)
    no_prints = _layout(5, 3)
    with RunWriter(tmp_path / "old", manifest=no_prints.manifest, arrays=no_prints.arrays) as w:
        w.append({"activations/h": np.ones((5, 3)), "outputs/probabilities": np.ones((5, 10))}, _row(0))
    with pytest.raises(RunMismatchError, match="without fingerprints"):
        RunWriter(tmp_path / "old", manifest=layout.manifest, arrays=layout.arrays, resume=True)
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before  # nothing changed
    with pytest.raises(InvalidParameterError, match="not both"):
        RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, resume=True, overwrite=True)
