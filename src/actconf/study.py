"""The end-to-end study that ``actconf run`` and the notebooks share.

Stage 1, :func:`record`: load a dataset, draw the probe set, build the paper's model,
train it with :class:`~actconf.ActivationRecorder` attached and return the opened run.
Stage 2, :func:`actconf.report.build_report`: confidence and calibration, NAPs, the
layout (saved into the run), maps, animation, statistics and the HTML report.
:func:`run_study` does both.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_int, check_option, param_error

__all__ = ["StudyConfig", "auto_every_n_batches", "record", "run_study"]

MODELS = ("mlp", "cnn")


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
    data_dir : str or None
        Extra folder to look for dataset files first.
    layout : str
        Layout method for the maps (see :func:`actconf.layout.compute_layout`).
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
    data_dir: str | None = None
    layout: str = "umap"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> StudyConfig:
        """Check every field; raise ``InvalidParameterError`` naming the bad one."""
        caller = "StudyConfig"
        if not isinstance(self.dataset, str | os.PathLike) or not str(self.dataset):
            raise param_error("dataset", caller, "a dataset name or an .npz path", self.dataset)
        check_option("model", self.model, MODELS, caller)
        check_int("epochs", self.epochs, caller, min_value=1)
        check_int("batch_size", self.batch_size, caller, min_value=1)
        if self.every_n_batches != "auto":
            check_int("every_n_batches", self.every_n_batches, caller, min_value=1)
        check_int("batch_epochs", self.batch_epochs, caller, min_value=1)
        check_int("probe_per_class", self.probe_per_class, caller, min_value=1)
        check_int("mc_samples", self.mc_samples, caller, min_value=0)
        check_int("max_train", self.max_train, caller, min_value=10, allow_none=True)
        check_int("seed", self.seed, caller, min_value=0)
        self.hidden = tuple(self.hidden)
        return self

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
    out : path-like
        Run directory to create.
    overwrite : bool, default=False
        Replace a run already at ``out``.
    verbose : int or "auto"
        Passed to ``model.fit`` (Keras' progress bar).

    Returns
    -------
    Run
    """
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


def run_study(
    config: StudyConfig,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    verbose: int | str = "auto",
    report: bool = True,
    progress: bool = True,
):
    """Record a run (:func:`record`), then write its report; return ``(run, report_path)``.

    ``report_path`` is None with ``report=False``.
    """
    run = record(config, out, overwrite=overwrite, verbose=verbose)
    path = None
    if report:
        from .report import build_report

        path = build_report(run, method=config.layout, seed=config.seed, progress=progress)
    return run, path
