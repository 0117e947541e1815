"""Cost of recording activations during training (results: benchmarks/README.md, "Recording").

1. Per-epoch recording: the paper's MLP on digits, 20 epochs, a 500-sample probe.
   Fit time with ActivationRecorder / without any callback, next to a callback that
   calls ``model.predict`` on a probe sub-model (what users usually write first).
2. Per-batch capture through one epoch: ActivationRecorder(every_n_batches=1) vs the
   reference method of the TAM study: save a checkpoint after every batch, then reload
   each one and run the probe inference.
3. Where the time goes: the time spent inside the recorder's hooks as a share of the
   same fit (start, forward pass and writing per snapshot).

Every variant is measured in the same process, interleaved, median of ``--repeats``;
each timed ``fit`` runs on a fresh model whose training step was traced by an untimed
warm-up fit, so the numbers are steady-state training plus what the callbacks add.

    python benchmarks/bench_recording.py [--repeats 3] [--epochs 20] [--full]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import actconf
from actconf.callbacks import ActivationRecorder

OUT = Path(__file__).resolve().parent / "out"


def paper_mlp(input_shape, n_classes, seed=0):
    from actconf.models import build_mlp

    return build_mlp(input_shape, n_classes, seed=seed)


class PredictProbe(keras.callbacks.Callback):
    """Baseline: a probe sub-model built once, run with model.predict at every epoch end."""

    def __init__(self, x):
        super().__init__()
        self.x = x
        self.kept = []

    def on_train_begin(self, logs=None):
        self.probe = keras.Model(self.model.inputs, [self.model.get_layer("hidden_1").output, self.model.outputs[0]])

    def on_epoch_end(self, epoch, logs=None):
        self.kept.append([np.asarray(a) for a in self.probe.predict(self.x, verbose=0, batch_size=1024)])


class NoOpEveryBatch(keras.callbacks.Callback):
    """A batch hook that does nothing: any per-batch capture pays for Keras' per-batch sync."""

    def on_train_batch_end(self, batch, logs=None):
        pass


class CheckpointEveryBatch(keras.callbacks.Callback):
    """Reference method: one full model file per batch."""

    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)
        self.paths = []

    def on_train_batch_end(self, batch, logs=None):
        path = self.folder / f"batch_{batch:05d}.keras"
        self.model.save(path)
        self.paths.append(path)


def time_fit(data, epochs, callbacks_factory, seed=0):
    """Time ``fit`` of a fresh model whose training step is already traced.

    A one-epoch warm-up fit (not timed, no callbacks) pays TensorFlow's tracing of
    the training function (0.3-0.5 s, and noisy), so that the timed fit measures
    steady-state training plus what the callbacks add.
    """
    x_train, y_train = data
    model = paper_mlp(x_train.shape[1:], 10, seed=seed)
    model.fit(x_train[:64], y_train[:64], epochs=1, batch_size=32, verbose=0)
    callbacks = callbacks_factory()
    gc.collect()  # start every timed fit with the same garbage-collector state
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, callbacks=callbacks, verbose=0)
    return time.perf_counter() - t0, callbacks


def bench_per_epoch(ds, probe, epochs, repeats):
    tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
    times = {"no callback": [], "ActivationRecorder": [], "predict() callback": []}
    data = (ds.x_train, ds.y_train)
    time_fit(data, 1, list)  # warm-up: tracing, first-call costs
    for r in range(repeats):
        times["no callback"].append(time_fit(data, epochs, list)[0])
        times["ActivationRecorder"].append(time_fit(
            data, epochs, lambda r=r: [ActivationRecorder(tmp / f"rec{r}", probe, record_initial=True)])[0])
        times["predict() callback"].append(time_fit(data, epochs, lambda: [PredictProbe(probe.x)])[0])
    run = actconf.open_run(tmp / "rec0")
    assert run.n_snapshots == epochs + 1
    shutil.rmtree(tmp)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["no callback"]
    return {k: {"median_s": med[k], "ratio": med[k] / base, "all_s": times[k]} for k in times}


def _settle():
    """After the reference method: write its files back and drop its garbage, so that
    its disk and memory traffic does not land in the next variant's timing."""
    os.sync()
    gc.collect()
    time.sleep(0.5)


def bench_per_batch(ds, probe, repeats):
    """One epoch, a snapshot after every batch: ours vs checkpoint + reload + inference."""
    x_train, y_train = ds.x_train, ds.y_train
    steps = int(np.ceil(len(x_train) / 32))
    rows = {"plain epoch": [], "epoch with a no-op batch callback": [], "ActivationRecorder every batch": [],
            "checkpoint every batch": [], "reload + probe inference": []}
    time_fit((x_train, y_train), 1, list)
    for _ in range(repeats):
        tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
        rows["plain epoch"].append(time_fit((x_train, y_train), 1, list)[0])
        rows["epoch with a no-op batch callback"].append(time_fit((x_train, y_train), 1, lambda: [NoOpEveryBatch()])[0])
        t, _ = time_fit((x_train, y_train), 1,
                        lambda tmp=tmp: [ActivationRecorder(tmp / "ours", probe, every_n_batches=1)])
        rows["ActivationRecorder every batch"].append(t)
        assert actconf.open_run(tmp / "ours").n_snapshots == steps + 1
        (tmp / "ckpt").mkdir()
        t, cbs = time_fit((x_train, y_train), 1, lambda tmp=tmp: [CheckpointEveryBatch(tmp / "ckpt")])
        rows["checkpoint every batch"].append(t)
        os.sync()
        t0 = time.perf_counter()
        for path in cbs[0].paths:
            model = keras.models.load_model(path)
            tap = keras.Model(model.inputs, [model.get_layer("hidden_1").output, model.outputs[0]])
            tap.predict(probe.x, verbose=0, batch_size=1024)
        rows["reload + probe inference"].append(time.perf_counter() - t0)
        shutil.rmtree(tmp)
        _settle()
    med = {k: statistics.median(v) for k, v in rows.items()}
    ours_total = med["ActivationRecorder every batch"]
    ref_total = med["checkpoint every batch"] + med["reload + probe inference"]
    # capture cost = what a snapshot adds to an epoch that already has a batch hook
    # (every per-batch method needs one, and Keras then waits for each batch's logs)
    hooked = med["epoch with a no-op batch callback"]
    ours_capture = ours_total - hooked
    ref_capture = ref_total - hooked
    return {
        "steps": steps,
        "median_s": med,
        "ours_total_s": ours_total,
        "reference_total_s": ref_total,
        "speedup_total": ref_total / ours_total,
        "ours_capture_s": ours_capture,
        "reference_capture_s": ref_capture,
        "speedup_capture": ref_capture / max(ours_capture, 1e-9),
        "ours_ms_per_snapshot": 1000 * ours_capture / steps,
        "reference_ms_per_snapshot": 1000 * ref_capture / steps,
    }


