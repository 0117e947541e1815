"""Named probe sets of one training: record several probes in one ``fit``, open them by name.

The overfitting part watches a held-out probe (``"test"``) and a probe of *training*
samples (``"train"``) in the same training. The recorder does not have named probe
sets yet, so each probe set gets its own :class:`~actconf.ActivationRecorder` (two
callbacks in one ``fit``) and its own run folder, ``<folder>/probe-<name>/``, side by
side. Everything else in :mod:`actconf.replicate` only sees the two functions here —
:func:`probe_recorders` and :func:`open_probe_sets` (name -> Run) — so that switching to
the recorder's ``probes={"test": ..., "train": ...}`` (one run folder) changes only
them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PROBE_FOLDER", "open_probe_sets", "probe_recorders"]

PROBE_FOLDER = "probe-{name}"


def probe_recorders(folder: str | os.PathLike, probes: Mapping[str, Any], *, overwrite: bool = False,
                    **options: Any) -> list[Any]:
    """The callbacks that record every probe set of ``probes`` during one ``fit``.

    Parameters
    ----------
    folder : path-like
        The training's folder; probe set ``name`` is recorded into
        ``folder/probe-<name>/``.
    probes : mapping name -> Probe
        E.g. ``{"test": make_probe(ds), "train": make_probe(ds, split="train")}``.
    overwrite : bool, default=False
    **options
        :class:`~actconf.ActivationRecorder` options shared by all probe sets
        (``every_n_batches``, ``mc_samples``, ``config``, ...); each run's manifest
        gets ``config["probe_set"] = name``.

    Returns
    -------
    list of ActivationRecorder
        Pass them all to ``model.fit(callbacks=...)``.
    """
    from ..callbacks import ActivationRecorder

    folder = Path(folder)
    config = dict(options.pop("config", None) or {})
    return [ActivationRecorder(folder / PROBE_FOLDER.format(name=name), probe, overwrite=overwrite,
                               config={**config, "probe_set": name}, **options)
            for name, probe in probes.items()]


def open_probe_sets(folder: str | os.PathLike, names: tuple[str, ...] = ("test", "train")) -> dict[str, Any]:
    """The runs of a training's probe sets, by name (as :func:`probe_recorders` wrote them)."""
    from ..store import open_run

    folder = Path(folder)
    return {name: open_run(folder / PROBE_FOLDER.format(name=name)) for name in names}

