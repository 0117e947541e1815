"""A new explorer setting from the arrays kept in memory shows exactly what the store path shows.

The explorer keeps confidence, predictions and activations between settings
(``widgets._data.RunData``), sums groups of in-memory blocks and packs the
missing-pixel bits of finite maps once per layout. Checked here against references
computed independently: group means by brute-force loops, matplotlib's colormap,
``np.isnan`` of the rendered maps, and :func:`actconf.naps.naps` read from the store.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize

from actconf.confidence import confidence
from actconf.naps import group_samples, naps
from actconf.widgets import _data, _scene, explore
from actconf.widgets._explorer import grouping_label

SETTINGS = [("class", "max_softmax"), ("confidence", "margin"), ("correct", "entropy"),
            ("class+confidence", "max_softmax"), ("class+confidence", "margin")]
BINS = {"class": None, "confidence": "quantile:5", "correct": None, "class+confidence": "quantile:3"}


def _brute_force_naps(run, layer, by, measure, min_size=5):
    """Contrastive NAPs with loops: group means, NaN below ``min_size``, minus the mean over the others."""
    grouping = group_samples(run, by=by, measure=measure, bins=BINS[by] or 10)
    codes = np.asarray(grouping.assignment.values)
    acts = run.read("activations/" + layer).astype(np.float64)
    s, g, m = acts.shape[0], grouping.n_groups, acts.shape[-1]
    means = np.full((s, g, m), np.nan)
    for i in range(s):
        for k in range(g):
            members = np.flatnonzero(codes[i] == k)
            if members.size >= min_size:
                means[i, k] = acts[i, members].mean(axis=0)
    n_ok = np.isfinite(means).all(axis=-1).sum(axis=1)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return means - np.nansum(means, axis=1, keepdims=True) / n_ok


def _matplotlib_indices(images, lo, hi, cmap):
    """The colour-table index of every pixel as matplotlib picks it (RGBA matched against the table)."""
    table = colormaps[cmap](np.arange(256), bytes=True).astype(np.uint32)
    rgba = colormaps[cmap](Normalize(lo, hi)(np.nan_to_num(images, nan=lo)), bytes=True).astype(np.uint32)
    key = lambda c: (c[..., 0] << 24) | (c[..., 1] << 16) | (c[..., 2] << 8) | c[..., 3]  # noqa: E731
    lookup = {int(v): i for i, v in enumerate(key(table))}
    return np.vectorize(lookup.__getitem__, otypes=[np.int64])(key(rgba))


def _check_frames(frames, values, renderer, limits, cmap):
    """Indices within one colour of matplotlib's (float32 rounding at colour boundaries), NaN bits exact."""
    images = renderer.render(values, dtype=np.float64)[..., ::-1, :]  # row 0 at the top, as sent
    bits = np.packbits(np.isnan(images).reshape(*images.shape[:-2], -1), axis=-1)
    np.testing.assert_array_equal(frames.nan, bits)
    for row in range(values.shape[1]):
        lo, hi = limits[row]
        got = frames.indices[:, row].astype(np.int64)
        ref = _matplotlib_indices(images[:, row], lo, hi, cmap)
        drawn = ~np.isnan(images[:, row])
        diff = np.abs(got - ref)[drawn]
        assert diff.max(initial=0) <= 1 and (diff > 0).mean() < 1e-3


@pytest.mark.parametrize(("by", "measure"), SETTINGS)
def test_a_new_setting_shows_the_brute_force_naps(synthetic_run, by, measure):
    run, layouts = synthetic_run
    w = explore(run, "dense", layout=layouts, by="class", correlation=False, progress=False)
    w.measure_dropdown.value = measure
    w.grouping.value = grouping_label(by)
    maps = w.maps
    assert maps.nap.attrs["by"] == by and maps.nap.attrs["measure"] == measure
    expected = _brute_force_naps(run, "dense", by, measure)
    np.testing.assert_allclose(maps.nap.values, expected, rtol=1e-9, atol=1e-12)
    # the store path (naps() reads the activations block by block): the same values to the last bit
    stored = naps(run, "dense", by=by, measure=measure, bins=BINS[by] or 10)
    np.testing.assert_array_equal(maps.nap.values, stored.values)
    _check_frames(maps.frames, maps.panels.values, maps.renderer, maps.limits, maps.cmap)
    w.close()


