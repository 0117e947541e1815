"""The study notebooks, executed end to end with papermill, and actconf.notebooks.

One session fixture runs all five notebooks through :func:`run_notebooks` with small
parameters (a few epochs, a small probe set, few layout repeats); the tests then check
what they wrote (the run, the saved layout, the animation, the second run of notebook
05) and what the executed copies show (figures, no errors). The committed notebooks
must carry no outputs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from actconf.errors import InvalidParameterError, MissingDataError
from actconf.notebooks import (
    NOTEBOOKS,
    NotebookError,
    available_measures,
    copy_notebooks,
    ensure_kernel,
    find_notebooks_dir,
    pick_snapshots,
    plot_training,
    resolve_path,
    run_notebooks,
    show_animation,
    study_run,
)
from actconf.plots import plot_layouts

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"

# small but complete: every notebook runs every cell on these
SMALL = {
    "epochs": 2,
    "probe_per_class": 10,
    "every_n_batches": 5,
    "mc_samples": 2,
    "max_train": 600,
    "compare_methods": ["random", "som", "umap+refine"],
    "compare_repeats": 2,
    "n_boot": 50,
    "fps": 8,
}


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _outputs(nb: nbformat.NotebookNode):
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                yield index, cell, output


def _images(nb: nbformat.NotebookNode, mime: str = "image/png") -> list[bytes]:
    return [base64.b64decode(o["data"][mime]) for _, _, o in _outputs(nb)
            if o.get("output_type") in ("display_data", "execute_result") and mime in o.get("data", {})]


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for _, _, o in _outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        elif "text/plain" in o.get("data", {}):
            parts.append(o["data"]["text/plain"])
    return "\n".join(parts)


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """All five notebooks executed against a fresh run directory."""
    run_dir = tmp_path_factory.mktemp("nb") / "study"
    table = run_notebooks(run_dir, parameters=SMALL, progress=False)
    return {"run_dir": run_dir, "table": table, "out": run_dir / "notebooks",
            "byom": run_dir.with_name(run_dir.name + "-byom")}


# ------------------------------------------------------------------- committed files
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    nb = _read(NOTEBOOK_DIR / f"{name}.ipynb")
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_parameters_cell(name):
    import papermill

    nb = _read(NOTEBOOK_DIR / f"{name}.ipynb")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"))
    for required in ("dataset", "epochs", "probe_per_class", "seed", "run_dir"):
        assert required in declared, required
    assert declared["run_dir"]["default"].strip("\"'") == "data/runs/notebooks"
    expected = "fashion_mnist" if name.startswith("05") else "digits"
    assert declared["dataset"]["default"].strip("\"'") == expected
    # markdown that explains, not only code
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 4


# -------------------------------------------------------------------- the executions
@pytest.mark.slow
def test_all_notebooks_ran(executed):
    table = executed["table"]
    assert list(table["notebook"]) == list(NOTEBOOKS)
    assert (table["status"] == "ok").all()
    for name in NOTEBOOKS:
        assert (executed["out"] / f"{name}.ipynb").is_file()
        html = (executed["out"] / f"{name}.html").read_text(encoding="utf-8")
        assert "data:image/png;base64" in html


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executed_notebook_is_complete_and_clean(executed, name):
    nb = _read(executed["out"] / f"{name}.ipynb")
    errors = [o for _, _, o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    # papermill injected our parameters, including the absolute run directory
    injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert str(executed["run_dir"]) in injected[0].source
    # no tracebacks or TensorFlow start-up logs in the product
    stderr = "".join(o["text"] for _, _, o in _outputs(nb)
                     if o.get("output_type") == "stream" and o["name"] == "stderr")
    assert "Traceback" not in stderr
    assert "absl::InitializeLog" not in stderr


@pytest.mark.parametrize(("name", "minimum"), [
    ("01_train_and_record", 1), ("02_confidence_over_training", 5), ("03_topographic_layouts", 5),
    ("04_activity_vs_confidence", 5), ("05_bring_your_own_model", 4),
])
@pytest.mark.slow
def test_executed_notebook_shows_figures(executed, name, minimum):
    from PIL import Image

    images = _images(_read(executed["out"] / f"{name}.ipynb"))
    assert len(images) >= minimum
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            assert im.width >= 300 and im.height >= 150
            # not a blank canvas: a real figure has many colours
            assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or range(1 << 20)) > 20


@pytest.mark.slow
def test_01_wrote_the_run(executed):
    import actconf

    run = actconf.open_run(executed["run_dir"])
    kinds = run.snapshots["kind"].tolist()
    assert kinds[0] == "initial"
    assert kinds.count("epoch") == SMALL["epochs"]
    batch = run.snapshots[run.snapshots["kind"] == "batch"]
    assert len(batch) >= 2 and (batch["epoch"] == 1).all()
    assert (batch["batch"] % SMALL["every_n_batches"] == 0).all()
    assert run.n_samples == 10 * SMALL["probe_per_class"]
    assert run.layers == ["hidden_1"] and run.layer_sizes["hidden_1"] == 128
    assert run.mc_samples == SMALL["mc_samples"] and run.has_logits
    assert run.manifest["dataset"]["max_train"] == SMALL["max_train"]
    nb = _read(executed["out"] / "01_train_and_record.ipynb")
    assert f"Epoch {SMALL['epochs']}/{SMALL['epochs']}" in _text(nb)


@pytest.mark.slow
def test_02_shows_every_measure(executed):
    nb = _read(executed["out"] / "02_confidence_over_training.ipynb")
    text = _text(nb)
    assert "temperature-scaled" in text and "MC dropout" in text  # the calibration summary table
    assert "confident: mean confidence" in text


@pytest.mark.slow
def test_03_saved_the_layout(executed):
    import actconf
    from actconf.layout import list_layouts, load_layout

    run = actconf.open_run(executed["run_dir"])
    layout = load_layout(run, "hidden_1")
    assert layout.method == "umap" and layout.refined
    assert layout.positions.shape == (128, 2)
    assert layout.source_snapshot == run.n_snapshots - 1
    assert list(list_layouts(run)["name"]) == ["default"]


@pytest.mark.slow
def test_04_used_the_saved_layout_and_animated(executed):
    from PIL import Image

    import actconf

    run = actconf.open_run(executed["run_dir"])
    nb = _read(executed["out"] / "04_activity_vs_confidence.ipynb")
    assert "layout: umap+refine" in _text(nb)
    gif = executed["run_dir"] / "animations" / "hidden_1_confidence.gif"
    with Image.open(gif) as im:
        assert im.n_frames == run.n_snapshots
    html = [o["data"]["text/html"] for _, _, o in _outputs(nb) if "data:image/gif;base64," in
            o.get("data", {}).get("text/html", "")]
    assert len(html) == 1
    encoded = html[0].split("data:image/gif;base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded) == gif.read_bytes()
    # a static copy of the explorer's view for HTML exports
    assert len(_images(nb, "image/jpeg")) == 1
    # the explorer is in the notebook as a widget, with its state saved
    views = [o for _, _, o in _outputs(nb) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views
    assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    text = _text(nb)
    assert "statements supported" in text


@pytest.mark.slow
def test_05_recorded_with_the_copied_files(executed):
    import actconf

    nb = _read(executed["out"] / "05_bring_your_own_model.ipynb")
    text = _text(nb)
    listing = re.search(r"\[('__init__\.py'.*?)\]", text, re.S)  # the copied folder's sorted names
    assert listing is not None
    assert re.findall(r"'([^']+)'", listing.group(1)) == ["__init__.py", "_layers.py", "_probe.py", "callbacks.py",
                                                          "errors.py", "store"]
    assert "actconf_lite/callbacks.py" in text
    assert "actconf_lite.callbacks ->" in text
    run = actconf.open_run(executed["byom"])
    assert run.layers == ["gap", "embedding"]
    assert run.layer_sizes == {"gap": 64, "embedding": 64}
    assert run.mc_samples == SMALL["mc_samples"]
    fashion = (Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").is_file()
    assert run.manifest["dataset"]["name"] == ("fashion_mnist" if fashion else "digits")
    assert "my_cnn" in json.dumps(run.manifest.get("model", {}))


# ------------------------------------------------------------------ run_notebooks API
def _tiny_notebook(path: Path, body: str) -> Path:
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell('run_dir = "data/runs/notebooks"\nvalue = 1')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_failing_notebook_raises_a_notebook_error(tmp_path):
    nb = _tiny_notebook(tmp_path / "broken.ipynb", "x = value + 1\nraise ValueError('boom %d' % x)")
    with pytest.raises(NotebookError) as info:
        run_notebooks(tmp_path / "run", notebooks=[nb], parameters={"value": 41}, progress=False)
    err = info.value
    assert err.notebook == "broken"
    assert "broken" in str(err) and "ValueError: boom 42" in str(err)
    assert "cell [" in str(err) and "x = value + 1" in str(err)
    assert err.path == tmp_path / "run" / "notebooks" / "broken.ipynb" and err.path.is_file()


@pytest.mark.slow
def test_reuse_skips_notebook_01(executed, tmp_path):
    nb = _tiny_notebook(tmp_path / "check.ipynb",
                        "import actconf\nprint('snapshots', actconf.open_run(run_dir).n_snapshots)")
    table = run_notebooks(executed["run_dir"], notebooks=["01", nb], out_dir=tmp_path / "out",
                          html=False, progress=False)
    assert list(table["status"]) == ["skipped", "ok"]
    assert table["html"].isna().all()
    out = _read(tmp_path / "out" / "check.ipynb")
    import actconf

    assert f"snapshots {actconf.open_run(executed['run_dir']).n_snapshots}" in _text(out)


@pytest.mark.parametrize("selection", [[7], ["99"], ["03", "01"], [1, "01"], [], "nope.txt", [1.5]])
def test_bad_selection(tmp_path, selection):
    with pytest.raises(InvalidParameterError, match="'notebooks' parameter of run_notebooks"):
        run_notebooks(tmp_path / "run", notebooks=selection)


def test_bad_parameters(tmp_path):
    with pytest.raises(InvalidParameterError, match="epochz") as info:
        run_notebooks(tmp_path / "run", parameters={"epochz": 3})
    assert "epochs" in str(info.value)  # lists the known ones
    with pytest.raises(InvalidParameterError, match="first argument"):
        run_notebooks(tmp_path / "run", parameters={"run_dir": "x"})
    with pytest.raises(InvalidParameterError, match="no actconf run"):
        run_notebooks(tmp_path / "run", reuse=True)
    with pytest.raises(InvalidParameterError, match="'reuse'"):
        run_notebooks(tmp_path / "run", reuse="yes")
    with pytest.raises(InvalidParameterError, match="'run_dir'"):
        run_notebooks(3)


def test_selection_by_number_name_and_path(tmp_path):
    from actconf.notebooks.runner import _select_notebooks

    folder = find_notebooks_dir()
    chosen = _select_notebooks([1, "02", "03_topographic_layouts", "04_activity_vs_confidence.ipynb",
                                str(folder / "05_bring_your_own_model.ipynb")], None)
    assert [name for name, _ in chosen] == list(NOTEBOOKS)
    assert all(path.is_file() for _, path in chosen)


def test_ensure_kernel_runs_this_interpreter():
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from actconf.notebooks.kernel import _runs_this_python

    name = ensure_kernel()
    spec = KernelSpecManager().get_kernel_spec(name)
    assert _runs_this_python(spec.argv)
    assert _runs_this_python([sys.executable, "-m", "ipykernel_launcher"])
    assert not _runs_this_python(["/opt/elsewhere/bin/python", "-m", "ipykernel_launcher"])
    with pytest.raises(MissingDataError, match="no Jupyter kernel named"):
        ensure_kernel("no-such-kernel-xyz")


def test_ensure_kernel_registers_one_when_python3_is_another_interpreter(tmp_path, monkeypatch):
    """A user-level ``python3`` kernel of another Python must not be used: register our own."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from actconf.notebooks.kernel import KERNEL_NAME, _runs_this_python

    foreign = tmp_path / "foreign" / "kernels" / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(json.dumps({
        "argv": ["/opt/elsewhere/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (elsewhere)", "language": "python"}))
    prefix = tmp_path / "prefix"
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(tmp_path / "foreign"),
                                                        str(prefix / "share" / "jupyter")]))
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert not _runs_this_python(KernelSpecManager().get_kernel_spec("python3").argv)
    assert ensure_kernel() == KERNEL_NAME
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable
    assert (prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json").is_file()
    assert ensure_kernel() == KERNEL_NAME  # found the second time, not re-registered


# ---------------------------------------------------------------------------- helpers
def test_resolve_path_from_repo_root_and_notebooks_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ACTCONF_DATA", raising=False)
    monkeypatch.chdir(REPO)
    at_root = resolve_path("data/runs/notebooks")
    monkeypatch.chdir(REPO / "notebooks")
    assert resolve_path("data/runs/notebooks") == at_root == REPO / "data" / "runs" / "notebooks"
    assert resolve_path(tmp_path / "x") == tmp_path / "x"
    monkeypatch.chdir(tmp_path)  # outside any checkout: relative to the working directory
    assert resolve_path("runs/a") == tmp_path / "runs" / "a"
    with pytest.raises(InvalidParameterError, match="'path' parameter of resolve_path"):
        resolve_path("")


def _synthetic(tmp_path, n_snap=12, logs=False, **kwargs):
    from actconf.testing import write_synthetic_run

    rng = np.random.default_rng(0)
    kinds = ["initial"] + ["batch"] * 4 + ["epoch"] * (n_snap - 5)
    epochs = [0, 1, 1, 1, 1] + list(range(1, n_snap - 4))
    batches = [0, 2, 4, 6, 8] + [10] * (n_snap - 5)
    log_rows = [{"loss": 2.0 / (i + 1), "accuracy": i / n_snap} | (
        {"val_loss": 2.1 / (i + 1), "val_accuracy": i / n_snap} if k == "epoch" else {})
        for i, k in enumerate(kinds)] if logs else None
    return write_synthetic_run(
        tmp_path / "syn", activations={"dense": rng.random((n_snap, 40, 6))}, labels=np.arange(40) % 4,
        kinds=kinds, epochs=epochs, batches=batches, logs=log_rows, **kwargs,
    )


def test_pick_snapshots(tmp_path):
    run = _synthetic(tmp_path, logits=np.random.default_rng(1).normal(size=(12, 40, 4)))
    progress = run.snapshots["progress"].to_numpy()
    picks = pick_snapshots(run, n=5)
    assert picks[0] == 0 and picks[-1] == run.n_snapshots - 1
    assert picks == sorted(set(picks)) and 3 <= len(picks) <= 5
    # denser early than late: the median pick lies in the first half of training time
    assert progress[picks[len(picks) // 2]] < progress[-1] / 2
    assert pick_snapshots(run, n=20) == list(range(run.n_snapshots))
    with pytest.raises(InvalidParameterError, match="'n' parameter of pick_snapshots"):
        pick_snapshots(run, n=1)


def test_available_measures(tmp_path):
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=(12, 40)).astype("float32")
    run = _synthetic(tmp_path, probabilities=probs)
    assert available_measures(run) == ["max_softmax", "margin", "entropy", "temperature"]
    full = _synthetic(tmp_path / "b", logits=rng.normal(size=(12, 40, 4)),
                      mc_probabilities=rng.dirichlet(np.ones(4), size=(12, 3, 40)))
    assert available_measures(full) == ["max_softmax", "margin", "entropy", "energy", "temperature",
                                        "mc_dropout"]
    with pytest.raises(InvalidParameterError):
        available_measures("run")


def test_plot_training(tmp_path):
    run = _synthetic(tmp_path, logs=True, logits=np.zeros((12, 40, 4)))
    fig = plot_training(run)
    loss_ax, acc_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["training", "training (within epoch)", "validation"]
    epoch = run.snapshots["kind"] == "epoch"
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), run.snapshots.loc[epoch, "loss"])
    np.testing.assert_allclose(acc_ax.lines[2].get_ydata(), run.snapshots.loc[epoch, "val_accuracy"])
    without_logs = _synthetic(tmp_path / "b", logits=np.zeros((12, 40, 4)))
    with pytest.raises(MissingDataError, match="no Keras logs"):
        plot_training(without_logs)
    with pytest.raises(InvalidParameterError, match="'x' parameter"):
        plot_training(run, x="time")


