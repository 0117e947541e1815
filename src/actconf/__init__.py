"""actconf: look inside neural networks while they train.

Record hidden-layer activity and confidence on a fixed probe set during
``model.fit`` (:class:`ActivationRecorder`), open the run (:func:`open_run`), lay
each layer's neurons out in 2-D, draw topographic activation maps per group of
inputs, and quantify how activity and confidence relate over training.

Heavy dependencies (Keras, UMAP, matplotlib) load on first use, so ``import actconf``
is quick; every public name below is importable from the top level.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import *  # noqa: F403  (every error class is public at the top level)
from .errors import __all__ as _errors_all

__version__ = "0.1.0"

# public name -> submodule that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "ActivationRecorder": "callbacks",
    "open_run": "store",
    "Run": "store",
    "RunWriter": "store",
    "load_dataset": "datasets",
    "make_probe": "datasets",
    "Dataset": "datasets",
    "Probe": "datasets",
    "dataset_search_paths": "datasets",
    "build_mlp": "models",
    "build_cnn": "models",
    "write_synthetic_run": "testing",
    "TopoRenderer": "render",
    "Layout": "layout",
    "compute_layout": "layout",
    "layout_from_run": "layout",
    "load_layout": "layout",
    "list_layouts": "layout",
    "layout_quality": "layout",
    "compare_layouts": "layout",
    "ensure_layout": "layout",
    "animate_maps": "animate",
    "explore": "widgets",
    "explore_correlation": "widgets",
    "MapStyle": "plots",
}

_SUBMODULES = {
    "analysis", "animate", "callbacks", "cli", "confidence", "datasets", "layout", "models",
    "naps", "notebooks", "plots", "render", "report", "store", "study", "testing", "widgets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'actconf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    *_errors_all,
    "__version__",
    *_LAZY,
]
