"""Bad inputs, table-driven: every case must fail clearly and leave every run untouched.

Each row of ``CASES`` is one thing a new user can get wrong, called against runs that
exist on disk (a shared synthetic run and copies of it damaged in known ways). For every
row the test asserts

1. an actconf error (a subclass of :class:`~actconf.errors.ActconfError`, the class
   given in the row or a subclass) — or, for the rows marked ``accepted``, the
   documented acceptance, checked by the row itself;
2. a message that names the parameter or path (the row's ``names``) and says how to fix
   it (``FIX``: what to pass, or what to do);
3. that no file of any existing run changed, appeared or disappeared (SHA-256 of every
   file under the runs' folder before and after).

CLI rows call :func:`actconf.cli.main` in-process: they must exit with 2 (bad
arguments) or 1 (failure while working) and print a message naming the argument.

``docs/reliability.md`` quotes the number of rows per kind; ``test_doc_counts`` checks
that its figures are these tables' (``python tests/test_bad_inputs.py`` prints them).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from actconf import errors, testing
from actconf.errors import (
    ActconfError,
    CorruptRunError,
    DatasetNotAvailableError,
    InvalidInputError,
    InvalidParameterError,
    MissingDataError,
    NotARunError,
    RunExistsError,
    RunFormatError,
)

# A message says how to fix the problem: what to pass (the parameter template's
# "must be ..."), or what to do.
FIX = re.compile(
    r"must (be|have|lie)|\b(pass|use|choose|give|record|check|restore|save|open|drop|sort|rescale|lower|"
    r"select|upgrade|remove|delete|wait|call|rename|install|set|add|keep|store|scale|repair|see|"
    r"try|reduce|split|convert|compute|re-?run|fix|accepts?|accepted|expected|needs?|one of)\b",
    re.IGNORECASE,
)


class Case(NamedTuple):
    kind: str
    id: str
    call: Callable[[Any], Any]
    names: tuple[str, ...]
    error: type = ActconfError
    accepted: bool = False


CASES: list[Case] = []


def case(kind: str, id_: str, call: Callable[[Any], Any], *names: str, error: type = ActconfError) -> None:
    CASES.append(Case(kind, id_, call, names, error))


def accepted(kind: str, id_: str, call: Callable[[Any], Any]) -> None:
    """A row whose documented behaviour is to accept the input; ``call`` asserts what it gives."""
    CASES.append(Case(kind, id_, call, (), ActconfError, True))


def mod(name: str) -> Any:
    """An actconf submodule, imported when a row runs (so that collecting the table stays quick)."""
    return importlib.import_module(f"actconf.{name}")


POS = np.random.default_rng(0).random((12, 2))
PROBS = np.full((6, 3), 1 / 3)
LABELS = np.arange(6) % 3


def nan_at(arr: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = np.array(arr, dtype=float)
    out.flat[1] = value
    return out


# --------------------------------------------------------------------------- the runs
class Env(NamedTuple):
    base: Path  # every run below; hashed before and after every case
    out: Path  # scratch space for cases that try to write something new
    run: Any  # the shared synthetic run (logits, batch snapshots, two layers)
    probs_run: Any  # a run without logits (a softmax model)
    one: Any  # a run with a 1-sample probe
    flat: Any  # a run whose confidence is the same for every sample
    paths: dict[str, Path]
    nap: Any
    layout: Any
    dataset: Any


def _damaged_copies(base: Path, run_dir: Path) -> dict[str, Path]:
    """Copies of the run, each damaged in one known way.

    A copy whose manifest is damaged holds only the manifest and the commit log (opening
    stops at the manifest); the others are whole runs.
    """
    paths: dict[str, Path] = {}

    def copy(name: str, *, whole: bool = False) -> Path:
        paths[name] = base / name
        if whole:
            shutil.copytree(run_dir, paths[name])
        else:
            paths[name].mkdir()
            for file in ("manifest.json", "snapshots.jsonl"):
                shutil.copy2(run_dir / file, paths[name] / file)
        return paths[name]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    (copy("foreign") / "manifest.json").write_text(json.dumps({"name": "my experiment", "layers": 3}))
    (copy("foreign_list") / "manifest.json").write_text("[1, 2, 3]")
    text = (run_dir / "manifest.json").read_text()
    (copy("truncated") / "manifest.json").write_text(text[: len(text) // 2])
    (copy("newer") / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    for key in ("layers", "probe", "class_names", "arrays"):
        (copy(f"no_{key}") / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != key}))
    (copy("bad_layer_entry") / "manifest.json").write_text(json.dumps({**manifest, "layers": [{"name": "dense"}]}))
    meta = copy("zarr_json", whole=True) / "arrays.zarr" / "activations" / "dense" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    chunk = copy("no_chunk", whole=True) / "arrays.zarr" / "activations" / "dense" / "c" / "1" / "0" / "0"
    chunk.unlink()
    log = copy("bad_log", whole=True) / "snapshots.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[2:]))
    paths["empty_dir"] = base / "empty_dir"
    paths["empty_dir"].mkdir()
    paths["unfinished"] = base / "unfinished"
    paths["unfinished"].mkdir()
    (paths["unfinished"] / "snapshots.jsonl").write_bytes(b"")
    paths["a_file"] = base / "a_file.txt"
    paths["a_file"].write_text("not a run")
    paths["missing"] = base / "does_not_exist"
    return paths


def _npz_files(base: Path) -> dict[str, Path]:
    """User dataset files, each wrong in one way (next to the runs: they must not change either)."""
    x = np.random.default_rng(0).random((20, 4, 4)).astype(np.float32)
    y = np.arange(20) % 2
    good = {"x_train": x, "y_train": y, "x_test": x[:6], "y_test": y[:6]}
    variants = {
        "nan": {**good, "x_train": nan_at(x)},
        "missing_key": {k: v for k, v in good.items() if k != "y_test"},
        "float_labels": {**good, "y_train": y.astype(float) + 0.5},
        "negative_labels": {**good, "y_train": y - 1},
        "out_of_range": {**good, "x_train": x * 300},
        "length": {**good, "y_train": y[:10]},
        "shapes": {**good, "x_test": x[:6, :3]},
        "object": {**good, "class_names": np.array(["a", 1], dtype=object)},
    }
    folder = base / "npz"
    folder.mkdir()
    out = {}
    for name, arrays in variants.items():
        out[name] = folder / f"{name}.npz"
        np.savez(out[name], **arrays)
    out["npy"] = folder / "single.npy"
    np.save(out["npy"], x)
    out["garbage"] = folder / "garbage.npz"
    out["garbage"].write_bytes(b"PK\x03\x04 not a zip")
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from actconf.datasets import Dataset
    from actconf.layout import compute_layout
    from actconf.naps import naps

    base = tmp_path_factory.mktemp("bad_inputs")
    out = tmp_path_factory.mktemp("bad_inputs_out")
    arrays = testing.synthetic_arrays(n_snapshots=4, n_samples=60, sizes=(12, 6))
    run = testing.write_synthetic_run(base / "run", **arrays)
    probs_run = testing.write_synthetic_run(base / "probs_run", **testing.synthetic_arrays(
        n_snapshots=4, n_samples=40, sizes=(12,), logits=False))
    one = testing.write_synthetic_run(base / "one", **testing.synthetic_arrays(
        n_snapshots=4, n_samples=1, n_classes=2, sizes=(5,)))
    flat = testing.write_synthetic_run(
        base / "flat", activations={"dense": np.random.default_rng(1).random((3, 12, 4))},
        labels=np.arange(12) % 3, logits=np.zeros((3, 12, 3)))
    paths = {**_damaged_copies(base, run.path), **_npz_files(base)}
    x = np.random.default_rng(0).random((30, 4, 4, 1)).astype(np.float32)
    dataset = Dataset("tiny", x, np.arange(30) % 3, x[:9], np.arange(9) % 3, ["a", "b", "c"], "test")
    nap = naps(run, "dense", min_size=1)
    layout = compute_layout(np.random.default_rng(0).random((12, 5)), method="random", layer="dense")
    return Env(base, out, run, probs_run, one, flat, paths, nap, layout, dataset)


# --------------------------------------------------------------------------- runs on disk
def _open(name: str, **kw: Any) -> Callable[[Env], Any]:
    from actconf import open_run

    return lambda e: open_run(e.paths[name], **kw)


def _read(name: str) -> Callable[[Env], Any]:
    from actconf import open_run

    return lambda e: open_run(e.paths[name]).activations("dense").values


case("run folder", "missing folder", _open("missing"), "does_not_exist", error=NotARunError)
case("run folder", "a file, not a folder", _open("a_file"), "a_file.txt", error=NotARunError)
case("run folder", "an empty folder", _open("empty_dir"), "empty_dir", "manifest.json", error=NotARunError)
case("run folder", "an unfinished run", _open("unfinished"), "unfinished", error=NotARunError)
case("run folder", "a foreign manifest", _open("foreign"), "manifest.json", "format", error=NotARunError)
case("run folder", "a manifest holding a list", _open("foreign_list"), "manifest.json", error=NotARunError)
case("run folder", "a truncated manifest", _open("truncated"), "truncated", "manifest", error=CorruptRunError)
case("run folder", "a newer format version", _open("newer"), "format version", error=RunFormatError)
for _key in ("layers", "probe", "class_names", "arrays"):
    case("run folder", f"manifest without {_key!r}", _open(f"no_{_key}"), f"'{_key}'", error=CorruptRunError)
case("run folder", "a layer entry without fields", _open("bad_layer_entry"), "layers[0]", error=CorruptRunError)
case("run folder", "a damaged zarr.json", _read("zarr_json"), "activations/dense", error=CorruptRunError)
case("run folder", "a damaged zarr.json in verify()", lambda e: mod("store").open_run(
    e.paths["zarr_json"]).verify(), "activations/dense", error=CorruptRunError)
case("run folder", "a deleted chunk file", _read("no_chunk"), "activations/dense", "snapshot 1",
     error=CorruptRunError)
case("run folder", "a deleted chunk in verify()", lambda e: mod("store").open_run(
    e.paths["no_chunk"]).verify(), "activations/dense", error=CorruptRunError)
case("run folder", "a damaged commit log, strict", _open("bad_log", strict=True), "snapshots.jsonl",
     error=CorruptRunError)
case("run folder", "open_run(None)", lambda e: mod("store").open_run(None), "path")
case("run folder", "open_run(42)", lambda e: mod("store").open_run(42), "path")
case("run folder", "repair a missing folder", lambda e: mod("store").repair_run(
    e.paths["missing"]), "does_not_exist")
case("run folder", "repair a foreign folder", lambda e: mod("store").repair_run(
    e.paths["foreign"]), "manifest.json")
case("run folder", "naps() on a path string", lambda e: mod("naps").naps(str(e.run.path)),
     "'run'")
case("run folder", "naps() on a deleted chunk", lambda e: mod("naps").naps(
    mod("store").open_run(e.paths["no_chunk"]), "dense", min_size=1), "activations/dense",
     error=CorruptRunError)


def _accept_damaged_log(e: Env) -> None:
    from actconf import open_run

    with pytest.warns(errors.DamagedRunWarning, match="snapshots.jsonl"):
        run = open_run(e.paths["bad_log"])
    assert run.n_snapshots == 1 and run.damage is not None


accepted("run folder", "a damaged commit log opens its intact prefix with a warning", _accept_damaged_log)


# --------------------------------------------------------------------------- Run methods
case("run method", "activations of an unknown layer", lambda e: e.run.activations("nope"), "nope", "dense")
case("run method", "layer_info of an unknown layer", lambda e: e.run.layer_info("nope"), "nope", "dense")
case("run method", "read an unknown array", lambda e: e.run.read("nope"), "nope")
case("run method", "logits of a run without logits", lambda e: e.probs_run.logits(), "logits",
     error=MissingDataError)
case("run method", "MC passes of a run without them", lambda e: e.run.mc_probabilities(), "mc_samples",
     error=MissingDataError)
case("run method", "probe inputs not stored", lambda e: e.run.probe_inputs(), "probe inputs",
     error=MissingDataError)
for _sel, _name in [("bogus", "'bogus'"), ({"epoch": 99}, "{'epoch': 99}"), ([99], "[99]"),
                    (slice(5, 9), "slice(5, 9"), (np.zeros(3, bool), "length 4"),
                    (np.zeros(4, bool), "array("), ({"nocol": 1}, "'nocol'"), (1.5, "1.5"), ([], "[]"),
                    (-9, "[-9]")]:
    case("snapshot selector", f"snapshots={_sel!r}", lambda e, s=_sel: e.run.snapshot_index(s), _name,
         error=InvalidParameterError)
case("snapshot selector", "'batches' in a run without batch snapshots",
     lambda e: e.flat.snapshot_index("batches"), "'batches'", error=InvalidParameterError)
case("snapshot selector", "naps(snapshots=...) matching nothing",
     lambda e: mod("naps").naps(e.run, snapshots={"epoch": 99}), "{'epoch': 99}")
case("snapshot selector", "confidence(snapshots=...) matching nothing",
     lambda e: mod("confidence").confidence(e.run, snapshots=[7]), "[7]")


# --------------------------------------------------------------------------- confidence
def _conf(data_or_run: Any = None, **kw: Any) -> Callable[[Env], Any]:
    from actconf.confidence import confidence

    return lambda e: confidence(e.run if data_or_run is None else data_or_run, **kw)


def _calib(data: Any = None, fn: str = "calibration", **kw: Any) -> Callable[[Env], Any]:
    from actconf import confidence as c

    return lambda e: getattr(c, fn)(e.run if data is None else data, **kw)


case("confidence", "unknown measure", _conf(measure="bogus"), "'measure'", "max_softmax")
case("confidence", "measure of a wrong type", _conf(measure=3), "'measure'")
case("confidence", "n_folds=1", _conf(measure="temperature", n_folds=1), "'n_folds'")
case("confidence", "n_folds='2'", _conf(measure="temperature", n_folds="2"), "'n_folds'")
case("confidence", "data as text", _conf("probabilities"), "'data'")
case("confidence", "data 1-D", _conf(np.ones(3) / 3), "'data'", "(3,)")
case("confidence", "one class only", _conf(np.ones((4, 1))), "'data'", "2 classes")
case("confidence", "NaN probability", _conf(nan_at(PROBS)), "'data'", "NaN", error=InvalidInputError)
case("confidence", "inf logit", _conf(nan_at(PROBS, np.inf), from_logits=True), "'data'", "infinite",
     error=InvalidInputError)
case("confidence", "-inf logit", _conf(nan_at(PROBS, -np.inf), from_logits=True, measure="energy"), "'data'",
     error=InvalidInputError)
case("confidence", "NaN in MC passes", _conf(nan_at(np.full((2, 6, 3), 1 / 3)), measure="mc_dropout"),
     "'data'", error=InvalidInputError)
case("confidence", "energy from probabilities", _conf(PROBS, measure="energy"), "energy", "logits",
     error=MissingDataError)
case("confidence", "energy on a run without logits",
     lambda e: mod("confidence").confidence(e.probs_run, measure="energy"),
     "logits", error=MissingDataError)
case("confidence", "mc_dropout on a run without passes", _conf(measure="mc_dropout"), "mc_samples",
     error=MissingDataError)
case("confidence", "mc_dropout on a 2-D array", _conf(PROBS, measure="mc_dropout"), "'data'", "mc")
case("confidence", "temperature on arrays without labels", _conf(PROBS, measure="temperature"), "'labels'")
case("confidence", "labels of a wrong length", _conf(PROBS, measure="temperature", labels=[0, 1]), "'labels'")
case("confidence", "labels out of range", _conf(PROBS, measure="temperature", labels=LABELS + 3), "'labels'")
case("confidence", "float labels", _conf(PROBS, measure="temperature", labels=LABELS + 0.5), "'labels'")
case("confidence", "seed=-1", _conf(PROBS, measure="temperature", labels=LABELS, seed=-1), "'seed'")
case("confidence", "predictions of NaN", _calib(nan_at(PROBS), "predictions"), "'data'",
     error=InvalidInputError)
case("confidence", "fit_temperature without labels", _calib(PROBS, "fit_temperature"), "'labels'")
case("confidence", "mc_dropout() on a 2-D array", _calib(PROBS, "mc_dropout"), "'data'")
case("calibration", "n_bins=0", _calib(n_bins=0), "'n_bins'")
case("calibration", "n_bins=10**9", _calib(n_bins=10**9), "'n_bins'", "10000")
case("calibration", "n_bins=2.5", _calib(n_bins=2.5), "'n_bins'")
case("calibration", "n_bins=True", _calib(n_bins=True), "'n_bins'")
case("calibration", "measure='margin'", _calib(measure="margin"), "'measure'")
case("calibration", "arrays without labels", _calib(PROBS), "'labels'")
case("calibration", "NaN probabilities", _calib(nan_at(PROBS), labels=LABELS), "'data'", error=InvalidInputError)
case("calibration", "reliability strategy", _calib(fn="reliability", strategy="bogus"), "'strategy'")
case("calibration", "reliability n_bins=10**9", _calib(fn="reliability", n_bins=10**9), "'n_bins'")
case("calibration", "reliability of NaN", _calib(nan_at(PROBS), "reliability", labels=LABELS), "'data'",
     error=InvalidInputError)


# --------------------------------------------------------------------------- grouping (naps)
def _naps(**kw: Any) -> Callable[[Env], Any]:
    from actconf.naps import naps

    return lambda e: naps(e.run, kw.pop("layer", "dense"), **kw)


for _bins, _name in [(0, "0"), (-3, "-3"), (10**9, "1000"), ("quantile:0", "quantile:0"),
                     ("quantile:x", "quantile:x"), ("quantile:100000000", "1000"), ("deciles", "deciles"),
                     ([0.5, 0.2], "increasing"), ([0.0, 2.0], "[0, 1]"), ([0.5], "at least 2"),
                     ([np.nan, 1.0], "finite"), (np.linspace(0, 1, 5000), "1001"), (2.5, "2.5"),
                     ({"a": 1}, "'bins'")]:
    case("grouping", f"bins={_bins!r}"[:40], _naps(by="class+confidence", bins=_bins), "'bins'", _name)
case("grouping", "int bins for the unbounded energy", _naps(by="confidence", measure="energy", bins=10),
     "'bins'", "energy")
case("grouping", "unknown layer", _naps(layer="nope"), "nope")
case("grouping", "unknown by", _naps(by="colour"), "'by'", "class")
case("grouping", "by of a wrong type", _naps(by=3), "'by'")
case("grouping", "unknown measure", _naps(by="confidence", measure="bogus"), "'measure'")
case("grouping", "min_size=0", _naps(min_size=0), "'min_size'")
case("grouping", "min_size='5'", _naps(min_size="5"), "'min_size'")
case("grouping", "contrastive='yes'", _naps(contrastive="yes"), "'contrastive'")
case("grouping", "naps(run=None)", lambda e: mod("naps").naps(None), "'run'")
case("grouping", "group_samples unknown by", lambda e: mod("naps").group_samples(
    e.run, by="bogus"), "'by'")
case("grouping", "assign_groups float labels", lambda e: mod("naps").assign_groups(
    LABELS + 0.5), "'labels'")
case("grouping", "assign_groups 2-D labels", lambda e: mod("naps").assign_groups(
    np.zeros((3, 3), int)), "'labels'")
case("grouping", "assign_groups confidence without values", lambda e: mod("naps").assign_groups(
    LABELS, by="confidence"), "'confidence'")
case("grouping", "assign_groups predictions of a wrong shape",
     lambda e: mod("naps").assign_groups(LABELS, predictions=[0, 1], by="prediction"),
     "'predictions'")


# --------------------------------------------------------------------------- rendering
def _topo(positions: Any = POS, **kw: Any) -> Callable[[Env], Any]:
    from actconf.render import TopoRenderer

    return lambda e: TopoRenderer(positions, **kw)


for _res in (1, 0, -5, 100_000, 2.5, "100", None, True):
    case("rendering", f"resolution={_res!r}", _topo(resolution=_res), "'resolution'")
case("rendering", "a dense cubic operator too large", _topo(np.random.default_rng(0).random((5000, 2)),
     method="cubic", resolution=200), "'resolution'", "method='linear'")
case("rendering", "unknown method", _topo(method="bilinear"), "'method'", "linear")
case("rendering", "unknown mask", _topo(mask="square"), "'mask'", "hull")
case("rendering", "extent reversed", _topo(extent=(1, 0, 0, 1)), "'extent'")
case("rendering", "extent of 2 numbers", _topo(extent=(0, 1)), "'extent'")
case("rendering", "extent with NaN", _topo(extent=(0, np.nan, 0, 1)), "'extent'")
case("rendering", "positions (n, 3)", _topo(np.zeros((5, 3))), "'layout_or_positions'", "(5, 3)")
case("rendering", "positions empty", _topo(np.zeros((0, 2))), "'layout_or_positions'")
case("rendering", "positions with NaN", _topo(nan_at(POS)), "'layout_or_positions'", "non-finite")
case("rendering", "positions as text", _topo("positions"), "'layout_or_positions'")
case("rendering", "collinear positions, linear", _topo(np.c_[np.arange(6.0), np.arange(6.0)]), "nearest",
     error=InvalidInputError)
case("rendering", "two positions, linear", _topo(POS[:2]), "nearest", error=InvalidInputError)
case("rendering", "all positions equal, hull mask", _topo(np.ones((4, 2)), method="nearest"), "mask",
     error=InvalidInputError)
case("rendering", "values of a wrong length", lambda e: mod("render").TopoRenderer(
    POS, resolution=10).render(np.zeros(5)), "'values'", "12", error=InvalidInputError)
case("rendering", "values as text", lambda e: mod("render").TopoRenderer(
    POS, resolution=10).render("abc"), "'values'")
case("rendering", "render dtype=int", lambda e: mod("render").TopoRenderer(
    POS, resolution=10).render(np.zeros(12), dtype=int), "'dtype'")
case("rendering", "render_rgba unknown cmap", lambda e: mod("render").TopoRenderer(
    POS, resolution=10).render_rgba(np.zeros(12), cmap="no_such_map", norm=None), "'cmap'")
case("rendering", "get_renderer resolution=10**6", lambda e: mod("render").get_renderer(
    POS, resolution=10**6), "'resolution'")


def _accept_constant(e: Env) -> None:
    from actconf.render import TopoRenderer

    image = TopoRenderer(POS, resolution=16).render(np.full(12, 3.0))
    drawn = image[np.isfinite(image)]
    assert drawn.size > 0 and np.allclose(drawn, 3.0)


def _accept_single(e: Env) -> None:
    from actconf.render import TopoRenderer

    image = TopoRenderer(POS[:1], resolution=8, method="nearest", mask="circle").render(np.array([2.0]))
    assert np.allclose(image[np.isfinite(image)], 2.0)


accepted("rendering", "all-equal values render as a constant map", _accept_constant)
accepted("rendering", "one neuron, nearest + circle, renders a constant map", _accept_single)


# --------------------------------------------------------------------------- layouts
def _layout(fn: str, *args: Any, **kw: Any) -> Callable[[Env], Any]:
    import actconf.layout as lay

    def call(e: Env) -> Any:
        real = [e.run if a is RUN else a for a in args]
        return getattr(lay, fn)(*real, **kw)

    return call


RUN = object()  # placeholder for the shared run in argument lists
PROFILES = np.random.default_rng(0).random((12, 5))
case("layout", "compute_layout unknown method", _layout("compute_layout", PROFILES, method="bogus"), "'method'")
case("layout", "compute_layout profiles with NaN", _layout("compute_layout", nan_at(PROFILES), method="pca"),
     "'profiles'")
case("layout", "compute_layout 1-D profiles", _layout("compute_layout", np.ones(5), method="pca"), "'profiles'")
case("layout", "compute_layout profiles as text", _layout("compute_layout", "abc", method="pca"), "'profiles'")
case("layout", "compute_layout unknown option", _layout("compute_layout", PROFILES, method="pca", colour=1),
     "colour")
case("layout", "compute_layout n_neighbors=1", _layout("compute_layout", PROFILES, method="umap", n_neighbors=1),
     "'n_neighbors'")
case("layout", "compute_layout seed=-1", _layout("compute_layout", PROFILES, method="pca", seed=-1), "'seed'")
case("layout", "compute_layout grid side too small", _layout("compute_layout", PROFILES, method="grid", side=2),
     "'side'")
case("layout", "compute_layout steps=0", _layout("compute_layout", PROFILES, method="graph", steps=0), "'steps'")
case("layout", "layout_from_run unknown layer", _layout("layout_from_run", RUN, "nope", method="pca"), "nope")
case("layout", "layout_from_run unknown method", _layout("layout_from_run", RUN, "dense", method="bogus"),
     "'method'")
case("layout", "layout_from_run unknown method on a 1-sample probe",
     lambda e: mod("layout").layout_from_run(e.one, method="bogus"), "'method'")
case("layout", "layout_from_run unknown by", _layout("layout_from_run", RUN, "dense", method="pca", by="bogus"),
     "'by'")
case("layout", "layout_from_run on a folder path of a foreign run",
     lambda e: mod("layout").layout_from_run(e.paths["foreign"], method="pca"),
     "manifest.json")
case("layout", "load_layout not saved", _layout("load_layout", RUN, "dense", name="nope"), "nope")
case("layout", "load_layout name '..'", _layout("load_layout", RUN, "dense", name=".."), "'name'")
case("layout", "load_layout name with a slash", _layout("load_layout", RUN, "dense", name="a/b"), "'name'")
case("layout", "list_layouts(42)", _layout("list_layouts", 42), "'run'")
case("layout", "ensure_layout unknown method", _layout("ensure_layout", RUN, "dense", method="bogus"), "'method'")
case("layout", "ensure_layout save='yes'", _layout("ensure_layout", RUN, "dense", method="pca", save="yes"),
     "'save'")
case("layout", "layout_quality rows differ", _layout("layout_quality", POS, PROFILES[:5]), "'profiles'")
case("layout", "layout_quality k=0", _layout("layout_quality", POS, PROFILES, k=0), "'k'")
case("layout", "layout_quality resolution=5", _layout("layout_quality", POS, PROFILES, resolution=5),
     "'resolution'")
case("layout", "layout_quality resolution=10**5", _layout("layout_quality", POS, PROFILES, resolution=10**5),
     "'resolution'", "2048")
case("layout", "layout_quality unknown quality", _layout("layout_quality", POS, PROFILES, quality="bogus"),
     "'quality'")
case("layout", "refine_layout steps=0", _layout("refine_layout", POS, profiles=PROFILES, steps=0), "'steps'")
case("layout", "compare_layouts repeats=0", _layout("compare_layouts", RUN, repeats=0, methods=["pca"]),
     "'repeats'")
case("layout", "compare_layouts unknown method", _layout("compare_layouts", RUN, methods=["bogus"]), "bogus")
case("layout", "Layout.save into a foreign run", lambda e: e.layout.save(e.paths["foreign"]), "manifest.json")
case("layout", "Layout.save over an existing name", lambda e: e.layout.save(e.run, name="../escape"), "'name'")


# --------------------------------------------------------------------------- analysis
def _an(fn: str, *args: Any, **kw: Any) -> Callable[[Env], Any]:
    import actconf.analysis as an

    def call(e: Env) -> Any:
        real = [e.run if a is RUN else a for a in args]
        return getattr(an, fn)(*real, **kw)

    return call


case("analysis", "activity_confidence unknown layer", _an("activity_confidence", RUN, layers="nope"), "nope")
case("analysis", "activity_confidence layers=[]", _an("activity_confidence", RUN, layers=[]), "'layers'")
case("analysis", "activity_confidence layers=3", _an("activity_confidence", RUN, layers=3), "'layers'")
case("analysis", "activity_confidence unknown activity", _an("activity_confidence", RUN, activity="max"),
     "'activity'")
case("analysis", "activity_confidence n_boot=-1", _an("activity_confidence", RUN, n_boot=-1), "'n_boot'")
case("analysis", "activity_confidence n_boot=10**9", _an("activity_confidence", RUN, n_boot=10**9), "'n_boot'",
     "100000")
case("analysis", "activity_confidence ci=1.5", _an("activity_confidence", RUN, ci=1.5), "'ci'")
case("analysis", "activity_confidence ci=0", _an("activity_confidence", RUN, ci=0), "'ci'")
case("analysis", "activity_confidence threshold=NaN", _an("activity_confidence", RUN, threshold=np.nan),
     "'threshold'")
case("analysis", "activity_confidence control='yes'", _an("activity_confidence", RUN, control="yes", n_boot=0),
     "'control'")
case("analysis", "activity_confidence seed='x'", _an("activity_confidence", RUN, seed="x"), "'seed'")
case("analysis", "activity_confidence unknown measure", _an("activity_confidence", RUN, measure="bogus"),
     "'measure'")
case("analysis", "activity_confidence on a path", _an("activity_confidence", "some/run"), "'run'")
case("analysis", "activity_confidence with a 1-sample probe", lambda e: mod("analysis").activity_confidence(
    e.one, n_boot=0), "1 probe sample", "at least 3", error=InvalidInputError)
case("analysis", "neuron_correlation with a 1-sample probe", lambda e: mod("analysis").neuron_correlation(
    e.one), "1 probe sample", error=InvalidInputError)
case("analysis", "neuron_correlation unknown layer", _an("neuron_correlation", RUN, "nope"), "nope")
case("analysis", "sample_activity unknown activity", _an("sample_activity", RUN, activity="bogus"), "'activity'")
case("analysis", "sample_activity threshold='0'", _an("sample_activity", RUN, threshold="0"), "'threshold'")
case("analysis", "bin_statistics min_size=0", _an("bin_statistics", RUN, min_size=0), "'min_size'")
case("analysis", "bin_statistics n_splits=0", _an("bin_statistics", RUN, n_splits=0), "'n_splits'")
case("analysis", "bin_statistics bins='quantile:100000000'", _an("bin_statistics", RUN, bins="quantile:100000000"),
     "'bins'", "1000")
case("analysis", "bin_statistics seed=-1", _an("bin_statistics", RUN, seed=-1), "'seed'")
case("analysis", "claim_summary n_boot=10", _an("claim_summary", RUN, n_boot=10), "'n_boot'")
case("analysis", "claim_summary n_boot=10**9", _an("claim_summary", RUN, n_boot=10**9), "'n_boot'", "100000")
case("analysis", "claim_summary alpha=0.9", _an("claim_summary", RUN, alpha=0.9), "'alpha'")
case("analysis", "claim_summary unknown groups", _an("claim_summary", RUN, groups="bogus"), "'groups'")
case("analysis", "claim_summary runs=[]", _an("claim_summary", []), "'runs'")
case("analysis", "statement_trajectories runs='x'", _an("statement_trajectories", "x"), "'runs'")
case("analysis", "statement_trajectories unknown activity", _an("statement_trajectories", RUN, activity="bogus"),
     "'activity'")
case("analysis", "sign_flip_pvalue n_resamples=0", _an("sign_flip_pvalue", np.ones(20), n_resamples=0),
     "'n_resamples'")
case("analysis", "sign_flip_pvalue n_resamples=10**9", _an("sign_flip_pvalue", np.ones(20), n_resamples=10**9),
     "'n_resamples'", "1000000")
case("analysis", "trend_tests of text", _an("trend_tests", "table"), "'table'")
case("analysis", "trend_tests unknown metric", lambda e: mod("analysis").trend_tests(
    mod("analysis").bin_statistics(e.run, min_size=1), metrics=["bogus"]), "bogus")


def _accept_flat(e: Env) -> None:
    from actconf.analysis import activity_confidence

    with pytest.warns(errors.ActconfWarning, match="same for every probe sample"):
        table = activity_confidence(e.flat, n_boot=0, control=False)
    assert table["rho"].isna().all()


accepted("analysis", "a constant confidence gives NaN rho with a warning", _accept_flat)


# --------------------------------------------------------------------------- figures and reports
def _plot(fn: str, *args: Any, **kw: Any) -> Callable[[Env], Any]:
    import actconf.plots as plots

    def call(e: Env) -> Any:
        real = [e.run if a is RUN else e.nap if a is NAP else e.layout if a is LAYOUT else a for a in args]
        return getattr(plots, fn)(*real, **kw)

    return call


NAP, LAYOUT = object(), object()
case("figures", "MapStyle unknown cmap", lambda e: mod("plots").MapStyle(cmap="no_such"),
     "'cmap'")
case("figures", "MapStyle unknown share", lambda e: mod("plots").MapStyle(share="bogus"),
     "'share'")
case("figures", "MapStyle contours=-1", lambda e: mod("plots").MapStyle(contours=-1),
     "'contours'")
case("figures", "MapStyle vlim reversed", lambda e: mod("plots").MapStyle(vlim=(1, 0)),
     "'vlim'")
case("figures", "MapStyle unknown method", lambda e: mod("plots").MapStyle(method="bogus"),
     "'method'")
case("figures", "plot_map values of a wrong length", _plot("plot_map", np.zeros(5), LAYOUT), "12")
case("figures", "plot_map_grid unknown rows", _plot("plot_map_grid", NAP, LAYOUT, rows="bogus"), "'rows'")
case("figures", "plot_confidence of text", _plot("plot_confidence", "conf"), "'conf'")
case("figures", "plot_confidence max_snapshots=0", lambda e: mod("plots").plot_confidence(
    mod("confidence").confidence(e.run), max_snapshots=0), "'max_snapshots'")
case("figures", "plot_calibration of text", _plot("plot_calibration", "table"), "'tables'")
case("figures", "plot_reliability of text", _plot("plot_reliability", "table"), "'table'")
case("figures", "plot_correlation of text", _plot("plot_correlation", "table"), "'table'")
case("figures", "plot_bin_statistics of text", _plot("plot_bin_statistics", "table"), "'table'")
case("figures", "plot_training unknown x", _plot("plot_training", RUN, x="bogus"), "'x'")
case("figures", "pick_snapshots n=1", _plot("pick_snapshots", RUN, n=1), "'n'")
case("figures", "plot_layouts of text", _plot("plot_layouts", "layouts", np.zeros(12)), "'layouts'")
case("figures", "animate_maps fps=0", lambda e: mod("animate").animate_maps(
    e.nap, e.layout, e.out / "a.gif", fps=0, progress=False), "'fps'")
case("reports", "build_report unknown method", lambda e: mod("report").build_report(
    e.run, method="bogus", progress=False), "'method'")
case("reports", "build_report unknown measure", lambda e: mod("report").build_report(
    e.run, measure="bogus", progress=False), "'measure'")
case("reports", "build_report unknown layer", lambda e: mod("report").build_report(
    e.run, "nope", progress=False), "nope")
case("reports", "build_report seed=-1", lambda e: mod("report").build_report(
    e.run, seed=-1, progress=False), "'seed'")
case("reports", "build_report out is a file", lambda e: mod("report").build_report(
    e.run, out=e.paths["a_file"], progress=False), "a_file.txt")
case("reports", "build_report on a foreign folder", lambda e: mod("report").build_report(
    e.paths["foreign"], progress=False), "manifest.json")


# --------------------------------------------------------------------------- writing runs
def _write(name: str, **arrays: Any) -> Callable[[Env], Any]:
    def call(e: Env) -> Any:
        kw = {"activations": {"h": np.zeros((2, 5, 3))}, "labels": np.arange(5) % 2,
              "logits": np.zeros((2, 5, 2)), **arrays}
        return testing.write_synthetic_run(e.out / name, **kw)

    return call


case("writing", "write over an existing run", lambda e: testing.write_synthetic_run(
    e.run.path, **testing.synthetic_arrays(n_snapshots=4)), str(Path("run")), error=RunExistsError)
case("writing", "write into a foreign folder", lambda e: testing.write_synthetic_run(
    e.paths["foreign"], **testing.synthetic_arrays(n_snapshots=4), overwrite=True), "foreign",
     error=RunExistsError)
case("writing", "no logits and no probabilities", _write("nolog", logits=None), "'logits'")


def _accept_dots(e: Env) -> None:
    run = _write("dots", activations={"..": np.ones((2, 5, 3)), ".": np.zeros((2, 5, 2))})(e)
    assert run.layers == ["..", "."]
    assert run.activations("..").shape == (2, 5, 3) and float(run.activations("..").max()) == 1.0
    assert all(".." not in Path(p).parts for p in (entry["array"] for entry in run.manifest["layers"]))


accepted("writing", "a layer named '..' is stored under a safe key", _accept_dots)


# --------------------------------------------------------------------------- datasets and models
def _ds(key: str, **kw: Any) -> Callable[[Env], Any]:
    from actconf.datasets import load_dataset

    return lambda e: load_dataset(e.paths[key] if key in e.paths else key, **kw)


case("datasets", "unknown dataset name", _ds("imagenet"), "'name'", "digits")
case("datasets", "dataset name of a wrong type", lambda e: mod("datasets").load_dataset(3),
     "'name'")
case("datasets", "a missing .npz", lambda e: mod("datasets").load_dataset(
    e.base / "no.npz"), "no.npz", error=DatasetNotAvailableError)
case("datasets", "NaN in a user npz", _ds("nan"), "x_train", "NaN", error=InvalidInputError)
case("datasets", "an npz without y_test", _ds("missing_key"), "y_test", error=InvalidInputError)
case("datasets", "float labels in an npz", _ds("float_labels"), "y_train", error=InvalidInputError)
case("datasets", "negative labels in an npz", _ds("negative_labels"), "y_train", error=InvalidInputError)
case("datasets", "pixel values out of [0, 1]", _ds("out_of_range"), "x_train", error=InvalidInputError)
case("datasets", "inputs and labels differ in length", _ds("length"), "x_train", error=InvalidInputError)
case("datasets", "train and test shapes differ", _ds("shapes"), "x_test", error=InvalidInputError)
case("datasets", "an object array in an npz", _ds("object"), "class_names", error=InvalidInputError)
case("datasets", "a single .npy array", _ds("npy"), "single.npy", error=InvalidInputError)
case("datasets", "a damaged .npz", _ds("garbage"), "garbage.npz", error=InvalidInputError)
case("datasets", "max_train=0", _ds("digits", max_train=0), "'max_train'")
case("datasets", "seed=-1", _ds("digits", seed=-1), "'seed'")
case("datasets", "make_probe n_per_class=0", lambda e: mod("datasets").make_probe(
    e.dataset, n_per_class=0), "'n_per_class'")
case("datasets", "make_probe unknown split", lambda e: mod("datasets").make_probe(
    e.dataset, split="valid"), "'split'")
case("datasets", "make_probe of an array", lambda e: mod("datasets").make_probe(
    np.zeros((3, 3))), "'dataset'")
case("datasets", "dataset_search_paths('digits')",
     lambda e: mod("datasets").dataset_search_paths("digits"), "'name'")
case("models", "build_mlp n_classes=1", lambda e: mod("models").build_mlp(
    (8, 8, 1), 1), "'n_classes'")
case("models", "build_cnn filters=0", lambda e: mod("models").build_cnn(
    (8, 8, 1), 10, filters=0), "'filters'")


# --------------------------------------------------------------------------- the recorder's arguments
X_PROBE = np.random.default_rng(0).random((10, 8, 8, 1)).astype(np.float32)
Y_PROBE = np.arange(10) % 10


def _rec(directory: str = "rec", x: Any = X_PROBE, y: Any = Y_PROBE, **kw: Any) -> Callable[[Env], Any]:
    def call(e: Env) -> Any:
        from actconf.callbacks import ActivationRecorder

        target = e.run.path if directory == "RUN" else e.paths.get(directory, e.out / directory)
        return ActivationRecorder(target, x, y, **kw)

    return call


case("recorder", "layers=[]", _rec(layers=[]), "'layers'")
case("recorder", "layers=[3]", _rec(layers=[3]), "'layers'")
case("recorder", "layers=5", _rec(layers=5), "'layers'")
case("recorder", "y_probe with a label -3", _rec(y=np.r_[-3, Y_PROBE[1:]]), "'y_probe'")
case("recorder", "every_n_batches=0", _rec(every_n_batches=0), "'every_n_batches'")
case("recorder", "every_n_batches='5'", _rec(every_n_batches="5"), "'every_n_batches'")
case("recorder", "every_n_batches=2.5", _rec(every_n_batches=2.5), "'every_n_batches'")
case("recorder", "batch_epochs=0", _rec(batch_epochs=0), "'batch_epochs'")
case("recorder", "mc_samples=-1", _rec(mc_samples=-1), "'mc_samples'")
case("recorder", "probe_batch_size=0", _rec(probe_batch_size=0), "'probe_batch_size'")
case("recorder", "output='logits!'", _rec(output="logits!"), "'output'")
case("recorder", "on_error='ignore'", _rec(on_error="ignore"), "'on_error'")
case("recorder", "dtype='int8'", _rec(dtype="int8"), "'dtype'")
case("recorder", "x_probe as text", _rec(x="images"), "'x_probe'")
case("recorder", "x_probe empty", _rec(x=X_PROBE[:0], y=Y_PROBE[:0]), "'x_probe'")
case("recorder", "x_probe 1-D", _rec(x=np.zeros(10)), "'x_probe'")
case("recorder", "x_probe with NaN", _rec(x=nan_at(X_PROBE)), "'x_probe'")
case("recorder", "probe_indices of a wrong length", _rec(probe_indices=[1, 2]), "'probe_indices'")
case("recorder", "into an existing run", _rec("RUN"), "run", error=RunExistsError)
case("recorder", "into a foreign folder", _rec("foreign", overwrite=True), "foreign", error=RunExistsError)
case("recorder", "into a file", _rec("a_file"), "a_file.txt")


# --------------------------------------------------------------------------- the command line
CLI: list[tuple[str, list[str], tuple[str, ...]]] = []


def cli(id_: str, argv: list[str], *names: str) -> None:
    CLI.append((id_, argv, names))


for _arg, _value in [("--epochs", "0"), ("--epochs", "-1"), ("--epochs", "ten"), ("--batch-size", "0"),
                     ("--every-n-batches", "0"), ("--probe-per-class", "0"), ("--mc-samples", "-1"),
                     ("--seeds", "0"), ("--seed", "-1"), ("--max-train", "0")]:
    cli(f"run {_arg} {_value}", ["run", _arg, _value, "--out", "{out}/cli_run"], _arg)
cli("run --dataset bogus", ["run", "--dataset", "bogus", "--out", "{out}/cli_run"], "--dataset", "bogus")
cli("run --dataset a missing .npz", ["run", "--dataset", "{missing}/data.npz", "--out", "{out}/cli_run"], "dataset", "check the path")
cli("run --model resnet", ["run", "--model", "resnet", "--out", "{out}/cli_run"], "--model")
cli("run --layout bogus", ["run", "--layout", "bogus", "--out", "{out}/cli_run"], "bogus")
cli("run --max-train 5", ["run", "--max-train", "5", "--out", "{out}/cli_run"], "max_train")
cli("run --out an existing run", ["run", "--out", "{run}"], "{run}")
cli("run --out a file", ["run", "--out", "{a_file}"], "a_file.txt")
cli("report of a missing folder", ["report", "{missing}"], "does_not_exist")
cli("report of a foreign folder", ["report", "{foreign}"], "manifest.json")
cli("report --measure bogus", ["report", "{run}", "--measure", "bogus"], "'measure'")
cli("report --layer nope", ["report", "{run}", "--layer", "nope"], "nope")
cli("report --layout bogus", ["report", "{run}", "--layout", "bogus"], "bogus")
cli("info of a missing folder", ["info", "{missing}"], "does_not_exist")
cli("info of a truncated manifest", ["info", "{truncated}"], "manifest")
cli("info of a manifest without layers", ["info", "{no_layers}"], "'layers'")
cli("repair of a foreign folder", ["repair", "{foreign}"], "manifest.json")
cli("notebooks --copy with a run", ["notebooks", "{run}", "--copy", "{out}/nbs"], "--copy")
cli("an unknown command", ["train"], "train")
cli("no command", [], "COMMAND")


# --------------------------------------------------------------------------- the checks
@pytest.fixture(scope="module")
def hashes(env):
    return testing.folder_hashes(env.base)


def _unchanged(env: Env, before: dict[str, str]) -> None:
    after = testing.folder_hashes(env.base)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"files of existing runs changed: {changed[:10]}"


@pytest.mark.parametrize("row", CASES, ids=[f"{c.kind}: {c.id}" for c in CASES])
def test_bad_input(row: Case, env: Env, hashes: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.DamagedRunWarning)
        if row.accepted:
            row.call(env)
        else:
            with pytest.raises(row.error) as info:
                row.call(env)
            assert isinstance(info.value, ActconfError)
            message = str(info.value)
            for name in row.names:
                assert name in message, f"{name!r} not named in: {message}"
            assert FIX.search(message), f"no fix in: {message}"
    _unchanged(env, hashes)


@pytest.mark.parametrize("row", CLI, ids=[c[0] for c in CLI])
def test_bad_cli_arguments(row, env: Env, hashes: dict[str, str], capsys) -> None:
    from actconf.cli import main

    id_, argv, names = row
    subs = {"out": str(env.out), "base": str(env.base), "run": str(env.run.path),
            **{k: str(v) for k, v in env.paths.items()}}
    argv = [a.format(**subs) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses the arguments themselves
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2), f"exit code {code}; stderr: {err}"
    for name in names:
        assert name.format(**subs) in err, f"{name!r} not named in: {err}"
    assert FIX.search(err) or "usage:" in err, f"no fix in: {err}"
    assert not (env.out / "cli_run").exists()
    _unchanged(env, hashes)


def counts() -> dict[str, int]:
    """Rows per kind (the figures docs/reliability.md quotes)."""
    by_kind = Counter(c.kind for c in CASES)
    by_kind["command line"] = len(CLI)
    return dict(by_kind)


def test_doc_counts() -> None:
    """docs/reliability.md quotes these tables' sizes: keep them in step."""
    doc = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"^\| ([a-z ]+) \| (\d+) \|", doc, flags=re.MULTILINE))
    expected = counts()
    assert {k: int(v) for k, v in found.items() if k in expected} == expected
    total = sum(expected.values())
    n_accepted = sum(c.accepted for c in CASES)
    assert doc.count(f"**{total} bad inputs**") == 2
    assert f"({len(CASES)} API calls,\n{len(CLI)} command lines)" in doc
    assert f"of which {total - n_accepted}\nraise an actconf error" in doc
    assert f"{total - n_accepted} raise an actconf error, {n_accepted} are documented acceptances" in doc
    assert total >= 150


if __name__ == "__main__":  # print the figures for docs/reliability.md
    for kind, n in counts().items():
        print(f"| {kind} | {n} |")
    print("total", sum(counts().values()), file=sys.stderr)
