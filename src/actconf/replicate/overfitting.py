"""Part 3b: longer training with overfitting, a held-out and a training probe set side by side.

For every seed (:func:`.jobs.train_overfit`) the probe sets are opened by name
(:func:`.probes.open_probe_sets`). Per probe set and epoch: accuracy, mean
confidence, expected calibration error and NLL (:func:`actconf.confidence.calibration`)
and the sample-level relation, raw and scale-controlled
(:func:`actconf.analysis.activity_confidence`). The epoch of minimal validation loss
splits training into before and after overfitting sets in; the section tests, across
seeds, how each quantity changes after it on each probe set, draws the curves, and
runs the paper's statements on each probe set for all of training and for the
overfitting phase only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .context import Context, dataset_title
from .markdown import Section, fmt, table

__all__ = ["METRICS", "overfit_curves", "overfitting_section"]

#: metric -> (title, column source)
METRICS: dict[str, str] = {
    "accuracy": "accuracy", "mean_confidence": "mean confidence (max softmax)", "ece_width": "ECE (15 bins)",
    "nll": "NLL", "rho": "ρ(confidence, activity)", "rho_ctrl": "ρ controlled for logit spread",
}
PROBE_SETS = ("test", "train")


def _seed_folders(ctx: Context, dataset: str) -> list[Any]:
    spec = ctx.config.overfitting
    return [ctx.paths.overfit(dataset, s) for s in range(ctx.config.seed, ctx.config.seed + spec.seeds)]


def overfit_curves(ctx: Context, dataset: str):
    """Tidy curves: ``seed``, ``probe``, ``snapshot``, ``epoch``, every metric, ``val_loss`` and ``loss``."""
    import pandas as pd

    from ..analysis import activity_confidence
    from ..confidence import calibration
    from .probes import open_probe_sets

    parts = []
    for k, folder in enumerate(_seed_folders(ctx, dataset)):
        for name, run in open_probe_sets(folder, PROBE_SETS).items():
            epochs = run.snapshot_index("epochs")
            idx = np.r_[0, epochs] if 0 not in epochs else epochs
            cal = calibration(run, snapshots=idx)
            rel = activity_confidence(run, snapshots=idx, n_boot=0, seed=ctx.config.seed)
            frame = run.snapshot_frame(idx)[["snapshot", "epoch"]].reset_index(drop=True)
            frame = frame.assign(seed=ctx.config.seed + k, probe=name,
                                 val_loss=run.snapshots["val_loss"].to_numpy()[idx],
                                 loss=run.snapshots["loss"].to_numpy()[idx],
                                 rho=rel["rho"].to_numpy(), rho_ctrl=rel["rho_ctrl"].to_numpy(),
                                 **{m: cal[m].to_numpy() for m in ("accuracy", "mean_confidence", "ece_width",
                                                                   "nll")})
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


SMOOTH_EPOCHS = 5  # validation loss is smoothed over this many epochs before its minimum is taken


def _best_epochs(curves: Any) -> dict[int, int]:
    """Per seed: the epoch of minimal validation loss (centred moving average over 5 epochs)."""
    test = curves[(curves["probe"] == "test") & (curves["epoch"] > 0)]
    best = {}
    for seed, part in test.groupby("seed"):
        part = part.sort_values("epoch")
        smooth = part["val_loss"].rolling(SMOOTH_EPOCHS, center=True, min_periods=1).mean()
        best[int(seed)] = int(part["epoch"].to_numpy()[int(np.argmin(smooth.to_numpy()))])
    return best


def _phase_values(curves: Any, best: dict[int, int], metric: str, probe: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: ``metric`` on ``probe`` at the seed's best epoch and at the last epoch."""
    last = int(curves["epoch"].max())
    at_best, at_end = [], []
    for seed, epoch in best.items():
        part = curves[(curves["seed"] == seed) & (curves["probe"] == probe)].set_index("epoch")[metric]
        at_best.append(part.loc[epoch])
        at_end.append(part.loc[last])
    return np.array(at_best), np.array(at_end)


