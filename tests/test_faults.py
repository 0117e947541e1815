"""Faults while recording: full disks (injected and real), short writes, read-only folders,
SIGKILL at chosen moments, and what the recorder does about them (``on_error``).

Every test checks the same promise: no snapshot that was reported committed is lost,
the run opens (``strict=True``: no damage), a later writer continues without a gap,
and failures are :class:`~actconf.errors.StorageError` naming the path, the cause and
the snapshots that are safe.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import actconf
from actconf.errors import RecordingWarning, StorageError
from actconf.store import RunWriter, run_layout, run_state

HAVE_PROC = Path("/proc/self/fd").is_dir()


def _layout(n=300, width=40):
    return run_layout(labels=np.arange(n) % 10, class_names=[str(i) for i in range(10)],
                      layers=[{"name": "x", "n_neurons": width, "kind": "dense"}], logits=False,
                      probe_fingerprint="probe", model={"fingerprint": "model"})


def _snapshot(value, n=300, width=40, rng=None):
    acts = np.full((n, width), value, "float32") if rng is None else rng.normal(size=(n, width)).astype("float32")
    return ({"activations/x": acts, "outputs/probabilities": np.full((n, 10), value, "float32")},
            {"kind": "epoch", "epoch": int(value), "batch": 0, "step": int(value), "progress": float(value),
             "nonfinite": False})


def _fd_path(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class Faults:
    """Make the file operations under ``root`` fail (ENOSPC) or write short, at random.

    ``os.write`` (chunk files, commit log, metadata), ``os.open`` with ``O_CREAT`` and
    ``os.replace``: the operations the writer makes once a run exists. Operations
    elsewhere (pytest's own output) pass through.
    """

    def __init__(self, monkeypatch, root, seed, *, p_full=0.0, p_short=0.0):
        self.root, self.rng = str(Path(root).absolute()), np.random.default_rng(seed)
        self.p_full, self.p_short = p_full, p_short
        self.real = {"write": os.write, "open": os.open, "replace": os.replace}
        self.full = self.short = 0
        self.active = True
        monkeypatch.setattr(os, "write", self._write)
        monkeypatch.setattr(os, "open", self._open)
        monkeypatch.setattr(os, "replace", self._replace)

    def _hit(self, path):
        path = str(path)
        if not (self.active and path.startswith(self.root)):
            return False
        if self.rng.random() < self.p_full:
            self.full += 1
            return True
        return False

    def _full(self, path):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def _write(self, fd, data):
        path = _fd_path(fd)
        if self._hit(path):
            raise self._full(path)
        if self.active and path.startswith(self.root) and len(data) > 1 and self.rng.random() < self.p_short:
            self.short += 1
            return self.real["write"](fd, memoryview(data)[: int(self.rng.integers(1, len(data)))])
        return self.real["write"](fd, data)

    def _open(self, path, flags, mode=0o777, **kwargs):
        if flags & os.O_CREAT and self._hit(path):
            raise self._full(path)
        return self.real["open"](path, flags, mode, **kwargs)

    def _replace(self, src, dst, **kwargs):
        if self._hit(dst):
            raise self._full(dst)
        return self.real["replace"](src, dst, **kwargs)


def _check_committed(path, committed):
    """The run at ``path`` holds exactly the snapshots in ``committed`` (values), in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == len(committed)
    run.verify()
    if committed:
        x = run.activations("x").values
        np.testing.assert_array_equal(x[:, 0, 0], np.asarray(committed, "float32"))
        np.testing.assert_array_equal(x, np.broadcast_to(x[:, :1, :1], x.shape))
        np.testing.assert_array_equal(run.probabilities().values[:, 0, 0], committed)
    return run


# ------------------------------------------------------------------ injected ENOSPC and short writes
@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_injected_full_disk_and_short_writes_lose_no_committed_snapshot(tmp_path, monkeypatch, seed, background):
    path = tmp_path / "run"
    layout = _layout()
    writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, chunk_mb=0.01, background=background)
    faults = Faults(monkeypatch, path, seed, p_full=0.01, p_short=0.3)
    committed, errors = [], []
    for value in range(40):
        try:
            index = writer.append(*_snapshot(value))
            writer.flush()  # with background=True a failure shows here (or at the next append)
            assert index == len(committed)  # no gap: a failed snapshot used no index
            committed.append(value)
        except StorageError as exc:
            errors.append(exc)
        assert writer.n_snapshots == len(committed)  # the count the recorder reports is true
    faults.active = False
    writer.close()
    _check_committed(path, committed)
    assert faults.full == len(errors) > 0 and faults.short > 0  # every injected failure was reported
    for exc in errors:
        assert exc.errno == errno.ENOSPC and str(path) in str(exc) and "No space left on device" in str(exc)
        assert "committed and safe" in str(exc) or "No snapshot" in str(exc)
        assert exc.committed is not None
    print(f"FAULTS seed={seed} background={background} enospc={faults.full} short={faults.short} "
          f"committed={len(committed)} lost=0")


