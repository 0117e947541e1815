"""Progress bars that leave nothing broken behind in saved notebooks.

A finished ``tqdm.notebook`` bar stays in the notebook as a widget; reopened
without its kernel it reads "Error displaying widget: model not found". The bar
of :func:`progress_bar` is shown through a display handle instead and, when the
work ends, is replaced by one line of plain text (and its widgets closed), so the
saved notebook holds text, not a widget. Outside a notebook it is a plain tqdm bar
on stderr.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where widgets can be shown)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _NotebookBar:
    """An ``IntProgress`` with a label in a display handle; replaced by text when closed."""

    def __init__(self, total: int, desc: str) -> None:
        import ipywidgets
        from IPython.display import display

        self.total, self.desc, self.n, self.t0 = max(1, int(total)), desc, 0, time.perf_counter()
        self.bar = ipywidgets.IntProgress(value=0, min=0, max=self.total, layout=ipywidgets.Layout(width="240px"))
        self.label = ipywidgets.Label(desc)
        self.box = ipywidgets.HBox([self.label, self.bar])
        self.handle = display(self.box, display_id=True)

    def update(self, n: int = 1) -> None:
        self.n = min(self.total, self.n + n)
        self.bar.value = self.n

    def set_description(self, text: str) -> None:
        self.label.value = f"{self.desc}: {text}" if text else self.desc

    def close(self, ok: bool) -> None:
        state = f"done in {time.perf_counter() - self.t0:.1f} s" if ok else f"stopped at {self.n}/{self.total}"
        if self.handle is not None:
            self.handle.update({"text/plain": f"{self.desc}: {state}"}, raw=True)
        self.box.close()
        self.bar.close()
        self.label.close()


class _TextBar:
    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        from tqdm import tqdm

        self.desc = desc
        self.bar = tqdm(total=total, desc=desc, disable=not enabled, leave=False)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_description(self, text: str) -> None:
        self.bar.set_description_str(f"{self.desc}: {text}" if text else self.desc)

    def close(self, ok: bool) -> None:
        self.bar.close()


@contextlib.contextmanager
def progress_bar(total: int, desc: str, *, enabled: bool = True) -> Iterator[Any]:
    """A progress bar over ``total`` steps: ``bar.update(n)``, ``bar.set_description(text)``.

    In a notebook it becomes one line of text when the block ends; disabled, it
    shows nothing.
    """
    bar: Any = _NotebookBar(total, desc) if enabled and in_notebook() else _TextBar(total, desc, enabled)
    ok = False
    try:
        yield bar
        ok = True
    finally:
        bar.close(ok)
