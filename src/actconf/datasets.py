"""Datasets for the studies and the fixed probe set recorded during training.

:func:`load_dataset` returns a :class:`Dataset` with float32 images in ``[0, 1]``
of shape ``(N, H, W, C)`` and int64 labels of shape ``(N,)``:

=================  ==========================================  =====================
name               files                                       shape
=================  ==========================================  =====================
``digits``         bundled with scikit-learn (the default)     ``(N, 8, 8, 1)``
``mnist``          Keras' ``mnist.npz`` (or the 4 IDX files)   ``(N, 28, 28, 1)``
``fashion_mnist``  the 4 gzipped IDX files                     ``(N, 28, 28, 1)``
``cifar10``        ``cifar-10-batches-py/`` or ``-bin/``       ``(N, 32, 32, 3)``
a ``.npz`` path    ``x_train, y_train, x_test, y_test``        as stored
=================  ==========================================  =====================

Files are looked up, first hit wins, in: the explicit ``data_dir``,
``$ACTCONF_DATA_DIR`` (an extra folder of dataset files), ``datasets/`` of actconf's
data folder (``$ACTCONF_DATA``, else ``data/`` of the working directory's project; see
:mod:`actconf._paths` — never the installed package's folder), Debian's
``/usr/share/datasets/<name>/`` and the Keras cache (``$KERAS_HOME`` or
``~/.keras``, subfolder ``datasets/``). Only then, with ``download=True``, Keras
downloads the dataset; offline, the error lists every place looked and the offline
options. :func:`dataset_search_paths` shows the places for a dataset.

:func:`make_probe` draws the stratified, seeded probe set whose activations the
recorder stores, together with the indices of its samples in the split.

Nothing here unpickles arbitrary data: ``.npz`` files load with
``allow_pickle=False`` and CIFAR-10's pickled batches go through an unpickler that
only rebuilds numpy arrays.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import DATA_ENV, data_path
from ._validation import check_int, param_error
from .errors import DatasetNotAvailableError, InvalidInputError

__all__ = [
    "BUILTIN_DATASETS",
    "Dataset",
    "Probe",
    "dataset_available",
    "dataset_search_paths",
    "load_dataset",
    "make_probe",
]

#: Names accepted by :func:`load_dataset` (besides a path to a ``.npz`` file).
BUILTIN_DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion_mnist", "cifar10")

_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

_CLASS_NAMES: dict[str, list[str]] = {
    "digits": [str(i) for i in range(10)],
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ],
}

# Folder names, per dataset, below every search root (Keras' own names first).
_SUBDIRS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist",),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist"),
    "cifar10": (
        "cifar-10-batches-py",
        "cifar-10-batches-py-target/cifar-10-batches-py",  # Keras >= 3.9 extracts here
        "cifar-10-batches-bin",
    ),
}
# Debian's package names (apt-get install dataset-<name>) -> /usr/share/datasets/<name>/
_DEBIAN_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10"}

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# A root that tests may point elsewhere (the data folder's is moved with $ACTCONF_DATA).
_DEBIAN_DATA_DIR = Path("/usr/share/datasets")


def _project_data_dir() -> Path:
    """``datasets/`` of actconf's data folder (``$ACTCONF_DATA`` or the project's ``data/``)."""
    return data_path("datasets")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test dataset of images (or feature vectors) with integer labels.

    Attributes
    ----------
    name : str
        ``"digits"``, ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, or the stem of
        a user ``.npz`` file.
    x_train, x_test : numpy.ndarray
        float32 inputs in ``[0, 1]``, shape ``(N, H, W, C)`` for images (grey
        images get a channel axis) or ``(N, D)`` for feature vectors.
    y_train, y_test : numpy.ndarray
        int64 class labels of shape ``(N,)``, in ``0 .. n_classes - 1``.
    class_names : list of str
        Name of every class, indexed by label.
    source : str
        Where the data came from: a file or folder path, ``"scikit-learn"`` or a
        note that Keras downloaded it.
    info : dict
        Further facts: how the digits split was made (``train_index``,
        ``test_index``: rows of ``load_digits()``) or, after ``max_train``, which
        rows of the full training split were kept (``train_subsample``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch axis (e.g. ``(8, 8, 1)``)."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary, e.g. for a run's manifest (``dataset=``)."""
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "class_names": list(self.class_names),
            "n_train": int(len(self.y_train)),
            "n_test": int(len(self.y_test)),
            **{k: v for k, v in self.info.items() if isinstance(v, str | int | float | bool)},
        }

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, n_classes={self.n_classes}, source={self.source!r})"
        )


