"""``actconf replicate``: the two papers reproduced and their future work done, as one document.

:func:`replicate` runs a :class:`ReplicateConfig` (:func:`full_config` for
``make replicate``, :func:`quick_config` for ``--quick``) into an output folder and
writes ``replication.md`` with its figures:

1. the TAM paper's layout comparison (both quality measures, R repeats in both regimes);
2. the workshop paper's activity–confidence statements across seeds, against the
   untrained baseline, raw and scale-controlled, with maps on one fixed layout;
3. its future work: (a) the 2-layer MLP and the CNN, (b) overfitting with a held-out
   and a training probe set, (c) the other confidence measures;
4. a plain-words summary built from the numbers.

Modules: ``config`` (the configuration, JSON), ``plan`` (tasks and output folders),
``jobs`` (what workers run), ``pool`` (parallel, resumable execution with an ETA),
``probes`` (named probe sets of one training), ``layouts``, ``claims``,
``overfitting``, ``findings`` (the sections), ``markdown`` (the writer), ``runner``
(:func:`replicate`).
"""

from __future__ import annotations

from .config import PARTS, ReplicateConfig, full_config, load_config, quick_config
from .pool import ReplicationError
from .runner import Replication, replicate

__all__ = ["PARTS", "ReplicateConfig", "Replication", "ReplicationError", "full_config", "load_config",
           "quick_config", "replicate"]
