"""Part 4, in plain words: what holds, for which model, layer, dataset and measure, and what does not.

Built only from the numbers the other sections computed (``ctx.claims``, every
verdict of every configuration; ``ctx.findings``, each part's sentences), so the text
changes with the results: every statement is listed with the configurations where it
is supported, contradicted or not supported, the raw and the scale-controlled
sample-level relation are set side by side, and the confidence measures are compared.
"""

from __future__ import annotations

from typing import Any

from .context import Context, dataset_title, model_title
from .markdown import Section, bullets, fmt

__all__ = ["all_claims", "findings_section", "overview_section"]

_VERDICTS = ("supported", "contradicted", "not supported")


def all_claims(ctx: Context):
    """Every verdict of the document as one table (also written to ``tables/claims.csv``)."""
    import pandas as pd

    if not ctx.claims:
        return pd.DataFrame(columns=["part", "dataset", "model", "layer", "measure", "groups", "statement",
                                     "verdict", "effect"])
    return pd.concat(ctx.claims, ignore_index=True)


def _where(row: Any) -> str:
    text = f"{dataset_title(row['dataset'])} {model_title(row['model'])} `{row['layer']}`"
    if row["measure"] != "max_softmax":
        text += f" [{row['measure']}]"
    if row["groups"] != "moving":
        text += " (fixed groups)"
    return text


def _statement_lines(rows: Any) -> list[str]:
    from ..analysis import STATEMENTS

    lines = []
    for key, (claim, _) in STATEMENTS.items():
        part = rows[rows["statement"] == key]
        if part.empty:
            continue
        counts = []
        for verdict in _VERDICTS:
            hits = part[part["verdict"] == verdict]
            if len(hits):
                where = ", ".join(f"{_where(r)} ({fmt(r['effect'], 2, signed=True)})" for _, r in hits.iterrows())
                counts.append(f"{verdict} in {len(hits)}: {where}")
        lines.append(f"**`{key}`** — {claim}: " + "; ".join(counts) + f" (of {len(part)}).")
    return lines


def verdict_counts(rows: Any) -> str:
    """A table: per statement, in how many configurations × layers it is supported, contradicted, not supported."""
    from ..analysis import STATEMENTS
    from .markdown import table

    body = []
    for key, (claim, _) in STATEMENTS.items():
        part = rows[rows["statement"] == key]
        if len(part):
            body.append([f"`{key}`", claim, *(str(int((part["verdict"] == v).sum())) for v in _VERDICTS), str(len(part))])
    return table(body, ["statement", "claim", *_VERDICTS, "of"], align="llrrrr")


def _control_lines(rows: Any) -> list[str]:
    lines = []
    keys = ["dataset", "model", "layer", "measure", "groups"]
    for _, group in rows.groupby(keys, sort=False):
        raw = group[group["statement"] == "sample_relation"]
        ctrl = group[group["statement"] == "sample_relation_ctrl"]
        if raw.empty or ctrl.empty:
            continue
        r, c = raw.iloc[0], ctrl.iloc[0]
        lines.append(f"{_where(r)}: raw ρ {fmt(r['untrained'], 2)} → {fmt(r['final'], 2)} ({r['verdict']}); "
                     f"controlled {fmt(c['untrained'], 2)} → {fmt(c['final'], 2)} ({c['verdict']}).")
    return lines


def _measure_lines(rows: Any) -> list[str]:
    """Per dataset and statement: does the verdict depend on the confidence measure?"""
    lines = []
    for (dataset, key), part in rows.groupby(["dataset", "statement"], sort=False):
        verdicts = dict(zip(part["measure"], part["verdict"], strict=False))
        if len(verdicts) < 2:
            continue
        if len(set(verdicts.values())) == 1:
            lines.append(f"{dataset_title(dataset)}, `{key}`: {next(iter(verdicts.values()))} under every measure.")
        else:
            text = ", ".join(f"{m}: {v}" for m, v in verdicts.items())
            lines.append(f"{dataset_title(dataset)}, `{key}`: depends on the measure — {text}.")
    return lines


