"""One builder per section of the report.

Every builder takes the :class:`~actconf.report.context.ReportContext`, draws its
figures into the context's figure folder and returns a
:class:`~actconf.report.page.Section`; none writes anything else. The page order is
:func:`page_builders`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .context import ReportContext
from .page import (
    Code,
    Section,
    Slider,
    Strong,
    Table,
    Text,
    Verdict,
    Verdicts,
    file_figure,
    frame_table,
    frames_slider,
    mapping_table,
)

CLAIM = "activity becomes stronger and more distinct both with training time and with confidence"
COMPARED_METHODS = ["random", "pca", "som", "umap", "umap+refine"]
CLAIM_COLUMNS = ("layer", "claim", "untrained", "final", "effect", "ci_low", "ci_high", "p", "test", "verdict")
SNAPSHOT_COLUMNS = ("label", "kind", "step", "progress", "loss", "accuracy", "val_loss", "val_accuracy")


#: The section builders' names in page order.
PAGE_ORDER = ("findings_section", "training_section", "confidence_section", "layout_section", "maps_section",
              "animation_section", "statistics_section", "configuration_section")


def page_builders(*, animation: bool = True) -> list[Callable[[ReportContext], Section]]:
    """The section builders in page order (looked up when called, so that they can be replaced)."""
    import sys

    this = sys.modules[__name__]
    names = list(PAGE_ORDER)
    if not animation:
        names.remove("animation_section")
    return [getattr(this, name) for name in names]


# --------------------------------------------------------------------------- findings
def _overall(n_supported: int, n_parts: int, n_runs: int) -> tuple[str, ...]:
    who = "This run" if n_runs == 1 else f"These {n_runs} runs"
    if n_supported == n_parts:
        return (f"{who} ", Strong("support" if n_runs > 1 else "supports"), " the paper's claim in every part")
    if n_supported == 0:
        return (f"{who} ", Strong("do not" if n_runs > 1 else "does not"), " support the paper's claim in any part")
    verb = "support" if n_runs > 1 else "supports"
    return (f"{who} {verb} ", Strong(f"{n_supported} of {n_parts}"), " parts of the paper's claim")


def _claim_rows(claims) -> object:
    table = claims.rename(columns={"p_text": "p"})
    return table[[c for c in CLAIM_COLUMNS if c in table]]


def findings_section(ctx: ReportContext) -> Section:
    """The verdict on the paper's claim, part by part, what the runs can show, and the end of training."""
    from .. import plots

    claims = ctx.claims
    n_runs = claims.attrs["n_runs"]
    n_sup = int((claims["verdict"] == "supported").sum())
    banner = Text((*_overall(n_sup, len(claims), n_runs), f': "{CLAIM}" (measure: {ctx.measure}; every part '
                   "measured as its change from the untrained state)."), style="verdict")
    scope = Text((claims.attrs["note"],))
    verdicts = Verdicts(tuple(Verdict(str(r.verdict), str(r.claim), str(r.layer), str(r.evidence))
                              for r in claims.itertuples()))
    figures = [ctx.figure(
        plots.plot_claims(claims, ctx.trajectories, layer=layer, x="progress"), f"claims_{layer}.png",
        f"{layer}: every part of the claim over training" + (" (thin lines: runs, thick: their mean)"
                                                              if n_runs > 1 else "")
        + "; dashed: the untrained state, the baseline of every change; title: verdict, change and p-value. "
        "Strength: mean |NAP|; distinctness: split-half cosine distance between class NAPs (zero for noise); "
        "confidence groups: equal-count fifths per snapshot; ρ controlled: partial rank correlation given the "
        "logit spread, which sharpens the softmax whatever the weights learned.")
        for layer in dict.fromkeys(claims["layer"])]
    final = ctx.calibrations["max softmax (paper)"].iloc[-1]
    end = Text((
        f"At the end of training ({ctx.final_label}) the probe accuracy is "
        f"{final.get('accuracy', np.nan):.3f}, the mean confidence {final.get('mean_confidence', np.nan):.3f} "
        f"and the ECE {final.get('ece_width', np.nan):.3f}"
        + (" (this run; the maps below are of this run)." if n_runs > 1 else "."),
    ))
    table = frame_table(_claim_rows(claims), collapsed="claim table")
    return Section("findings", "Findings", [banner, scope, verdicts, *figures, end, table])