@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
def test_failed_commit_is_cut_off_and_the_next_one_continues(tmp_path, monkeypatch):
    path = tmp_path / "run"
    layout = _layout()
    writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
    writer.append(*_snapshot(0))
    real_write = os.write

    def half_then_full(fd, data):  # the commit line gets half written, then the disk is full
        if _fd_path(fd).endswith("snapshots.jsonl"):
            real_write(fd, memoryview(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StorageError, match=r"commit snapshot 1.*Snapshots 0-0 \(1\) are committed and safe"):
        writer.append(*_snapshot(1))
    monkeypatch.setattr(os, "write", real_write)
    assert (path / "snapshots.jsonl").read_bytes().count(b"\n") == 1
    assert writer.append(*_snapshot(2)) == 1
    writer.close()
    _check_committed(path, [0, 2])


@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
def test_full_disk_when_closing_and_creating(tmp_path, monkeypatch):
    path = tmp_path / "run"
    layout = _layout()
    writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
    for value in range(3):
        writer.append(*_snapshot(value))
    Faults(monkeypatch, tmp_path, 0, p_full=1.0)
    with pytest.raises(StorageError, match=r"trim the arrays.*Snapshots 0-2 \(3\) are committed and safe"):
        writer.close()
    with pytest.raises(StorageError, match=r"create the run.*No snapshot .* is committed yet"):
        RunWriter(tmp_path / "other", manifest=layout.manifest, arrays=layout.arrays)
    monkeypatch.undo()
    _check_committed(path, [0, 1, 2])  # untrimmed arrays: readers use the commit log


# ------------------------------------------------------------------ a real small disk
def _mount(*args):
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MB tmpfs mounted for the test (needs root and mount; skipped otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        proc = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if proc.returncode:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {proc.stderr.strip() or 'mount failed'}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_real_full_disk_then_more_space(small_tmpfs):
    path = small_tmpfs / "run"
    layout = _layout(n=200, width=256)
    rng = np.random.default_rng(0)
    writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
    committed = []
    with pytest.raises(StorageError) as info:
        for value in range(100):
            arrays, meta = _snapshot(value, n=200, width=256)
            arrays["activations/x"] += rng.normal(size=(200, 256)).astype("float32") * 1e-3  # barely compressible
            arrays["activations/x"][:, 0] = value
            arrays["activations/x"][0, :] = value
            writer.append(arrays, meta)
            committed.append(value)
    exc = info.value
    k = len(committed)
    assert 3 < k < 100 and exc.errno == errno.ENOSPC and exc.committed == k == writer.n_snapshots
    assert str(path) in str(exc) and f"Snapshots 0-{k - 1} ({k}) are committed and safe" in str(exc)
    run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == k
    run.verify()
    np.testing.assert_array_equal(run.activations("x").values[:, 0, 0], committed)
    if _mount("-o", "remount,size=16m", str(small_tmpfs)).returncode:
        pytest.skip("cannot grow the tmpfs")
    for value in range(100, 103):  # the same writer goes on where it stopped
        assert writer.append(*_snapshot(value, n=200, width=256)) == len(committed)
        committed.append(value)
    writer.close()
    run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == k + 3
    np.testing.assert_array_equal(run.activations("x").values[:, 0, 0], committed)
    run.verify()
    print(f"TMPFS full after {k} snapshots of {200 * 256 * 4 // 1024} kB; 3 more after growing; lost=0")


def test_read_only_folder(small_tmpfs):
    path = small_tmpfs / "run"
    layout = _layout()
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays) as writer:
        writer.append(*_snapshot(0))
        writer.append(*_snapshot(1))
    proc = _mount("-o", "remount,ro", str(small_tmpfs))  # (refused while a file is open for writing)
    if proc.returncode:
        pytest.skip(f"cannot remount the tmpfs read-only: {proc.stderr.strip()}")
    try:
        with pytest.raises(StorageError, match=r"reopen it for appending.*Read-only file system.*Snapshots 0-1 \(2\) are "
                                               r"committed") as info:
            RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, resume=True)
        assert info.value.errno == errno.EROFS and info.value.committed == 2
        with pytest.raises(StorageError, match=r"create the run.*Read-only file system.*No snapshot"):
            RunWriter(small_tmpfs / "other", manifest=layout.manifest, arrays=layout.arrays)
        _check_committed(path, [0, 1])  # reading a read-only run works
    finally:
        _mount("-o", "remount,rw", str(small_tmpfs))


