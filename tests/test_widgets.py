"""explore / explore_correlation: drive the widgets and check what they display."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64
import io

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize
from PIL import Image
from scipy.interpolate import griddata
from scipy.stats import pearsonr, rankdata, spearmanr

from actconf.errors import InvalidInputError, InvalidParameterError
from actconf.store import open_run
from actconf.testing import SyntheticRecording, synthetic_arrays, write_synthetic_run
from actconf.widgets import explore, explore_correlation


def _scene_rgba(scene, frame):
    """Decode a map-grid scene as the browser does (independent of the kernel's own decoder):
    colour table[index] per drawn pixel (indices are sent for those only), missing pixels and
    pixels outside the drawn region transparent; (R, C, H, W, 4) uint8, row 0 at the top."""
    r, c, h, w = len(scene["rows"]), len(scene["cols"]), scene["height"], scene["width"]
    lut = np.frombuffer(scene["lut"], dtype=np.uint8).reshape(256, 4)
    first = 0 if scene["remote"] else frame
    valid = np.unpackbits(np.frombuffer(scene["valid"], dtype=np.uint8), count=h * w).astype(bool)
    drawn = np.frombuffer(scene["indices"], dtype=np.uint8).reshape(-1, r, c, valid.sum())[first]
    idx = np.zeros((r, c, h * w), dtype=np.uint8)
    idx[..., valid] = drawn
    missing = np.broadcast_to(~valid, (r, c, h * w)).copy()
    if scene["nan"]:  # empty: nothing missing inside the drawn region
        bits = np.frombuffer(scene["nan"], dtype=np.uint8).reshape(-1, r, c, (h * w + 7) // 8)[first]
        missing |= np.unpackbits(bits, axis=-1, count=h * w).astype(bool)  # big-endian bit order
    out = lut[idx.reshape(r, c, h, w)].copy()
    out[missing.reshape(r, c, h, w)] = 0
    return out


def _image_arrays(explorer):
    return [explorer.maps.rgba(explorer.slider.value)[idx] for idx in np.ndindex(*explorer.maps.shape)]


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


def _jpeg(data):
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im


def test_explore_structure(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class+confidence", progress=False)
    assert w.maps.shape == (3, 10)  # 3 confidence bins x 10 classes
    assert w.slider.max == run.n_snapshots - 1 and w.slider.value == run.n_snapshots - 1
    assert w.snapshot_label.value == "epoch 3"
    assert list(w.layer_dropdown.options) == ["dense", "dense_1"]
    assert w.measure_dropdown.value == "max_softmax" and "energy" in w.measure_dropdown.options
    assert "mc_dropout" not in w.measure_dropdown.options  # not recorded
    # every snapshot's maps are in the browser's scene: one colour index per drawn pixel of every map
    scene = w.scene_maps
    h, wd = scene["height"], scene["width"]
    drawn = int(w.maps.frames.valid.sum())
    assert 0 < drawn < h * wd  # the layout's hull: pixels outside it are not sent
    assert scene["frames"] == run.n_snapshots and not scene["remote"]
    assert len(scene["indices"]) == run.n_snapshots * 3 * 10 * drawn
    assert scene["rows"] == ["conf. Q1/3", "conf. Q2/3", "conf. Q3/3"] and scene["cols"][3] == "class 3"
    assert len(scene["notes"]) == run.n_snapshots and scene["notes"][-1][0][0].startswith("n=")
    assert [c["name"] for c in w.scene_curves["charts"]] == ["accuracy", "confidence"]
    assert w.scene_correlation["scatter"]["frames"] == run.n_snapshots
    w.close()


@pytest.mark.slow
def test_static_image_beside_the_widget(synthetic_run):
    """The output carries a static JPEG of the explorer beside the widget (saved/exported notebooks)."""
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class+confidence", progress=False)
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    im = _jpeg(base64.b64decode(data["image/jpeg"]))
    assert im.format == "JPEG" and im.width > 800 and im.height > 400
    assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or range(1 << 20)) > 200
    w.close()


def test_frames_are_sent_once_and_show_the_interpolated_naps(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class", progress=False)
    sent = []
    w.observe(lambda change: sent.append(change["name"]), names=["scene_maps", "scene_curves", "scene_correlation"])
    last = _image_arrays(w)
    w.slider.value = 0
    assert sent == []  # the slider changes nothing that is sent: the browser has every frame
    assert w.snapshot_label.value == "initial"
    first = _image_arrays(w)
    assert any(not np.array_equal(a, b) for a, b in zip(first, last, strict=True))
    # frame 0 as the browser decodes it is the snapshot's class-3 NAP, interpolated and colour-mapped
    # (independent reference: numpy NAPs, SciPy's griddata, matplotlib's colormap; one colour scale,
    # symmetric over all snapshots; image row 0 at the top)
    m = max(np.abs(_class_naps(run, "dense", s)).max() for s in range(run.n_snapshots))
    image, _, _ = _griddata_image(layouts["dense"], _class_naps(run, "dense", 0)[3])
    expected = _rgba(image, -m, m)[::-1]
    _assert_colours_close(_scene_rgba(w.scene_maps, 0)[0, 3], expected)
    _assert_colours_close(first[3], expected)
    # the curves' marker and the correlation views follow the same slider in the browser: their data
    charts = w.scene_curves["charts"]
    np.testing.assert_allclose(charts[0]["lines"][0]["x"], run.snapshots["progress"])
    assert charts[0]["lines"][0]["marker"]
    scatter = w.scene_correlation["scatter"]
    x = np.frombuffer(scatter["x"], dtype="<f4").reshape(run.n_snapshots, -1)
    np.testing.assert_allclose(x[0], w.corr.conf[0], rtol=1e-6)
    np.testing.assert_allclose(x[4], w.corr.conf[4], rtol=1e-6)
    assert scatter["titles"][0].startswith("initial: ρ = ")
    # fixed axis limits: one pair for all snapshots, covering every snapshot's points
    assert scatter["xlim"][0] <= np.nanmin(w.corr.conf) and scatter["xlim"][1] >= np.nanmax(w.corr.conf)
    assert scatter["ylim"][0] <= np.nanmin(w.corr.act) and scatter["ylim"][1] >= np.nanmax(w.corr.act)
    w.close()


@pytest.mark.slow
def test_settings_recompute(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class", progress=False)
    assert w.maps.shape == (1, 10)
    first = w.maps
    w.grouping.value = "correct / wrong"
    assert w.maps.shape == (1, 2) and w.scene_maps["cols"] == ["correct", "wrong"]
    w.grouping.value = "confidence"
    assert w.maps.shape == (1, 5)
    w.layer_dropdown.value = "dense_1"
    assert w.maps.renderer.n_neurons == 16 and w.corr.maps.indices.shape[0] == run.n_snapshots
    before = w.maps
    w.measure_dropdown.value = "margin"
    assert w.maps is not before and "margin" in w.maps.panels.title
    assert "margin" in w.scene_correlation["scatter"]["xlabel"]
    w.layer_dropdown.value = "dense"
    w.measure_dropdown.value = "max_softmax"
    w.grouping.value = "class"
    assert w.maps is first  # the cached state comes back
    assert not w.busy and w.progress == 1.0
    w.close()


def test_correlation_values_match_scipy(synthetic_run):
    run, layouts = synthetic_run
    w = explore_correlation(run, "dense", layout=layouts, n_boot=50, color_by="correct", progress=False)
    assert w.maps is None and w.corr is not None and w.scene_maps == {}
    # independent reference: Spearman's rho of max-softmax confidence and mean activation, from the raw arrays
    confidence = run.read("outputs/probabilities").max(axis=-1)
    acts = run.read("activations/dense")
    activity = acts.mean(axis=-1)
    rho = [spearmanr(confidence[s], activity[s]).statistic for s in range(run.n_snapshots)]
    np.testing.assert_allclose(w.corr.rho, rho, rtol=1e-6)
    assert w.corr.rho[-1] > 0.5  # activity follows confidence in this synthetic run
    chart = w.scene_correlation["chart"]
    np.testing.assert_allclose(chart["lines"][0]["y"], rho, rtol=1e-6)
    assert chart["lines"][0]["band"] and chart["references"][0]["y"] == 0.0
    # the per-neuron map: each neuron's rho at the last snapshot, griddata-interpolated and colour-mapped
    rho_n = np.array([spearmanr(acts[-1][:, k], confidence[-1]).statistic for k in range(acts.shape[-1])])
    image, _, _ = _griddata_image(layouts["dense"], rho_n)
    _assert_colours_close(w.corr.map_rgba(-1), _rgba(image, -1, 1)[::-1])
    _assert_colours_close(_scene_rgba(w.scene_correlation["map"], run.n_snapshots - 1)[0, 0], _rgba(image, -1, 1)[::-1])
    # colours: correct / wrong, from the predictions
    scatter = w.scene_correlation["scatter"]
    codes = np.frombuffer(scatter["colors"], dtype=np.uint8).reshape(run.n_snapshots, -1)
    pred = run.read("outputs/probabilities").argmax(axis=-1)
    np.testing.assert_array_equal(codes == 0, pred == np.asarray(run.labels)[None, :])
    assert len(scatter["palette"]) == 2 and [label for label, _ in scatter["legend"]] == ["correct", "wrong"]
    w.close()


def _partial_spearman_by_residuals(x, y, z):
    """Independent reference of a partial Spearman correlation: rank, regress the ranks of x and y on
    the ranks of z (least squares), correlate the residuals (Pearson)."""
    rx, ry, rz = (rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    return pearsonr(res_x, res_y).statistic


def test_correlation_view_shows_the_untrained_baseline_and_the_scale_control(synthetic_run):
    """Issue 10: the chart and the static figure show the raw ρ, the ρ partialled on the logit spread (with its
    CI) and snapshot 0's ρ as a dashed reference line, as plot_correlation does."""
    from actconf.plots import CONTROLLED, UNTRAINED, correlation_figure

    run, layouts = synthetic_run
    w = explore_correlation(run, "dense", layout=layouts, n_boot=200, progress=False)
    # independent references from the raw arrays: confidence, layer activity, norm of the centred logits
    confidence = run.read("outputs/probabilities").max(axis=-1)
    activity = run.read("activations/dense").mean(axis=-1)
    logits = run.read("outputs/logits")
    spread = np.linalg.norm(logits - logits.mean(axis=-1, keepdims=True), axis=-1)
    rho0 = spearmanr(confidence[0], activity[0]).statistic
    ctrl = [_partial_spearman_by_residuals(confidence[s], activity[s], spread[s]) for s in range(run.n_snapshots)]
    series = w.corr.series
    np.testing.assert_allclose(series.curves[CONTROLLED], ctrl, rtol=1e-6, atol=1e-9)
    assert series.references == {UNTRAINED: pytest.approx(rho0, rel=1e-6)}
    low, high = series.bands[CONTROLLED]
    assert np.all(low < high) and np.mean((low <= ctrl) & (np.asarray(ctrl) <= high)) >= 0.8
    assert not np.allclose(ctrl, w.corr.rho, atol=0.02)  # the control changes the curve in this run
    # the browser's chart: raw with its band, the controlled curve dotted with its band, the reference dashed
    chart = w.scene_correlation["chart"]
    assert [ln["label"] for ln in chart["lines"]] == ["Spearman ρ", CONTROLLED]
    np.testing.assert_allclose(chart["lines"][1]["y"], ctrl, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(chart["lines"][1]["band"], [low, high])
    assert chart["lines"][1]["dash"] and chart["lines"][0]["band"]
    refs = [(r["y"], r["label"]) for r in chart["references"]]
    assert refs[0] == (0.0, "") and refs[1] == (pytest.approx(rho0, rel=1e-6), UNTRAINED)
    assert chart["references"][1]["dash"]
    # the static figure (saved notebooks, reports): the same three curves
    ax = correlation_figure(series, w.corr.renderer, label="epoch 3").axes[2]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_allclose(lines[CONTROLLED].get_ydata(), ctrl, rtol=1e-6, atol=1e-9)
    assert lines[CONTROLLED].get_linestyle() == ":"
    assert lines[UNTRAINED].get_linestyle() == "--"
    np.testing.assert_allclose(lines[UNTRAINED].get_ydata(), [rho0, rho0], rtol=1e-6)
    w.close()
    # without a bootstrap: no bands, the curves still drawn
    w = explore_correlation(run, "dense", layout=layouts, n_boot=0, progress=False)
    chart = w.scene_correlation["chart"]
    assert "band" not in chart["lines"][0] and "band" not in chart["lines"][1]
    np.testing.assert_allclose(chart["lines"][1]["y"], ctrl, rtol=1e-6, atol=1e-9)
    w.close()


def test_with_a_live_page_the_correlation_views_follow_from_a_worker(synthetic_run):
    """The maps of a new setting are sent at once; the correlation views follow from a worker thread."""
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="confidence", progress=False)
    first = w.corr
    w.frontend = True  # what the browser sets when it renders the widget
    w.measure_dropdown.value = "margin"
    assert "margin" in w.maps.panels.title  # the maps are there when the setting returns
    assert w.busy and w.corr is first  # the worker waits for the page to paint the new maps
    w._on_message(w, {"type": "drawn", "key": "another setting's maps"}, [])
    assert not w._painted.is_set()
    w._on_message(w, {"type": "drawn", "key": w.maps.key}, [])  # what the page sends once it painted them
    w._worker().submit(lambda: None).result(timeout=120)  # one worker: the job above has finished
    assert w.corr is not first and "margin" in w.scene_correlation["scatter"]["xlabel"]
    assert not w.busy and w.progress == 1.0
    w.measure_dropdown.value = "max_softmax"  # cached: no worker needed
    assert w.corr is first and not w.busy
    w.close()


def test_frames_over_the_budget_stay_in_the_kernel(synthetic_run):
    run, layouts = synthetic_run
    full = explore(run, layout=layouts, by="class", correlation=False, progress=False)
    w = explore(run, layout=layouts, by="class", correlation=False, progress=False, frame_budget=1000)
    assert w.maps.remote and w.scene_maps["remote"] and w.scene_maps["frame"] == run.n_snapshots - 1
    assert len(w.scene_maps["indices"]) == 10 * int(full.maps.frames.valid.sum())  # only the frame shown
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._on_message(w, {"type": "frame", "index": 2}, [])  # what the browser asks when the slider reaches 2
    (content, buffers), = sent
    assert content == {"type": "frame", "key": w.maps.key, "index": 2}
    valid = full.maps.frames.valid.ravel()
    np.testing.assert_array_equal(np.frombuffer(buffers[0], dtype=np.uint8).reshape(10, -1),
                                  full.maps.frames.indices[2].reshape(10, -1)[:, valid])
    w.slider.value = 1  # a slider move from Python sends that frame too
    assert sent[-1][0]["index"] == 1
    full.close()
    w.close()


@pytest.mark.slow
def test_colour_convention_follows_the_map_grids(synthetic_run):
    """Signed (contrastive) NAPs: diverging scale around 0; plain mean activations: sequential from 0 —
    the same colours and limits as plot_map_grid draws for the same NAPs."""
    from actconf.naps import naps
    from actconf.plots import plot_map_grid

    run, layouts = synthetic_run
    for contrastive, cmap in ((True, "RdBu_r"), (False, "Reds")):
        w = explore(run, layout=layouts, by="class", contrastive=contrastive, correlation=False, progress=False)
        fig = plot_map_grid(naps(run, "dense", by="class", contrastive=contrastive), layouts["dense"],
                            rows="snapshot")
        image = fig.axes[0].images[-1]
        assert image.get_cmap().name.startswith(cmap) and w.scene_maps["cmap"] == cmap
        np.testing.assert_allclose(w.scene_maps["limits"][0], [image.norm.vmin, image.norm.vmax], rtol=1e-9)
        if not contrastive:
            assert w.scene_maps["limits"][0][0] == 0.0
        w.close()


def test_pixel_ratio_renders_at_the_device_resolution(synthetic_run):
    run, layouts = synthetic_run
    w = explore(run, layout=layouts, by="class", correlation=False, progress=False)
    assert w.scene_maps["height"] == 100
    w.pixel_ratio = 2.0  # what the browser reports on a high-DPI screen
    assert w.maps.renderer.shape == (200, 200) and w.scene_maps["height"] == 200
    w.pixel_ratio = 2.0000001  # same resolution: nothing recomputed
    assert w.scene_maps["height"] == 200
    w.close()


def test_progress_in_a_notebook_ends_as_text(monkeypatch):
    """A finished progress bar becomes one line of text (no widget left in the saved notebook)."""
    from actconf.widgets import _progress

    updates, shown = [], []

    class Handle:
        def update(self, data, raw=False):
            updates.append((data, raw))

    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=None: shown.append(obj) or Handle())
    with _progress.progress_bar(3, "maps") as bar:
        bar.update()
        bar.set_description("NAPs")
        bar.update(2)
    (box,) = shown
    assert box.children[1].value == 3 and box.children[0].value == "maps: NAPs"
    ((data, raw),) = updates
    assert raw and list(data) == ["text/plain"] and data["text/plain"].startswith("maps: done in ")
    assert box.comm is None  # closed
    with pytest.raises(RuntimeError), _progress.progress_bar(3, "fails") as bar:
        raise RuntimeError("x")
    assert updates[-1][0]["text/plain"] == "fails: stopped at 0/3"


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
    with pytest.raises(InvalidParameterError, match="'frame_budget'"):
        explore(run, layout=layouts, frame_budget=-1)


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


