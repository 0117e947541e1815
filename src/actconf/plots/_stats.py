"""Statistics figures: correlations, strength/distinctness, confidence, calibration.

Every function draws a table computed by :mod:`actconf.analysis` or
:mod:`actconf.confidence` (it never recomputes them) and returns a matplotlib
Figure, made outside pyplot's registry, so nothing is shown twice in notebooks.

=================================  ==============================================
figure                              input
=================================  ==============================================
:func:`plot_correlation`           :func:`actconf.analysis.activity_confidence`
:func:`plot_bin_statistics`        :func:`actconf.analysis.bin_statistics`
:func:`plot_confidence`            :func:`actconf.confidence.confidence`
:func:`plot_reliability`           :func:`actconf.confidence.reliability`
:func:`plot_calibration`           :func:`actconf.confidence.calibration`
=================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_int, check_option, param_error
from ._figure import axes_for, figure_for

__all__ = [
    "plot_bin_statistics",
    "plot_calibration",
    "plot_confidence",
    "plot_correlation",
    "plot_reliability",
]

_X_LABELS = {"step": "training step", "progress": "epochs", "snapshot": "snapshot", "epoch": "epoch",
             "time": "time [s]"}
_METRIC_LABELS = {
    "strength": "strength (mean |NAP|)",
    "mean_activation": "mean activation",
    "distinctness": "distinctness (split-half cosine distance)",
    "distinctness_plain": "distinctness (plain cosine distance)",
    "accuracy": "accuracy",
    "mean_confidence": "mean confidence",
    "ece_width": "ECE (equal width)",
    "ece_mass": "ECE (equal mass)",
    "nll": "NLL",
    "brier": "Brier score",
    "overconfidence": "confidence − accuracy",
}


# ---------------------------------------------------------------------------- helpers
def _check_table(table: Any, required: Sequence[str], source: str, caller: str):
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or not set(required) <= set(table.columns):
        got = type(table).__name__
        if isinstance(table, pd.DataFrame):
            got = f"a DataFrame without column(s) {sorted(set(required) - set(table.columns))}"
        raise param_error("table", caller, f"a DataFrame from {source}", got)
    if table.empty:
        raise param_error("table", caller, f"a non-empty DataFrame from {source}", "an empty DataFrame")
    return table


def _check_x(table: Any, x: str, caller: str) -> str:
    options = [c for c in _X_LABELS if c in table.columns]
    return check_option("x", x, options, caller)


def _epoch_marks(ax: Any, table: Any, x: str) -> None:
    """Dotted vertical lines at epoch ends when batch snapshots make epochs hard to see."""
    if x == "step" and "kind" in table and (table["kind"] == "batch").any():
        for value in table.loc[table["kind"] == "epoch", "step"].unique():
            ax.axvline(value, color="0.8", lw=0.6, ls=":", zorder=0)


def _snapshot_title(table: Any) -> str:
    label = table["label"].iloc[0] if "label" in table else f"snapshot {table['snapshot'].iloc[0]}"
    return str(label)


def _pick_snapshots(snaps: np.ndarray, select: Any, max_panels: int, caller: str) -> np.ndarray:
    """Snapshots to draw: given ones (validated) or up to ``max_panels`` evenly spaced."""
    if select is None:
        if snaps.size <= max_panels:
            return snaps
        pos = np.unique(np.round(np.linspace(0, snaps.size - 1, max_panels)).astype(int))
        return snaps[pos]
    wanted = np.atleast_1d(np.asarray(select))
    if wanted.dtype.kind not in "iu" or not np.isin(wanted, snaps).all():
        raise param_error("snapshots", caller, "snapshot numbers present in the table "
                          f"({snaps.min()}..{snaps.max()})", select)
    return wanted


# ---------------------------------------------------------------------------- correlation
def plot_correlation(
    table: Any,
    *,
    x: str = "step",
    ax: Any = None,
    title: str | None = None,
    control: bool = True,
):
    """Sample-level Spearman correlation of confidence and activity over training.

    One line per layer with its bootstrap confidence band; a dashed horizontal line at
    the layer's first (untrained) value, the baseline every later value is compared
    with; and, when the table has them (``activity_confidence(control=True)``), the
    scale-controlled correlation (partialled on the logit spread) as a dotted line
    with its own band.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`actconf.analysis.activity_confidence`.
    x : {"step", "progress", "snapshot", "epoch"}, default="step"
        Training-time axis (``progress`` = epochs as a float).
    ax : matplotlib Axes, optional
        Draw here (default: a new figure).
    title : str, optional
    control : bool, default=True
        Draw the scale-controlled correlation when the table has it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    caller = "plot_correlation()"
    table = _check_table(table, ["rho", "ci_low", "ci_high", "layer"], "actconf.analysis.activity_confidence()", caller)
    x = _check_x(table, x, caller)
    fig, ax = axes_for(ax, (6.0, 3.6), caller)
    layers = list(dict.fromkeys(table["layer"]))
    colors = sns.color_palette("colorblind", len(layers))
    ctrl = control and "rho_ctrl" in table.columns
    for layer, color in zip(layers, colors, strict=True):
        sub = table[table["layer"] == layer].sort_values(x)
        ax.fill_between(sub[x], sub["ci_low"], sub["ci_high"], color=color, alpha=0.25, lw=0)
        ax.plot(sub[x], sub["rho"], color=color, lw=1.6, marker="o" if len(sub) <= 30 else None, ms=3,
                label=f"{layer}: raw" if ctrl else layer)
        if ctrl:
            ax.fill_between(sub[x], sub["ci_low_ctrl"], sub["ci_high_ctrl"], color=color, alpha=0.12, lw=0)
            ax.plot(sub[x], sub["rho_ctrl"], color=color, lw=1.4, ls=":", label=f"{layer}: controlled for logit spread")
        first = sub.sort_values("snapshot")["rho"].iloc[0] if "snapshot" in sub else sub["rho"].iloc[0]
        if np.isfinite(first):
            ax.axhline(first, color=color, lw=0.9, ls="--", alpha=0.8)
    ax.axhline(0, color="0.3", lw=0.8)
    _epoch_marks(ax, table, x)
    ax.set_xlabel(_X_LABELS[x])
    activity = table["activity"].iloc[0] if "activity" in table else "activity"
    measure = table["measure"].iloc[0] if "measure" in table else "confidence"
    ax.set_ylabel(f"Spearman ρ ({measure} vs {activity})")
    cols = ["ci_low", "rho", "ci_high"] + (["ci_low_ctrl", "rho_ctrl", "ci_high_ctrl"] if ctrl else [])
    lo = float(np.nanmin(table[cols].to_numpy(dtype=float), initial=0))
    hi = float(np.nanmax(table[cols].to_numpy(dtype=float), initial=0))
    ax.set_ylim(min(-0.1, lo - 0.05), max(0.1, hi + 0.05))
    ci = table.attrs.get("ci")
    band = f"; bands: {ci * 100:.0f}% bootstrap CI" if ci else ""
    ax.set_title(title if title is not None else
                 f"Confidence vs layer activity per sample\n(dashed: untrained state{band})", fontsize=10)
    if len(layers) > 1 or ctrl:
        ax.legend(fontsize=7.5, frameon=False, loc="best")
    sns.despine(ax=ax)
    return fig


