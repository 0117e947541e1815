"""Named probe sets of one training: record several probes in one ``fit``, open them by name.

The overfitting part watches a held-out probe (``"test"``) and a probe of *training*
samples (``"train"``) in the same training: one :class:`~actconf.ActivationRecorder`
with ``probes={"test": ..., "train": ...}`` records both into one run folder,
``<folder>/run/``, every snapshot holding both; ``open_run(path, probe=name)`` opens
one of them. Everything else in :mod:`actconf.replicate` only sees the two functions
here — :func:`probe_recorders` and :func:`open_probe_sets` (name -> Run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PROBE_FOLDER", "open_probe_sets", "probe_recorders"]

#: the run folder (holding every probe set) inside a training's folder
PROBE_FOLDER = "run"


def probe_recorders(folder: str | os.PathLike, probes: Mapping[str, Any], *, overwrite: bool = False,
                    **options: Any) -> list[Any]:
    """The callback that records every probe set of ``probes`` during one ``fit``.

    Parameters
    ----------
    folder : path-like
        The training's folder; the run (all probe sets) goes to ``folder/run/``.
    probes : mapping name -> Probe
        E.g. ``{"test": make_probe(ds), "train": make_probe(ds, split="train")}``;
        the first is the one ``open_run(path)`` shows.
    overwrite : bool, default=False
    **options
        Further :class:`~actconf.ActivationRecorder` options (``every_n_batches``,
        ``mc_samples``, ``config``, ...).

    Returns
    -------
    list of ActivationRecorder
        One recorder; pass the list to ``model.fit(callbacks=...)``.
    """
    from ..callbacks import ActivationRecorder

    return [ActivationRecorder(Path(folder) / PROBE_FOLDER, probes=dict(probes), overwrite=overwrite, **options)]


def open_probe_sets(folder: str | os.PathLike, names: tuple[str, ...] = ("test", "train")) -> dict[str, Any]:
    """The probe sets of a training's run, by name (as :func:`probe_recorders` recorded them)."""
    from ..store import open_run

    path = Path(folder) / PROBE_FOLDER
    return {name: open_run(path, probe=name) for name in names}
