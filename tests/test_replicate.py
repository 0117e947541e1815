"""`actconf replicate`: configuration, task plan, resumable pool, tables, and the quick run end to end.

A tiny replication (every part; marked slow; 3.5-6 min on 2 busy cores), interrupted once and resumed,
asserts what is robust at its size:
random layouts are the least smooth under both measures, confidence rises over
training in every run, and every statement is evaluated for every configuration,
layer and measure. A second slow test runs part 2 on a stand-in MNIST file (never a
download).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actconf.errors import InvalidInputError, InvalidParameterError, RunExistsError
from actconf.replicate import (
    ReplicateConfig,
    ReplicationError,
    full_config,
    jobs,
    load_config,
    quick_config,
)
from actconf.replicate.config import LAYOUT_METHODS, TrainingSpec, per_dataset
from actconf.replicate.layouts import best_methods, score_table
from actconf.replicate.markdown import Figures, Section, fmt, table, write_document
from actconf.replicate.plan import Paths, Task, layout_blocks, plan
from actconf.replicate.pool import format_seconds, run_tasks
from actconf.replicate.screen import among_best, min_mannwhitney_p, screen_error_rates

STATEMENT_KEYS = ("strength_time", "strength_time_groups", "distinct_time", "distinct_time_groups",
                  "strength_confidence", "distinct_confidence", "sample_relation", "sample_relation_ctrl")


# --------------------------------------------------------------------------- configuration
def test_presets_round_trip_through_json(tmp_path):
    for config in (full_config(), quick_config()):
        path = tmp_path / f"{config.preset}.json"
        path.write_text(config.to_json())
        again = load_config(path)
        assert again == config
        assert json.loads(path.read_text())["version"] == 1


def test_full_preset_has_the_papers_sizes():
    c = full_config()
    assert c.layouts.repeats >= 50 and set(c.layouts.regimes) == {"inputs", "seed"}
    assert set(c.layouts.methods) == set(LAYOUT_METHODS) and len(LAYOUT_METHODS) == 13
    assert c.training.seeds >= 5 and c.training.epochs == 20 and c.training.model == "mlp"
    assert c.overfitting.epochs == 100
    assert c.model_spec("mlp2").hidden == (128, 128) and c.model_spec("cnn").model == "cnn"
    assert set(c.datasets) == {"digits", "fashion_mnist"}


def test_per_dataset_values():
    assert per_dataset({"digits": 50, "*": 200}, "digits") == 50
    assert per_dataset({"digits": 50, "*": 200}, "mnist") == 200
    assert per_dataset(7, "mnist") == 7
    assert per_dataset({"digits": 1}, "mnist") is None
    study = TrainingSpec(probe_per_class={"digits": 50, "*": 200}, max_train={"cnn": 3}).study_config(
        "fashion_mnist", 3, None)
    assert study.probe_per_class == 200 and study.seed == 3 and study.max_train is None


@pytest.mark.parametrize("change, name", [
    ({"workers": 0}, "workers"), ({"datasets": ("imagenet",)}, "datasets"), ({"parts": ("maps",)}, "parts"),
    ({"datasets": ()}, "datasets"), ({"models": {"x": {"colour": 1}}}, "models"),
])
def test_bad_fields_name_themselves(change, name):
    with pytest.raises(InvalidParameterError, match=name):
        dataclasses.replace(full_config(), **change).validate()


def test_bad_nested_fields(tmp_path):
    data = full_config().to_dict()
    data["layouts"]["methods"] = ["umap+spread"]
    with pytest.raises(InvalidParameterError, match="layouts.methods"):
        ReplicateConfig.from_dict(data)
    data = full_config().to_dict()
    data["training"]["epochs"] = 0
    with pytest.raises(InvalidParameterError, match="epochs"):
        ReplicateConfig.from_dict(data)
    data = full_config().to_dict()
    data["colour"] = "red"
    with pytest.raises(InvalidParameterError, match="colour"):
        ReplicateConfig.from_dict(data)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


# --------------------------------------------------------------------------- plan
def test_plan_of_the_full_run(tmp_path):
    config = full_config()
    tasks = plan(config, Paths(tmp_path))
    names = [t.name for t in tasks]
    assert len(names) == len(set(names))
    count = {part: sum(t.part == part for t in tasks) for part in ("training", "models", "overfitting", "layouts")}
    blocks = -(-config.layouts.repeats // config.layouts.block)
    assert count == {"training": 2 * 5, "models": 2 * 2 * 5, "overfitting": 2 * 5, "layouts": 2 * 2 * (blocks + 1)}
    position = {n: i for i, n in enumerate(names)}
    for task in tasks:
        for dep in task.deps:
            assert position[dep] < position[task.name]
    layouts = [t for t in tasks if t.part == "layouts" and t.fn is jobs.compare_job]
    assert {t.deps for t in layouts} == {("train/training/digits-mlp/seed-0",),
                                         ("train/training/fashion_mnist-mlp/seed-0",)}
    for dataset in ("digits", "fashion_mnist"):
        for regime in ("inputs", "seed"):
            mine = [t for t in layouts if t.name.startswith(f"layouts/{dataset}-{regime}/")]
            # the blocks cover repeats 0 .. R-1 once, in order
            covered = [r for t in mine for r in range(t.kwargs["first_repeat"],
                                                      t.kwargs["first_repeat"] + t.kwargs["repeats"])]
            assert covered == list(range(config.layouts.repeats))
            join = tasks[position[f"layouts/{dataset}-{regime}"]]
            assert join.fn is jobs.join_tables and join.deps == tuple(t.name for t in mine)
            assert join.kwargs["parts"] == [t.kwargs["out"] for t in mine]
    seeds = sorted(t.kwargs["seed"] for t in tasks if t.name.startswith("train/models/digits-cnn"))
    assert seeds == [0, 1, 2, 3, 4]


def test_layout_blocks_cover_the_repeats():
    for repeats in (1, 3, 10, 11, 100):
        for block in (1, 3, 10, 200):
            got = layout_blocks(repeats, block)
            assert [r for first, n in got for r in range(first, first + n)] == list(range(repeats))
            assert all(1 <= n <= block for _, n in got)


def test_plan_adds_the_layouts_training_run(tmp_path):
    tasks = plan(dataclasses.replace(quick_config(), parts=("layouts",)).validate(), Paths(tmp_path))
    assert [t.part for t in tasks] == ["training"] + ["layouts"] * 4  # a block and its join per regime
    assert tasks[1].kwargs["run"] == str(Paths(tmp_path).seed_run("training", "digits", "mlp", 0))


def test_join_tables_concatenates_blocks_and_refuses_mixed_settings(tmp_path):
    import pandas as pd

    frames = [pd.DataFrame({"method": ["pca"] * n, "repeat": range(a, a + n), "value": np.arange(n) + a})
              for a, n in ((0, 3), (3, 2))]
    parts = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"part{i}.csv"
        frame.to_csv(path, index=False)
        path.with_suffix(".json").write_text(json.dumps({"redraw": "seed"}))
        parts.append(str(path))
    jobs.join_tables(parts, str(tmp_path / "all.csv"))
    joined = pd.read_csv(tmp_path / "all.csv")
    assert joined["repeat"].tolist() == [0, 1, 2, 3, 4] and joined["value"].tolist() == [0, 1, 2, 3, 4]
    assert json.loads((tmp_path / "all.json").read_text()) == {"redraw": "seed"}
    Path(parts[1]).with_suffix(".json").write_text(json.dumps({"redraw": "inputs"}))
    before = (tmp_path / "all.csv").read_bytes()
    with pytest.raises(InvalidInputError, match="different settings"):
        jobs.join_tables(parts, str(tmp_path / "all.csv"))
    assert (tmp_path / "all.csv").read_bytes() == before  # the earlier table is left intact


# --------------------------------------------------------------------------- pool
def _mkdir_tasks(root, names, deps=None):
    deps = deps or {}
    return [Task(n, "x", os.mkdir, {"path": str(root / n)}, cost=1.0, deps=tuple(deps.get(n, ())))
            for n in names]


def test_pool_runs_in_dependency_order_and_resumes(tmp_path):
    paths = Paths(tmp_path / "out")
    tasks = _mkdir_tasks(tmp_path, ["a", "b"], {"b": ["a"]})
    lines = []
    seconds = run_tasks(tasks, paths, workers=1, say=lines.append)
    assert set(seconds) == {"a", "b"} and (tmp_path / "a").is_dir() and (tmp_path / "b").is_dir()
    assert "[2/2] b" in lines[-1] and "ETA" in lines[-1]
    # os.mkdir fails on an existing folder: a second call must not run the tasks again
    again = run_tasks(tasks, paths, workers=1, say=lines.append)
    assert again == seconds
    assert "2 task(s) done before, 0 to do" in lines[-1]


def test_pool_redoes_changed_tasks_and_their_dependents(tmp_path):
    paths = Paths(tmp_path / "out")
    run_tasks(_mkdir_tasks(tmp_path, ["a", "b"], {"b": ["a"]}), paths, say=lambda s: None)
    changed = _mkdir_tasks(tmp_path, ["a", "b"], {"b": ["a"]})
    changed[0].kwargs["path"] = str(tmp_path / "a2")  # b depends on a: both are redone
    with pytest.raises(ReplicationError, match="b: FileExistsError"):
        run_tasks(changed, paths, say=lambda s: None)
    assert (tmp_path / "a2").is_dir()


def test_pool_reports_failures_and_blocked_tasks(tmp_path):
    paths = Paths(tmp_path / "out")
    (tmp_path / "a").mkdir()
    tasks = _mkdir_tasks(tmp_path, ["a", "b", "c"], {"b": ["a"]})
    with pytest.raises(ReplicationError) as info:
        run_tasks(tasks, paths, say=lambda s: None)
    text = str(info.value)
    assert "a: FileExistsError" in text and "b: not run" in text and "c:" not in text
    assert (tmp_path / "c").is_dir() and not (tmp_path / "b").exists()


def test_pool_starts_the_longest_chain_first(tmp_path):
    tasks = _mkdir_tasks(tmp_path, ["x", "y", "z"], {"z": ["y"]})
    tasks[0].cost, tasks[1].cost, tasks[2].cost = 2.0, 1.0, 10.0  # y + z = 11 > x = 2
    lines = []
    run_tasks(tasks, Paths(tmp_path / "out"), say=lines.append)
    assert [line.split("] ")[1].split(":")[0] for line in lines] == ["y", "z", "x"]


@pytest.mark.slow
def test_pool_in_worker_processes(tmp_path):
    paths = Paths(tmp_path / "out")
    tasks = _mkdir_tasks(tmp_path, ["p", "q", "r"], {"r": ["p", "q"]})
    seconds = run_tasks(tasks, paths, workers=2, say=lambda s: None)
    assert set(seconds) == {"p", "q", "r"} and all((tmp_path / n).is_dir() for n in "pqr")
    marker = json.loads(paths.marker("r").read_text())
    assert marker["kwargs"] == {"path": str(tmp_path / "r")}


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the worker processes (Linux)")
def test_workers_end_when_the_replication_is_killed(tmp_path):
    """SIGKILL the process running the pool: its workers must not go on computing."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent(f"""
        import subprocess
        from pathlib import Path
        from actconf.replicate.plan import Paths, Task
        from actconf.replicate.pool import run_tasks
        tasks = [Task(n, "x", subprocess.call, {{"args": ["sleep", "20"]}}, cost=1.0) for n in ("a", "b")]
        run_tasks(tasks, Paths(Path({str(tmp_path / "out")!r})), workers=2, say=lambda s: None)
    """)
    driver = subprocess.Popen([sys.executable, "-c", script])

    def children(pid):
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if entry.isdigit() and int(fields[1]) == pid:
                found.append(int(entry))
        return found

    try:
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline:
            workers = [w for w in children(driver.pid) if any(children(w))]  # workers running their 'sleep'
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, "the pool did not start two workers"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 15
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [w for w in workers if os.path.exists(f"/proc/{w}") and
                     open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"workers {alive} outlived the killed replication"
    finally:
        if driver.poll() is None:
            driver.kill()


def test_format_seconds():
    assert format_seconds(12.4) == "12 s"
    assert format_seconds(200) == "3 min 20 s"
    assert format_seconds(3900) == "1 h 05 min"


# --------------------------------------------------------------------------- markdown
def test_table_and_numbers():
    text = table([["a|b", 1.23456, float("nan")], ["c", -0.5, None]], ["x", "y", "z"])
    assert text.splitlines() == ["| x | y | z |", "| --- | ---: | ---: |", "| a\\|b | 1.23 | – |",
                                 "| c | −0.5 | – |"]
    assert fmt(0.1234, 2, signed=True) == "+0.12"
    assert fmt(1918.6) == "1919"


def test_document_and_figures(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [1, 0], color="tab:red")
    figures = Figures(tmp_path / "doc", tmp_path / "doc.md")
    link = figures.save(fig, "line", "a line")
    assert link.startswith("![a line](doc/line.png)")
    image = Image.open(tmp_path / "doc" / "line.png")
    assert image.mode == "P" and image.size == (300, 200)
    sub = Section("Sub").add("text", None, "")
    path = write_document("Title", "intro", [Section("One").add(link, sub)], tmp_path / "doc.md")
    text = path.read_text()
    assert text.startswith("# Title\n\nintro\n\n## One\n\n![a line]") and "\n\n### Sub\n\ntext\n" in text


# --------------------------------------------------------------------------- layout tables
def _frame(values):
    rows = []
    for method, per_measure in values.items():
        for measure, vals in per_measure.items():
            for r, v in enumerate(vals):
                rows.append({"method": method, "repeat": r, "seed": r, "measure": measure, "param": np.nan,
                             "value": v})
            rows.append({"method": method, "repeat": 0, "seed": 0, "measure": "resize_mse", "param": 10.0,
                         "value": 1.0})
    return pd.DataFrame(rows)


def test_score_table_ranks_against_sorting():
    rng = np.random.default_rng(1)
    values = {m: {"resize_auc": rng.normal(i, 0.1, 6), "trustworthiness": rng.normal(-i, 0.1, 6)}
              for i, m in enumerate(["umap_pso", "som", "graph", "random"])}
    stats = score_table(_frame(values))
    for measure, higher in (("resize_auc", False), ("trustworthiness", True)):
        part = stats[stats["measure"] == measure].set_index("method")
        means = {m: np.mean(v[measure]) for m, v in values.items()}
        order = sorted(means, key=lambda m: -means[m] if higher else means[m])
        assert [part.loc[m, "rank"] for m in order] == [1, 2, 3, 4]
        assert np.allclose([part.loc[m, "sd"] for m in order], [np.std(values[m][measure], ddof=1) for m in order])


def test_best_methods_tests_worse_than_the_best_on_the_held_out_half():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(2)
    best = rng.normal(0.0, 1.0, 20)
    close_values = best + 0.2 + rng.normal(0, 1, 20)
    values = {"som": {"resize_auc": best}, "a": {"resize_auc": best + 3}, "b": {"resize_auc": best + 3.2},
              "c": {"resize_auc": best + 3.4}, "umap+refine": {"resize_auc": close_values},
              "umap_pso": {"resize_auc": best + 10}}
    res = best_methods(_frame(values), "resize_auc")
    assert res["best"] == "som" and res["order"][-1] == "umap_pso"
    close, far = res["umap"]["umap+refine"], res["umap"]["umap_pso"]
    # the test uses the odd-numbered repeats only, one-sided (worse = larger error)
    expected = mannwhitneyu(close_values[1::2], best[1::2], alternative="greater").pvalue
    assert close["p"] == pytest.approx(expected)
    assert close["among_best"] and close["rank"] == 2 and close["best"] == "som"
    assert not far["among_best"] and far["rank"] == 6 and far["p"] < 0.05


def test_among_best_selects_on_even_repeats_and_handles_direction_and_small_samples():
    rng = np.random.default_rng(5)
    # 'x' looks best on the even repeats only; on the odd ones it is far worse than 'y'
    x = np.where(np.arange(20) % 2 == 0, 0.0, 10.0) + rng.normal(0, 0.1, 20)
    y = np.full(20, 5.0) + rng.normal(0, 0.1, 20)
    res = among_best({"x": x, "y": y}, "y")
    assert res["best"] == "x" and res["among_best"]  # y is better than x on the test half: not worse
    res = among_best({"x": x, "y": y}, "x")
    assert res["best"] == "x" and np.isnan(res["p"]) and res["among_best"]
    # higher is better: the same data mirrored gives the same decisions
    mirrored = among_best({"x": -x, "y": -y}, "y", higher=True)
    assert mirrored["best"] == "x" and mirrored["among_best"]
    # three repeats (halves of 2 and 1) cannot reach p < 0.05: rank decides, and says so
    few = {f"m{i}": np.full(3, float(i)) for i in range(6)}
    assert [among_best(few, f"m{i}")["among_best"] for i in range(6)] == [True, True, True, False, False, False]
    assert not among_best(few, "m4")["testable"]
    assert min_mannwhitney_p(1, 1, one_sided=True) == 0.5 and min_mannwhitney_p(3, 3) == pytest.approx(0.1)


@pytest.mark.slow
def test_among_best_screen_false_positive_rate_by_simulation():
    """13 equal methods: the split-half screen calls one worse at most at about the nominal 5 %."""
    for distribution in ("normal", "lognormal"):
        rate = screen_error_rates(n_methods=13, repeats=20, n_sim=600, distribution=distribution, seed=3)
        assert rate <= 0.075, (distribution, rate)
    # choosing and testing on the same repeats is biased (the reason for the split): the check can fail
    assert screen_error_rates(n_methods=13, repeats=20, n_sim=300, split=False, seed=3) > 0.12
    # and it has power: a method 1.5 sd worse is found worse with R = 20
    assert screen_error_rates(n_methods=13, repeats=20, n_sim=200, shift=1.5, seed=3) >= 0.8


# --------------------------------------------------------------------------- command line
def test_cli_builds_the_configuration(tmp_path, monkeypatch, capsys):
    import actconf.replicate as replicate_package
    from actconf.cli import main

    seen = {}

    def fake(config, out, *, doc=None, overwrite=False, say=print):
        seen.update(config=config, out=out, doc=doc, overwrite=overwrite)
        return replicate_package.Replication(doc=tmp_path / "r.md", paths=Paths(out), context=None, seconds={})

    monkeypatch.setattr(replicate_package, "replicate", fake)
    assert main(["replicate", "--quick", "--dataset", "digits", "mnist", "--parts", "training", "measures",
                 "--workers", "1", "--out", str(tmp_path / "o"), "--doc", str(tmp_path / "r.md")]) == 0
    c = seen["config"]
    assert c.preset == "quick" and c.datasets == ("digits", "mnist") and c.parts == ("training", "measures")
    assert c.workers == 1 and seen["out"] == tmp_path / "o" and seen["doc"] == str(tmp_path / "r.md")
    assert "replication: " in capsys.readouterr().out
    stored = tmp_path / "stored.json"
    stored.write_text(full_config().to_json())
    assert main(["replicate", "--config", str(stored), "--out", str(tmp_path / "o2")]) == 0
    assert seen["config"] == full_config()


def test_cli_rejects_bad_parts(capsys):
    from actconf.cli import main

    with pytest.raises(SystemExit) as info:
        main(["replicate", "--parts", "maps"])
    assert info.value.code == 2 and "--parts" in capsys.readouterr().err


def test_output_folder_must_be_a_replication(tmp_path):
    from actconf.replicate import replicate

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunExistsError, match="no replicate.json"):
        replicate(quick_config(), tmp_path / "other", say=lambda s: None)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- end to end
def tiny_config():
    """The quick preset made smaller still (every part, ~1 minute): what the end-to-end tests run."""
    from actconf.replicate.config import AnalysisSpec, LayoutSpec, OverfitSpec

    return dataclasses.replace(
        quick_config(), workers=1,
        training=TrainingSpec(seeds=2, epochs=3, every_n_batches=20, probe_per_class=30, mc_samples=2),
        layouts=LayoutSpec(methods=("random", "som", "pca"), repeats=2),
        models={"mlp2": {"hidden": [128, 128], "mc_samples": 0}, "cnn": {"model": "cnn", "mc_samples": 0}},
        overfitting=OverfitSpec(seeds=2, epochs=3, max_train=200, probe_per_class=20),
        analysis=AnalysisSpec(n_boot=50, map_snapshots=2, map_layout="pca"),
    ).validate()


class _Interrupted(KeyboardInterrupt):
    pass


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The tiny replication, interrupted in its last overfitting task, then resumed (run once for the tests)."""
    from actconf.replicate import jobs, replicate

    root = tmp_path_factory.mktemp("replicate")
    out, doc = root / "out", root / "docs" / "replication.md"
    train_overfit = jobs.train_overfit
    last = f"seed-{tiny_config().seed + tiny_config().overfitting.seeds - 1}"

    def killed(**kwargs):  # killed mid-way: a half-written run folder, no marker
        if kwargs["out"].endswith(last):
            os.makedirs(os.path.join(kwargs["out"], "run"), exist_ok=True)
            raise _Interrupted
        return train_overfit(**kwargs)

    first = []
    jobs.train_overfit = killed
    try:
        with pytest.raises(_Interrupted):
            replicate(tiny_config(), out, doc=doc, say=first.append)
    finally:
        jobs.train_overfit = train_overfit
    lines = []
    result = replicate(tiny_config(), out, doc=doc, say=lines.append)
    return result, first, lines