@dataclass(frozen=True, eq=False)
class Probe:
    """The fixed set of inputs whose activations are recorded during training.

    Attributes
    ----------
    x : numpy.ndarray
        Inputs, ``(n_samples, *input_shape)``, ordered by class, then by index.
    y : numpy.ndarray
        int64 labels, ``(n_samples,)``.
    indices : numpy.ndarray
        int64 position of every sample in the dataset split it was drawn from.
    class_names : list of str
        Names of the classes, indexed by label.
    split : str
        ``"test"`` or ``"train"``.
    seed : int
        Seed of the draw.
    """

    x: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    class_names: list[str]
    split: str
    seed: int

    def __len__(self) -> int:
        return int(len(self.y))

    def __repr__(self) -> str:
        return (
            f"Probe(n_samples={len(self)}, split={self.split!r}, seed={self.seed}, "
            f"n_classes={len(self.class_names)})"
        )


# ------------------------------------------------------------------- public functions


def load_dataset(
    name: str | os.PathLike = "digits",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    max_train: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset as float32 inputs in ``[0, 1]`` and int64 labels.

    Parameters
    ----------
    name : str or path-like, default="digits"
        ``"digits"`` (scikit-learn's 1,797 8x8 digits; no files needed),
        ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, or the path of a ``.npz``
        file with arrays ``x_train, y_train, x_test, y_test`` and optionally
        ``class_names`` (a unicode string array). Integer images in such a file are
        divided by 255; float images must already lie in ``[0, 1]``.
    data_dir : str or path-like, optional
        Folder to look in first. It may hold the dataset's files directly or in
        the folders Keras uses (``mnist.npz``, ``fashion-mnist/``,
        ``cifar-10-batches-py/``).
    download : bool, default=True
        If the files are found nowhere, let Keras download them (needs network
        access; the download lands in the Keras cache, where later calls find it).
    max_train : int, optional
        Keep only this many training samples: a stratified subsample (class
        proportions kept to within one sample), drawn with ``seed`` and kept in the
        original order. The test split is never subsampled.
    seed : int, default=0
        Seed of the training subsample (unused without ``max_train``).

    Returns
    -------
    Dataset

    Raises
    ------
    InvalidParameterError
        Unknown name (the message lists the choices) or bad parameter values.
    DatasetNotAvailableError
        The files are nowhere on disk and downloading is disabled or failed; the
        message lists every place looked and how to provide the files offline.
    InvalidInputError
        A file exists but has the wrong format or content.

    Notes
    -----
    ``digits`` has no official split: it is split once, stratified, 70 % train /
    30 % test with ``sklearn.model_selection.train_test_split(random_state=0)``,
    which gives 1,257 training and 540 test images, at least 52 per class in the
    test split (enough for a 50-per-class probe); ``info["train_index"]`` and
    ``info["test_index"]`` give each sample's row in ``load_digits()``. Pixel
    values (0..16) are divided by 16.

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.x_train.shape, ds.x_test.shape, ds.n_classes
    ((1257, 8, 8, 1), (540, 8, 8, 1), 10)
    """
    caller = "load_dataset()"
    if not isinstance(download, bool):
        raise param_error("download", caller, "a bool", download)
    max_train = check_int("max_train", max_train, caller, min_value=1, allow_none=True)
    seed = check_int("seed", seed, caller, min_value=0)

    key, npz_path = resolve_dataset_name(name, caller)
    explicit = None
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike):
            raise param_error("data_dir", caller, "a path (str or os.PathLike) or None", data_dir)
        explicit = Path(data_dir).expanduser()
        if not explicit.is_dir():
            raise param_error(
                "data_dir", caller, "an existing folder", str(data_dir),
                "Create it and put the dataset's files there, or leave data_dir=None.",
            )

    if npz_path is not None:
        ds = _load_user_npz(npz_path)
    elif key == "digits":
        ds = _load_digits()
    else:
        ds = _load_builtin(key, explicit, download)

    if max_train is not None and max_train < len(ds.y_train):
        keep = _stratified_subsample(ds.y_train, max_train, np.random.default_rng(seed))
        info = dict(ds.info, max_train=max_train, subsample_seed=seed,
                    n_train_full=int(len(ds.y_train)), train_subsample=keep)
        ds = Dataset(ds.name, ds.x_train[keep], ds.y_train[keep], ds.x_test, ds.y_test,
                     ds.class_names, ds.source, info)
    return ds


def dataset_available(name: str, *, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether :func:`load_dataset` finds ``name`` on this machine without downloading.

    ``digits`` is always available (it ships with scikit-learn); a ``.npz`` path is
    available when the file exists; a built-in name when its files are in one of
    :func:`dataset_search_paths`.
    """
    key, npz = resolve_dataset_name(name, "dataset_available()")
    if npz is not None:
        return npz.is_file()
    if key == "digits":
        return True
    return _find_files(key, None if data_dir is None else Path(data_dir)) is not None


def dataset_search_paths(name: str, *, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for a built-in dataset's files, in search order.

    Parameters
    ----------
    name : str
        ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
    data_dir : str or path-like, optional
        The explicit folder that :func:`load_dataset` would search first.

    Returns
    -------
    list of pathlib.Path
        Search roots (they need not exist): the explicit ``data_dir``,
        ``$ACTCONF_DATA_DIR``, ``datasets/`` of the data folder (when it exists;
        ``$ACTCONF_DATA``, else ``data/`` of the working directory's project),
        ``/usr/share/datasets/<debian-name>/`` and the Keras cache's ``datasets/``.
        Below each root the dataset's usual file/folder names are tried.
    """
    key, npz = resolve_dataset_name(name, "dataset_search_paths()")
    if npz is not None or key == "digits":
        raise param_error(
            "name", "dataset_search_paths()", "one of 'mnist', 'fashion_mnist', 'cifar10'", name,
            "'digits' ships with scikit-learn and a .npz path is read as given.",
        )
    return [root for root, _ in _search_roots(key, None if data_dir is None else Path(data_dir))]


def make_probe(
    dataset: Dataset,
    *,
    n_per_class: int | None = 50,
    seed: int = 0,
    split: str = "test",
) -> Probe:
    """Draw a fixed, stratified probe set from one split of a dataset.

    Parameters
    ----------
    dataset : Dataset
        As returned by :func:`load_dataset`.
    n_per_class : int or None, default=50
        Samples per class, drawn without replacement. ``None`` takes every sample
        of the split.
    seed : int, default=0
        Seed of the draw; the same seed gives the same probe.
    split : {"test", "train"}, default="test"
        Split to draw from.

    Returns
    -------
    Probe
        Samples ordered by class, then by index in the split; ``indices`` are the
        positions in that split (store them with the run).

    Raises
    ------
    InvalidParameterError
        When a class has fewer than ``n_per_class`` samples (the message says how
        many the smallest class has) or a parameter is invalid.
    """
    caller = "make_probe()"
    if not isinstance(dataset, Dataset):
        raise param_error("dataset", caller, "an actconf Dataset (from load_dataset())",
                          type(dataset).__name__)
    n_per_class = check_int("n_per_class", n_per_class, caller, min_value=1, allow_none=True)
    seed = check_int("seed", seed, caller, min_value=0)
    if split not in ("test", "train"):
        raise param_error("split", caller, "'test' or 'train'", split)
    x = dataset.x_test if split == "test" else dataset.x_train
    y = dataset.y_test if split == "test" else dataset.y_train

    if n_per_class is None:
        idx = np.lexsort((np.arange(len(y)), y)).astype(np.int64)
    else:
        counts = np.bincount(y, minlength=dataset.n_classes)
        if counts.min() < n_per_class:
            smallest = int(np.argmin(counts))
            raise param_error(
                "n_per_class", caller,
                f"at most {int(counts.min())}, the size of the smallest class in the "
                f"{split} split (class {smallest}, {dataset.class_names[smallest]!r})",
                n_per_class,
                f"Ask for fewer samples per class, or pass n_per_class=None for all "
                f"{len(y)} samples of the split.",
            )
        rng = np.random.default_rng(seed)
        parts = []
        for c in range(dataset.n_classes):
            members = np.flatnonzero(y == c)
            parts.append(np.sort(rng.choice(members, size=n_per_class, replace=False)))
        idx = np.concatenate(parts).astype(np.int64)
    return Probe(x=x[idx], y=y[idx], indices=idx, class_names=list(dataset.class_names),
                 split=split, seed=seed)


# ------------------------------------------------------------------------ name lookup


def resolve_dataset_name(name: Any, caller: str) -> tuple[str, Path | None]:
    """Return (builtin key, None) or ("npz", path)."""
    choices = ", ".join(repr(n) for n in BUILTIN_DATASETS)
    if isinstance(name, os.PathLike):
        return "npz", Path(name)
    if not isinstance(name, str) or not name:
        raise param_error("name", caller, f"one of {choices} or a path to a .npz file", name)
    key = _ALIASES.get(name.lower(), name.lower())
    if key in BUILTIN_DATASETS:
        return key, None
    if name.lower().endswith(".npz") or os.sep in name or "/" in name or Path(name).is_file():
        return "npz", Path(name)
    raise param_error(
        "name", caller, f"one of {choices} or a path to a .npz file", name,
        "A .npz file needs arrays x_train, y_train, x_test, y_test.",
    )


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())


def _search_roots(key: str, explicit: Path | None) -> list[tuple[Path, bool]]:
    """(root, is_dataset_folder) in search order.

    ``is_dataset_folder`` marks roots that may hold the dataset's files directly
    (the explicit folder and Debian's per-dataset folder) in addition to the usual
    subfolders.
    """
    roots: list[tuple[Path, bool]] = []
    if explicit is not None:
        roots.append((explicit, True))
    env = os.environ.get("ACTCONF_DATA_DIR")
    if env:
        roots.append((Path(env).expanduser(), False))
    project = _project_data_dir()
    if project.is_dir():
        roots.append((project, False))
    roots.append((_DEBIAN_DATA_DIR / _DEBIAN_NAMES[key], True))
    roots.append((_keras_home() / "datasets", False))
    return roots


def _find_files(key: str, explicit: Path | None) -> tuple[str, Path] | None:
    """First (format, path) found for a built-in dataset, or None."""
    for root, direct in _search_roots(key, explicit):
        candidates = [root / sub for sub in _SUBDIRS[key]]
        if direct:
            candidates.insert(0, root)
        if key == "mnist":
            # Keras keeps mnist.npz directly in its datasets folder
            for folder in [root, *candidates]:
                if (folder / "mnist.npz").is_file():
                    return "npz", folder / "mnist.npz"
        for folder in candidates:
            fmt = _folder_format(key, folder)
            if fmt is not None:
                return fmt, folder
    return None


def _folder_format(key: str, folder: Path) -> str | None:
    if not folder.is_dir():
        return None
    if key in ("mnist", "fashion_mnist"):
        if all(_idx_file(folder, stem) is not None for stem in _IDX_FILES.values()):
            return "idx"
        return None
    if (folder / "data_batch_1").is_file() and (folder / "test_batch").is_file():
        return "cifar_py"
    if (folder / "data_batch_1.bin").is_file() and (folder / "test_batch.bin").is_file():
        return "cifar_bin"
    return None


def _not_available(key: str, explicit: Path | None, reason: str) -> DatasetNotAvailableError:
    looked = []
    for root, direct in _search_roots(key, explicit):
        names = [f"{sub}/" for sub in _SUBDIRS[key]]
        if key == "mnist":
            names.insert(0, "mnist.npz")
        if direct:
            names.insert(0, "the files themselves")
        looked.append(f"  - {root}: {', '.join(names)}")
    if not os.environ.get("ACTCONF_DATA_DIR"):
        looked.append("  - $ACTCONF_DATA_DIR: not set")
    project = _project_data_dir()
    if not project.is_dir():
        looked.append(f"  - {project}: does not exist")
    debian = _DEBIAN_NAMES[key]
    offline = [
        f"  - put the files in actconf's data folder, e.g. {project / _SUBDIRS[key][0]}/ "
        f"(the data folder is ${DATA_ENV} when set, else data/ of the working directory's project),",
        "  - or set ACTCONF_DATA_DIR to a folder holding them, or pass data_dir=...,",
        f"  - or copy them into the Keras cache {_keras_home() / 'datasets'}/,",
    ]
    if key == "fashion_mnist":
        offline.append(f"  - or install the Debian package: apt-get install dataset-{debian}"
                       f" (puts the files in /usr/share/datasets/{debian}/),")
    offline.append("  - or use load_dataset('digits'), which ships with scikit-learn, "
                   "or your own .npz file.")
    expected = {
        "mnist": "Keras' mnist.npz, or the four IDX files",
        "fashion_mnist": "the four IDX files " + ", ".join(f"{s}.gz" for s in _IDX_FILES.values()),
        "cifar10": "the extracted cifar-10-batches-py/ folder (or cifar-10-batches-bin/)",
    }[key]
    return DatasetNotAvailableError(
        f"Dataset {key!r} is not available: {reason}\n"
        f"Expected {expected}. Looked in:\n" + "\n".join(looked)
        + "\nTo work offline:\n" + "\n".join(offline)
    )


# ---------------------------------------------------------------------------- loaders


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    index = np.arange(len(y))
    i_train, i_test = train_test_split(index, test_size=0.3, stratify=y, random_state=0)
    info = {"split": "stratified 70/30 train_test_split(random_state=0) of load_digits()",
            "train_index": i_train, "test_index": i_test}
    return Dataset("digits", x[i_train], y[i_train], x[i_test], y[i_test],
                   list(_CLASS_NAMES["digits"]), "scikit-learn", info)


def _load_builtin(key: str, explicit: Path | None, download: bool) -> Dataset:
    found = _find_files(key, explicit)
    if found is not None:
        fmt, path = found
        if fmt == "npz":
            arrays = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
        elif fmt == "idx":
            arrays = _read_idx_set(path)
        elif fmt == "cifar_py":
            arrays = _read_cifar_py(path)
        else:
            arrays = _read_cifar_bin(path)
        source = str(path)
    elif not download:
        raise _not_available(key, explicit, "its files were not found and download=False.")
    else:
        try:
            (xtr, ytr), (xte, yte) = _keras_download(key)
        except Exception as exc:  # noqa: BLE001 - any failure means: not available
            raise _not_available(
                key, explicit,
                f"its files were not found and the Keras download failed "
                f"({type(exc).__name__}: {str(exc)[:200]}).",
            ) from exc
        arrays = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}
        if key == "cifar10":
            for k in ("x_train", "x_test"):  # channels_first Keras configs
                a = np.asarray(arrays[k])
                if a.ndim == 4 and a.shape[1] == 3 and a.shape[-1] != 3:
                    arrays[k] = a.transpose(0, 2, 3, 1)
        source = f"downloaded by keras.datasets.{key} into {_keras_home() / 'datasets'}"
    return _to_dataset(key, arrays, list(_CLASS_NAMES[key]), source)


def _keras_download(key: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Call ``keras.datasets.<key>.load_data()`` (tests replace the Keras loader)."""
    import importlib

    module = importlib.import_module(f"keras.datasets.{key}")
    return module.load_data()


def _load_user_npz(path: Path) -> Dataset:
    path = path.expanduser()
    if not path.is_file():
        raise DatasetNotAvailableError(
            f"The .npz file {str(path)!r} does not exist. Pass the path of a file saved with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...), or one of the "
            f"built-in names {', '.join(repr(n) for n in BUILTIN_DATASETS)}."
        )
    arrays = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"), optional=("class_names",))
    y_max = max((int(np.max(arrays[k])) for k in ("y_train", "y_test")
                 if np.asarray(arrays[k]).size and np.asarray(arrays[k]).dtype.kind in "iu"),
                default=-1)
    names = arrays.pop("class_names", None)
    if names is None:
        class_names = [str(i) for i in range(y_max + 1)]
    else:
        names = np.asarray(names)
        if names.dtype.kind != "U" or names.ndim != 1 or names.size == 0:
            raise InvalidInputError(
                f"'class_names' in {path} must be a 1-D unicode string array; got dtype "
                f"{names.dtype} and shape {names.shape}. Save it as "
                "class_names=np.array(['cat', 'dog', ...], dtype=str)."
            )
        class_names = [str(n) for n in names]
    return _to_dataset(path.stem, arrays, class_names, str(path))


def _read_npz(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(
            f"{path} is not a readable .npz file ({exc}). Save the splits with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
        ) from exc
    if not hasattr(archive, "files"):  # a plain .npy file
        raise InvalidInputError(
            f"{path} holds a single array, not an .npz archive. Save the splits with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
        )
    with archive:
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise InvalidInputError(
                f"{path} lacks the array(s) {', '.join(missing)} (it has: "
                f"{', '.join(archive.files) or 'nothing'}). Save all four splits with "
                "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
            )
        out = {}
        for k in (*required, *(o for o in optional if o in archive.files)):
            try:
                out[k] = archive[k]
            except ValueError as exc:
                raise InvalidInputError(
                    f"Array {k!r} in {path} is an object array, which actconf does not load "
                    f"(loading it would need pickle, which can run code). Store numbers as "
                    f"numeric arrays and class names as np.array(names, dtype=str). ({exc})"
                ) from exc
            except Exception as exc:  # zip/CRC errors of a damaged file
                raise InvalidInputError(f"Array {k!r} in {path} cannot be read ({exc}).") from exc
    return out


def _to_dataset(name: str, arrays: dict[str, Any], class_names: list[str], where: str) -> Dataset:
    """Validate and normalise the four arrays into a Dataset."""
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        x = _normalise_x(np.asarray(arrays[f"x_{split}"]), f"x_{split}", where)
        y = _normalise_y(np.asarray(arrays[f"y_{split}"]), f"y_{split}", where)
        if len(x) != len(y):
            raise InvalidInputError(
                f"x_{split} and y_{split} in {where} differ in length: {len(x)} inputs but "
                f"{len(y)} labels. Give one label per input."
            )
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise InvalidInputError(
            f"x_train and x_test in {where} have different input shapes: "
            f"{out['x_train'].shape[1:]} vs {out['x_test'].shape[1:]}. Save both splits with the same input "
            "shape (the model takes one)."
        )
    y_max = max(int(out["y_train"].max(initial=-1)), int(out["y_test"].max(initial=-1)))
    if y_max >= len(class_names):
        raise InvalidInputError(
            f"Labels in {where} go up to {y_max}, but there are only {len(class_names)} class "
            f"names ({class_names[:5]}...). Give one name per class (labels 0..n_classes-1)."
        )
    return Dataset(name, out["x_train"], out["y_train"], out["x_test"], out["y_test"],
                   list(class_names), where)


def _normalise_x(x: np.ndarray, key: str, where: str) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise InvalidInputError(f"{key} in {where} must be numeric; got dtype {x.dtype}.")
    if x.ndim not in (2, 3, 4) or x.shape[0] == 0:
        raise InvalidInputError(
            f"{key} in {where} must have shape (N, H, W), (N, H, W, C) or (N, features) with "
            f"N >= 1; got shape {x.shape}."
        )
    if x.dtype.kind in "iu":
        lo, hi = (int(x.min()), int(x.max()))
        if lo < 0 or hi > 255:
            raise InvalidInputError(
                f"Integer {key} in {where} must be 8-bit pixel values in [0, 255]; got values "
                f"in [{lo}, {hi}]. Scale them to floats in [0, 1] before saving."
            )
        x = (x / np.float32(255.0)).astype(np.float32)
    else:
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise InvalidInputError(
                f"{key} in {where} contains {bad} NaN or infinite value(s). Replace or drop those inputs "
                "before saving (e.g. np.nan_to_num(x), or keep x[np.isfinite(x).all(axis=(1, 2))])."
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidInputError(
                f"Float {key} in {where} must lie in [0, 1]; got values in [{lo:g}, {hi:g}]. "
                "Rescale them, e.g. x / 255 for 8-bit images or (x - x.min()) / (x.max() - "
                "x.min()), or store the raw uint8 pixels (actconf divides integers by 255)."
            )
    if x.ndim == 3:
        x = x[..., np.newaxis]
    return np.ascontiguousarray(x)


def _normalise_y(y: np.ndarray, key: str, where: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' CIFAR labels are (N, 1)
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise InvalidInputError(
            f"{key} in {where} must be a 1-D array of integer class labels; got dtype "
            f"{y.dtype} and shape {y.shape}. Save labels as y.astype('int64'); one-hot labels "
            "as y.argmax(axis=1)."
        )
    if y.size and int(y.min()) < 0:
        raise InvalidInputError(f"{key} in {where} has negative labels ({int(y.min())}); "
                                "labels must be 0..n_classes-1.")
    return y.astype(np.int64)


# -------------------------------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Parse an IDX file (gzipped or not); require unsigned bytes and ``ndim`` axes.

    Header: two zero bytes, a type code, the number of axes, then one big-endian
    uint32 per axis; the data follow in C order.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise InvalidInputError(f"{path} cannot be read as an IDX file ({exc}).") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InvalidInputError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}).")
    expected_magic = (0x08 << 8) | ndim
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise InvalidInputError(
            f"{path} has magic number {magic} (type 0x{raw[2]:02x}, {raw[3]} axes), expected "
            f"{expected_magic} (unsigned bytes, {ndim} axes). Is it the right file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InvalidInputError(f"{path} is truncated (header incomplete).")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    n_bytes = int(np.prod(dims)) * np.dtype(_IDX_DTYPES[raw[2]]).itemsize
    if len(raw) - header != n_bytes:
        raise InvalidInputError(
            f"{path} holds {len(raw) - header} data bytes but its header announces shape "
            f"{dims} ({n_bytes} bytes). The file is truncated or damaged."
        )
    return np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header).reshape(dims)


def _read_idx_set(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for key, stem in _IDX_FILES.items():
        path = _idx_file(folder, stem)
        assert path is not None  # checked by _folder_format
        out[key] = _read_idx(path, ndim=3 if key.startswith("x") else 1)
    return out


# ---------------------------------------------------------------------------- CIFAR-10


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled numpy array needs (numpy 1 and 2 spellings of the modules)."""
    import importlib

    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
        numeric = importlib.import_module("numpy._core.numeric")
    except ImportError:  # numpy < 2
        multiarray = importlib.import_module("numpy.core.multiarray")
        numeric = importlib.import_module("numpy.core.numeric")
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        if hasattr(numeric, "_frombuffer"):  # protocol-5 pickles of contiguous arrays
            allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers, and nothing else.

    ``find_class`` is the only way a pickle can reach code; it returns objects from
    a fixed table (ndarray, dtype and numpy's array-reconstruction helpers) and
    refuses every other global, so ``os.system`` & co. cannot be smuggled in.
    """

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if _ArrayOnlyUnpickler._allowed is None:
            _ArrayOnlyUnpickler._allowed = _allowed_globals()
        try:
            return _ArrayOnlyUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}': only numpy arrays are allowed"
            ) from None


def _load_cifar_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise InvalidInputError(
            f"{path} is not a safe CIFAR-10 batch: {exc}. The file may be damaged or "
            "malicious; replace it with the official cifar-10-python files."
        ) from exc
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidInputError(f"{path} cannot be read as a CIFAR-10 batch ({exc}).") from exc
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path} is not a CIFAR-10 batch (holds a {type(obj).__name__}).")
    return {(k.decode("utf-8") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _load_cifar_pickle(path)
    if "data" not in d or "labels" not in d:
        raise InvalidInputError(f"{path} lacks 'data' or 'labels'; not a CIFAR-10 batch.")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise InvalidInputError(
            f"{path}: 'data' must be uint8 of shape (N, 3072); got {data.dtype} {data.shape}."
        )
    if labels.shape != (len(data),):
        raise InvalidInputError(f"{path}: {len(data)} images but labels of shape {labels.shape}.")
    # each row: 1024 red, 1024 green, 1024 blue values, each a 32x32 image in row order
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_cifar_py(folder: Path) -> dict[str, np.ndarray]:
    train = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)
             if (folder / f"data_batch_{i}").is_file()]
    if len(train) != 5:
        raise InvalidInputError(f"{folder} must hold data_batch_1 ... data_batch_5 and test_batch.")
    x_test, y_test = _cifar_batch(folder / "test_batch")
    return {"x_train": np.concatenate([b[0] for b in train]),
            "y_train": np.concatenate([b[1] for b in train]),
            "x_test": x_test, "y_test": y_test}


def _cifar_bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise InvalidInputError(
            f"{path} has {raw.size} bytes, not a multiple of 3073 (1 label byte + 3072 pixel "
            "bytes per image): not a CIFAR-10 binary batch."
        )
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rec[:, 0]


def _read_cifar_bin(folder: Path) -> dict[str, np.ndarray]:
    paths = [folder / f"data_batch_{i}.bin" for i in range(1, 6)]
    if not all(p.is_file() for p in paths):
        raise InvalidInputError(
            f"{folder} must hold data_batch_1.bin ... data_batch_5.bin and test_batch.bin."
        )
    train = [_cifar_bin_batch(p) for p in paths]
    x_test, y_test = _cifar_bin_batch(folder / "test_batch.bin")
    return {"x_train": np.concatenate([b[0] for b in train]),
            "y_train": np.concatenate([b[1] for b in train]),
            "x_test": x_test, "y_test": y_test}


# ------------------------------------------------------------------------- subsampling


def _stratified_subsample(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` samples with the class proportions of ``y``.

    Each class gets floor(n * share) samples; the remaining ones go to the classes
    with the largest fractional parts (ties: lower class first).
    """
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / counts.sum()
    take = np.floor(exact).astype(int)
    rest = n - int(take.sum())
    order = np.lexsort((np.arange(len(classes)), -(exact - take)))
    take[order[:rest]] += 1
    parts = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False)
             for c, k in zip(classes, take, strict=True) if k]
    return np.sort(np.concatenate(parts))
