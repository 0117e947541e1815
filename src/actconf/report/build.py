""":func:`build_report`: check every parameter, build the sections, write the folder atomically.

The report is written into a temporary folder next to its target (same parent)
that is renamed into place when every section is done; only then is an earlier
report replaced. On failure the target is untouched and the temporary folder is
removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._validation import check_bool, check_int, check_option, check_run, param_error
from .context import ReportContext
from .page import Section, render_page
from .sections import is_original, page_builders

logger = logging.getLogger(__name__)

CALLER = "build_report()"
#: Sections built in a second process when there are two cores (about half of a report's
#: time; they share no cached results with the others). The layout comparison is the
#: only part that needs UMAP: a second process started early (:func:`warm_helper`) has
#: it loaded already, and the process building the rest never imports it.
SECOND_PROCESS = ("layout_section", "animation_section", "statistics_section")
#: Environment variable capping ``build_report(workers=None)`` (e.g. 1 where processes are scarce).
WORKERS_VARIABLE = "ACTCONF_REPORT_WORKERS"
#: What a report folder holds; an existing folder with anything else is not replaced.
REPORT_ENTRIES = frozenset({"report.html", "figures", "maps_confidence.gif"})


# --------------------------------------------------------------------------- checks
def check_measure(run: Any, measure: Any) -> str:
    """A probability-valued confidence measure (the report draws calibration) the run has data for."""
    from ..confidence import MEASURES, PROBABILITY_MEASURES, available_measures

    check_option("measure", measure, MEASURES, CALLER)
    if measure not in PROBABILITY_MEASURES:
        raise param_error("measure", CALLER, f"a probability-valued measure ({', '.join(PROBABILITY_MEASURES)})",
                          measure, "The report draws calibration and bins confidence into ranges of [0, 1].")
    if measure not in available_measures(run):
        raise param_error("measure", CALLER, "a measure this run recorded the data for "
                          f"({', '.join(m for m in available_measures(run) if m in PROBABILITY_MEASURES)})",
                          measure, "'temperature' needs recorded logits, 'mc_dropout' MC-dropout passes.")
    return measure


def _is_report_folder(path: Path) -> bool:
    entries = {p.name for p in path.iterdir()}
    if not entries <= REPORT_ENTRIES:
        return False
    figures = path / "figures"
    return not figures.exists() or (figures.is_dir() and all(p.suffix == ".png" for p in figures.iterdir()))


def check_out(out: Any, run: Any) -> Path:
    """The report folder: new, empty or an earlier report, inside a writable folder, not the run itself."""
    from ..store import is_run

    if out is not None and not isinstance(out, str | os.PathLike):
        raise param_error("out", CALLER, "a folder path or None", out)
    target = run.path / "report" if out is None else Path(out)
    expected = "a new or empty folder, or the folder of an earlier report (report.html, figures/, maps_confidence.gif)"
    if target.exists() and not target.is_dir():
        raise param_error("out", CALLER, expected, str(target), "It is a file; choose a folder.")
    if target.is_dir() and (is_run(target) or run.path.resolve().is_relative_to(target.resolve())):
        raise param_error("out", CALLER, expected, str(target),
                          "It holds the run; the default, out=None, writes into <run>/report.")
    if target.is_dir() and not _is_report_folder(target):
        raise param_error("out", CALLER, expected, str(target), "Choose another folder; this one holds other files.")
    existing = target.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise param_error("out", CALLER, "a folder inside a writable folder", str(target),
                          f"{str(existing)!r} cannot be written to; choose another folder.")
    return target


def check_method(run: Any, method: Any) -> str:
    """The layout method: ``method``, else the study's configured one, else ``"umap"``."""
    from ..layout import METHODS

    if method is None:
        method = run.manifest.get("config", {}).get("study", {}).get("layout") or "umap"
    return check_option("method", method, METHODS, CALLER)


def check_layout(layout: Any, layer: str) -> Any:
    """``None`` or a :class:`~actconf.layout.Layout` of ``layer``."""
    from ..layout import Layout

    if layout is not None and not isinstance(layout, Layout):
        raise param_error("layout", CALLER, "None or an actconf Layout", type(layout).__name__,
                          "Load one with actconf.load_layout(run, layer) or compute one with layout_from_run.")
    if layout is not None and layout.layer is not None and layout.layer != layer:
        raise param_error("layout", CALLER, f"a layout of layer {layer!r}", f"a layout of layer {layout.layer!r}")
    return layout


# --------------------------------------------------------------------------- writing
def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return missing[::-1]