def _fixed_lines(rows: Any) -> list[str]:
    """Do the verdicts with fixed confidence groups agree with those of moving groups?"""
    keys = ["dataset", "model", "layer", "measure", "statement"]
    moving = rows[rows["groups"] == "moving"].set_index(keys)["verdict"]
    fixed = rows[rows["groups"] == "fixed"].set_index(keys)["verdict"]
    both = moving.to_frame("moving").join(fixed.rename("fixed"), how="inner")
    if both.empty:
        return []
    differ = both[both["moving"] != both["fixed"]]
    text = "; ".join(f"{dataset_title(d)} {model_title(m)} `{layer}` `{st}`: {r['moving']} (moving) vs {r['fixed']} "
                     f"(fixed)" for (d, m, layer, _, st), r in differ.iterrows())
    return [f"Fixed confidence groups (the same samples throughout) give the same verdict as moving groups in "
            f"{len(both) - len(differ)} of {len(both)} statements" + (f"; they differ for {text}." if text else ".")]


def _probe_lines(rows: Any) -> list[str]:
    """Overfitting: where the verdicts on the test and the training probe differ."""
    lines = []
    for dataset, part in rows.groupby("dataset", sort=False):
        phases = sorted({m.split(", ", 2)[2] for m in part["model"]})
        for phase in phases:
            test = part[part["model"].str.endswith(f"test probe, {phase}")].set_index("statement")
            train = part[part["model"].str.endswith(f"train probe, {phase}")].set_index("statement")
            same = [k for k in test.index if k in train.index and test.loc[k, "verdict"] == train.loc[k, "verdict"]]
            differ = [f"`{k}` {test.loc[k, 'verdict']} (test) vs {train.loc[k, 'verdict']} (train)"
                      for k in test.index if k in train.index and k not in same]
            lines.append(f"{dataset_title(dataset)}, {phase}: the statements' verdicts agree between the held-out and "
                         f"the training probe in {len(same)} of {len(test)}" + (": " + "; ".join(differ) if differ
                                                                                  else "") + ".")
    return lines


def findings_section(ctx: Context) -> Section:
    """The plain-words summary of every part that ran."""
    claims = all_claims(ctx)
    section = Section("4. In plain words (a summary of parts 1–3)")
    if ctx.findings.get("layouts"):
        section.add(Section("Layouts (part 1)").add(bullets(ctx.findings["layouts"])))
    main = claims[claims["part"].isin(["training", "models"]) & (claims["measure"] == "max_softmax")]
    if len(main):
        section.add(Section("Activity and confidence (parts 2 and 3a; max softmax)").add(
            "Each statement's verdict across seeds, per dataset, model and layer (mean change from the untrained "
            "state in brackets). *Supported* needs p < α and a positive change.",
            verdict_counts(main[main["groups"] == "moving"]),
            bullets(ctx.findings.get("training", []) + _statement_lines(main[main["groups"] == "moving"])
                    + _fixed_lines(main))))
        section.add(Section("Raw and scale-controlled sample-level relation").add(
            "The raw ρ includes softmax sharpening by larger activations; the controlled ρ (partialled on the "
            "logit spread) is what is left of the relation beyond output scale.",
            bullets(_control_lines(main[main["groups"] == "moving"]))))
    measures = claims[claims["part"].isin(["training", "measures"]) & (claims["groups"] == "moving")]
    if "measures" in ctx.config.parts and measures["measure"].nunique() > 1:
        section.add(Section("Confidence measures (part 3c)").add(bullets(_measure_lines(measures))))
    if ctx.findings.get("overfitting"):
        over = claims[claims["part"] == "overfitting"]
        section.add(Section("Overfitting (part 3b)").add(bullets(ctx.findings["overfitting"] + _probe_lines(over))))
    return section


_OUTCOME = {"supported": "reproduced", "not supported": "not reproduced", "contradicted": "contradicted"}
_SMOOTH_SCORES = {"resize_auc": "masked resize", "blur_auc": "masked blur", "paper_resize_auc": "authors' resize",
                  "paper_blur_auc": "authors' blur"}


