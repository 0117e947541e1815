"""Cost of recording activations during training (results: benchmarks/README.md, "Recording").

1. Per-epoch recording: the paper's MLP on digits, 20 epochs, a 500-sample probe.
   Fit time with ActivationRecorder / without any callback; with ``--full`` also a
   callback that calls ``model.predict`` on a probe sub-model (what users usually write first).
2. Per-batch capture through one epoch: ActivationRecorder(every_n_batches=1) vs the
   reference method of the TAM study: save a checkpoint after every batch, then reload
   each one and run the probe inference (median of 2; ``--full``: of ``--repeats``).
3. Where the time goes: the time spent inside the recorder's hooks as a share of the
   same fit (start, forward pass and writing per snapshot), measured in the fits of 1
   (``compiled="auto"``; ``--full``: also fits with the other two probe-call modes).
4. The Fashion-MNIST MLP and the paper's CNN (on Fashion-MNIST, ``--other-train``
   samples, 3,000 by default since round 6, 6,000 before): per-epoch recording as in
   1, and the hooks' share as in 3 (goal < 1 %; a smaller epoch makes it harder).

Every variant is measured in the same process, interleaved, median of ``--repeats``;
each timed ``fit`` runs on a fresh model whose training step was traced by an untimed
warm-up fit, so the numbers are steady-state training plus what the callbacks add.

    python benchmarks/bench_recording.py [--repeats 3] [--epochs 20] [--other-train 3000] [--full]
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


def summary_rows(epoch, shares, others, batch=None):
    """The rows of ``make bench``'s table (goals of issue 15, target 4), load average beside them."""
    import summary

    load = f"load {os.getloadavg()[0]:.1f}"
    plain, rec = epoch["no callback"]["median_s"], epoch["ActivationRecorder"]
    rows = [summary.row("per-epoch recording, fit time (digits MLP, 20 epochs)", rec["median_s"], baseline=plain,
                        baseline_label="fit without callbacks", goal="ratio <= 1.02", met=rec["ratio"] <= 1.02,
                        note=load),
            summary.row("  time in the recorder's hooks / its fit (digits MLP)", 100 * shares["auto"]["share"],
                        unit="%", goal="<= 2 %", met=shares["auto"]["share"] <= 0.02, note=load)]
    for name, v in others.items():
        rows.append(summary.row(f"per-epoch recording, fit time ({name}, {v['n_train']} samples)",
                                v["median_s"]["ActivationRecorder"], baseline=v["median_s"]["no callback"],
                                baseline_label="fit without callbacks", goal="ratio < 1.01", met=v["ratio"] < 1.01,
                                note=f"{load}; hooks {v['hook_share']:.2%} of this fit; a snapshot = "
                                     f"{v['full_epoch_share']:.2%} of a {FASHION_TRAIN}-sample epoch (derived)"))
    if batch:
        rows.append(summary.row("per-batch capture, per snapshot", batch["ours_ms_per_snapshot"], unit="ms",
                                baseline=batch["reference_ms_per_snapshot"], baseline_label="checkpoint + reload",
                                goal=">= 30x faster", met=batch["speedup_capture"] >= 30, note=load))
    summary.write_rows("recording", rows)


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


def time_fit(data, epochs, callbacks_factory, seed=0, build=None, batch_size=32):
    """Time ``fit`` of a fresh model whose training step is already traced.

    A one-epoch warm-up fit (not timed, no callbacks) pays TensorFlow's tracing of
    the training function (0.3-0.5 s, and noisy) for a full batch and for the
    epoch's last, shorter one (each batch shape is traced once), so that the timed fit
    measures steady-state training plus what the callbacks add.
    """
    x_train, y_train = data
    model = (build or paper_mlp)(x_train.shape[1:], 10, seed=seed)
    warm = batch_size + (len(x_train) % batch_size or batch_size)
    model.fit(x_train[:warm], y_train[:warm], epochs=1, batch_size=batch_size, verbose=0)
    callbacks = callbacks_factory()
    gc.collect()  # start every timed fit with the same garbage-collector state
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=0)
    return time.perf_counter() - t0, callbacks


