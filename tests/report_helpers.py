"""Shared by the report tests: a small synthetic run and a hash of a folder's files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from actconf.testing import write_synthetic_run

N_SNAPSHOTS, N_SAMPLES, N_CLASSES = 5, 60, 3
LAYERS = {"hidden_1": 12, "hidden_2": 8}


def synthetic_arrays(seed: int = 0, mc: bool = True) -> dict:
    """Activations that grow with training and differ by class; logits that learn the labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N_SAMPLES) % N_CLASSES
    activations = {}
    for name, width in LAYERS.items():
        base = rng.random((N_CLASSES, width))
        act = np.stack([base[labels] * (1 + s) + rng.normal(0, 0.5, (N_SAMPLES, width))
                        for s in range(N_SNAPSHOTS)])
        activations[name] = np.maximum(act, 0.0)
    logits = rng.normal(0, 1, (N_SNAPSHOTS, N_SAMPLES, N_CLASSES))
    logits[:, np.arange(N_SAMPLES), labels] += np.arange(N_SNAPSHOTS)[:, None]
    out = {"activations": activations, "labels": labels, "logits": logits,
           "logs": [{"loss": 2.0 / (s + 1), "accuracy": s / N_SNAPSHOTS, "val_loss": 2.1 / (s + 1),
                     "val_accuracy": s / N_SNAPSHOTS} for s in range(N_SNAPSHOTS)]}
    if mc:
        z = logits[:, None] + rng.normal(0, 0.3, (N_SNAPSHOTS, 2, N_SAMPLES, N_CLASSES))
        out["mc_probabilities"] = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return out


def make_run(path: Path, *, mc: bool = True):
    """Write the synthetic run at ``path`` and return it opened."""
    return write_synthetic_run(path, **synthetic_arrays(mc=mc))


def folder_hashes(path: Path) -> dict[str, str]:
    """Every file and folder under ``path`` (relative name -> content hash, or "dir")."""
    out = {}
    for p in sorted(Path(path).rglob("*")):
        rel = str(p.relative_to(path))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out
