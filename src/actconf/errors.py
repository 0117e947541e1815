"""Exceptions raised by actconf.

Every error actconf raises on purpose derives from :class:`ActconfError`, so that
``except actconf.ActconfError`` catches them all. Where a built-in category fits,
the class also derives from it (``ValueError``, ``FileExistsError``, ...), so code
that already catches those keeps working.

This module has no dependencies; it is one of the three files to copy when using
the recorder without installing actconf (see ``callbacks.py``).
"""

from __future__ import annotations

import os


class ActconfError(Exception):
    """Base class of all actconf errors."""


class InvalidParameterError(ActconfError, ValueError):
    """A parameter has a wrong type or value."""


class InvalidInputError(ActconfError, ValueError):
    """Input data (arrays, files) do not have the expected form."""


class ModelNotSupportedError(ActconfError, TypeError):
    """The model cannot be recorded as given (e.g. a subclassed model without a graph)."""


class DatasetNotAvailableError(ActconfError, FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


class RunExistsError(ActconfError, FileExistsError):
    """A run directory already holds a run and overwriting was not allowed."""


class NotARunError(ActconfError, FileNotFoundError):
    """A path does not hold an actconf run."""


class RunFormatError(ActconfError):
    """A run was written in a format this version of actconf cannot read."""


class CorruptRunError(ActconfError):
    """Part of a run on disk is damaged; the message names the array and snapshot."""


class MissingDataError(ActconfError, LookupError):
    """Something needed was not recorded in this run (e.g. logits, MC-dropout passes)."""


class RunMismatchError(ActconfError, ValueError):
    """A run on disk does not match what was to be appended to it (``resume=True``).

    The message names what differs: the probe set, the recorded layers, the model's
    architecture or an array's shape or type.
    """


class StorageError(ActconfError, OSError):
    """Writing (or reading) a run failed in the operating system: disk full, read-only, ...

    The message names the path, the cause and which snapshots are safely committed.

    Attributes
    ----------
    path : str or None
        The file or folder that could not be written.
    committed : int or None
        Number of snapshots committed (complete, readable) in the run when it failed.
    errno : int or None
        The operating system's error number (e.g. ``errno.ENOSPC``), as on ``OSError``.
    """

    def __init__(self, message: str, *, path: os.PathLike | str | None = None,
                 committed: int | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.committed = committed
        self.errno = getattr(cause, "errno", None)


class ActconfWarning(UserWarning):
    """Base class of the warnings actconf issues."""


class DamagedRunWarning(ActconfWarning):
    """A run was opened with part of it skipped (e.g. a damaged line in its commit log)."""


class RecordingWarning(ActconfWarning):
    """Recording stopped or skipped something while training went on (``on_error="warn"``)."""


class NotebookError(ActconfError, RuntimeError):
    """A notebook failed while :func:`actconf.notebooks.run_notebooks` executed it.

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
                 path: os.PathLike | None = None) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.path = path


__all__ = [
    "ActconfError",
    "ActconfWarning",
    "CorruptRunError",
    "DamagedRunWarning",
    "DatasetNotAvailableError",
    "InvalidInputError",
    "InvalidParameterError",
    "MissingDataError",
    "ModelNotSupportedError",
    "NotARunError",
    "NotebookError",
    "RecordingWarning",
    "RunExistsError",
    "RunFormatError",
    "RunMismatchError",
    "StorageError",
]