def bench_per_epoch(ds, probe, epochs, repeats, predict=True):
    """Measure 1, and measure 3 for ``compiled="auto"`` in the same fits: the recorder is a
    :class:`TimedRecorder` (a clock read per hook call: microseconds against the milliseconds measured).

    Returns ``(per-variant times, the hook share as bench_hook_share gives it)``.
    """
    tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
    times = {"no callback": [], "ActivationRecorder": []} | ({"predict() callback": []} if predict else {})
    data = (ds.x_train, ds.y_train)
    time_fit(data, 1, list)  # warm-up: tracing, first-call costs
    shares = []
    for r in range(repeats):
        times["no callback"].append(time_fit(data, epochs, list)[0])
        total, (recorder,) = time_fit(
            data, epochs, lambda r=r: [TimedRecorder(tmp / f"rec{r}", probe, record_initial=True)])
        times["ActivationRecorder"].append(total)
        shares.append(hook_share_row(recorder.spent, total, epochs + 1))
        if predict:
            times["predict() callback"].append(time_fit(data, epochs, lambda: [PredictProbe(probe.x)])[0])
    run = actconf.open_run(tmp / "rec0")
    assert run.n_snapshots == epochs + 1
    shutil.rmtree(tmp)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["no callback"]
    return ({k: {"median_s": med[k], "ratio": med[k] / base, "all_s": times[k]} for k in times},
            {k: statistics.median(row[k] for row in shares) for k in shares[0]} | {"all": shares})


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


def bench_hook_share(ds, probe, epochs, repeats, compiled="auto", build=None):
    """Time inside the recorder's hooks as a share of the same fit (robust to the machine's load:
    both are measured in the same fit), and how a snapshot splits into forward pass and writing."""
    tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
    rows = []
    for r in range(repeats):
        holder = []

        def factory(r=r, holder=holder):
            holder.append(TimedRecorder(tmp / f"timed{r}", probe, compiled=compiled))
            return holder

        total, _ = time_fit((ds.x_train, ds.y_train), epochs, factory, build=build)
        rows.append(hook_share_row(holder[0].spent, total, epochs + 1))
    shutil.rmtree(tmp)
    return {k: statistics.median(row[k] for row in rows) for k in rows[0]} | {"all": rows}