# --------------------------------------------------------------------------- training, confidence
def training_section(ctx: ReportContext) -> Section:
    """Learning curves."""
    from .. import plots

    fig = ctx.figure(plots.plot_training(ctx.run), "training.png",
                     "Loss and accuracy (training and validation) over epochs. Ticks along the bottom mark "
                     "the recorded snapshots; dots are batch snapshots (Keras' running means within the epoch).")
    return Section("training", "Training", [fig])


def confidence_section(ctx: ReportContext) -> Section:
    """Calibration over training, reliability diagrams and the distribution of confidence."""
    from .. import confidence, plots

    run, measure = ctx.run, ctx.measure
    calibration = ctx.figure(
        plots.plot_calibration(ctx.calibrations, x="progress"), "calibration.png",
        "Accuracy vs. mean confidence, expected calibration error (equal-width solid, equal-mass "
        "dashed) and NLL/Brier score of the probe set over training, for the paper's max-softmax "
        "confidence and better-founded alternatives.")
    reliability = ctx.figure(
        plots.plot_reliability(confidence.reliability(run, measure=measure)), "reliability.png",
        "Reliability diagrams at four moments of training: bars above the diagonal are "
        "under-confident, below it over-confident.")
    distribution = ctx.figure(
        plots.plot_confidence(confidence.confidence(run, measure=measure)), "confidence.png",
        f"Distribution of the probe samples' confidence ({measure}) over training (violins split "
        "correct/wrong for few snapshots; otherwise a density with median and quartiles).")
    return Section("confidence", "Confidence and calibration", [calibration, reliability, distribution],
                   nav="Confidence")


# --------------------------------------------------------------------------- layout
#: Repeats per method of the report's layout comparison: enough to show each method's
#: spread next to the gaps between methods; the full comparison (all methods, input
#: re-draws, 10+ repeats) is notebook 03's (``compare_layouts(run, repeats=10, redraw="inputs")``).
COMPARE_REPEATS = 2


def layout_section(ctx: ReportContext) -> Section:
    """The layout's provenance and quality; with ``ctx.compare`` the paper's method comparison."""
    from .. import layout as layout_mod
    from .. import plots

    layout = ctx.layout
    about = Text((
        "Layer ", Strong(ctx.layer), f", {len(layout.positions)} neurons, method ", Strong(str(layout.method)),
        f" ({ctx.layout_origin}); profiles: contrastive class NAPs at the final snapshot, cosine distances. "
        "One layout serves every snapshot.",
    ))
    profiles = np.asarray(layout_mod.layout_profiles(ctx.run, ctx.layer))
    quality = layout_mod.layout_quality(layout, profiles)
    table = Table(rows=tuple((k, f"{v:.3f}") for k, v in quality.items()), columns=("quality measure", "value"))
    note = Text(("resize/blur AUC: actconf's masked smoothness — the error after down-/up-scaling and "
                 "blurring each map, blanks outside the hull treated as missing data (lower is better; the TAM "
                 "authors' own measure scores their rendered images, where blank is white, and ranks methods "
                 "differently: see docs/layout-quality.md); trustworthiness, continuity, Spearman and kNN "
                 "preservation: neighbourhoods kept (higher is better).",))
    blocks = [about, table, note]
    if ctx.compare:
        # the same profiles as above (compare_layouts would compute them again from the run)
        frame = layout_mod.compare_layouts(profiles, repeats=COMPARE_REPEATS, seed=ctx.seed, progress=False,
                                           methods=COMPARED_METHODS)
        blocks.append(ctx.figure(
            plots.plot_layout_comparison(frame), "layout_comparison.png",
            f"Layout methods compared as in the TAM paper ({COMPARE_REPEATS} seeds each): map error after "
            "down-/up-scaling and blurring (lower = smoother maps) and neighbourhood scores. The full "
            "comparison (every method, re-drawn probe samples, more repeats) is notebook 03's."))
    return Section("layout", "Neuron layout", blocks, nav="Layout")


# --------------------------------------------------------------------------- maps
#: Inches per map in the report's grids: the widest grid (6 snapshots) stays within the page
#: (about 1,150 px at the figures' 110 dpi), so no text is shrunk below its 7-9 pt.
MAP_PANEL = 1.35
#: Dots per inch of the slider frames (as the page's static figures).
FRAME_DPI = 110


