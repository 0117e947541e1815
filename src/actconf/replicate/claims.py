"""Parts 2, 3a and 3c: the workshop paper's claim across seeds, for every model and measure.

Every configuration's runs (one per seed) go through
:func:`actconf.analysis.claim_summary` — each statement's change from the untrained
state, tested across the runs — and :func:`actconf.analysis.statement_trajectories`
(:func:`actconf.plots.plot_claims`). Part 2 is the paper's MLP with both kinds of
confidence groups and maps drawn with one fixed layout; part 3a the 2-layer MLP and the
CNN; part 3c the same MLP runs under every confidence measure. Every verdict is also
added to ``ctx.claims`` for the plain-words summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .context import Context, dataset_title, model_title
from .markdown import Section, fmt, table

__all__ = ["measures_section", "method_text", "models_section", "run_summary", "summarize", "training_section",
           "verdict_cell"]

_SHORT = {"supported": "supported", "contradicted": "contradicted", "not supported": "n.s."}


def summarize(ctx: Context, runs: list[Any], *, part: str, dataset: str, model: str,
              measure: str = "max_softmax", groups: str = "moving"):
    """``claim_summary`` of one configuration with the replication's options (recorded in ``ctx.claims``)."""
    from ..analysis import claim_summary

    a = ctx.config.analysis
    claims = claim_summary(runs, measure=measure, bins=a.bins, groups=groups, n_boot=a.n_boot, alpha=a.alpha,
                           seed=ctx.config.seed)
    ctx.claims.append(claims.assign(part=part, dataset=dataset, model=model, measure=measure, groups=groups))
    return claims


def verdict_cell(row: Any) -> str:
    """``"supported (+0.12)"``: a verdict and its effect, for the matrices (``undefined`` without an effect)."""
    if not np.isfinite(row["effect"]):
        return "undefined (too few samples per class in a confidence group)"
    return f"{_SHORT.get(row['verdict'], row['verdict'])} ({fmt(row['effect'], 2, signed=True)})"


def _claim_rows(claims: Any, fixed: Any = None) -> list[list[str]]:
    rows = []
    for i, r in claims.reset_index(drop=True).iterrows():
        ci = (f" [{fmt(r['ci_low'], 2, signed=True)}, {fmt(r['ci_high'], 2, signed=True)}]"
              if np.isfinite(r["ci_low"]) else "")
        flip = f" (sign-flip {fmt(r['p_sign_flip'], 2)})" if np.isfinite(r["p_sign_flip"]) else ""
        row = [f"`{r['statement']}`", r["layer"], fmt(r["untrained"]), fmt(r["final"]),
               fmt(r["effect"], 3, signed=True) + ci, fmt(r["cohen_d"], 2, signed=True), r["p_text"] + flip,
               f"{int(r['n_positive'])}/{int(r['n_runs'])}", f"**{r['verdict']}**"]
        if fixed is not None:
            row.append(fixed.reset_index(drop=True).loc[i, "verdict"])
        rows.append(row)
    return rows


def claims_table(claims: Any, fixed: Any = None) -> str:
    level = f"{1 - claims.attrs.get('alpha', 0.05):.0%}"
    headers = ["statement", "layer", "untrained", "final", f"change [{level} CI]", "Cohen's d", "p (t-test)",
               "runs > 0", "verdict"]
    if fixed is not None:
        headers.append("verdict, fixed groups")
    return table(_claim_rows(claims, fixed), headers, align="llrrrrrrl" + ("l" if fixed is not None else ""))


def method_text(claims: Any) -> str:
    """How the verdicts of ``claims`` were computed, from the table itself (test, runs, α)."""
    tests = ", ".join(sorted(set(claims["test"])))
    n = sorted({int(v) for v in claims["n_runs"]})
    alpha = claims.attrs.get("alpha", 0.05)
    return (f"How each verdict is computed: the training run is the unit of replication (n = "
            f"{'/'.join(map(str, n))} runs). Per run, the effect is the statistic at the end of training minus "
            f"the untrained state; across runs: {tests} (two-sided; p also by the exact sign-flip test), "
            f"the mean change with its {1 - alpha:.0%} Student-t CI, and Cohen's d = mean / sd of the per-run "
            f"changes. *Supported* = p < {alpha} and a positive mean change, *contradicted* = p < {alpha} and a "
            "negative one, else *not supported*." + _same_statements_note(claims))


def _same_statements_note(claims: Any) -> str:
    """Say so when ``strength_time_groups`` repeats ``strength_time`` (non-negative activations, moving groups)."""
    if not {"layer", "statement", "untrained", "final"} <= set(claims.columns):
        return ""
    rows = claims.set_index(["layer", "statement"])[["untrained", "final"]]
    same = [layer for layer in dict.fromkeys(claims["layer"])
            if {(layer, "strength_time"), (layer, "strength_time_groups")} <= set(rows.index)
            and np.allclose(rows.loc[(layer, "strength_time")].to_numpy(float),
                            rows.loc[(layer, "strength_time_groups")].to_numpy(float), rtol=1e-9, atol=0)]
    if not same:
        return ""
    return (" For " + ", ".join(f"`{layer}`" for layer in same) + " `strength_time_groups` equals `strength_time`: "
            "with non-negative (ReLU) activations and equal-count groups the mean of the groups' strengths is the "
            "whole probe's strength, so the two rows are one piece of evidence, not two (docs/statistics.md).")