# ---------------------------------------------------------------------------- bins
def plot_bin_statistics(
    table: Any,
    *,
    metrics: Sequence[str] = ("strength", "distinctness"),
    layer: str | None = None,
    x: str = "step",
    fig: Any = None,
):
    """Strength and distinctness per confidence bin over training.

    One panel per metric; one line per confidence bin, coloured from low (light) to high
    (dark) confidence; a dashed line at the untrained value (the first snapshot's mean
    over bins), the baseline of every change.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`actconf.analysis.bin_statistics`.
    metrics : sequence of str, default=("strength", "distinctness")
        Columns to draw (also ``"mean_activation"``).
    layer : str, optional
        Which layer of the table (required when it holds several).
    x : {"step", "progress", "snapshot", "epoch"}, default="step"
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    caller = "plot_bin_statistics()"
    table = _check_table(table, ["bin", "bin_index", "layer"], "actconf.analysis.bin_statistics()", caller)
    x = _check_x(table, x, caller)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in table.columns:
            raise param_error("metrics", caller, "columns of the table such as 'strength', 'distinctness', "
                              "'mean_activation'", metric)
    layers = list(dict.fromkeys(table["layer"]))
    if layer is None:
        if len(layers) > 1:
            raise param_error("layer", caller, "one of " + ", ".join(map(repr, layers))
                              + " (the table holds several layers)", None)
        layer = layers[0]
    elif layer not in layers:
        raise param_error("layer", caller, "one of " + ", ".join(map(repr, layers)), layer)
    sub = table[table["layer"] == layer]
    bins = sub[["bin_index", "bin"]].drop_duplicates().sort_values("bin_index")
    palette = sns.color_palette("rocket_r", len(bins) + 1)[1:]  # low confidence light ... high dark
    fig = figure_for(fig, (4.2 * len(metrics) + 1.0, 3.5), caller)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    first = sub["snapshot"].min()
    for ax, metric in zip(axes, metrics, strict=True):
        for (b, label), color in zip(bins.itertuples(index=False), palette, strict=True):
            line = sub[sub["bin_index"] == b].sort_values(x)
            if line[metric].notna().any():
                ax.plot(line[x], line[metric], color=color, lw=1.5, label=label,
                        marker="o" if len(line) <= 30 else None, ms=2.5)
        baseline = sub.loc[sub["snapshot"] == first, metric].mean()
        if np.isfinite(baseline):
            ax.axhline(baseline, color="0.35", lw=0.9, ls="--", label="untrained (mean over bins)")
        _epoch_marks(ax, sub, x)
        ax.set_xlabel(_X_LABELS[x])
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        ax.set_title(f"{_METRIC_LABELS.get(metric, metric).split(' (')[0]} per confidence bin", fontsize=10)
        sns.despine(ax=ax)
    cmap = ListedColormap(palette)
    norm = BoundaryNorm(np.arange(len(bins) + 1) - 0.5, len(bins))
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), ticks=np.arange(len(bins)),
                      shrink=0.9, pad=0.02)
    cb.ax.set_yticklabels(list(bins["bin"]), fontsize=7)
    cb.set_label(f"confidence bin ({table.attrs.get('measure', 'confidence')})", fontsize=8)
    fig.suptitle(f"layer {layer}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------- confidence
def plot_confidence(
    conf: Any,
    *,
    kind: str = "auto",
    by_correct: bool = True,
    max_snapshots: int = 12,
    ax: Any = None,
):
    """Distribution of the probe samples' confidence at every snapshot.

    Parameters
    ----------
    conf : xarray.DataArray (snapshot, sample)
        From :func:`actconf.confidence.confidence` (its ``prediction`` and ``label``
        coordinates separate correct from wrong predictions).
    kind : {"auto", "violin", "heatmap"}, default="auto"
        Split violins per snapshot (correct vs wrong), or a density image over all
        snapshots (x: training step, y: confidence, colour: share of samples) with
        the median and quartiles. ``auto`` picks violins up to ``max_snapshots``
        snapshots.
    by_correct : bool, default=True
        Violins: split into correctly and wrongly predicted samples.
    max_snapshots : int, default=12
    ax : matplotlib Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns
    import xarray as xr

    caller = "plot_confidence()"
    if not isinstance(conf, xr.DataArray) or set(conf.dims) != {"snapshot", "sample"}:
        raise param_error("conf", caller, "a DataArray (snapshot, sample) from actconf.confidence.confidence()",
                          type(conf).__name__)
    kind = check_option("kind", kind, ("auto", "violin", "heatmap"), caller)
    max_snapshots = check_int("max_snapshots", max_snapshots, caller, min_value=1)
    conf = conf.transpose("snapshot", "sample")
    values = np.asarray(conf.values, dtype=float)
    n_snap = values.shape[0]
    if kind == "auto":
        kind = "violin" if n_snap <= max_snapshots else "heatmap"
    measure = conf.attrs.get("measure", conf.name or "confidence")
    bounded = measure != "energy"
    if kind == "violin":
        fig, ax = axes_for(ax, (max(4.5, 0.75 * n_snap + 1.5), 3.6), caller)
        _confidence_violins(ax, conf, values, by_correct=by_correct, bounded=bounded)
    else:
        fig, ax = axes_for(ax, (6.5, 3.6), caller)
        _confidence_density(fig, ax, conf, values, bounded=bounded)
    ax.set_ylabel(f"confidence ({measure})")
    ax.set_title(f"Confidence of {values.shape[1]} probe samples", fontsize=10)
    sns.despine(ax=ax)
    return fig