def colour_note(fig) -> str:
    """The colour convention a map figure follows, in words (for its caption)."""
    name = fig.axes[0].images[-1].get_cmap().name
    if name.startswith("Reds"):
        return ("Colour: sequential scale from 0 (white) to the largest value (dark red), as for all "
                "non-negative maps in this report.")
    return ("Colour: diverging scale centred on 0 (red above, blue below, white at 0), as for all signed "
            "maps in this report.")


def _grid(ctx: ReportContext, naps, filename: str, caption: str, **options):
    from .. import plots

    fig = plots.plot_map_grid(naps, ctx.layout, style=plots.MapStyle(panel_size=MAP_PANEL), **options)
    return ctx.figure(fig, filename, f"{caption} {colour_note(fig)}")


def _class_maps(ctx: ReportContext, rows: list[int]):
    from ..naps import naps

    by_class = naps(ctx.run, ctx.layer, by="class", snapshots=rows, contrastive=True)
    return _grid(ctx, by_class, "maps_class.png",
                 "One map per class (rows) at six moments of training (columns): the contrastive NAP (a class's "
                 "mean activation minus the mean over classes) laid out on the fixed layout. Red: more active "
                 "than average for this class; blue: less. One colour scale for all maps.",
                 rows="class", cols="snapshot", title=f"{ctx.layer}: contrastive NAPs per class over training")


def _confidence_maps(ctx: ReportContext, rows: list[int]):
    from ..naps import naps

    by_conf = naps(ctx.run, ctx.layer, by="confidence", measure=ctx.measure, bins="quantile:5",
                   snapshots=rows, contrastive=False)
    return _grid(ctx, by_conf, "maps_confidence.png",
                 f"Mean activation (not contrastive) of the probe samples in each fifth of the {ctx.measure} "
                 "ranking (columns: least to most confident at that moment; the ranges are printed under "
                 "each map) over training (rows). The paper's question: does activity grow stronger and "
                 "more distinct with confidence and with training?",
                 rows="snapshot", cols="confidence", title=f"{ctx.layer}: mean activation per confidence quintile")


def _class_confidence_maps(ctx: ReportContext):
    from ..naps import naps

    cc = naps(ctx.run, ctx.layer, by="class+confidence", measure=ctx.measure, bins=[0.0, 0.5, 0.8, 0.95, 1.0],
              snapshots=[ctx.run.n_snapshots - 1], contrastive=True)
    return _grid(ctx, cc, "maps_class_confidence.png",
                 "Contrastive NAPs per class (rows) and confidence range (columns) at the end of training; "
                 "blank: fewer than 5 samples.",
                 rows="class", cols="confidence", title=f"{ctx.layer}: class × confidence, {ctx.final_label}")


def _correct_wrong_maps(ctx: ReportContext, rows: list[int]):
    from ..naps import naps

    cw = naps(ctx.run, ctx.layer, by="correct", snapshots=rows, contrastive=False)
    return _grid(ctx, cw, "maps_correct_wrong.png",
                 "Mean activation of correctly minus wrongly predicted samples over training.",
                 rows="correct", cols="snapshot", difference=("correct", "wrong"),
                 title=f"{ctx.layer}: correct − wrong")


def _correlation_map(ctx: ReportContext):
    from .. import plots
    from ..analysis import neuron_correlation

    rho = neuron_correlation(ctx.run, layer=ctx.layer, measure=ctx.measure, snapshots=[ctx.run.n_snapshots - 1])
    fig = plots.plot_map(rho.values[0], ctx.layout, label="Spearman ρ", style=plots.MapStyle(vlim=1.0),
                         title=f"{ctx.layer}: each neuron's correlation with confidence, {ctx.final_label}")
    return ctx.figure(fig, "map_neuron_correlation.png",
                      "Rank correlation between each neuron's activation and the sample's confidence at the end "
                      "of training, drawn as a map: where does activity follow confidence? Grey holes: neurons "
                      "that are constant over the probe set (dead ReLUs), where no correlation exists. Colour: "
                      "diverging scale from −1 (blue) to 1 (red).")


def maps_section(ctx: ReportContext) -> Section:
    """Topographic activation maps: per class, per confidence quintile, class × confidence, correct − wrong."""
    from ..plots import pick_snapshots

    rows = list(pick_snapshots(ctx.run, n=6))
    figures = [_class_maps(ctx, rows), _confidence_maps(ctx, rows), _class_confidence_maps(ctx),
               _correct_wrong_maps(ctx, rows), _correlation_map(ctx)]
    return Section("maps", "Topographic activation maps", figures, nav="Maps")


