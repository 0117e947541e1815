"""Tests of actconf.datasets: loaders, search order, safe CIFAR unpickling, probes.

MNIST and CIFAR-10 are never downloaded: the tests write stand-in files in the real
formats. Every test that could reach a download either disables it or replaces
Keras' loader.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from actconf import datasets as D
from actconf.datasets import Dataset, Probe, dataset_search_paths, load_dataset, make_probe
from actconf.errors import (
    ActconfError,
    DatasetNotAvailableError,
    InvalidInputError,
    InvalidParameterError,
)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_real_keras_download = D._keras_download  # the fixture below replaces it; some tests restore it


# ------------------------------------------------------------------ stand-in writers


def _images(n: int, h: int, w: int, c: int | None, seed: int) -> np.ndarray:
    shape = (n, h, w) if c is None else (n, h, w, c)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _labels(n: int, seed: int, n_classes: int = 10) -> np.ndarray:
    # every class present, then shuffled
    y = np.arange(n) % n_classes
    return np.random.default_rng(seed).permutation(y).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> None:
    """An IDX file as LeCun's format defines it (big-endian dims after the magic)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_idx_set(folder: Path, seed: int = 0, n_train: int = 40, n_test: int = 20,
                  compress: bool = True) -> dict[str, np.ndarray]:
    arrays = {
        "x_train": _images(n_train, 28, 28, None, seed),
        "y_train": _labels(n_train, seed),
        "x_test": _images(n_test, 28, 28, None, seed + 1),
        "y_test": _labels(n_test, seed + 1),
    }
    for key, stem in D._IDX_FILES.items():
        write_idx(folder / stem, arrays[key], compress=compress)
    return arrays


