"""Figures of a run's training record, and the choice of snapshots to show."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, check_run, param_error
from ..errors import MissingDataError
from ._figure import figure_for

__all__ = ["pick_snapshots", "plot_training"]


def pick_snapshots(run: Any, *, n: int = 6) -> list[int]:
    """Up to ``n`` snapshot positions spread over training, dense early, sparse late.

    Learning is fastest at the start, so besides the first snapshot (usually the
    untrained network) and the last one, the picks are the snapshots nearest to
    geometrically spaced moments of training progress in between; when two moments
    share a nearest snapshot, the next nearest unused one is taken, so exactly
    ``n`` come back whenever the run has at least ``n`` snapshots.

    Parameters
    ----------
    run : Run
    n : int, default=6
        At least 2.

    Returns
    -------
    list of int
        Increasing snapshot positions, always including the first and the last.
    """
    check_run(run, "pick_snapshots()")
    check_int("n", n, "pick_snapshots()", min_value=2)
    progress = run.snapshots["progress"].to_numpy(dtype=float)
    if len(progress) == 0:
        raise MissingDataError("pick_snapshots(): the run has no snapshots yet.")
    if len(progress) <= n:
        return list(range(len(progress)))
    chosen = [0, len(progress) - 1]
    positive = progress[progress > 0]
    if positive.size:
        for target in np.geomspace(positive.min(), progress.max(), n - 1)[:-1]:
            for idx in np.argsort(np.abs(progress - target), kind="stable"):
                if int(idx) not in chosen:
                    chosen.append(int(idx))
                    break
    return sorted(chosen)


def plot_training(run: Any, *, x: str = "progress", fig: Any = None):
    """Learning curves from a run's snapshot table: loss and accuracy over training.

    Training values come from Keras' logs at every snapshot (at batch snapshots they
    are running means over the epoch so far, drawn as small dots); validation values
    exist at epoch ends only. Ticks along the bottom mark where snapshots were taken.

    Parameters
    ----------
    run : Run
    x : {"progress", "step"}, default="progress"
        Training time in epochs (float) or optimizer steps.
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    caller = "plot_training()"
    check_run(run, caller)
    if x not in ("progress", "step"):
        raise param_error("x", caller, "one of 'progress', 'step'", x)
    table = run.snapshots
    metrics = [m for m in ("loss", "accuracy") if m in table.columns]
    if not metrics:
        raise MissingDataError(
            "plot_training(): the run's snapshots hold no Keras logs ('loss'/'accuracy'); "
            "was the model compiled with metrics=['accuracy']?"
        )
    fig = figure_for(fig, (5.0 * len(metrics), 3.4), caller)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    batch = table["kind"] == "batch"
    epoch = table["kind"] == "epoch"
    ticks = table[x].to_numpy(dtype=float)
    for ax, metric in zip(axes, metrics, strict=True):
        ax.plot(table.loc[epoch, x], table.loc[epoch, metric], "o-", color="C0", ms=3.5, label="training")
        if batch.any():
            ax.plot(table.loc[batch, x], table.loc[batch, metric], ".", color="C0", alpha=0.5,
                    label="training (within epoch)")
        val = f"val_{metric}"
        if val in table.columns and table[val].notna().any():
            ax.plot(table.loc[epoch, x], table.loc[epoch, val], "s--", color="C1", ms=3.5, label="validation")
        ax.set_xlabel("epochs" if x == "progress" else "training step")
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        # where snapshots were taken: a rug along the bottom edge (axes coordinates)
        ax.vlines(ticks, 0, 0.03, transform=ax.get_xaxis_transform(), color="0.35", lw=0.8)
    axes[0].legend(frameon=False, fontsize="small")
    fig.suptitle(f"Training of {run.manifest.get('model', {}).get('name', 'the model')} "
                 f"on {run.manifest.get('dataset', {}).get('name', '?')} — {run.n_snapshots} snapshots "
                 "(ticks)", fontsize="medium")
    return fig
