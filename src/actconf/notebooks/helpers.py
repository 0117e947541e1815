"""Small conveniences the study notebooks call so that they stay thin.

:func:`show_animation` shows a GIF inline (also in HTML exports). :func:`study_run` is
the deprecated name of :func:`actconf.study.open_or_record`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from .._paths import resolve_path
from .._validation import param_error
from ..errors import MissingDataError

__all__ = ["show_animation", "study_run"]

DEFAULT_RUN_DIR = "data/runs/notebooks"


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


def study_run(run_dir: str | os.PathLike = DEFAULT_RUN_DIR, *, verbose: int | str = 0, **fields: Any):
    """Deprecated: use ``actconf.study.open_or_record(resolve_path(run_dir), **fields)``.

    Opens the run at :func:`~actconf.notebooks.resolve_path` of ``run_dir``, recording
    it first when it is missing; ``fields`` are :class:`actconf.study.StudyConfig`
    fields (used only to record a missing run).
    """
    from ..study import open_or_record

    warnings.warn("actconf.notebooks.study_run() is deprecated; use "
                  "actconf.study.open_or_record(resolve_path(run_dir), **fields).",
                  DeprecationWarning, stacklevel=2)
    return open_or_record(resolve_path(run_dir), verbose=verbose, **fields)
