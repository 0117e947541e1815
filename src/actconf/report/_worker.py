"""Some of a report's sections, built in a second process: ``python -m actconf.report._worker JOB``.

:func:`~actconf.report.build_report` writes a job file (a pickle of the report's
settings and the section names) into the report's staging folder and starts this
module on it, while it builds the other sections itself. The worker opens the run
again, builds its sections into the same folder (their figures get distinct names)
and writes them, pickled with the warnings they raised, to the result file the job
names; the parent reads them back, repeats the warnings and puts the sections in
page order. The worker ends when its parent does.

``python -m actconf.report._worker --serve PARENT`` is the same worker started early
(by :func:`~actconf.report.build.warm_helper`, e.g. while a study trains): it imports
what the report and UMAP need and loads UMAP's compiled code first, then runs the
jobs whose paths arrive on its standard input, one per line, answering each with
a line on its standard output (``0``: result written; ``1``: failed, see stderr).
Besides section jobs it runs layout jobs (``kind="layout"``: compute and save a
run's layout, as :func:`~actconf.layout.ensure_layout` with ``save=True``).
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["build_sections", "main", "run_job", "serve"]


def build_sections(job: dict[str, Any]) -> tuple[list[Any], dict[str, float]]:
    """The sections ``job["sections"]`` names, built from the settings the job holds, and their seconds."""
    from ..store import open_run
    from . import sections
    from .context import ReportContext

    ctx = ReportContext(run=open_run(job["run"]), layer=job["layer"], layout=job["layout"],
                        measure=job["measure"], seed=job["seed"], folder=Path(job["folder"]),
                        compare=job["compare"], layout_given=job["layout_given"],
                        replicates=[open_run(path) for path in job["replicates"]])
    built, seconds = [], {}
    for name in job["sections"]:
        start = time.perf_counter()
        built.append(getattr(sections, name)(ctx))
        seconds[name] = time.perf_counter() - start
    return built, seconds


def run_job(path: Path) -> None:
    """Run the job pickled at ``path``; write its result (with the warnings raised) next to the job's ``result``."""
    import warnings

    job = pickle.loads(path.read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        if job.get("kind", "sections") == "layout":
            from ..layout import ensure_layout
            from ..store import open_run

            ensure_layout(open_run(job["run"]), job["layer"], method=job["method"], seed=job["seed"], save=True)
            built, seconds = None, {}
        else:
            built, seconds = build_sections(job)
    said = [(w.category, str(w.message)) for w in caught]  # the parent repeats them
    result = Path(job["result"])
    tmp = result.with_name(result.name + ".tmp")
    tmp.write_bytes(pickle.dumps({"sections": built, "warnings": said, "seconds": seconds},
                                 protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, result)


def warm() -> None:
    """Import what reports and layouts need, load UMAP's compiled code, draw one figure (font cache)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from ..layout import warm_up
            from ..plots._figure import new_figure
            from .build import load_analysis_code

            load_analysis_code()
            warm_up()
            fig = new_figure((1, 1))  # an Agg canvas, whatever MPLBACKEND the parent had
            fig.text(0.5, 0.5, "ρ")
            fig.canvas.draw()
        except Exception:  # noqa: BLE001 - a job that needs what failed raises the real error
            pass


def serve(parent: int) -> int:
    """Warm up, then run the jobs named on stdin (one path per line) until an empty line or EOF."""
    import traceback

    from .._process import die_with_parent

    die_with_parent(parent)
    answers = os.fdopen(os.dup(1), "w")  # the answers' own channel: whatever a job prints goes to stderr
    os.dup2(2, 1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    warm()
    for line in sys.stdin:
        path = line.strip()
        if not path:
            break
        try:
            run_job(Path(path))
            answer = "0"
        except Exception:  # noqa: BLE001 - reported to the parent, which builds the part itself
            traceback.print_exc()
            sys.stderr.flush()
            answer = "1"
        answers.write(answer + "\n")
        answers.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    from .._process import die_with_parent

    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["--serve"]:
        return serve(int(args[1]))
    path = Path(args[0])
    job = pickle.loads(path.read_bytes())
    die_with_parent(job["parent"])
    os.environ.setdefault("MPLBACKEND", "Agg")
    run_job(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
