"""The Layout value and its files in a run: validation, save/load round trip, listing, damage, ensure_layout."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from actconf.errors import (
    ActconfError,
    CorruptRunError,
    InvalidParameterError,
    MissingDataError,
)
from actconf.layout import (
    Layout,
    compute_layout,
    ensure_layout,
    layout_from_run,
    list_layouts,
    load_layout,
)


def test_layout_value_rejects_bad_fields():
    with pytest.raises(InvalidParameterError, match="\\[0, 1\\]"):
        Layout(positions=np.array([[0.0, 2.0]]))
    with pytest.raises(InvalidParameterError, match="shape"):
        Layout(positions=np.zeros((3, 3)))
    with pytest.raises(InvalidParameterError, match="distinct"):
        Layout(positions=np.zeros((2, 2)), neurons=[1, 1])
    ok = Layout(positions=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="read-only"):
        ok.positions[0, 0] = 1.0
    assert all(issubclass(e, ActconfError) for e in (InvalidParameterError, MissingDataError))



# --------------------------------------------------------------------------- runs and storage
def test_layout_from_run_save_load_round_trip(fresh_layout_run):
    run, _, _ = fresh_layout_run
    layout = layout_from_run(run, "dense", method="som", seed=3)
    assert layout.layer == "dense" and layout.source_snapshot == 2 and layout.seed == 3
    assert layout.dead.tolist() == [False] * 20 + [True] * 4
    assert layout.params["profiles"]["groups"] == [str(c) for c in range(10)]
    path = layout.save(run, name="som3")
    assert path == run.path / "layouts" / "dense" / "som3.json"
    loaded = load_layout(run, "dense", name="som3")
    assert loaded.equals(layout)
    np.testing.assert_array_equal(loaded.positions, layout.positions)
    assert loaded.params == json.loads(json.dumps(layout.params))
    # plain files: JSON metadata, arrays readable without pickle
    meta = json.loads(path.read_text())
    assert meta["method"] == "som" and meta["seed"] == 3 and meta["source_snapshot"] == 2
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
        np.testing.assert_array_equal(data["positions"], layout.positions)
        np.testing.assert_array_equal(data["neurons"], np.arange(24))
    # the same layout again (a re-run notebook) is fine; a different one needs overwrite=True
    layout.save(run, name="som3")
    other = layout_from_run(run, "dense", method="som", seed=4)
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        other.save(run, name="som3")
    other.save(run, name="som3", overwrite=True)
    assert load_layout(run.path, "dense", name="som3").equals(other)
    # a renderer takes the layout directly
    from actconf.render import TopoRenderer

    assert TopoRenderer(loaded, resolution=20).render(np.zeros(24)).shape == (20, 20)


def test_list_layouts_and_missing_layout(fresh_layout_run):
    run, _, _ = fresh_layout_run
    layout_from_run(run, "other", method="pca").save(run)  # default name
    table = list_layouts(run)
    assert {"layer", "name", "method", "refined", "n_neurons"} <= set(table.columns)
    row = table[(table.layer == "other") & (table.name == "default")].iloc[0]
    assert row.method == "pca" and row.n_neurons == 6 and not row.refined
    with pytest.raises(MissingDataError, match="'nope'.*Saved layouts for this layer: 'default'"):
        load_layout(run, "other", name="nope")
    with pytest.raises(InvalidParameterError, match="Recorded layers"):
        load_layout(run, "missing_layer")


def test_damaged_layout_files_are_reported(fresh_layout_run, tmp_path):
    run, _, _ = fresh_layout_run
    lay_ = layout_from_run(run, "other", method="pca")
    path = lay_.save(run, name="fragile")
    npz = path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(CorruptRunError, match="checksum"):
        load_layout(run, "other", name="fragile")
    path.write_text("{not json")
    with pytest.raises(CorruptRunError, match="cannot be read"):
        load_layout(run, "other", name="fragile")


def test_saving_needs_a_matching_layer(fresh_layout_run, planted):
    run, _, _ = fresh_layout_run
    x, _ = planted
    bare = compute_layout(x, method="pca")
    with pytest.raises(InvalidParameterError, match="has no layer"):
        bare.save(run)
    with pytest.raises(InvalidParameterError, match="layer 'other'.*6 neurons"):
        dataclasses.replace(bare, layer="other").save(run)
    with pytest.raises(InvalidParameterError, match="'name' parameter"):
        layout_from_run(run, "other", method="pca").save(run, name="../evil")
    with pytest.raises(InvalidParameterError, match="exactly one snapshot"):
        layout_from_run(run, "other", method="pca", snapshot="all")



# --------------------------------------------------------------------------- ensure_layout
def _files(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def test_ensure_layout_computes_without_touching_the_run(fresh_layout_run):
    run, _, _ = fresh_layout_run
    before = _files(run.path)
    lay_ = ensure_layout(run, "dense", method="som", seed=3)
    assert _files(run.path) == before  # nothing written without save=True
    assert lay_.saved_as is None and lay_.method == "som" and lay_.seed == 3
    assert lay_.layer == "dense" and lay_.source_snapshot == 2 and lay_.n_neurons == 24
    with pytest.raises(MissingDataError):
        load_layout(run, "dense")


def test_ensure_layout_saves_when_asked_and_a_saved_layout_wins(fresh_layout_run):
    run, _, _ = fresh_layout_run
    saved = ensure_layout(run.path, "dense", name="mine", method="som", seed=3, save=True)
    assert saved.saved_as == "mine"
    assert (run.path / "layouts" / "dense" / "mine.json").is_file()
    assert load_layout(run, "dense", name="mine").equals(saved)
    # method and seed no longer matter once a layout of that name is saved
    before = _files(run.path)
    again = ensure_layout(run, "dense", name="mine", method="pca", seed=9)
    assert _files(run.path) == before
    assert again.method == "som" and again.seed == 3 and again.saved_as == "mine"
    np.testing.assert_array_equal(again.positions, saved.positions)
    # a damaged saved layout is reported, not silently recomputed
    npz = run.path / "layouts" / "dense" / "mine.npz"
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(CorruptRunError, match="checksum"):
        ensure_layout(run, "dense", name="mine", method="pca")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"save": "yes"}, "'save' parameter of ensure_layout"),
        ({"method": "spectral"}, "'method' parameter of ensure_layout"),
        ({"name": "../evil"}, "'name' parameter of ensure_layout"),
    ],
)
def test_ensure_layout_rejects_bad_arguments(layout_run, kwargs, match):
    run, _, _ = layout_run
    with pytest.raises(InvalidParameterError, match=match):
        ensure_layout(run, "dense", **kwargs)


@pytest.mark.parametrize("func", [load_layout, list_layouts, ensure_layout])
def test_functions_on_runs_reject_what_is_not_a_run(func):
    with pytest.raises(InvalidParameterError, match="'run' parameter.*open_run"):
        func(42)


def test_save_into_a_read_only_run_is_a_storage_error(fresh_layout_run, monkeypatch):
    import os as _os

    from actconf.errors import StorageError
    from actconf.layout import layout_from_run

    run = fresh_layout_run[0]
    lay = layout_from_run(run, run.layers[0], method="pca")
    real_replace = _os.replace

    def read_only(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(_os, "replace", read_only)
    with pytest.raises(StorageError, match="cannot write the layout") as info:
        lay.save(run)
    assert info.value.errno == 30 and "layouts" in info.value.path
    monkeypatch.setattr(_os, "replace", real_replace)
    assert not list((run.path / "layouts").rglob("*.partial"))
    assert not list((run.path / "layouts").rglob("*.json"))