def write_mnist_npz(path: Path, seed: int = 0, n_train: int = 30, n_test: int = 20):
    arrays = {
        "x_train": _images(n_train, 28, 28, None, seed),
        "y_train": _labels(n_train, seed),
        "x_test": _images(n_test, 28, 28, None, seed + 1),
        "y_test": _labels(n_test, seed + 1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> CIFAR rows: 1024 red, 1024 green, 1024 blue values."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


class _Py2Pickler(pickle._Pickler):
    """Writes bytes the way Python 2 wrote ``str`` (the official CIFAR-10 files).

    Python 3's protocol-2 pickles wrap bytes in ``_codecs.encode`` calls; Python 2
    used plain (SHORT_)BINSTRING opcodes, which load as bytes with
    ``encoding="bytes"``.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def py2_dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_cifar_py(folder: Path, n_per_batch: int = 6, seed: int = 0,
                   style: str = "py2") -> dict[str, np.ndarray]:
    """The cifar-10-python layout: six pickled dicts with bytes keys.

    ``style``: ``"py2"`` as the official files (Python 2, numpy 1 module names),
    ``"py2-numpy2"`` the same with numpy 2's module names, ``"protocol5"`` a file
    re-saved by Python 3 (numpy's ``_frombuffer`` path).
    """
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        x = _images(n_per_batch, 32, 32, 3, seed + i)
        y = _labels(n_per_batch, seed + i)
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in y],
                 b"data": _cifar_rows(x), b"filenames": [b"img.png"] * n_per_batch}
        if style == "protocol5":
            raw = pickle.dumps(batch, protocol=5)
            assert b"_frombuffer" in raw
        else:
            raw = py2_dumps(batch)
            assert b"_codecs" not in raw and b"numpy._core.multiarray" in raw
            if style == "py2":
                raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(raw)
        xs.append(x)
        ys.append(y)
    return {"x_train": np.concatenate(xs[:5]), "y_train": np.concatenate(ys[:5]),
            "x_test": xs[5], "y_test": ys[5]}


def write_cifar_bin(folder: Path, n_per_batch: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """The cifar-10-binary layout: records of 1 label byte + 3072 pixel bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i, name in enumerate([*(f"data_batch_{k}.bin" for k in range(1, 6)), "test_batch.bin"]):
        x = _images(n_per_batch, 32, 32, 3, seed + i)
        y = _labels(n_per_batch, seed + i)
        rec = np.concatenate([y[:, None], _cifar_rows(x)], axis=1).astype(np.uint8)
        (folder / name).write_bytes(rec.tobytes())
        xs.append(x)
        ys.append(y)
    return {"x_train": np.concatenate(xs[:5]), "y_train": np.concatenate(ys[:5]),
            "x_test": xs[5], "y_test": ys[5]}


def assert_matches(ds: Dataset, raw: dict[str, np.ndarray]) -> None:
    for split in ("train", "test"):
        x = raw[f"x_{split}"]
        if x.ndim == 3:
            x = x[..., None]
        np.testing.assert_array_equal(getattr(ds, f"x_{split}"), x.astype(np.float32) / 255)
        np.testing.assert_array_equal(getattr(ds, f"y_{split}"), raw[f"y_{split}"].astype(np.int64))
        assert getattr(ds, f"x_{split}").dtype == np.float32
        assert getattr(ds, f"y_{split}").dtype == np.int64


# -------------------------------------------------------------------------- fixtures


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Point every search root into tmp_path; no real file or download is reachable."""
    r = {
        "explicit": tmp_path / "explicit",
        "env": tmp_path / "env",
        "project": tmp_path / "project" / "data" / "datasets",
        "debian": tmp_path / "debian",
        "keras_home": tmp_path / "keras",
    }
    r["explicit"].mkdir()
    monkeypatch.delenv("ACTCONF_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(r["keras_home"]))
    monkeypatch.setenv("ACTCONF_DATA", str(r["project"].parent))  # the data folder
    monkeypatch.setattr(D, "_DEBIAN_DATA_DIR", r["debian"])

    def no_download(key):
        raise AssertionError(f"test tried to download {key}")

    monkeypatch.setattr(D, "_keras_download", no_download)
    return r


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ---------------------------------------------------------------------------- digits


def test_digits_is_a_fixed_stratified_70_30_split(digits):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    assert digits.name == "digits" and digits.source == "scikit-learn"
    assert digits.x_train.shape == (1257, 8, 8, 1) and digits.x_test.shape == (540, 8, 8, 1)
    assert digits.input_shape == (8, 8, 1) and digits.n_classes == 10
    assert digits.class_names == [str(i) for i in range(10)]
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    # a partition of load_digits(), rows scaled by 1/16
    tr, te = digits.info["train_index"], digits.info["test_index"]
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(digits.x_test.reshape(-1, 64), (x[te] / 16).astype(np.float32))
    np.testing.assert_array_equal(digits.y_train, y[tr])
    # stratified: every class's test share is 30 % to within one sample
    per_class = np.bincount(y)
    test_counts = np.bincount(digits.y_test, minlength=10)
    assert np.all(np.abs(test_counts - 0.3 * per_class) <= 1)
    assert test_counts.min() >= 50
    # fixed: a second load gives the same split
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.info["test_index"], te)


def test_digits_describe_is_json(digits):
    d = digits.describe()
    json.dumps(d)
    assert d["n_train"] == 1257 and d["input_shape"] == [8, 8, 1]
    assert "train_index" not in d  # arrays stay out of the manifest summary
    assert "digits" in repr(digits) and "(540, 8, 8, 1)" in repr(digits)


# ------------------------------------------------------------------------ max_train


def test_max_train_is_a_stratified_seeded_subsample(digits):
    sub = load_dataset("digits", max_train=200, seed=3)
    keep = sub.info["train_subsample"]
    assert len(sub.y_train) == 200 and np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(sub.x_train, digits.x_train[keep])
    np.testing.assert_array_equal(sub.y_train, digits.y_train[keep])
    expected = 200 * np.bincount(digits.y_train) / len(digits.y_train)
    assert np.all(np.abs(np.bincount(sub.y_train, minlength=10) - expected) < 1)
    np.testing.assert_array_equal(sub.x_test, digits.x_test)  # test split untouched
    assert sub.info["n_train_full"] == 1257
    same = load_dataset("digits", max_train=200, seed=3)
    np.testing.assert_array_equal(same.info["train_subsample"], keep)
    other = load_dataset("digits", max_train=200, seed=4)
    assert not np.array_equal(other.info["train_subsample"], keep)
    assert len(load_dataset("digits", max_train=5000).y_train) == 1257


def test_stratified_subsample_sizes_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(20):
        y = rng.integers(0, 5, size=rng.integers(20, 200))
        n = int(rng.integers(1, len(y)))
        keep = D._stratified_subsample(y, n, np.random.default_rng(trial))
        assert len(keep) == n == len(np.unique(keep))
        classes, counts = np.unique(y, return_counts=True)
        got = np.array([np.sum(y[keep] == c) for c in classes])
        assert np.all(np.abs(got - n * counts / len(y)) < 1)


# ----------------------------------------------------------------------------- MNIST


def test_mnist_from_keras_cache_npz(roots):
    raw = write_mnist_npz(roots["keras_home"] / "datasets" / "mnist.npz")
    ds = load_dataset("mnist")
    assert_matches(ds, raw)
    assert ds.input_shape == (28, 28, 1)
    assert ds.source == str(roots["keras_home"] / "datasets" / "mnist.npz")
    assert ds.class_names == [str(i) for i in range(10)]


def test_mnist_from_idx_files(roots):
    raw = write_idx_set(roots["explicit"] / "mnist", compress=False)
    ds = load_dataset("mnist", data_dir=roots["explicit"])
    assert_matches(ds, raw)


def test_search_order_first_hit_wins(roots, monkeypatch):
    """explicit data_dir > $ACTCONF_DATA_DIR > project data/datasets > Debian > Keras cache."""
    monkeypatch.setenv("ACTCONF_DATA_DIR", str(roots["env"]))
    files = {
        "explicit": roots["explicit"] / "mnist.npz",
        "env": roots["env"] / "mnist.npz",
        "project": roots["project"] / "mnist.npz",
        "debian": roots["debian"] / "mnist" / "mnist.npz",
        "keras_home": roots["keras_home"] / "datasets" / "mnist.npz",
    }
    for i, path in enumerate(files.values()):
        write_mnist_npz(path, seed=10 * i)
    for where, path in files.items():
        data_dir = roots["explicit"] if where == "explicit" else None
        ds = load_dataset("mnist", data_dir=data_dir)
        assert ds.source == str(path), where
        path.unlink()
    assert dataset_search_paths("mnist", data_dir=roots["explicit"]) == [
        roots["explicit"], roots["env"], roots["project"], roots["debian"] / "mnist",
        roots["keras_home"] / "datasets",
    ]


def test_project_dir_is_searched_only_when_it_exists(roots):
    assert roots["project"] not in dataset_search_paths("mnist")
    roots["project"].mkdir(parents=True)
    assert roots["project"] in dataset_search_paths("mnist")


def test_data_folder_is_the_working_directorys_not_the_packages(roots, tmp_path, monkeypatch):
    """Without $ACTCONF_DATA: data/datasets of the working directory (outside a checkout)."""
    monkeypatch.delenv("ACTCONF_DATA")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data" / "datasets").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    paths = dataset_search_paths("mnist")
    assert elsewhere / "data" / "datasets" in paths
    package_tree = Path(D.__file__).resolve().parents[2]
    assert not any(p.is_relative_to(package_tree) for p in paths)
    raw = write_mnist_npz(elsewhere / "data" / "datasets" / "mnist.npz", seed=7)
    ds = load_dataset("mnist")
    assert ds.source == str(elsewhere / "data" / "datasets" / "mnist.npz")
    np.testing.assert_array_equal(ds.y_test, raw["y_test"])


# --------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_idx_in_keras_folder_name(roots):
    raw = write_idx_set(roots["keras_home"] / "datasets" / "fashion-mnist", seed=5)
    ds = load_dataset("fashion-mnist")  # alias of fashion_mnist
    assert ds.name == "fashion_mnist"
    assert_matches(ds, raw)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_fashion_mnist_from_debian_folder(roots):
    raw = write_idx_set(roots["debian"] / "fashion-mnist", seed=6)
    ds = load_dataset("fashion_mnist")
    assert_matches(ds, raw)
    assert ds.source == str(roots["debian"] / "fashion-mnist")


@pytest.mark.parametrize(
    "damage, match",
    [
        ("swap", "magic number 2051"),  # an image file where labels belong
        ("magic", "not an IDX file"),
        ("truncate", "truncated or damaged"),
        ("count", "differ in length"),
    ],
)
def test_bad_idx_files(roots, damage, match):
    folder = roots["explicit"]
    raw = write_idx_set(folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    if damage == "swap":
        labels.write_bytes((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    elif damage == "magic":
        with gzip.open(labels, "wb") as f:
            f.write(b"\x12\x34\x08\x01" + bytes(8))
    elif damage == "truncate":
        with gzip.open(labels, "rb") as f:
            data = f.read()
        with gzip.open(labels, "wb") as f:
            f.write(data[:-3])
    else:
        write_idx(folder / "train-labels-idx1-ubyte", raw["y_train"][:-1])
    with pytest.raises(InvalidInputError, match=match):
        load_dataset("fashion_mnist", data_dir=folder)


@pytest.fixture(scope="module")
def fashion():
    if not FASHION_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must install Fashion-MNIST: apt-get install -y dataset-fashion-mnist")
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return load_dataset("fashion_mnist", max_train=1000, download=False)


def test_real_fashion_mnist(fashion):
    assert fashion.source == str(FASHION_DIR)
    assert fashion.x_train.shape == (1000, 28, 28, 1) and fashion.x_test.shape == (10000, 28, 28, 1)
    assert np.all(np.bincount(fashion.y_train) == 100)  # balanced set, stratified subsample
    assert np.all(np.bincount(fashion.y_test) == 1000)
    assert fashion.info["n_train_full"] == 60000
    # independent parse of the test images (fixed 16-byte header, as Keras reads them)
    with gzip.open(FASHION_DIR / "t10k-images-idx3-ubyte.gz", "rb") as f:
        ref = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_array_equal(fashion.x_test[:50, ..., 0], ref[:50] / np.float32(255))
    probe = make_probe(fashion, n_per_class=20, seed=1)
    assert len(probe) == 200 and probe.x.shape == (200, 28, 28, 1)


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("style", ["py2", "py2-numpy2", "protocol5"])
def test_cifar10_python_batches(roots, style):
    raw = write_cifar_py(roots["keras_home"] / "datasets" / "cifar-10-batches-py", style=style)
    ds = load_dataset("cifar10")
    assert_matches(ds, raw)  # channel planes become the last axis, rows stay rows
    assert ds.input_shape == (32, 32, 3) and len(ds.y_train) == 30
    assert ds.class_names == ["airplane", "automobile", "bird", "cat", "deer",
                              "dog", "frog", "horse", "ship", "truck"]


def test_cifar10_keras3_extract_folder(roots):
    folder = roots["keras_home"] / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    raw = write_cifar_py(folder, seed=4)
    ds = load_dataset("cifar-10")
    assert_matches(ds, raw)
    assert ds.source == str(folder)


def test_cifar10_binary_batches(roots):
    raw = write_cifar_bin(roots["explicit"] / "cifar-10-batches-bin", seed=2)
    ds = load_dataset("cifar10", data_dir=roots["explicit"])
    assert_matches(ds, raw)


def test_cifar10_binary_wrong_size(roots):
    folder = roots["explicit"]
    write_cifar_bin(folder)
    (folder / "data_batch_3.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(InvalidInputError, match="multiple of 3073"):
        load_dataset("cifar10", data_dir=folder)


class _Exploit:
    """Unpickling this calls os.mkdir(target): any global function could be called."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("payload", ["mkdir", "builtin"])
def test_cifar10_refuses_malicious_pickles(roots, tmp_path, payload):
    folder = roots["explicit"]
    write_cifar_py(folder)
    marker = tmp_path / "pwned"
    if payload == "mkdir":
        evil = py2_dumps({b"data": _Exploit(str(marker)), b"labels": []})
        # the payload is live: a plain unpickler runs it
        pickle.loads(evil, encoding="bytes")
        assert marker.is_dir()
        marker.rmdir()
        refused = r"'(posix|os)\.mkdir'"
    else:
        evil = py2_dumps({b"data": eval, b"labels": []})
        refused = r"'(__builtin__|builtins)\.eval'"  # protocol 2 writes Python 2's name
    (folder / "data_batch_2").write_bytes(evil)
    with pytest.raises(InvalidInputError, match="refusing to load global " + refused):
        load_dataset("cifar10", data_dir=folder)
    assert not marker.exists()


def test_cifar10_batch_with_wrong_content(roots):
    folder = roots["explicit"]
    write_cifar_py(folder)
    (folder / "test_batch").write_bytes(py2_dumps({b"data": np.zeros((2, 10), np.uint8),
                                                   b"labels": [0, 1]}))
    with pytest.raises(InvalidInputError, match=r"\(N, 3072\)"):
        load_dataset("cifar10", data_dir=folder)
    (folder / "test_batch").write_bytes(py2_dumps([1, 2, 3]))
    with pytest.raises(InvalidInputError, match="not a CIFAR-10 batch"):
        load_dataset("cifar10", data_dir=folder)


# ------------------------------------------------------------------ not found / download


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_not_found_with_download_disabled(roots, monkeypatch, name):
    monkeypatch.setenv("ACTCONF_DATA_DIR", str(roots["env"]))
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset(name, download=False, data_dir=roots["explicit"])
    msg = str(info.value)
    assert "download=False" in msg
    for root in dataset_search_paths(name, data_dir=roots["explicit"]):
        assert str(root) in msg  # every place looked is named
    assert "ACTCONF_DATA_DIR" in msg and "load_dataset('digits')" in msg
    assert ("apt-get install dataset-fashion-mnist" in msg) == (name == "fashion_mnist")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ActconfError)


@pytest.mark.slow  # imports keras
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_failed_keras_download_lists_offline_options(roots, monkeypatch, name):
    import keras

    monkeypatch.setattr(D, "_keras_download", _real_keras_download)
    calls = []

    def offline():
        calls.append(name)
        raise Exception("URL fetch failure on https://example.invalid: Name or service not known")

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", offline)
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset(name)
    assert calls == [name]
    msg = str(info.value)
    assert "download failed" in msg and "Name or service not known" in msg
    assert str(roots["keras_home"] / "datasets") in msg
    assert "ACTCONF_DATA_DIR" in msg
    assert ("apt-get install dataset-fashion-mnist" in msg) == (name == "fashion_mnist")
    assert info.value.__cause__ is not None


@pytest.mark.slow  # imports keras
def test_successful_keras_download_is_used(roots, monkeypatch):
    import keras

    monkeypatch.setattr(D, "_keras_download", _real_keras_download)
    x = _images(12, 32, 32, 3, 0)
    y = _labels(12, 0).reshape(-1, 1)  # Keras' CIFAR labels are (N, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:10], y[:10])))
    ds = load_dataset("cifar10")
    assert "downloaded by keras.datasets.cifar10" in ds.source
    assert ds.y_train.shape == (12,)
    np.testing.assert_array_equal(ds.x_train, x / np.float32(255))
    # download=False never calls the loader
    with pytest.raises(DatasetNotAvailableError):
        load_dataset("cifar10", download=False)


def test_digits_never_needs_files(roots):
    assert load_dataset("digits", download=False).n_classes == 10


# ------------------------------------------------------------------------- user .npz


def _save(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _good_arrays(n_train=30, n_test=20):
    return {"x_train": _images(n_train, 6, 5, None, 0), "y_train": _labels(n_train, 0, 3),
            "x_test": _images(n_test, 6, 5, None, 1), "y_test": _labels(n_test, 1, 3)}


def test_user_npz_uint8_and_class_names(tmp_path):
    raw = _good_arrays()
    path = _save(tmp_path / "shapes.npz", **raw, class_names=np.array(["a", "b", "c"]))
    ds = load_dataset(str(path))
    assert ds.name == "shapes" and ds.source == str(path)
    assert_matches(ds, raw)
    assert ds.input_shape == (6, 5, 1) and ds.class_names == ["a", "b", "c"]


def test_user_npz_float_vectors_and_keras_style_labels(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((20, 7)), "y_train": (np.arange(20) % 4).reshape(-1, 1),
              "x_test": rng.random((8, 7)), "y_test": np.arange(8) % 4}
    ds = load_dataset(_save(tmp_path / "vec.npz", **arrays))  # a Path works too
    assert ds.input_shape == (7,) and ds.n_classes == 4
    assert ds.class_names == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, np.arange(20) % 4)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"drop": ["y_test", "x_test"]}, InvalidInputError, "lacks the array\\(s\\) x_test, y_test"),
        ({"y_train": np.array([object()] * 30, dtype=object)}, InvalidInputError, "object array"),
        ({"class_names": np.array(["a", "b", "c"], dtype=object)}, InvalidInputError, "object array"),
        ({"y_train": np.zeros((30, 3), dtype=np.int64)}, InvalidInputError, "1-D array of integer"),
        ({"y_train": np.zeros(30, dtype=np.float64)}, InvalidInputError, "1-D array of integer"),
        ({"y_train": -np.ones(30, dtype=np.int64)}, InvalidInputError, "negative labels"),
        ({"y_test": np.zeros(19, dtype=np.int64)}, InvalidInputError, "20 inputs but 19 labels"),
        ({"x_train": np.full((30, 6, 5), 2.0)}, InvalidInputError, r"\[0, 1\].*x / 255"),
        ({"x_train": np.full((30, 6, 5), np.nan)}, InvalidInputError, "NaN"),
        ({"x_train": np.full((30, 6, 5), 300, dtype=np.int32)}, InvalidInputError, r"\[0, 255\]"),
        ({"x_train": np.zeros((30,))}, InvalidInputError, "must have shape"),
        ({"x_test": np.zeros((20, 5, 6))}, InvalidInputError, "different input shapes"),
        ({"x_train": np.array(["a"] * 30)}, InvalidInputError, "numeric"),
        ({"class_names": np.array(["a", "b"])}, InvalidInputError, "only 2 class names"),
        ({"class_names": np.array([1, 2, 3])}, InvalidInputError, "unicode string array"),
    ],
)
def test_user_npz_bad_content(tmp_path, change, error, match):
    arrays = _good_arrays()
    for key in change.get("drop", []):
        del arrays[key]
    arrays.update({k: v for k, v in change.items() if k != "drop"})
    np.savez(tmp_path / "bad.npz", **arrays)  # object arrays get pickled by savez
    with pytest.raises(error, match=match):
        load_dataset(str(tmp_path / "bad.npz"))