def _fresh_name(target: Path, tag: str) -> Path:
    return target.parent / f".{target.name}.{tag}-{secrets.token_hex(4)}"


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    old = _fresh_name(target, "old")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty folder next to ``target``; on success it replaces ``target``, on failure it is removed."""
    created = _make_parents(target.parent)
    staging = _fresh_name(target, "partial")
    staging.mkdir()
    try:
        yield staging
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def write_page(path: Path, sections: list[Section], run: Any, seconds: float) -> None:
    """Render the sections into ``path`` (one self-contained HTML file)."""
    manifest = run.manifest
    name = run.path.name
    subtitle = (f"{manifest.get('dataset', {}).get('name', '?')} · {manifest.get('model', {}).get('name', '')} · "
                f"{run.n_snapshots} snapshots · written {time.strftime('%Y-%m-%d %H:%M')} in {seconds:.0f} s")
    page = render_page(sections, title=f"actconf report — {name}", heading=f"actconf report: {name}",
                       subtitle=subtitle)
    path.write_text(page, encoding="utf-8")


def check_workers(workers: Any) -> int:
    """``workers`` checked; None becomes 2 with two usable cores (capped by ``ACTCONF_REPORT_WORKERS``), else 1."""
    if workers is not None:
        return check_int("workers", workers, CALLER, min_value=1)
    from .._process import usable_cores

    cores = usable_cores()
    cap = os.environ.get(WORKERS_VARIABLE, "").strip()
    if cap:
        try:
            cores = min(cores, max(1, int(cap)))
        except ValueError:
            raise param_error(WORKERS_VARIABLE, CALLER, "a whole number of processes", cap,
                              f"Set e.g. {WORKERS_VARIABLE}=1, or unset it.") from None
    return 2 if cores >= 2 else 1


def worker_result(path: Path) -> dict[str, Any]:
    """A job's result written by the second process: its warnings repeated here, its section times logged."""
    import pickle
    import warnings

    data = pickle.loads(path.read_bytes())
    for category, message in data["warnings"]:
        warnings.warn(message, category, stacklevel=4)
    for name, seconds in data["seconds"].items():
        logger.debug("section %s took %.2f s in %s", name, seconds, "the second process")
    return data


def timed_section(builder: Any, ctx: ReportContext) -> Section:
    """``builder(ctx)``, its time logged (DEBUG) as the second process's are."""
    start = time.perf_counter()
    section = builder(ctx)
    logger.debug("section %s took %.2f s in %s", builder.__name__, time.perf_counter() - start, "this process")
    return section


