"""Atomic file and HDF5 writing (temporary file, fsync, rename) with the no-overwrite rule."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from lava_nt.converters.model_file.checksum import _checksum
from lava_nt.converters.model_file.errors import ModelFileError, ModelFileExistsError


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write_tmp: Callable[[str], None], *, overwrite: bool = False) -> Path:
    """Write a file atomically: ``write_tmp(tmp_path)`` fills a temporary file in the target
    directory, which is fsynced and renamed over ``path`` (the directory is fsynced too). Without
    ``overwrite`` an existing ``path`` raises :class:`ModelFileExistsError` (also if it appears
    meanwhile: the rename is a hard link that fails on an existing name)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileExistsError(path, "exists; pass overwrite=True to replace it")
    if path.is_dir():
        raise ModelFileError(path, "is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(path, f"directory '{parent}' does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_tmp(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile
            except FileExistsError:
                raise ModelFileExistsError(
                    path, "exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # filesystem without hard links
                if path.exists():
                    raise ModelFileExistsError(
                        path, "exists; pass overwrite=True to replace it"
                    ) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        _fsync_dir(parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def atomic_h5_write(
    path, write: Callable, *, overwrite: bool = False, checksum: bool = True
) -> Path:
    """Write an HDF5 file atomically (:func:`atomic_write`): ``write(h5py.File)`` fills the
    temporary file. With ``checksum`` a SHA-256 of the content is stored in the root attribute
    ``checksum``."""
    import h5py

    def write_tmp(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            write(f)
        if checksum:
            with h5py.File(tmp, "r+") as f:
                f.attrs["checksum"] = _checksum(f)

    return atomic_write(path, write_tmp, overwrite=overwrite)
