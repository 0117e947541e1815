"""Figures of a run's training record: learning curves and when snapshots were taken."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, param_error

__all__ = ["plot_training"]

_X = {"progress": "epochs", "step": "training step", "time": "time [s]"}


def plot_training(run: Any, *, x: str = "progress", fig: Any = None):
    """Learning curves (loss, accuracy; training and validation) with the snapshots marked.

    Parameters
    ----------
    run : Run
        An opened run (:func:`actconf.open_run`).
    x : {"progress", "step", "time"}, default="progress"
        Horizontal axis: epochs of training (a float), optimizer steps or seconds.
    fig : matplotlib.figure.Figure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (loss, accuracy). Epoch-end values are lines; batch-snapshot
        values (Keras' running means within the epoch) are small dots; ticks along
        the bottom show where snapshots were taken.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not hasattr(run, "snapshots"):
        raise param_error("run", "plot_training()", "an opened actconf run", type(run).__name__)
    check_option("x", x, list(_X), "plot_training()")
    table = run.snapshots
    if fig is None:
        fig = Figure(figsize=(9, 3.2), layout="constrained")
        FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    epochs = table[table["kind"] == "epoch"]
    batches = table[table["kind"] == "batch"]
    colors = {"train": "tab:blue", "validation": "tab:orange"}
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, name in (("", "train"), ("val_", "validation")):
            col = prefix + metric
            if col in epochs and epochs[col].notna().any():
                ax.plot(epochs[x], epochs[col], marker="o", ms=3, color=colors[name], label=name)
            if col in batches and batches[col].notna().any():
                ax.plot(batches[x], batches[col], ls="", marker=".", ms=4, color=colors[name], alpha=0.6,
                        label=f"{name} (within epoch)")
        ax.set_xlabel(_X[x])
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if metric == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        ymin, ymax = ax.get_ylim()
        ticks = table[x].to_numpy(dtype=float)
        ax.plot(ticks, np.full(ticks.shape, ymin), "|", color="0.4", ms=8, clip_on=False,
                label="snapshots")
        ax.set_ylim(ymin, ymax)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize=7, frameon=False)
    fig.suptitle(f"Training — {run.n_snapshots} snapshots", fontsize=10)
    return fig
