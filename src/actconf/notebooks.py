"""The study notebooks: run them headless, and the few helpers they share.

The five notebooks in ``notebooks/`` of the repository tell the study in order:

=======================================  =================================================
notebook                                 what it does
=======================================  =================================================
``01_train_and_record.ipynb``            train the paper's MLP with the recorder, write the run
``02_confidence_over_training.ipynb``    confidence measures and calibration over training
``03_topographic_layouts.ipynb``         NAPs, layouts and their quality, TAMs; saves the layout
``04_activity_vs_confidence.ipynb``      maps per confidence bin, explorer, statistics, animation
``05_bring_your_own_model.ipynb``        a user's own CNN, recorder from three copied files
=======================================  =================================================

:func:`run_notebooks` executes them in order with papermill against one run directory
(notebook 01 writes it, 02–04 read it, 05 records its own run next to it) and keeps
the executed copies and their HTML inside the run. The other functions are small
conveniences the notebooks call so that they stay thin: :func:`resolve_path` (paths
relative to the repository root, whatever the kernel's working directory),
:func:`study_run` (open the study's run, recording it first if it is missing),
:func:`available_measures` (the confidence measures a run supports),
:func:`pick_snapshots` (a few snapshots spread over training, for map grids),
:func:`plot_training` (learning curves from the snapshot table) and
:func:`plot_layouts` (one map drawn with several layouts) and :func:`show_animation`
(a GIF shown inline, also in HTML exports).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._validation import param_error
from .confidence import available_measures
from .errors import ActconfError, MissingDataError
from .plots._run import pick_snapshots, plot_training

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "find_notebooks_dir",
    "ensure_kernel",
    "resolve_path",
    "study_run",
    "available_measures",
    "pick_snapshots",
    "plot_training",
    "show_animation",
    "run_notebooks",
]

#: The study notebooks, in the order they must run.
NOTEBOOKS: tuple[str, ...] = (
    "01_train_and_record",
    "02_confidence_over_training",
    "03_topographic_layouts",
    "04_activity_vs_confidence",
    "05_bring_your_own_model",
)

#: Name of the kernel spec registered when no ``python3`` kernel runs this interpreter.
KERNEL_NAME = "actconf-python"

DEFAULT_RUN_DIR = "data/runs/notebooks"

#: Extra kernel arguments of headless runs: output written by C libraries straight to the
#: process's file descriptors (TensorFlow prints its C++ start-up log there, whatever
#: ``TF_CPP_MIN_LOG_LEVEL`` says) goes to the kernel's log, not into the notebook; what
#: Python code prints is kept.
KERNEL_ARGUMENTS = ("--IPKernelApp.capture_fd_output=False",)


class NotebookError(ActconfError, RuntimeError):
    """A notebook failed while :func:`run_notebooks` executed it.

    Attributes
    ----------
    notebook : str
        Name of the notebook (e.g. ``"03_topographic_layouts"``).
    cell : int or None
        Execution count of the failing code cell (``[n]`` in Jupyter), if known.
    path : pathlib.Path or None
        The executed copy, with every output up to the error.
    """

    def __init__(self, message: str, *, notebook: str, cell: int | None = None,
                 path: Path | None = None) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.path = path


# ------------------------------------------------------------------------------ paths
def _is_repo_root(path: Path) -> bool:
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        return 'name = "actconf"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def _repo_root(start: Path | None = None) -> Path | None:
    """The actconf repository containing ``start`` (default: the working directory)."""
    start = Path.cwd() if start is None else start
    for folder in (start, *start.parents):
        if _is_repo_root(folder):
            return folder
    return None


def resolve_path(path: str | os.PathLike) -> Path:
    """Resolve a path given relative to the repository root, wherever the kernel runs.

    Notebooks are opened from ``notebooks/`` (Jupyter) or run from the repository
    root (papermill, pytest); a relative path such as ``"data/runs/notebooks"``
    means the same folder in both cases.

    Parameters
    ----------
    path : str or path-like
        Absolute paths are returned as they are (made absolute). A relative path is
        taken relative to the actconf repository that contains the working
        directory, or to the working directory when there is none (e.g. the
        notebooks were copied elsewhere).

    Returns
    -------
    pathlib.Path
        An absolute path.
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise param_error("path", "resolve_path()", "a non-empty path (str or os.PathLike)", path)
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    root = _repo_root() or Path.cwd()
    return (root / path).absolute()


