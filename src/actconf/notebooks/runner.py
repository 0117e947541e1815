"""Executing the study notebooks headless with papermill (``actconf notebooks``).

:func:`run_notebooks` runs in four steps: check the arguments, plan one job per
selected notebook (its parameters, its working directory, whether it is skipped),
find a kernel (:func:`~actconf.notebooks.kernel.ensure_kernel`), then execute the
jobs one by one into a staging folder and keep each executed copy (and its HTML)
in the output folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._paths import resolve_path
from .._validation import check_bool, param_error
from ..errors import NotebookError
from .kernel import KERNEL_ARGUMENTS, ensure_kernel, log_tail, quiet_kernel_manager
from .library import NOTEBOOKS, find_notebooks_dir, is_packaged

__all__ = ["run_notebooks"]

CALLER = "run_notebooks()"
COLUMNS = ["notebook", "status", "seconds", "ipynb", "html"]
_EXPECTED_SELECTION = ("None (all five), or a list of notebook numbers (1-5), names such as "
                       "'03' or '03_topographic_layouts', or paths of .ipynb files")


@dataclass(frozen=True)
class _Job:
    """One notebook to execute: what, with which parameters, where."""

    name: str
    source: Path
    parameters: dict[str, Any]
    cwd: Path
    skip: bool = False


# ------------------------------------------------------------------ the selection
def _select_one(item: Any, folder: Path | None) -> tuple[str, Path]:
    """One item of the ``notebooks`` selection as ``(name, path)``."""
    if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= len(NOTEBOOKS):
        name = NOTEBOOKS[item - 1]
    elif isinstance(item, str | os.PathLike):
        text = str(item)
        stem = Path(text).name.removesuffix(".ipynb")
        matches = [nb for nb in NOTEBOOKS if nb == stem or nb.split("_", 1)[0] == stem]
        if matches and Path(text).name == text:  # a bare name, not a path
            name = matches[0]
        elif text.endswith(".ipynb"):
            path = Path(text).expanduser().absolute()
            if not path.is_file():
                raise param_error("notebooks", CALLER, _EXPECTED_SELECTION, item,
                                  f"There is no notebook file at {str(path)!r}.")
            return path.stem, path
        else:
            raise param_error("notebooks", CALLER, _EXPECTED_SELECTION, item)
    else:
        raise param_error("notebooks", CALLER, _EXPECTED_SELECTION, item)
    return name, (folder or find_notebooks_dir()) / f"{name}.ipynb"


def _select_notebooks(notebooks: Any, folder: Path | None) -> list[tuple[str, Path]]:
    """Resolve the ``notebooks`` selection to ``(name, path)`` pairs in study order."""
    if notebooks is None:
        items: list[Any] = list(NOTEBOOKS)
    elif isinstance(notebooks, str | int | os.PathLike):
        items = [notebooks]
    elif isinstance(notebooks, Sequence) and notebooks:
        items = list(notebooks)
    else:
        raise param_error("notebooks", CALLER, _EXPECTED_SELECTION, notebooks)
    chosen = [_select_one(item, folder) for item in items]
    names = [n for n, _ in chosen]
    if len(set(names)) != len(names):
        raise param_error("notebooks", CALLER, "a selection without repeats", notebooks)
    order = {n: i for i, n in enumerate(NOTEBOOKS)}
    known = [n for n in names if n in order]
    if known != sorted(known, key=order.__getitem__):
        raise param_error("notebooks", CALLER, "in study order (01 before 02 ...)", notebooks,
                          "Later notebooks read what earlier ones wrote.")
    return chosen


# ---------------------------------------------------------------------- the plan
def _check_arguments(run_dir: Any, out_dir: Any, parameters: Any, reuse: Any) -> tuple[Path, Path, dict]:
    """Validate the plain arguments; return the absolute run and output folders."""
    if not isinstance(run_dir, str | os.PathLike) or not str(run_dir):
        raise param_error("run_dir", CALLER, "a path (str or os.PathLike)", run_dir)
    run_path = resolve_path(run_dir)
    if out_dir is not None and (not isinstance(out_dir, str | os.PathLike) or not str(out_dir)):
        raise param_error("out_dir", CALLER, "a path (str or os.PathLike) or None", out_dir)
    out_path = run_path / "notebooks" if out_dir is None else resolve_path(out_dir)
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        raise param_error("parameters", CALLER, "a dict of parameter name -> value", parameters)
    if "run_dir" in parameters:
        raise param_error("parameters", CALLER, "a dict without 'run_dir'", dict(parameters),
                          "Pass the run directory as run_notebooks' first argument.")
    if reuse not in (None, True, False):
        raise param_error("reuse", CALLER, "True, False or None", reuse)
    return run_path, out_path, dict(parameters)


def _resolve_reuse(reuse: bool | None, run_path: Path) -> bool:
    from ..store import is_run

    exists = is_run(run_path)
    if reuse and not exists:
        raise param_error("reuse", CALLER, "False or None when run_dir holds no run", reuse,
                          f"There is no actconf run at {str(run_path)!r} to reuse.")
    return exists if reuse is None else reuse


def _declared_parameters(path: Path) -> dict[str, Any]:
    import papermill

    return papermill.inspect_notebook(str(path))


def _check_parameter_names(parameters: Mapping[str, Any], declared: Mapping[str, dict]) -> None:
    known = {p for d in declared.values() for p in d}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise param_error("parameters", CALLER, "names declared by the notebooks' parameters cells",
                          unknown, "Known parameters: " + ", ".join(sorted(known - {"run_dir"})) + ".")


def _job_parameters(declared: Mapping[str, Any], parameters: Mapping[str, Any],
                    run_path: Path) -> dict[str, Any]:
    """The parameters one notebook gets: those it declares, its run_dir, progress off."""
    params = {k: v for k, v in parameters.items() if k in declared}
    if "run_dir" in declared:
        params["run_dir"] = str(run_path)
    if "progress" in declared and "progress" not in parameters:
        params["progress"] = False  # nobody watches in-notebook bars of a headless run
    return params


def _plan(run_path: Path, parameters: dict, notebooks: Any, reuse: bool | None) -> list[_Job]:
    chosen = _select_notebooks(notebooks, None)
    reuse = _resolve_reuse(reuse, run_path)
    declared = {name: _declared_parameters(path) for name, path in chosen}
    _check_parameter_names(parameters, declared)
    jobs = []
    for name, path in chosen:
        # the packaged study notebooks run where the caller works (so that data/ is the
        # caller's, not inside site-packages); a user's notebook file runs in its
        # folder, as in Jupyter
        cwd = Path.cwd() if is_packaged(path) else path.parent
        jobs.append(_Job(name, path, _job_parameters(declared[name], parameters, run_path), cwd,
                         skip=name == NOTEBOOKS[0] and reuse))
    return jobs


# ----------------------------------------------------------------- the execution
def _execute(job: _Job, staged: Path, kernel: str, log_path: Path, progress: bool) -> Exception | None:
    """Run one notebook with papermill into ``staged``; return the error, if any."""
    import papermill

    try:
        papermill.execute_notebook(
            str(job.source), str(staged), parameters=job.parameters, kernel_name=kernel,
            cwd=str(job.cwd), log_output=False,
            progress_bar={"desc": job.name, "leave": False} if progress else False,
            kernel_manager_class=quiet_kernel_manager(log_path),
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except Exception as exc:  # re-raised by the caller as NotebookError
        return exc
    return None


def _export_html(notebook_path: Path, html_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook_path), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _keep(path: Path, out_path: Path) -> Path | None:
    """Move a staged file into the output folder; None when there is none (or it is empty)."""
    if not path.is_file() or not path.stat().st_size:
        return None
    out_path.mkdir(parents=True, exist_ok=True)
    target = out_path / path.name
    shutil.move(str(path), str(target))
    return target


def _run_job(job: _Job, staging: Path, out_path: Path, kernel: str, *, html: bool,
             progress: bool) -> dict[str, Any]:
    """Execute one job; keep its executed copy (and HTML); return its table row."""
    if job.skip:
        return {"notebook": job.name, "status": "skipped", "seconds": 0.0, "ipynb": None, "html": None}
    staged = staging / f"{job.name}.ipynb"
    log_path = staging / f"{job.name}.kernel.log"
    start = time.perf_counter()
    error = _execute(job, staged, kernel, log_path, progress)
    seconds = time.perf_counter() - start
    out_path.mkdir(parents=True, exist_ok=True)
    target = _keep(staged, out_path)
    if error is not None:
        raise _notebook_error(job.name, error, target, _keep(log_path, out_path)) from error
    html_path = _export_html(target, out_path / f"{job.name}.html") if html else None
    return {"notebook": job.name, "status": "ok", "seconds": round(seconds, 1), "ipynb": target,
            "html": html_path}


def _cell_source_summary(source: str) -> str:
    lines = [line for line in source.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    text = text if len(text) <= 80 else text[:77] + "..."
    return text + (" ..." if len(lines) > 1 else "")


def _notebook_error(name: str, error: BaseException, path: Path | None,
                    log_path: Path | None = None) -> NotebookError:
    where = f" The executed copy with the full traceback is {str(path)!r}." if path else ""
    cell = getattr(error, "exec_count", None)
    if hasattr(error, "ename") and hasattr(error, "evalue"):  # papermill.PapermillExecutionError
        source = _cell_source_summary(getattr(error, "source", "") or "")
        index = getattr(error, "cell_index", None)
        position = f"cell [{cell}]" if cell is not None else f"cell #{index}"
        message = (f"Notebook {name} failed in {position} ({source!r}): "
                   f"{error.ename}: {error.evalue}.{where}")
    else:
        message = f"Notebook {name} could not be executed: {type(error).__name__}: {error}.{where}"
        tail = log_tail(log_path)
        if tail:
            message += f" Last lines of the kernel's log ({str(log_path)!r}):\n{tail}"
    return NotebookError(message, notebook=name, cell=cell, path=path)


# ------------------------------------------------------------------------ the API
def run_notebooks(
    run_dir: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    parameters: Mapping[str, Any] | None = None,
    notebooks: Any = None,
    kernel_name: str | None = None,
    reuse: bool | None = None,
    html: bool = True,
    progress: bool = True,
):
    """Execute the study notebooks in order against one run; keep executed copies and HTML.

    Parameters
    ----------
    run_dir : path-like
        The study's run directory (resolved with
        :func:`~actconf.notebooks.resolve_path`: ``"data/..."`` lies in actconf's data
        folder). Notebook 01 records it; 02–04 read it; 05 records its own run next
        to it (``<run_dir>-byom``). Every notebook gets ``run_dir`` as a parameter
        (an absolute path).
    out_dir : path-like, optional
        Where the executed notebooks (``.ipynb``, with outputs) and their ``.html``
        go; default ``<run_dir>/notebooks``. Notebooks execute in a temporary
        folder and are moved here when done, so that notebook 01 can replace the run.
    parameters : dict, optional
        Papermill parameters, e.g. ``{"epochs": 3, "probe_per_class": 10}``. Each
        notebook gets the ones its ``parameters`` cell declares; a name no selected
        notebook declares is an error. Notebooks that declare ``progress`` get
        ``progress=False`` unless it is given (no in-notebook bars in executed copies).
    notebooks : list, optional
        A selection, in study order: numbers (1–5), names (``"03"``,
        ``"03_topographic_layouts"``) or paths of other ``.ipynb`` files (e.g. your
        copies from :func:`~actconf.notebooks.copy_notebooks`). Default all five.
        The packaged notebooks run in the working directory; a file given by path
        runs in its own folder, as Jupyter would run it.
    kernel_name : str, optional
        Jupyter kernel; default one running this interpreter (see
        :func:`~actconf.notebooks.ensure_kernel`).
    reuse : bool, optional
        ``True``: use the run already at ``run_dir`` and skip notebook 01.
        ``False``: run 01, which replaces that run. ``None`` (default): reuse a run
        that exists, record one otherwise.
    html : bool, default=True
        Also write an HTML copy of every executed notebook (nbconvert).
    progress : bool, default=True
        A tqdm bar over the notebooks and papermill's bar over each one's cells.

    Returns
    -------
    pandas.DataFrame
        One row per selected notebook: ``notebook``, ``status`` (``"ok"`` or
        ``"skipped"``), ``seconds``, ``ipynb`` and ``html`` (paths, or None).

    Raises
    ------
    NotebookError
        A cell failed (or the kernel died); the message names the notebook, the cell
        and the error, and where the executed copy with the traceback is.
    InvalidParameterError
        Bad selection or parameters, or ``reuse=True`` without a run at ``run_dir``.
    MissingDataError
        No notebooks or no Jupyter kernel available.

    Examples
    --------
    >>> run_notebooks("data/runs/notebooks", parameters={"epochs": 5})  # doctest: +SKIP
    """
    import pandas as pd
    from tqdm.auto import tqdm

    run_path, out_path, parameters = _check_arguments(run_dir, out_dir, parameters, reuse)
    html = check_bool("html", html, CALLER)
    progress = check_bool("progress", progress, CALLER)
    jobs = _plan(run_path, parameters, notebooks, reuse)
    kernel = ensure_kernel(kernel_name)
    rows: list[dict[str, Any]] = []
    staging = Path(tempfile.mkdtemp(prefix="actconf-notebooks-"))
    bar = tqdm(jobs, desc="notebooks", unit="notebook", disable=not progress)
    try:
        for job in bar:
            bar.set_postfix_str(job.name)
            rows.append(_run_job(job, staging, out_path, kernel, html=html, progress=progress))
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    return pd.DataFrame(rows, columns=COLUMNS)
