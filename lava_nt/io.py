"""Durable, safe file I/O shared by the library, the converters and the examples.

Every file lava-nt writes goes through :func:`atomic_write`: a temporary file in the target
directory (``.<name>.<random>.tmp``) is filled, fsynced and renamed over the target, then the
directory is fsynced, so a kill leaves either the old or the new file, never a torn one. A kill
*during* the write can leave the hidden temporary file behind; :func:`remove_stale_temps` deletes
such leftovers and the writers call it before they write again.

Torch files (trainer checkpoints, cached networks) are read only through :func:`load_torch`, which
uses ``torch.load(..., weights_only=True)``: tensors, numbers, strings and plain containers load;
a pickle that names any other Python object (the way a malicious file runs code) is refused with
:class:`UnsafeFileError` before that object is built. A truncated or corrupt file raises
:class:`CorruptFileError`, which says which file to delete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CorruptFileError",
    "FileExistsNoOverwriteError",
    "UnsafeFileError",
    "append_jsonl",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "load_torch",
    "move_aside",
    "remove_stale_temps",
    "to_jsonable",
]


class FileExistsNoOverwriteError(FileExistsError):
    """The target exists and the writer was not allowed to replace it."""


class UnsafeFileError(ValueError):
    """A file would run code (or build arbitrary Python objects) when loaded; it was refused."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"'{path}': {message}")


class CorruptFileError(ValueError):
    """A file is truncated or unreadable (e.g. a kill or a full disk while it was written)."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"'{path}': {message}")


def fsync_dir(path) -> None:
    """fsync a directory (makes a rename in it durable); silently skipped where unsupported."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temps(path) -> int:
    """Delete temporary files that an interrupted :func:`atomic_write` of ``path`` left behind
    (``.<name>.*.tmp`` next to it). Returns how many were removed."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    n = 0
    if not parent.is_dir():
        return 0
    for p in parent.glob(f"{_temp_prefix(path)}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            n += 1
    return n


def atomic_write(
    path,
    write_tmp: Callable[[str], None],
    *,
    overwrite: bool = True,
    make_parents: bool = False,
) -> Path:
    """Write ``path`` atomically: ``write_tmp(tmp_path)`` fills a temporary file in the target
    directory, which is fsynced and renamed over ``path`` (the directory is fsynced too).

    Without ``overwrite`` an existing ``path`` raises :class:`FileExistsNoOverwriteError` (also if
    it appears meanwhile: the final step is a hard link, which fails on an existing name).
    Leftover temporary files of earlier interrupted writes of ``path`` are removed first.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if make_parents:
        parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a directory")
    if not parent.is_dir():
        raise FileNotFoundError(f"'{path}': directory '{parent}' does not exist")
    if path.exists() and not overwrite:
        raise FileExistsNoOverwriteError(f"'{path}' exists; pass overwrite=True to replace it")
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=_temp_prefix(path), suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it 0600)
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
                raise FileExistsNoOverwriteError(
                    f"'{path}' exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # filesystem without hard links
                if path.exists():
                    raise FileExistsNoOverwriteError(
                        f"'{path}' exists; pass overwrite=True to replace it"
                    ) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        fsync_dir(parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _umask() -> int:
    """The process's umask (read without changing it where the OS tells it; else set and
    restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes, **kw) -> Path:
    """:func:`atomic_write` of ``data``."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    return atomic_write(path, write, **kw)


def atomic_write_text(path, text: str, **kw) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"), **kw)


def atomic_torch_save(obj, path, **kw) -> Path:
    """``torch.save(obj)`` through :func:`atomic_write` (fsynced, renamed into place). ``obj``
    should hold only tensors, numbers, strings and plain containers so that :func:`load_torch`
    can read it back."""
    import torch  # lazy: torch only for torch files; lava_nt.io is used without torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp), **kw)


def load_torch(path, *, what: str = "file") -> Any:
    """Load a torch file with ``weights_only=True`` onto the CPU.

    Raises :class:`UnsafeFileError` if the file names Python objects other than tensors and plain
    containers (the payload is never built), :class:`CorruptFileError` if it is truncated or not a
    torch file, ``FileNotFoundError`` if it does not exist. ``what`` names the file's role in the
    messages (e.g. "trainer checkpoint").
    """
    import torch  # lazy: torch only for torch files; lava_nt.io is used without torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        msg = str(e)
        # torch names the refused object (a GLOBAL, a reduce call, a class to build); any other
        # refusal (an opcode it does not know, a bad string length) is a damaged pickle
        detail = msg.split("WeightsUnpickler error:", 1)[-1]
        names_object = any(
            s in detail for s in ("GLOBAL", "global", "allowlisted", "unrecognized function")
        )
        if names_object:
            lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
            first = next((ln for ln in lines if "nsupported" in ln), lines[0] if lines else "")
            raise UnsafeFileError(
                path,
                f"{what} refused: it holds Python objects other than tensors and plain "
                f"containers, which would run code when loaded ({first}). Only load files you "
                "trust; lava-nt never writes such objects.",
            ) from None
        first = next((ln.strip() for ln in detail.splitlines() if ln.strip()), "pickle error")
        raise CorruptFileError(
            path,
            f"{what} is truncated or corrupt (unreadable pickle: {first}); "
            "delete it to start that step again",
        ) from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CorruptFileError(
            path,
            f"{what} is truncated or corrupt ({type(e).__name__}: {first}); "
            "delete it to start that step again",
        ) from None


NONFINITE = ("keep", "null", "str")


def to_jsonable(v, nonfinite: str = "keep"):
    """Convert numpy scalars/arrays, tuples, paths and nested containers to plain JSON types
    (tuples become lists: the one canonical form used when settings are compared).

    ``nonfinite``: what becomes of NaN and infinite floats: ``"keep"`` (floats; Python's ``json``
    writes and reads them back: run journals), ``"null"`` (``None``) or ``"str"`` (``"nan"``,
    ``"inf"``, ``"-inf"``): strict JSON for reports read by other tools."""
    if nonfinite not in NONFINITE:
        raise ValueError(f"to_jsonable: nonfinite must be one of {NONFINITE}, got {nonfinite!r}")
    return _jsonable(v, nonfinite)


def _jsonable(v, nonfinite: str):
    if isinstance(v, dict):
        return {str(k): _jsonable(x, nonfinite) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x, nonfinite) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist(), nonfinite)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        v = float(v)
    if isinstance(v, float) and nonfinite != "keep" and not math.isfinite(v):
        return None if nonfinite == "null" else str(v)
    if isinstance(v, Path):
        return str(v)
    return v


def jsonl_line(row: dict) -> str:
    """``row`` as one line of a JSON-lines file (keys sorted, newline-terminated)."""
    return json.dumps(to_jsonable(row), sort_keys=True) + "\n"


def append_jsonl(path, row: dict, *, sync: bool = True) -> None:
    """Append one JSON line (:func:`jsonl_line`) with a single ``write`` on an ``O_APPEND``
    descriptor (+ fsync)."""
    line = jsonl_line(row).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(line)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def move_aside(path) -> Path:
    """Rename ``path`` to the first free ``<name>.corrupt-<n>`` (n = 1, 2, ...) next to it and
    return the new path: a corrupt file is kept for inspection while its step starts over."""
    path = Path(path)
    n = 1
    while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    path.rename(aside)
    return aside