@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
def test_folder_made_read_only_while_writing(tmp_path, monkeypatch):
    path = tmp_path / "run"
    layout = _layout()
    writer = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays)
    writer.append(*_snapshot(0))
    real_open = os.open

    def read_only(file, flags, *args, **kwargs):  # what a folder turned read-only does to new files
        if str(file).startswith(str(path)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StorageError, match=r"write snapshot 1 .*Read-only file system.*\(1\) are committed and safe"):
        writer.append(*_snapshot(1))
    monkeypatch.undo()
    assert writer.append(*_snapshot(2)) == 1
    writer.close()
    _check_committed(path, [0, 2])


# ------------------------------------------------------------------ SIGKILL at chosen moments
_KILL_SCRIPT = textwrap.dedent(
    """
    import io, os, signal, sys
    import numpy as np
    from actconf.store import RunWriter, run_layout

    path, kill_at = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    layout = run_layout(labels=[0] * 300, class_names=list("abcdefghij"), layers=[{"name": "x", "n_neurons": 40}],
                        logits=False, probe_fingerprint="probe", model={"fingerprint": "model"})
    done = [0]

    def inside(arg):
        if isinstance(arg, int):
            try:
                arg = os.readlink(f"/proc/self/fd/{arg}")
            except OSError:
                return False
        return os.path.abspath(str(arg)).startswith(path)

    def counted(fn, only_root=False):  # SIGKILL before the (kill_at + 1)-th file operation on the run
        def wrapped(*args, **kwargs):
            if inside(args[0]) and (not only_root or os.path.abspath(str(args[0])) == path):
                if done[0] >= kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                done[0] += 1
            return fn(*args, **kwargs)
        return wrapped

    for name in ("open", "write", "replace", "ftruncate", "unlink", "rename"):
        setattr(os, name, counted(getattr(os, name)))
    os.mkdir = counted(os.mkdir, only_root=True)  # (Zarr's racing mkdirs would make the count vary)
    io.open = counted(io.open)  # zarr's own writes (group and array metadata)
    w = RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, chunk_mb=0.02)
    for i in range(40):
        w.append({"activations/x": np.full((300, 40), i, "float32"),
                  "outputs/probabilities": np.full((300, 10), i, "float32")},
                 {"kind": "epoch", "epoch": i, "batch": 0, "step": i, "progress": float(i), "nonfinite": False})
        print("ACK", i, flush=True)
    w.close()
    print("DONE", done[0], flush=True)
    """
)

# moments = file operations on the run done before the kill (opens, writes, renames, deletions).
# 0: the very start, nothing on disk; 1: the empty folder; 2: the empty commit log; 3-4: the manifest
# half written under its temporary name; 5: the manifest in place, no arrays; 6-25: Zarr creating the
# group and arrays; 26: created; 28: the first chunk written under its temporary name; 41: every chunk
# of snapshot 0 written, not committed; 42: committed (op 42 is its commit line), not acknowledged;
# 286/288: inside the first growth of the arrays (rewriting their zarr.json, at snapshot 16).
KILL_MOMENTS = [0, 1, 2, 3, 4, 5, 6, 7, 11, 13, 17, 22, 26, 28, 29, 34, 41, 42, 286, 288]
EXPECTED = {0: "missing", 1: "empty", 2: "unfinished", 4: "unfinished", 5: "run", 41: 0, 42: 1, 286: 16, 288: 16}


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_sigkill_at_every_moment_leaves_a_recoverable_run(tmp_path, moment):
    path = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(path), str(moment)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    acks = [line for line in proc.stdout.splitlines() if line.startswith("ACK")]
    state = run_state(path)
    assert state in ("missing", "empty", "unfinished", "run"), state
    layout = run_layout(labels=[0] * 300, class_names=list("abcdefghij"), layers=[{"name": "x", "n_neurons": 40}],
                        logits=False, probe_fingerprint="probe", model={"fingerprint": "model"})
    n = 0
    if state == "run":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run = actconf.open_run(path, strict=True)
        n = run.n_snapshots
        assert len(acks) <= n <= len(acks) + 1  # killed between a commit and its ACK: one more
        run.verify()
        if n:
            np.testing.assert_array_equal(run.activations("x").values[:, 0, 0], np.arange(n))
    if n:  # a resumed writer continues after the last committed snapshot
        with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, resume=True) as w:
            assert not list(path.rglob("*.partial"))
            assert w.append(*_snapshot(n, width=40)) == n
        np.testing.assert_array_equal(actconf.open_run(path, strict=True).activations("x").values[:, 0, 0],
                                      np.arange(n + 1))
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, overwrite=True) as w:  # always replaceable
        w.append(*_snapshot(0, width=40))
    assert actconf.open_run(path, strict=True).n_snapshots == 1
    if moment in EXPECTED:  # the moments the comment above describes
        assert EXPECTED[moment] in (state, n)
    print(f"KILL moment={moment} state={state} committed={n} acked={len(acks)} lost=0")


