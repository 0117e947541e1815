"""The study pipeline's recording stage: configuration checks and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from actconf.errors import InvalidParameterError, RunExistsError
from actconf.study import StudyConfig, auto_every_n_batches, record


def _small(**kw):
    return StudyConfig(**{"epochs": 2, "max_train": 200, "probe_per_class": 5, "mc_samples": 2, **kw})


def test_same_seed_same_run(tmp_path):
    a = record(_small(seed=3), tmp_path / "a", verbose=0)
    b = record(_small(seed=3), tmp_path / "b", verbose=0)
    c = record(_small(seed=4), tmp_path / "c", verbose=0)
    np.testing.assert_array_equal(a.probe_indices, b.probe_indices)
    for name in ("activations/hidden_1", "outputs/logits", "outputs/mc_probabilities"):
        np.testing.assert_array_equal(a.read(name), b.read(name))
    assert not np.array_equal(a.read("activations/hidden_1"), c.read("activations/hidden_1"))
    cols = ["kind", "epoch", "batch", "step", "loss", "val_accuracy"]
    assert a.snapshots[cols].equals(b.snapshots[cols])


def test_auto_batch_interval():
    assert auto_every_n_batches(1257, 32) == 4  # 40 steps -> every 4 batches, 9 batch snapshots
    assert auto_every_n_batches(100, 32) == 1
    assert auto_every_n_batches(60000, 32) == 187


@pytest.mark.parametrize(("field", "value"), [("epochs", 0), ("model", "resnet"), ("every_n_batches", -2),
                                              ("probe_per_class", 0), ("seed", -1), ("max_train", 5)])
def test_bad_config(tmp_path, field, value):
    with pytest.raises(InvalidParameterError, match=field):
        record(_small(**{field: value}), tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()


def test_existing_run_is_refused_before_training(tmp_path):
    record(_small(), tmp_path / "r", verbose=0)
    with pytest.raises(RunExistsError):
        record(_small(), tmp_path / "r", verbose=0)
