"""The paper's claim as a figure: every statement over training, with its baseline and verdict.

=================================  ==============================================
figure                              input
=================================  ==============================================
:func:`plot_claims`                :func:`actconf.analysis.claim_summary` and
                                   :func:`actconf.analysis.statement_trajectories`
=================================  ==============================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, param_error
from ._figure import figure_for

__all__ = ["plot_claims"]

#: verdict -> colour (the report's colours)
VERDICT_COLORS = {"supported": "#1a7f37", "contradicted": "#b3261e", "not supported": "#8a6d00"}
_SHORT = {
    "strength_time": "strength (all samples)",
    "strength_time_groups": "strength (within confidence groups)",
    "distinct_time": "distinctness (all samples)",
    "distinct_time_groups": "distinctness (within confidence groups)",
    "strength_confidence": "strength: most − least confident",
    "distinct_confidence": "distinctness: most − least confident",
    "sample_relation": "ρ(confidence, activity)",
    "sample_relation_ctrl": "ρ controlled for logit spread",
}


def _check(claims: Any, trajectories: Any, layer: Any, x: str, caller: str):
    import pandas as pd

    for name, value, cols in (("claims", claims, {"layer", "statement", "verdict", "effect", "p_value"}),
                              ("trajectories", trajectories, {"layer", "statement", "run", "value"})):
        if not isinstance(value, pd.DataFrame) or not cols <= set(value.columns):
            raise param_error(name, caller, f"the DataFrame of actconf.analysis.{'claim_summary' if name == 'claims' else 'statement_trajectories'}()",
                              type(value).__name__)
    layers = list(dict.fromkeys(claims["layer"]))
    if layer is None:
        layer = layers[0]
    elif layer not in layers:
        raise param_error("layer", caller, "one of " + ", ".join(map(repr, layers)), layer)
    check_option("x", x, [c for c in ("progress", "step", "snapshot") if c in trajectories.columns], caller)
    return layer


def plot_claims(claims: Any, trajectories: Any, *, layer: str | None = None, x: str = "progress",
                fig: Any = None):
    """One panel per statement: its statistic over training, the untrained baseline, the verdict.

    Parameters
    ----------
    claims : pandas.DataFrame
        From :func:`actconf.analysis.claim_summary`.
    trajectories : pandas.DataFrame
        From :func:`actconf.analysis.statement_trajectories` (same runs and options).
    layer : str, optional
        The layer to draw (default: the first in ``claims``).
    x : {"progress", "step", "snapshot"}, default="progress"
        Training-time axis.
    fig : matplotlib Figure, optional
        An empty figure to fill.

    Returns
    -------
    matplotlib.figure.Figure
        Thin lines: runs; thick line: their mean; dashed: the mean untrained value (the
        baseline every change is measured from). Each title gives the verdict (coloured),
        the change and its p-value.
    """
    from ..analysis import format_p

    caller = "plot_claims()"
    layer = _check(claims, trajectories, layer, x, caller)
    rows = claims[claims["layer"] == layer].set_index("statement")
    traj = trajectories[trajectories["layer"] == layer]
    keys = [k for k in rows.index if k in set(traj["statement"])]
    ncols = 4
    nrows = -(-len(keys) // ncols)
    fig = figure_for(fig, (3.3 * ncols, 2.7 * nrows + 0.6), caller)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys, strict=False):
        _panel(ax, traj[traj["statement"] == key], rows.loc[key], key, x, format_p)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    n_runs = int(rows["n_runs"].iloc[0]) if "n_runs" in rows else traj["run"].nunique()
    unit = "one run" if n_runs == 1 else f"{n_runs} runs (t-test across runs)"
    fig.suptitle(f"{layer}: the paper's claim, part by part — {unit}; dashed = untrained", fontsize=11)
    return fig


def _panel(ax: Any, part: Any, row: Any, key: str, x: str, format_p: Any) -> None:
    color = VERDICT_COLORS.get(str(row["verdict"]), "0.3")
    runs = list(dict.fromkeys(part["run"]))
    for r in runs:
        line = part[part["run"] == r].sort_values(x)
        ax.plot(line[x], line["value"], color=color, lw=0.8 if len(runs) > 1 else 1.6, alpha=0.45
                if len(runs) > 1 else 1.0, marker="o" if len(runs) == 1 and len(line) <= 30 else None, ms=2.5)
    if len(runs) > 1:
        mean = part.groupby("snapshot").agg(value=("value", "mean"), t=(x, "mean")).sort_values("t")
        ax.plot(mean["t"], mean["value"], color=color, lw=2.2)
    baseline = part.sort_values(x).groupby("run")["value"].first().mean()
    if np.isfinite(baseline):
        ax.axhline(baseline, color="0.35", lw=0.9, ls="--")
    p_text = str(row["p_text"]) if "p_text" in row else format_p(float(row["p_value"]))
    ax.set_title(f"{_SHORT.get(key, key)}\n{row['verdict']}: Δ = {row['effect']:+.3g}, {p_text}", fontsize=8.5,
                 color=color)
    ax.set_xlabel({"progress": "epochs", "step": "training step", "snapshot": "snapshot"}[x], fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25, lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
