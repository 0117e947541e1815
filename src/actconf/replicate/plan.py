"""What the replication computes, as a list of tasks with dependencies and cost estimates.

:class:`Paths` names every folder of a replication's output (runs, layout tables,
task markers); :func:`plan` turns a :class:`~.config.ReplicateConfig` into the
:class:`Task` list the pool (:mod:`.pool`) works through: one training per
configuration, dataset and seed, one overfitting training per dataset and seed, and
one layout comparison per dataset and repeat regime (after the trained MLP of the
first seed exists), computed in blocks of ``layouts.block`` repeats that are then
joined into one table. The estimates (seconds on one core of the machine the full run
was measured on) only drive the order of work and the ETA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jobs
from .config import ReplicateConfig, TrainingSpec, per_dataset

__all__ = ["Paths", "Task", "layout_blocks", "plan"]

#: training samples of the built-in datasets (for the estimates only)
_N_TRAIN = {"digits": 1257, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
_N_TEST = {"digits": 540, "mnist": 10000, "fashion_mnist": 10000, "cifar10": 10000}
#: seconds per training sample and epoch (MLP, CNN on 28 x 28; measured)
_PER_SAMPLE = {"mlp": 2.5e-4, "cnn": 3.3e-3}
_PER_LAYOUT = 1.7  # seconds per layout scored with both measures (13 methods, 128 neurons)


@dataclass(frozen=True)
class Paths:
    """The folders of one replication output folder ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "replicate.json"

    @property
    def timing(self) -> Path:
        return self.root / "timing.json"

    def study(self, part: str, dataset: str, label: str) -> Path:
        """A configuration's study folder (``seed-<s>/`` runs inside)."""
        return self.root / "runs" / part / f"{_stem(dataset)}-{label}"

    def seed_run(self, part: str, dataset: str, label: str, seed: int) -> Path:
        from ..study import SEED_FOLDER

        return self.study(part, dataset, label) / SEED_FOLDER.format(seed=seed)

    def overfit(self, dataset: str, seed: int) -> Path:
        from ..study import SEED_FOLDER

        return self.root / "runs" / "overfitting" / _stem(dataset) / SEED_FOLDER.format(seed=seed)

    def comparison(self, dataset: str, regime: str) -> Path:
        return self.root / "tables" / f"layouts-{_stem(dataset)}-{regime}.csv"

    def comparison_block(self, dataset: str, regime: str, first: int, count: int) -> Path:
        """The table of repeats ``first .. first + count - 1`` of one comparison."""
        folder = self.comparison(dataset, regime).with_suffix("")
        return folder / f"repeats-{first:03d}-{first + count - 1:03d}.csv"

    def marker(self, task: str) -> Path:
        return self.root / "done" / (task.replace("/", "__") + ".json")


def _stem(dataset: str) -> str:
    return Path(dataset).stem if str(dataset).endswith(".npz") else str(dataset)


@dataclass
class Task:
    """One unit of work: ``fn(**kwargs)`` in a worker, after the tasks named in ``deps``."""

    name: str
    part: str
    fn: Any
    kwargs: dict[str, Any]
    cost: float
    deps: tuple[str, ...] = field(default=())


def _training_cost(spec: TrainingSpec, dataset: str) -> float:
    n = per_dataset(spec.max_train, dataset) or _N_TRAIN.get(dataset, 10000)
    n = min(n, _N_TRAIN.get(dataset, n))
    per = _PER_SAMPLE[spec.model] * (0.05 if dataset == "digits" else 1.0)
    probe = 10 * (per_dataset(spec.probe_per_class, dataset) or 50) * (1 + spec.mc_samples)
    snapshots = spec.epochs + 11
    return 10.0 + spec.epochs * (n + _N_TEST.get(dataset, 10000) / 3) * per + snapshots * probe * per / 3


def _train_tasks(config: ReplicateConfig, paths: Paths, part: str, label: str, spec: TrainingSpec,
                 dataset: str) -> list[Task]:
    kwargs = dataclasses.asdict(spec)
    kwargs["hidden"] = list(spec.hidden)
    return [Task(f"train/{part}/{_stem(dataset)}-{label}/seed-{s}", part, jobs.train_seed,
                 {"spec": kwargs, "dataset": dataset, "seed": s, "data_dir": config.data_dir,
                  "out": str(paths.seed_run(part, dataset, label, s))}, _training_cost(spec, dataset))
            for s in range(config.seed, config.seed + spec.seeds)]


def _overfit_tasks(config: ReplicateConfig, paths: Paths, dataset: str) -> list[Task]:
    spec = config.overfitting
    kwargs = dataclasses.asdict(spec)
    kwargs.pop("datasets")  # which datasets run is the plan's business, not the training's
    n = per_dataset(spec.max_train, dataset) or _N_TRAIN.get(dataset, 10000)
    cost = 10.0 + spec.epochs * (n + _N_TEST.get(dataset, 10000) / 3) * _PER_SAMPLE["mlp"] * 1.5
    return [Task(f"overfit/{_stem(dataset)}/seed-{s}", "overfitting", jobs.train_overfit,
                 {"spec": kwargs, "dataset": dataset, "seed": s, "data_dir": config.data_dir,
                  "out": str(paths.overfit(dataset, s))}, cost)
            for s in range(config.seed, config.seed + spec.seeds)]


def layout_blocks(repeats: int, block: int) -> list[tuple[int, int]]:
    """``(first repeat, count)`` of each block of a comparison of ``repeats`` repeats."""
    return [(first, min(block, repeats - first)) for first in range(0, repeats, block)]


def _layout_tasks(config: ReplicateConfig, paths: Paths, dataset: str, source: str) -> list[Task]:
    spec = config.layouts
    run = paths.seed_run("training", dataset, config.training.model, config.seed)
    tasks = []
    for regime in spec.regimes:
        name = f"layouts/{_stem(dataset)}-{regime}"
        blocks = []
        for first, count in layout_blocks(spec.repeats, spec.block):
            out = paths.comparison_block(dataset, regime, first, count)
            blocks.append(Task(f"{name}/{out.stem}", "layouts", jobs.compare_job,
                               {"run": str(run), "layer": spec.layer, "methods": list(spec.methods),
                                "repeats": count, "first_repeat": first, "regime": regime,
                                "subsample": spec.subsample, "seed": config.seed, "out": str(out)},
                               15.0 + _PER_LAYOUT * len(spec.methods) * count, (source,)))
        tasks += blocks
        tasks.append(Task(name, "layouts", jobs.join_tables,
                          {"parts": [t.kwargs["out"] for t in blocks], "out": str(paths.comparison(dataset, regime))},
                          1.0, tuple(t.name for t in blocks)))
    return tasks


def plan(config: ReplicateConfig, paths: Paths) -> list[Task]:
    """Every task of ``config``'s parts (a training the layouts need is added even without "training")."""
    tasks: list[Task] = []
    wanted = set(config.parts)
    for dataset in config.datasets:
        main = _train_tasks(config, paths, "training", config.training.model, config.training, dataset)
        if wanted & {"training", "measures"}:
            tasks += main
        if "layouts" in wanted:
            if not wanted & {"training", "measures"}:
                tasks.append(main[0])
            tasks += _layout_tasks(config, paths, dataset, main[0].name)
        if "models" in wanted:
            for label in config.models:
                tasks += _train_tasks(config, paths, "models", label, config.model_spec(label), dataset)
    if "overfitting" in wanted:
        for dataset in config.overfit_datasets():
            tasks += _overfit_tasks(config, paths, dataset)
    return tasks
