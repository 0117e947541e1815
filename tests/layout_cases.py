"""Data shared by the layout tests (tests/test_layout_*.py): planted profiles, a small run."""

from __future__ import annotations

import numpy as np

from actconf.testing import write_synthetic_run


def planted_profiles(n_per=12, n_clusters=4, n_features=10, noise=0.25, seed=0):
    """Profiles around ``n_clusters`` random directions; returns (profiles, cluster labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, n_features))
    labels = np.repeat(np.arange(n_clusters), n_per)
    x = centres[labels] + noise * rng.normal(size=(len(labels), n_features))
    return x, labels


def write_layout_run(path):
    """24 neurons, 10 classes x 8 samples, 3 snapshots; neurons 0..19 prefer one of 5 classes, 20..23 dead.

    Layers ``"dense"`` (24 neurons) and ``"other"`` (its first 6). Returns
    ``(run, activations, labels)``.
    """
    rng = np.random.default_rng(0)
    n_cls, per, n_neu = 10, 8, 24
    labels = np.repeat(np.arange(n_cls), per)
    pref = np.concatenate([np.arange(20) % 5, [-1] * 4])
    acts = np.zeros((3, len(labels), n_neu), dtype=np.float32)
    for s in range(3):
        base = 0.2 * rng.random((len(labels), n_neu))
        boost = (labels[:, None] == pref[None, :]) * (1.0 + s)
        acts[s] = base + boost
    acts[:, :, 20:] = 0.0
    logits = rng.normal(size=(3, len(labels), n_cls))
    run = write_synthetic_run(path, activations={"dense": acts, "other": acts[:, :, :6]}, labels=labels,
                              logits=logits)
    return run, acts, labels
