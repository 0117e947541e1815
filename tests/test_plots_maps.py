"""plot_map / plot_map_grid: axes, shared limits, labels, pivots, differences, ordering, MapStyle, aliases."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.spatial import Delaunay

from actconf.errors import InvalidInputError, InvalidParameterError
from actconf.plots import MapStyle, plot_map, plot_map_grid
from actconf.render import TopoRenderer
from actconf.testing import synthetic_naps


@pytest.fixture(scope="module")
def pos():
    return np.random.default_rng(1).random((40, 2))


def _map_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def _data_image(ax):
    return ax.images[-1]  # the underlay (grey mask) comes first


def test_plot_map_basic(pos):
    v = np.random.default_rng(2).standard_normal(40)
    fig = plot_map(v, pos, title="class 3")
    ax = fig.axes[0]
    im = _data_image(ax)
    np.testing.assert_allclose(im.get_array().filled(np.nan), TopoRenderer(pos).render(v), equal_nan=True)
    lo, hi = im.get_clim()
    assert lo == pytest.approx(-np.abs(v).max()) and hi == pytest.approx(np.abs(v).max())  # symmetric
    assert ax.get_title() == "class 3"
    assert len(fig.axes) == 2  # map + colorbar
    assert len(ax.collections) > 0  # contour lines
    assert ax.lines and len(ax.lines[0].get_xdata()) == 40  # neuron markers


def test_plot_map_options(pos):
    v = np.random.default_rng(3).standard_normal(40)
    fig = plot_map(v, pos, colorbar=False, style=MapStyle(vlim=2.5, contours=0, markers=False))
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and not ax.lines and not ax.collections
    assert _data_image(ax).get_clim() == (-2.5, 2.5)
    assert _data_image(plot_map(v, pos, style=MapStyle(vlim=(0, 1))).axes[0]).get_clim() == (0, 1)
    # drawing into a given axes
    import matplotlib.pyplot as plt

    f2, axes = plt.subplots(1, 2)
    assert plot_map(v, pos, ax=axes[1], colorbar=False) is f2
    assert axes[1].images and not axes[0].images
    plt.close(f2)


def test_plot_map_errors(pos):
    with pytest.raises(InvalidInputError, match="40 neurons"):
        plot_map(np.zeros(39), pos)
    with pytest.raises(InvalidParameterError, match="'values'.*1-D"):
        plot_map(np.zeros((2, 40)), pos)
    with pytest.raises(InvalidParameterError, match="'vlim'"):
        plot_map(np.zeros(40), pos, style=MapStyle(vlim=(1, 0)))
    with pytest.raises(InvalidParameterError, match="'method'"):
        plot_map(np.zeros(40), pos, style=MapStyle(method="bicubic"))
    with pytest.raises(InvalidParameterError, match="'ax'"):
        plot_map(np.zeros(40), pos, ax="left")
    with pytest.raises(InvalidParameterError, match="'style'"):
        plot_map(np.zeros(40), pos, style={"vlim": 1})
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        plot_map(np.zeros(40), pos, colour="red")


def test_grid_class_by_confidence(pos):
    nap = synthetic_naps(small=[(2, 1)])
    fig = plot_map_grid(nap, pos)  # auto: rows = confidence bins, cols = classes, last snapshot
    axes = _map_axes(fig)
    assert len(axes) == 2 * 4
    assert [ax.get_title() for ax in axes[:4]] == ["class 0", "class 1", "class 2", "class 3"]
    assert axes[0].get_ylabel() == "conf. 0.0–0.5" and axes[4].get_ylabel() == "conf. 0.5–1.0"
    # one shared, symmetric colour scale = max |value| over all maps shown
    m = np.nanmax(np.abs(nap.isel(snapshot=-1).values))
    assert {_data_image(ax).get_clim() for ax in axes} == {(-m, m)}
    # the map at (row 1, col 2) is class 2, bin 0.5–1.0 at the last snapshot
    ref = TopoRenderer(pos).render(nap.isel(snapshot=-1).sel(group="2 | 0.5–1.0").values)
    np.testing.assert_allclose(_data_image(axes[4 + 2]).get_array().filled(np.nan), ref, equal_nan=True)
    # labels: snapshot in the title, sizes under the maps, too-small groups marked
    assert "epoch 2" in fig._suptitle.get_text() and "dense" in fig._suptitle.get_text()
    notes = [ax.texts[0].get_text() for ax in axes]
    assert notes[0] == "n=20" and notes[4] == "n=2 (too few)"
    # group "0 | 0.5–1.0" (row 1, col 0) has too few samples: blank, the others are not
    assert np.isnan(_data_image(axes[4]).get_array().filled(np.nan)).all()
    assert np.isfinite(_data_image(axes[5]).get_array().filled(np.nan)).any()


def test_grid_rows_snapshot_and_per_row_limits(pos):
    nap = synthetic_naps(by="class", n_snapshots=4)
    nap[0] *= 10  # the initial snapshot is much stronger
    fig = plot_map_grid(nap, pos, rows="snapshot", style=MapStyle(share="row"))
    axes = _map_axes(fig)
    assert len(axes) == 4 * 4
    assert [axes[i * 4].get_ylabel() for i in range(4)] == ["initial", "epoch 1", "epoch 2", "epoch 3"]
    clims = [_data_image(axes[i * 4]).get_clim() for i in range(4)]
    assert clims[0][1] == pytest.approx(np.abs(nap[0].values).max())
    assert clims[1][1] == pytest.approx(np.abs(nap[1].values).max())
    assert clims[0] != clims[1]
    assert len([ax for ax in fig.axes if ax not in axes]) == 4  # one colorbar per row
    shared = plot_map_grid(nap, pos, rows="snapshot")
    assert len({_data_image(ax).get_clim() for ax in _map_axes(shared)}) == 1


def test_grid_snapshot_selection_and_contours(pos):
    nap = synthetic_naps(by="class", n_snapshots=4)
    fig = plot_map_grid(nap, pos, rows="snapshot", snapshots=[0, 3], style=MapStyle(contours=4, markers=True))
    axes = _map_axes(fig)
    assert len(axes) == 8 and axes[4].get_ylabel() == "epoch 3"
    assert all(ax.lines for ax in axes) and any(ax.collections for ax in axes)
    one = plot_map_grid(nap, pos, snapshots=1)
    assert "epoch 1" in one._suptitle.get_text()


def test_grid_difference(pos):
    nap = synthetic_naps()
    fig = plot_map_grid(nap, pos, difference=("0.5–1.0", "0.0–0.5"))
    axes = _map_axes(fig)
    assert len(axes) == 4
    assert axes[0].get_ylabel() == "conf. 0.5–1.0 \u2212 conf. 0.0–0.5"
    last = nap.isel(snapshot=-1)
    diff = last.sel(group="1 | 0.5–1.0").values - last.sel(group="1 | 0.0–0.5").values
    np.testing.assert_allclose(_data_image(axes[1]).get_array().filled(np.nan), TopoRenderer(pos).render(diff),
                               equal_nan=True)
    assert "difference" in fig.axes[-1].get_ylabel()
    assert axes[1].texts[0].get_text() == "n=20 vs 20"
    # snapshots: final minus initial
    fig2 = plot_map_grid(synthetic_naps(by="class"), pos, rows="snapshot", difference=("epoch 2", "initial"))
    assert _map_axes(fig2)[0].get_ylabel() == "epoch 2 \u2212 initial"
    with pytest.raises(InvalidParameterError, match="'difference'"):
        plot_map_grid(nap, pos, difference=("nope", "0.0–0.5"))


def test_grid_cluster_order(pos):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2, 40))
    values = np.stack([base[0], base[1], base[0] + 0.01, base[1] + 0.01])  # groups 0,2 and 1,3 alike
    nap = xr.DataArray(values[None], dims=("snapshot", "group", "neuron"),
                       coords={"group": ["a", "b", "c", "d"]})
    fig = plot_map_grid(nap, pos, order="cluster")
    titles = [ax.get_title() for ax in _map_axes(fig)]
    pos_of = {t: i for i, t in enumerate(titles)}
    assert abs(pos_of["a"] - pos_of["c"]) == 1 and abs(pos_of["b"] - pos_of["d"]) == 1
    fixed = plot_map_grid(nap, pos, order=["d", "c", "b", "a"])
    assert [ax.get_title() for ax in _map_axes(fixed)] == ["d", "c", "b", "a"]


def test_grid_renders_once(pos, monkeypatch):
    calls = []
    original = TopoRenderer.render

    def counting(self, values):
        calls.append(np.shape(values))
        return original(self, values)

    monkeypatch.setattr(TopoRenderer, "render", counting)
    plot_map_grid(synthetic_naps(), pos)
    assert len(calls) == 1 and calls[0] == (2, 4, 40)


def test_grid_errors(pos):
    nap = synthetic_naps()
    with pytest.raises(InvalidInputError, match="leave 2 groups per map.*'confidence'"):
        plot_map_grid(nap, pos, rows="snapshot", cols="class")
    with pytest.raises(InvalidParameterError, match="'rows'"):
        plot_map_grid(nap, pos, rows="colour")
    with pytest.raises(InvalidInputError, match="40"):
        plot_map_grid(nap, pos[:30])
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        plot_map_grid(nap, pos, snapshots=7)
    with pytest.raises(InvalidParameterError, match="'share'"):
        plot_map_grid(nap, pos, style=MapStyle(share="col"))
    with pytest.raises(InvalidParameterError, match="'snapshots'.*one snapshot"):
        plot_map_grid(nap, pos, snapshots=[0, 1])  # several snapshots need rows/cols="snapshot"
    with pytest.raises(InvalidParameterError, match="'fig'"):
        plot_map_grid(nap, pos, fig=plot_map(np.zeros(40), pos))  # not empty
    with pytest.raises(InvalidParameterError, match="'naps'"):
        plot_map_grid({"a": 1}, pos)


def test_grid_from_plain_array_and_renderer(pos):
    arr = np.random.default_rng(6).standard_normal((3, 40))
    r = TopoRenderer(pos, resolution=30, method="nearest", mask="circle")
    fig = plot_map_grid(arr, r)
    axes = _map_axes(fig)
    assert len(axes) == 3 and _data_image(axes[0]).get_array().shape == (30, 30)
    # method/mask of the style build the renderer when positions are given
    fig = plot_map_grid(arr, pos, style=MapStyle(method="nearest", mask="circle"))
    assert np.isfinite(_data_image(_map_axes(fig)[0]).get_array().filled(np.nan)).sum() > \
        np.isfinite(TopoRenderer(pos).render(arr[0])).sum()  # the circle shows more than the hull


def test_example_figure_png(pos, tmp_path):
    fig = plot_map_grid(synthetic_naps(contrastive=True), pos, style=MapStyle(contours=3))
    out = tmp_path / "grid.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5000
    # what is drawn: contour lines at three levels strictly inside the shared limits, the labels
    axes = _map_axes(fig)
    lo, hi = _data_image(axes[0]).get_clim()
    levels = {float(lv) for ax in axes for cs in ax.collections if hasattr(cs, "levels") for lv in cs.levels}
    assert levels and all(lo < lv < hi for lv in levels)
    assert levels <= set(np.linspace(lo, hi, 5)[1:-1].tolist())
    assert "contrastive NAPs by class × confidence" in fig._suptitle.get_text()
    assert "mean over groups" in fig.axes[-1].get_ylabel()


def _png_pixels(fig, path):
    """The figure saved as PNG at its own dpi, read back (rows from the top), with its renderer's extents."""
    from PIL import Image

    fig.savefig(path, dpi=fig.dpi)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=int)