# ------------------------------------------------------------------ the recorder: on_error
def _fit_with_faults(tmp_path, digits_small, monkeypatch, *, fail_from, on_error):
    """Fit a tiny MLP (2 batches per epoch, a snapshot after each) with ENOSPC from commit ``fail_from`` on."""
    from actconf.callbacks import ActivationRecorder
    from actconf.testing import tiny_mlp

    x_train, y_train, x_probe, y_probe, _ = digits_small
    model = tiny_mlp(hidden=8)
    path = tmp_path / "rec"
    rec = ActivationRecorder(path, x_probe, y_probe, every_n_batches=1, batch_epochs=None, on_error=on_error)
    real_write, commits = os.write, [0]

    def write(fd, data):
        if _fd_path(fd).endswith("snapshots.jsonl"):
            commits[0] += 1
            if commits[0] > fail_from:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "snapshots.jsonl")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return model, rec, path, (x_train[:64], y_train[:64])


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
def test_recorder_raises_on_full_disk_and_a_later_fit_continues(tmp_path, digits_small, monkeypatch):
    model, rec, path, (x, y) = _fit_with_faults(tmp_path, digits_small, monkeypatch, fail_from=3, on_error="raise")
    with pytest.raises(StorageError, match=r"Snapshots 0-2 \(3\) are committed and safe") as info:
        model.fit(x, y, epochs=3, batch_size=32, callbacks=[rec], verbose=0)
    assert info.value.errno == errno.ENOSPC
    assert rec.n_snapshots == 3 == actconf.open_run(path, strict=True).n_snapshots
    monkeypatch.undo()  # space again: the same recorder, another fit
    model.fit(x, y, epochs=2, batch_size=32, callbacks=[rec], verbose=0)
    run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == rec.n_snapshots == 3 + 4
    run.verify()
    table = run.snapshots
    assert table["step"].is_monotonic_increasing and table["progress"].is_monotonic_increasing
    assert list(table["kind"]) == ["initial", "batch", "epoch", "batch", "epoch", "batch", "epoch"]


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PROC, reason="needs /proc to map file descriptors to paths")
@pytest.mark.parametrize("on_error", ["warn", "stop"])
def test_recorder_warns_or_stops_on_full_disk(tmp_path, digits_small, monkeypatch, on_error):
    model, rec, path, (x, y) = _fit_with_faults(tmp_path, digits_small, monkeypatch, fail_from=2,
                                                on_error=on_error)
    expected = "training goes on" if on_error == "warn" else "training stops"
    with pytest.warns(RecordingWarning, match=rf"No space left on device.*\(2\) are committed.*{expected}"):
        history = model.fit(x, y, epochs=3, batch_size=32, callbacks=[rec], verbose=0)
    epochs_trained = len(history.history["loss"])
    assert epochs_trained == (3 if on_error == "warn" else 1)
    run = actconf.open_run(path, strict=True)
    assert run.n_snapshots == rec.n_snapshots == 2
    run.verify()


@pytest.mark.slow
def test_recorder_into_a_read_only_folder(small_tmpfs, digits_small):
    from actconf.callbacks import ActivationRecorder
    from actconf.testing import tiny_mlp

    x_train, y_train, x_probe, y_probe, _ = digits_small
    if _mount("-o", "remount,ro", str(small_tmpfs)).returncode:
        pytest.skip("cannot remount the tmpfs read-only")
    try:
        rec = ActivationRecorder(small_tmpfs / "run", x_probe, y_probe)
        with pytest.raises(StorageError, match=r"create the run.*Read-only file system.*No snapshot"):
            tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=1, callbacks=[rec], verbose=0)
        rec = ActivationRecorder(small_tmpfs / "run", x_probe, y_probe, on_error="warn")
        with pytest.warns(RecordingWarning, match="Read-only file system"):
            history = tiny_mlp(hidden=4).fit(x_train[:32], y_train[:32], epochs=2, callbacks=[rec], verbose=0)
        assert len(history.history["loss"]) == 2 and rec.n_snapshots == 0
    finally:
        _mount("-o", "remount,rw", str(small_tmpfs))
