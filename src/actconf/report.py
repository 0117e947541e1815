"""A self-contained HTML report of a run: training, confidence, layout, maps, statistics.

:func:`build_report` reads a run (and its saved layout, computing one if there is
none), draws every figure with :mod:`actconf.plots`, and writes ``report/report.html``
inside the run directory with all images embedded (one file to mail or archive),
next to the figures as PNG files and the animation as a GIF.
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_option, param_error
from .store import Run, open_run

__all__ = ["build_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.1em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.sub{color:#666;margin-top:0} figure{margin:1.2em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.92em;margin-top:.3em} table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
td,th{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top} th{background:#f5f5f5}
.supported{color:#1a7f37;font-weight:600} .contradicted{color:#b3261e;font-weight:600} .not-supported{color:#8a6d00;font-weight:600}
.verdict{font-size:1.1em;padding:.6em .9em;background:#f6f8fa;border-left:4px solid #888;margin:1em 0}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;font-size:.82em} details{margin:.6em 0} summary{cursor:pointer;color:#345}
nav a{margin-right:1em}
"""


@dataclass
class _Section:
    key: str
    title: str
    parts: list[str] = field(default_factory=list)


def _png(fig: Any, path: Path, dpi: int = 110) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    data = buf.getvalue()
    path.write_bytes(data)
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # figures made outside pyplot need no closing
        pass
    return base64.b64encode(data).decode("ascii")