def _pixel_at(pixels, fig, ax, x, y):
    """The PNG pixel under data point (x, y) of ``ax``."""
    px, py = ax.transData.transform((x, y))
    return pixels[int(round(fig.bbox.height - py)), int(round(px))]


def test_grid_pixels_show_the_colour_scale(pos, tmp_path):
    """Known maps, known colours: +m is the colormap's top, -m its bottom, 0 white, gaps grey."""
    nap = synthetic_naps(by="class", n_classes=4, n_snapshots=1)
    nap[0, 0] = 2.0
    nap[0, 1] = -2.0
    nap[0, 2] = 0.0
    nap[0, 3] = np.nan  # too few samples: the grey underlay shows
    fig = plot_map_grid(nap, pos, title="known colours")
    pixels = _png_pixels(fig, tmp_path / "known.png")
    axes = _map_axes(fig)
    centre = pos.mean(axis=0)  # inside the convex hull
    cmap = colormaps["RdBu_r"]
    expected = [cmap(1.0), cmap(0.0), cmap(0.5), (0.88, 0.88, 0.88)]
    for ax, colour in zip(axes, expected, strict=True):
        got = _pixel_at(pixels, fig, ax, *centre)
        assert np.abs(got - np.round(np.array(colour[:3]) * 255)).max() <= 2, (ax.get_title(), got)
    # outside the hull (a corner of the map axes) nothing is drawn: the figure's white
    x0, x1 = axes[0].get_xlim()
    y0, y1 = axes[0].get_ylim()
    corners = np.array([(x, y) for x in (x0 + 0.002, x1 - 0.002) for y in (y0 + 0.002, y1 - 0.002)])
    hull_free = corners[Delaunay(pos).find_simplex(corners) < 0]
    assert len(hull_free)
    for x, y in hull_free:
        assert (_pixel_at(pixels, fig, axes[0], x, y) == 255).all()
    assert fig._suptitle.get_text() == "known colours"
    assert [ax.get_title() for ax in axes] == ["class 0", "class 1", "class 2", "class 3"]


