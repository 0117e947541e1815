"""Helper processes and threads actconf starts by itself: how many cores it may use, ending them with their parent."""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent", "usable_cores"]


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def die_with_parent(parent: int | None = None) -> None:
    """Linux: ask the kernel to send this process SIGTERM when its parent process dies.

    Without it, killing the parent (``kill PID``) leaves its helper processes running
    their work to the end, burning the cores of the next job. With ``parent`` (the
    pid the helper was started by), a parent that died before the request was made
    ends the helper at once.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