def _figure_html(b64: str, caption: str, mime: str = "image/png", alt: str = "") -> str:
    return (f'<figure><img alt="{html.escape(alt or caption[:80])}" src="data:{mime};base64,{b64}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _table_html(frame: Any, *, float_format: str = "{:.3g}", max_rows: int = 60) -> str:
    frame = frame.head(max_rows)
    return frame.to_html(index=False, border=0, na_rep="–",
                         float_format=lambda v: float_format.format(v), escape=True)


def _verdict_class(verdict: str) -> str:
    return {"supported": "supported", "contradicted": "contradicted"}.get(verdict, "not-supported")


def build_report(
    run: Run | str | os.PathLike,
    *,
    layer: str | None = None,
    layout: Any = None,
    method: str | None = None,
    measure: str = "max_softmax",
    compare: bool = True,
    animation: bool = True,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
) -> Path:
    """Write the run's HTML report; return its path.

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        Layer to map (default: the first recorded layer). Statistics cover all layers.
    layout : Layout, optional
        Neuron layout of ``layer``. Default: the layout saved in the run as
        ``"default"``; if there is none, one is computed with ``method`` and saved.
    method : str, optional
        Layout method when a layout must be computed (default: the study's
        configured method, else ``"umap"``).
    measure : str, default="max_softmax"
        Confidence measure for groupings and statistics.
    compare : bool, default=True
        Include the paper's layout-method comparison (3 repeats per method).
    animation : bool, default=True
        Include a GIF of the maps per confidence bin over all snapshots.
    out : path-like, optional
        Folder to write into (default ``<run>/report``).
    progress : bool, default=True
        Show a progress bar over the report's stages.
    seed : int, default=0

    Returns
    -------
    pathlib.Path
        ``<out>/report.html``.
    """
    from tqdm.auto import tqdm

    from . import analysis, confidence, plots
    from . import layout as layout_mod
    from . import naps as naps_mod
    from .animate import animate_maps

    if not isinstance(run, Run):
        run = open_run(run)
    if run.n_snapshots < 2:
        raise param_error("run", "build_report()", "a run with at least 2 snapshots", run.n_snapshots,
                          "Train for at least one epoch.")
    layer = run.check_layer(layer)
    from .confidence import MEASURES

    check_option("measure", measure, MEASURES, "build_report()")
    study = run.manifest.get("config", {}).get("study", {})
    method = method or study.get("layout") or "umap"
    out = Path(out) if out is not None else run.path / "report"
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    stages = ["training", "confidence", "layout", "maps", "animation", "statistics", "writing"]
    if not animation:
        stages.remove("animation")
    bar = tqdm(total=len(stages), desc="report", disable=not progress, unit="stage")
    sections: dict[str, _Section] = {}

    def stage(name: str) -> None:
        bar.set_postfix_str(name)

    def add(key: str, title: str, part: str) -> None:
        sections.setdefault(key, _Section(key, title)).parts.append(part)

    # ------------------------------------------------------------------ training
    stage("training")
    table = run.snapshots
    add("training", "Training", _figure_html(
        _png(plots.plot_training(run), figdir / "training.png"),
        "Loss and accuracy (training and validation) over epochs. Ticks along the bottom mark "
        "the recorded snapshots; dots are batch snapshots (Keras' running means within the epoch)."))
    bar.update()

    # ------------------------------------------------------------------ confidence
    stage("confidence")
    measures = {"max softmax (paper)": "max_softmax", "temperature-scaled": "temperature"}
    if run.mc_samples:
        measures["MC dropout"] = "mc_dropout"
    cal = {label: confidence.calibration(run, measure=m) for label, m in measures.items()}
    add("confidence", "Confidence and calibration", _figure_html(
        _png(plots.plot_calibration(cal, x="progress"), figdir / "calibration.png"),
        "Accuracy vs. mean confidence, expected calibration error (equal-width solid, equal-mass "
        "dashed) and NLL/Brier score of the probe set over training, for the paper's max-softmax "
        "confidence and better-founded alternatives."))
    rel = confidence.reliability(run, measure=measure)
    add("confidence", "", _figure_html(
        _png(plots.plot_reliability(rel), figdir / "reliability.png"),
        "Reliability diagrams at four moments of training: bars above the diagonal are "
        "under-confident, below it over-confident."))
    conf = confidence.confidence(run, measure=measure)
    add("confidence", "", _figure_html(
        _png(plots.plot_confidence(conf), figdir / "confidence.png"),
        f"Distribution of the probe samples' confidence ({measure}) over training (violins split correct/wrong for few snapshots; otherwise a density with median and quartiles)."))
    final_cal = cal["max softmax (paper)"].iloc[-1]
    bar.update()

    # ------------------------------------------------------------------ layout
    stage("layout")
    if layout is None:
        try:
            layout = layout_mod.load_layout(run, layer)
            made = "loaded from the run"
        except Exception:
            layout_mod.warm_up() if method == "umap" else None
            layout = layout_mod.layout_from_run(run, layer, method=method, seed=seed,
                                                refine=True if method == "umap" else None)
            layout.save(run)
            made = "computed now and saved into the run"
    else:
        made = "given"
    profiles = layout_mod.layout_profiles(run, layer)
    quality = layout_mod.layout_quality(layout, np.asarray(profiles))
    qual_rows = "".join(f"<tr><td>{k}</td><td>{v:.3f}</td></tr>" for k, v in quality.items())
    add("layout", "Neuron layout", (
        f"<p>Layer <b>{html.escape(layer)}</b>, {len(layout.positions)} neurons, method "
        f"<b>{html.escape(str(layout.method))}</b> ({made}); profiles: contrastive class NAPs at the "
        f"final snapshot, cosine distances. One layout serves every snapshot.</p>"
        f"<table><tr><th>quality measure</th><th>value</th></tr>{qual_rows}</table>"
        "<p>resize/blur AUC: the TAM paper's smoothness (lower is better); trustworthiness, "
        "continuity, Spearman and kNN preservation: neighbourhoods kept (higher is better).</p>"))
    if compare:
        frame = layout_mod.compare_layouts(
            run, layer=layer, repeats=3, seed=seed, progress=False,
            methods=["random", "pca", "som", "umap", "umap+refine"])
        add("layout", "", _figure_html(
            _png(plots.plot_layout_comparison(frame), figdir / "layout_comparison.png"),
            "Layout methods compared as in the TAM paper (3 repeats each): map error after "
            "down-/up-scaling and blurring (lower = smoother maps) and neighbourhood scores."))
    bar.update()

    # ------------------------------------------------------------------ maps
    stage("maps")
    rows_idx = plots.pick_snapshots(run, n=6)
    by_class = naps_mod.naps(run, layer, by="class", snapshots=rows_idx, contrastive=True)
    add("maps", "Topographic activation maps", _figure_html(
        _png(plots.plot_map_grid(by_class, layout, rows="snapshot", cols="class",
                                 title=f"{layer}: contrastive NAPs per class over training"),
             figdir / "maps_class.png"),
        "One map per class (columns) at six moments of training (rows): the contrastive NAP "
        "(a class's mean activation minus the mean over classes) laid out on the fixed layout. "
        "Red: more active than average for this class; blue: less. One colour scale for all maps."))
    by_conf = naps_mod.naps(run, layer, by="confidence", measure=measure, bins="quantile:5",
                            snapshots=rows_idx, contrastive=False)
    add("maps", "", _figure_html(
        _png(plots.plot_map_grid(by_conf, layout, rows="snapshot", cols="confidence",
                                 title=f"{layer}: mean activation per confidence quintile"),
             figdir / "maps_confidence.png"),
        f"Mean activation (not contrastive) of the probe samples in each fifth of the {measure} "
        "ranking (columns: least to most confident at that moment; the ranges are printed under "
        "each map) over training (rows). The paper's question: does activity grow stronger and "
        "more distinct with confidence and with training?"))
    final = [run.n_snapshots - 1]
    cc = naps_mod.naps(run, layer, by="class+confidence", measure=measure,
                       bins=[0.0, 0.5, 0.8, 0.95, 1.0], snapshots=final, contrastive=True)
    add("maps", "", _figure_html(
        _png(plots.plot_map_grid(cc, layout, rows="confidence", cols="class",
                                 title=f"{layer}: class × confidence, {table['label'].iloc[-1]}"),
             figdir / "maps_class_confidence.png"),
        "Contrastive NAPs per class (columns) and confidence range (rows) at the end of training; "
        "blank: fewer than 5 samples."))
    cw = naps_mod.naps(run, layer, by="correct", snapshots=rows_idx, contrastive=False)
    add("maps", "", _figure_html(
        _png(plots.plot_map_grid(cw, layout, rows="correct", cols="snapshot",
                                 difference=("correct", "wrong"),
                                 title=f"{layer}: correct − wrong"),
             figdir / "maps_correct_wrong.png"),
        "Mean activation of correctly minus wrongly predicted samples over training."))
    rho = analysis.neuron_correlation(run, layer=layer, measure=measure, snapshots=final)
    fig = plots.plot_map(rho.values[0], layout, label="Spearman ρ", vlim=1.0,
                         title=f"{layer}: each neuron's correlation with confidence, {table['label'].iloc[-1]}")
    add("maps", "", _figure_html(
        _png(fig, figdir / "map_neuron_correlation.png"),
        "Rank correlation between each neuron's activation and the sample's confidence at the end "
        "of training, drawn as a map: where does activity follow confidence? Grey holes: neurons "
        "that are constant over the probe set (dead ReLUs), where no correlation exists."))
    bar.update()

    # ------------------------------------------------------------------ animation
    if animation:
        stage("animation")
        all_conf = naps_mod.naps(run, layer, by="confidence", measure=measure, bins="quantile:5")
        gif = animate_maps(all_conf, layout, out / "maps_confidence.gif",
                           run=run, cols="confidence", progress=False, fps=3)
        add("maps", "", _figure_html(
            base64.b64encode(gif.read_bytes()).decode("ascii"),
            "Animation: mean activation per confidence quintile at every snapshot.", mime="image/gif"))
        bar.update()

    # ------------------------------------------------------------------ statistics
    stage("statistics")
    corr = analysis.activity_confidence(run, measure=measure, seed=seed, n_boot=500)
    add("stats", "Activity and confidence", _figure_html(
        _png(plots.plot_correlation(corr, x="progress"), figdir / "correlation.png"),
        "Sample-level Spearman correlation between a sample's confidence and its layer activity "
        "(mean activation), with a 95% bootstrap interval, over training."))
    bins = analysis.bin_statistics(run, measure=measure)
    for lyr in run.layers:
        add("stats", "", _figure_html(
            _png(plots.plot_bin_statistics(bins, layer=lyr, x="progress"), figdir / f"bins_{lyr}.png"),
            f"{html.escape(lyr)}: strength (mean |NAP|) and distinctness (mean pairwise cosine "
            "distance between class NAPs) per confidence bin over training."))
    claims = analysis.claim_summary(run, measure=measure, seed=seed, n_boot=500, n_permutations=1000)
    bar.update()

    # ------------------------------------------------------------------ findings
    stage("writing")
    n_sup = int((claims["verdict"] == "supported").sum())
    n_all = len(claims)
    if n_sup == n_all:
        overall = "This run <b>supports</b> the paper's claim in every part"
    elif n_sup == 0:
        overall = "This run does <b>not</b> support the paper's claim in any part"
    else:
        overall = f"This run supports <b>{n_sup} of {n_all}</b> parts of the paper's claim"
    items = "".join(
        f'<li><span class="{_verdict_class(r.verdict)}">{html.escape(str(r.verdict))}</span> — '
        f"{html.escape(str(r.claim))} ({html.escape(str(r.layer))}): {html.escape(str(r.evidence))}</li>"
        for r in claims.itertuples())
    last = table.iloc[-1]
    acc = final_cal.get("accuracy", np.nan)
    findings = (
        f'<div class="verdict">{overall}: "activity becomes stronger and more distinct both with '
        f'training time and with confidence" (measure: {html.escape(measure)}).</div><ul>{items}</ul>'
        f"<p>At the end of training ({html.escape(str(last['label']))}) the probe accuracy is "
        f"{acc:.3f}, the mean confidence {final_cal.get('mean_confidence', np.nan):.3f} and the ECE "
        f"{final_cal.get('ece_width', np.nan):.3f}. Trend p-values treat the snapshots of one run as "
        "exchangeable and so overstate significance; compare across seeds before concluding.</p>")
    summary_cols = [c for c in ("layer", "claim", "rho", "p_value", "ci_low", "ci_high", "n", "verdict") if c in claims]
    findings += "<details><summary>claim table</summary>" + _table_html(claims[summary_cols]) + "</details>"

    manifest = run.manifest
    versions = manifest.get("versions", {})
    try:
        import importlib.metadata as md

        versions = {**versions, "actconf (report)": md.version("actconf")}
    except Exception:
        pass
    config_rows = {
        "dataset": manifest.get("dataset", {}).get("name", "?"),
        "probe samples": f"{run.n_samples} ({run.n_classes} classes)",
        "layers": ", ".join(f"{k} ({v})" for k, v in run.layer_sizes.items()),
        "snapshots": f"{run.n_snapshots} ({', '.join(f'{n} {k}' for k, n in table['kind'].value_counts().items())})",
        "MC-dropout passes": run.mc_samples,
        "layout": f"{layout.method}, seed {layout.seed}",
        "confidence measure": measure,
        **{f"study: {k}": v for k, v in study.items() if k != "extra"},
    }
    conf_html = "<table>" + "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in config_rows.items()
    ) + "</table>"
    ver_html = "<table>" + "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in versions.items()
    ) + "</table>"
    snap_cols = [c for c in ("label", "kind", "step", "progress", "loss", "accuracy", "val_loss", "val_accuracy") if c in table]
    appendix = (
        "<h3>Configuration</h3>" + conf_html + "<h3>Versions</h3>" + ver_html
        + "<details><summary>snapshot table</summary>" + _table_html(table[snap_cols], max_rows=500) + "</details>"
        + "<details><summary>model</summary><pre>" + html.escape(manifest.get("model", {}).get("summary", ""))
        + "</pre></details>"
    )
    order = [("findings", "Findings", findings)]
    body = []
    nav = []
    for key, title, content in order:
        nav.append(f'<a href="#{key}">{title}</a>')
        body.append(f'<h2 id="{key}">{title}</h2>{content}')
    for sec in sections.values():
        nav.append(f'<a href="#{sec.key}">{sec.title}</a>')
        body.append(f'<h2 id="{sec.key}">{sec.title}</h2>' + "".join(sec.parts))
    nav.append('<a href="#config">Configuration</a>')
    body.append('<h2 id="config">Configuration and versions</h2>' + appendix)
    name = run.path.name
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>actconf report — {html.escape(name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>actconf report: {html.escape(name)}</h1>"
        f"<p class='sub'>{html.escape(str(config_rows['dataset']))} · {html.escape(str(manifest.get('model', {}).get('name', '')))} · "
        f"{run.n_snapshots} snapshots · written {time.strftime('%Y-%m-%d %H:%M')} in "
        f"{time.perf_counter() - t0:.0f} s</p><nav>{''.join(nav)}</nav>"
        + "".join(body) + "</body></html>"
    )
    path = out / "report.html"
    tmp = path.with_suffix(".html.partial")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    bar.update()
    bar.close()
    return path
