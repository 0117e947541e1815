"""UMAP's compiled code on disk: where it goes, that a second process loads it, same layouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actconf.layout import _umap

# A fresh process: one UMAP layout of 128 neurons; reports the positions and which of
# the cached functions numba compiled (instead of loading them from the disk cache).
FIT = r"""
import json, sys, time
from numba.core import event
import numpy as np

compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        disp = ev.data.get("dispatcher")
        func = getattr(disp, "py_func", None)
        if func is not None:
            compiled.append(f"{func.__module__}:{func.__name__}")

event.register("numba:compile", Listener())
from actconf.layout import compute_layout
from actconf.layout._umap import CACHED_FUNCTIONS

x = np.random.default_rng(0).normal(size=(128, 10))
t = time.perf_counter()
pos = compute_layout(x, method="umap", seed=3).positions
print(json.dumps({"positions": pos.tolist(), "seconds": time.perf_counter() - t,
                  "compiled": sorted(set(compiled) & {f"{m}:{n.removeprefix('_nb')}" for m, n in CACHED_FUNCTIONS}),
                  "eager": sorted(c for c in set(compiled) if c.startswith("umap.utils:tau_rand"))}))
"""

# umap.UMAP on the same input and arguments: through actconf (disk cache, eager compiles
# cached) or plainly (a process that never imports actconf).
RAW = r"""
import json, sys
import numpy as np

x = np.random.default_rng(1).normal(size=(128, 10))
x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
kwargs = dict(n_neighbors=15, min_dist=0.1, metric="euclidean", random_state=7, n_jobs=1, init="spectral")
if sys.argv[1] == "actconf":
    from actconf.layout._umap import fit_umap
    pos = fit_umap(x, **kwargs)
else:
    import umap
    pos = umap.UMAP(**kwargs).fit_transform(x)
    assert "actconf" not in sys.modules
print(json.dumps(np.asarray(pos, dtype=np.float64).tolist()))
"""


def _env(cache_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache_home)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(_umap.__file__).parents[2]), env.get("PYTHONPATH", "")])
    return env


def _fit_in_fresh_process(cache_home: Path) -> tuple[dict, str]:
    out = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True, timeout=600,
                         env=_env(cache_home))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_cache_dir_follows_numba_then_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _umap.umap_cache_dir() == tmp_path / "xdg" / "actconf" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if os.name != "nt":
        assert _umap.umap_cache_dir() == tmp_path / "home" / ".cache" / "actconf" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert _umap.umap_cache_dir() == tmp_path / "numba"
    assert not (tmp_path / "numba").exists()  # nothing is created by asking


@pytest.mark.slow
def test_second_process_loads_the_compiled_code_and_gives_the_same_layout(tmp_path):
    cold, cold_err = _fit_in_fresh_process(tmp_path)
    folder = tmp_path / "actconf" / "numba"
    assert "compiling umap-learn's numba code" in cold_err and str(folder) in cold_err
    assert cold["compiled"], "the first process should have compiled umap-learn's functions"
    assert list(folder.glob("actconf-umap-*.ready")) and list(folder.rglob("*.nbi"))

    assert cold["eager"] == ["umap.utils:tau_rand", "umap.utils:tau_rand_int"]  # compiled by `import umap`
    assert list(folder.rglob("utils.tau_rand_int-*.nbi"))

    warm, warm_err = _fit_in_fresh_process(tmp_path)
    assert "compiling" not in warm_err
    assert warm["compiled"] == []  # every cached function came from disk
    assert warm["eager"] == []  # including the ones `import umap` compiles
    np.testing.assert_array_equal(np.array(warm["positions"]), np.array(cold["positions"]))


@pytest.mark.slow
def test_unwritable_cache_folder_means_no_cache(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(_umap, "_STATE", {"warm": False, "cache": None, "cache_checked": False})
    assert _umap.enable_disk_cache() is None
    assert _umap.enable_disk_cache() is None  # answered once per process
    assert blocker.read_text() == "not a folder"


def _raw_positions(how: str, cache_home: Path) -> np.ndarray:
    out = subprocess.run([sys.executable, "-c", RAW, how], capture_output=True, text=True, timeout=600,
                         env=_env(cache_home))
    assert out.returncode == 0, out.stderr[-3000:]
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_cached_umap_equals_plain_umap_learn(tmp_path):
    plain = _raw_positions("plain", tmp_path / "unused")
    cold = _raw_positions("actconf", tmp_path)  # fills the cache
    warm = _raw_positions("actconf", tmp_path)  # loads everything from it
    assert list((tmp_path / "actconf" / "numba").rglob("*.nbi"))
    np.testing.assert_array_equal(cold, plain)
    np.testing.assert_array_equal(warm, plain)


def test_eager_compile_hook_touches_only_umap_and_is_restored(tmp_path):
    numba = pytest.importorskip("numba")
    from numba.core import decorators

    original = decorators._jit
    with _umap.caching_eager_compiles(tmp_path):
        assert decorators._jit is not original
        outside = numba.njit("f8(f8)")(lambda v: v + 1.0)  # this test module: not umap's
    assert decorators._jit is original
    assert outside(1.0) == 2.0 and outside._cache.__class__.__name__ == "NullCache"
    assert not list(tmp_path.iterdir())
    with _umap.caching_eager_compiles(None):
        assert decorators._jit is original
