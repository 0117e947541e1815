"""Where actconf's data folder is: the one rule for runs, datasets and notebooks.

``actconf run`` (its default ``--out``), the dataset search of :mod:`actconf.datasets`
(``data/datasets/``), the study notebooks (``run_dir = "data/runs/notebooks"``) and
:func:`actconf.notebooks.run_notebooks` all find ``data/`` here:

1. ``$ACTCONF_DATA``, when set, *is* the data folder (a relative value is taken
   relative to the working directory);
2. otherwise it is ``data/`` of the **project folder**: the actconf source checkout
   that contains the working directory (the folder whose ``pyproject.toml`` names
   actconf), so that a kernel started in ``notebooks/`` and a command run in the
   repository root mean the same ``data/``; outside a checkout, the working
   directory itself.

Where the package is installed never matters: an actconf installed from a wheel (or
editable from a clone elsewhere) reads and writes the user's ``data/``, never
site-packages or the source tree it was built from.

The names here are an internal API (no underscore) shared by ``cli``, ``datasets``,
``study`` and ``notebooks``; :func:`resolve_path` is public as
``actconf.notebooks.resolve_path``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._validation import param_error

__all__ = ["DATA_ENV", "data_path", "data_root", "find_checkout", "numba_cache_dir", "project_root", "resolve_path"]

#: Environment variable naming the data folder (default: ``data/`` of the project folder).
DATA_ENV = "ACTCONF_DATA"

#: A relative path starting with this folder name lies in the data folder.
DATA_NAME = "data"


def numba_cache_dir() -> Path:
    """The folder of actconf's compiled numba code: ``$NUMBA_CACHE_DIR``, else ``<user cache>/actconf/numba``.

    The user cache is ``$XDG_CACHE_HOME`` (default ``~/.cache``; on Windows
    ``%LOCALAPPDATA%``). Nothing is created here. Used by the UMAP layouts
    (umap-learn's functions) and by the colour-mapping kernel of :mod:`actconf.render`.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (os.environ.get("LOCALAPPDATA") if os.name == "nt" else None)
    return Path(base).expanduser() / "actconf" / "numba" if base else Path.home() / ".cache" / "actconf" / "numba"


def writable_folder(folder: Path) -> Path | None:
    """``folder``, created if needed; None if it cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _is_checkout(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        return 'name = "actconf"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def find_checkout(start: str | os.PathLike | None = None) -> Path | None:
    """The actconf source checkout containing ``start`` (default: the working directory).

    Returns
    -------
    pathlib.Path or None
        The folder holding actconf's ``pyproject.toml``, or None outside a checkout.
    """
    start = Path.cwd() if start is None else Path(start).absolute()
    for folder in (start, *start.parents):
        if _is_checkout(folder):
            return folder
    return None


def project_root() -> Path:
    """The project folder: the checkout containing the working directory, else the latter."""
    return find_checkout() or Path.cwd()


def data_root() -> Path:
    """The data folder (``$ACTCONF_DATA``, else ``data/`` of :func:`project_root`), absolute.

    It need not exist; whoever writes into it creates it.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return project_root() / DATA_NAME


def data_path(*parts: str) -> Path:
    """A path inside the data folder, e.g. ``data_path("runs", "digits-mlp")``."""
    return data_root().joinpath(*parts)


def resolve_path(path: str | os.PathLike) -> Path:
    """Resolve a path the way the study notebooks mean it, wherever their kernel runs.

    Parameters
    ----------
    path : str or path-like
        An absolute path is returned as it is. A relative path that starts with
        ``data/`` (e.g. the notebooks' ``"data/runs/notebooks"``) lies in the data
        folder (:func:`data_root`, i.e. ``$ACTCONF_DATA`` when set); any other
        relative path is taken relative to the project folder (:func:`project_root`:
        the actconf checkout containing the working directory, else the working
        directory).

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
    if path.parts[0] == DATA_NAME:
        return data_path(*path.parts[1:])
    return (project_root() / path).absolute()
