"""Each section builder of the report on a small synthetic run (no training)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image

from actconf.layout import layout_from_run
from actconf.report import sections
from actconf.report.context import ReportContext
from actconf.report.page import Code, Figure, Section, Strong, Table, Text, Verdicts
from actconf.testing import reference_ece, report_arrays, write_synthetic_run

# the shape of conftest's report_run: the defaults of actconf.testing.report_arrays
N_SNAPSHOTS, N_SAMPLES, N_CLASSES = 5, 60, 3
LAYERS = {"hidden_1": 12, "hidden_2": 8}


@pytest.fixture(scope="module")
def layout(report_run):
    return layout_from_run(report_run, "hidden_1", method="pca")


@pytest.fixture
def ctx(report_run, layout, tmp_path):
    return ReportContext(run=report_run, layer="hidden_1", layout=layout, measure="max_softmax", seed=0,
                         folder=tmp_path, compare=False)


def check_figures(section: Section, folder, names: list[str]) -> None:
    """The section holds exactly these figures, each saved as a readable image and captioned."""
    assert [f.name for f in section.figures] == names
    for fig in section.figures:
        assert isinstance(fig, Figure) and len(fig.caption) > 40 and fig.data
        path = folder / "figures" / fig.name if fig.mime == "image/png" else folder / fig.name
        with Image.open(path) as im:
            assert im.size[0] > 200 and im.size[1] > 100


def test_training_section(ctx, tmp_path):
    section = sections.training_section(ctx)
    assert (section.key, section.title) == ("training", "Training")
    check_figures(section, tmp_path, ["training.png"])
    assert section.figures[0].caption.startswith("Loss and accuracy (training and validation)")


@pytest.mark.slow
def test_confidence_section(ctx, tmp_path):
    section = sections.confidence_section(ctx)
    assert (section.key, section.title, section.nav_label) == ("confidence", "Confidence and calibration",
                                                                "Confidence")
    check_figures(section, tmp_path, ["calibration.png", "reliability.png", "confidence.png"])
    assert "(max_softmax)" in section.figures[2].caption
    assert list(ctx.calibrations) == ["max softmax (paper)", "temperature-scaled", "MC dropout"]


def test_calibration_keeps_only_the_measures_a_run_has(tmp_path, layout):
    run = write_synthetic_run(tmp_path / "run", **report_arrays(mc=False))
    ctx = ReportContext(run=run, layer="hidden_1", layout=layout, measure="max_softmax", seed=0, folder=tmp_path)
    assert list(ctx.calibrations) == ["max softmax (paper)", "temperature-scaled"]


def test_layout_section_says_where_the_layout_came_from(ctx, layout, tmp_path):
    section = sections.layout_section(ctx)
    assert (section.key, section.title) == ("layout", "Neuron layout")
    assert section.figures == []  # compare=False
    about = section.texts[0].plain
    assert about.startswith(f"Layer hidden_1, {LAYERS['hidden_1']} neurons, method pca (computed for this report")
    assert "not saved into the run" in about
    quality = section.tables[0]
    assert quality.columns == ("quality measure", "value")
    assert {"trustworthiness", "continuity"} <= {row[0] for row in quality.rows}
    assert all(re.fullmatch(r"-?\d+\.\d{3}", value) for _, value in quality.rows)
    given = dataclasses.replace(ctx, layout_given=True)
    assert "(given)" in sections.layout_section(given).texts[0].plain
    saved = dataclasses.replace(ctx, layout=dataclasses.replace(layout, saved_as="default"))
    assert "(loaded from the run, saved as 'default')" in sections.layout_section(saved).texts[0].plain


@pytest.mark.slow
def test_layout_section_compares_methods(ctx, tmp_path):
    ctx.compare = True
    section = sections.layout_section(ctx)
    check_figures(section, tmp_path, ["layout_comparison.png"])
    assert f"({sections.COMPARE_REPEATS} seeds each)" in section.figures[0].caption
    assert "notebook 03" in section.figures[0].caption


@pytest.mark.slow
def test_maps_section(ctx, tmp_path):
    section = sections.maps_section(ctx)
    assert (section.key, section.title) == ("maps", "Topographic activation maps")
    check_figures(section, tmp_path, ["maps_class.png", "maps_confidence.png", "maps_class_confidence.png",
                                      "maps_correct_wrong.png", "map_neuron_correlation.png"])
    captions = [f.caption for f in section.figures]
    assert "each fifth of the max_softmax ranking" in captions[1]
    assert captions[4].startswith("Rank correlation between each neuron's activation")


def test_animation_section(ctx, tmp_path):
    section = sections.animation_section(ctx)
    assert section.key == "animation"
    check_figures(section, tmp_path, ["maps_confidence.gif"])
    assert section.figures[0].mime == "image/gif"
    with Image.open(tmp_path / "maps_confidence.gif") as gif:
        assert gif.n_frames == N_SNAPSHOTS


def test_statistics_section(ctx, tmp_path):
    section = sections.statistics_section(ctx)
    assert (section.key, section.title) == ("stats", "Activity and confidence")
    check_figures(section, tmp_path, ["correlation.png"] + [f"bins_{layer}.png" for layer in LAYERS])
    assert section.figures[2].caption.startswith("hidden_2: strength (mean |NAP|)")


def _brute_force_calibration(logits, labels, n_bins=15):
    """Accuracy, mean max-softmax confidence and equal-width ECE of one snapshot, by loops."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == labels)
    return correct.mean(), conf.mean(), reference_ece(conf, correct, n_bins)