def _tam_rows(ctx: Context) -> list[list[str]]:
    facts = ctx.facts.get("layouts")
    if not facts:
        return []
    rows = []
    for kind, (worst, n) in facts["random_worst"].items():
        rows.append(["TAM", f"random layouts are the least smooth ({kind} measure)", f"{worst}/{n} cases",
                     "reproduced" if worst == n else ("partly" if worst else "not reproduced")])
    for measure, label in _SMOOTH_SCORES.items():
        among = facts["umap_among"].get(measure, {})
        if not among:
            rows.append(["TAM", f"UMAP + refinement is among the best ({label})",
                         "no UMAP-based method in this configuration", "not tested"])
        for method, (c, n) in among.items():
            rows.append(["TAM", f"UMAP + refinement is among the best ({label}; `{method}`)",
                         f"{c}/{n} cases (not worse than the best; part 1, Rankings)",
                         "reproduced" if c == n else ("partly" if c else "not reproduced")])
    return rows


def _evidence(r: Any) -> str:
    ci = (f" [{fmt(r['ci_low'], 2, signed=True)}, {fmt(r['ci_high'], 2, signed=True)}]"
          if r["ci_low"] == r["ci_low"] else "")
    return (f"{_where(r)}: change {fmt(r['effect'], 2, signed=True)}{ci}, d = {fmt(r['cohen_d'], 2, signed=True)}, "
            f"{r['p_text']}, n = {int(r['n_runs'])} runs")


def _workshop_rows(claims: Any) -> list[list[str]]:
    from ..analysis import STATEMENTS

    main = claims[(claims["part"] == "training") & (claims["groups"] == "moving")
                  & (claims["measure"] == "max_softmax")]
    rows = []
    for key, (claim, _) in STATEMENTS.items():
        for _, r in main[main["statement"] == key].iterrows():
            rows.append(["workshop", f"`{key}`: {claim}", _evidence(r), _OUTCOME.get(r["verdict"], r["verdict"])])
    return rows


def _future_rows(claims: Any) -> list[list[str]]:
    rows = []
    for part, label in (("models", "3a, other models"), ("measures", "3c, other confidence measures"),
                        ("overfitting", "3b, overfitting (both probe sets)")):
        rows_part = claims[(claims["part"] == part) & (claims["groups"] == "moving")]
        if rows_part.empty:
            continue
        counts = ", ".join(f"{int((rows_part['verdict'] == v).sum())} {v}" for v in _VERDICTS)
        rows.append([label, "the statements above, per configuration × layer", f"{counts} (of {len(rows_part)})",
                     "see section " + label.split(",")[0]])
    return rows


def overview_section(ctx: Context) -> Section:
    """What is reproduced and what is not: one row per claim and case, with its numbers."""
    from .markdown import table

    claims = all_claims(ctx)
    rows = _tam_rows(ctx) + _workshop_rows(claims) + _future_rows(claims)
    alpha = ctx.config.analysis.alpha
    power = _detectable_text(claims, alpha)
    return Section("What is reproduced").add(
        "Each claim of the papers with the evidence this run produced. Workshop-paper statements: the training "
        "run is the unit of replication — per run, the change of the statement's statistic from the untrained "
        "state to the end of training; across runs, a two-sided one-sample t-test of those changes (mean change "
        f"with its {1 - alpha:.0%} t interval, Cohen's d = mean / sd). *Reproduced* = supported (p < {alpha}, "
        "positive change); *not reproduced* = no significant change; *contradicted* = a significant change "
        "against the claim. Layout claims: over the datasets × repeat regimes × measures of part 1." + power,
        table(rows, ["paper", "claim", "evidence", "result"], align="llll") if rows else "Nothing was run.")


def detectable_d(n_runs: int, alpha: float) -> float:
    """The smallest |Cohen's d| a two-sided one-sample t-test over ``n_runs`` runs finds at level ``alpha``."""
    from scipy.stats import t as t_dist

    return float(t_dist.ppf(1 - alpha / 2, n_runs - 1) / n_runs ** 0.5) if n_runs >= 2 else float("inf")


def _detectable_text(claims: Any, alpha: float) -> str:
    if claims.empty or "n_runs" not in claims:
        return ""
    sizes = sorted({int(n) for n in claims["n_runs"] if n == n})
    parts = [f"n = {n}: |d| > {fmt(detectable_d(n, alpha), 2)}" for n in sizes if n >= 2]
    if not parts:
        return ""
    return (" With few runs only large effects can be shown (p < α needs " + "; ".join(parts) + "), so "
            "*not reproduced* at small n means *not shown*, not *refuted*.")
