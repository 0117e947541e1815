"""actconf installed like any package: built into a wheel, installed into a folder, used elsewhere.

One module fixture builds the wheel from a copy of the source (no network:
``--no-build-isolation``, the build tools come from this environment), installs it
with ``pip install --no-deps --target`` and runs commands from a folder outside the
repository with ``PYTHONPATH`` = that target (dependencies come from this
environment). The checks: the installed package, not the source tree, is imported;
the study notebooks ship inside the wheel; runs and datasets go to the working
directory's ``data/``; ``actconf notebooks --copy`` and ``actconf notebooks RUN``
work from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01_train_and_record", "02_confidence_over_training", "03_topographic_layouts",
             "04_activity_vs_confidence", "05_bring_your_own_model")

pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check",
                             "--no-input", "-q"], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel, the folder it is installed into, and a working folder outside the repository."""
    for tool in ("setuptools", "wheel"):
        try:
            __import__(tool)
        except ImportError:
            pytest.fail(f"Building the wheel offline needs {tool!r} in this environment: "
                        "pip install -e '.[test]' installs it.")
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"  # a copy: building writes build/ and *.egg-info next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints"))
    _pip("wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), cwd=source)
    (wheel,) = (root / "dist").glob("actconf-*.whl")
    site = root / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=root)
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ACTCONF_DATA", "ACTCONF_DATA_DIR")}
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2", PYTHONNOUSERSITE="1")
    return {"wheel": wheel, "site": site, "work": work, "env": env}


def _run(installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=installed["work"], env=installed["env"],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}"
    return result


def test_wheel_ships_the_notebooks_and_no_source_tree_files(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = wheel.namelist()
    assert sorted(n for n in names if n.endswith(".ipynb")) == [
        f"actconf/study_notebooks/{name}.ipynb" for name in NOTEBOOKS]
    assert "actconf/notebooks/runner.py" in names and "actconf/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "data/", "benchmarks/"))]
    for name in NOTEBOOKS:  # the same files as the repository's notebooks/
        assert ((installed["site"] / "actconf" / "study_notebooks" / f"{name}.ipynb").read_bytes()
                == (REPO / "notebooks" / f"{name}.ipynb").read_bytes())


def test_the_installed_package_is_imported_and_finds_its_notebooks(installed):
    out = _run(installed, "-c", "import json, actconf, actconf.cli, actconf.notebooks as nb; "
               "print(json.dumps([actconf.__file__, str(nb.find_notebooks_dir())]))").stdout
    module, folder = json.loads(out.strip().splitlines()[-1])
    site = installed["site"].resolve()
    assert Path(module).resolve().is_relative_to(site)
    assert not Path(module).resolve().is_relative_to(REPO)
    assert Path(folder).resolve() == site / "actconf" / "study_notebooks"


def test_run_records_into_the_working_directorys_data_folder(installed):
    result = _run(installed, "-m", "actconf.cli", "run", "--epochs", "1", "--probe-per-class", "3",
                  "--max-train", "100", "--mc-samples", "0", "--record-only", "--quiet")
    run_dir = installed["work"] / "data" / "runs" / "digits-mlp"
    assert (run_dir / "snapshots.jsonl").is_file()
    assert "snapshots:" in result.stdout
    lines = (run_dir / "snapshots.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "epoch" for line in lines) == 1
    assert not (installed["site"] / "data").exists() and not (installed["site"] / "actconf" / "data").exists()


def test_notebooks_copy_from_the_wheel(installed):
    result = _run(installed, "-m", "actconf.cli", "notebooks", "--copy", "my-notebooks")
    for name in NOTEBOOKS:
        copy = installed["work"] / "my-notebooks" / f"{name}.ipynb"
        assert str(copy) in result.stdout
        assert copy.read_bytes() == (installed["site"] / "actconf" / "study_notebooks" / copy.name).read_bytes()


def test_notebooks_run_from_the_wheel(installed):
    _run(installed, "-m", "actconf.cli", "notebooks", "data/runs/nb", "--only", "1",
         "-p", "epochs", "1", "-p", "probe_per_class", "3", "-p", "max_train", "100",
         "-p", "mc_samples", "0", "-p", "every_n_batches", "2", "--quiet")
    run_dir = installed["work"] / "data" / "runs" / "nb"
    executed = json.loads((run_dir / "notebooks" / "01_train_and_record.ipynb").read_text())
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert f"run directory: {run_dir}" in text and "(1 initial, 1 batch, 1 epoch)" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the learning curves
    assert (run_dir / "notebooks" / "01_train_and_record.html").is_file()
    assert (run_dir / "snapshots.jsonl").is_file()
