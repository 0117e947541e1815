"""Analyses out of core on dask, runs in object storage, and a dask.distributed cluster.

Every analysis that reads activations is a dask graph over blocks of the run. The
tests compare, on small runs:

- a run stored in many small chunks, analysed in blocks of a few samples, with the
  same run stored whole (one chunk per snapshot: one block, the in-memory case), and
  both with independent references computed from the eagerly read arrays (numpy
  loops, SciPy's Spearman correlation);
- a run read through fsspec URLs (``memory://``, ``file://``) with the local run;
- results computed on a ``LocalCluster`` of 2 workers with the threaded scheduler.
"""

from __future__ import annotations

import pickle
import uuid

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from actconf import analysis, naps, open_run, testing
from actconf._dask import activation_blocks, block_chunks, chunk_bytes
from actconf.errors import CorruptRunError, InvalidParameterError, NotARunError
from actconf.layout import layout_profiles
from actconf.store import RunWriter, run_layout, snapshot_label, softmax, upload_run

GROUPINGS = ["class", "prediction", "correct", "confidence", "class+confidence", "class+prediction"]
SMALL_BLOCKS = {"actconf.chunk-size": "4KiB"}  # 16 samples x 32 neurons x 8 bytes per block


def _write_chunked(path, arrays, *, chunk_samples):
    """The run of ``arrays`` (testing.synthetic_arrays) stored with at most ``chunk_samples`` per chunk.

    Written snapshot by snapshot in sample slices (begin / write / commit), as the
    recorder streams probe batches.
    """
    acts = {k: np.asarray(v, dtype=np.float32) for k, v in arrays["activations"].items()}
    logits = np.asarray(arrays["logits"], dtype=np.float32)
    labels = np.asarray(arrays["labels"])
    layout = run_layout(labels=labels, class_names=[str(i) for i in range(logits.shape[-1])],
                        layers=[{"name": k, "kind": "dense", "n_neurons": a.shape[2], "output_shape": [None, a.shape[2]]}
                                for k, a in acts.items()],
                        logits=True, dataset={"name": "synthetic"}, model={"name": "synthetic"}, recorder={})
    names = {e["name"]: e["array"] for e in layout.manifest["layers"]}
    probs = softmax(np.asarray(arrays["logits"])).astype(np.float32)  # as write_synthetic_run
    with RunWriter(path, manifest=layout.manifest, arrays=layout.arrays, static=layout.static,
                   chunk_samples=chunk_samples, chunk_mb=0.01) as writer:
        for i in range(logits.shape[0]):
            writer.begin()
            for start in range(0, labels.size, chunk_samples):
                stop = start + chunk_samples
                writer.write("outputs/logits", logits[i, start:stop], start=start)
                writer.write("outputs/probabilities", probs[i, start:stop], start=start)
                for layer, a in acts.items():
                    writer.write(names[layer], a[i, start:stop], start=start)
            row = {"kind": arrays["kinds"][i], "epoch": arrays["epochs"][i], "batch": arrays["batches"][i],
                   "step": i, "progress": float(arrays["epochs"][i]), "time": float(i), "wall_time": float(i),
                   "nonfinite": False, "logs": dict(arrays["logs"][i])}
            row["label"] = snapshot_label(row)
            writer.commit(row)
    return open_run(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``(whole, chunked)``: the same synthetic run stored in one chunk per snapshot and in chunks of
    16 samples and about half the neurons."""
    arrays = testing.synthetic_arrays(n_samples=120, sizes=(40, 16), seed=4)
    root = tmp_path_factory.mktemp("dask")
    whole = testing.write_synthetic_run(root / "whole", **arrays)
    chunked = _write_chunked(root / "chunked", arrays, chunk_samples=16)
    return whole, chunked


def _same(a, b, exact=False):
    if isinstance(a, pd.DataFrame):
        a = a.drop(columns=[c for c in ("run_name",) if c in a])
        b = b.drop(columns=[c for c in ("run_name",) if c in b])
        if exact:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        else:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12)
    elif exact:
        xr.testing.assert_identical(a, b)
    else:
        xr.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- blocks
def test_the_chunked_run_is_read_in_many_small_blocks(runs):
    whole, chunked = runs
    storage = chunked.chunking("activations/dense")[1]
    assert storage[:2] == (1, 16) and storage[2] < 40  # split along samples and neurons
    with dask.config.set(SMALL_BLOCKS):
        assert chunk_bytes() == 4096
        blocks = activation_blocks(chunked, "dense", np.arange(chunked.n_snapshots))
        by_sample = activation_blocks(chunked, "dense", np.arange(chunked.n_snapshots), whole="sample")
    assert blocks.chunks[0] == (1,) * chunked.n_snapshots
    assert set(blocks.chunks[1][:-1]) == {16} and blocks.chunks[2] == (40,)  # all neurons, 16 samples
    assert by_sample.chunks[1] == (120,)  # all samples of a neuron together
    # the whole run is one block per few snapshots
    assert activation_blocks(whole, "dense", np.arange(whole.n_snapshots)).numblocks == (1, 1, 1)
    np.testing.assert_array_equal(blocks.compute(), whole.read("activations/dense"))


@pytest.mark.parametrize("storage, whole", [((1, 1000, 64), "neuron"), ((1, 64, 128), "sample")])
def test_block_chunks_stay_within_the_target_in_whole_storage_chunks(storage, whole):
    shape = (50, 20000, 2048)
    target = 32 << 20
    blocks = block_chunks(shape, storage, whole=whole, target=target)
    axis = 2 if whole == "neuron" else 1
    assert blocks[axis] == shape[axis]
    assert blocks[0] == 1 and int(np.prod(blocks)) * 8 <= target
    other = 3 - axis
    assert blocks[other] % storage[other] == 0


def test_a_lazy_array_pickles_without_its_data(runs):
    whole, _ = runs
    data = whole.activations("dense").data
    blob = pickle.dumps(data)
    assert len(blob) < whole.read("activations/dense").nbytes / 4
    np.testing.assert_array_equal(pickle.loads(blob).compute(), whole.read("activations/dense"))


# --------------------------------------------------------------------------- equal results
def _reference_naps(run, layer, grouping, contrastive, min_size=5):
    """Group means by a loop over snapshots and groups, from the eagerly read activations."""
    acts = run.read(run.layer_info(layer)["array"]).astype(np.float64)
    codes = grouping.codes
    out = np.full((acts.shape[0], grouping.n_groups, acts.shape[2]), np.nan)
    for s in range(acts.shape[0]):
        for g in range(grouping.n_groups):
            members = codes[s] == g
            if members.sum() >= min_size:
                out[s, g] = acts[s, members].mean(axis=0)
        ok = np.isfinite(out[s]).all(axis=1)
        if contrastive and ok.any():
            out[s] -= out[s, ok].mean(axis=0)
    return out


@pytest.mark.parametrize("by", GROUPINGS)
def test_naps_in_small_blocks_equal_the_in_memory_reference(runs, by):
    whole, chunked = runs
    bins = "quantile:3" if "confidence" in by else 10
    grouping = naps.group_samples(whole, by=by, bins=bins)
    for contrastive in (True, False):
        ref = _reference_naps(whole, "dense", grouping, contrastive)
        at_once = naps.naps(whole, "dense", by=by, bins=bins, contrastive=contrastive)
        with dask.config.set(SMALL_BLOCKS):
            blocked = naps.naps(chunked, "dense", by=by, bins=bins, contrastive=contrastive)
        np.testing.assert_allclose(at_once.values, ref, rtol=1e-12, atol=1e-12)
        _same(blocked, at_once)


@pytest.mark.slow
def test_statistics_in_small_blocks_equal_those_of_the_whole_run(runs):
    whole, chunked = runs
    calls = {
        "bin_statistics": lambda r: analysis.bin_statistics(r),
        "bin_statistics_contrastive": lambda r: analysis.bin_statistics(r, contrastive=True, snapshots="epochs"),
        "activity_confidence": lambda r: analysis.activity_confidence(r, n_boot=50),
        "activity_confidence_l2": lambda r: analysis.activity_confidence(r, activity="l2", n_boot=0),
        "neuron_correlation": lambda r: analysis.neuron_correlation(r, "dense"),
        "sample_activity": lambda r: analysis.sample_activity(r, "dense_1", activity="active_fraction",
                                                               threshold=0.4),
        "trajectories": lambda r: analysis.statement_trajectories(r),
        "trajectories_fixed": lambda r: analysis.statement_trajectories(r, groups="fixed", activity="l2"),
        "claims": lambda r: analysis.claim_summary(r, n_boot=60),
        "profiles": lambda r: layout_profiles(r, "dense", by="class+confidence"),
    }
    for name, call in calls.items():
        expected = call(whole)
        with dask.config.set(SMALL_BLOCKS):
            got = call(chunked)
        try:
            _same(got, expected)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_sample_activity_and_neuron_correlation_equal_numpy_and_scipy(runs):
    from scipy.stats import spearmanr

    whole, chunked = runs
    acts = whole.read("activations/dense").astype(np.float64)
    with dask.config.set(SMALL_BLOCKS):
        act = analysis.sample_activity(chunked, "dense")
        rho = analysis.neuron_correlation(chunked, "dense")
    np.testing.assert_allclose(act.values, acts.mean(axis=-1), rtol=1e-12)
    conf = whole.read("outputs/probabilities").max(axis=-1)
    for s in (0, whole.n_snapshots - 1):
        ref = [spearmanr(conf[s], acts[s, :, k])[0] for k in range(acts.shape[2])]
        np.testing.assert_allclose(rho.values[s], ref, rtol=1e-10, atol=1e-12)


def test_claim_trajectories_equal_the_array_version(runs):
    """The dask graph of statement_trajectories gives what the pure-numpy trajectories give."""
    from actconf.analysis import _statements as st

    whole, chunked = runs
    acts = whole.read("activations/dense")
    conf = whole.read("outputs/probabilities").max(axis=-1).astype(np.float64)
    spread = st.logit_spread(whole.read("outputs/logits"), whole.read("outputs/probabilities"))
    ref = st.trajectories(acts.astype(np.float64), conf, spread, whole.labels, k=5)
    with dask.config.set(SMALL_BLOCKS):
        table = analysis.statement_trajectories(chunked, layers="dense")
    for key, values in ref.items():
        got = table[table["statement"] == key]["value"].to_numpy()
        np.testing.assert_allclose(got, values, rtol=1e-12, atol=1e-12, err_msg=key)


# --------------------------------------------------------------------------- bounded reads
def _read_sizes(monkeypatch):
    """Record the number of values of every read of an activations array (eager or by dask)."""
    from actconf.store import _reader

    sizes = []
    original = _reader._SnapshotArray.__getitem__

    def recording(self, key):
        out = original(self, key)
        if self._name.startswith("activations/"):
            sizes.append(int(np.asarray(out).size))
        return out

    monkeypatch.setattr(_reader._SnapshotArray, "__getitem__", recording)
    return sizes


@pytest.mark.slow
def test_every_analysis_of_activations_reads_only_blocks(runs, monkeypatch):
    """NAPs of every grouping, statistics, claims, correlations, layout profiles, the explorers' data and
    compare_layouts' subsamples never read more than one block of a snapshot at once."""
    from actconf.layout._compare import _profile_source, subsampled_profiles

    _, chunked = runs
    shape, storage, _ = chunked.chunking("activations/dense")
    with dask.config.set(SMALL_BLOCKS):
        bound = max(int(np.prod(block_chunks(shape, storage, whole=w))) for w in ("neuron", "sample"))
    snapshot = shape[1] * shape[2]
    assert bound < snapshot  # a block is part of a snapshot (all samples of 21 of the 40 neurons at most)
    calls = {f"naps {by}": (lambda r, by=by: naps.naps(r, "dense", by=by, bins="quantile:3")) for by in GROUPINGS}
    calls.update({
        "bin_statistics": lambda r: analysis.bin_statistics(r, layers="dense"),
        "trajectories": lambda r: analysis.statement_trajectories(r, layers="dense"),
        "claims": lambda r: analysis.claim_summary(r, layers="dense", n_boot=50),
        "sample_activity": lambda r: analysis.sample_activity(r, "dense"),
        "activity_confidence": lambda r: analysis.activity_confidence(r, layers="dense", n_boot=20),
        "neuron_correlation": lambda r: analysis.neuron_correlation(r, "dense"),
        "layout_profiles": lambda r: layout_profiles(r, "dense", by="class+confidence"),
        "explorer_data": lambda r: analysis.explorer_data(r, "dense", by="class+confidence", n_boot=20),
        "compare_layouts subsample": lambda r: subsampled_profiles(
            *_profile_source(r, "inputs", "dense", "class", "final", True, "t")[1], 0.5,
            np.random.default_rng(0), True, 2),
    })
    sizes = _read_sizes(monkeypatch)
    for name, call in calls.items():
        sizes.clear()
        with dask.config.set(SMALL_BLOCKS):
            call(chunked)
        assert sizes, name
        assert max(sizes) <= bound, f"{name}: read {max(sizes)} values at once, a block is {bound}"


def test_bootstrap_of_two_snapshots_in_blocks_equals_in_memory(runs):
    """The claims' paired bootstrap on dask blocks of samples equals the in-memory product version."""
    from actconf._dask import as_blocks
    from actconf.analysis import _statements as st

    whole, _ = runs
    acts = whole.read("activations/dense").astype(np.float64)
    conf = whole.read("outputs/probabilities").max(axis=-1).astype(np.float64)
    spread = st.logit_spread(whole.read("outputs/logits"), whole.read("outputs/probabilities"))
    weights = np.random.default_rng(3).multinomial(acts.shape[1], np.full(acts.shape[1], 1 / acts.shape[1]),
                                                   size=40).astype(np.int32)

    def inputs(i, lazy):
        a = acts[i]
        with dask.config.set(SMALL_BLOCKS):
            a = as_blocks(a) if lazy else a
        return st.SnapshotInputs(a, conf[i], spread[i], st.quantile_groups(conf[i], 3), acts[i].mean(-1))

    for groups in ("moving", "fixed"):
        ref = st.bootstrap_pair(inputs(0, False), inputs(-1, False), whole.labels, k=3, groups=groups,
                                weights=weights)
        with dask.config.set(SMALL_BLOCKS):
            got = st.bootstrap_pair(inputs(0, True), inputs(-1, True), whole.labels, k=3, groups=groups,
                                    weights=weights)
        assert inputs(0, True).acts.numblocks[0] > 3
        for key in ref:
            assert np.isfinite(ref[key]).mean() > 0.5, key
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_subsampled_profiles_in_blocks_equal_a_loop_over_groups(runs):
    from actconf._dask import as_blocks
    from actconf.layout._compare import subsampled_profiles

    whole, _ = runs
    acts = whole.read("activations/dense")[-1].astype(np.float64)
    codes = whole.labels
    n_groups = int(codes.max()) + 1
    rng = np.random.default_rng(5)
    ref = []
    for g in range(n_groups):  # the reference draws as the function does: one choice per group
        members = np.flatnonzero(codes == g)
        ref.append(acts[rng.choice(members, size=round(0.6 * members.size), replace=False)].mean(axis=0))
    ref = np.array(ref)
    ref -= ref.mean(axis=0)
    with dask.config.set(SMALL_BLOCKS):
        got = subsampled_profiles(as_blocks(acts), codes, n_groups, 0.6, np.random.default_rng(5), True, 2)
    np.testing.assert_allclose(got, ref.T, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_the_explorer_data_in_blocks_equals_the_analyses_of_the_whole_run(runs):
    whole, chunked = runs
    with dask.config.set(SMALL_BLOCKS):
        got = analysis.explorer_data(chunked, "dense_1", by="class+confidence", bins="quantile:3", n_boot=40)
    acts = whole.read("activations/dense_1").astype(np.float64)
    np.testing.assert_allclose(got["activity"].values, acts.mean(axis=-1), rtol=1e-12)
    _same(got["activity"], analysis.sample_activity(whole, "dense_1"))
    _same(got["naps"], naps.naps(whole, "dense_1", by="class+confidence", bins="quantile:3"))
    _same(got["neuron_correlation"], analysis.neuron_correlation(whole, "dense_1"))
    _same(got["activity_confidence"], analysis.activity_confidence(whole, layers="dense_1", n_boot=40))
    conf = got["confidence"]
    np.testing.assert_allclose(conf.values, whole.read("outputs/probabilities").max(axis=-1), rtol=1e-6)
    assert "prediction" in conf.coords


_CAPPED_CHILD = r"""
import json, resource, sys
import dask, numpy as np
from actconf import naps, open_run
run = open_run(sys.argv[1])
with dask.config.set({"actconf.chunk-size": "2MiB", "scheduler": "threads", "num_workers": 2}):
    naps.naps(run, by="class+confidence", bins="quantile:3", snapshots=[0])  # imports and threads first
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * resource.getpagesize()
    cap = vm + (384 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    nap = naps.naps(run, by="class+confidence", bins="quantile:3")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
np.save(sys.argv[2], nap.values)
print(json.dumps({"added": peak - base}))
"""


@pytest.mark.slow
def test_naps_of_a_run_larger_than_the_memory_cap_in_a_subprocess(tmp_path):
    """A float16 run whose float64 copy (256 MB) is bigger than the child's cap: the NAPs are right and the
    child's resident memory grows by far less than one float64 copy of the activations."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    s, n, m = 8, 4000, 1024
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10
    acts = (rng.random((s, n, m), dtype=np.float32) + labels[None, :, None] / 10).astype(np.float16)
    logits = rng.standard_normal((s, n, 10)).astype(np.float32)
    layout = run_layout(labels=labels, class_names=[str(c) for c in range(10)],
                        layers=[{"name": "big", "kind": "dense", "n_neurons": m, "output_shape": [None, m]}],
                        logits=True, dtype="float16", dataset={"name": "t"}, model={"name": "t"}, recorder={})
    with RunWriter(tmp_path / "run", manifest=layout.manifest, arrays=layout.arrays, static=layout.static,
                   chunk_samples=500) as writer:
        for i in range(s):
            writer.begin()
            writer.write("outputs/logits", logits[i], start=0)
            writer.write("outputs/probabilities", softmax(logits[i]).astype(np.float32), start=0)
            writer.write(layout.manifest["layers"][0]["array"], acts[i], start=0)
            row = {"kind": "epoch", "epoch": i, "batch": 0, "step": i, "progress": float(i), "time": float(i),
                   "wall_time": float(i), "nonfinite": False, "logs": {}}
            row["label"] = snapshot_label(row)
            writer.commit(row)
    src = Path(naps.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src), "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CAPPED_CHILD, str(tmp_path / "run"), str(tmp_path / "nap.npy")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    added = json.loads(out.stdout.strip().splitlines()[-1])["added"]
    assert added < acts.nbytes  # the whole float16 run (64 MB) never sat in memory at once, nor its float64 copy
    run = open_run(tmp_path / "run")
    ref = _reference_naps(run, "big", naps.group_samples(run, by="class+confidence", bins="quantile:3"), True)
    np.testing.assert_allclose(np.load(tmp_path / "nap.npy"), ref, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- object storage
@pytest.fixture
def memory_url(runs):
    import fsspec

    url = f"memory://actconf-tests/{uuid.uuid4().hex}/run"
    upload_run(runs[0].path, url)
    yield url
    fsspec.filesystem("memory").rm(url.replace("memory://", "/").rsplit("/", 1)[0], recursive=True)


def test_a_run_in_object_storage_reads_as_the_local_run(runs, memory_url):
    whole, _ = runs
    remote = open_run(memory_url)
    assert remote.n_snapshots == whole.n_snapshots and remote.layer_sizes == whole.layer_sizes
    np.testing.assert_array_equal(remote.activations("dense").values, whole.read("activations/dense"))
    _same(naps.naps(remote, by="class+confidence", bins="quantile:3"),
          naps.naps(whole, by="class+confidence", bins="quantile:3"), exact=True)
    _same(analysis.claim_summary(remote, n_boot=60), analysis.claim_summary(whole, n_boot=60), exact=True)
    pd.testing.assert_frame_equal(remote.snapshots, whole.snapshots)


def test_a_missing_chunk_in_object_storage_is_an_error_not_nan(runs, memory_url):
    import fsspec

    fs = fsspec.filesystem("memory")
    chunk = memory_url.replace("memory://", "/") + "/arrays.zarr/activations/dense/c/2/0/0"
    assert fs.isfile(chunk)
    fs.rm(chunk)
    remote = open_run(memory_url)
    with pytest.raises(CorruptRunError, match="missing a chunk of snapshot 2"):
        remote.activations("dense").values
    np.testing.assert_array_equal(remote.read("activations/dense", [0, 1]), runs[0].read("activations/dense", [0, 1]))


def test_urls_that_are_not_runs_and_local_urls(runs, tmp_path):
    whole, _ = runs
    with pytest.raises(NotARunError, match="has no manifest.json"):
        open_run(f"memory://actconf-tests/{uuid.uuid4().hex}/nothing")
    local = open_run(whole.path.resolve().as_uri())  # file:///...
    assert local.path == whole.path.resolve()
    np.testing.assert_array_equal(local.read("activations/dense_1"), whole.read("activations/dense_1"))
    with pytest.raises(InvalidParameterError, match="storage_options"):
        open_run(whole.path, storage_options={"anon": True})


def test_a_run_in_object_storage_is_read_only(memory_url):
    with pytest.raises(InvalidParameterError, match="object storage"):
        open_run(memory_url).repair()


# --------------------------------------------------------------------------- a cluster
@pytest.fixture(scope="module")
def cluster(request):
    """A LocalCluster with 2 single-threaded workers (in this process) and a Client as the default scheduler."""
    import distributed
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address="127.0.0.1:0")  # loopback only
    client = distributed.Client(cluster, set_as_default=True)

    def close():
        client.close()
        cluster.close()

    request.addfinalizer(close)
    return client


@pytest.mark.slow
def test_the_same_analyses_run_on_a_local_cluster_of_two_workers(runs, cluster, memory_url):
    whole, chunked = runs
    expected = {
        "naps": naps.naps(whole, by="class+confidence", bins="quantile:3"),
        "bins": analysis.bin_statistics(whole),
        "claims": analysis.claim_summary(whole, n_boot=60),
        "correlation": analysis.neuron_correlation(whole, "dense"),
    }
    with dask.config.set(SMALL_BLOCKS):
        on_cluster = {
            "naps": naps.naps(chunked, by="class+confidence", bins="quantile:3"),
            "bins": analysis.bin_statistics(chunked),
            "claims": analysis.claim_summary(chunked, n_boot=60),
            "correlation": analysis.neuron_correlation(chunked, "dense"),
        }
    for key in expected:
        _same(on_cluster[key], expected[key])
    # the work was done by both workers of the cluster
    log = cluster.run(lambda dask_worker: len(dask_worker.state.log))
    assert len(log) == 2 and all(n > 0 for n in log.values())
    _same(naps.naps(open_run(memory_url), by="class+confidence", bins="quantile:3"), expected["naps"],
          exact=True)


# --------------------------------------------------------------------------- maps of 2,048 neurons
def _brute_neighbour_means(pos, values, k):
    """Mean over each neuron and its k nearest neighbours (full distance matrix), NaNs left out."""
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    near = np.argsort(dist, axis=1)[:, : k + 1]
    return np.nanmean(values[..., near], axis=-1)


def test_maps_of_many_neurons_draw_neighbour_means_and_few_neurons_their_values():

    from actconf.plots import MapStyle, plot_map, plot_map_grid
    from actconf.render import TopoRenderer

    rng = np.random.default_rng(2)
    for n, k in ((600, 8), (300, 0)):  # above and below 512 neurons
        pos = rng.random((n, 2))
        values = rng.standard_normal(n)
        values[7] = np.nan  # a NaN neuron blanks its own pixels, not its neighbourhood's mean
        expected = _brute_neighbour_means(pos, values, k) if k else values
        fig = plot_map(values, pos, style=MapStyle(contours=0, markers=False))
        image = fig.axes[0].images[-1].get_array()
        base = TopoRenderer(pos, resolution=image.shape[0])  # a finer grid for many neurons: 108 pixels
        assert image.shape[0] == (108 if k else 100)
        ref = base.render(expected)
        np.testing.assert_allclose(np.ma.filled(image, np.nan), ref, rtol=1e-12, atol=1e-12)
        assert np.isfinite(expected).sum() == n - (0 if k else 1)
        lo, hi = fig.axes[0].images[-1].get_clim()
        assert np.isclose(hi, np.nanmax(np.abs(expected)))  # colour limits from what is drawn
        plain = plot_map(values, pos, style=MapStyle(contours=0, markers=False, smooth=0))
        np.testing.assert_allclose(np.ma.filled(plain.axes[0].images[-1].get_array(), np.nan),
                                   base.render(values), rtol=1e-12, atol=1e-12)
    nap = testing.synthetic_naps(n_neurons=600, n_classes=3, by="class", n_snapshots=1)
    pos = rng.random((600, 2))
    fig = plot_map_grid(nap, pos, style=MapStyle(smooth=3))
    got = np.ma.filled(fig.axes[0].images[-1].get_array(), np.nan)
    np.testing.assert_allclose(got, TopoRenderer(pos, resolution=got.shape[0]).render(
        _brute_neighbour_means(pos, nap.values[0, 0], 3)), rtol=1e-12, atol=1e-12)


def test_map_smoothing_is_checked():
    from actconf.plots import MapStyle

    with pytest.raises(InvalidParameterError, match="smooth"):
        MapStyle(smooth=-1)