def test_grid_into_given_figure(pos):
    fig = Figure(figsize=(6, 2))
    assert plot_map_grid(synthetic_naps(by="class"), pos, fig=fig) is fig
    assert len(_map_axes(fig)) == 4 and tuple(fig.get_size_inches()) == (6, 2)


def test_snapshots_select_run_snapshot_ids(pos):
    """snapshots= are run snapshot ids (the NAPs' coordinate), not positions along the NAPs."""
    nap = synthetic_naps(by="class", n_snapshots=3).assign_coords(snapshot=[0, 5, 9], epoch=("snapshot", [0, 1, 2]),
                                                            progress=("snapshot", [0.0, 1.0, 2.0]))
    fig = plot_map_grid(nap, pos, snapshots=5)
    ref = TopoRenderer(pos).render(nap.sel(snapshot=5).values[2])
    np.testing.assert_allclose(_data_image(_map_axes(fig)[2]).get_array().filled(np.nan), ref, equal_nan=True)
    assert "epoch 1" in fig._suptitle.get_text()
    rows = plot_map_grid(nap, pos, rows="snapshot", snapshots=[9, 0])
    assert [ax.get_ylabel() for ax in _map_axes(rows)[::4]] == ["epoch 2", "initial"]
    assert "epoch 2" in plot_map_grid(nap, pos, snapshots=-1)._suptitle.get_text()  # negative: from the end
    assert "epoch 2" in plot_map_grid(nap, pos, snapshots="final")._suptitle.get_text()
    assert "initial" in plot_map_grid(nap, pos, snapshots={"epoch": 0})._suptitle.get_text()
    epochs = plot_map_grid(nap, pos, rows="snapshot", snapshots=slice(1, None))
    assert [ax.get_ylabel() for ax in _map_axes(epochs)[::4]] == ["epoch 1", "epoch 2"]
    with pytest.raises(InvalidParameterError, match="'snapshots'.*0, 5, 9"):
        plot_map_grid(nap, pos, snapshots=1)  # a position, not an id of these NAPs
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        plot_map_grid(nap, pos, snapshots={"loss": 1.0})


