"""Part 1, the TAM paper's layout comparison: tables, rankings, figures, findings.

Reads the frames :func:`.jobs.compare_job` wrote (one per dataset and repeat regime)
and writes the section: every method's scores (mean ± sd over the repeats, and its
rank) under both smoothness measures, trustworthiness and the distance correlation;
the ranking under each measure and whether UMAP + refinement is among the best; the
paper-style curves and violins (:func:`actconf.plots.plot_layout_comparison`); and the
time each method takes. :func:`score_table` is what the tests check.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .context import Context, dataset_title
from .markdown import Section, fmt, table
from .screen import TOP, among_best, min_mannwhitney_p

__all__ = ["SCORES", "best_methods", "layout_section", "min_mannwhitney_p", "read_comparison", "score_table"]

#: score -> column title in the tables
SCORES: dict[str, str] = {
    "resize_auc": "masked resize AUC", "blur_auc": "masked blur AUC",
    "paper_resize_auc": "paper resize AUC", "paper_blur_auc": "paper blur AUC",
    "trustworthiness": "trustworthiness", "spearman": "distance corr. (Spearman)",
}
RANDOM_METHODS = ("random", "random+refine")
UMAP_REFINED = ("umap+refine", "umap_pso")
#: the methods drawn in the figures (the paper's six, UMAP + refinement both ways); the tables have all
FIGURE_METHODS = ("random", "graph", "som", "pca", "tsne", "umap", "umap+refine", "umap_pso")


def read_comparison(path: Any):
    """A frame written by :func:`.jobs.compare_job`, with its ``attrs`` restored."""
    import pandas as pd

    frame = pd.read_csv(path)
    meta = path.with_suffix(".json")
    if meta.is_file():
        frame.attrs.update(json.loads(meta.read_text(encoding="utf-8")))
    return frame


def score_table(frame: Any):
    """Per method and score: ``mean``, ``sd``, ``n`` over the repeats and ``rank`` (1 = best).

    Lower is better for the smoothness AUCs, higher for trustworthiness and the
    distance correlation; ``seconds`` is ranked fastest first.
    """
    from ..layout import MEASURES

    scores = frame[frame["param"].isna() & frame["measure"].isin([*SCORES, "seconds"])]
    stats = scores.groupby(["measure", "method"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats = stats.rename(columns={"std": "sd", "count": "n"})
    higher = stats["measure"].map(lambda m: MEASURES.get(m, (m, False))[1])
    key = np.where(higher, -stats["mean"], stats["mean"])
    stats["rank"] = stats.assign(key=key).groupby("measure")["key"].rank(method="min").astype(int)
    return stats


def best_methods(frame: Any, measure: str, stats: Any = None) -> dict[str, Any]:
    """The ranking under ``measure``: the best methods, and where UMAP + refinement stands.

    ``order`` and ``best`` follow the mean over all repeats (the tables' ranks). For
    ``umap+refine`` and ``umap_pso``: :func:`.screen.among_best` — its rank, and the
    one-sided Mann–Whitney p of "worse than the best", with the best chosen on the
    even-numbered repeats and the test on the odd-numbered ones (selection-aware; its
    false-positive rate is simulated in :func:`.screen.screen_error_rates`).
    """
    from ..layout import MEASURES

    stats = score_table(frame) if stats is None else stats
    part = stats[stats["measure"] == measure].sort_values("rank")
    values = frame[(frame["measure"] == measure) & frame["param"].isna()].sort_values("repeat", kind="stable")
    per_method = {m: g["value"].to_numpy(float) for m, g in values.groupby("method", sort=False)}
    higher = bool(MEASURES.get(measure, (measure, False))[1])
    out = {"measure": measure, "order": part["method"].tolist(), "best": part["method"].iloc[0], "umap": {}}
    for method in UMAP_REFINED:
        if method in per_method:
            out["umap"][method] = among_best(per_method, method, higher=higher)
    return out


def _score_rows(stats: Any, methods: list[str]) -> list[list[str]]:
    rows = []
    for method in methods:
        row = [method]
        for measure in [*SCORES, "seconds"]:
            hit = stats[(stats["measure"] == measure) & (stats["method"] == method)]
            if hit.empty:
                row.append("–")
                continue
            r = hit.iloc[0]
            sd = f" ± {fmt(r['sd'], 2)}" if np.isfinite(r["sd"]) else ""
            row.append(f"{fmt(r['mean'])}{sd} ({int(r['rank'])})")
        rows.append(row)
    return rows


def _ranking_rows(frame: Any, stats: Any, label: str) -> tuple[list[list[str]], list[dict[str, Any]]]:
    rows, results = [], []
    for measure in SCORES:
        res = best_methods(frame, measure, stats)
        results.append(res)
        umap = []
        for method, r in res["umap"].items():
            p = f", p = {fmt(r['p'], 2)}" if np.isfinite(r["p"]) else ""
            umap.append(f"{method}: {r['rank']}{p} ({'among the best' if r['among_best'] else 'not among the best'})")
        rows.append([label, SCORES[measure], ", ".join(res["order"][:TOP]), res["order"][-1], "; ".join(umap)])
    return rows, results


def _figures(ctx: Context, frame: Any, stem: str, title: str) -> list[str]:
    from ..plots import plot_layout_comparison

    attrs = dict(frame.attrs)
    frame = frame[frame["method"].isin(FIGURE_METHODS)]
    masked = frame[~frame["measure"].str.startswith("paper_")]
    paper = frame[~frame["measure"].isin(["resize_mse", "blur_mse"])]
    paper.attrs.update(attrs)
    masked.attrs.update(attrs)
    links = []
    fig = plot_layout_comparison(masked, measures=["resize_auc", "blur_auc", "trustworthiness", "spearman"])
    links.append(ctx.figures.save(fig, f"layouts-{stem}-masked", f"{title}: actconf's masked measure "
                                  "(curves: mean ± sd over repeats), trustworthiness, distance correlation "
                                  "(the unrefined methods and UMAP + refinement; all are in the table)"))
    fig = plot_layout_comparison(paper, measures=["paper_resize_auc", "paper_blur_auc"])
    links.append(ctx.figures.save(fig, f"layouts-{stem}-paper", f"{title}: the authors' measure (RGB figure, "
                                  "blanks white)"))
    return links


_REGIMES = {"inputs": "re-drawn inputs", "seed": "re-computed layout only"}
_SMOOTHNESS = {"masked": ("resize_auc", "blur_auc"), "paper": ("paper_resize_auc", "paper_blur_auc")}


def _agreement(stats: Any) -> dict[str, float]:
    """Spearman correlation of the methods' mean ranks, masked vs paper measure (resize, blur)."""
    from scipy.stats import spearmanr

    wide = stats.pivot(index="method", columns="measure", values="rank")
    return {kind: float(spearmanr(wide[a], wide[b]).statistic)
            for kind, a, b in (("resize", "resize_auc", "paper_resize_auc"), ("blur", "blur_auc", "paper_blur_auc"))}


def _intro(ctx: Context) -> str:
    spec, train = ctx.config.layouts, ctx.config.training
    return (
        f"The trained MLP's `{spec.layer}` layer ({train.hidden[0]} units; the seed-{ctx.config.seed} run of part 2, "
        f"{train.epochs} epochs); profiles = contrastive class NAPs at the final snapshot. "
        f"{len(spec.methods)} method configurations ({', '.join(f'`{m}`' for m in spec.methods)}), "
        f"R = {spec.repeats} repeats in each regime: *re-drawn inputs* (each repeat draws "
        f"{spec.subsample:.0%} of each class's probe samples, recomputes the profiles and the layout with seed "
        "`seed + r`) and *re-computed layout only* (same profiles, seed `seed + r`). Every layout is scored with "
        "both smoothness measures (`compare_layouts(quality=\"both\")`; docs/layout-quality.md): actconf's "
        "*masked* measure (values on a 100-px grid, blanks are missing data) and the authors' *paper* measure "
        "(the rendered RGB figure, blanks white, errors on 8-bit values without their wrap-around bug); AUC of "
        "the error curves, lower = smoother. Trustworthiness and the distance correlation (Spearman ρ between "
        "profile and layout distances) measure neighbourhood preservation, higher = better. Cells: mean ± sd "
        "over the repeats (rank among the methods, 1 = best); seconds = time to compute the layout.")


def layout_section(ctx: Context) -> Section:
    """The TAM comparison section (and its findings in ``ctx.findings["layouts"]``)."""
    section = Section("1. TAM paper: comparing layout methods").add(_intro(ctx))
    ranking, cases = [], []
    headers = ["method", *SCORES.values(), "seconds"]
    for dataset in ctx.config.datasets:
        for regime in ctx.config.layouts.regimes:
            frame = read_comparison(ctx.paths.comparison(dataset, regime))
            stats = score_table(frame)
            title = f"{dataset_title(dataset)}, {_REGIMES[regime]}"
            methods = list(dict.fromkeys(frame["method"]))
            agree = _agreement(stats)
            sub = Section(title).add(
                table(_score_rows(stats, methods), headers),
                f"Agreement of the two smoothness measures on the ranking of the {len(methods)} methods "
                f"(Spearman of ranks): resize {fmt(agree['resize'], 2, signed=True)}, blur "
                f"{fmt(agree['blur'], 2, signed=True)}.",
                *_figures(ctx, frame, f"{dataset}-{regime}", title))
            section.add(sub)
            rows, results = _ranking_rows(frame, stats, title)
            ranking += rows
            cases.append((title, stats, results, agree))
    section.add(Section("Rankings").add(
        "Per measure: the three best methods, the worst, and the rank of UMAP + refinement — actconf's "
        "`umap+refine` and the authors' `umap_pso` — with the one-sided Mann–Whitney p-value of *worse than the "
        "best*. " + _screen_text(len(methods), ctx.config.layouts.repeats),
        table(ranking, ["case", "measure", "best three", "worst", "UMAP + refinement: rank"], align="lllll")))
    _layout_findings(ctx, cases)
    return section


def _screen_text(n_methods: int, repeats: int) -> str:
    """How *among the best* is decided for this size, with the screen's error rates simulated for it."""
    from .screen import screen_error_rates

    halves = (repeats + 1) // 2, repeats // 2
    if min_mannwhitney_p(halves[1], halves[1], one_sided=True) >= 0.05:
        return (f"With R = {repeats} repeats the test half ({halves[1]} repeats) cannot reach p < 0.05, so *among "
                f"the best* here only means rank ≤ {TOP} of the {n_methods} methods — a description, not a test.")
    sims = {"fpr": 2000, "skew": 2000, "plain": 1000, "power": 1000}
    rates = {key: screen_error_rates(n_methods=n_methods, repeats=repeats, n_sim=sims[key], seed=1, **kw)
             for key, kw in {"fpr": {}, "skew": {"distribution": "lognormal"}, "plain": {"split": False},
                             "power": {"shift": 1.0}}.items()}
    margin = 1.96 * np.sqrt(0.05 * 0.95 / sims["fpr"])
    return (f"The best method is chosen on the {halves[0]} even-numbered repeats and the test uses the other "
            f"{halves[1]}, so choosing the best does not bias the test; *among the best* = not worse than the best "
            f"at p < 0.05. Simulated for this size ({n_methods} methods, R = {repeats}; "
            f"`actconf.replicate.screen`): a method equal to all others is called worse in "
            f"{rates['fpr']:.1%} of {sims['fpr']} simulations with normal scores and {rates['skew']:.1%} with skewed, "
            f"log-normal ones (Monte Carlo error ± {margin:.1%} around 5%) — choosing and testing on the same "
            f"repeats would give {rates['plain']:.1%}; a method worse by one standard deviation is found worse in "
            f"{rates['power']:.0%} of cases.")


def _layout_findings(ctx: Context, cases: list[tuple[str, Any, list[dict[str, Any]], dict[str, float]]]) -> None:
    facts = ctx.facts.setdefault("layouts", {"random_worst": {}, "umap_among": {}})
    for kind, measures in _SMOOTHNESS.items():
        n = worst = 0
        for _, stats, _, _ in cases:
            for measure in measures:
                part = stats[stats["measure"] == measure]
                n += 1
                worst += part.sort_values("mean")["method"].iloc[-1] in RANDOM_METHODS
        facts["random_worst"][kind] = (worst, n)
        ctx.note("layouts", f"A random layout (`random` or `random+refine`) is the least smooth under the {kind} "
                            f"measure in {worst} of {n} cases (datasets × regimes × resize/blur).")
    for measure, label in SCORES.items():
        best = [res["best"] for _, _, results, _ in cases for res in results if res["measure"] == measure]
        counts = {m: best.count(m) for m in dict.fromkeys(best)}
        text = ", ".join(f"`{m}` ({c}/{len(best)})" for m, c in sorted(counts.items(), key=lambda kv: -kv[1]))
        present = [m for m in UMAP_REFINED if any(m in res["umap"] for _, _, results, _ in cases for res in results)]
        among = {m: sum(res["umap"].get(m, {}).get("among_best", False) for _, _, results, _ in cases
                        for res in results if res["measure"] == measure) for m in present}
        facts["umap_among"][measure] = {m: (c, len(best)) for m, c in among.items()}
        umap_text = "".join(f"; `{m}` among the best in {c}/{len(best)}" for m, c in among.items())
        ctx.note("layouts", f"{label}: best {text}{umap_text}.")
    for kind in ("resize", "blur"):
        values = [agree[kind] for _, _, _, agree in cases]
        ctx.note("layouts", f"Agreement of the masked and the paper measure on the methods' ranking ({kind}): "
                            f"Spearman {', '.join(fmt(v, 2, signed=True) for v in values)} (one per case).")