def test_frames_equal_with_and_without_the_activation_cache(synthetic_run):
    """Over the activation budget the explorer reads blocks from the store for every setting: same frames."""
    run, layouts = synthetic_run
    cached = explore(run, "dense", layout=layouts, by="class", correlation=False, progress=False)
    read = explore(run, "dense", layout=layouts, by="class", correlation=False, progress=False)
    read._data = _data.RunData(run, budget=0)
    assert read._data.activations("dense") is None and cached._data.activations("dense") is not None
    for by, measure in (("confidence", "max_softmax"), ("correct", "margin"), ("class+confidence", "entropy")):
        for w in (cached, read):
            w.measure_dropdown.value = measure
            w.grouping.value = grouping_label(by)
        assert cached.maps.nap.attrs["by"] == by and read.maps is not cached.maps
        np.testing.assert_array_equal(cached.maps.frames.indices, read.maps.frames.indices)
        np.testing.assert_array_equal(cached.maps.frames.nan, read.maps.frames.nan)
        np.testing.assert_array_equal(cached.maps.nap.values, read.maps.nap.values)
    cached.close()
    read.close()


def test_map_frames_of_finite_missing_and_overflowing_maps(synthetic_run):
    """Missing-pixel bits taken from the layout for finite maps, looked at for the others."""
    from actconf.plots import MapStyle, map_renderer

    run, layouts = synthetic_run
    renderer = map_renderer(layouts["dense"], MapStyle(), resolution=40)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 2, 3, 40))
    values[0, 0, 1] = np.nan  # a group too small: the whole map missing
    values[1, 1, 2, :7] = np.nan  # some neurons missing: the pixels that depend on them
    values[2, 0, 0, 3] = np.inf  # an infinite value: the highest colour where it reaches
    values[2, 1, 1, 5] = 1e38  # overflows single precision
    limits = np.array([[-2.0, 2.0], [-1.5, 1.5]])
    frames = _scene.map_frames(values, renderer, limits, "RdBu_r")
    with np.errstate(invalid="ignore"):
        images = renderer.render(values, dtype=np.float32)[..., ::-1, :]
    bits = np.packbits(np.isnan(images).reshape(*images.shape[:-2], -1), axis=-1)
    np.testing.assert_array_equal(frames.nan, bits)
    assert np.unpackbits(frames.nan[0, 0, 1]).sum() == 40 * 40  # every pixel of the missing map
    np.testing.assert_array_equal(frames.nan[0, 0, 0], np.packbits(~frames.valid.ravel()))  # a finite map
    assert frames.indices[2, 0, 0].max() == 255  # where the infinite value reaches
    _check_frames(_scene.MapFrames(frames.indices[:2], frames.nan[:2], frames.valid, frames.lut),
                  values[:2], renderer, limits, "RdBu_r")
    # as sent: indices of the drawn pixels only; bits only when a map misses a pixel inside the drawn region
    valid = frames.valid.ravel()
    indices, nan = _scene.wire_frames(frames)
    np.testing.assert_array_equal(np.frombuffer(indices, np.uint8).reshape(3, 2, 3, -1),
                                  frames.indices.reshape(3, 2, 3, -1)[..., valid])
    assert nan == frames.nan.tobytes()
    finite = _scene.MapFrames(frames.indices[2:], frames.nan[2:], frames.valid, frames.lut)
    finite.nan[0, 0, 0] = finite.nan[0, 1, 1] = np.packbits(~valid)  # as if those values were finite
    assert _scene.wire_frames(finite)[1] == b""


def test_run_data_keeps_arrays_per_run_length_within_the_budget(synthetic_run):
    run, _ = synthetic_run
    data = _data.RunData(run)
    conf = data.confidence("margin")
    assert data.confidence("margin") is conf
    np.testing.assert_array_equal(conf.values, confidence(run, measure="margin").values)
    np.testing.assert_array_equal(data.predictions(), run.read("outputs/probabilities").argmax(axis=-1))
    acts = data.activations("dense")
    np.testing.assert_array_equal(acts, run.read("activations/dense"))
    assert data.activations("dense") is acts
    # room for one layer: taking the other drops the least recently used
    small = _data.RunData(run, budget=acts.nbytes)
    assert small.activations("dense") is not None
    assert small.activations("dense_1") is not None and list(small._acts) == ["dense_1"]
    assert _data.RunData(run, budget=acts.nbytes - 1).activations("dense") is None


