"""The study pipeline's recording stage: configuration checks and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from actconf.errors import InvalidParameterError, RunExistsError
from actconf.study import StudyConfig, auto_every_n_batches, open_or_record, record, run_study


def _small(**kw):
    return StudyConfig(**{"epochs": 2, "max_train": 200, "probe_per_class": 5, "mc_samples": 2, **kw})


@pytest.mark.slow
def test_same_seed_same_run(tmp_path):
    a = record(_small(seed=3), tmp_path / "a", verbose=0)
    b = record(_small(seed=3), tmp_path / "b", verbose=0)
    c = record(_small(seed=4), tmp_path / "c", verbose=0)
    np.testing.assert_array_equal(a.probe_indices, b.probe_indices)
    for name in ("activations/hidden_1", "outputs/logits", "outputs/mc_probabilities"):
        np.testing.assert_array_equal(a.read(name), b.read(name))
    assert not np.array_equal(a.read("activations/hidden_1"), c.read("activations/hidden_1"))
    cols = ["kind", "epoch", "batch", "step", "loss", "val_accuracy"]
    assert a.snapshots[cols].equals(b.snapshots[cols])


def test_auto_batch_interval():
    assert auto_every_n_batches(1257, 32) == 4  # 40 steps -> every 4 batches, 9 batch snapshots
    assert auto_every_n_batches(100, 32) == 1
    assert auto_every_n_batches(60000, 32) == 187


@pytest.mark.parametrize(("field", "value"), [("epochs", 0), ("model", "resnet"), ("every_n_batches", -2),
                                              ("probe_per_class", 0), ("seed", -1), ("max_train", 5),
                                              ("layout", "bogus"), ("hidden", ()), ("hidden", (64, 0)),
                                              ("data_dir", 3), ("extra", [])])
def test_bad_config(tmp_path, field, value):
    with pytest.raises(InvalidParameterError, match=field):
        record(_small(**{field: value}), tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()


def test_bad_layout_is_refused_before_training(tmp_path, monkeypatch):
    import actconf.study as S

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the configuration is invalid")

    monkeypatch.setattr(S, "record", no_training)
    with pytest.raises(InvalidParameterError, match="'layout' parameter of StudyConfig") as info:
        run_study(_small(layout="bogus"), tmp_path / "x", verbose=0)
    assert "'umap'" in str(info.value) and "'som'" in str(info.value)  # lists the methods
    with pytest.raises(InvalidParameterError, match="'report'"):
        run_study(_small(), tmp_path / "x", report="yes")
    assert not (tmp_path / "x").exists()


def test_config_from_fields():
    base = StudyConfig(epochs=3, seed=2)
    config = StudyConfig.from_fields(base, epochs=5)
    assert (config.epochs, config.seed) == (5, 2) and base.epochs == 3
    assert StudyConfig.from_fields() == StudyConfig()
    with pytest.raises(InvalidParameterError, match="epochz") as info:
        StudyConfig.from_fields(epochz=5)
    assert "probe_per_class" in str(info.value)  # lists the fields
    with pytest.raises(InvalidParameterError, match="'probe_per_class'"):
        StudyConfig.from_fields(probe_per_class=0)
    with pytest.raises(InvalidParameterError, match="'config'"):
        StudyConfig.from_fields({"epochs": 3})


def test_open_or_record_opens_an_existing_run_without_training(tmp_path, monkeypatch):
    import actconf.study as S
    from actconf.testing import write_synthetic_run

    existing = write_synthetic_run(tmp_path / "r", activations={"a": np.zeros((2, 3, 4))},
                                   labels=[0, 1, 0], logits=np.zeros((2, 3, 2)))
    monkeypatch.setattr(S, "record", lambda *a, **k: pytest.fail("recorded an existing run"))
    run = open_or_record(tmp_path / "r", epochs=99)  # exists: parameters ignored, nothing trained
    assert run.path == existing.path
    with pytest.raises(InvalidParameterError, match="epochz"):
        open_or_record(tmp_path / "r", epochz=3)


@pytest.mark.slow
def test_open_or_record_records_a_missing_run(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="actconf.study"):
        fresh = open_or_record(tmp_path / "fresh", epochs=1, probe_per_class=3, max_train=100,
                               mc_samples=0)
    assert fresh.snapshots["kind"].tolist().count("epoch") == 1
    assert fresh.n_samples == 30 and fresh.mc_samples == 0
    assert any("recording it" in r.getMessage() for r in caplog.records)
    again = open_or_record(tmp_path / "fresh", _small(epochs=3))  # a config: used only to record
    assert again.n_snapshots == fresh.n_snapshots


@pytest.mark.slow
def test_run_study_saves_the_layout_before_the_report(tmp_path, monkeypatch):
    import actconf.report
    from actconf.layout import list_layouts, load_layout

    seen = {}

    def fake_report(run, **kwargs):
        seen["layouts"] = list_layouts(run)
        seen["kwargs"] = kwargs
        return run.path / "report" / "report.html"

    monkeypatch.setattr(actconf.report, "build_report", fake_report)
    from actconf.report.build import Helper, check_workers

    real_layout, helped = Helper.layout, []
    monkeypatch.setattr(Helper, "layout", lambda self, *a, **k: helped.append(real_layout(self, *a, **k)) or helped[-1])
    run, path = run_study(_small(layout="pca", seed=5), tmp_path / "r", verbose=0, progress=False)
    assert path == tmp_path / "r" / "report" / "report.html"
    # with two cores the layout is computed by the second process started before training
    assert helped == ([True] if check_workers(None) >= 2 else [])
    layouts = seen["layouts"]  # already saved when the report started
    assert list(layouts["name"]) == ["default"] and list(layouts["layer"]) == ["hidden_1"]
    layout = load_layout(run, "hidden_1")
    assert layout.method == "pca" and layout.seed == 5
    assert seen["kwargs"]["method"] == "pca" and seen["kwargs"]["layer"] == "hidden_1"
    run2, none = run_study(_small(layout="pca"), tmp_path / "r2", verbose=0, report=False)
    assert none is None and list_layouts(run2).empty


@pytest.mark.slow
def test_existing_run_is_refused_before_training(tmp_path):
    record(_small(), tmp_path / "r", verbose=0)
    with pytest.raises(RunExistsError):
        record(_small(), tmp_path / "r", verbose=0)


@pytest.mark.slow
def test_seeds_train_a_study_folder_and_report_across_them(tmp_path, monkeypatch):
    import actconf.report
    from actconf.study import is_study, open_study, record_study, study_targets

    seen = {}

    def fake_report(run, **kwargs):
        seen.update(kwargs, run=run)
        return kwargs["out"] / "report.html"

    monkeypatch.setattr(actconf.report, "build_report", fake_report)
    config = StudyConfig(epochs=1, max_train=100, probe_per_class=5, mc_samples=0, seed=7, seeds=2, layout="pca")
    run, path = run_study(config, tmp_path / "study", verbose=0, progress=False)
    assert sorted(p.name for p in (tmp_path / "study").iterdir()) == ["seed-7", "seed-8"]
    assert is_study(tmp_path / "study") and not is_study(tmp_path / "study" / "seed-7")
    runs = open_study(tmp_path / "study")
    assert [r.path.name for r in runs] == ["seed-7", "seed-8"] and run.path == runs[0].path
    assert [r.manifest["config"]["study"]["seed"] for r in runs] == [7, 8]  # each run its own seed
    assert not np.array_equal(runs[0].read("activations/hidden_1")[0], runs[1].read("activations/hidden_1")[0])
    assert [r.path for r in seen["replicates"]] == [runs[1].path] and seen["run"].path == runs[0].path
    assert path == tmp_path / "study" / "report" / "report.html"
    # an existing study is refused without overwrite, before anything is trained
    with pytest.raises(RunExistsError):
        study_targets(config, tmp_path / "study")
    assert [t.name for t in study_targets(config, tmp_path / "study", overwrite=True)] == ["seed-7", "seed-8"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunExistsError, match="not a study folder"):
        record_study(config, tmp_path / "other", verbose=0)
    assert open_study(runs[0].path)[0].path == runs[0].path  # a run directory is a study of one


def test_seeds_must_be_positive(tmp_path):
    with pytest.raises(InvalidParameterError, match="'seeds'"):
        StudyConfig(seeds=0).validate()
