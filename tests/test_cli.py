"""`actconf` command line: exit codes and messages for bad arguments (no training here)."""

from __future__ import annotations

import pytest

from actconf.cli import main
from actconf.testing import write_synthetic_run


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    return info.value.code, capsys.readouterr().err


def test_unknown_dataset(capsys):
    code, err = _run(capsys, "run", "--dataset", "imagenet")
    assert code == 2 and "unknown dataset 'imagenet'" in err and "fashion_mnist" in err


@pytest.mark.parametrize("value", ["-3", "0", "two"])
def test_bad_epochs(capsys, value):
    code, err = _run(capsys, "run", "--epochs", value)
    assert code == 2 and "--epochs" in err


def test_unwritable_output(capsys, tmp_path):
    code = main(["run", "--out", "/proc/actconf-test/run", "--record-only"])
    err = capsys.readouterr().err
    assert code == 2 and "Cannot write the run" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["run", "--out", str(blocker / "run")])
    assert code == 2 and "is a file" in capsys.readouterr().err


def test_existing_run_needs_overwrite(capsys, tmp_path):
    import numpy as np

    write_synthetic_run(tmp_path / "r", activations={"a": np.zeros((2, 3, 4))}, labels=[0, 1, 0],
                        logits=np.zeros((2, 3, 2)))
    before = (tmp_path / "r" / "snapshots.jsonl").read_bytes()
    code = main(["run", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "already holds an actconf run" in err and "overwrite" in err
    assert (tmp_path / "r" / "snapshots.jsonl").read_bytes() == before


def test_info(capsys, tmp_path):
    import numpy as np

    write_synthetic_run(tmp_path / "r", activations={"a": np.zeros((2, 3, 4))}, labels=[0, 1, 0],
                        logits=np.zeros((2, 3, 2)))
    assert main(["info", str(tmp_path / "r")]) == 0
    assert "snapshots: 2" in capsys.readouterr().out
    assert main(["info", str(tmp_path)]) == 1
    assert "not an actconf run" in capsys.readouterr().err