def test_snapshot_kinds_from_labels(pos):
    nap = synthetic_naps(by="class", n_snapshots=4).assign_coords(
        snapshot_label=("snapshot", ["initial", "epoch 1 · batch 5", "epoch 1", "epoch 2"]))
    fig = plot_map_grid(nap, pos, rows="snapshot", snapshots="epochs")
    assert [ax.get_ylabel() for ax in _map_axes(fig)[::4]] == ["initial", "epoch 1", "epoch 2"]
    fig = plot_map_grid(nap, pos, snapshots="batches")
    assert "epoch 1 · batch 5" in fig._suptitle.get_text()


def test_deprecated_keywords_warn_and_still_work(pos):
    nap = synthetic_naps(by="class", n_snapshots=4)
    with pytest.warns(DeprecationWarning, match="snapshot= is deprecated"):
        old = plot_map_grid(nap, pos, rows="snapshot", snapshot=[0, 3])
    with pytest.warns(DeprecationWarning, match=r"contours=, markers= are deprecated.*MapStyle\(contours=4"):
        styled = plot_map_grid(nap, pos, contours=4, markers=True)
    new = plot_map_grid(nap, pos, rows="snapshot", snapshots=[0, 3])
    for a, b in zip(_map_axes(old), _map_axes(new), strict=True):
        np.testing.assert_array_equal(_data_image(a).get_array(), _data_image(b).get_array())
    assert all(ax.lines for ax in _map_axes(styled)) and any(ax.collections for ax in _map_axes(styled))
    with pytest.warns(DeprecationWarning, match="vlim= is deprecated"):
        fig = plot_map(np.ones(40), pos, vlim=3.0)
    assert _data_image(fig.axes[0]).get_clim() == (-3.0, 3.0)
    with pytest.raises(InvalidParameterError, match="'snapshot'"):
        plot_map_grid(nap, pos, snapshot=1, snapshots=2)


def test_map_style_checks_its_fields():
    assert MapStyle().with_defaults(contours=6).contours == 6
    assert MapStyle(contours=0).with_defaults(contours=6).contours == 0  # set fields stay
    for kwargs, name in [({"cmap": "no-such-map"}, "cmap"), ({"contours": -1}, "contours"),
                         ({"panel_size": 0}, "panel_size"), ({"vlim": 0}, "vlim"), ({"markers": "yes"}, "markers"),
                         ({"mask": "square"}, "mask"), ({"dpi": 5}, "dpi")]:
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of MapStyle"):
            MapStyle(**kwargs)
    with pytest.raises(AttributeError):
        MapStyle().vlim = 1  # frozen