class SecondProcess:
    """The report sections ``names`` built by ``python -m actconf.report._worker`` while the caller builds the rest.

    Use as a context manager (the process is stopped on leaving, whatever happened);
    :meth:`result` waits for the sections and falls back to building them in this
    process when the worker could not (its error is then raised here, by the same code).
    """

    def __init__(self, ctx: ReportContext, names: list[str]):
        self.ctx, self.names, self.proc, self.helper = ctx, names, None, None

    def __enter__(self) -> SecondProcess:
        if self.names:
            self._start()
        return self

    def _start(self) -> None:
        import pickle
        import subprocess
        import sys

        ctx = self.ctx
        work = ctx.folder / ".worker"
        work.mkdir()
        job = {"run": str(ctx.run.path), "layer": ctx.layer, "layout": ctx.layout, "measure": ctx.measure,
               "seed": ctx.seed, "folder": str(ctx.folder), "compare": ctx.compare,
               "layout_given": ctx.layout_given, "replicates": [str(r.path) for r in ctx.replicates],
               "sections": self.names, "parent": os.getpid(), "result": str(work / "result.pickle")}
        (work / "job.pickle").write_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        helper = _HELPER.get()
        if helper is not None and helper.send(work / "job.pickle"):
            self.helper = helper  # started early: warm already
            return
        self.log = open(work / "stderr.txt", "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([sys.executable, "-m", "actconf.report._worker", str(work / "job.pickle")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)

    def result(self, builders: list[Any]) -> dict[str, Section]:
        """The sections by builder name: the worker's, or built here if it failed."""
        work = self.ctx.folder / ".worker"
        done = self.helper.wait() if self.helper is not None else self.proc is not None and self.proc.wait() == 0
        if done and (work / "result.pickle").is_file():
            return dict(zip(self.names, worker_result(work / "result.pickle")["sections"], strict=True))
        if self.proc is not None:
            tail = (work / "stderr.txt").read_text(errors="replace")[-2000:] if (work / "stderr.txt").is_file() else ""
            logger.info("build_report(): the second process failed (exit %s); building its sections here.\n%s",
                        self.proc.returncode, tail)
        by_name = {b.__name__: b for b in builders}
        return {name: timed_section(by_name[name], self.ctx) for name in self.names}

    def __exit__(self, *exc: Any) -> None:
        if self.helper is not None and self.helper.pending:  # left before its answer (an error here)
            self.helper.close()  # stop it writing into the folder
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.log.close()
        if self.helper is not None or self.proc is not None:
            shutil.rmtree(self.ctx.folder / ".worker", ignore_errors=True)


# --------------------------------------------------------------------------- a second process started early
class Helper:
    """``python -m actconf.report._worker --serve``: a second process that warms up now and runs jobs later.

    Started before a long step (training), it imports what the report needs and
    loads UMAP's compiled code on the core training leaves idle; later jobs (a
    layout to compute and save, report sections) then start at once. Every job
    can fail without harm: :meth:`wait` returns False and the caller does the work
    itself.
    """

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile

        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "actconf.report._worker", "--serve", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        self.pending = False

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job_path: Path) -> bool:
        """Hand over a job; False if the process is gone."""
        if self.pending or not self.alive:
            return False
        try:
            self.proc.stdin.write(f"{job_path}\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        self.pending = True
        return True

    def wait(self) -> bool:
        """Wait for the job handed over; True if it succeeded."""
        if not self.pending:
            return False
        self.pending = False
        answer = self.proc.stdout.readline().strip()
        if answer != "0":
            self.log.seek(0)
            logger.info("actconf's second process could not do a job (answer %r); doing it here.\n%s",
                        answer, self.log.read()[-2000:].decode(errors="replace"))
        return answer == "0"

    def layout(self, run: Any, layer: str, *, method: str, seed: int, meanwhile: Any = None) -> bool:
        """Compute and save the run's ``"default"`` layout of ``layer`` there; True if it was.

        ``meanwhile()``, if given, runs here while the helper works.
        """
        import pickle
        import tempfile

        with tempfile.TemporaryDirectory(prefix="actconf-layout-") as tmp:
            job = {"kind": "layout", "run": str(run.path), "layer": layer, "method": method, "seed": seed,
                   "result": str(Path(tmp) / "result.pickle")}
            path = Path(tmp) / "job.pickle"
            path.write_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
            sent = self.send(path)
            if meanwhile is not None:
                meanwhile()
            if not (sent and self.wait()):
                return False
            worker_result(Path(tmp) / "result.pickle")
            return True

    def close(self) -> None:
        """End the process (it holds nothing worth keeping between jobs)."""
        if self.alive:
            self.proc.kill()
        self.proc.wait()
        self.pending = False
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        self.log.close()


def load_analysis_code() -> None:
    """Import what the report's own sections need first (xarray, dask; xarray's look for optional array types)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dask.array  # noqa: F401
        import xarray

        from .. import analysis, naps, plots  # noqa: F401
        from . import sections  # noqa: F401

        xarray.DataArray([0.0, 1.0])  # its first array imports the optional array libraries it knows


_HELPER: contextvars.ContextVar[Helper | None] = contextvars.ContextVar("actconf_report_helper", default=None)


@contextlib.contextmanager
def warm_helper(enabled: bool = True) -> Iterator[Helper | None]:
    """A :class:`Helper` for the block, used by every :func:`build_report` in it (None when disabled).

    Disabled, or with fewer than two usable cores (see :func:`check_workers`), the
    block runs without one.
    """
    if not enabled or check_workers(None) < 2:
        yield None
        return
    try:
        helper = Helper()
    except OSError as exc:
        logger.info("actconf could not start a second process (%s); working in one.", exc)
        yield None
        return
    token = _HELPER.set(helper)
    try:
        yield helper
    finally:
        _HELPER.reset(token)
        helper.close()


# --------------------------------------------------------------------------- the report
def check_replicates(run: Any, replicates: Any) -> list[Any]:
    """Replicate runs (opened), checked to be of the run's configuration."""
    from ..analysis import check_runs

    if replicates is None:
        return []
    if isinstance(replicates, str | os.PathLike) or not isinstance(replicates, list | tuple):
        raise param_error("replicates", CALLER, "None or a list of runs (or run directories)",
                          type(replicates).__name__)
    others = [check_run(r, CALLER, allow_path=True) for r in replicates]
    check_runs([run, *others], CALLER)
    return others


def build_report(
    run: Any,
    layer: str | None = None,
    *,
    layout: Any = None,
    method: str | None = None,
    measure: str = "max_softmax",
    compare: bool = True,
    animation: bool = True,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
    replicates: Any = None,
    workers: int | None = None,
) -> Path:
    """Write the run's HTML report; return its path.

    Every parameter is checked before any work. The report is built in a temporary
    folder next to ``out`` and renamed into place at the end, replacing an earlier
    report only then; the run itself is never written to (a layout computed for
    the report is not saved: save one with
    ``actconf.ensure_layout(run, layer, save=True)`` to reuse it).

    Parameters
    ----------
    run : Run or path-like
    layer : str, optional
        Layer to map (default: the first recorded layer). Statistics cover all layers.
    layout : Layout, optional
        Neuron layout of ``layer``. Default: the layout saved in the run as
        ``"default"``, else one computed with ``method`` for this report
        (:func:`actconf.layout.ensure_layout`). The report says which.
    method : str, optional
        Layout method (:data:`actconf.layout.METHODS`) when a layout must be
        computed (default: the study's configured method, else ``"umap"``).
    measure : {"max_softmax", "temperature", "mc_dropout"}, default="max_softmax"
        Confidence measure for groupings, calibration and statistics (a probability
        of being right; the run must hold its data: logits for ``"temperature"``,
        MC-dropout passes for ``"mc_dropout"``).
    compare : bool, default=True
        Include the paper's layout-method comparison (2 seeds per method; the full comparison is notebook 03's).
    animation : bool, default=True
        Include a GIF of the maps per confidence bin over all snapshots.
    out : path-like, optional
        Report folder (default ``<run>/report``): new, empty, or an earlier report.
    progress : bool, default=True
        Show a progress bar over the report's sections.
    seed : int, default=0
    replicates : list of Run or path-like, optional
        Runs of the same configuration trained with other seeds. The findings then
        test the claim across ``[run, *replicates]`` (each run one replicate; see
        docs/statistics.md); maps, calibration and the other sections show ``run``.
    workers : int, optional
        Processes building the report: 1 builds everything here; 2 builds the
        layout, animation and statistics sections in a second Python process
        meanwhile (the same bytes). Default: 2 when two cores are usable, capped
        by the environment variable ``ACTCONF_REPORT_WORKERS``. Inside
        :func:`warm_helper` (as :func:`actconf.study.run_study` does around
        training) that process is the one started early, with UMAP already
        loaded. If the second process fails, its sections are built here.

    Returns
    -------
    pathlib.Path
        ``<out>/report.html``.
    """
    from tqdm.auto import tqdm

    from ..layout import ensure_layout

    t0 = time.perf_counter()
    run = check_run(run, CALLER, allow_path=True)
    if run.n_snapshots < 2:
        raise param_error("run", CALLER, "a run with at least 2 snapshots", run.n_snapshots,
                          "Train for at least one epoch.")
    layer = run.check_layer(layer)
    layout = check_layout(layout, layer)
    method = check_method(run, method)
    measure = check_measure(run, measure)
    compare, animation, progress = (check_bool(name, value, CALLER) for name, value in
                                    (("compare", compare), ("animation", animation), ("progress", progress)))
    seed = check_int("seed", seed, CALLER, min_value=0)
    replicates = check_replicates(run, replicates)
    target = check_out(out, run)
    workers = check_workers(workers)

    builders = page_builders(animation=animation)
    with staged_folder(target) as folder, tqdm(total=len(builders) + 2, desc="report", unit="section",
                                               disable=not progress) as bar:
        bar.set_postfix_str("layout")
        ctx = ReportContext(run=run, layer=layer, measure=measure, seed=seed, folder=folder, compare=compare,
                            layout=layout if layout is not None else ensure_layout(run, layer, method=method,
                                                                                    seed=seed, save=False),
                            layout_given=layout is not None, replicates=replicates)
        bar.update()
        remote = [b.__name__ for b in builders if b.__name__ in SECOND_PROCESS and is_original(b)] \
            if workers > 1 else []
        with SecondProcess(ctx, remote) as second:
            built = {}
            for builder in builders:
                if builder.__name__ not in remote:
                    bar.set_postfix_str(builder.__name__.removesuffix("_section"))
                    built[builder.__name__] = timed_section(builder, ctx)
                    bar.update()
            if remote:
                bar.set_postfix_str(", ".join(n.removesuffix("_section") for n in remote) + " (second process)")
                built.update(second.result(builders))
                bar.update(len(remote))
        sections = [built[b.__name__] for b in builders]
        bar.set_postfix_str("writing")
        write_page(folder / "report.html", sections, run, time.perf_counter() - t0)
        bar.update()
    return target / "report.html"
