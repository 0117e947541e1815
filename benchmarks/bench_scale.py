"""Scale benchmarks: runs bigger than memory, analysed on dask; 2,048-neuron layouts and maps.

1. Write a synthetic run of 2,048 neurons x 20,000 probe samples x 50 snapshots in
   float16 (4 GB of activations) with the streaming ``RunWriter`` (``begin`` / ``write``
   / ``commit``, 1,024 samples at a time: the writer never holds a snapshot).
2. NAPs by class x confidence quantile (``naps(run, by="class+confidence",
   bins="quantile:5")``) for all snapshots, in a subprocess under a hard 2 GB address
   space limit (``resource.setrlimit(RLIMIT_AS)``): time and peak RSS with dask's
   threaded scheduler on 1 and 2 workers, and on a ``dask.distributed`` LocalCluster
   (in the process, so the limit covers it) of 1 and 2 workers; the time for 1/8, 1/4,
   1/2 and all of the snapshots (linear?).
3. Layouts and maps of 2,048 neurons: UMAP (refined, the default) and SOM times, the
   render operator's build time and memory at the default resolutions, one grid of maps
   rendered to PNG.
4. Recording ResNet50's last block (``conv5_block3_out``, 2,048 channels, inputs 64 x 64
   x 3, ``weights=None``) on a 10,000-sample probe set in float16: time per snapshot and
   the peak memory the recording adds.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--quick | --size F] [--epochs E] [--only write,naps,layout,record]``
(on a loaded 2-core VM: write + NAPs about 10 minutes, layouts 2, the ResNet50 recording
about 10 minutes per snapshot at 10,000 samples; ``--quick`` is a 1/16 size smoke run,
``--size 0.25 --epochs 1`` what benchmarks/README.md reports for the recording). Results
go to ``benchmarks/out/scale.json`` and the map grid to ``benchmarks/out/scale_maps.png``.
The run is written into a temporary folder under ``$ACTCONF_BENCH_DIR`` (default: the
folder of this checkout) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = Path(__file__).resolve().parent
LIMIT = 2 << 30  # the hard memory cap of the analysis subprocess


# --------------------------------------------------------------------------- 1. writing
def write_scale_run(path: Path, *, n_neurons: int = 2048, n_samples: int = 20000, n_snapshots: int = 50,
                    n_classes: int = 10, batch: int = 1024, seed: int = 0) -> dict:
    """A synthetic float16 run written one sample slice at a time; returns timing and sizes."""
    from actconf.store import RunWriter, run_layout, snapshot_label, softmax

    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    layout = run_layout(labels=labels, class_names=[str(c) for c in range(n_classes)],
                        layers=[{"name": "block", "kind": "conv", "n_neurons": n_neurons,
                                 "output_shape": [None, 2, 2, n_neurons]}],
                        logits=True, dtype="float16", dataset={"name": "synthetic-scale"},
                        model={"name": "synthetic"}, recorder={})
    array = layout.manifest["layers"][0]["array"]
    protos = rng.random((n_classes, n_neurons), dtype=np.float32)
    t0 = time.perf_counter()
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, static=layout.static,
                   chunk_samples=batch) as writer:
        for s in range(n_snapshots):
            t = s / max(1, n_snapshots - 1)
            writer.begin()
            for start in range(0, n_samples, batch):
                lab = labels[start:start + batch]
                z = rng.standard_normal((lab.size, n_classes)).astype(np.float32)
                z += (5 * t * rng.random((lab.size, 1), dtype=np.float32)) * np.eye(n_classes, dtype=np.float32)[lab]
                conf = softmax(z).max(axis=1).astype(np.float32)
                acts = protos[lab] * (0.3 + 2 * t * conf)[:, None]
                acts += 0.2 * rng.random(acts.shape, dtype=np.float32)
                writer.write("outputs/logits", z, start=start)
                writer.write("outputs/probabilities", softmax(z).astype(np.float32), start=start)
                writer.write(array, acts.astype(np.float16), start=start)
            row = {"kind": "initial" if s == 0 else "epoch", "epoch": s, "batch": 0, "step": s,
                   "progress": float(s), "time": float(s), "wall_time": time.time(), "nonfinite": False, "logs": {}}
            row["label"] = snapshot_label(row)
            writer.commit(row)
    seconds = time.perf_counter() - t0
    on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    raw = n_neurons * n_samples * n_snapshots * 2
    return {"neurons": n_neurons, "samples": n_samples, "snapshots": n_snapshots, "activation_bytes": raw,
            "disk_bytes": on_disk, "write_s": seconds, "write_mb_per_s": raw / seconds / 2**20}


# --------------------------------------------------------------------------- 2. NAPs under a cap
def _child(run_dir: str, workers: int, engine: str, snapshots: int | None, cap: int) -> None:
    """In the subprocess: cap the address space, compute the NAPs, print timing and peak RSS as JSON."""
    import resource

    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import dask

    from actconf import naps, open_run

    run = open_run(run_dir)
    naps.naps(run, by="class+confidence", bins="quantile:5", snapshots=[0])  # imports (dask, xarray) off the clock
    select = None if snapshots is None else slice(0, snapshots)
    client = cluster = None
    if engine == "distributed":
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                               dashboard_address="127.0.0.1:0", memory_limit=0)
        client = Client(cluster)
    config = {"scheduler": "threads", "num_workers": workers} if engine == "threads" else {}
    with dask.config.set(config):
        t0 = time.perf_counter()
        nap = naps.naps(run, by="class+confidence", bins="quantile:5", snapshots=select)
        seconds = time.perf_counter() - t0
    if client is not None:
        client.close()
        cluster.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"engine": engine, "workers": workers, "snapshots": int(nap.sizes["snapshot"]),
                      "groups": int(nap.sizes["group"]), "seconds": seconds, "peak_rss": peak,
                      "checksum": float(np.nansum(np.abs(nap.values)))}))


def naps_capped(run_dir: Path, *, workers: int, engine: str = "threads", snapshots: int | None = None,
                cap: int = LIMIT) -> dict:
    """Run :func:`_child` in a fresh interpreter (one thread per OpenBLAS, few malloc arenas)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, __file__, "--child", str(run_dir), str(workers), engine,
            str(snapshots or 0), str(cap)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"engine": engine, "workers": workers, "error": out.stderr.strip().splitlines()[-3:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_naps(run_dir: Path, n_snapshots: int) -> dict:
    rows = {"threads_1": naps_capped(run_dir, workers=1), "threads_2": naps_capped(run_dir, workers=2),
            "distributed_1": naps_capped(run_dir, workers=1, engine="distributed"),
            "distributed_2": naps_capped(run_dir, workers=2, engine="distributed")}
    scaling = []
    for part in (8, 4, 2, 1):
        k = max(1, round(n_snapshots / part))
        scaling.append(rows["threads_2"] if k == n_snapshots else naps_capped(run_dir, workers=2, snapshots=k))
    return {"runs": rows, "scaling": scaling}


# --------------------------------------------------------------------------- 3. layouts and maps
def bench_layout(n_neurons: int = 2048, out: Path | None = None) -> dict:
    """UMAP and SOM times, render operators and one map grid for ``n_neurons`` planted neurons."""
    import tracemalloc

    from actconf.layout import compute_layout, warm_up
    from actconf.render import TopoRenderer
    from actconf.testing import planted_profiles

    profiles, _ = planted_profiles(n_per_cluster=-(-n_neurons // 10), n_clusters=10, n_features=10, noise=0.5)
    profiles = profiles[:n_neurons]
    t0 = time.perf_counter()
    warm_up()
    result: dict = {"neurons": n_neurons, "umap_warm_up_s": time.perf_counter() - t0}
    layouts = {}
    for method in ("umap", "som"):
        t0 = time.perf_counter()
        layouts[method] = compute_layout(profiles, method=method, seed=0)
        result[f"{method}_s"] = time.perf_counter() - t0
    for resolution in (100, 200):
        tracemalloc.start()
        t0 = time.perf_counter()
        renderer = TopoRenderer(layouts["umap"], resolution=resolution)
        build = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        op = renderer.operator if hasattr(renderer, "operator") else None
        nbytes = (op.data.nbytes + op.indices.nbytes + op.indptr.nbytes) if op is not None else None
        values = np.random.default_rng(0).standard_normal((300, n_neurons))
        t0 = time.perf_counter()
        renderer.render(values)
        result[f"render_{resolution}"] = {"build_s": build, "build_peak_bytes": peak, "operator_bytes": nbytes,
                                          "render_300_maps_s": time.perf_counter() - t0}
    if out is not None:
        result["figure"] = str(_map_grid_png(profiles, layouts["umap"], out))
    return result


def _map_grid_png(profiles: np.ndarray, layout, out: Path) -> Path:
    """The 10 planted class profiles as a grid of maps with the default style (what a user sees)."""
    from actconf.plots import plot_map_grid
    from actconf.testing import synthetic_naps

    nap = synthetic_naps(n_neurons=profiles.shape[0], n_classes=10, by="class", n_snapshots=1)
    nap = nap.copy(data=(profiles - profiles.mean(axis=1, keepdims=True)).T[None])
    fig = plot_map_grid(nap, layout, title=f"{profiles.shape[0]:,} neurons: contrastive profiles of 10 planted clusters")
    fig.savefig(out, dpi=100)
    return out


# --------------------------------------------------------------------------- 4. recording ResNet50
class _PeakRSS:
    """Largest resident set size seen while the block runs (sampled every 20 ms from /proc)."""

    def __enter__(self):
        self.peak, self.base = 0, _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_record(folder: Path, *, n_probe: int = 10000, size: int = 64, batch: int = 256, epochs: int = 2) -> dict:
    """Record ResNet50's last block on ``n_probe`` samples: seconds per snapshot, memory added."""
    import keras

    from actconf.callbacks import ActivationRecorder

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=10)
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x_probe = rng.random((n_probe, size, size, 3), dtype=np.float32)
    y_probe = np.arange(n_probe) % 10
    x_train, y_train = x_probe[:32], y_probe[:32]
    model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)  # compile the training step
    model.predict_on_batch(x_probe[:batch])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    fit_alone = time.perf_counter() - t0
    recorder = ActivationRecorder(folder / "resnet", x_probe, y_probe, layers=["conv5_block3_out"],
                                  probe_batch_size=batch, dtype="float16", store_inputs=False)
    with _PeakRSS() as mem:
        t0 = time.perf_counter()
        model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0, callbacks=[recorder])
        fit_recorded = time.perf_counter() - t0
    from actconf import open_run

    run = open_run(folder / "resnet")
    n = run.n_snapshots
    return {"probe": n_probe, "input": [size, size, 3], "layer": "conv5_block3_out",
            "neurons": run.layer_sizes[run.layers[0]], "snapshots": n,
            "seconds_per_snapshot": (fit_recorded - fit_alone) / n, "rss_before": mem.base,
            "rss_added_peak": mem.peak - mem.base, "probe_bytes": x_probe.nbytes,
            "activations_per_snapshot_bytes": n_probe * run.layer_sizes[run.layers[0]] * 2}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/16 of the size (a smoke run)")
    parser.add_argument("--full", action="store_true",
                        help="the full measurement (size 1, every part: about an hour on 2 cores); by default "
                             "(what `make bench` runs) 1/16 of the size and only write,naps")
    parser.add_argument("--size", type=float, default=None,
                        help="fraction of the 20,000 probe samples of the run and the 10,000 of the ResNet probe "
                             "(default 1 with --full, else 1/16; --quick is 1/16)")
    parser.add_argument("--only", default=None, help="parts (default write,naps; with --full write,naps,layout,record)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of the ResNet50 recording")
    parser.add_argument("--out", default=str(HERE / "out" / "scale.json"))
    args = parser.parse_args(argv)
    if args.only is None:
        args.only = "write,naps,layout,record" if args.full else "write,naps"
    if args.size is None:
        args.size = 1.0 if args.full else 1 / 16
    parts = set(args.only.split(","))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    root = Path(os.environ.get("ACTCONF_BENCH_DIR", HERE.parent))
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=root))
    fraction = 1 / 16 if args.quick else args.size
    sizes = {"n_neurons": 2048, "n_samples": max(100, round(20000 * fraction)), "n_snapshots": 50}
    results: dict = {"sizes": sizes}
    try:
        if parts & {"write", "naps"}:
            results["write"] = write_scale_run(folder / "run", **sizes)
            print(json.dumps(results["write"]), flush=True)
        if "naps" in parts:
            results["naps"] = bench_naps(folder / "run", sizes["n_snapshots"])
            print(json.dumps(results["naps"]), flush=True)
            shutil.rmtree(folder / "run")
        if "layout" in parts:
            results["layout"] = bench_layout(out=Path(args.out).with_name("scale_maps.png"))
            print(json.dumps(results["layout"]), flush=True)
        if "record" in parts:
            results["record"] = bench_record(folder, n_probe=max(100, round(10000 * fraction)), epochs=args.epochs)
            print(json.dumps(results["record"]), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_dir, workers, engine, snapshots, cap = sys.argv[2:7]
        _child(run_dir, int(workers), engine, int(snapshots) or None, int(cap))
    else:
        main()