# ---------------------------------------------------------------------------- the wire format
def test_colour_indices_are_matplotlibs():
    """The browser's colour of a value is exactly the one matplotlib's colormap picks (256 colours)."""
    from actconf.widgets._scene import colour_indices, colour_table

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 5000), [-3.0, -1.5, 1.5, 3.0, 0.0, -1.5 + 3 / 256]])
    table = np.frombuffer(colour_table("RdBu_r"), dtype=np.uint8).reshape(256, 4)
    got = table[colour_indices(values, -1.5, 1.5)]
    expected = colormaps["RdBu_r"](Normalize(-1.5, 1.5)(values), bytes=True)
    np.testing.assert_array_equal(got, expected)


def test_missing_pixels_and_ticks():
    from actconf.widgets._scene import nan_bits, ticks

    images = np.ones((2, 3, 5, 7))
    images[0, 1, 2, 3] = images[1, 2, 4, 6] = np.nan
    bits = nan_bits(images)
    assert bits.shape == (2, 3, 5)  # ceil(35 / 8) bytes per map
    flat = [[int(b[p >> 3]) >> (7 - (p & 7)) & 1 for p in range(35)] for b in bits.reshape(-1, 5)]
    np.testing.assert_array_equal(np.array(flat).reshape(images.shape), np.isnan(images))
    marks = ticks(-0.83, 0.83)
    values = [v for v, _ in marks]
    assert all(-0.83 <= v <= 0.83 for v in values) and len(values) >= 3 and 0.0 in values
    assert dict(marks)[0.0] == "0.0" and all("-" not in label for _, label in marks)  # a real minus sign
    assert ticks(1.0, 1.0) == []