def _violin_names(conf: Any) -> list[str]:
    """Short x labels per snapshot: ``"ep. 1\\nb. 10"``, else epochs (with steps when epochs repeat)."""
    if "snapshot_label" in conf.coords:  # "initial", "epoch 1 · batch 10", "epoch 3"
        return [str(x).replace("epoch ", "ep. ").replace(" · batch ", "\nb. ") for x in conf["snapshot_label"].values]
    names = [f"{int(e)}" for e in conf["epoch"].values] if "epoch" in conf.coords else \
        [str(s) for s in conf["snapshot"].values]
    if "step" in conf.coords and len(set(names)) < len(names):
        names = [f"{e}·{s}" for e, s in zip(names, conf["step"].values, strict=True)]
    return names


def _confidence_violins(ax: Any, conf: Any, values: np.ndarray, *, by_correct: bool, bounded: bool) -> None:
    """One violin per snapshot, split into correct and wrong predictions when the labels are known."""
    import pandas as pd
    import seaborn as sns

    names = _violin_names(conf)
    long = pd.DataFrame({"snapshot": np.repeat(names, values.shape[1]), "confidence": values.ravel()})
    if by_correct and "prediction" in conf.coords and "label" in conf.coords:
        correct = np.asarray(conf["prediction"].values) == np.asarray(conf["label"].values)[None, :]
        long["prediction is"] = np.where(correct.ravel(), "correct", "wrong")
        sns.violinplot(data=long, x="snapshot", y="confidence", hue="prediction is", split=True,
                       hue_order=["correct", "wrong"], palette={"correct": "#4c72b0", "wrong": "#dd8452"},
                       cut=0, inner="quart", density_norm="width", linewidth=0.7, ax=ax)
        ax.legend(title="prediction", fontsize=8, title_fontsize=8, frameon=False, loc="lower right")
    else:
        sns.violinplot(data=long, x="snapshot", y="confidence", color="#4c72b0", cut=0, inner="quart",
                       density_norm="width", linewidth=0.7, ax=ax)
    ax.set_xlabel("snapshot" if "snapshot_label" in conf.coords else
                  ("epoch" if "·" not in names[0] else "epoch·step"))
    if bounded:
        ax.set_ylim(0, 1.02)


