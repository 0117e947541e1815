"""explore / explore_correlation: drive the widgets and check what they display."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize
from PIL import Image
from scipy.interpolate import griddata
from scipy.stats import spearmanr

from actconf.errors import InvalidInputError, InvalidParameterError
from actconf.store import open_run
from actconf.testing import SyntheticRecording, synthetic_arrays, write_synthetic_run
from actconf.widgets import explore, explore_correlation


def _image_arrays(explorer):
    return [np.array(im.get_array()) for im in explorer.maps.grid.images.ravel()]


def _griddata_image(pos, values, resolution=100):
    """Independent reference of a map: griddata (linear) at the pixel centres of the bounding box."""
    xs = np.linspace(pos[:, 0].min(), pos[:, 0].max(), resolution)
    ys = np.linspace(pos[:, 1].min(), pos[:, 1].max(), resolution)
    gx, gy = np.meshgrid(xs, ys)
    return griddata(pos, values, (gx, gy), method="linear"), xs, ys


def _rgba(image, vmin, vmax):
    """matplotlib's RdBu_r with NaN transparent, as uint8 RGBA."""
    return colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))(Normalize(vmin, vmax)(image), bytes=True)


def _assert_colours_close(got, expected):
    """Same transparent pixels; colours equal up to one step of the 256-colour table."""
    got, expected = np.asarray(got, dtype=int), np.asarray(expected, dtype=int)
    np.testing.assert_array_equal(got[..., 3], expected[..., 3])
    diff = np.abs(got[..., :3] - expected[..., :3]).max(axis=-1)
    assert diff.max() <= 6 and (diff > 0).mean() < 0.01


def _class_naps(run, layer, snapshot):
    """Contrastive class NAPs with numpy: mean activation per class minus the mean over classes."""
    acts = run.read("activations/" + layer)[snapshot]
    labels = np.asarray(run.labels)
    means = np.stack([acts[labels == c].mean(axis=0) for c in range(run.n_classes)])
    return means - means.mean(axis=0)


