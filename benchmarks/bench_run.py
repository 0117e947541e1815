"""What a user waits for end to end: ``actconf run`` on digits and notebook 03 (results: README, "Run and notebook").

1. ``actconf run --out DIR --overwrite`` (the default study: digits, the paper's MLP,
   20 epochs) in a fresh process, wall time; goal <= 20 s once installed.
2. The same study, stage by stage, in another fresh process: ``run_study`` as
   ``actconf run`` calls it, timed by its own DEBUG log lines (train + record, the
   layout, the report) and the report's (each section, and which process built it).
   With ``--full`` also without the second process started before training (the
   baseline of this round's change), and the report's layout section against the
   way it was built before round 4.
3. Notebook 03 (layouts) executed headless against that run
   (``actconf.notebooks.run_notebooks``, kernel start included); goal <= 45 s.

The UMAP disk cache is the user's (``~/.cache/actconf/numba``): "once installed"
means after a first UMAP layout has filled it; the script fills it first if needed.

    python benchmarks/bench_run.py [--repeats 1] [--skip-notebook] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import summary

OUT = Path(__file__).resolve().parent / "out"
GOALS = {"actconf run": 20.0, "notebook 03": 45.0}

STAGES = r"""
import json, logging, os, re, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
T = {}
start = time.perf_counter()


class Stages(logging.Handler):
    # run_study's and build_report's DEBUG lines: "stage NAME took S s", "section NAME took S s in WHERE"
    def emit(self, record):
        m = re.fullmatch(r"(stage|section) (.+) took ([0-9.]+) s(?: in (.+))?", record.getMessage())
        if m:
            kind, name, seconds, where = m.groups()
            name = name if kind == "stage" else "  section " + name.removesuffix("_section") + \
                (" (second process)" if where == "the second process" else "")
            T[name] = float(seconds)


for name in ("actconf.study", "actconf.report.build"):
    logging.getLogger(name).addHandler(Stages())
    logging.getLogger(name).setLevel(logging.DEBUG)
import actconf.report.build as build
from actconf.study import StudyConfig, run_study

if sys.argv[2] == "one":  # the study as before this round: no early second process, the report's own
    build.warm_helper = lambda enabled=True, real=build.warm_helper: real(False)
run_study(StudyConfig().validate(), sys.argv[1], overwrite=True, verbose=0, progress=False)
T["total (in process)"] = time.perf_counter() - start
print(json.dumps(T))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _actconf() -> list[str]:
    exe = Path(sys.executable).with_name("actconf")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "actconf.cli"]


