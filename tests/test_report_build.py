"""build_report: checks before any work, atomic writing, the page (synthetic runs, no training)."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import actconf
from actconf.errors import ActconfError, InvalidParameterError
from actconf.layout import ensure_layout, layout_from_run
from actconf.report import build_report, sections
from actconf.report.page import Section, Strong, Text, render_page, template_text
from actconf.testing import folder_hashes, report_arrays, write_synthetic_run

FAST = {"method": "pca", "compare": False, "animation": False, "progress": False}


class Page(HTMLParser):
    """Images, ids, navigation targets and text of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.images, self.ids, self.links, self.text = [], [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if "id" in attrs:
            self.ids.append(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def run(fresh_report_run):
    """conftest's ``fresh_report_run``: a new run per test (tests build reports next to and into it)."""
    return fresh_report_run


def stub(key):
    """A section builder that does no work."""
    return lambda ctx: Section(key, key.title(), [Text(("stub",))])


@pytest.fixture
def cheap_sections(monkeypatch):
    """Replace the expensive builders (claims, calibration, maps, statistics) by stubs."""
    for name in ("findings", "confidence", "maps", "statistics"):
        monkeypatch.setattr(sections, f"{name}_section", stub(name))


# --------------------------------------------------------------------------- checks first
@pytest.mark.parametrize("kwargs", [
    {"method": "bogus"},
    {"measure": "bogus"},
    {"measure": "margin"},  # not a probability: no calibration
    {"measure": "energy"},
    {"layer": "nope"},
    {"compare": "yes"},
    {"animation": 1},
    {"progress": None},
    {"seed": -1},
    {"seed": 1.5},
    {"layout": np.zeros((12, 2))},
    {"out": 3},
    {"workers": 0},
])
def test_bad_parameters_fail_before_any_work(run, kwargs):
    before = folder_hashes(run.path)
    siblings = sorted(p.name for p in run.path.parent.iterdir())
    with pytest.raises(ActconfError) as info:
        build_report(run, **kwargs)
    name = next(iter(kwargs))
    assert f"'{name}'" in str(info.value) or name == "layer"
    assert folder_hashes(run.path) == before  # nothing written, not even an empty folder
    assert sorted(p.name for p in run.path.parent.iterdir()) == siblings


def test_bad_layer_names_the_recorded_layers(run):
    with pytest.raises(ActconfError, match="hidden_1"):
        build_report(run, layer="nope")


def test_layout_of_another_layer_is_refused(run):
    other = layout_from_run(run, "hidden_2", method="pca")
    before = folder_hashes(run.path)
    with pytest.raises(InvalidParameterError, match="layout of layer 'hidden_1'"):
        build_report(run, layout=other)
    assert folder_hashes(run.path) == before


def test_measure_needs_the_runs_data(tmp_path):
    run = write_synthetic_run(tmp_path / "run", **report_arrays(mc=False))
    before = folder_hashes(run.path)
    with pytest.raises(InvalidParameterError, match="MC-dropout passes"):
        build_report(run, measure="mc_dropout")
    assert folder_hashes(run.path) == before


def test_run_must_be_a_run_with_two_snapshots(tmp_path):
    with pytest.raises(InvalidParameterError, match="actconf.open_run"):
        build_report(42)
    one = write_synthetic_run(tmp_path / "one", activations={"h": np.ones((1, 6, 3))}, labels=[0, 1] * 3,
                              logits=np.zeros((1, 6, 2)))
    before = folder_hashes(one.path)
    with pytest.raises(InvalidParameterError, match="at least 2 snapshots"):
        build_report(one.path)  # a path is accepted and opened
    assert folder_hashes(one.path) == before


@pytest.mark.parametrize("where", ["run", "file", "other", "ancestor"])
def test_bad_out_folders_are_refused(run, tmp_path, where):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    out = {"run": run.path, "file": run.path / "manifest.json", "other": other, "ancestor": tmp_path}[where]
    before, notes = folder_hashes(run.path), folder_hashes(other)
    with pytest.raises(InvalidParameterError, match="'out' parameter"):
        build_report(run, out=out)
    assert folder_hashes(run.path) == before and folder_hashes(other) == notes


# --------------------------------------------------------------------------- writing
def test_failure_in_the_middle_keeps_the_previous_report(run, tmp_path, monkeypatch, cheap_sections):
    out = run.path / "report"
    (out / "figures").mkdir(parents=True)
    (out / "report.html").write_text("<p>the previous report</p>")
    (out / "figures" / "training.png").write_bytes(b"old png")
    before = folder_hashes(run.path)
    calls = []

    def broken(ctx):
        calls.append(sorted(p.name for p in ctx.figures.iterdir()))
        raise RuntimeError("maps failed")

    monkeypatch.setattr(sections, "maps_section", broken)
    with pytest.raises(RuntimeError, match="maps failed"):
        build_report(run, **FAST)
    assert calls == [["training.png"]]  # the sections before it did run (into the temporary folder)
    assert folder_hashes(run.path) == before  # previous report intact, temporary folder gone


def test_failure_removes_the_folders_it_created(run, tmp_path, monkeypatch, cheap_sections):
    monkeypatch.setattr(sections, "training_section", lambda ctx: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build_report(run, out=tmp_path / "new" / "deeper" / "report", **FAST)
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_success_replaces_the_previous_report_whole(run, tmp_path, cheap_sections):
    out = tmp_path / "reports" / "r1"
    build_report(run, out=out, **{**FAST, "animation": True})
    assert (out / "maps_confidence.gif").is_file()
    build_report(run, out=out, **FAST)  # an earlier report is replaced, not merged into
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["r1"]  # no temporary folders left


def test_report_never_writes_into_the_run(run, cheap_sections):
    before = folder_hashes(run.path)
    path = build_report(run, **FAST)
    after = {k: v for k, v in folder_hashes(run.path).items() if not k.startswith("report")}
    assert after == before  # in particular no layouts/ folder
    assert path == run.path / "report" / "report.html"
    assert "computed for this report, not saved into the run" in path.read_text()


def test_report_uses_the_saved_layout(run, tmp_path, cheap_sections):
    saved = ensure_layout(run, "hidden_1", method="random", seed=3, save=True)
    page = build_report(run, out=tmp_path / "r", **FAST).read_text()  # method="pca" does not matter
    assert "method <b>random</b> (loaded from the run, saved as &#39;default&#39;)" in page
    assert "random, seed 3" in page
    assert saved.saved_as == "default"


# --------------------------------------------------------------------------- the page
def test_page_escapes_text_and_inlines_the_stylesheet():
    section = Section("s", "A <title>", [Text(("x < y & ", Strong("<script>alert(1)</script>")))])
    page = render_page([section], title="t <1>", heading="h", subtitle="sub")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>&lt;script&gt;" in page and "x &lt; y &amp; " in page
    assert "<title>t &lt;1&gt;</title>" in page
    css = template_text("report.css")
    assert "font-family" in css and css.strip() in page  # stylesheet copied verbatim, not escaped


@pytest.mark.slow
def test_whole_report_on_a_synthetic_run(run):
    before = folder_hashes(run.path)
    path = build_report(run, method="pca", compare=False, progress=False)
    page = Page(path.read_text())
    assert {"findings", "training", "confidence", "layout", "maps", "animation", "stats", "config"} == set(page.ids)
    assert page.links == [f"#{key}" for key in page.ids]
    pngs = [s for s in page.images if s.startswith("data:image/png;base64,")]
    gifs = [s for s in page.images if s.startswith("data:image/gif;base64,")]
    assert len(pngs) == 14 and len(gifs) == 1  # 2 claim figures (layers) + 1 + 3 + 5 + 1 + 2 layers; the GIF
    for src in pngs + gifs:
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.size[0] > 200
    figures = sorted(p.name for p in (path.parent / "figures").iterdir())
    assert len(figures) == 14 and "maps_class.png" in figures and "claims_hidden_2.png" in figures
    after = {k: v for k, v in folder_hashes(run.path).items() if not k.startswith("report")}
    assert after == before
    assert actconf.open_run(run.path).n_snapshots == 5


# --------------------------------------------------------------------------- a second process
def _report_files(path):
    """Every file of a report folder (bytes), the page without its 'written ... in N s' subtitle."""
    import re

    folder = path.parent
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    files["report.html"] = re.sub(rb"written [^<]*? in \d+ s", b"", files["report.html"])
    return files


@pytest.mark.slow
def test_a_second_process_builds_the_same_report(run, tmp_path, monkeypatch):
    import subprocess

    from actconf.report import build as build_module

    started = []
    real = subprocess.Popen

    def spy(args, **kwargs):
        started.append(list(args))
        return real(args, **kwargs)

    kwargs = {"method": "pca", "compare": False, "progress": False}
    one = _report_files(build_report(run, out=tmp_path / "one", workers=1, **kwargs))
    monkeypatch.setattr(subprocess, "Popen", spy)
    two = _report_files(build_report(run, out=tmp_path / "two", workers=2, **kwargs))
    assert [a[1:3] for a in started] == [["-m", "actconf.report._worker"]]
    assert sorted(one) == sorted(two) and "figures/maps_class.png" in one
    assert {k for k in one if one[k] != two[k]} == set()  # byte for byte, the page included
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["figures", "maps_confidence.gif", "report.html"]
    # a second process that fails: its sections are built here instead, the same report results
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kw: real([args[0], "-c", "raise SystemExit(3)"], **kw))
    three = _report_files(build_report(run, out=tmp_path / "three", workers=2, **kwargs))
    assert three == one
    assert build_module.SECOND_PROCESS == ("layout_section", "animation_section", "statistics_section")


@pytest.mark.slow
def test_a_helper_started_early_computes_the_layout_and_builds_the_same_report(run, tmp_path, monkeypatch):
    """``warm_helper``: one process, warmed before the work, serves a layout job and the report's sections."""
    import subprocess

    from actconf.layout import load_layout
    from actconf.report.build import warm_helper

    kwargs = {"method": "pca", "compare": False, "progress": False}
    expected = layout_from_run(run, "hidden_1", method="pca", seed=3)
    started = []
    real = subprocess.Popen

    def spy(args, **kw):
        started.append(list(args))
        return real(args, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    with warm_helper() as helper:
        assert helper is not None and helper.alive
        # a job that fails (no such layer) is answered, and the helper goes on serving
        assert helper.layout(run, "no_such_layer", method="pca", seed=3) is False and helper.alive
        assert helper.layout(run, "hidden_1", method="pca", seed=3) is True
        saved = load_layout(run, "hidden_1")
        assert saved.method == "pca" and np.array_equal(saved.positions, expected.positions)
        two = _report_files(build_report(run, out=tmp_path / "two", workers=2, **kwargs))
        assert helper.alive and not helper.pending
        # the helper is gone: the report starts a process of its own, with the same result
        helper.proc.kill()
        helper.proc.wait()
        three = _report_files(build_report(run, out=tmp_path / "three", workers=2, **kwargs))
    assert not helper.alive
    assert [a[1:3] for a in started] == [["-m", "actconf.report._worker"]] * 2
    assert started[0][3] == "--serve" and started[1][3].endswith("job.pickle")
    monkeypatch.setattr(subprocess, "Popen", real)
    one = _report_files(build_report(run, out=tmp_path / "one", workers=1, **kwargs))  # the saved layout
    assert sorted(one) == sorted(two) and "figures/maps_class.png" in one
    assert {k for k in one if one[k] != two[k]} == set() and three == one


def test_no_helper_with_one_core_or_when_disabled(monkeypatch):
    from actconf.report import build as build_module

    with build_module.warm_helper(False) as helper:
        assert helper is None
    monkeypatch.setenv("ACTCONF_REPORT_WORKERS", "1")
    with build_module.warm_helper() as helper:
        assert helper is None and build_module._HELPER.get() is None


def test_replaced_builders_are_built_in_this_process(run, monkeypatch, cheap_sections):
    import subprocess

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("no second process expected"))
    calls = []
    # the second process's sections: statistics is a stub (cheap_sections), animation is off (FAST)
    monkeypatch.setattr(sections, "layout_section", lambda ctx: calls.append(ctx.layer) or stub("layout")(ctx))
    build_report(run, workers=2, **FAST)
    assert calls == ["hidden_1"]  # the replacement ran here; another process would import the original


def test_workers_default_and_environment_cap(monkeypatch):
    import os

    from actconf.report.build import check_workers

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("ACTCONF_REPORT_WORKERS", raising=False)
    assert check_workers(None) == (2 if cores >= 2 else 1)
    assert check_workers(1) == 1 and check_workers(3) == 3
    monkeypatch.setenv("ACTCONF_REPORT_WORKERS", "1")
    assert check_workers(None) == 1
    monkeypatch.setenv("ACTCONF_REPORT_WORKERS", "two")
    with pytest.raises(InvalidParameterError, match="ACTCONF_REPORT_WORKERS"):
        check_workers(None)
    for bad in (0, 1.5, "2", True):
        with pytest.raises(InvalidParameterError, match="workers"):
            check_workers(bad)
