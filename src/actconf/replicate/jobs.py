"""The work the replication hands to its worker processes: trainings and layout comparisons.

Every job is a top-level function of plain arguments (picklable for a process pool)
that writes its result to disk and returns nothing: :func:`train_seed` (one seed of a
configuration, :func:`actconf.study.record`), :func:`train_overfit` (a long training
recording a held-out and a training probe set, :mod:`.probes`) and
:func:`compare_job` (:func:`actconf.layout.compare_layouts` of a block of repeats of
one dataset and repeat regime, written as CSV; :func:`join_tables` joins the blocks). :func:`worker_setup` limits each worker's threads so that
parallel workers do not oversubscribe the cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._process import die_with_parent

__all__ = ["compare_job", "join_tables", "train_overfit", "train_seed", "worker_setup"]

_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                     "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker_setup(threads: int) -> None:
    """Run first in every worker process: quiet TensorFlow, ``threads`` threads per library, end with the parent."""
    die_with_parent()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import warnings

    warnings.filterwarnings("ignore")


def _clear_keras() -> None:
    import keras

    keras.backend.clear_session()


def train_seed(spec: dict[str, Any], dataset: str, seed: int, data_dir: str | None, out: str) -> None:
    """Record one seed of a configuration into ``out`` (replacing an unfinished run there)."""
    from ..study import record
    from .config import TrainingSpec

    training = TrainingSpec(**{**spec, "hidden": tuple(spec["hidden"])}).validate()
    record(training.study_config(dataset, seed, data_dir), out, overwrite=True, verbose=0)
    _clear_keras()


def train_overfit(spec: dict[str, Any], dataset: str, seed: int, data_dir: str | None, out: str) -> None:
    """Train the paper's MLP for many epochs on a small subset; record the test and the training probe.

    The training subset has ``max_train`` samples (stratified, drawn with ``seed``); the
    ``"train"`` probe is ``probe_per_class`` samples per class of that subset, the
    ``"test"`` probe as many of the test split. Validation loss is computed on the whole
    test split after every epoch.
    """
    import keras

    from ..datasets import load_dataset, make_probe
    from ..models import build_mlp
    from .config import OverfitSpec, per_dataset
    from .probes import probe_recorders

    overfit = OverfitSpec(**spec).validate()
    n_per_class = per_dataset(overfit.probe_per_class, dataset)
    ds = load_dataset(dataset, data_dir=data_dir, max_train=per_dataset(overfit.max_train, dataset), seed=seed)
    probes = {"test": make_probe(ds, n_per_class=n_per_class, seed=seed),
              "train": make_probe(ds, n_per_class=n_per_class, seed=seed, split="train")}
    keras.utils.set_random_seed(seed)
    model = build_mlp(ds.input_shape, ds.n_classes, seed=seed)
    config = {"replicate": "overfitting", "seed": seed, "epochs": overfit.epochs, "n_train": int(len(ds.y_train))}
    callbacks = probe_recorders(out, probes, overwrite=True, dataset=ds.describe(), config=config)
    model.fit(ds.x_train, ds.y_train, validation_data=(ds.x_test, ds.y_test), epochs=overfit.epochs,
              batch_size=overfit.batch_size, callbacks=callbacks, verbose=0)
    _clear_keras()


def compare_job(run: str, layer: str, methods: list[str], repeats: int, regime: str, subsample: float,
                seed: int, out: str, first_repeat: int = 0) -> None:
    """Compare layout methods on one run's layer (both quality measures) and write the frame as CSV.

    Computes repeats ``first_repeat .. first_repeat + repeats - 1`` (a block of the
    comparison; :func:`join_tables` joins the blocks). The frame's ``attrs`` go to a
    ``.json`` file beside the CSV. UMAP's one-off compilation is paid first, so that it
    does not count as the first repeat's layout time.
    """
    from ..layout import compare_layouts, warm_up
    from ..store import open_run

    if any(str(m).startswith("umap") for m in methods):
        warm_up()
    frame = compare_layouts(open_run(run), methods=list(methods), repeats=repeats, first_repeat=first_repeat,
                            redraw=regime, subsample=subsample, layer=layer, seed=seed, progress=False,
                            quality="both")
    _write_table(frame, Path(out), dict(frame.attrs))


def join_tables(parts: list[str], out: str) -> None:
    """Join the block tables of one comparison (in order) into ``out``; their attrs must agree."""
    import pandas as pd

    from ..errors import InvalidInputError

    frames, attrs = [], None
    for part in map(Path, parts):
        frames.append(pd.read_csv(part))
        meta = json.loads(part.with_suffix(".json").read_text(encoding="utf-8"))
        if attrs is not None and meta != attrs:
            raise InvalidInputError(f"the layout tables {parts[0]} and {part} were computed with different settings "
                                 f"({attrs} and {meta}); delete the folder {part.parent} to recompute them.")
        attrs = meta
    _write_table(pd.concat(frames, ignore_index=True), Path(out), attrs or {})


def _write_table(frame: Any, out: Path, attrs: dict[str, Any]) -> None:
    """Write ``frame`` as CSV (atomically) and ``attrs`` as JSON beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, out)
    out.with_suffix(".json").write_text(json.dumps(attrs, indent=1), encoding="utf-8")