@pytest.mark.slow
def test_an_interrupted_replication_resumes_where_it_stopped(quick):
    result, first, lines = quick
    tasks = plan(tiny_config(), result.paths)
    ran_first = [line.split("] ")[1].split(":")[0] for line in first if line.startswith("[")]
    ran_again = [line.split("] ")[1].split(":")[0] for line in lines if line.startswith("[")]
    killed = f"overfit/digits/seed-{tiny_config().seed + tiny_config().overfitting.seeds - 1}"
    not_run = [t.name for t in tasks if t.name not in ran_first]
    assert ran_first and killed in not_run
    assert sorted(ran_again) == sorted(not_run)  # nothing finished before is recomputed
    assert any(f"{len(tasks) - len(not_run)} task(s) done before, {len(not_run)} to do" in line for line in lines)
    assert all(result.paths.marker(t.name).is_file() for t in tasks)
    assert result.doc.is_file() and not any("replication.md" in line for line in first)


@pytest.mark.slow
def test_quick_writes_the_document_and_its_configuration(quick):
    result, _, lines = quick
    text = result.doc.read_text()
    for title in ("## What is reproduced", "## 1. TAM paper", "## 2. Workshop paper", "## 3a.", "## 3b.", "## 3c.", "## 4. In plain words",
                  "## Runtime and reproduction"):
        assert title in text
    folder = result.doc.with_suffix("")
    assert load_config(folder / "config.json") == tiny_config()
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 8 and all(p.stat().st_size < 400_000 for p in pngs)
    for png in pngs:  # every figure is linked from the document
        assert f"replication/{png.name})" in text
    assert any("ETA" in line for line in lines) and tiny_config().to_json().strip() in "\n".join(lines)


