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


def test_compare_layouts_rejects_bad_arguments(planted):
    x, _ = planted
    with pytest.raises(InvalidParameterError, match="needs a run"):
        compare_layouts(x, redraw="inputs", progress=False)
    with pytest.raises(InvalidParameterError, match="'methods' parameter"):
        compare_layouts(x, methods=["umap+pso"], progress=False)
    with pytest.raises(InvalidParameterError, match="'repeats' parameter"):
        compare_layouts(x, repeats=0, progress=False)
    with pytest.raises(InvalidParameterError, match="'frame' parameter"):
        plot_layout_comparison(x)