def test_groupings_without_confidence_keep_their_maps_for_a_new_measure(synthetic_run):
    """By class (or correct/wrong) the NAPs do not depend on the measure: the maps are taken over."""
    run, layouts = synthetic_run
    w = explore(run, "dense", layout=layouts, by="class", correlation=False, progress=False)
    first = w.maps
    w.measure_dropdown.value = "margin"
    assert w.maps is not first and w.maps.frames is first.frames  # the same frames, not computed again
    assert "margin" in w.maps.key and w.maps.nap.attrs["measure"] == "margin"
    assert w.scene_maps["setting"] == "dense|class|margin"
    np.testing.assert_allclose(w.maps.nap.values, _brute_force_naps(run, "dense", "class", "margin"),
                               rtol=1e-9, atol=1e-12)
    w.grouping.value = "class × confidence"  # depends on the measure: computed
    w.measure_dropdown.value = "entropy"
    assert "confidence: entropy" in w.maps.panels.title
    np.testing.assert_allclose(w.maps.nap.values, _brute_force_naps(run, "dense", "class+confidence", "entropy"),
                               rtol=1e-9, atol=1e-12)
    w.close()


def test_a_correlation_job_whose_setting_was_left_stops_before_its_next_dask_task(synthetic_run):
    import dask.array as da

    run, layouts = synthetic_run
    w = explore(run, "dense", layout=layouts, by="class", progress=False)
    before, finished = w.corr, []

    def make():
        w._wanted = ("corr", "another setting")  # the user moves on while this job computes
        da.ones(10, chunks=2).sum().compute(scheduler="threads")
        finished.append(True)

    key = ("corr", run.n_snapshots, "dense", "entropy", w.resolution)
    w._wanted = key
    w._correlation_job(key, make, "", None)
    assert not finished and key not in w._cache and w.corr is before
    assert not w.status.value.startswith("failed")
    # a job still wanted runs to its end
    w._wanted = key
    w._correlation_job(key, lambda: finished.append(da.ones(4, chunks=2).sum().compute()) or before, "", None)
    assert finished == [4.0] and w._cache[key] is before
    w.close()


def test_going_back_to_a_cached_setting_leaves_the_running_job(synthetic_run):
    """A job for a setting the user left never shows its views over the ones of the current setting."""
    run, layouts = synthetic_run
    w = explore(run, "dense", layout=layouts, by="class", progress=False)
    first = w.corr
    w.frontend = True
    w.measure_dropdown.value = "margin"  # a job waits for the page to paint the maps
    w.measure_dropdown.value = "max_softmax"  # back at once: cached
    w._on_message(w, {"type": "drawn", "key": w.maps.key}, [])
    w._worker().submit(lambda: None).result(timeout=120)
    assert w.corr is first and "max_softmax" in w.scene_correlation["scatter"]["xlabel"]
    assert not any(k[0] == "corr" and k[3] == "margin" for k in w._cache)  # the margin job stopped
    assert not w.busy
    w.close()


def test_correlation_views_from_the_kept_confidence_equal_the_analysis_functions(synthetic_run):
    """The views take the confidence computed once (here temperature scaling's cross-fitted one)."""
    from actconf.analysis import activity_confidence, neuron_correlation

    run, layouts = synthetic_run
    w = explore(run, "dense", layout=layouts, by="class", measure="temperature", progress=False)  # n_boot=500
    table = activity_confidence(run, layers="dense", measure="temperature", n_boot=500, control=True)
    np.testing.assert_array_equal(w.corr.rho, table["rho"].to_numpy())
    np.testing.assert_array_equal(w.corr.lo, table["ci_low"].to_numpy())
    np.testing.assert_array_equal(w.corr.rho_n, neuron_correlation(run, "dense", measure="temperature").values)
    w.close()
