"""``replicate()``: compute everything a configuration asks for, then write the document.

1. Check the configuration and the output folder (a folder holding another
   configuration's results is never mixed with this one), store ``replicate.json``.
2. Make sure every dataset loads (before hours of work start).
3. Work through the tasks (:mod:`.plan`, :mod:`.pool`; resumable).
4. Write the document: one section per part, the plain-words summary, the runtimes
   and how to reproduce; the figures go into the folder named after the document
   (``docs/replication.md`` -> ``docs/replication/``), with a copy of the configuration.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunExistsError
from .config import ReplicateConfig
from .context import Context
from .markdown import Figures, Section, bullets, table, write_document
from .plan import Paths, plan
from .pool import format_seconds, run_tasks

__all__ = ["Replication", "replicate"]


@dataclass
class Replication:
    """What :func:`replicate` made: the document, the output folder and the shared context."""

    doc: Path
    paths: Paths
    context: Context
    seconds: dict[str, float]


def _prepare(config: ReplicateConfig, paths: Paths, overwrite: bool) -> None:
    """Create ``out`` (replacing a replication there with ``overwrite``); store the configuration."""
    root = paths.root
    if root.exists() and not root.is_dir():
        raise RunExistsError(f"{str(root)!r} is a file; choose a folder for --out.")
    if root.is_dir() and any(root.iterdir()):
        if not paths.config.is_file():
            raise RunExistsError(f"{str(root)!r} is not empty and holds no replicate.json; choose a new --out "
                                 "folder.")
        if overwrite:
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(config.to_json(), encoding="utf-8")


def _check_datasets(config: ReplicateConfig) -> None:
    from ..datasets import load_dataset

    for name in config.all_datasets():
        if name != "digits":
            load_dataset(name, data_dir=config.data_dir)


def union_seconds(sessions: list[dict[str, Any]]) -> float:
    """Wall-clock time covered by the sessions (sessions of parallel invocations overlap: counted once)."""
    spans, total = [], 0.0
    for s in sessions:
        start = s.get("started")
        if start is None and "finished" in s:  # older entries: minute-precision end time
            try:
                start = time.mktime(time.strptime(s["finished"], "%Y-%m-%d %H:%M")) - s["wall_seconds"]
            except ValueError:
                start = None
        if start is None:
            total += s["wall_seconds"]
        else:
            spans.append((start, start + s["wall_seconds"]))
    spans.sort()
    end = -np.inf
    for a, b in spans:
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return float(total)


def _timing(paths: Paths, seconds: dict[str, float], started: float, wall: float,
            tasks: list[Any]) -> dict[str, Any]:
    old = json.loads(paths.timing.read_text(encoding="utf-8")) if paths.timing.is_file() else {}
    sessions = [*old.get("sessions", []), {"wall_seconds": wall, "started": started,
                                           "finished": time.strftime("%Y-%m-%d %H:%M")}]
    parts: dict[str, float] = {}
    for task in tasks:
        parts[task.part] = parts.get(task.part, 0.0) + seconds.get(task.name, 0.0)
    data = {"sessions": sessions, "compute_wall_seconds": union_seconds(sessions),
            "task_seconds": seconds, "part_seconds": parts, "cpu_count": os.cpu_count()}
    paths.timing.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return data


def replicate(config: ReplicateConfig, out: str | os.PathLike, *, doc: str | os.PathLike | None = None,
              overwrite: bool = False, say: Callable[[str], None] = print) -> Replication:
    """Run the replication ``config`` describes into ``out`` and write its markdown document.

    Parameters
    ----------
    config : ReplicateConfig
        E.g. :func:`~actconf.replicate.full_config` or :func:`~actconf.replicate.quick_config`.
    out : path-like
        Folder for the runs, tables, task markers, ``replicate.json`` and ``timing.json``.
        Calling again resumes: tasks finished with the same arguments are kept, tasks
        whose configuration changed are redone.
    doc : path-like, optional
        The document to write (default ``out/replication.md``); figures go into the
        folder of the same name without ``.md``.
    overwrite : bool, default=False
        Delete an earlier replication in ``out`` first (everything is recomputed).
    say : callable, default=print
        Receives the progress lines.

    Returns
    -------
    Replication
    """
    config = config.validate()
    paths = Paths(Path(out))
    _prepare(config, paths, overwrite)
    say("actconf replicate: configuration (stored in " + str(paths.config) + ")")
    say(config.to_json().rstrip())
    _check_datasets(config)
    tasks = plan(config, paths)
    start, started = time.perf_counter(), time.time()
    seconds = run_tasks(tasks, paths, workers=config.workers, say=say)
    timing = _timing(paths, seconds, started, time.perf_counter() - start, tasks)
    doc = Path(doc) if doc is not None else paths.root / "replication.md"
    say(f"actconf replicate: computing statistics and figures for {doc}")
    start = time.perf_counter()
    ctx = build_document(config, paths, doc, timing, say)
    say(f"actconf replicate: wrote {doc} ({format_seconds(time.perf_counter() - start)} for the document)")
    return Replication(doc=doc, paths=paths, context=ctx, seconds=seconds)


def _figure_folder(doc: Path) -> Path:
    folder = doc.with_suffix("")
    if folder.is_dir():
        for old in folder.glob("*.png"):
            old.unlink()
    return folder


def build_document(config: ReplicateConfig, paths: Paths, doc: Path, timing: dict[str, Any],
                   say: Callable[[str], None] = print) -> Context:
    """Write the document from the finished tasks' results; return the context (its claims table)."""
    from .claims import measures_section, models_section, training_section
    from .findings import all_claims, findings_section, overview_section
    from .layouts import layout_section
    from .overfitting import overfitting_section

    folder = _figure_folder(doc)
    ctx = Context(config=config, paths=paths, figures=Figures(folder, doc), say=say)
    builders = {"layouts": layout_section, "training": training_section, "models": models_section,
                "overfitting": overfitting_section, "measures": measures_section}
    sections = []
    for part, builder in builders.items():
        if part in config.parts:
            say(f"actconf replicate: section {part}")
            start = time.perf_counter()
            sections.append(builder(ctx))
            timing.setdefault("document_seconds", {})[part] = time.perf_counter() - start
    sections.insert(0, findings_section(ctx))
    sections.insert(0, overview_section(ctx))
    if ctx.claims:
        (paths.root / "tables").mkdir(parents=True, exist_ok=True)
        all_claims(ctx).to_csv(paths.root / "tables" / "claims.csv", index=False)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.config, folder / "config.json")
    sections.append(_runtime_section(config, timing, doc, folder, paths))
    write_document("Replicating Krug, Olson & Stober with actconf", _intro(config, doc, folder), sections, doc)
    return ctx


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for name in ("actconf", "keras", "tensorflow-cpu", "tensorflow", "umap-learn", "numpy"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def _intro(config: ReplicateConfig, doc: Path, folder: Path) -> str:
    rel = os.path.relpath(folder / "config.json", doc.parent).replace(os.sep, "/")
    data = ", ".join(config.datasets)
    if "overfitting" in config.parts and config.overfit_datasets() != config.datasets:
        data += "; overfitting part: " + ", ".join(config.overfit_datasets())
    return (
        f"Generated by `actconf replicate` (preset *{config.preset}*, datasets: {data}) on "
        f"{time.strftime('%Y-%m-%d')}; every seed and size is in [{Path(rel).name}]({rel}). "
        "It reproduces (1) the layout comparison of *Visualizing Deep Neural Networks with Topographic Activation "
        "Maps* (Krug, Olson & Stober, HHAI 2023) with both the authors' quality measure and actconf's, and (2) the "
        "activity–confidence study of *Relation of Activity and Confidence When Training Deep Neural Networks* "
        "(ECML-PKDD 2023 workshop) across seeds with baselines and a scale control, and (3) does the latter's "
        "future work: more complex models, overfitting, other confidence measures. Regenerate it with "
        f"`make replicate`, or `actconf replicate --config {rel} --out DIR --doc FILE` (the same numbers; "
        "`--quick` for a version of about 20 minutes). MNIST and CIFAR-10 run the same way (`--dataset mnist cifar10`) "
        "where their files are available.\n\nWhat differs from the papers:\n\n" + bullets(_deviations(config)))


def _deviations(config: ReplicateConfig) -> list[str]:
    """How this configuration differs from what the papers did (from the configuration's values)."""
    from .config import per_dataset

    lay, train, over = config.layouts, config.training, config.overfitting
    lines = [f"Datasets: {', '.join(config.datasets)} (the workshop paper used MNIST; the TAM paper MNIST, "
             "Fashion-MNIST and CIFAR-10)."]
    if lay.repeats < 100:
        why = "the quick preset" if config.preset == "quick" else "to fit the run on the machine's 2 shared cores"
        lines.append(f"Layout comparison: R = {lay.repeats} repeats per regime (the paper: 100; {why}).")
    probes = ", ".join(f"{d} {per_dataset(train.probe_per_class, d)}" for d in config.datasets)
    lines.append(f"Probe samples per class: {probes} (the TAM paper: 200 per group); the layout profiles come from "
                 f"them, re-drawn with {lay.subsample:.0%} of them per repeat.")
    every = ("about 10 times" if train.every_n_batches == "auto" else f"every {train.every_n_batches} batches")
    lines.append(f"Epoch 1 is recorded {every} (the paper: after every batch), then every epoch.")
    for name in config.models:
        spec = config.model_spec(name)
        subset = ", ".join(f"{d} {per_dataset(spec.max_train, d)}" for d in config.datasets
                           if per_dataset(spec.max_train, d))
        lines.append(f"`{name}`: {spec.seeds} seeds × {spec.epochs} epochs" + (f", training subsets {subset}"
                     if subset else "") + f", MC-dropout passes {spec.mc_samples}.")
    lines.append(f"Overfitting: {over.epochs} epochs on training subsets of "
                 + ", ".join(f"{d} {per_dataset(over.max_train, d)}" for d in config.overfit_datasets()) + " samples"
                 + ("" if config.overfitting.datasets is None else " (a dataset of its own: digits does not overfit "
                    "within 100 epochs)") + ".")
    return lines


def full_estimate(config: ReplicateConfig, paths: Paths, timing: dict[str, Any]) -> str:
    """A sentence: the full preset's expected wall time, its cost estimates scaled by this run's actual/estimated."""
    from .config import full_config

    seconds = timing.get("task_seconds", {})
    mine = [t for t in plan(config, paths) if t.name in seconds]
    if config.preset == "full" or not mine:
        return ""
    scale = sum(seconds[t.name] for t in mine) / sum(t.cost for t in mine)
    full = full_config()
    work = sum(t.cost for t in plan(full, Paths(paths.root / "full"))) * scale
    return (f" The full preset (`make replicate`) was not run here: its tasks' cost estimates, scaled by this run's "
            f"measured/estimated ratio ({scale:.1f}×), give about {format_seconds(work)} of worker time, i.e. "
            f"{format_seconds(work / full.workers)} wall-clock with {full.workers} workers on a machine as busy as "
            "this one was.")


def _runtime_section(config: ReplicateConfig, timing: dict[str, Any], doc: Path, folder: Path,
                     paths: Paths) -> Section:
    rows = [[part, format_seconds(sec)] for part, sec in timing.get("part_seconds", {}).items()]
    doc_seconds = sum(timing.get("document_seconds", {}).values())
    sessions = timing.get("sessions", [])
    return Section("Runtime and reproduction").add(
        f"Measured on this run: {format_seconds(timing['compute_wall_seconds'])} wall-clock for the trainings and "
        f"layout comparisons ({len(sessions)} session(s)), {format_seconds(doc_seconds)} for the statistics, figures "
        f"and this document; {timing.get('cpu_count')} CPU cores, {config.workers} worker process(es), "
        f"{_versions()}.{full_estimate(config, paths, timing)} Work per part (sum over its tasks, in worker time):",
        table(rows, ["part", "worker time"]),
        "Every number is reproducible from the stored configuration: the seeds of the runs (each run's seed draws "
        "its probe set, training subset, initial weights, dropout and shuffling), the layout seeds `seed + r` of "
        "repeat r, and the bootstrap seeds of the statistics. Thread scheduling can change the last digits of "
        "trained weights between machines; verdicts are computed from the stored runs.")