def run_summary(runs: list[Any]) -> dict[str, Any]:
    """Across seeds: snapshots, final validation accuracy, probe confidence untrained and final."""
    from ..confidence import confidence

    acc = np.array([float(r.snapshots["val_accuracy"].iloc[-1]) for r in runs])
    conf = np.array([np.asarray(confidence(r, snapshots=[0, r.n_snapshots - 1]).mean("sample").values) for r in runs])
    return {"n_runs": len(runs), "snapshots": runs[0].n_snapshots, "val_accuracy": acc,
            "confidence_untrained": conf[:, 0], "confidence_final": conf[:, 1], "n_probe": runs[0].n_samples}


def _summary_text(summary: dict[str, Any]) -> str:
    acc, c0, c1 = summary["val_accuracy"], summary["confidence_untrained"], summary["confidence_final"]
    return (f"{summary['n_runs']} seeds, {summary['snapshots']} snapshots each, {summary['n_probe']} probe "
            f"samples; final test accuracy {acc.mean():.3f} ± {acc.std(ddof=1) if acc.size > 1 else 0:.3f}; mean "
            f"probe confidence (max softmax) {c0.mean():.3f} untrained → {c1.mean():.3f} final "
            f"(higher in {int((c1 > c0).sum())}/{c0.size} runs).")


def _claim_figures(ctx: Context, runs: list[Any], claims: Any, stem: str, title: str) -> list[str]:
    from ..analysis import statement_trajectories
    from ..plots import plot_claims

    a = ctx.config.analysis
    traj = statement_trajectories(runs, bins=a.bins, seed=ctx.config.seed, measure=claims.attrs["measure"])
    links = []
    for layer in dict.fromkeys(claims["layer"]):
        fig = plot_claims(claims, traj, layer=layer)
        links.append(ctx.figures.save(fig, f"claims-{stem}-{layer}", f"{title}, `{layer}`: every statement over "
                                      "training (thin: seeds, thick: mean, dashed: untrained)"))
    return links


def _maps_figure(ctx: Context, run: Any, layer: str, stem: str, title: str) -> str:
    from ..layout import ensure_layout
    from ..naps import naps
    from ..plots import pick_snapshots, plot_map_grid

    a = ctx.config.analysis
    layout = ensure_layout(run, layer, method=a.map_layout, seed=ctx.config.seed, save=False)
    picks = pick_snapshots(run, n=a.map_snapshots)
    nap = naps(run, layer, by="confidence", bins=a.bins, snapshots=picks, contrastive=False)
    fig = plot_map_grid(nap, layout, rows="snapshot")
    return ctx.figures.save(fig, f"maps-{stem}", f"{title}: mean activation (plain NAPs) per confidence quintile "
                            f"(columns) over training (rows), one fixed `{a.map_layout}` layout from the final "
                            f"state of seed {run.path.name.split('-')[-1]}")


def _training_intro(ctx: Context) -> str:
    t, a = ctx.config.training, ctx.config.analysis
    every = "about 10 times" if t.every_n_batches == "auto" else f"every {t.every_n_batches} batches"
    return (
        f"The paper's MLP, {t.seeds} seeds per dataset (seeds {ctx.config.seed}…{ctx.config.seed + t.seeds - 1}; "
        f"the seed also draws the probe set), batch {t.batch_size}: the untrained state, {every} during epoch 1, "
        f"then every epoch for {t.epochs} epochs. Each statement's effect is its change from the untrained state "
        f"to the end of training; the verdict is a t-test of the per-seed effects across seeds (α = {a.alpha}; "
        "docs/statistics.md). Confidence = max softmax, groups = equal-count confidence quintiles "
        f"(`bins=\"{a.bins}\"`) recomputed per snapshot (*moving*); the last column repeats the verdict with "
        "*fixed* groups (the same samples at every snapshot, grouped by their final confidence). "
        "`sample_relation` is the raw sample-level Spearman ρ(confidence, mean activation); "
        "`sample_relation_ctrl` the same partialled on the logit spread (the scale control).")


