"""The replication's configuration: every seed and size, in one JSON file.

:class:`ReplicateConfig` holds the whole job (datasets, workers, the parts to run and
each part's sizes); :func:`full_config` and :func:`quick_config` are the two presets
(``actconf replicate`` and ``actconf replicate --quick``). ``to_json``/:func:`load_config`
write and read it, so a stored ``replicate.json`` reproduces every number.

Sizes that depend on the dataset (probe samples per class, training subsets) are
*per-dataset values*: a plain value, or a dict ``{dataset: value, "*": default}``
(:func:`per_dataset` resolves them).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_float, check_int, check_option, param_error

__all__ = ["PARTS", "LAYOUT_METHODS", "ReplicateConfig", "TrainingSpec", "check_dataset_name", "full_config",
           "load_config",
           "per_dataset", "quick_config"]

#: The parts of the replication, in the order of the document.
PARTS: tuple[str, ...] = ("layouts", "training", "models", "overfitting", "measures")
#: The TAM paper's methods, each without and with refinement, plus the authors' UMAP_PSO.
LAYOUT_METHODS: tuple[str, ...] = (
    "random", "random+refine", "graph", "graph+refine", "som", "som+refine", "pca", "pca+refine",
    "tsne", "tsne+refine", "umap", "umap+refine", "umap_pso",
)
BUILTIN_DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion_mnist", "cifar10")
CONFIG_VERSION = 1
_CALLER = "ReplicateConfig"


def per_dataset(value: Any, dataset: str) -> Any:
    """A per-dataset value for ``dataset``: ``value[dataset]``, else ``value["*"]``, else ``value``."""
    if isinstance(value, dict):
        return value.get(dataset, value.get("*"))
    return value


def check_dataset_name(name: Any, parameter: str) -> None:
    """Refuse a dataset name that is neither built in nor a ``.npz`` path."""
    if not (name in BUILTIN_DATASETS or str(name).endswith(".npz")):
        raise param_error(parameter, _CALLER, f"names from {', '.join(BUILTIN_DATASETS)} or .npz paths", name)


def _check_per_dataset(name: str, value: Any, *, min_value: int, allow_none: bool) -> Any:
    values = value.values() if isinstance(value, dict) else [value]
    if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
        raise param_error(name, _CALLER, "a value or a dict dataset -> value (with '*' as default)", value)
    for v in values:
        check_int(name, v, _CALLER, min_value=min_value, allow_none=allow_none)
    return dict(value) if isinstance(value, dict) else value


@dataclass
class TrainingSpec:
    """How one configuration is trained (the fields of :class:`actconf.study.StudyConfig`)."""

    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    seeds: int = 5
    epochs: int = 20
    batch_size: int = 32
    every_n_batches: int | str = "auto"
    probe_per_class: Any = 50
    mc_samples: int = 10
    max_train: Any = None

    def validate(self) -> TrainingSpec:
        check_option("model", self.model, ("mlp", "cnn"), _CALLER)
        if not self.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise param_error("hidden", _CALLER, "a non-empty list of positive ints", self.hidden)
        self.hidden = tuple(self.hidden)
        check_int("seeds", self.seeds, _CALLER, min_value=1)
        check_int("epochs", self.epochs, _CALLER, min_value=1)
        check_int("batch_size", self.batch_size, _CALLER, min_value=1)
        if self.every_n_batches != "auto":
            check_int("every_n_batches", self.every_n_batches, _CALLER, min_value=1)
        check_int("mc_samples", self.mc_samples, _CALLER, min_value=0)
        self.probe_per_class = _check_per_dataset("probe_per_class", self.probe_per_class, min_value=1,
                                                  allow_none=False)
        self.max_train = _check_per_dataset("max_train", self.max_train, min_value=10, allow_none=True)
        return self

    def study_config(self, dataset: str, seed: int, data_dir: str | None):
        """The :class:`~actconf.study.StudyConfig` of one seed on one dataset."""
        from ..study import StudyConfig

        return StudyConfig(dataset=dataset, model=self.model, hidden=tuple(self.hidden), epochs=self.epochs,
                           batch_size=self.batch_size, every_n_batches=self.every_n_batches,
                           probe_per_class=per_dataset(self.probe_per_class, dataset),
                           mc_samples=self.mc_samples, max_train=per_dataset(self.max_train, dataset),
                           seed=seed, data_dir=data_dir).validate()


@dataclass
class LayoutSpec:
    """The TAM layout comparison: methods, repeats and the two repeat regimes."""

    layer: str = "hidden_1"
    methods: tuple[str, ...] = LAYOUT_METHODS
    repeats: int = 100
    regimes: tuple[str, ...] = ("inputs", "seed")
    subsample: float = 0.5
    #: repeats per task: blocks run in parallel, and an interrupted comparison resumes after its last block
    block: int = 10

    def validate(self) -> LayoutSpec:
        from ..layout import METHODS

        if not isinstance(self.layer, str) or not self.layer:
            raise param_error("layouts.layer", _CALLER, "a layer name", self.layer)
        self.methods = tuple(self.methods)
        if not self.methods:
            raise param_error("layouts.methods", _CALLER, "a non-empty list of methods", self.methods)
        for label in self.methods:
            base, _, suffix = str(label).partition("+")
            if base not in METHODS or suffix not in ("", "refine"):
                raise param_error("layouts.methods", _CALLER, "method names, optionally with '+refine'", label)
        check_int("layouts.repeats", self.repeats, _CALLER, min_value=1)
        check_int("layouts.block", self.block, _CALLER, min_value=1)
        self.regimes = tuple(self.regimes)
        if not self.regimes:
            raise param_error("layouts.regimes", _CALLER, "'inputs' and/or 'seed'", self.regimes)
        for regime in self.regimes:
            check_option("layouts.regimes", regime, ("inputs", "seed"), _CALLER)
        check_float("layouts.subsample", self.subsample, _CALLER, min_value=0.0, max_value=1.0,
                    min_inclusive=False)
        return self


@dataclass
class OverfitSpec:
    """Long training on a small subset, with a held-out and a training probe set.

    ``datasets``: the datasets of this part (None: the configuration's ``datasets``).
    Some never overfit in 100 epochs (digits: validation loss still falls at the end),
    so a configuration may run this part on another dataset than the rest.
    """

    seeds: int = 5
    epochs: int = 100
    batch_size: int = 32
    max_train: Any = field(default_factory=lambda: {"digits": 300, "*": 500})
    probe_per_class: Any = field(default_factory=lambda: {"digits": 25, "*": 50})
    datasets: tuple[str, ...] | None = None

    def validate(self) -> OverfitSpec:
        if self.datasets is not None:
            self.datasets = tuple(self.datasets)
            if not self.datasets:
                raise param_error("overfitting.datasets", _CALLER, "None or a non-empty list of dataset names",
                                  self.datasets)
            for name in self.datasets:
                check_dataset_name(name, "overfitting.datasets")
        check_int("seeds", self.seeds, _CALLER, min_value=1)
        check_int("epochs", self.epochs, _CALLER, min_value=2)
        check_int("batch_size", self.batch_size, _CALLER, min_value=1)
        self.max_train = _check_per_dataset("max_train", self.max_train, min_value=10, allow_none=True)
        self.probe_per_class = _check_per_dataset("probe_per_class", self.probe_per_class, min_value=1,
                                                  allow_none=False)
        return self


@dataclass
class AnalysisSpec:
    """Options of the statistics and figures."""

    bins: str = "quantile:5"
    n_boot: int = 500
    alpha: float = 0.05
    map_layout: str = "umap"
    map_snapshots: int = 5
    measures: tuple[str, ...] = ("max_softmax", "margin", "entropy", "energy", "temperature", "mc_dropout")

    def validate(self) -> AnalysisSpec:
        from ..confidence import MEASURES
        from ..layout import METHODS

        if not (isinstance(self.bins, str) and self.bins.startswith("quantile")):
            raise param_error("bins", _CALLER, "equal-count groups 'quantile:K'", self.bins)
        check_int("n_boot", self.n_boot, _CALLER, min_value=50)
        check_float("alpha", self.alpha, _CALLER, min_value=0.0, max_value=0.5, min_inclusive=False)
        check_option("map_layout", self.map_layout, METHODS, _CALLER)
        check_int("map_snapshots", self.map_snapshots, _CALLER, min_value=2)
        self.measures = tuple(self.measures)
        for m in self.measures:
            check_option("measures", m, MEASURES, _CALLER)
        return self


_SPECS = {"training": TrainingSpec, "layouts": LayoutSpec, "overfitting": OverfitSpec, "analysis": AnalysisSpec}


@dataclass
class ReplicateConfig:
    """Everything that defines a replication run (stored as ``replicate.json``).

    Attributes
    ----------
    preset : str
        ``"full"`` or ``"quick"`` (informational: the preset the sizes came from).
    datasets : tuple of str
        ``digits``, ``fashion_mnist``, ``mnist``, ``cifar10`` (each found as
        :func:`actconf.load_dataset` finds it).
    data_dir : str or None
        Extra folder searched first for dataset files.
    seed : int
        First seed; configurations use ``seed, seed + 1, ...``.
    workers : int
        Processes working in parallel (trainings and layout comparisons).
    parts : tuple of str
        Which of :data:`PARTS` to run.
    training : TrainingSpec
        The workshop paper's configuration (its seed ``seed`` run is also the TAM
        comparison's trained MLP).
    models : dict
        The future-work models: name -> fields of :class:`TrainingSpec` replacing
        those of ``training`` (e.g. ``{"model": "cnn", "max_train": 6000}``).
    layouts, overfitting, analysis
        The sizes of those parts.
    """

    preset: str = "full"
    datasets: tuple[str, ...] = ("digits", "fashion_mnist")
    data_dir: str | None = None
    seed: int = 0
    workers: int = 2
    parts: tuple[str, ...] = PARTS
    training: TrainingSpec = field(default_factory=TrainingSpec)
    layouts: LayoutSpec = field(default_factory=LayoutSpec)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    overfitting: OverfitSpec = field(default_factory=OverfitSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)

    def validate(self) -> ReplicateConfig:
        """Check every field (cheap: no Keras, no data); raise ``InvalidParameterError``."""
        check_option("preset", self.preset, ("full", "quick", "custom"), _CALLER)
        self.datasets = tuple(self.datasets)
        if not self.datasets:
            raise param_error("datasets", _CALLER, "a non-empty list of dataset names", self.datasets)
        for name in self.datasets:
            check_dataset_name(name, "datasets")
        if self.data_dir is not None and not isinstance(self.data_dir, str | os.PathLike):
            raise param_error("data_dir", _CALLER, "a folder path or None", self.data_dir)
        check_int("seed", self.seed, _CALLER, min_value=0)
        check_int("workers", self.workers, _CALLER, min_value=1, max_value=64)
        self.parts = tuple(self.parts)
        for part in self.parts:
            check_option("parts", part, PARTS, _CALLER)
        self.training.validate()
        self.layouts.validate()
        self.overfitting.validate()
        self.analysis.validate()
        for name in self.models:
            self.model_spec(name)
        return self

    def overfit_datasets(self) -> tuple[str, ...]:
        """The datasets of the overfitting part (``overfitting.datasets``, else ``datasets``)."""
        return self.overfitting.datasets or self.datasets

    def all_datasets(self) -> tuple[str, ...]:
        """Every dataset any part of the configuration uses, in order of first use."""
        parts = self.datasets + (self.overfit_datasets() if "overfitting" in self.parts else ())
        return tuple(dict.fromkeys(parts))

    def model_spec(self, name: str) -> TrainingSpec:
        """The :class:`TrainingSpec` of a future-work model (``training`` with its overrides)."""
        fields = self.models.get(name)
        if not isinstance(fields, dict):
            raise param_error("models", _CALLER, "a dict name -> TrainingSpec fields", self.models)
        known = {f.name for f in dataclasses.fields(TrainingSpec)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise param_error("models", _CALLER, "TrainingSpec fields (" + ", ".join(sorted(known)) + ")",
                              unknown)
        changes = dict(fields)
        if "hidden" in changes:
            changes["hidden"] = tuple(changes["hidden"])
        return dataclasses.replace(self.training, **changes).validate()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["version"] = CONFIG_VERSION
        return json.loads(json.dumps(data))  # tuples -> lists

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicateConfig:
        """A configuration from :meth:`to_dict`'s form (unknown keys are an error)."""
        data = dict(data)
        version = data.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise param_error("version", _CALLER, f"{CONFIG_VERSION}", version)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise param_error("config", _CALLER, "a dict of ReplicateConfig fields (" + ", ".join(sorted(known))
                              + ")", unknown)
        for key, spec in _SPECS.items():
            if key in data:
                data[key] = _spec_from(spec, data[key], key)
        return cls(**data).validate()


def _spec_from(spec: type, values: Any, key: str) -> Any:
    if not isinstance(values, dict):
        raise param_error(key, _CALLER, "a dict of fields", values)
    known = {f.name for f in dataclasses.fields(spec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise param_error(key, _CALLER, f"fields of {spec.__name__} (" + ", ".join(sorted(known)) + ")", unknown)
    return spec(**{k: tuple(v) if isinstance(v, list) and k != "probe_per_class" else v
                   for k, v in values.items()})


def full_config(**changes: Any) -> ReplicateConfig:
    """The full replication (``make replicate``), sized to run in a few hours on 2 shared cores.

    R = 100 layout repeats in both regimes, as in the paper (in blocks of 10, two
    workers at a time); 5 seeds x 20 epochs per
    configuration of part 2 (10 batch snapshots in epoch 1); probes of 50 samples per
    class on digits (its test split has 52-55 per class) and 200 elsewhere (the TAM
    paper's group size). Part 3a records no MC-dropout passes; the CNN trains 10 epochs,
    on a 6,000-sample subset outside digits, with probes of 100 per class. Overfitting:
    100 epochs on 300 (digits) or 500 training samples, probes of 25 (digits) or 50
    samples per class.
    """
    config = ReplicateConfig(
        preset="full",
        training=TrainingSpec(probe_per_class={"digits": 50, "*": 200}),
        layouts=LayoutSpec(repeats=100),
        models={"mlp2": {"hidden": [128, 128], "mc_samples": 0},
                "cnn": {"model": "cnn", "epochs": 10, "mc_samples": 0, "probe_per_class": {"digits": 50, "*": 100},
                        "max_train": {"digits": None, "*": 6000}}},
    )
    return dataclasses.replace(config, **changes).validate()


def quick_config(**changes: Any) -> ReplicateConfig:
    """A few seeds, repeats and epochs on digits, every part (``--quick``; 17 min of tasks + 3 min for the document measured on 2 cores at load ≈ 12).

    Three seeds per configuration (with two, a t-test across runs has one degree of
    freedom and needs Cohen's d > 9 for p < 0.05). The layout comparison leaves out
    t-SNE and keeps UMAP, UMAP + refinement and UMAP_PSO (R = 3); the maps use a SOM
    layout. Overfitting: 100 epochs on 500 Fashion-MNIST training samples when its files
    are on this machine (digits does not overfit within 100 epochs), else on 100 digits
    samples (batch 10).
    """
    config = ReplicateConfig(
        preset="quick", datasets=("digits",), workers=2,
        training=TrainingSpec(seeds=3, epochs=3, probe_per_class=30, mc_samples=4),
        layouts=LayoutSpec(methods=("random", "random+refine", "graph", "som", "pca", "umap", "umap+refine",
                                    "umap_pso"), repeats=3),
        models={"mlp2": {"hidden": [128, 128]}, "cnn": {"model": "cnn"}},
        overfitting=_quick_overfitting(),
        analysis=AnalysisSpec(n_boot=100, map_snapshots=3, map_layout="som"),
    )
    return dataclasses.replace(config, **changes).validate()


def _quick_overfitting() -> OverfitSpec:
    """Fashion-MNIST (500 samples, batch 32) when it is found without downloading, else digits (100, batch 10)."""
    from ..datasets import dataset_available

    if dataset_available("fashion_mnist"):
        return OverfitSpec(seeds=3, epochs=100, batch_size=32, max_train=500, probe_per_class=10,
                           datasets=("fashion_mnist",))
    return OverfitSpec(seeds=3, epochs=100, batch_size=10, max_train=100, probe_per_class=10)


def load_config(path: str | os.PathLike) -> ReplicateConfig:
    """Read a ``replicate.json`` (as the command stores it)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise param_error("config", "load_config()", "a JSON file written by actconf replicate", str(path),
                          f"It is not valid JSON: {exc}.") from None
    return ReplicateConfig.from_dict(data)