@pytest.mark.slow
def test_quick_random_layouts_are_least_smooth_under_both_measures(quick):
    from actconf.replicate.layouts import read_comparison

    result, _, _ = quick
    for regime in ("inputs", "seed"):
        frame = read_comparison(result.paths.comparison("digits", regime))
        assert frame["repeat"].nunique() == 2
        stats = score_table(frame)
        for measure in ("resize_auc", "blur_auc", "paper_resize_auc", "paper_blur_auc"):
            part = stats[stats["measure"] == measure].sort_values("mean")
            assert part["method"].iloc[-1] in ("random", "random+refine"), (regime, measure)


@pytest.mark.slow
def test_quick_confidence_rises_in_every_run(quick):
    from actconf.confidence import confidence

    result, _, _ = quick
    ctx = result.context
    for part, label in (("training", "mlp"), ("models", "mlp2"), ("models", "cnn")):
        for run in ctx.runs(part, "digits", label):
            mean = np.asarray(confidence(run).mean("sample").values)
            assert mean[-1] > mean[0] + 0.1, (part, label, run.path)


@pytest.mark.slow
def test_quick_evaluates_every_statement(quick):
    from actconf.confidence import MEASURES
    from actconf.replicate.findings import all_claims

    result, _, _ = quick
    claims = all_claims(result.context)
    assert set(claims["verdict"]) <= {"supported", "contradicted", "not supported"}
    expected_layers = {"mlp": {"hidden_1"}, "mlp2": {"hidden_1", "hidden_2"}, "cnn": {"conv_1", "conv_2"}}
    for (part, model, measure, groups), rows in claims.groupby(["part", "model", "measure", "groups"]):
        for layer, sub in rows.groupby("layer"):
            assert sorted(sub["statement"]) == sorted(STATEMENT_KEYS), (part, model, measure, groups, layer)
            assert np.isfinite(sub["effect"]).all() and (sub["n_runs"] == 2).all()
        if model in expected_layers:
            assert set(rows["layer"]) == expected_layers[model]
    main = claims[claims["part"].isin(["training", "measures"]) & (claims["groups"] == "moving")]
    assert set(main["measure"]) == set(MEASURES)
    assert set(claims.loc[claims["part"] == "training", "groups"]) == {"moving", "fixed"}
    over = set(claims.loc[claims["part"] == "overfitting", "model"])
    assert {"mlp, test probe, all epochs", "mlp, train probe, all epochs"} <= over