def _phase_rows(curves: Any, best: dict[int, int], alpha: float) -> tuple[list[list[str]], dict[str, Any]]:
    """Per metric: each probe set and their gap (train − test) at the best epoch and at the end, tested across seeds."""
    from ..analysis import across_runs

    rows, effects = [], {}
    for metric, title in METRICS.items():
        values = {probe: _phase_values(curves, best, metric, probe) for probe in PROBE_SETS}
        values["train − test"] = (values["train"][0] - values["test"][0], values["train"][1] - values["test"][1])
        for probe, (at_best, at_end) in values.items():
            res = across_runs(at_end - at_best, ci=1 - alpha)
            effects[(metric, probe)] = res
            ci = (f" [{fmt(res['ci_low'], 2, signed=True)}, {fmt(res['ci_high'], 2, signed=True)}]"
                  if np.isfinite(res["ci_low"]) else "")
            rows.append([title, probe, fmt(at_best.mean()), fmt(at_end.mean()),
                         fmt(res["mean"], 3, signed=True) + ci, fmt(res["p_value"], 2),
                         f"{int(res['n_positive'])}/{len(best)}"])
    return rows, effects


def _figure(ctx: Context, curves: Any, best: dict[int, int], dataset: str) -> str:
    from ..plots import new_figure

    fig = new_figure((13, 5.6))
    axes = fig.subplots(2, 4).ravel()
    colours = {"test": "#1f77b4", "train": "#d95f02"}
    mean = curves.groupby(["probe", "epoch"]).mean(numeric_only=True).reset_index()
    test = mean[mean["probe"] == "test"]
    axes[0].plot(test["epoch"], test["val_loss"], color=colours["test"], label="validation loss (test split)")
    axes[0].plot(test["epoch"], test["loss"], color="0.4", label="training loss (Keras, with dropout + L2)")
    axes[0].set_title("loss", fontsize=9)
    axes[0].legend(fontsize=7)
    for ax, metric in zip(axes[1:], METRICS, strict=False):
        for probe in PROBE_SETS:
            part = mean[mean["probe"] == probe]
            ax.plot(part["epoch"], part[metric], color=colours[probe], label=f"{probe} probe")
        ax.set_title(METRICS[metric], fontsize=9)
    axes[-1].set_visible(False)
    axes[1].legend(fontsize=7)
    at = float(np.median(list(best.values())))
    for ax in axes[:-1]:
        ax.axvline(at, color="0.3", ls="--", lw=0.8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25, lw=0.5)
    fig.suptitle(f"{dataset_title(dataset)}: overfitting — mean over {len(best)} seeds; dashed: median epoch of "
                 "minimal validation loss", fontsize=10)
    return ctx.figures.save(fig, f"overfitting-{dataset}", f"{dataset_title(dataset)}: held-out (test) and "
                            "training probe over long training")


def _claims(ctx: Context, dataset: str, best: dict[int, int]) -> tuple[str, dict[str, Any]]:
    """The paper's statements on each probe set: all of training, and after the validation-loss minimum."""
    from ..analysis import STATEMENTS, claim_summary
    from .claims import verdict_cell
    from .probes import open_probe_sets

    a = ctx.config.analysis
    sets = [open_probe_sets(folder, PROBE_SETS) for folder in _seed_folders(ctx, dataset)]
    start = int(np.median(list(best.values())))
    columns: dict[str, Any] = {}
    for probe in PROBE_SETS:
        runs = [s[probe] for s in sets]
        phases = [("all epochs", "all")]
        if start < runs[0].n_snapshots - 2:  # snapshot id = epoch (no batch snapshots)
            phases.append((f"from epoch {start}", list(range(start, runs[0].n_snapshots))))
        for phase, snapshots in phases:
            claims = claim_summary(runs, measure="max_softmax", bins=a.bins, n_boot=a.n_boot, alpha=a.alpha,
                                   seed=ctx.config.seed, snapshots=snapshots)
            ctx.claims.append(claims.assign(part="overfitting", dataset=dataset, model=f"mlp, {probe} probe, {phase}",
                                            measure="max_softmax", groups="moving"))
            columns[f"{probe} probe, {phase}"] = claims
    rows = [[f"`{key}`", *(verdict_cell(c[c["statement"] == key].iloc[0]) for c in columns.values())]
            for key in STATEMENTS]
    return table(rows, ["statement", *columns], align="l" * (1 + len(columns))), columns


