"""The HTML report and `actconf run` end to end (small settings)."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import actconf
from actconf.cli import main
from actconf.plots import pick_snapshots
from actconf.report import build_report

pytestmark = pytest.mark.slow  # every test here uses the trained study run

EXPECTED_FIGURES = [
    "training.png", "calibration.png", "reliability.png", "confidence.png", "layout_comparison.png",
    "maps_class.png", "maps_confidence.png", "maps_class_confidence.png", "maps_correct_wrong.png",
    "map_neuron_correlation.png", "correlation.png", "claims_hidden_1.png",
]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.ids, self.stack, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if "id" in attrs:
            self.ids.append(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """`actconf run` in-process with small settings: trains, records, writes the report."""
    out = tmp_path_factory.mktemp("study") / "run"
    code = main(["run", "--epochs", "3", "--max-train", "400", "--probe-per-class", "12",
                 "--mc-samples", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_run_writes_run_and_report(study_run):
    run = actconf.open_run(study_run)
    table = run.snapshots
    assert list(table["kind"]).count("epoch") == 3 and table["kind"].iloc[0] == "initial"
    assert (table["kind"] == "batch").sum() >= 5  # "auto": about 10 in the first epoch
    study = run.manifest["config"]["study"]
    assert study["epochs"] == 3 and study["max_train"] == 400 and study["dataset"] == "digits"
    assert run.n_samples == 120 and run.mc_samples == 2
    assert (study_run / "layouts").is_dir()  # `actconf run` saved the layout the report uses
    assert (study_run / "report" / "report.html").is_file()


def test_report_embeds_figures_and_configuration(study_run):
    page = (study_run / "report" / "report.html").read_text()
    parser = _Collector()
    parser.feed(page)
    pngs = [src for src in parser.images if src.startswith("data:image/png;base64,")]
    gifs = [src for src in parser.images if src.startswith("data:image/gif;base64,")]
    assert len(pngs) >= len(EXPECTED_FIGURES) and len(gifs) == 1
    from PIL import Image

    for src in pngs + gifs:  # every embedded image decodes
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.size[0] > 200 and im.size[1] > 100
    with Image.open(study_run / "report" / "maps_confidence.gif") as gif:
        assert gif.n_frames == actconf.open_run(study_run).n_snapshots
    for name in EXPECTED_FIGURES:
        assert (study_run / "report" / "figures" / name).is_file(), name
    assert {"findings", "training", "confidence", "layout", "maps", "stats", "config"} <= set(parser.ids)
    text = " ".join(parser.text)
    assert "parts of the paper's claim" in text or "the paper's claim in" in text
    assert re.search(r"(supported|contradicted|not supported)\s+— activity becomes stronger with training "
                     r"\(whole probe set\)", text)
    assert "untrained" in text and "One run:" in text  # every part against the untrained state; scope said
    for needle in ("study: epochs", "study: max_train", "400", "digits", "hidden_1 (128)", "keras", "backend"):
        assert needle in text, needle


def test_report_rebuilds_from_the_saved_layout(study_run, tmp_path):
    run = actconf.open_run(study_run)
    layouts_before = sorted(p.name for p in (study_run / "layouts").rglob("*"))
    path = build_report(run, compare=False, animation=False, out=tmp_path / "again", progress=False)
    page = path.read_text()
    assert "loaded from the run" in page
    assert page.count("data:image/gif") == 0 and "layout_comparison" not in page
    assert sorted(p.name for p in (study_run / "layouts").rglob("*")) == layouts_before


def test_report_command(study_run, capsys, tmp_path):
    assert main(["report", str(study_run), "--no-compare", "--no-animation", "--quiet"]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 1
    assert "not an actconf run" in capsys.readouterr().err


def test_pick_snapshots_spreads_over_training(study_run):
    run = actconf.open_run(study_run)
    idx = pick_snapshots(run, n=6)
    assert idx[0] == 0 and idx[-1] == run.n_snapshots - 1 and len(idx) == 6
    assert np.all(np.diff(idx) > 0)
    progress = run.snapshots["progress"].to_numpy()[idx]
    assert (progress < 1).sum() >= 2  # early training is sampled more densely


def test_manifest_is_valid_json_with_versions(study_run):
    manifest = json.loads((study_run / "manifest.json").read_text())
    assert manifest["versions"]["backend"] == "tensorflow"
    assert manifest["dataset"]["name"] == "digits"
