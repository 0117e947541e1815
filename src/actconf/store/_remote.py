"""Runs in object storage: the reader's access to a run given as an fsspec URL.

``open_run("s3://bucket/runs/r")``, ``open_run("gs://...")``, ``open_run("memory://runs/r")``
(and any other fsspec protocol) read the run through fsspec: the manifest and the
commit log with the filesystem's ``open``, the arrays through Zarr's ``FsspecStore``.
``file://`` URLs (and ``local://``) are plain local paths. Writing stays local (the
recorder writes chunk files into a local folder); copy a finished run up with
:func:`upload_run`, which puts the commit log last so that a reader of the
destination never sees a snapshot before its chunks.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InvalidParameterError, StorageError
from ._format import ARRAYS, MANIFEST, SNAPSHOTS


def is_url(path: Any) -> bool:
    """Whether ``path`` is a string with a protocol (``"s3://..."``, ``"file://..."``)."""
    return isinstance(path, str) and "://" in path


def split_location(path: Any, storage_options: dict[str, Any] | None = None):
    """``(files, path)``: a :class:`RemoteFiles` (None for a local run) and the path inside it.

    Local paths and ``file://`` URLs give ``(None, Path)``; other URLs give the fsspec
    filesystem wrapped in :class:`RemoteFiles` and a :class:`~pathlib.PurePosixPath`.
    """
    if not is_url(path):
        if storage_options:
            raise InvalidParameterError(
                "open_run(): storage_options are for fsspec URLs such as 's3://bucket/run'; "
                f"{str(path)!r} is a local path. Drop storage_options or pass a URL."
            )
        return None, Path(path)
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, inner = fsspec.core.url_to_fs(path, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise InvalidParameterError(
            f"open_run(): cannot open {path!r} through fsspec ({type(exc).__name__}: {exc}). Install the "
            "filesystem's package (e.g. s3fs for s3://, gcsfs for gs://) or check the URL."
        ) from exc
    if isinstance(fs, LocalFileSystem):
        return None, Path(inner)
    return RemoteFiles(fs, str(path).rstrip("/"), dict(storage_options or {})), PurePosixPath(inner)


class RemoteFiles:
    """The files of one run in an fsspec filesystem (read side)."""

    def __init__(self, fs: Any, url: str, storage_options: dict[str, Any]):
        self.fs = fs
        self.url = url
        self.storage_options = storage_options
        self.root = str(fs._strip_protocol(url)).rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def isdir(self) -> bool:
        return bool(self.fs.isdir(self.root))

    def isfile(self, name: str) -> bool:
        return bool(self.fs.isfile(self.join(name)))

    def read_bytes(self, name: str, offset: int = 0) -> bytes:
        """Bytes of file ``name`` from ``offset`` (FileNotFoundError if it does not exist)."""
        with self.fs.open(self.join(name), "rb") as fh:
            fh.seek(offset)
            return fh.read()

    def existing(self, folder: str) -> set[str]:
        """Paths (relative to the run) of every file under ``folder`` (one listing)."""
        try:
            found = self.fs.find(self.join(folder))
        except FileNotFoundError:
            return set()
        start = len(self.root) + 1
        return {str(p)[start:] for p in found}

    def zarr_group(self):
        """The run's Zarr group, read-only, through Zarr's ``FsspecStore``."""
        import zarr
        from zarr.storage import FsspecStore

        store = FsspecStore.from_url(f"{self.url}/{ARRAYS}", storage_options=self.storage_options or None,
                                     read_only=True)
        return zarr.open_group(store=store, mode="r")


def upload_run(run_dir: str | os.PathLike, url: str, *, storage_options: dict[str, Any] | None = None) -> str:
    """Copy a local run to an fsspec URL (e.g. ``"s3://bucket/runs/r"``) so that readers can open it there.

    The arrays go first, then the manifest, and the commit log last: a reader of the
    destination sees a snapshot only once its chunks are there (the order the
    recorder keeps on disk). Layouts saved in the run are copied too.

    Returns
    -------
    str
        ``url``, for ``open_run(url)``.
    """
    import fsspec

    src = Path(run_dir)
    if not (src / MANIFEST).is_file() or not is_url(url):
        raise InvalidParameterError(
            f"upload_run(): copies a local run folder (with {MANIFEST}) to an fsspec URL; got "
            f"{str(run_dir)!r} -> {url!r}. Pass the folder the recorder wrote and a URL such as 's3://bucket/r'."
        )
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    root = str(root).rstrip("/")
    names = [p for p in sorted(src.rglob("*")) if p.is_file() and p.name not in (MANIFEST, SNAPSHOTS)
             and not p.name.endswith(".partial")]
    try:
        for path in [*names, src / MANIFEST, src / SNAPSHOTS]:
            rel = path.relative_to(src).as_posix()
            fs.makedirs(f"{root}/{rel}".rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(path), f"{root}/{rel}")
    except OSError as exc:
        raise StorageError(f"upload_run(): copying {str(src)!r} to {url!r} failed: {exc}. Nothing was "
                           "removed at the source; the destination's commit log is written last, so a "
                           "partial copy shows fewer snapshots, never damaged ones.", path=url,
                           cause=exc) from exc
    return url
