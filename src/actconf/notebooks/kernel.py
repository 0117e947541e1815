"""The Jupyter kernel that headless notebook runs use: this interpreter, started quietly."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._validation import param_error
from ..errors import MissingDataError

__all__ = ["KERNEL_ARGUMENTS", "KERNEL_NAME", "ensure_kernel", "quiet_kernel_manager"]

#: Name of the kernel spec registered when no ``python3`` kernel runs this interpreter.
KERNEL_NAME = "actconf-python"

#: Extra kernel arguments of headless runs: output written by C libraries straight to the
#: process's file descriptors (TensorFlow prints its C++ start-up log there, whatever
#: ``TF_CPP_MIN_LOG_LEVEL`` says) goes to the kernel's log, not into the notebook; what
#: Python code prints is kept.
KERNEL_ARGUMENTS = ("--IPKernelApp.capture_fd_output=False",)


def _runs_this_python(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    # jupyter_client replaces these names by sys.executable when it starts the kernel
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    # compare without resolving symlinks: a venv's python links to the system one
    return os.path.abspath(exe) == os.path.abspath(sys.executable)


def _named_kernel(manager: Any, kernel_name: Any) -> str:
    from jupyter_client.kernelspec import NoSuchKernel

    if not isinstance(kernel_name, str) or not kernel_name:
        raise param_error("kernel_name", "run_notebooks()", "a kernel name (str) or None", kernel_name)
    try:
        manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        names = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise MissingDataError(
            f"There is no Jupyter kernel named {kernel_name!r} (installed: {names}). "
            "Leave kernel_name=None to use this Python interpreter."
        ) from None
    return kernel_name


def _register_kernel() -> str:
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        raise MissingDataError(
            "Running notebooks needs ipykernel in this environment: pip install 'actconf[notebooks]'."
        ) from None
    display = f"Python {sys.version_info[0]}.{sys.version_info[1]} (actconf, {sys.prefix})"
    try:
        install(kernel_name=KERNEL_NAME, display_name=display, prefix=sys.prefix)
    except OSError:  # a read-only environment: the user's Jupyter folder
        install(kernel_name=KERNEL_NAME, display_name=display, user=True)
    return KERNEL_NAME


def ensure_kernel(kernel_name: str | None = None) -> str:
    """Name of a Jupyter kernel that runs this Python interpreter (registered if needed).

    Parameters
    ----------
    kernel_name : str, optional
        Use this kernel spec; it must exist. By default the ``python3`` kernel that
        ipykernel installs into the environment is used when it starts this
        interpreter (true in a venv with ``actconf[notebooks]`` installed); otherwise
        a kernel spec ``actconf-python`` pointing at ``sys.executable`` is written
        into the environment (or the user's Jupyter folder if the environment is
        read-only) and used.

    Returns
    -------
    str
        The kernel name to give papermill.

    Raises
    ------
    MissingDataError
        ``kernel_name`` does not exist, or ipykernel is not installed.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        raise MissingDataError(
            "Running notebooks needs Jupyter: pip install 'actconf[notebooks]'."
        ) from None
    manager = KernelSpecManager()
    if kernel_name is not None:
        return _named_kernel(manager, kernel_name)
    for name in ("python3", KERNEL_NAME):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        if _runs_this_python(spec.argv):
            return name
    return _register_kernel()


def quiet_kernel_manager(log_path: Path):
    """A kernel manager class for headless runs: the kernel's stderr goes to ``log_path``.

    Kernels echo start-up messages (ipykernel's transport warning, TensorFlow's C++
    log) to the terminal of the process that started them, which would garble the
    progress bars; the log is kept to explain a kernel that dies. (Together with
    :data:`KERNEL_ARGUMENTS`, C-level writes such as TensorFlow's start-up log also
    stay out of the notebooks' outputs.)
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            log = open(log_path, "ab")  # the kernel process inherits it
            try:
                kw.setdefault("stderr", log)
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()  # the child has its own copy of the descriptor

    return QuietKernelManager


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a kernel log ("" when there is none)."""
    if path is None or not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])
