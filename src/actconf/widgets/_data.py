"""What the explorer keeps of a run between settings: confidence, predictions, activations.

A new setting (layer, grouping, measure) needs the same few arrays again: the
confidence of a measure, the predicted classes, a layer's activations. :class:`RunData`
computes or reads each once per run length, so a setting change reads nothing from
the store. A layer's activations are kept only while they fit in
:data:`ACTIVATION_BUDGET` (all layers together; the least recently used is dropped);
over it they are read block by block for every setting, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

#: Bytes of activations (all layers together) the explorer keeps in memory.
ACTIVATION_BUDGET = 256 << 20


class RunData:
    """Per-run arrays of the explorer, computed once per run length (a live run grows)."""

    def __init__(self, run: Any, budget: int = ACTIVATION_BUDGET) -> None:
        self.run = run
        self.budget = int(budget)
        self._lock = threading.RLock()
        self._activity_lock = threading.Lock()  # the correlation worker's: the maps never wait for it
        self._n = -1
        self._conf: dict[str, Any] = {}
        self._acts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._activity: dict[str, Any] = {}
        self._pred: np.ndarray | None = None

    def _current(self) -> None:
        if self._n != self.run.n_snapshots:
            self._n = self.run.n_snapshots
            self._conf.clear()
            self._acts.clear()
            self._activity.clear()
            self._pred = None

    def confidence(self, measure: str) -> Any:
        """:func:`actconf.confidence.confidence` of ``measure`` at every snapshot."""
        from ..confidence import confidence

        with self._lock:
            self._current()
            if measure not in self._conf:
                self._conf[measure] = confidence(self.run, measure=measure)
            return self._conf[measure]

    def predictions(self) -> np.ndarray:
        """The argmax class of the recorded probabilities, (S, n)."""
        with self._lock:
            self._current()
            if self._pred is None:
                self._pred = self.run.read("outputs/probabilities").argmax(axis=-1)
            return self._pred

    def activations(self, layer: str) -> np.ndarray | None:
        """A layer's activations (S, n, N) as stored, or None when they do not fit in the budget."""
        with self._lock:
            self._current()
            if layer in self._acts:
                self._acts.move_to_end(layer)
                return self._acts[layer]
            name = self.run.layer_info(layer)["array"]
            shape, _, dtype = self.run.chunking(name)
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            if nbytes > self.budget:
                return None
            while self._acts and sum(a.nbytes for a in self._acts.values()) + nbytes > self.budget:
                self._acts.popitem(last=False)
            self._acts[layer] = self.run.read(name)
            return self._acts[layer]

    def activity(self, layer: str) -> Any:
        """:func:`actconf.analysis.sample_activity` of ``layer`` (it does not depend on the measure)."""
        from ..analysis import sample_activity

        with self._activity_lock:
            with self._lock:
                self._current()
            if layer not in self._activity:
                self._activity[layer] = sample_activity(self.run, layer=layer)
            return self._activity[layer]