def training_section(ctx: Context) -> Section:
    """Part 2: the workshop paper's MLP across seeds, per dataset."""
    model = ctx.config.training.model
    section = Section("2. Workshop paper: activity and confidence over training").add(_training_intro(ctx))
    for dataset in ctx.config.datasets:
        runs = ctx.runs("training", dataset, model)
        title = f"{dataset_title(dataset)}, {model_title(model)}"
        summary = run_summary(runs)
        claims = summarize(ctx, runs, part="training", dataset=dataset, model=model)
        fixed = summarize(ctx, runs, part="training", dataset=dataset, model=model, groups="fixed")
        layer = claims["layer"].iloc[0]
        sub = Section(title).add(_summary_text(summary), method_text(claims), claims_table(claims, fixed),
                                 *_claim_figures(ctx, runs, claims, f"training-{dataset}", title),
                                 _maps_figure(ctx, runs[0], layer, f"training-{dataset}", title))
        section.add(sub)
        rises = int((summary["confidence_final"] > summary["confidence_untrained"]).sum())
        ctx.note("training", f"{dataset_title(dataset)}: mean probe confidence rises with training in {rises}/"
                             f"{summary['n_runs']} seeds ({summary['confidence_untrained'].mean():.2f} → "
                             f"{summary['confidence_final'].mean():.2f}); final test accuracy "
                             f"{summary['val_accuracy'].mean():.3f}.")
    return section


def _matrix(columns: dict[str, Any], statements: list[str]) -> str:
    """Statements (rows) × configurations (columns): verdict (effect)."""
    rows = []
    for key in statements:
        row = [f"`{key}`"]
        for claims in columns.values():
            hit = claims[claims["statement"] == key] if claims is not None else None
            row.append("–" if hit is None or hit.empty else verdict_cell(hit.iloc[0]))
        rows.append(row)
    return table(rows, ["statement", *columns], align="l" + "l" * len(columns))


def models_section(ctx: Context) -> Section:
    """Part 3a: the 2-layer MLP and the CNN (every layer), beside the paper's MLP."""
    from ..analysis import STATEMENTS

    section = Section("3a. Future work: more complex models").add(
        "The same protocol and statistics as part 2 for "
        + ", ".join(f"`{name}` ({_spec_text(ctx, name)})" for name in ctx.config.models)
        + ". Matrix cells: verdict across seeds (mean change from the untrained state); *n.s.* = not supported.")
    for dataset in ctx.config.datasets:
        sub = Section(dataset_title(dataset))
        columns: dict[str, Any] = {}
        base = ctx.config.training.model
        if "training" in ctx.config.parts:
            mlp = [c for c in ctx.claims if c["part"].iloc[0] == "training" and c["dataset"].iloc[0] == dataset
                   and c["groups"].iloc[0] == "moving" and c["measure"].iloc[0] == "max_softmax"]
            for layer, part in mlp[0].groupby("layer", sort=False) if mlp else []:
                columns[f"{base} {layer}"] = part
        figures, texts = [], []
        for name in ctx.config.models:
            runs = ctx.runs("models", dataset, name)
            title = f"{dataset_title(dataset)}, {model_title(name)}"
            claims = summarize(ctx, runs, part="models", dataset=dataset, model=name)
            for layer, part in claims.groupby("layer", sort=False):
                columns[f"{name} {layer}"] = part
            texts.append(f"{model_title(name)}: " + _summary_text(run_summary(runs)))
            figures += _claim_figures(ctx, runs, claims, f"models-{dataset}-{name}", title)
        sub.add(*texts, _matrix(columns, list(STATEMENTS)), *figures)
        section.add(sub)
    return section


def _spec_text(ctx: Context, name: str) -> str:
    spec = ctx.config.model_spec(name)
    text = f"MLP {tuple(spec.hidden)}" if spec.model == "mlp" else "the paper's CNN (2 × Conv 128, stride 2)"
    from .config import per_dataset

    subsets = [f"{dataset_title(d)} {per_dataset(spec.max_train, d)} samples" for d in ctx.config.datasets
               if per_dataset(spec.max_train, d)]
    if subsets:
        text += ", training subset: " + ", ".join(subsets)
    return text + f", {spec.seeds} seeds × {spec.epochs} epochs"


def measures_section(ctx: Context) -> Section:
    """Part 3c: the paper's MLP runs under every confidence measure."""
    from ..analysis import STATEMENTS

    measures = ctx.config.analysis.measures
    section = Section("3c. Future work: other confidence measures").add(
        "The part-2 runs (paper's MLP) with every statement evaluated under each confidence measure: "
        + ", ".join(f"`{m}`" for m in measures) + " (actconf.confidence; `temperature` is cross-fitted per "
        "snapshot, `mc_dropout` averages the recorded MC-dropout passes). The confidence groups and the "
        "sample-level relation use the measure; strength and distinctness over all samples do not depend on it.")
    model = ctx.config.training.model
    for dataset in ctx.config.datasets:
        runs = ctx.runs("training", dataset, model)
        columns: dict[str, Any] = {}
        for measure in measures:
            if measure == "mc_dropout" and not runs[0].mc_samples:
                continue
            known = [c for c in ctx.claims if c["part"].iloc[0] == "training" and c["dataset"].iloc[0] == dataset
                     and c["measure"].iloc[0] == measure and c["groups"].iloc[0] == "moving"]
            claims = known[0] if known else summarize(ctx, runs, part="measures", dataset=dataset, model=model,
                                                      measure=measure)
            columns[measure] = claims
        section.add(Section(f"{dataset_title(dataset)}, {model_title(model)}").add(_matrix(columns,
                                                                                            list(STATEMENTS))))
    return section