@pytest.mark.slow
def test_quick_overfitting_records_both_probe_sets(quick):
    from actconf.replicate.probes import open_probe_sets

    result, _, _ = quick
    sets = open_probe_sets(result.paths.overfit("digits", 0))
    test, train = sets["test"], sets["train"]
    spec = tiny_config().overfitting
    assert test.n_snapshots == train.n_snapshots == spec.epochs + 1
    # one run folder holds both probe sets (the recorder's named probe sets)
    assert test.path == train.path and (test.probe_name, train.probe_name) == ("test", "train")
    assert set(test.probes) == {"test", "train"}
    assert test.n_samples == train.n_samples == 10 * spec.probe_per_class
    # the training probe comes from the training subset, the test probe from the test split
    assert train.probe_indices.max() < spec.max_train and np.array_equal(test.labels, train.labels)


@pytest.mark.slow
def test_the_documents_numbers_come_from_the_results(quick, tmp_path):
    """Every claims row appears in the document with its own numbers; changed results change the text."""
    from actconf.replicate.context import Context
    from actconf.replicate.findings import all_claims
    from actconf.replicate.layouts import layout_section, read_comparison

    result, _, _ = quick
    text = result.doc.read_text()
    claims = all_claims(result.context)
    stored = pd.read_csv(result.paths.root / "tables" / "claims.csv")
    assert len(stored) == len(claims) and np.allclose(stored["effect"], claims["effect"], equal_nan=True)
    part2 = claims[(claims["part"] == "training") & (claims["groups"] == "moving")]
    for _, r in part2.iterrows():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{r['statement']}` | {r['layer']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4].startswith(fmt(r["effect"], 3, signed=True)) and cells[5] == fmt(r["cohen_d"], 2, signed=True)
        assert cells[6].startswith(r["p_text"]) and cells[8] == f"**{r['verdict']}**"
        assert cells[7] == f"{int(r['n_positive'])}/{int(r['n_runs'])}" and int(r["n_runs"]) == 2
    assert "t-test across 2 runs" in text
    # the layout tables: double one method's trustworthiness in a copy of the results -> the table follows
    frame = read_comparison(result.paths.comparison("digits", "inputs"))
    means = frame[frame["measure"] == "trustworthiness"].groupby("method")["value"].mean()
    copy = Paths(tmp_path / "copy")
    copy.comparison("digits", "inputs").parent.mkdir(parents=True)
    changed = frame.copy()
    changed.loc[(changed["measure"] == "trustworthiness") & (changed["method"] == "pca"), "value"] *= 2
    changed.to_csv(copy.comparison("digits", "inputs"), index=False)
    config = dataclasses.replace(tiny_config(), layouts=dataclasses.replace(tiny_config().layouts,
                                                                            regimes=("inputs",)))
    ctx = Context(config=config, paths=copy, figures=Figures(tmp_path / "f", tmp_path / "f.md"), say=lambda s: None)
    section = layout_section(ctx).render()
    assert "| pca | " in section and fmt(2 * means["pca"]) in section.split("| pca |")[1].split("\n")[0]
    assert fmt(means["som"]) in section.split("| som |")[1].split("\n")[0]


def _write_mnist_standin(folder, n_train=300, n_test=200, seed=0):
    """A stand-in mnist.npz (Keras' format: uint8 images, labels 0-9): never a download."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for c in range(10):  # a learnable class pattern: a bright row per class
            x[y == c, 2 + 2 * c, :] = 255
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz", **arrays)


@pytest.mark.slow
def test_mnist_runs_the_same_way_from_a_standin_file(tmp_path, monkeypatch):
    from actconf import datasets
    from actconf.replicate import replicate

    def no_download(key):
        raise AssertionError(f"tried to download {key}")

    monkeypatch.setattr(datasets, "_keras_download", no_download)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    _write_mnist_standin(tmp_path / "data")
    config = dataclasses.replace(
        quick_config(), datasets=("mnist",), data_dir=str(tmp_path / "data"), workers=1,
        parts=("training", "measures"), training=TrainingSpec(seeds=2, epochs=1, probe_per_class=10, mc_samples=0),
        analysis=dataclasses.replace(quick_config().analysis, measures=("max_softmax", "mc_dropout")),
    ).validate()
    result = replicate(config, tmp_path / "out", say=lambda s: None)
    text = result.doc.read_text()
    assert "### MNIST, MLP (128)" in text
    header = next(line for line in text.split("## 3c.")[1].splitlines() if line.startswith("| statement |"))
    assert "max_softmax" in header and "mc_dropout" not in header  # no MC passes recorded: left out
    runs = result.context.runs("training", "mnist", "mlp")
    assert [r.manifest["dataset"]["name"] for r in runs] == ["mnist", "mnist"]
    assert all(r.n_samples == 100 for r in runs)


def test_union_seconds_counts_overlapping_sessions_once():
    from actconf.replicate.runner import union_seconds

    # brute force: mark every second covered by a session
    rng = np.random.default_rng(4)
    for _ in range(20):
        sessions = [{"wall_seconds": float(w), "started": float(s)}
                    for s, w in zip(rng.integers(0, 200, 5), rng.integers(1, 80, 5), strict=True)]
        covered = np.zeros(400, bool)
        for s in sessions:
            covered[int(s["started"]):int(s["started"] + s["wall_seconds"])] = True
        assert union_seconds(sessions) == pytest.approx(covered.sum())
    # an entry with only its finishing minute (older timing files) overlaps a later one by 60 s
    import time

    later = time.mktime(time.strptime("2026-12-01 09:59", "%Y-%m-%d %H:%M"))
    assert union_seconds([{"wall_seconds": 100.0, "finished": "2026-12-01 10:00"},
                          {"wall_seconds": 100.0, "started": later}]) == pytest.approx(140.0)
