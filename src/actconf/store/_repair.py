"""``repair_run``: rewrite a clean commit log from its intact prefix, keeping a backup.

What repair changes, and nothing else:

- ``snapshots.jsonl``: replaced by its intact prefix (every line up to the first
  damaged one; an unfinished last line is dropped too). The old log is kept as
  ``snapshots.jsonl.<time>.bak`` next to it.
- stale ``*.partial`` files (half-written temporary files of a killed writer, never
  part of the run) are deleted.

Chunk files are never touched: committed snapshots whose chunks are missing are
listed in the report (they stay unreadable, with a clear error).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import NamedTuple

from ..errors import CorruptRunError, NotARunError, StorageError
from ._chunks import stale_partials
from ._format import SNAPSHOTS, run_state, scan_log, write_file
from ._writer import locked_error, log_is_locked


class RepairReport(NamedTuple):
    """What :func:`repair_run` found and did."""

    path: Path
    kept: int
    """Snapshots in the clean log."""
    dropped_lines: int
    """Lines of the old log left out (a damaged line and everything after it, or an unfinished last line)."""
    backup: Path | None
    """The old log, kept (None when the log needed no change)."""
    removed: list[Path]
    """Stale temporary files deleted."""
    missing_chunks: list[str]
    """``"<array> snapshot <i>"`` for committed snapshots with missing chunk files (not repairable)."""
    problem: dict | None
    """Where the old log was damaged (see ``Run.damage``), or None."""

    def summary(self) -> str:
        """A few lines for people (``actconf repair`` prints them)."""
        lines = [f"run {self.path}: {self.kept} intact snapshot(s)"]
        if self.backup is not None:
            what = (f"damaged at line {self.problem['line']} ({self.problem['reason']})" if self.problem
                    else "an unfinished last line")
            lines.append(f"  commit log rewritten: {what}; dropped {self.dropped_lines} line(s); "
                         f"old log kept as {self.backup.name}")
        else:
            lines.append("  commit log: intact, unchanged")
        if self.removed:
            lines.append(f"  removed {len(self.removed)} stale temporary file(s) (*.partial)")
        if self.missing_chunks:
            shown = ", ".join(self.missing_chunks[:5]) + (" ..." if len(self.missing_chunks) > 5 else "")
            lines.append(f"  NOT repairable: {len(self.missing_chunks)} committed chunk(s) missing ({shown}); "
                         "those snapshots cannot be read")
        return "\n".join(lines)


def repair_run(path: str | os.PathLike) -> RepairReport:
    """Rewrite the commit log of the run at ``path`` from its intact prefix, keeping a backup.

    Parameters
    ----------
    path : path-like
        A run directory (it must have its manifest).

    Returns
    -------
    RepairReport
        What was kept, dropped, backed up and removed, and which committed chunks
        are missing.

    Raises
    ------
    NotARunError
        ``path`` holds no run.
    RunExistsError
        A writer is recording into the run right now.
    StorageError
        The new log or the backup could not be written (the old log is then unchanged).
    """
    from ._reader import Run

    path = Path(path)
    if run_state(path) != "run":
        raise NotARunError(
            f"{str(path)!r} is not an actconf run (no manifest.json); there is nothing to repair. An "
            "unfinished run without a manifest holds no snapshot: record it again with overwrite=True."
        )
    if log_is_locked(path):
        raise locked_error(path)
    log = path / SNAPSHOTS
    try:
        data = log.read_bytes() if log.is_file() else b""
    except OSError as exc:
        raise StorageError(f"Cannot read the commit log of run {str(path)!r}: {exc}. Nothing was changed.",
                           path=log, cause=exc) from exc
    scan = scan_log(data)
    backup = None
    dropped = 0
    if scan.problem is not None or scan.tail or not log.is_file():
        dropped = scan.problem["skipped_lines"] if scan.problem else int(scan.tail > 0)
        backup = log.with_name(f"{SNAPSHOTS}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        try:
            if log.is_file():
                shutil.copy2(log, backup)
            else:
                backup = None
            write_file(log, data[:scan.good_bytes], fsync=True)
        except OSError as exc:
            raise StorageError(
                f"Cannot repair run {str(path)!r}: {exc}. The commit log was left as it was.",
                path=getattr(exc, "filename", None) or log, committed=len(scan.rows), cause=exc) from exc
    removed = []
    for stale in stale_partials(path):
        try:
            stale.unlink()
            removed.append(stale)
        except OSError:
            continue
    return RepairReport(path, len(scan.rows), dropped, backup, removed, _missing_chunks(Run(path)), scan.problem)


def _missing_chunks(run) -> list[str]:
    """Committed snapshots of ``run`` whose chunk files are missing, as ``"<array> snapshot <i>"``."""
    from ._reader import _SnapshotArray

    found = []
    n = run.n_snapshots
    if n == 0:
        return found
    for name in run.manifest.get("arrays", {}):
        try:
            view = _SnapshotArray(run, name, n)
        except CorruptRunError:
            found.append(f"{name} (metadata)")
            continue
        for i in range(n):
            try:
                view.check_chunks(i)
            except CorruptRunError:
                found.append(f"{name} snapshot {i}")
    return found