def hook_share_row(spent, total, n):
    """One fit's time in the recorder's hooks (``TimedRecorder.spent``), its share of the fit ``total``
    and how ``n`` snapshots split into forward pass and writing."""
    hooks = sum(spent[k] for k in ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end"))
    return {"fit_s": total, "hooks_s": hooks, "share": hooks / total, "start_ms": 1000 * spent["on_train_begin"],
            "forward_ms_per_snapshot": 1000 * spent["_forward_batch"] / n,
            "write_ms_per_snapshot": 1000 * (spent["_record"] - spent["_forward_batch"]) / n}


#: training samples of Fashion-MNIST (the paper trains on all of them)
FASHION_TRAIN = 60_000


def bench_other_models(n_train, epochs, repeats):
    """Measure 4: the Fashion-MNIST MLP and the paper's CNN (on Fashion-MNIST), per-epoch recording.

    Plain fit vs fit with the recorder (interleaved, median of ``repeats``) and the time inside
    the recorder's hooks as a share of its fit; ``n_train`` training samples (a smaller epoch
    makes the goal harder, not easier).
    """
    from actconf.models import build_cnn, build_mlp

    ds = actconf.load_dataset("fashion_mnist", max_train=n_train, seed=0)
    probe = actconf.make_probe(ds, n_per_class=50, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="actconf-bench-"))
    out = {}
    for name, build in (("fashion_mnist MLP", lambda shape, n, seed: build_mlp(shape, n, seed=seed)),
                        ("fashion_mnist CNN", lambda shape, n, seed: build_cnn(shape, n, seed=seed))):
        data = (ds.x_train, ds.y_train)
        times = {"no callback": [], "ActivationRecorder": []}
        shares, snapshot_s = [], []
        # untimed: the process's first recorder pays one-off imports (zarr, numcodecs' entry points)
        time_fit((ds.x_train[:64], ds.y_train[:64]), 1, lambda name=name: [ActivationRecorder(
            tmp / f"warm_{name.replace(' ', '_')}", probe)], build=build)
        for r in range(repeats):
            times["no callback"].append(time_fit(data, epochs, list, build=build)[0])
            holder = []

            def factory(r=r, holder=holder, name=name):
                holder.append(TimedRecorder(tmp / f"{name.replace(' ', '_')}{r}", probe))
                return holder

            total, _ = time_fit(data, epochs, factory, build=build)
            times["ActivationRecorder"].append(total)
            spent = holder[0].spent
            shares.append(sum(spent[k] for k in ("on_train_begin", "on_epoch_begin", "on_epoch_end",
                                                 "on_train_end")) / total)
            snapshot_s.append(spent["_record"] / (epochs + 1))
        med = {k: statistics.median(v) for k, v in times.items()}
        # the same snapshot cost against an epoch of the full training set (the paper's 60,000
        # samples): derived from the measured epoch time per sample, not measured
        full_epoch = med["no callback"] / epochs * FASHION_TRAIN / len(ds.x_train)
        snap = statistics.median(snapshot_s)
        out[name] = {"n_train": len(ds.x_train), "epochs": epochs, "median_s": med,
                     "ratio": med["ActivationRecorder"] / med["no callback"], "hook_share": statistics.median(shares),
                     "snapshot_s": snap, "full_epoch_share": snap / full_epoch,
                     "all_s": times, "shares": shares}
        print(f"   {name} ({len(ds.x_train)} samples, {epochs} epochs): plain {med['no callback']:.2f} s, "
              f"recorder {med['ActivationRecorder']:.2f} s = {out[name]['ratio']:.3f}; "
              f"time in the recorder's hooks {out[name]['hook_share']:.2%} of its fit; one snapshot "
              f"{1000 * snap:.0f} ms = {out[name]['full_epoch_share']:.2%} of an epoch of {FASHION_TRAIN} samples")
    shutil.rmtree(tmp)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="measure 3 for all three probe-call modes (not only 'auto'), the predict() callback of measure 1, "
                             "measure 2 with --repeats")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-batch", action="store_true", help="only the per-epoch measures (1 and 3)")
    parser.add_argument("--other-train", type=int, default=3000,
                        help="training samples of the Fashion-MNIST MLP / CNN measure (0: skip it)")
    parser.add_argument("--other-epochs", type=int, default=2)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    ds = actconf.load_dataset("digits")
    probe = actconf.make_probe(ds, n_per_class=50, seed=0)
    print(f"digits: {len(ds.x_train)} training samples, probe {len(probe)}; backend {keras.backend.backend()}")

    epoch, auto_share = bench_per_epoch(ds, probe, args.epochs, args.repeats, predict=args.full)
    print(f"\n1. Per-epoch recording, {args.epochs} epochs, median of {args.repeats}:")
    print("| variant | fit time (s) | ratio to no callback |\n| --- | --- | --- |")
    for k, v in epoch.items():
        print(f"| {k} | {v['median_s']:.2f} | {v['ratio']:.3f} |")

    shares = {"auto": auto_share} | {mode: bench_hook_share(ds, probe, args.epochs, args.repeats, compiled=mode)
                                     for mode in ((False, True) if args.full else ())}
    if shares:
        print(f"\n3. Time inside the recorder's hooks, {args.epochs} epochs, median of {args.repeats}:")
    for mode, v in shares.items():
        print(f"   compiled={mode!r}: {1000 * v['hooks_s']:.0f} ms of a {v['fit_s']:.2f} s fit = {v['share']:.2%} "
              f"(start {v['start_ms']:.0f} ms; per snapshot: forward {v['forward_ms_per_snapshot']:.2f} ms, "
              f"writing {v['write_ms_per_snapshot']:.2f} ms)")
    others = {}
    if args.other_train:
        print(f"\n4. Other models, per-epoch recording, median of {min(args.repeats, 2)}:")
        others = bench_other_models(args.other_train, args.other_epochs, min(args.repeats, 2))
    if args.skip_batch:
        OUT.mkdir(exist_ok=True)
        hook_share = {str(k): v for k, v in shares.items()}
        (OUT / "recording.json").write_text(json.dumps({"per_epoch": epoch, "hook_share": hook_share,
                                                        "other_models": others}, indent=1))
        summary_rows(epoch, shares, others)
        return
    batch_repeats = args.repeats if args.full else min(args.repeats, 2)
    batch = bench_per_batch(ds, probe, batch_repeats)
    print(f"\n2. Per-batch capture, one epoch = {batch['steps']} snapshots, median of {batch_repeats}:")
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
    (OUT / "recording.json").write_text(json.dumps({"per_epoch": epoch, "per_batch": batch, "hook_share": hook_share,
                                                    "other_models": others}, indent=1))
    summary_rows(epoch, shares, others, batch)


if __name__ == "__main__":
    main()