def time_cli(out: Path) -> float:
    """Wall time of ``actconf run`` in a fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run([*_actconf(), "run", "--out", str(out), "--overwrite", "--quiet"], capture_output=True,
                          text=True, timeout=900, env=_env())
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return time.perf_counter() - t0


def time_stages(out: Path, helper: bool = True) -> dict[str, float]:
    """``run_study`` stage by stage (its and the report's DEBUG timings) in a fresh process."""
    done = subprocess.run([sys.executable, "-c", STAGES, str(out), "helper" if helper else "one"],
                          capture_output=True, text=True, timeout=900, env=_env())
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_notebook(run_dir: Path, out_dir: Path) -> tuple[float, float]:
    """(wall time of run_notebooks, the notebook's own seconds) for notebook 03."""
    code = ("import sys, time, json; t=time.perf_counter(); from actconf.notebooks import run_notebooks; "
            "df = run_notebooks(sys.argv[1], notebooks=['03'], reuse=True, html=False, progress=False, "
            "out_dir=sys.argv[2]); print(json.dumps([time.perf_counter()-t, float(df['seconds'].iloc[0])]))")
    done = subprocess.run([sys.executable, "-c", code, str(run_dir), str(out_dir)], capture_output=True, text=True,
                          timeout=900, env=_env(), cwd=out_dir.parent)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    wall, seconds = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, seconds


def time_layout_section(run_dir: Path, folder: Path, rounds: int = 3) -> tuple[float, float]:
    """(the report's layout section now, the same section as it was built before) on one run, in this process.

    Before: 3 repeats per method, profiles computed twice (once for the quality table,
    once inside ``compare_layouts`` from the run).
    """
    import numpy as np

    from actconf import plots
    from actconf.layout import compare_layouts, ensure_layout, layout_profiles, layout_quality
    from actconf.report import sections
    from actconf.report.context import ReportContext
    from actconf.store import open_run

    run = open_run(run_dir)
    layer = run.check_layer(None)
    layout = ensure_layout(run, layer)
    ctx = ReportContext(run=run, layer=layer, layout=layout, measure="max_softmax", seed=0, folder=folder,
                        compare=True)

    def before():
        layout_quality(layout, np.asarray(layout_profiles(run, layer)))
        frame = compare_layouts(run, layer=layer, repeats=3, seed=0, progress=False,
                                methods=sections.COMPARED_METHODS)
        plots.plot_layout_comparison(frame).savefig(folder / "before.png")

    times = {"now": [], "before": []}
    for _ in range(rounds):  # interleaved, best of the rounds; the machine is shared
        for name, fn in (("now", lambda: sections.layout_section(ctx)), ("before", before)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return min(times["now"]), min(times["before"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement")
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--full", action="store_true",
                        help="also: the study without the early second process, and the report's layout section "
                             "now vs before (best of 3 interleaved rounds)")
    args = parser.parse_args()
    from actconf.layout import warm_up

    t = warm_up()  # fills the user's UMAP cache if this is the first UMAP layout on the machine
    print(f"UMAP warm-up in this process: {t:.1f} s")
    results: dict[str, object] = {"cli_s": [], "stages": [], "stages_one": [], "notebook": []}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(args.repeats):
            results["cli_s"].append(time_cli(tmp / "cli"))
            print(f"actconf run (fresh process, wall): {results['cli_s'][-1]:.1f} s")
            variants = [("stages", True), ("stages_one", False)] if args.full else [("stages", True)]
            for key, helper in variants:
                stages = time_stages(tmp / "staged", helper=helper)
                results[key].append(stages)
                print("stages (fresh process" + ("" if helper else ", no second process started early") + "):")
                for name, seconds in stages.items():
                    print(f"  {name:40s} {seconds:6.2f} s")
            if not args.skip_notebook:
                (tmp / f"nb{i}").mkdir()
                wall, own = time_notebook(tmp / "staged", tmp / f"nb{i}")
                results["notebook"].append({"wall_s": wall, "notebook_s": own})
                print(f"notebook 03: {wall:.1f} s wall (kernel start included), {own:.1f} s executing")
        if args.full:
            (tmp / "section").mkdir()
            results["layout_section"] = time_layout_section(tmp / "staged", tmp / "section", 3)
            print("report layout section: {:.1f} s now, {:.1f} s as before".format(*results["layout_section"]))
    cli = sorted(results["cli_s"])[len(results["cli_s"]) // 2]
    record_s = sorted(s["train + record"] for s in results["stages"])[len(results["stages"]) // 2]
    rows.append(summary.row("actconf run on digits, fresh process (wall)", cli, baseline=record_s,
                            baseline_label="its train + record stage", goal="<= 20 s", met=cli <= GOALS["actconf run"],
                            note=f"runs: {', '.join(f'{c:.1f}' for c in results['cli_s'])} s"))
    last = results["stages"][-1]
    for name, seconds in last.items():
        rows.append(summary.row(f"  stage: {name.strip()}", seconds))
    if results["stages_one"]:
        rows.append(summary.row("run_study, second process started before training", last["total (in process)"],
                                baseline=results["stages_one"][-1]["total (in process)"],
                                baseline_label="without it (the report's own)"))
    if "layout_section" in results:
        now, before = results["layout_section"]
        rows.append(summary.row("report layout section (2 seeds, shared profiles)", now, baseline=before,
                                baseline_label="as before: 3 repeats, profiles twice"))
    if results["notebook"]:
        walls = sorted(n["wall_s"] for n in results["notebook"])
        wall = walls[len(walls) // 2]
        rows.append(summary.row("notebook 03, headless (wall, kernel start included)", wall, goal="<= 45 s",
                                met=wall <= GOALS["notebook 03"]))
    OUT.mkdir(exist_ok=True)
    (OUT / "run.json").write_text(json.dumps(results, indent=1))
    summary.write_rows("run", rows)


if __name__ == "__main__":
    main()