@pytest.mark.slow
def test_plot_layouts_shares_one_symmetric_scale():
    from actconf.layout import compute_layout

    rng = np.random.default_rng(3)
    profiles = rng.normal(size=(30, 5))
    layouts = {m: compute_layout(profiles, method=m, seed=0) for m in ("pca", "som", "random")}
    values = profiles[:, 0]
    fig = plot_layouts(layouts, values, title="t", ncols=2)
    maps = [ax for ax in fig.axes if ax.get_title() in layouts]
    assert [ax.get_title() for ax in maps] == list(layouts)
    vmax = np.abs(values).max()
    for ax in maps:
        assert ax.images[-1].get_clim() == pytest.approx((-vmax, vmax))
    colorbar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbar) == 1 and colorbar[0].get_ylim() == pytest.approx((-vmax, vmax))
    assert sum(ax.get_visible() for ax in fig.axes) == 4  # 3 maps + colorbar, the 4th panel hidden
    with pytest.raises(InvalidParameterError):
        plot_layouts({}, values)


def test_resolve_path_data_folder_follows_actconf_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTCONF_DATA", str(tmp_path / "store"))
    monkeypatch.chdir(REPO / "notebooks")
    assert resolve_path("data/runs/notebooks") == tmp_path / "store" / "runs" / "notebooks"
    assert resolve_path("data") == tmp_path / "store"
    assert resolve_path("other/x") == REPO / "other" / "x"  # not under data/: the project folder
    monkeypatch.setenv("ACTCONF_DATA", "relative")  # relative to the working directory
    monkeypatch.chdir(tmp_path)
    assert resolve_path("data/runs/a") == tmp_path / "relative" / "runs" / "a"


