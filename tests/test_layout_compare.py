"""Comparing layout methods over repeats: the tidy frame, input redraws, bad arguments."""

from __future__ import annotations

import pytest

from actconf.errors import InvalidParameterError
from actconf.layout import compare_layouts
from actconf.plots import plot_layout_comparison


@pytest.fixture
def synthetic_run(layout_run):
    """This file's name for conftest's ``layout_run`` (read only)."""
    return layout_run


@pytest.mark.slow  # matplotlib
def test_compare_layouts_frame_and_figure(planted, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    x, _ = planted
    frame = compare_layouts(x, methods=["random", "pca", "som+refine"], repeats=2, progress=False)
    fig = plot_layout_comparison(frame)
    assert list(frame.columns) == ["method", "repeat", "seed", "measure", "param", "value"]
    assert set(frame.method) == {"random", "pca", "som+refine"}
    per_layout = 10 + 10 + 6 + 1  # two curves, six scores, seconds
    assert len(frame) == 3 * 2 * per_layout
    scores = frame[frame.measure == "trustworthiness"].groupby("method")["value"].mean()
    assert scores["pca"] > scores["random"] and scores["som+refine"] > scores["random"]
    # redraw='seed' keeps the profiles: deterministic PCA is identical in both repeats
    pca = frame[(frame.method == "pca") & (frame.measure == "blur_auc")]["value"].to_numpy()
    assert pca[0] == pca[1]
    assert fig is not None and len(fig.axes) >= 6
    fig.savefig(tmp_path / "compare.png", dpi=50)
    assert (tmp_path / "compare.png").stat().st_size > 5000
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_layouts_redraws_inputs_from_a_run(synthetic_run):
    run, _, _ = synthetic_run
    frame = compare_layouts(run, layer="dense", methods={"pca": {"method": "pca"}}, repeats=2,
                            redraw="inputs", subsample=0.75, progress=False)
    pca = frame[frame.measure == "spearman"]["value"].to_numpy()
    assert pca[0] != pca[1]  # other samples, other profiles
    assert frame.attrs["redraw"] == "inputs"


def test_a_comparison_split_into_blocks_equals_one_call(synthetic_run):
    import pandas as pd

    run, _, _ = synthetic_run
    methods = ["random", "pca+refine", "som"]
    kwargs = {"layer": "dense", "methods": methods, "redraw": "inputs", "subsample": 0.75, "progress": False,
              "seed": 3}
    whole = compare_layouts(run, repeats=3, **kwargs)
    parts = pd.concat([compare_layouts(run, repeats=2, **kwargs),
                       compare_layouts(run, repeats=1, first_repeat=2, **kwargs)], ignore_index=True)
    keep = whole.measure != "seconds"
    assert sorted(set(parts["repeat"])) == [0, 1, 2] and set(parts[parts.repeat == 2]["seed"]) == {5}
    pd.testing.assert_frame_equal(whole[keep].reset_index(drop=True), parts[keep].reset_index(drop=True))
    # and a block alone differs from the first repeats (it is not the same seed again)
    alone = compare_layouts(run, repeats=1, first_repeat=2, **kwargs)
    first = whole[(whole.repeat == 0) & keep]["value"].to_numpy()
    assert not (alone[alone.measure != "seconds"]["value"].to_numpy() == first).all()


def test_compare_layouts_rejects_bad_arguments(planted):
    x, _ = planted
    with pytest.raises(InvalidParameterError, match="needs a run"):
        compare_layouts(x, redraw="inputs", progress=False)
    with pytest.raises(InvalidParameterError, match="'methods' parameter"):
        compare_layouts(x, methods=["umap+pso"], progress=False)
    with pytest.raises(InvalidParameterError, match="'repeats' parameter"):
        compare_layouts(x, repeats=0, progress=False)
    with pytest.raises(InvalidParameterError, match="'first_repeat' parameter"):
        compare_layouts(x, first_repeat=-1, progress=False)
    with pytest.raises(InvalidParameterError, match="'frame' parameter"):
        plot_layout_comparison(x)



@pytest.mark.slow  # matplotlib figures for the paper measure
def test_compare_layouts_with_the_paper_measure(planted):
    import numpy as np

    x, _ = planted
    x = x[:, :4]  # four maps per layout keep the paper measure quick
    methods = ["pca", "random"]
    both = compare_layouts(x, methods=methods, repeats=1, quality="both", progress=False)
    masked = compare_layouts(x, methods=methods, repeats=1, progress=False)
    paper_names = {"paper_resize_mse", "paper_blur_mse", "paper_resize_auc", "paper_blur_auc"}
    assert set(both.measure) == set(masked.measure) | paper_names
    assert both.attrs["quality"] == "both" and both.attrs["wraparound"] is False
    # the masked rows do not change when the paper measure is computed beside them
    keys = ["method", "repeat", "measure", "param"]
    merged = both.merge(masked, on=keys, suffixes=("_both", "_masked"))
    merged = merged[merged.measure != "seconds"]
    assert len(merged) == len(masked) - 2
    np.testing.assert_array_equal(merged.value_both, merged.value_masked)
    curve = both[both.measure == "paper_resize_mse"]
    assert sorted(set(curve.param)) == list(range(10, 56, 5))
    assert sorted(set(both[both.measure == "paper_blur_mse"].param)) == list(range(2, 21, 2))
    for (method, rep), part in curve.groupby(["method", "repeat"]):
        auc = both[(both.method == method) & (both.repeat == rep) & (both.measure == "paper_resize_auc")]
        ordered = part.sort_values("param", ascending=False)["value"].to_numpy()  # 55 px first, as the paper
        assert auc["value"].item() == pytest.approx(np.trapezoid(ordered), rel=1e-12)
    blur = both[both.measure == "paper_blur_auc"].groupby("method")["value"].mean()
    assert blur["pca"] < blur["random"]
    with pytest.raises(InvalidParameterError, match="wraparound"):
        compare_layouts(x, methods=methods, repeats=1, wraparound=True, progress=False)
    # a frame with the paper measure only draws its curves
    import matplotlib.pyplot as plt

    paper_only = both[~both.measure.isin(["resize_mse", "blur_mse", "resize_auc", "blur_auc"])]
    fig = plot_layout_comparison(paper_only)
    assert len(fig.axes[0].lines) == len(methods) and "paper" in fig.axes[0].get_title()
    assert [line.get_xdata().tolist() for line in fig.axes[1].lines][0] == list(range(2, 21, 2))
    plt.close(fig)