# --------------------------------------------------------------------------- animation: sliders over snapshots
def _maps_slider(ctx: ReportContext, key: str, naps, caption: str, *, cols: str, panel_size: float,
                 quantity: str | None = None) -> tuple[Slider, list[np.ndarray], str]:
    """The slider, its frames' pixels and the colormap's name (the GIF reuses the frames)."""
    from ..animate import grid_frames
    from ..plots import MapStyle

    frames = grid_frames(naps, ctx.layout, run=ctx.run, cols=cols, caller="report", quantity=quantity,
                         style=MapStyle(dpi=FRAME_DPI, panel_size=panel_size))
    pixels = [frames.rgba(k)[..., :3].copy() for k in range(len(frames))]
    note = colour_note(frames.grid.fig)
    return frames_slider(key, pixels, frames.labels, f"{caption} {note}", fps=4), pixels, frames.cmap


def _maps_confidence_slider(ctx: ReportContext, nap) -> tuple[Slider, list[np.ndarray], str]:
    return _maps_slider(ctx, "maps-confidence", nap,
                        "Mean activation per confidence quintile at every snapshot (the slider, the arrow keys "
                        "or ▶ step through training); one colour scale for all snapshots, so colour change means "
                        "activity change.", cols="confidence", panel_size=1.5)


def _maps_class_slider(ctx: ReportContext) -> Slider:
    from ..naps import naps

    nap = naps(ctx.run, ctx.layer, by="class", contrastive=True)
    return _maps_slider(ctx, "maps-class", nap,
                        "Contrastive NAPs per class (a class's mean activation minus the mean over classes) at "
                        "every snapshot; one colour scale for all snapshots.",
                        cols="class", panel_size=0.9 if ctx.run.n_classes > 6 else 1.5,
                        quantity="contrastive NAP")[0]


def _correlation_slider(ctx: ReportContext) -> Slider:
    """The explorer's correlation views at every snapshot: scatter, per-neuron map, correlation curve."""
    from .. import plots
    from ..analysis import neuron_correlation, sample_activity
    from ..confidence import confidence

    run, layer = ctx.run, ctx.layer
    conf = confidence(run, measure=ctx.measure)
    values = np.asarray(conf.values, dtype=float)
    correct = np.asarray(conf["prediction"].values) == np.asarray(run.labels)[None, :]
    table = ctx.layer_correlations(layer)
    renderer = plots.map_renderer(ctx.layout, plots.MapStyle())
    rho_n = np.asarray(neuron_correlation(run, layer=layer, measure=ctx.measure).values, dtype=float)
    column = {name: table[name].to_numpy(dtype=float) for name in ("rho", "ci_low", "ci_high", "progress")}
    series = plots.CorrelationSeries(
        confidence=values, activity=np.asarray(sample_activity(run, layer=layer).values, dtype=float),
        colors=plots.sample_colors(run.labels, correct, list(run.class_names), "class"),
        maps=renderer.render(rho_n), x=column["progress"], rho=column["rho"], ci_low=column["ci_low"],
        ci_high=column["ci_high"], measure=ctx.measure, layer=layer, **plots.baseline_and_control(table))
    labels = [str(x) for x in run.snapshots["label"]]
    pixels = list(plots.correlation_frames(series, renderer, labels, dpi=105))
    return frames_slider("correlation", pixels, labels,
                         "Activity and confidence at every snapshot: each probe sample's confidence against its "
                         "mean activation (title: Spearman ρ with its 95% bootstrap interval), each neuron's "
                         "correlation with confidence as a map (diverging scale, −1 blue to 1 red), and the "
                         "correlation over training with the snapshot marked — raw (solid), controlled for the "
                         "logit spread (dotted: what is more than a sharper softmax) and the untrained value "
                         "(dashed: only the change from it is learned).", fps=4)


#: Dots per inch of the GIF (smaller than the sliders': it is a download, folded away on the page).
GIF_DPI = 80


def _gif(ctx: ReportContext, pixels: list[np.ndarray], cmap: str) -> Path:
    """The first slider's frames as ``maps_confidence.gif``, scaled to :data:`GIF_DPI` (not drawn again)."""
    from PIL import Image

    from ..animate import write_gif

    height, width = pixels[0].shape[:2]
    size = (round(width * GIF_DPI / FRAME_DPI), round(height * GIF_DPI / FRAME_DPI))
    small = [np.asarray(Image.fromarray(p).resize(size, Image.Resampling.LANCZOS)) for p in pixels]
    return write_gif(small, ctx.folder / "maps_confidence.gif", fps=3, cmap=cmap)