def test_study_run_is_a_deprecated_alias_of_open_or_record(tmp_path, monkeypatch):
    existing = _synthetic(tmp_path, logits=np.zeros((12, 40, 4)))
    monkeypatch.chdir(tmp_path)  # outside any checkout: relative to the working directory
    with pytest.warns(DeprecationWarning, match="open_or_record"):
        run = study_run("syn", epochs=99)  # exists: parameters ignored, nothing trained
    assert run.path == existing.path
    with pytest.raises(InvalidParameterError, match="epochz"), pytest.warns(DeprecationWarning):
        study_run("syn", epochz=3)


# ------------------------------------------------------------ the files and copies
def test_notebooks_ship_inside_the_package_once():
    import actconf

    folder = find_notebooks_dir()
    assert folder == Path(actconf.__file__).resolve().parent / "study_notebooks"
    assert sorted(p.stem for p in folder.glob("*.ipynb")) == list(NOTEBOOKS)
    # the repository's notebooks/ is a link to the package folder, not a second copy
    assert NOTEBOOK_DIR.is_symlink() and NOTEBOOK_DIR.resolve() == folder


def test_copy_notebooks(tmp_path):
    out = tmp_path / "mine" / "nbs"
    paths = copy_notebooks(out)
    assert paths == [out / f"{name}.ipynb" for name in NOTEBOOKS]
    for path in paths:
        assert path.read_bytes() == (find_notebooks_dir() / path.name).read_bytes()
    paths[2].write_text("my edits")
    with pytest.raises(InvalidParameterError, match="03_topographic_layouts.ipynb") as info:
        copy_notebooks(out)
    assert "overwrite=True" in str(info.value)
    assert paths[2].read_text() == "my edits"  # nothing was written
    assert copy_notebooks(out, overwrite=True) == paths
    assert paths[2].read_bytes() == (find_notebooks_dir() / paths[2].name).read_bytes()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidParameterError, match="a folder"):
        copy_notebooks(tmp_path / "file")
    with pytest.raises(InvalidParameterError, match="'overwrite'"):
        copy_notebooks(out, overwrite="yes")


