"""Some of a report's sections, built in a second process: ``python -m actconf.report._worker JOB``.

:func:`~actconf.report.build_report` writes a job file (a pickle of the report's
settings and the section names) into the report's staging folder and starts this
module on it, while it builds the other sections itself. The worker opens the run
again, builds its sections into the same folder (their figures get distinct names)
and writes them, pickled with the warnings they raised, to the result file the job
names; the parent reads them back, repeats the warnings and puts the sections in
page order. The worker ends when its parent does.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_sections", "main"]


def build_sections(job: dict[str, Any]) -> list[Any]:
    """The sections ``job["sections"]`` names, built from the settings the job holds."""
    from ..store import open_run
    from . import sections
    from .context import ReportContext

    ctx = ReportContext(run=open_run(job["run"]), layer=job["layer"], layout=job["layout"],
                        measure=job["measure"], seed=job["seed"], folder=Path(job["folder"]),
                        compare=job["compare"], layout_given=job["layout_given"],
                        replicates=[open_run(path) for path in job["replicates"]])
    return [getattr(sections, name)(ctx) for name in job["sections"]]


def main(argv: list[str] | None = None) -> int:
    from .._process import die_with_parent

    path = Path((argv if argv is not None else sys.argv[1:])[0])
    job = pickle.loads(path.read_bytes())
    die_with_parent(job["parent"])
    os.environ.setdefault("MPLBACKEND", "Agg")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        built = build_sections(job)
    said = [(w.category, str(w.message)) for w in caught]  # the parent repeats them
    result = Path(job["result"])
    tmp = result.with_name(result.name + ".tmp")
    tmp.write_bytes(pickle.dumps({"sections": built, "warnings": said}, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