def test_explore_structure(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class+confidence", progress=False)
    assert w.maps.grid.shape == (3, 10)  # 3 confidence bins x 10 classes
    assert w.slider.max == run.n_snapshots - 1 and w.slider.value == run.n_snapshots - 1
    assert w.snapshot_label.value == "epoch 3"
    assert list(w.layer_dropdown.options) == ["dense", "dense_1"]
    assert w.measure_dropdown.value == "max_softmax" and "energy" in w.measure_dropdown.options
    assert "mc_dropout" not in w.measure_dropdown.options  # not recorded
    assert w.maps_view.value[:2] == b"\xff\xd8" and w.curve_view.value[:4] == b"\x89PNG"
    assert w.correlation_view.value
    w.close()


def test_slider_changes_images_in_place(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class", progress=False)
    grid = w.maps.grid
    images_before = list(grid.images.ravel())
    fig_before = grid.fig
    last = _image_arrays(w)
    view_last = w.maps_view.value
    w.slider.value = 0
    first = _image_arrays(w)
    # the same artists and figure, new pixel data
    assert list(grid.images.ravel()) == images_before and grid.fig is fig_before
    assert any(not np.array_equal(a, b) for a, b in zip(first, last, strict=True))
    assert w.maps_view.value != view_last
    assert w.snapshot_label.value == "initial"
    # the displayed frame is the snapshot's class-3 NAP, interpolated and colour-mapped (independent reference:
    # numpy NAPs, SciPy's griddata, matplotlib's colormap; one colour scale, symmetric over all snapshots)
    m = max(np.abs(_class_naps(run, "dense", s)).max() for s in range(run.n_snapshots))
    pos = layouts["dense"]
    image, xs, ys = _griddata_image(pos, _class_naps(run, "dense", 0)[3])
    expected = _rgba(image, -m, m)
    _assert_colours_close(first[3], expected)
    # and the JPEG the widget shows has these colours where the map is (compression: small tolerance)
    shown = np.asarray(Image.open(io.BytesIO(w.maps_view.value)).convert("RGB"), dtype=int)
    ax = grid.axes[0, 3]
    height = grid.fig.bbox.height
    inner = np.argwhere(np.isfinite(image))
    rng = np.random.default_rng(0)
    errors = []
    for i, j in inner[rng.choice(len(inner), 40, replace=False)]:
        window = image[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
        if window.shape != (3, 3) or not np.isfinite(window).all():
            continue
        px, py = ax.transData.transform((xs[j], ys[i]))
        errors.append(np.abs(shown[int(height - py), int(px)] - expected[i, j, :3].astype(int)).max())
    assert len(errors) >= 20 and np.median(errors) <= 6 and max(errors) <= 30
    # the marker of the accuracy curve moved to the first snapshot
    assert w.curve.markers[0].get_xdata()[0] == run.snapshots["progress"].iloc[0]
    # correlation views follow the same slider
    offsets = w.corr.scatter.get_offsets()
    np.testing.assert_allclose(offsets[:, 0], w.corr.conf[0])
    assert w.corr.scatter_title.get_text().startswith("initial: ρ = ")
    box = w.corr.scatter_title.get_window_extent()
    assert w.corr.fig.bbox.contains(box.x0, box.y0) and w.corr.fig.bbox.contains(box.x1, box.y1)  # on canvas
    w.slider.value = 4
    np.testing.assert_allclose(w.corr.scatter.get_offsets()[:, 0], w.corr.conf[4])
    assert w.corr.marker.get_xdata()[0] == w.corr.x[4]
    w.close()


@pytest.mark.slow
def test_settings_recompute(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class", progress=False)
    assert w.maps.grid.shape == (1, 10)
    w.grouping.value = "correct / wrong"
    assert w.maps.grid.shape == (1, 2)
    w.grouping.value = "confidence"
    assert w.maps.grid.shape == (1, 5)
    w.layer_dropdown.value = "dense_1"
    assert w.maps.renderer.n_neurons == 16 and w.corr.maps.shape[0] == run.n_snapshots
    before = w.maps
    w.measure_dropdown.value = "margin"
    assert w.maps is not before and "margin" in w.maps.panels.title
    w.layer_dropdown.value = "dense"
    w.measure_dropdown.value = "max_softmax"
    w.grouping.value = "class"
    assert w.maps.grid.shape == (1, 10)  # cached state comes back
    w.close()


def test_correlation_values_match_scipy(synthetic_run):
    run, layouts = synthetic_run
    w = explore_correlation(run, "dense", layout=layouts, n_boot=50, color_by="correct", progress=False)
    assert w.maps is None and w.corr is not None
    # independent reference: Spearman's rho of max-softmax confidence and mean activation, from the raw arrays
    confidence = run.read("outputs/probabilities").max(axis=-1)
    acts = run.read("activations/dense")
    activity = acts.mean(axis=-1)
    rho = [spearmanr(confidence[s], activity[s]).statistic for s in range(run.n_snapshots)]
    np.testing.assert_allclose(w.corr.rho, rho, rtol=1e-6)
    assert w.corr.rho[-1] > 0.5  # activity follows confidence in this synthetic run
    # the per-neuron map: each neuron's rho at the last snapshot, griddata-interpolated and colour-mapped
    rho_n = np.array([spearmanr(acts[-1][:, k], confidence[-1]).statistic for k in range(acts.shape[-1])])
    image, _, _ = _griddata_image(layouts["dense"], rho_n)
    _assert_colours_close(w.corr.image.get_array(), _rgba(image, -1, 1))
    # fixed axis limits across snapshots
    ax = w.corr.scatter.axes
    lim = (ax.get_xlim(), ax.get_ylim())
    w.slider.value = 0
    assert (ax.get_xlim(), ax.get_ylim()) == lim
    colors = w.corr.scatter.get_facecolor()
    assert len(np.unique(colors.round(3), axis=0)) <= 2  # correct / wrong
    w.close()


@pytest.mark.slow
def test_live_picks_up_new_snapshots(tmp_path, synthetic_run):
    _, layouts = synthetic_run
    writer = SyntheticRecording(tmp_path / "live", **synthetic_arrays(logits=False))  # probabilities only
    append = writer.append
    for i in range(3):
        append(i)
    try:
        run = open_run(tmp_path / "live")
        w = explore(run, layout=layouts, by="class", live=True, poll_seconds=3600, progress=False)
        assert w.slider.max == 2 and w.slider.value == 2
        assert "energy" not in w.measure_dropdown.options  # no logits recorded
        assert w.poll() == 0
        before = _image_arrays(w)
        append(3)
        append(4)
        assert w.poll() == 2
        assert w.slider.max == 4 and w.slider.value == 4  # followed the newest snapshot
        assert w.snapshot_label.value == "epoch 2"
        assert any(not np.array_equal(a, b) for a, b in zip(before, _image_arrays(w), strict=True))
        w.slider.value = 1
        append(5)
        assert w.poll() == 1 and w.slider.value == 1  # stays where the user looks
        w.close()
        assert w._stop.is_set()
    finally:
        writer.close()


def test_bad_arguments(synthetic_run):
    run, layouts = synthetic_run
    with pytest.raises(InvalidParameterError, match="'run'"):
        explore("not a run")
    with pytest.raises(InvalidParameterError, match="'measure'"):
        explore(run, layout=layouts, measure="mc_dropout")
    with pytest.raises(InvalidParameterError, match="'by'"):
        explore(run, layout=layouts, by="prediction")
    with pytest.raises(InvalidParameterError, match="'color_by'"):
        explore_correlation(run, layout=layouts, color_by="size")
    with pytest.raises(InvalidInputError, match="layer 'dense'"):
        explore(run, layout={"dense": np.zeros((5, 2)), "dense_1": layouts["dense_1"]}, progress=False)


def test_layout_from_the_run_is_used_and_never_saved(tmp_path, monkeypatch, capsys):
    """Without a layout: ensure_layout(save=False); the status line, not print, says it was not saved."""
    import actconf.layout as layout_mod
    from actconf.layout import _from_run

    run = write_synthetic_run(tmp_path / "run", **synthetic_arrays(n_snapshots=4, n_samples=100, sizes=(12,)))
    real = layout_mod.layout_from_run
    calls = []

    def cheap(run_, layer, **kwargs):  # what ensure_layout asks for, computed quickly
        calls.append((layer, kwargs.get("method")))
        return real(run_, layer, method="pca")

    monkeypatch.setattr(_from_run, "layout_from_run", cheap)  # what ensure_layout calls
    w = explore(run, by="class", correlation=False, progress=False)
    assert calls == [("dense", "umap")]
    assert "not saved" in w.status.value and "ensure_layout(run, 'dense', save=True)" in w.status.value
    assert layout_mod.list_layouts(run).empty  # nothing written into the run
    assert capsys.readouterr().out == ""
    w.close()
    # a saved layout wins, silently
    saved = real(run, "dense", method="pca", seed=1)
    saved.save(run)
    w = explore(run, by="class", correlation=False, progress=False)
    assert calls == [("dense", "umap")] and w.status.value == ""
    np.testing.assert_array_equal(w.maps.renderer.positions, saved.positions)
    w.close()
