"""Working through the replication's tasks: in parallel, resumable, with progress and an ETA.

:func:`run_tasks` runs every :class:`~.plan.Task` whose dependencies are done, the
longest chain of work first (a task's cost plus what waits for it), in ``workers`` processes (``workers=1``: in this process). A
finished task leaves a marker file (its seconds); a second call skips marked tasks, so
an interrupted replication resumes where it stopped. After every task one line is
printed: tasks done, elapsed time, and the ETA from the tasks' cost estimates scaled
by how long the finished ones really took.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from ..errors import ActconfError
from .plan import Paths, Task

__all__ = ["ReplicationError", "format_seconds", "run_tasks"]


class ReplicationError(ActconfError):
    """A task of the replication failed (the message names it and its error)."""


def format_seconds(seconds: float) -> str:
    """``"1 h 05 min"``, ``"3 min 20 s"`` or ``"12 s"``."""
    seconds = max(0.0, float(seconds))
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.0f} s"


class _Inline:
    """An executor that runs each task at once, in this process (``workers=1``)."""

    def submit(self, fn: Callable, /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller like a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, cancel_futures: bool = False) -> None:
        pass


def _executor(workers: int) -> Any:
    if workers == 1:
        return _Inline()
    import multiprocessing

    from .jobs import worker_setup

    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_setup, initargs=(threads,))


class _Progress:
    """Counts, elapsed time and the ETA line."""

    def __init__(self, tasks: list[Task], workers: int, say: Callable[[str], None]):
        self.total, self.workers, self.say = len(tasks), workers, say
        self.start = time.perf_counter()
        self.done = 0
        self.estimated_done = self.actual_done = 0.0
        self.remaining = sum(t.cost for t in tasks)

    def finished(self, task: Task, seconds: float) -> None:
        self.done += 1
        self.estimated_done += task.cost
        self.actual_done += seconds
        self.remaining -= task.cost
        scale = self.actual_done / self.estimated_done if self.estimated_done > 0 else 1.0
        eta = self.remaining * scale / self.workers
        self.say(f"[{self.done}/{self.total}] {task.name}: {format_seconds(seconds)} | elapsed "
                 f"{format_seconds(time.perf_counter() - self.start)}, ETA {format_seconds(eta)}")


def _normal(kwargs: dict[str, Any]) -> Any:
    return json.loads(json.dumps(kwargs, sort_keys=True))


def _marked(paths: Paths, task: Task) -> float | None:
    """The seconds of an earlier run of ``task`` with the same arguments, or None."""
    path = paths.marker(task.name)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return float(data["seconds"]) if data.get("kwargs") == _normal(task.kwargs) else None
    except (ValueError, KeyError, TypeError):
        return None


def done_before(tasks: list[Task], paths: Paths) -> dict[str, float]:
    """Tasks finished earlier with the same arguments, whose dependencies were not redone since."""
    done: dict[str, float] = {}
    for task in tasks:  # dependencies come first in a plan
        seconds = _marked(paths, task)
        if seconds is not None and all(d in done for d in task.deps):
            done[task.name] = seconds
    return done


def _timed(fn: Callable, kwargs: dict[str, Any]) -> float:
    start = time.perf_counter()
    fn(**kwargs)
    return time.perf_counter() - start


def run_tasks(tasks: list[Task], paths: Paths, *, workers: int = 1,
              say: Callable[[str], None] = print) -> dict[str, float]:
    """Run ``tasks`` (skipping those done before); return every task's seconds by name.

    Raises
    ------
    ReplicationError
        When tasks failed (the others still ran); the message lists the failures.
    """
    seconds = done_before(tasks, paths)
    pending = [t for t in tasks if t.name not in seconds]
    if seconds:
        say(f"actconf replicate: {len(seconds)} task(s) done before, {len(pending)} to do")
    progress = _Progress(pending, workers, say)
    priority = _priorities(tasks)
    failed: dict[str, str] = {}
    running: dict[Future, Task] = {}
    pool = _executor(min(workers, max(1, len(pending))))
    try:
        while pending or running:
            for task in _ready(pending, seconds, failed, workers - len(running), priority):
                pending.remove(task)
                running[pool.submit(_timed, task.fn, task.kwargs)] = task
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                _collect(future, task, paths, seconds, failed, progress)
    finally:
        pool.shutdown(cancel_futures=True)
    blocked = [t.name for t in pending]
    if failed or blocked:
        lines = [f"{name}: {error}" for name, error in failed.items()]
        lines += [f"{name}: not run (a task it needs failed)" for name in blocked]
        raise ReplicationError("replicate: tasks failed:\n  " + "\n  ".join(lines))
    return seconds


def _priorities(tasks: list[Task]) -> dict[str, float]:
    """A task's cost plus the costs of everything waiting for it (longest chain first)."""
    below: dict[str, float] = {t.name: 0.0 for t in tasks}
    for task in reversed(tasks):  # dependents come after their dependencies
        for dep in task.deps:
            if dep in below:
                below[dep] = max(below[dep], task.cost + below[task.name])
    return {t.name: t.cost + below[t.name] for t in tasks}


def _ready(pending: list[Task], done: dict[str, float], failed: dict[str, str], slots: int,
           priority: dict[str, float]) -> list[Task]:
    """Up to ``slots`` pending tasks whose dependencies are done, longest chain first."""
    ready = [t for t in pending if all(d in done for d in t.deps) and not any(d in failed for d in t.deps)]
    return sorted(ready, key=lambda t: -priority[t.name])[:max(0, slots)]


def _collect(future: Future, task: Task, paths: Paths, seconds: dict[str, float], failed: dict[str, str],
             progress: _Progress) -> None:
    error = future.exception()
    if error is not None:
        failed[task.name] = f"{type(error).__name__}: {error}"
        progress.say(f"actconf replicate: {task.name} failed: {type(error).__name__}: {error}")
        return
    seconds[task.name] = float(future.result())
    marker = paths.marker(task.name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"task": task.name, "part": task.part, "seconds": seconds[task.name],
                                  "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "kwargs": _normal(task.kwargs)}),
                      encoding="utf-8")
    progress.finished(task, seconds[task.name])
