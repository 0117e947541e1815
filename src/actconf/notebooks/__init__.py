"""The study notebooks: the files, running them headless, and the helpers they share.

The five notebooks ship inside the package (``actconf/study_notebooks/``; in the
repository ``notebooks/`` links there) and tell the study in order:

=======================================  =================================================
notebook                                 what it does
=======================================  =================================================
``01_train_and_record.ipynb``            train the paper's MLP with the recorder, write the run
``02_confidence_over_training.ipynb``    confidence measures and calibration over training
``03_topographic_layouts.ipynb``         NAPs, layouts and their quality, TAMs; saves the layout
``04_activity_vs_confidence.ipynb``      maps per confidence bin, explorer, statistics, animation
``05_bring_your_own_model.ipynb``        a user's own CNN, recorder from three copied files
=======================================  =================================================

Modules: :mod:`~actconf.notebooks.library` (:data:`NOTEBOOKS`,
:func:`find_notebooks_dir`, :func:`copy_notebooks`: editable copies for the user),
:mod:`~actconf.notebooks.runner` (:func:`run_notebooks`: papermill, one run
directory, executed copies and HTML kept in the run), :mod:`~actconf.notebooks.kernel`
(:func:`ensure_kernel`) and :mod:`~actconf.notebooks.helpers` (:func:`show_animation`;
:func:`study_run`, deprecated for :func:`actconf.study.open_or_record`).

Re-exported for the notebooks: :func:`resolve_path` (``"data/..."`` means actconf's data
folder, wherever the kernel runs; see :mod:`actconf._paths`) and, from where they
live, :func:`~actconf.confidence.available_measures`,
:func:`~actconf.plots.pick_snapshots`, :func:`~actconf.plots.plot_training`;
:class:`~actconf.errors.NotebookError` lives in :mod:`actconf.errors`.
"""

from __future__ import annotations

from .._paths import resolve_path
from ..confidence import available_measures
from ..errors import NotebookError
from ..plots import pick_snapshots, plot_training
from .helpers import show_animation, study_run
from .kernel import KERNEL_NAME as KERNEL_NAME  # the kernel spec ensure_kernel may register
from .kernel import ensure_kernel
from .library import NOTEBOOKS, copy_notebooks, find_notebooks_dir
from .runner import run_notebooks

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "copy_notebooks",
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
