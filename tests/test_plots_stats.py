"""Statistics figures: they draw what the tables hold, render to PNG, and reject wrong input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy import special

from actconf.analysis import activity_confidence, bin_statistics
from actconf.confidence import calibration, confidence, reliability
from actconf.errors import InvalidParameterError
from actconf.plots import (
    plot_bin_statistics,
    plot_calibration,
    plot_confidence,
    plot_correlation,
    plot_reliability,
)
from actconf.testing import write_synthetic_run

S, N, K = 5, 120, 3


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    rng = np.random.default_rng(0)
    labels = np.arange(N) % K
    scale = np.linspace(0.3, 3, S)[:, None, None]
    logits = rng.normal(size=(S, N, K)) * scale
    logits[:, np.arange(N), labels] += scale[..., 0]
    conf = special.softmax(logits, -1).max(-1)
    acts = np.maximum(0, conf[..., None] * rng.random((K, 8))[labels] + 0.1 * rng.normal(size=(S, N, 8)))
    path = tmp_path_factory.mktemp("plots") / "run"
    return write_synthetic_run(path, activations={"a": acts, "b": acts[..., :4]}, labels=labels, logits=logits)


@pytest.fixture(scope="session")
def tables(run):
    return {
        "corr": activity_confidence(run, n_boot=50),
        "bins": bin_statistics(run, bins=[0.3, 0.5, 0.7, 0.9, 1.0], min_size=2),
        "rel": reliability(run, n_bins=8),
        "cal": calibration(run),
    }


def _png(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=50)
    assert path.stat().st_size > 2000
    return path


def test_plot_correlation(tables, tmp_path):
    from matplotlib.figure import Figure

    fig = plot_correlation(tables["corr"], control=False)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("a", "b")]
    assert len(lines) == 2
    a = tables["corr"][tables["corr"]["layer"] == "a"]
    np.testing.assert_allclose(lines[0].get_ydata(), a["rho"])
    assert len(ax.collections) == 2  # one CI band per layer
    # a dashed baseline per layer at its first (untrained) value
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(ln.get_ydata()[0] for ln in dashed) == pytest.approx(
        sorted(tables["corr"].sort_values("snapshot").groupby("layer")["rho"].first()))
    # with the scale control: raw and controlled curves, two bands per layer
    fig = plot_correlation(tables["corr"])
    ax = fig.axes[0]
    ctrl = [ln for ln in ax.get_lines() if ln.get_label() == "a: controlled for logit spread"][0]
    np.testing.assert_allclose(ctrl.get_ydata(), a["rho_ctrl"])
    raw = [ln for ln in ax.get_lines() if ln.get_label() == "a: raw"][0]
    np.testing.assert_allclose(raw.get_ydata(), a["rho"])
    assert len(ax.collections) == 4
    assert "Spearman" in ax.get_ylabel()
    _png(fig, tmp_path, "corr")
    fig = plot_correlation(tables["corr"], x="progress")
    assert fig.axes[0].get_xlabel() == "epochs"


def test_plot_correlation_into_given_axes(tables):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_correlation(tables["corr"], ax=ax) is fig


def test_plot_bin_statistics(tables, tmp_path):
    fig = plot_bin_statistics(tables["bins"], layer="a")
    axes = fig.axes[:2]
    assert [a.get_ylabel().split(" (")[0] for a in axes] == ["strength", "distinctness"]
    labels = {line.get_label() for line in axes[0].get_lines()} - {"untrained (mean over bins)"}
    assert labels <= set(tables["bins"]["bin"]) and len(labels) >= 3
    base = [ln for ln in axes[0].get_lines() if ln.get_label() == "untrained (mean over bins)"][0]
    bins_a = tables["bins"][tables["bins"]["layer"] == "a"]
    first = bins_a[bins_a["snapshot"] == bins_a["snapshot"].min()]["strength"].mean()
    assert base.get_ydata()[0] == pytest.approx(first)
    _png(fig, tmp_path, "bins")
    fig = plot_bin_statistics(tables["bins"], layer="b", metrics="mean_activation")
    assert fig.axes[0].get_ylabel() == "mean activation"


def test_plot_confidence_violin_and_heatmap(run, tmp_path):
    conf = confidence(run)
    fig = plot_confidence(conf)
    assert len(fig.axes[0].get_xticklabels()) == S
    assert fig.axes[0].get_legend() is not None  # split by correct / wrong
    _png(fig, tmp_path, "violin")
    fig = plot_confidence(conf, kind="heatmap")
    median = [line for line in fig.axes[0].get_lines() if line.get_label() == "median"][0]
    np.testing.assert_allclose(median.get_ydata(), np.median(conf.values, axis=1))
    _png(fig, tmp_path, "heat")
    energy = confidence(run, measure="energy")  # unbounded: the axis follows the data
    fig = plot_confidence(energy, kind="heatmap")
    assert fig.axes[0].get_ylim()[1] == pytest.approx(float(energy.max()))
    assert plot_confidence(conf, max_snapshots=2).axes[0].collections  # auto -> heatmap


def test_plot_reliability(tables, tmp_path):
    fig = plot_reliability(tables["rel"], snapshots=[0, S - 1])
    axes = [a for a in fig.axes if a.get_title()]
    assert len(axes) == 2
    rel = tables["rel"]
    last = rel[rel["snapshot"] == S - 1]
    ece = (last["weight"] * last["gap"].abs()).sum()
    assert f"ECE = {ece:.3f}" in axes[1].get_title()
    _png(fig, tmp_path, "rel")
    fig = plot_reliability(tables["rel"], max_panels=3)  # evenly spaced, first and last included
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert len(titles) == 3 and titles[0].startswith("initial") and titles[-1].startswith(f"epoch {S - 1}")


def test_plot_reliability_equal_mass(run, tmp_path):
    fig = plot_reliability(reliability(run, n_bins=5, strategy="mass"))
    assert "equal-mass" in fig.texts[0].get_text()
    _png(fig, tmp_path, "rel_mass")


def test_plot_calibration(run, tables, tmp_path):
    fig = plot_calibration(tables["cal"])
    assert len(fig.axes) == 3
    acc = [line for line in fig.axes[0].get_lines() if line.get_label() == "accuracy"]
    np.testing.assert_allclose(acc[0].get_ydata(), tables["cal"]["accuracy"])
    _png(fig, tmp_path, "cal")
    both = plot_calibration({"softmax": tables["cal"], "temperature": calibration(run, measure="temperature")})
    labels = [line.get_label() for line in both.axes[1].get_lines()]
    assert "temperature: equal width" in labels and "softmax: equal mass" in labels


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda t: plot_correlation(t["bins"]), "activity_confidence()"),
        (lambda t: plot_correlation(t["corr"], x="wallclock"), "'x' parameter"),
        (lambda t: plot_correlation(t["corr"].iloc[0:0]), "non-empty"),
        (lambda t: plot_bin_statistics(t["bins"]), "several layers"),
        (lambda t: plot_bin_statistics(t["bins"], layer="zzz"), "'layer'"),
        (lambda t: plot_bin_statistics(t["bins"], layer="a", metrics=["loud"]), "'metrics'"),
        (lambda t: plot_reliability(t["rel"], snapshots=[99]), "'snapshots'"),
        (lambda t: plot_reliability(t["cal"]), "reliability()"),
        (lambda t: plot_calibration(t["rel"]), "calibration()"),
        (lambda t: plot_calibration({}), "'tables'"),
        (lambda t: plot_confidence(t["cal"]), "'conf'"),
        (lambda t: plot_confidence(None, kind="pie"), "'conf'"),
    ],
)
def test_bad_input(tables, call, fragment):
    with pytest.raises(InvalidParameterError) as info:
        call(tables)
    assert fragment in str(info.value)


@pytest.mark.slow
def test_figures_from_a_real_recording(recorded_digits, tmp_path):
    from actconf.store import open_run

    rec = open_run(recorded_digits["path"])
    corr = activity_confidence(rec, n_boot=50)
    fig = plot_correlation(corr)
    _png(fig, tmp_path, "real_corr")
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "hidden_1: raw"][0]
    np.testing.assert_allclose(line.get_ydata(), corr[corr["layer"] == "hidden_1"].sort_values("step")["rho"])
    bins = bin_statistics(rec, bins="quantile:4", min_size=2)
    fig = plot_bin_statistics(bins, layer="hidden_1")
    _png(fig, tmp_path, "real_bins")
    curves = {ln.get_label() for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    curves -= {"untrained (mean over bins)"}
    assert curves and curves <= set(bins["bin"])  # the rest are dotted epoch marks
    assert fig.texts[0].get_text() == "layer hidden_1"
    conf = confidence(rec)
    fig = plot_confidence(conf)
    _png(fig, tmp_path, "real_conf")
    if rec.n_snapshots <= 12:  # violins, one per snapshot
        assert len(fig.axes[0].get_xticklabels()) == rec.n_snapshots
    else:  # density image; its median line is the samples' median
        median = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "median"][0]
        np.testing.assert_allclose(median.get_ydata(), np.median(conf.values, axis=1))
    rel = reliability(rec, n_bins=10)
    fig = plot_reliability(rel)
    _png(fig, tmp_path, "real_rel")
    last = rel[rel["snapshot"] == rel["snapshot"].max()]
    assert f"ECE = {(last['weight'] * last['gap'].abs()).sum():.3f}" in fig.axes[-1].get_title()
    fig = plot_calibration({"softmax": calibration(rec), "MC dropout": calibration(rec, measure="mc_dropout")})
    _png(fig, tmp_path, "real_cal")
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["softmax", "MC dropout"]