def test_packaged_notebooks_run_in_the_working_directory_copies_in_their_folder(tmp_path, monkeypatch):
    from actconf.notebooks.runner import _plan

    copies = copy_notebooks(tmp_path / "copies")
    monkeypatch.chdir(tmp_path)
    jobs = _plan(tmp_path / "run", {}, [1, str(copies[1]), 3], None)
    assert [job.name for job in jobs] == list(NOTEBOOKS[:3])
    assert [job.cwd for job in jobs] == [tmp_path, copies[1].parent, tmp_path]
    assert [job.source for job in jobs] == [find_notebooks_dir() / copies[0].name, copies[1],
                                            find_notebooks_dir() / copies[2].name]
    assert all(job.parameters["run_dir"] == str(tmp_path / "run") for job in jobs)
    assert not any(job.skip for job in jobs)


def test_show_animation(tmp_path):
    from PIL import Image

    path = tmp_path / "a.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    bundle = show_animation(path)._repr_mimebundle_()
    encoded = bundle["text/html"].split("base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded) == path.read_bytes()
    with pytest.raises(MissingDataError, match="no file"):
        show_animation(tmp_path / "missing.gif")
    with pytest.raises(InvalidParameterError, match="MP4"):
        show_animation(tmp_path / "a.mp4")