def test_findings_section(ctx, tmp_path):
    section = sections.findings_section(ctx)
    assert (section.key, section.title) == ("findings", "Findings")
    banner, scope, verdicts, *figures, end, table = section.blocks
    claims = ctx.claims
    n_sup = int((claims["verdict"] == "supported").sum())
    assert banner.style == "verdict" and "activity becomes stronger and more distinct" in banner.plain
    assert n_sup < len(claims)  # five snapshots of 60 samples cannot support every part
    assert banner.plain.startswith("".join(sections._overall(n_sup, len(claims), 1)))
    assert "change from the untrained state" in banner.plain
    assert [p for p in banner.parts if isinstance(p, Strong)] == [sections._overall(n_sup, len(claims), 1)[1]]
    untestable = claims[claims["p_value"].isna()]
    assert all("not testable" in e for e in untestable["evidence"])  # says why, instead of a verdict
    assert scope.plain.startswith("One run:") and "several seeds" in scope.plain
    from actconf.analysis import STATEMENTS

    assert isinstance(verdicts, Verdicts) and len(verdicts.items) == len(claims) == len(STATEMENTS) * len(LAYERS)
    assert {v.css_class for v in verdicts.items} <= {"supported", "contradicted", "not-supported"}
    check_figures(Section("f", "f", figures), tmp_path, [f"claims_{layer}.png" for layer in LAYERS])
    arrays = report_arrays()
    acc, mean_conf, ece = _brute_force_calibration(arrays["logits"][-1], arrays["labels"])
    assert isinstance(end, Text)
    assert f"the probe accuracy is {acc:.3f}, the mean confidence {mean_conf:.3f} and the ECE {ece:.3f}" in end.plain
    assert isinstance(table, Table) and table.collapsed == "claim table"
    assert table.columns[:2] == ("layer", "claim") and len(table.rows) == len(claims)
    assert "p" in table.columns and all(row[table.columns.index("p")].startswith("p ") for row in table.rows)


def test_findings_across_replicate_runs(report_run, layout, tmp_path):
    """With replicates the findings test across runs and say so."""
    others = [write_synthetic_run(tmp_path / f"seed{s}", **report_arrays(seed=s)) for s in (1, 2)]
    ctx = ReportContext(run=report_run, layer="hidden_1", layout=layout, measure="max_softmax", seed=0,
                        folder=tmp_path, compare=False, replicates=others)
    section = sections.findings_section(ctx)
    banner, scope = section.blocks[:2]
    assert banner.plain.startswith("These 3 runs ")
    assert scope.plain.startswith("3 runs (seeds)") and "fewer than 5 runs" in scope.plain
    assert (ctx.claims["n_runs"] == 3).all() and (ctx.claims["unit"] == "runs").all()


def test_overall_verdict_wording():
    assert "".join(sections._overall(5, 5, 1)) == "This run supports the paper's claim in every part"
    assert "".join(sections._overall(0, 5, 1)) == "This run does not support the paper's claim in any part"
    assert "".join(sections._overall(2, 5, 1)) == "This run supports 2 of 5 parts of the paper's claim"
    assert "".join(sections._overall(2, 5, 6)) == "These 6 runs support 2 of 5 parts of the paper's claim"


def test_configuration_section(ctx):
    section = sections.configuration_section(ctx)
    assert (section.key, section.title, section.nav_label) == ("config", "Configuration and versions",
                                                                "Configuration")
    config, versions, snapshots, model = section.blocks
    assert config.heading == "Configuration" and config.row_headers
    rows = dict(config.rows)
    assert rows["layers"] == "hidden_1 (12), hidden_2 (8)"
    assert rows["snapshots"] == f"{N_SNAPSHOTS} ({N_SNAPSHOTS - 1} epoch, 1 initial)"  # most frequent kind first
    assert rows["probe samples"] == f"{N_SAMPLES} ({N_CLASSES} classes)"
    assert rows["layout"] == "pca, seed 0" and rows["confidence measure"] == "max_softmax"
    assert versions.heading == "Versions"
    assert snapshots.collapsed == "snapshot table" and len(snapshots.rows) == N_SNAPSHOTS
    assert snapshots.columns == ("label", "kind", "step", "progress", "loss", "accuracy", "val_loss", "val_accuracy")
    assert snapshots.rows[2][:2] == ("epoch 2", "epoch") and snapshots.rows[2][4] == f"{2.0 / 3:.3g}"
    assert isinstance(model, Code) and model.collapsed == "model"


def test_page_builders_follow_the_page_order():
    names = [b.__name__ for b in sections.page_builders()]
    assert names == ["findings_section", "training_section", "confidence_section", "layout_section",
                     "maps_section", "animation_section", "statistics_section", "configuration_section"]
    assert "animation_section" not in [b.__name__ for b in sections.page_builders(animation=False)]
