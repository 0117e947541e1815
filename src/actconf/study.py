"""The end-to-end study that ``actconf run`` and the notebooks share.

Stage 1, :func:`record`: load a dataset, draw the probe set, build the paper's model,
train it with :class:`~actconf.ActivationRecorder` attached and return the opened run.
Stage 2: save the study's layout of the mapped layer into the run
(:func:`actconf.layout.ensure_layout` with ``save=True``), then
:func:`actconf.report.build_report` (confidence and calibration, NAPs, maps,
animation, statistics and the HTML report). :func:`run_study` does both;
:func:`open_or_record` opens a run, recording it first if it is missing (what the
notebooks 02–04 do so that each also runs on its own).

:class:`StudyConfig` holds every field that defines a study; ``validate()`` checks all
of them (the layout method too) before any training starts.

Hidden state: :func:`record` (and so :func:`run_study` and :func:`open_or_record`)
calls ``keras.utils.set_random_seed(config.seed)``, which seeds Python's ``random``,
NumPy's global generator and the backend's global RNG of the whole process. Without it
two runs with the same seed differ (dropout masks and Keras' shuffling draw from the
global RNGs); code running after ``record`` in the same process sees the reseeded
globals.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_bool, check_int, check_option, param_error

__all__ = ["StudyConfig", "auto_every_n_batches", "is_study", "open_or_record", "open_study", "record",
           "record_study", "run_study", "study_targets"]

MODELS = ("mlp", "cnn")

logger = logging.getLogger(__name__)


@dataclass
class StudyConfig:
    """Everything that defines a study run (stored in the run's manifest).

    Attributes
    ----------
    dataset : str
        ``"digits"`` (default, needs no files), ``"mnist"``, ``"fashion_mnist"``,
        ``"cifar10"`` or the path of an ``.npz`` file.
    model : {"mlp", "cnn"}
        The paper's MLP (one hidden Dense layer of 128) or shallow CNN.
    hidden : tuple of int
        Hidden sizes of the MLP.
    epochs : int
        Training epochs (the paper: 20).
    batch_size : int
        The paper: 32.
    every_n_batches : int or "auto"
        Batch snapshots during the first ``batch_epochs`` epochs; ``"auto"`` takes
        about 10 per epoch.
    batch_epochs : int
        How many early epochs get batch snapshots.
    probe_per_class : int
        Probe samples per class, drawn from the test split.
    mc_samples : int
        MC-dropout passes per snapshot (for the ``mc_dropout`` confidence).
    max_train : int or None
        Subsample the training split (stratified), e.g. for quick runs.
    seed : int
        Seeds the probe draw, the subsample, the model's initial weights and training.
    seeds : int
        How many runs to train, with seeds ``seed, seed + 1, ...``: the run is the unit
        of replication, so verdicts about training need several (5 or more). With
        ``seeds > 1`` :func:`run_study` writes a *study folder* (``seed-<s>/`` runs and
        one report across them; :func:`open_study` opens them).
    data_dir : str or None
        Extra folder to look for dataset files first.
    layout : str
        Layout method for the maps, one of :data:`actconf.layout.METHODS` (see
        :func:`actconf.layout.compute_layout`).
    extra : dict
        Free-form notes stored with the configuration.
    """

    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    epochs: int = 20
    batch_size: int = 32
    every_n_batches: int | str = "auto"
    batch_epochs: int = 1
    probe_per_class: int = 50
    mc_samples: int = 10
    max_train: int | None = None
    seed: int = 0
    seeds: int = 1
    data_dir: str | None = None
    layout: str = "umap"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> StudyConfig:
        """Check every field; raise ``InvalidParameterError`` naming the bad one.

        Cheap (no Keras, no data): :func:`record` and :func:`run_study` call it before
        anything is loaded or trained.
        """
        from .layout import METHODS

        caller = "StudyConfig"
        if not isinstance(self.dataset, str | os.PathLike) or not str(self.dataset):
            raise param_error("dataset", caller, "a dataset name or an .npz path", self.dataset)
        from .datasets import resolve_dataset_name

        _, npz = resolve_dataset_name(self.dataset, caller)
        if npz is not None and not npz.expanduser().is_file():
            raise param_error("dataset", caller, "a dataset name or the path of an existing .npz file",
                              self.dataset, f"No file at {npz.expanduser()}; check the path.")
        check_option("model", self.model, MODELS, caller)
        hidden = self.hidden
        if (not isinstance(hidden, Sequence) or isinstance(hidden, str) or not hidden
                or any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1
                       for h in hidden)):
            raise param_error("hidden", caller, "a non-empty sequence of positive ints", hidden)
        check_int("epochs", self.epochs, caller, min_value=1)
        check_int("batch_size", self.batch_size, caller, min_value=1)
        if self.every_n_batches != "auto":
            check_int("every_n_batches", self.every_n_batches, caller, min_value=1)
        check_int("batch_epochs", self.batch_epochs, caller, min_value=1)
        check_int("probe_per_class", self.probe_per_class, caller, min_value=1)
        check_int("mc_samples", self.mc_samples, caller, min_value=0)
        check_int("max_train", self.max_train, caller, min_value=10, allow_none=True)
        check_int("seed", self.seed, caller, min_value=0)
        check_int("seeds", self.seeds, caller, min_value=1, max_value=1000)
        if self.data_dir is not None and (not isinstance(self.data_dir, str | os.PathLike)
                                          or not str(self.data_dir)):
            raise param_error("data_dir", caller, "a folder path or None", self.data_dir)
        check_option("layout", self.layout, METHODS, caller)
        if not isinstance(self.extra, dict):
            raise param_error("extra", caller, "a dict", self.extra)
        self.hidden = tuple(int(h) for h in hidden)
        return self

    @classmethod
    def from_fields(cls, config: StudyConfig | None = None, **fields: Any) -> StudyConfig:
        """``config`` (default: the defaults) with ``fields`` replaced, validated.

        Raises
        ------
        InvalidParameterError
            ``config`` is not a StudyConfig, a field name is unknown (the message
            lists the known ones), or a value is invalid.
        """
        caller = "StudyConfig.from_fields()"
        if config is not None and not isinstance(config, StudyConfig):
            raise param_error("config", caller, "a StudyConfig or None", type(config).__name__)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise param_error("fields", caller, "names of StudyConfig fields", unknown,
                              "Known fields: " + ", ".join(names) + ".")
        base = cls() if config is None else config
        return dataclasses.replace(base, **fields).validate()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data


def auto_every_n_batches(n_train: int, batch_size: int, per_epoch: int = 10) -> int:
    """Batch interval giving about ``per_epoch`` batch snapshots in one epoch."""
    steps = int(np.ceil(n_train / batch_size))
    return max(1, steps // per_epoch)


def record(
    config: StudyConfig,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    verbose: int | str = "auto",
):
    """Train the study's model with the recorder attached; return the opened run.

    Parameters
    ----------
    config : StudyConfig
        Validated first (before anything is loaded or trained).
    out : path-like
        Run directory to create.
    overwrite : bool, default=False
        Replace a run already at ``out``.
    verbose : int or "auto"
        Passed to ``model.fit`` (Keras' progress bar).

    Returns
    -------
    Run

    Notes
    -----
    Seeds the process's global RNGs with ``keras.utils.set_random_seed(config.seed)``
    (Python, NumPy, the Keras backend) before building the model: dropout and Keras'
    shuffling draw from them, so this is what makes the same seed give the same run.
    """
    if not isinstance(config, StudyConfig):
        raise param_error("config", "record()", "a StudyConfig", type(config).__name__)
    config.validate()
    import keras

    from .callbacks import ActivationRecorder
    from .datasets import load_dataset, make_probe
    from .models import build_cnn, build_mlp
    from .store import check_target_directory, open_run

    out = Path(out)
    check_target_directory(out, overwrite)  # fail before the (slow) training starts
    ds = load_dataset(config.dataset, data_dir=config.data_dir, max_train=config.max_train, seed=config.seed)
    probe = make_probe(ds, n_per_class=config.probe_per_class, seed=config.seed)
    keras.utils.set_random_seed(config.seed)
    if config.model == "mlp":
        model = build_mlp(ds.input_shape, ds.n_classes, hidden=config.hidden, seed=config.seed)
    else:
        model = build_cnn(ds.input_shape, ds.n_classes, seed=config.seed)
    every = config.every_n_batches
    if every == "auto":
        every = auto_every_n_batches(len(ds.x_train), config.batch_size)
    # Several batches per call into the backend (the same batches in the same order, so the
    # same weights: tested), as many as between two batch snapshots, so that each one lands.
    model.steps_per_execution = every
    recorder = ActivationRecorder(
        out, probe, every_n_batches=every, batch_epochs=config.batch_epochs,
        mc_samples=config.mc_samples, overwrite=overwrite,
        dataset=ds.describe(), config={"study": config.to_dict(), "every_n_batches": every},
    )
    model.fit(
        ds.x_train, ds.y_train, validation_data=(ds.x_test, ds.y_test), epochs=config.epochs,
        batch_size=config.batch_size, callbacks=[recorder], verbose=verbose,
    )
    return open_run(out)


def open_or_record(
    path: str | os.PathLike,
    config: StudyConfig | None = None,
    *,
    verbose: int | str = 0,
    **fields: Any,
):
    """Open the run at ``path``; if there is none yet, record the study into it first.

    Notebooks 02–04 read the run notebook 01 wrote; with this, each of them also runs
    on its own. The configuration matters only when a run must be recorded: an
    existing run is opened as it is, whatever ``config`` and ``fields`` say.

    Parameters
    ----------
    path : path-like
        The run directory (relative to the working directory; the notebooks pass
        :func:`actconf.notebooks.resolve_path` of their ``run_dir``).
    config : StudyConfig, optional
        The study to record (default: ``StudyConfig()``).
    verbose : int or "auto", default=0
        Keras' progress output while recording.
    **fields
        :class:`StudyConfig` fields replacing those of ``config``, e.g.
        ``epochs=5, probe_per_class=20``.

    Returns
    -------
    Run

    Raises
    ------
    InvalidParameterError
        An unknown field or an invalid value (checked even when the run exists).

    Notes
    -----
    Recording seeds the global RNGs (see :func:`record`). A recording is announced
    with a ``logging`` INFO message of the ``actconf.study`` logger.
    """
    from .store import is_run, open_run

    if not isinstance(path, str | os.PathLike) or not str(path):
        raise param_error("path", "open_or_record()", "a path (str or os.PathLike)", path)
    config = StudyConfig.from_fields(config, **fields)
    if is_run(path):
        return open_run(path)
    logger.info("No run at %s yet: recording it (%s, %s, %d epochs).", path, config.dataset,
                config.model, config.epochs)
    return record(config, path, verbose=verbose)


SEED_FOLDER = "seed-{seed}"


def is_study(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a study folder: no run itself, but ``seed-<s>/`` runs inside."""
    from .store import is_run

    path = Path(path)
    return path.is_dir() and not is_run(path) and any(is_run(p) for p in path.glob("seed-*"))


def open_study(path: str | os.PathLike) -> list[Any]:
    """The runs of a study folder (``seed-<s>/``, in seed order), or ``[run]`` for a run directory.

    Raises :class:`~actconf.errors.NotARunError` (from :func:`actconf.open_run`) when
    ``path`` is neither.
    """
    from .store import is_run, open_run

    path = Path(path)
    if not is_study(path):
        return [open_run(path)]

    def seed_of(p: Path) -> int:
        tail = p.name.split("-", 1)[1]
        return int(tail) if tail.isdigit() else -1

    return [open_run(p) for p in sorted((p for p in path.glob("seed-*") if is_run(p)), key=seed_of)]


def _study_targets(config: StudyConfig, out: Path, overwrite: bool) -> list[Path]:
    """The run folders of a study (checked before anything is trained)."""
    from .store import check_target_directory

    if config.seeds == 1:
        check_target_directory(out, overwrite)
        return [out]
    if out.exists() and not out.is_dir():
        raise param_error("out", "run_study()", "a folder for the study", str(out), "It is a file.")
    if out.is_dir() and any(out.iterdir()) and not is_study(out):
        from .errors import RunExistsError

        raise RunExistsError(f"{str(out)!r} is not empty and not a study folder; choose a new folder for the "
                             f"{config.seeds} runs.")
    targets = [out / SEED_FOLDER.format(seed=config.seed + k) for k in range(config.seeds)]
    for target in targets:
        check_target_directory(target, overwrite)
    return targets


def study_targets(config: StudyConfig, out: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """The run folder(s) :func:`record_study` writes, checked (nothing is written).

    ``[out]`` for one seed; ``out/seed-<s>`` for each seed otherwise. Raises
    ``RunExistsError`` when a folder holds a run (without ``overwrite``) or unrelated
    files.
    """
    config.validate()
    return _study_targets(config, Path(out), overwrite)


def record_study(config: StudyConfig, out: str | os.PathLike, *, overwrite: bool = False,
                 verbose: int | str = "auto") -> list[Any]:
    """Record every seed of ``config`` (:func:`record` each); return the runs in seed order."""
    targets = study_targets(config, out, overwrite)
    return [record(dataclasses.replace(config, seed=config.seed + k, seeds=1), target, overwrite=overwrite,
                   verbose=verbose) for k, target in enumerate(targets)]


def run_study(
    config: StudyConfig,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    verbose: int | str = "auto",
    report: bool = True,
    progress: bool = True,
):
    """Record a run (:func:`record`), save its layout, write its report.

    Everything is checked before training starts (the whole ``config``, ``out``,
    ``report`` and ``progress``). After recording, the layout of the mapped layer
    (the first recorded one) is computed with ``config.layout`` and ``config.seed``
    and saved into the run as ``"default"``
    (:func:`actconf.layout.ensure_layout` with ``save=True``); the report then draws
    every map with it.

    With ``config.seeds > 1``, ``out`` becomes a study folder: one run per seed in
    ``out/seed-<s>/`` (each recorded with its own seed), the layout saved in the first,
    and ``out/report/report.html`` whose findings test the claim across all runs
    (:func:`actconf.report.build_report` with ``replicates``).

    Returns
    -------
    tuple
        ``(run, report_path)`` — the (first) run; :func:`open_study` opens all of
        them. ``report_path`` is None with ``report=False`` (then no layout is
        computed either).

    Notes
    -----
    Seeds the global RNGs (see :func:`record`).
    """
    caller = "run_study()"
    if not isinstance(config, StudyConfig):
        raise param_error("config", caller, "a StudyConfig", type(config).__name__)
    config.validate()
    report = check_bool("report", report, caller)
    progress = check_bool("progress", progress, caller)
    from .report.build import load_analysis_code, warm_helper

    # With two cores, a second process imports the report's and UMAP's code while training
    # runs, then computes the layout and part of the report (see report/_worker.py).
    with warm_helper(report) as helper:
        start = time.perf_counter()
        runs = record_study(config, out, overwrite=overwrite, verbose=verbose)
        run, path = runs[0], None
        logger.debug("stage %s took %.2f s", "train + record", time.perf_counter() - start)
        if report:
            from .layout import ensure_layout
            from .report import build_report

            start = time.perf_counter()
            layer = run.check_layer(None)
            helped = helper is not None and helper.layout(run, layer, method=config.layout, seed=config.seed,
                                                          meanwhile=load_analysis_code)
            if not helped:
                ensure_layout(run, layer, method=config.layout, seed=config.seed, save=True)
            logger.debug("stage %s took %.2f s", "layout (second process)" if helped else "layout",
                         time.perf_counter() - start)
            start = time.perf_counter()
            path = build_report(run, layer=layer, method=config.layout, seed=config.seed, progress=progress,
                                replicates=runs[1:], out=Path(out) / "report" if config.seeds > 1 else None)
            logger.debug("stage %s took %.2f s", "report", time.perf_counter() - start)
    return run, path