def test_user_npz_not_a_file_or_not_an_archive(tmp_path):
    with pytest.raises(DatasetNotAvailableError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(InvalidInputError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "junk.npz"))
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(InvalidInputError, match="single array"):
        load_dataset(str(tmp_path / "single.npy"))


# --------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "imagenet"}, "'digits', 'mnist', 'fashion_mnist', 'cifar10'"),
        ({"name": 3}, "'name' parameter"),
        ({"name": ""}, "'name' parameter"),
        ({"download": "yes"}, "'download' parameter"),
        ({"max_train": 0}, "'max_train' parameter"),
        ({"max_train": 2.5}, "'max_train' parameter"),
        ({"seed": -1}, "'seed' parameter"),
        ({"data_dir": "/nonexistent/actconf-data"}, "existing folder"),
        ({"data_dir": 5}, "'data_dir' parameter"),
    ],
)
def test_load_dataset_bad_parameters(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        load_dataset(**{"name": "digits", **kwargs})


def test_search_paths_rejects_digits_and_npz():
    with pytest.raises(InvalidParameterError, match="ships with scikit-learn"):
        dataset_search_paths("digits")
    with pytest.raises(InvalidParameterError):
        dataset_search_paths("foo.npz")


# ------------------------------------------------------------------------ make_probe


def test_make_probe_is_stratified_ordered_and_indexed(digits):
    probe = make_probe(digits, n_per_class=50, seed=0)
    assert isinstance(probe, Probe) and len(probe) == 500
    assert probe.split == "test" and probe.seed == 0 and probe.class_names == digits.class_names
    np.testing.assert_array_equal(np.bincount(probe.y), np.full(10, 50))
    assert probe.indices.dtype == np.int64 and probe.y.dtype == np.int64
    # ordered by class, then by index
    assert np.all(np.diff(probe.y) >= 0)
    for c in range(10):
        assert np.all(np.diff(probe.indices[probe.y == c]) > 0)
    np.testing.assert_array_equal(probe.x, digits.x_test[probe.indices])
    np.testing.assert_array_equal(probe.y, digits.y_test[probe.indices])
    assert len(np.unique(probe.indices)) == 500


def test_make_probe_is_deterministic_given_seed(digits):
    a = make_probe(digits, n_per_class=20, seed=7)
    b = make_probe(digits, n_per_class=20, seed=7)
    c = make_probe(digits, n_per_class=20, seed=8)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    # a random draw, not the first samples of each class
    first = np.concatenate([np.flatnonzero(digits.y_test == k)[:20] for k in range(10)])
    assert not np.array_equal(a.indices, first)


def test_make_probe_all_samples_and_train_split(digits):
    everything = make_probe(digits, n_per_class=None)
    assert len(everything) == 540
    assert sorted(everything.indices.tolist()) == list(range(540))
    expected = np.lexsort((np.arange(540), digits.y_test))  # brute-force order
    np.testing.assert_array_equal(everything.indices, expected)
    train = make_probe(digits, n_per_class=3, split="train", seed=1)
    np.testing.assert_array_equal(train.x, digits.x_train[train.indices])
    assert train.split == "train"


def test_make_probe_too_many_per_class(digits):
    smallest = int(np.bincount(digits.y_test).min())
    assert smallest == 52
    make_probe(digits, n_per_class=52)
    with pytest.raises(InvalidParameterError, match=r"at most 52.*class 8.*n_per_class=None"):
        make_probe(digits, n_per_class=53)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("digits",), {}, "'dataset' parameter"),
        ((None,), {}, "'dataset' parameter"),
        ((), {"n_per_class": 0}, "'n_per_class' parameter"),
        ((), {"n_per_class": 1.5}, "'n_per_class' parameter"),
        ((), {"seed": -3}, "'seed' parameter"),
        ((), {"split": "validation"}, "'split' parameter"),
    ],
)
def test_make_probe_bad_parameters(digits, args, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        make_probe(*(args or (digits,)), **kwargs)


def test_probe_feeds_the_recorder_signature(digits):
    """The recorder reads x, y, indices and class_names from a Probe."""
    probe = make_probe(digits, n_per_class=2)
    for attr in ("x", "y", "indices", "class_names"):
        assert hasattr(probe, attr)
    assert "n_samples=20" in repr(probe)


def test_top_level_exports():
    import actconf

    assert actconf.load_dataset is load_dataset and actconf.make_probe is make_probe
    assert actconf.Dataset is Dataset and actconf.Probe is Probe
    assert actconf.dataset_search_paths is dataset_search_paths
