"""Atomic model-file writing through :func:`lava_nt.io.atomic_write` (temporary file, fsync,
rename, directory fsync, leftover temporary files of interrupted writes removed) with the
model-file errors and the no-overwrite default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py

from lava_nt.converters.model_file.checksum import _checksum
from lava_nt.converters.model_file.errors import ModelFileError, ModelFileExistsError
from lava_nt.io import FileExistsNoOverwriteError
from lava_nt.io import atomic_write as _io_atomic_write


def atomic_write(path, write_tmp: Callable[[str], None], *, overwrite: bool = False) -> Path:
    """Write a file atomically (:func:`lava_nt.io.atomic_write`): ``write_tmp(tmp_path)`` fills a
    temporary file in the target directory, which is fsynced and renamed over ``path``. Without
    ``overwrite`` an existing ``path`` raises :class:`ModelFileExistsError` (also if it appears
    meanwhile: the rename is a hard link that fails on an existing name); a missing directory or
    a directory at ``path`` raise :class:`ModelFileError`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileExistsError(path, "exists; pass overwrite=True to replace it")
    if path.is_dir():
        raise ModelFileError(path, "is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(path, f"directory '{parent}' does not exist")
    try:
        return _io_atomic_write(path, write_tmp, overwrite=overwrite)
    except FileExistsNoOverwriteError:
        raise ModelFileExistsError(path, "exists; pass overwrite=True to replace it") from None


def atomic_h5_write(
    path, write: Callable, *, overwrite: bool = False, checksum: bool = True
) -> Path:
    """Write an HDF5 file atomically (:func:`atomic_write`): ``write(h5py.File)`` fills the
    temporary file. With ``checksum`` a SHA-256 of the content is stored in the root attribute
    ``checksum``."""

    def write_tmp(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            write(f)
        if checksum:
            with h5py.File(tmp, "r+") as f:
                f.attrs["checksum"] = _checksum(f)

    return atomic_write(path, write_tmp, overwrite=overwrite)