def _overfit_findings(ctx: Context, dataset: str, curves: Any, best: dict[int, int], effects: dict) -> None:
    last = int(curves["epoch"].max())
    if np.median(list(best.values())) >= last - 1:
        ctx.note("overfitting", f"{dataset_title(dataset)}: validation loss still falls near epoch {last} in most "
                                "seeds — no overfitting phase within this training length.")
        return
    test = curves[curves["probe"] == "test"]
    rise = [float(p.set_index("epoch")["val_loss"].loc[last] - p.set_index("epoch")["val_loss"].loc[best[s]])
            for s, p in test.groupby("seed")]
    epochs = sorted(best.values())
    parts = []
    for metric in ("accuracy", "mean_confidence", "ece_width", "rho", "rho_ctrl"):
        t, r, g = effects[(metric, "test")], effects[(metric, "train")], effects[(metric, "train − test")]
        parts.append(f"{METRICS[metric]} {fmt(t['mean'], 2, signed=True)} (p = {fmt(t['p_value'], 2)}) on the test "
                     f"probe vs {fmt(r['mean'], 2, signed=True)} (p = {fmt(r['p_value'], 2)}) on the training probe "
                     f"(gap {fmt(g['mean'], 2, signed=True)}, p = {fmt(g['p_value'], 2)})")
    ctx.note("overfitting", f"{dataset_title(dataset)}: validation loss is lowest at epoch {epochs[len(epochs) // 2]} "
                            f"(median; range {epochs[0]}–{epochs[-1]}) and then rises by {np.mean(rise):+.3f} by "
                            f"epoch {last}. From that epoch to the end: " + "; ".join(parts) + ".")


def overfitting_section(ctx: Context) -> Section:
    """Part 3b: what happens on held-out and on training samples once the model overfits."""
    spec = ctx.config.overfitting
    section = Section("3b. Future work: longer training and overfitting").add(
        f"The paper's MLP trained for {spec.epochs} epochs on a small stratified training subset "
        f"({_per_dataset_text(spec.max_train)} samples), {spec.seeds} seeds, recorded at every epoch on two probe "
        f"sets of {_per_dataset_text(spec.probe_per_class)} samples per class: held-out samples of the test split "
        "(*test*) and samples of the training subset itself (*train*), both recorded into one run by one recorder "
        "(`probes={\"test\": ..., \"train\": ...}`). Validation loss is measured on the whole test "
        f"split; its minimum (per seed, after a centred {SMOOTH_EPOCHS}-epoch moving average) marks where "
        "overfitting starts. The table gives each quantity at that "
        "epoch and at the end (mean over seeds) and the change between them, tested across seeds (t-test); "
        "*train − test* is the gap between the probe sets, so its change is how far they diverge.")
    for dataset in ctx.config.overfit_datasets():
        curves = overfit_curves(ctx, dataset)
        best = _best_epochs(curves)
        rows, effects = _phase_rows(curves, best, ctx.config.analysis.alpha)
        claims_md, _ = _claims(ctx, dataset, best)
        last = int(curves["epoch"].max())
        phase = (table(rows, ["quantity", "probe", "at val-loss minimum", "at the end", "change [95% CI]", "p",
                              "seeds > 0"], align="llrrrrr")
                 if np.median(list(best.values())) < last - 1 else
                 f"Validation loss is lowest at the last epochs ({sorted(best.values())}; of {last}): no "
                 "overfitting phase to compare; train longer or on fewer samples.")
        section.add(Section(dataset_title(dataset)).add(
            phase,
            _figure(ctx, curves, best, dataset),
            "The paper's statements on each probe set, over all epochs and from the median epoch of minimal "
            "validation loss on (its state is then the baseline):", claims_md))
        _overfit_findings(ctx, dataset, curves, best, effects)
    return section


def _per_dataset_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{'otherwise' if k == '*' else dataset_title(k)} {v}" for k, v in value.items())
    return str(value)
