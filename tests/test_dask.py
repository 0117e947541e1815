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
                                       dashboard_address=None)
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
