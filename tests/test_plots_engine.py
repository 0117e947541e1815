"""The drawing engine: Blitter and MapGridFigure.blit against full redraws, new_figure, ax=/fig= everywhere."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from actconf.errors import InvalidParameterError
from actconf.plots import (
    Blitter,
    MapGridFigure,
    MapStyle,
    build_panels,
    grid_limits,
    new_figure,
    plot_layouts,
    plot_training,
)
from actconf.render import TopoRenderer
from actconf.testing import synthetic_naps


def _full_redraw(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_blitter_equals_a_full_redraw():
    fig = new_figure((3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.5")
    marker = ax.plot([0.2], [0.2], "o", color="tab:red")[0]
    label = ax.text(0.5, 0.9, "a", transform=ax.transAxes)
    blitter = Blitter(fig, [marker, label])
    for x, text in [(0.2, "first"), (0.7, "second"), (0.4, "third")]:
        marker.set_data([x], [x])
        label.set_text(text)
        blitted = blitter.draw().copy()
        np.testing.assert_array_equal(blitted, _full_redraw(fig))
    assert fig.get_layout_engine() is None or type(fig.get_layout_engine()).__name__ == "PlaceHolderLayoutEngine"


def test_map_grid_blit_equals_a_full_redraw():
    pos = np.random.default_rng(1).random((40, 2))
    renderer = TopoRenderer(pos, resolution=40)
    panels = build_panels(synthetic_naps(by="class", n_snapshots=3), frames=True)
    style = MapStyle(cmap="RdBu_r", markers=True, panel_size=1.0, dpi=60)
    grid = MapGridFigure(panels, renderer, limits=grid_limits(panels.values, style), style=style)
    images = renderer.render(panels.values)
    grid.show(images[0], panels.notes[0], "frame 0")
    grid.freeze()
    for k in (2, 1, 2):  # the second visit of frame 2 comes from the text sprite cache
        blitted = grid.blit(grid.to_rgba(images[k]), panels.notes[k], f"frame {k}").copy()
        assert grid.title.get_text() == f"frame {k}"
        np.testing.assert_array_equal(blitted, _full_redraw(grid.fig))  # outlines and markers drawn once
    # floats and RGBA frames give the same pixels
    rgba = grid.blit(grid.to_rgba(images[1])).copy()
    np.testing.assert_array_equal(grid.blit(images[1]), rgba)


def test_to_rgba_is_matplotlibs_colormap():
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    pos = np.random.default_rng(2).random((40, 2))
    renderer = TopoRenderer(pos, resolution=20)
    panels = build_panels(synthetic_naps(by="class", n_snapshots=2), frames=True)
    style = MapStyle(cmap="viridis", markers=False, panel_size=1.0, share="row")
    grid = MapGridFigure(panels, renderer, limits=np.array([[-2.0, 3.0]]), style=style)
    images = renderer.render(panels.values)
    expected = colormaps["viridis"].with_extremes(bad=(0, 0, 0, 0))(Normalize(-2, 3)(images), bytes=True)
    np.testing.assert_array_equal(grid.to_rgba(images), expected)


def test_new_figure_is_outside_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = new_figure((2, 1), dpi=50)
    assert plt.get_fignums() == before
    assert tuple(fig.get_size_inches()) == (2, 1) and fig.dpi == 50
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"


@pytest.mark.synthetic_arrays(n_snapshots=4, sizes=(12,))
def test_every_plot_fills_a_given_figure(synthetic_run):
    run = synthetic_run.run
    fig = Figure()
    assert plot_training(run, fig=fig) is fig and len(fig.axes) == 1  # accuracy only in this run
    pos = np.random.default_rng(0).random((12, 2))
    fig = Figure()
    assert plot_layouts({"a": pos, "b": pos[::-1]}, np.arange(12.0), fig=fig) is fig
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    with pytest.raises(InvalidParameterError, match="'fig' parameter of plot_training"):
        plot_training(run, fig=fig)  # not empty
    with pytest.raises(InvalidParameterError, match="'fig'.*Pass ax="):
        plot_training(run, fig=Figure().add_subplot())