def find_notebooks_dir() -> Path:
    """The folder holding the study notebooks (``notebooks/`` of the repository).

    Looks next to the installed package (an editable install from a clone), then in
    the repository containing the working directory.

    Raises
    ------
    MissingDataError
        Neither place has the notebooks (e.g. actconf installed from a wheel).
    """
    candidates = [Path(__file__).resolve().parents[2] / "notebooks"]
    root = _repo_root()
    if root is not None:
        candidates.append(root / "notebooks")
    for folder in candidates:
        if (folder / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return folder
    raise MissingDataError(
        "The study notebooks were not found (looked in "
        + ", ".join(repr(str(c)) for c in candidates)
        + "). They ship with the source repository, not the wheel: clone it and run from "
        "there, or pass the notebook files' paths as notebooks=[...]."
    )


# ----------------------------------------------------------------------------- kernel
def _runs_this_python(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    # jupyter_client replaces these names by sys.executable when it starts the kernel
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    # compare without resolving symlinks: a venv's python links to the system one
    return os.path.abspath(exe) == os.path.abspath(sys.executable)


def ensure_kernel(kernel_name: str | None = None) -> str:
    """Name of a Jupyter kernel that runs this Python interpreter (registered if needed).

    Parameters
    ----------
    kernel_name : str, optional
        Use this kernel spec; it must exist. By default the ``python3`` kernel that
        ipykernel installs into the environment is used when it starts this
        interpreter (true in a venv with ``actconf[notebooks]`` installed); otherwise
        a kernel spec ``actconf-python`` pointing at ``sys.executable`` is written
        into the environment (or the user's Jupyter folder if the environment is
        read-only) and used.

    Returns
    -------
    str
        The kernel name to give papermill.

    Raises
    ------
    MissingDataError
        ``kernel_name`` does not exist, or ipykernel is not installed.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        raise MissingDataError(
            "Running notebooks needs Jupyter: pip install 'actconf[notebooks]'."
        ) from None
    manager = KernelSpecManager()
    if kernel_name is not None:
        if not isinstance(kernel_name, str) or not kernel_name:
            raise param_error("kernel_name", "run_notebooks()", "a kernel name (str) or None", kernel_name)
        try:
            manager.get_kernel_spec(kernel_name)
        except NoSuchKernel:
            names = ", ".join(sorted(manager.find_kernel_specs())) or "none"
            raise MissingDataError(
                f"There is no Jupyter kernel named {kernel_name!r} (installed: {names}). "
                "Leave kernel_name=None to use this Python interpreter."
            ) from None
        return kernel_name
    for name in ("python3", KERNEL_NAME):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        if _runs_this_python(spec.argv):
            return name
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        raise MissingDataError(
            "Running notebooks needs ipykernel in this environment: pip install 'actconf[notebooks]'."
        ) from None
    display = f"Python {sys.version_info[0]}.{sys.version_info[1]} (actconf, {sys.prefix})"
    try:
        install(kernel_name=KERNEL_NAME, display_name=display, prefix=sys.prefix)
    except OSError:  # a read-only environment: the user's Jupyter folder
        install(kernel_name=KERNEL_NAME, display_name=display, user=True)
    return KERNEL_NAME


# ------------------------------------------------------------------ notebook helpers
def study_run(
    run_dir: str | os.PathLike = DEFAULT_RUN_DIR,
    *,
    dataset: str = "digits",
    epochs: int = 20,
    probe_per_class: int = 50,
    seed: int = 0,
    every_n_batches: int | str = "auto",
    mc_samples: int = 10,
    max_train: int | None = None,
    verbose: int | str = 0,
):
    """Open the study's run, recording it first (as notebook 01 does) if it is missing.

    Notebooks 02–04 read the run that notebook 01 wrote. So that each of them also
    runs on its own, this records the same study with
    :func:`actconf.study.record` when ``run_dir`` holds no run yet; the recording
    parameters are ignored when the run exists.

    Parameters
    ----------
    run_dir : path-like, default="data/runs/notebooks"
        Relative paths are resolved with :func:`resolve_path`.
    dataset, epochs, probe_per_class, seed, every_n_batches, mc_samples, max_train
        As in :class:`actconf.study.StudyConfig`, used only to record a missing run.
    verbose : int or "auto", default=0
        Keras' progress output while recording.

    Returns
    -------
    Run
    """
    from .store import is_run, open_run

    path = resolve_path(run_dir)
    if is_run(path):
        return open_run(path)
    from .study import StudyConfig, record

    config = StudyConfig(
        dataset=dataset, epochs=epochs, probe_per_class=probe_per_class, seed=seed,
        every_n_batches=every_n_batches, mc_samples=mc_samples, max_train=max_train,
    ).validate()
    print(f"No run at {path} yet: recording it now ({dataset}, {epochs} epochs).")
    return record(config, path, verbose=verbose)


class _Animation:
    """An animation file shown inline as an ``<img>`` (see :func:`show_animation`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        import base64

        data = base64.b64encode(self.path.read_bytes()).decode("ascii")
        html = f'<img src="data:image/gif;base64,{data}" alt="{self.path.name}"/>'
        return {"text/html": html, "text/plain": f"<animation {self.path}>"}

    def __repr__(self) -> str:
        return f"<animation {self.path}>"


def show_animation(path: str | os.PathLike) -> Any:
    """Show a GIF (e.g. from :func:`actconf.animate.animate_maps`) inline in a notebook.

    The GIF is embedded as an HTML ``<img>``, which JupyterLab, VS Code and nbconvert's
    HTML export all display (``IPython.display.Image`` gives ``image/gif`` output, which
    the HTML export does not render).

    Parameters
    ----------
    path : path-like
        A ``.gif`` file.

    Returns
    -------
    object
        Displayed when it is the last expression of a cell (or via ``display``).
    """
    if not isinstance(path, str | os.PathLike):
        raise param_error("path", "show_animation()", "the path of a .gif file", path)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise param_error("path", "show_animation()", "the path of a .gif file", str(path),
                          "MP4 files cannot be embedded as images; write a .gif.")
    if not path.is_file():
        raise MissingDataError(f"show_animation(): there is no file at {str(path)!r}.")
    return _Animation(path)


# ---------------------------------------------------------------------- run_notebooks
def _select_notebooks(notebooks: Any, folder: Path | None) -> list[tuple[str, Path]]:
    """Resolve the ``notebooks`` selection to ``(name, path)`` pairs in study order."""
    caller = "run_notebooks()"
    expected = ("None (all five), or a list of notebook numbers (1-5), names such as "
                "'03' or '03_topographic_layouts', or paths of .ipynb files")
    if notebooks is None:
        items: list[Any] = list(NOTEBOOKS)
    elif isinstance(notebooks, str | int | os.PathLike):
        items = [notebooks]
    elif isinstance(notebooks, Sequence) and notebooks:
        items = list(notebooks)
    else:
        raise param_error("notebooks", caller, expected, notebooks)
    chosen: list[tuple[str, Path]] = []
    for item in items:
        name = None
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
                    raise param_error("notebooks", caller, expected, item,
                                      f"There is no notebook file at {str(path)!r}.")
                chosen.append((path.stem, path))
                continue
        if name is None:
            raise param_error("notebooks", caller, expected, item)
        if folder is None:
            folder = find_notebooks_dir()
        chosen.append((name, folder / f"{name}.ipynb"))
    names = [n for n, _ in chosen]
    if len(set(names)) != len(names):
        raise param_error("notebooks", caller, "a selection without repeats", notebooks)
    order = {n: i for i, n in enumerate(NOTEBOOKS)}
    known = [c for c in chosen if c[0] in order]
    if [c[0] for c in known] != sorted((c[0] for c in known), key=order.__getitem__):
        raise param_error("notebooks", caller, "in study order (01 before 02 ...)", notebooks,
                          "Later notebooks read what earlier ones wrote.")
    return chosen


def _declared_parameters(path: Path) -> dict[str, Any]:
    import papermill

    return papermill.inspect_notebook(str(path))


def _cell_source_summary(source: str) -> str:
    lines = [line for line in source.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    text = text if len(text) <= 80 else text[:77] + "..."
    return text + (" ..." if len(lines) > 1 else "")


def _quiet_kernel_manager(log_path: Path):
    """A kernel manager class for headless runs: the kernel's stderr goes to ``log_path``.

    Kernels echo start-up messages (ipykernel's transport warning, TensorFlow's C++
    log) to the terminal of the process that started them, which would garble the
    progress bars; the log is kept to explain a kernel that dies. (Together with
    :data:`KERNEL_ARGUMENTS`, C-level writes such as TensorFlow's start-up log also
    stay out of the notebooks' outputs.)
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            log = open(log_path, "ab")  # the kernel process inherits it
            try:
                kw.setdefault("stderr", log)
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()  # the child has its own copy of the descriptor

    return QuietKernelManager


def _log_tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])


def _export_html(notebook_path: Path, html_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook_path), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")


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
        The study's run directory. Notebook 01 records it; 02–04 read it; 05
        records its own run next to it (``<run_dir>-byom``). Every notebook gets
        ``run_dir`` as a parameter (an absolute path).
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
        ``"03_topographic_layouts"``) or paths of other ``.ipynb`` files. Default all
        five.
    kernel_name : str, optional
        Jupyter kernel; default one running this interpreter (see
        :func:`ensure_kernel`).
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

    from .store import is_run

    caller = "run_notebooks()"
    if not isinstance(run_dir, str | os.PathLike) or not str(run_dir):
        raise param_error("run_dir", caller, "a path (str or os.PathLike)", run_dir)
    run_path = resolve_path(run_dir)
    if out_dir is not None and (not isinstance(out_dir, str | os.PathLike) or not str(out_dir)):
        raise param_error("out_dir", caller, "a path (str or os.PathLike) or None", out_dir)
    out_path = run_path / "notebooks" if out_dir is None else resolve_path(out_dir)
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        raise param_error("parameters", caller, "a dict of parameter name -> value", parameters)
    if "run_dir" in parameters:
        raise param_error("parameters", caller, "a dict without 'run_dir'", dict(parameters),
                          "Pass the run directory as run_notebooks' first argument.")
    if reuse not in (None, True, False):
        raise param_error("reuse", caller, "True, False or None", reuse)

    chosen = _select_notebooks(notebooks, None)
    exists = is_run(run_path)
    if reuse is None:
        reuse = exists
    if reuse and not exists:
        raise param_error("reuse", caller, "False or None when run_dir holds no run", reuse,
                          f"There is no actconf run at {str(run_path)!r} to reuse.")
    declared = {name: _declared_parameters(path) for name, path in chosen}
    unknown = sorted(set(parameters) - {p for d in declared.values() for p in d})
    if unknown:
        known = sorted({p for d in declared.values() for p in d} - {"run_dir"})
        raise param_error("parameters", caller, "names declared by the notebooks' parameters cells",
                          unknown, "Known parameters: " + ", ".join(known) + ".")
    kernel = ensure_kernel(kernel_name)

    import papermill
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    staging = Path(tempfile.mkdtemp(prefix="actconf-notebooks-"))
    bar = tqdm(chosen, desc="notebooks", unit="notebook", disable=not progress)
    try:
        for name, source in bar:
            bar.set_postfix_str(name)
            if name == NOTEBOOKS[0] and reuse:
                rows.append({"notebook": name, "status": "skipped", "seconds": 0.0,
                             "ipynb": None, "html": None})
                continue
            params = {k: v for k, v in parameters.items() if k in declared[name]}
            if "run_dir" in declared[name]:
                params["run_dir"] = str(run_path)
            if "progress" in declared[name] and "progress" not in parameters:
                params["progress"] = False  # nobody watches in-notebook bars of a headless run
            staged = staging / f"{name}.ipynb"
            log_path = staging / f"{name}.kernel.log"
            start = time.perf_counter()
            error: BaseException | None = None
            try:
                papermill.execute_notebook(
                    str(source), str(staged), parameters=params, kernel_name=kernel,
                    cwd=str(source.parent), log_output=False,
                    progress_bar={"desc": name, "leave": False} if progress else False,
                    kernel_manager_class=_quiet_kernel_manager(log_path),
                    extra_arguments=list(KERNEL_ARGUMENTS),
                )
            except Exception as exc:  # re-raised below as NotebookError
                error = exc
            seconds = time.perf_counter() - start
            out_path.mkdir(parents=True, exist_ok=True)
            target = out_path / f"{name}.ipynb"
            if staged.exists():
                shutil.move(str(staged), str(target))
            if error is not None:
                kept_log = None
                if log_path.is_file() and log_path.stat().st_size:
                    kept_log = out_path / log_path.name
                    shutil.move(str(log_path), str(kept_log))
                raise _notebook_error(name, error, target if target.exists() else None,
                                      kept_log) from error
            html_path = None
            if html:
                html_path = out_path / f"{name}.html"
                _export_html(target, html_path)
            rows.append({"notebook": name, "status": "ok", "seconds": round(seconds, 1),
                         "ipynb": target, "html": html_path})
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    return pd.DataFrame(rows, columns=["notebook", "status", "seconds", "ipynb", "html"])


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
        tail = _log_tail(log_path)
        if tail:
            message += f" Last lines of the kernel's log ({str(log_path)!r}):\n{tail}"
    return NotebookError(message, notebook=name, cell=cell, path=path)
