"""How the report turns figures and frames into files: one draw per figure, frames reused, work shared."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from actconf.analysis import activity_confidence
from actconf.layout import layout_from_run
from actconf.report import sections
from actconf.report.context import ReportContext
from actconf.report.page import frames_slider, png_bytes


def _figure(kind: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [2, 0, 1], color="tab:red")
    ax.set_title("a title", fontsize=14)
    ax.set_xlabel("x label")
    if kind == "outside":  # a text beyond the figure's edge: tight saving grows the image
        fig.text(1.05, 0.5, "sticks out", fontsize=12)
    if kind == "transparent":
        fig.patch.set_alpha(0.0)
    return fig


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA")).astype(int)


@pytest.mark.parametrize("kind", ["plain", "outside", "transparent"])
def test_png_is_what_tight_savefig_writes(kind):
    """Same size as matplotlib's own ``bbox_inches="tight"`` (within a pixel of rounding), same ink."""
    reference = io.BytesIO()
    _figure(kind).savefig(reference, format="png", dpi=110, bbox_inches="tight")
    ours, theirs = _decode(png_bytes(_figure(kind), dpi=110)), _decode(reference.getvalue())
    assert abs(ours.shape[0] - theirs.shape[0]) <= 1 and abs(ours.shape[1] - theirs.shape[1]) <= 1
    h, w = min(ours.shape[0], theirs.shape[0]), min(ours.shape[1], theirs.shape[1])
    a, b = ours[:h, :w], theirs[:h, :w]
    if kind == "transparent":
        clear_a, clear_b = (a[..., 3] == 0).mean(), (b[..., 3] == 0).mean()  # around the (opaque) axes
        assert clear_b > 0.2 and abs(clear_a - clear_b) < 0.02
    # the content may sit up to a pixel apart (tight saving shifts the figure by a fraction of one)
    ink_a, ink_b = (a[..., :3].sum(-1) < 600) & (a[..., 3] > 0), (b[..., :3].sum(-1) < 600) & (b[..., 3] > 0)
    assert abs(int(ink_a.sum()) - int(ink_b.sum())) < 0.05 * ink_b.sum()
    rows_a, rows_b = np.flatnonzero(ink_a.any(1)), np.flatnonzero(ink_b.any(1))
    cols_a, cols_b = np.flatnonzero(ink_a.any(0)), np.flatnonzero(ink_b.any(0))
    for got, want in ((rows_a, rows_b), (cols_a, cols_b)):
        assert abs(got[0] - want[0]) <= 1 and abs(got[-1] - want[-1]) <= 1


def test_png_keeps_the_figure_as_it_was():
    fig = _figure("plain")
    before = (fig.dpi, tuple(fig.get_size_inches()))
    png_bytes(fig, dpi=55)
    assert (fig.dpi, tuple(fig.get_size_inches())) == before
    with Image.open(io.BytesIO(png_bytes(fig, dpi=55))) as small, Image.open(io.BytesIO(png_bytes(fig))) as big:
        assert abs(big.size[0] / small.size[0] - 2.0) < 0.05  # the dpi asked for, not the figure's


def test_slider_frames_keep_their_order():
    frames = [np.full((20, 30, 3), 10 * k, dtype=np.uint8) for k in range(12)]
    slider = frames_slider("k", frames, [f"s{k}" for k in range(12)], "caption")
    for k, data in enumerate(slider.frames):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert abs(int(np.asarray(im.convert("RGB")).mean()) - 10 * k) <= 2
    assert slider.labels == tuple(f"s{k}" for k in range(12))


@pytest.fixture
def ctx(report_run, tmp_path):
    layout = layout_from_run(report_run, "hidden_1", method="pca")
    return ReportContext(run=report_run, layer="hidden_1", layout=layout, measure="max_softmax", seed=0,
                         folder=tmp_path, compare=False)


def test_one_layer_of_the_shared_correlations_is_that_layer_alone(ctx):
    assert len(ctx.run.layers) == 2
    for layer in ctx.run.layers:
        alone = activity_confidence(ctx.run, layers=layer, measure="max_softmax", seed=0, n_boot=500)
        shared = ctx.layer_correlations(layer)
        pd.testing.assert_frame_equal(shared, alone)
        assert shared.attrs == alone.attrs


def test_the_gif_is_the_first_slider_scaled(ctx, tmp_path):
    section = sections.animation_section(ctx)
    first = section.sliders[0]
    with Image.open(tmp_path / "maps_confidence.gif") as gif:
        assert gif.n_frames == len(first.frames) == ctx.run.n_snapshots
        scale = sections.GIF_DPI / sections.FRAME_DPI
        assert gif.size == (round(first.width * scale), round(first.height * scale))
        gif.seek(len(first.frames) - 1)
        last_gif = np.asarray(gif.convert("RGB")).astype(float)
    with Image.open(io.BytesIO(base64.b64decode(first.frames[-1]))) as im:
        last_slider = np.asarray(im.convert("RGB").resize(last_gif.shape[1::-1], Image.Resampling.LANCZOS))
    # the same picture (GIF palette and WebP compression apart)
    assert np.abs(last_gif - last_slider).mean() < 12
