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


def test_bad_layout_exits_before_training(capsys, tmp_path):
    code = main(["run", "--layout", "bogus", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "'layout' parameter of StudyConfig" in err and "'umap'" in err
    assert not (tmp_path / "r").exists()  # nothing recorded


def test_default_out_is_in_the_data_folder(capsys, tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setenv("ACTCONF_DATA", str(tmp_path / "store"))
    write_synthetic_run(tmp_path / "store" / "runs" / "digits-mlp", activations={"a": np.zeros((2, 3, 4))},
                        labels=[0, 1, 0], logits=np.zeros((2, 3, 2)))
    code = main(["run", "--quiet"])  # refused: the default run directory already holds a run
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "store" / "runs" / "digits-mlp") in err


def test_notebooks_copy(capsys, tmp_path, monkeypatch):
    from actconf.notebooks import NOTEBOOKS, find_notebooks_dir

    monkeypatch.chdir(tmp_path)
    assert main(["notebooks", "--copy", "mine"]) == 0
    out = capsys.readouterr().out
    for name in NOTEBOOKS:
        copy = tmp_path / "mine" / f"{name}.ipynb"
        assert str(copy) in out
        assert copy.read_bytes() == (find_notebooks_dir() / copy.name).read_bytes()
    (tmp_path / "mine" / f"{NOTEBOOKS[0]}.ipynb").write_text("edited")
    assert main(["notebooks", "--copy", "mine"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "mine" / f"{NOTEBOOKS[0]}.ipynb").read_text() == "edited"
    assert main(["notebooks", "--copy", "mine", "--overwrite"]) == 0
    assert (tmp_path / "mine" / f"{NOTEBOOKS[0]}.ipynb").read_text() != "edited"
    assert main(["notebooks", "run", "--copy", "mine"]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_notebooks_bad_selection_and_parameters(capsys, tmp_path):
    assert main(["notebooks", str(tmp_path / "r"), "--only", "7", "--quiet"]) == 2
    assert "'notebooks' parameter of run_notebooks" in capsys.readouterr().err
    assert main(["notebooks", str(tmp_path / "r"), "-p", "epochz", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "epochz" in err and "probe_per_class" in err
    assert not (tmp_path / "r").exists()


def test_notebook_parameter_values():
    from actconf.cli import _literal

    assert _literal("5") == 5 and _literal("0.5") == 0.5 and _literal("None") is None
    assert _literal("[0, 0.5, 1]") == [0, 0.5, 1] and _literal("True") is True
    assert _literal("digits") == "digits" and _literal("'digits'") == "digits"
    assert _literal("data/runs/x") == "data/runs/x"
