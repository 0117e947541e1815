"""The study notebooks as files: which there are, where they are, copies for the user.

The notebooks ship inside the package (``actconf/study_notebooks/*.ipynb``, package
data of the wheel); in the source repository ``notebooks/`` is a symbolic link to that
folder, so there is one copy of each, and editable installs, wheels and
``PYTHONPATH=src`` all find the same files. :func:`copy_notebooks` gives a user
copies of their own to edit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .._validation import check_bool, param_error
from ..errors import MissingDataError

__all__ = ["NOTEBOOKS", "copy_notebooks", "find_notebooks_dir", "is_packaged"]

#: The study notebooks, in the order they must run.
NOTEBOOKS: tuple[str, ...] = (
    "01_train_and_record",
    "02_confidence_over_training",
    "03_topographic_layouts",
    "04_activity_vs_confidence",
    "05_bring_your_own_model",
)

#: Folder of the notebooks inside the installed package.
PACKAGE_FOLDER = "study_notebooks"


def _package_folder() -> Path:
    return Path(__file__).resolve().parents[1] / PACKAGE_FOLDER


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether ``path`` is one of the notebooks shipped in the package (not a user's copy)."""
    return Path(path).resolve().parent == _package_folder()


def find_notebooks_dir() -> Path:
    """The folder holding the study notebooks (inside the installed package).

    Returns
    -------
    pathlib.Path
        ``<site-packages>/actconf/study_notebooks`` (``src/actconf/study_notebooks``
        in the repository, which ``notebooks/`` links to).

    Raises
    ------
    MissingDataError
        The folder lacks the notebooks (an installation without its package data).
    """
    folder = _package_folder()
    missing = [name for name in NOTEBOOKS if not (folder / f"{name}.ipynb").is_file()]
    if missing:
        raise MissingDataError(
            f"The study notebooks are missing from {str(folder)!r} (not found: "
            + ", ".join(missing) + "). This installation of actconf lacks its package data: "
            "reinstall it (pip install --force-reinstall actconf)."
        )
    return folder


def copy_notebooks(out: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Copy the five study notebooks into a folder of yours, to open and edit.

    Nothing is written when any of them exists already and ``overwrite`` is False.
    Opened from that folder, the copies keep their runs and datasets in ``data/`` of
    it (or in ``$ACTCONF_DATA``; see :mod:`actconf._paths`).

    Parameters
    ----------
    out : path-like
        The folder; created if needed.
    overwrite : bool, default=False
        Replace notebooks of the same names already in ``out``.

    Returns
    -------
    list of pathlib.Path
        The copies, in study order.

    Raises
    ------
    InvalidParameterError
        ``out`` is a file, or already holds one of the notebooks (without ``overwrite``).
    """
    caller = "copy_notebooks()"
    if not isinstance(out, str | os.PathLike) or not str(out):
        raise param_error("out", caller, "a folder path (str or os.PathLike)", out)
    overwrite = check_bool("overwrite", overwrite, caller)
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise param_error("out", caller, "a folder (it is a file)", str(out))
    source = find_notebooks_dir()
    targets = [out / f"{name}.ipynb" for name in NOTEBOOKS]
    existing = [t.name for t in targets if t.exists()]
    if existing and not overwrite:
        raise param_error("out", caller, "a folder without the study notebooks", str(out),
                          f"It already holds {', '.join(existing)}; pass overwrite=True "
                          "(actconf notebooks --copy DIR --overwrite) to replace them.")
    out.mkdir(parents=True, exist_ok=True)
    for target in targets:
        shutil.copyfile(source / target.name, target)
    return targets