class TimedRecorder(ActivationRecorder):
    """ActivationRecorder that adds up the time spent in its hooks and its snapshot's parts."""

    PARTS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end", "_forward_batch", "_record")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spent = dict.fromkeys(self.PARTS, 0.0)
        for name in self.PARTS:
            setattr(self, name, self._timed(name, getattr(self, name)))

    def _timed(self, name, method):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - t0
        return call


def bench_hook_share(ds, probe, epochs, repeats, compiled="auto"):
    """Time inside the recorder's hooks as a share of the same fit (robust to the machine's load:
    both are measured in the same fit), and how a snapshot splits into forward pass and writing."""
    tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
    rows = []
    for r in range(repeats):
        holder = []

        def factory(r=r, holder=holder):
            holder.append(TimedRecorder(tmp / f"timed{r}", probe, compiled=compiled))
            return holder

        total, _ = time_fit((ds.x_train, ds.y_train), epochs, factory)
        spent = holder[0].spent
        hooks = sum(spent[k] for k in ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end"))
        n = epochs + 1
        rows.append({"fit_s": total, "hooks_s": hooks, "share": hooks / total,
                     "start_ms": 1000 * spent["on_train_begin"],
                     "forward_ms_per_snapshot": 1000 * spent["_forward_batch"] / n,
                     "write_ms_per_snapshot": 1000 * (spent["_record"] - spent["_forward_batch"]) / n})
    shutil.rmtree(tmp)
    return {k: statistics.median(row[k] for row in rows) for k in rows[0]} | {"all": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="also measure 3 (time inside the recorder's hooks) for all three probe-call modes")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-batch", action="store_true", help="only the per-epoch measures (1 and 3)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    ds = actconf.load_dataset("digits")
    probe = actconf.make_probe(ds, n_per_class=50, seed=0)
    print(f"digits: {len(ds.x_train)} training samples, probe {len(probe)}; backend {keras.backend.backend()}")

    epoch = bench_per_epoch(ds, probe, args.epochs, args.repeats)
    print(f"\n1. Per-epoch recording, {args.epochs} epochs, median of {args.repeats}:")
    print("| variant | fit time (s) | ratio to no callback |\n| --- | --- | --- |")
    for k, v in epoch.items():
        print(f"| {k} | {v['median_s']:.2f} | {v['ratio']:.3f} |")

    shares = {mode: bench_hook_share(ds, probe, args.epochs, args.repeats, compiled=mode)
              for mode in (("auto", False, True) if args.full else ())}
    if shares:
        print(f"\n3. Time inside the recorder's hooks, {args.epochs} epochs, median of {args.repeats}:")
    for mode, v in shares.items():
        print(f"   compiled={mode!r}: {1000 * v['hooks_s']:.0f} ms of a {v['fit_s']:.2f} s fit = {v['share']:.2%} "
              f"(start {v['start_ms']:.0f} ms; per snapshot: forward {v['forward_ms_per_snapshot']:.2f} ms, "
              f"writing {v['write_ms_per_snapshot']:.2f} ms)")
    if args.skip_batch:
        OUT.mkdir(exist_ok=True)
        hook_share = {str(k): v for k, v in shares.items()}
        (OUT / "recording.json").write_text(json.dumps({"per_epoch": epoch, "hook_share": hook_share}, indent=1))
        return
    batch = bench_per_batch(ds, probe, args.repeats)
    print(f"\n2. Per-batch capture, one epoch = {batch['steps']} snapshots, median of {args.repeats}:")
    print("| variant | seconds |\n| --- | --- |")
    for k, v in batch["median_s"].items():
        print(f"| {k} | {v:.2f} |")
    print(f"| ours, total | {batch['ours_total_s']:.2f} |")
    print(f"| reference, total (checkpointing epoch + reloads) | {batch['reference_total_s']:.2f} |")
    print(f"\nspeed-up, total time: {batch['speedup_total']:.1f}x; "
          f"capture cost only (minus an epoch with a no-op batch hook): {batch['speedup_capture']:.1f}x "
          f"({batch['ours_ms_per_snapshot']:.1f} ms vs {batch['reference_ms_per_snapshot']:.1f} ms per snapshot)")
    OUT.mkdir(exist_ok=True)
    hook_share = {str(k): v for k, v in shares.items()}
    (OUT / "recording.json").write_text(json.dumps({"per_epoch": epoch, "per_batch": batch, "hook_share": hook_share},
                                                   indent=1))


if __name__ == "__main__":
    main()