def _confidence_density(fig: Any, ax: Any, conf: Any, values: np.ndarray, *, bounded: bool) -> None:
    """Share of samples per confidence bin (colour) over training, with the median and quartiles."""
    n_snap = values.shape[0]
    xs = np.asarray(conf["step"].values if "step" in conf.coords else conf["snapshot"].values, dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = (0.0, 1.0) if bounded else (float(finite.min()), float(finite.max()))
    edges = np.linspace(lo, hi, 41)
    hist = np.stack([np.histogram(v[np.isfinite(v)], bins=edges)[0] for v in values]).astype(float)
    hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1)
    x_edges = np.concatenate([[xs[0] - 0.5 * (xs[1] - xs[0]) if n_snap > 1 else xs[0] - 0.5],
                              (xs[1:] + xs[:-1]) / 2,
                              [xs[-1] + 0.5 * (xs[-1] - xs[-2]) if n_snap > 1 else xs[-1] + 0.5]])
    mesh = ax.pcolormesh(x_edges, edges, hist.T, cmap="Blues", shading="flat", rasterized=True)
    q = np.nanpercentile(values, [25, 50, 75], axis=1)
    ax.plot(xs, q[1], color="#c44e52", lw=1.4, label="median")
    ax.plot(xs, q[0], color="#c44e52", lw=0.8, ls="--", label="quartiles")
    ax.plot(xs, q[2], color="#c44e52", lw=0.8, ls="--")
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    cb.set_label("share of samples", fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_xlabel("training step" if "step" in conf.coords else "snapshot")


# ---------------------------------------------------------------------------- calibration
def plot_reliability(
    table: Any,
    *,
    snapshots: Any = None,
    max_panels: int = 4,
    fig: Any = None,
):
    """Reliability diagrams: accuracy against confidence per bin, one panel per snapshot.

    Bars show the accuracy of each bin over the bin's extent (for equal-mass bins:
    from its smallest to its largest confidence); the diagonal is perfect calibration and the
    hatched part of each bar is the gap to it (red: overconfident, blue:
    underconfident), reaching the bin's mean confidence; for equal-width bins black
    outlines along the bottom show how many samples each bin holds (scaled so the
    fullest bin reaches a quarter of the height). The titles give the ECE.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`actconf.confidence.reliability`.
    snapshots : int or list of int, optional
        Snapshot numbers to draw (values of the ``snapshot`` column); by default up to
        ``max_panels`` evenly spaced, including the first and the last.
    max_panels : int, default=4
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    caller = "plot_reliability()"
    table = _check_table(table, ["snapshot", "bin", "lower", "upper", "count", "mean_confidence", "accuracy",
                                 "gap", "weight"], "actconf.confidence.reliability()", caller)
    max_panels = check_int("max_panels", max_panels, caller, min_value=1)
    snaps = _pick_snapshots(np.asarray(table["snapshot"].unique()), snapshots, max_panels, caller)
    strategy = table.attrs.get("strategy", "width")
    fig = figure_for(fig, (max(3.0 * len(snaps) + 0.4, 6.0), 3.7), caller)
    axes = fig.subplots(1, len(snaps), squeeze=False, sharey=True)[0]
    for ax, snap in zip(axes, snaps, strict=True):
        sub = table[table["snapshot"] == snap]
        filled = sub[sub["count"] > 0]
        lo, hi = filled["lower"].to_numpy(float), filled["upper"].to_numpy(float)
        left, width = lo, np.maximum(hi - lo, 0.008)  # equal-mass bins span their samples' confidences
        pad = 0.03 * width
        acc = filled["accuracy"].to_numpy(float)
        conf = filled["mean_confidence"].to_numpy(float)
        ax.bar(left + pad, acc, width=width - 2 * pad, align="edge", color="#4c72b0", lw=0)
        over = conf > acc
        ax.bar(left + pad, conf - acc, bottom=acc, width=width - 2 * pad, align="edge",
               color=np.where(over, "#f4a582", "#92c5de"), alpha=0.55,
               edgecolor=np.where(over, "#b2182b", "#2166ac"), hatch="///", lw=0.6)
        ax.plot([0, 1], [0, 1], color="0.3", ls="--", lw=0.9)
        if strategy != "mass":  # equal-mass bins hold the same share by construction
            share = filled["weight"].to_numpy(float)
            ax.bar(left + pad, 0.25 * share / max(float(share.max()), 1e-12), width=width - 2 * pad,
                   align="edge", fill=False, edgecolor="0.15", lw=0.8)
        ece = float((sub["weight"] * sub["gap"].abs()).sum())
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_box_aspect(1)
        ax.set_xlabel("confidence")
        ax.set_title(f"{_snapshot_title(sub)} · ECE = {ece:.3f}", fontsize=9)
        sns.despine(ax=ax)
    axes[0].set_ylabel("accuracy")
    fig.suptitle(f"Reliability ({table.attrs.get('measure', 'max_softmax')}, "
                 f"{'equal-mass' if strategy == 'mass' else 'equal-width'} bins). Hatched: gap to the "
                 "diagonal (red over-, blue underconfident)"
                 + ("" if strategy == "mass" else "; outline: share of samples"), fontsize=9)
    return fig


def plot_calibration(
    tables: Any,
    *,
    x: str = "step",
    fig: Any = None,
):
    """Accuracy, confidence, ECE, NLL and Brier score over training.

    Parameters
    ----------
    tables : pandas.DataFrame or dict of str to DataFrame
        From :func:`actconf.confidence.calibration`; a dict compares several (e.g.
        ``{"softmax": cal, "temperature-scaled": cal_t}``) in one figure.
    x : {"step", "progress", "snapshot", "epoch"}, default="step"
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: accuracy and mean confidence; ECE (equal-width solid,
        equal-mass dashed); NLL and Brier score.
    """
    import pandas as pd
    import seaborn as sns

    caller = "plot_calibration()"
    if isinstance(tables, pd.DataFrame):
        tables = {tables.attrs.get("measure", "max_softmax"): tables}
    if not isinstance(tables, Mapping) or not tables:
        raise param_error("tables", caller, "a DataFrame from actconf.confidence.calibration() or a dict of them",
                          type(tables).__name__)
    required = ["accuracy", "mean_confidence", "ece_width", "ece_mass", "nll", "brier"]
    for name, table in tables.items():
        _check_table(table, required, "actconf.confidence.calibration()", caller)
        x = _check_x(table, x, caller) if name == next(iter(tables)) else x
        if x not in table.columns:
            raise param_error("x", caller, f"a column of every table (missing in {name!r})", x)
    fig = figure_for(fig, (12.0, 3.6 + 0.25 * len(tables)), caller)
    axes = fig.subplots(1, 3)
    colors = sns.color_palette("colorblind", len(tables))
    marker = None
    for (name, table), color in zip(tables.items(), colors, strict=True):
        t = table.sort_values(x)
        marker = "o" if len(t) <= 30 else None
        prefix = f"{name}: " if len(tables) > 1 else ""
        axes[0].plot(t[x], t["mean_confidence"], color=color, lw=1.5, ls="--", marker=marker, ms=2.5,
                     label=f"{prefix}mean confidence")
        axes[1].plot(t[x], t["ece_width"], color=color, lw=1.5, marker=marker, ms=2.5, label=f"{prefix}equal width")
        axes[1].plot(t[x], t["ece_mass"], color=color, lw=1.2, ls="--", label=f"{prefix}equal mass")
        axes[2].plot(t[x], t["nll"], color=color, lw=1.5, marker=marker, ms=2.5, label=f"{prefix}NLL")
        axes[2].plot(t[x], t["brier"], color=color, lw=1.2, ls="--", label=f"{prefix}Brier")
    first = next(iter(tables.values())).sort_values(x)
    accs = [t.sort_values(x)["accuracy"].to_numpy(float) for t in tables.values()]
    same = all(a.shape == accs[0].shape and np.allclose(a, accs[0], equal_nan=True) for a in accs)
    if same:  # e.g. temperature scaling keeps every prediction: one accuracy line
        axes[0].plot(first[x], first["accuracy"], color="k", lw=1.6, marker=marker, ms=2.5, label="accuracy",
                     zorder=3)
    else:
        for (name, table), color in zip(tables.items(), colors, strict=True):
            t = table.sort_values(x)
            axes[0].plot(t[x], t["accuracy"], color=color, lw=1.6, marker=marker, ms=2.5,
                         label=f"{name}: accuracy", zorder=3)
    axes[0].set_ylim(0, 1.02)
    titles = ("accuracy (solid), mean confidence (dashed)" if not same else
              "accuracy (black), mean confidence (dashed)",
              "ECE: equal-width bins (solid), equal-mass (dashed)",
              "NLL (solid), Brier score (dashed); lower is better")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xlabel(_X_LABELS[x])
        ax.set_title(title, fontsize=9)
        _epoch_marks(ax, first, x)
        sns.despine(ax=ax)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2) for c in colors]
    names = [str(n) for n in tables]
    if same:
        handles.append(Line2D([], [], color="k", lw=2))
        names.append("accuracy")
    fig.legend(handles, names, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=8)
    axes[1].set_ylim(bottom=0)
    axes[2].set_ylim(bottom=0)
    return fig