def animation_section(ctx: ReportContext) -> Section:
    """Sliders over every snapshot (maps per confidence quintile, per class; correlation views) and the GIF."""
    from ..naps import naps

    by_conf = naps(ctx.run, ctx.layer, by="confidence", measure=ctx.measure, bins="quantile:5",
                   contrastive=False)
    first, pixels, cmap = _maps_confidence_slider(ctx, by_conf)
    blocks: list = [first, _maps_class_slider(ctx), _correlation_slider(ctx)]
    gif = _gif(ctx, pixels, cmap)
    note = first.caption[first.caption.index("Colour:"):]
    blocks.append(file_figure(
        gif, "Animation: mean activation per confidence quintile at every snapshot (the first slider as a GIF, "
        f"also saved as maps_confidence.gif next to this page). {note}", mime="image/gif",
        collapsed="the same animation as a GIF"))
    return Section("animation", "Maps over training", blocks, nav="Over training")


# --------------------------------------------------------------------------- statistics
def statistics_section(ctx: ReportContext) -> Section:
    """Sample-level activity–confidence correlation (raw and controlled), and statistics per confidence group."""
    from .. import analysis, plots

    run = ctx.run
    corr = ctx.correlations
    figures = [ctx.figure(
        plots.plot_correlation(corr, x="progress"), "correlation.png",
        "Sample-level Spearman correlation between a sample's confidence and its layer activity (mean "
        "activation) over training, with 95% bootstrap intervals (over probe samples, within each snapshot). "
        "Dashed: the untrained state — the relation a network has before learning anything, because larger "
        "activations give larger logits and a sharper softmax. Dotted: the same correlation controlled for "
        "that scale (partialled on the logit spread).")]
    bins = analysis.bin_statistics(run, measure=ctx.measure)
    for layer in run.layers:
        figures.append(ctx.figure(
            plots.plot_bin_statistics(bins, layer=layer, x="progress"), f"bins_{layer}.png",
            f"{layer}: strength (mean |NAP|) and distinctness (split-half mean pairwise cosine distance between "
            "class NAPs: zero when classes do not differ, however small a group) per confidence fifth "
            "(equal-count groups recomputed at every snapshot) over training; dashed: the untrained state."))
    return Section("stats", "Activity and confidence", figures, nav="Statistics")


# --------------------------------------------------------------------------- configuration
def _versions(manifest: dict) -> dict:
    import importlib.metadata as md

    versions = dict(manifest.get("versions", {}))
    try:
        versions["actconf (report)"] = md.version("actconf")
    except md.PackageNotFoundError:  # running from a source tree that is not installed
        pass
    return versions


def configuration_section(ctx: ReportContext) -> Section:
    """Dataset, probe, layers, snapshots, layout, study settings, versions, snapshot table, model summary."""
    run, manifest, table = ctx.run, ctx.run.manifest, ctx.run.snapshots
    kinds = ", ".join(f"{n} {k}" for k, n in table["kind"].value_counts().items())
    config = {
        "dataset": manifest.get("dataset", {}).get("name", "?"),
        "probe samples": f"{run.n_samples} ({run.n_classes} classes)",
        "layers": ", ".join(f"{k} ({v})" for k, v in run.layer_sizes.items()),
        "snapshots": f"{run.n_snapshots} ({kinds})",
        "MC-dropout passes": run.mc_samples,
        "layout": f"{ctx.layout.method}, seed {ctx.layout.seed}",
        "confidence measure": ctx.measure,
        **{f"study: {k}": v for k, v in ctx.study.items() if k != "extra"},
    }
    blocks = [
        mapping_table(config, heading="Configuration"),
        mapping_table(_versions(manifest), heading="Versions"),
        frame_table(table[[c for c in SNAPSHOT_COLUMNS if c in table]], max_rows=500, collapsed="snapshot table"),
        Code(manifest.get("model", {}).get("summary", ""), collapsed="model"),
    ]
    return Section("config", "Configuration and versions", blocks, nav="Configuration")


def is_original(builder: Callable[[ReportContext], Section]) -> bool:
    """Whether ``builder`` is this module's own builder of its name (not one put in its place,
    e.g. by a test): only those can be built by another process, which imports this module afresh."""
    return _ORIGINALS.get(getattr(builder, "__name__", None)) is builder


_ORIGINALS = {name: globals()[name] for name in PAGE_ORDER}
