"""Checked command-line values for the ``lava-nt`` subcommands.

argparse ``type=`` functions for numbers (:func:`positive_int`, :func:`nonnegative_int`,
:func:`positive_float`, :func:`positive_seconds`): zero (where it must be positive), negative,
NaN, infinite or non-numeric text is refused by argparse with a message naming the option
(``argument --timeout: must be a positive number of seconds, got 'nan'``), exit status 2.

:func:`check_output` checks an output file before the work that produces it: the file must not
exist (unless replacing it was asked for), its directory must exist and accept a new file (a
read-only directory or file system is found by creating and removing a probe file, which also
works for root, who ignores permission bits). :func:`check_output_dir` does the same for an
output directory (created if missing).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

__all__ = [
    "check_output",
    "check_output_dir",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "positive_seconds",
]


def positive_int(text: str) -> int:
    """An integer >= 1 (``"25"``); ``"0"``, ``"-3"``, ``"2.5"``, ``"abc"`` are refused."""
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (a seed); ``"-1"``, ``"2.5"``, ``"abc"`` are refused."""
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0; ``"0"``, ``"-1"``, ``"nan"``, ``"inf"``, ``"abc"`` are refused."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A timeout in seconds: a finite number > 0."""
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, got {text!r}"
        ) from None


def check_output(path, overwrite: bool, error: type[Exception]) -> Path:
    """Raise ``error`` (with a message for the command line) unless ``path`` can be written:
    it is not a directory, does not exist unless ``overwrite``, and its directory exists and
    accepts a new file."""
    path = Path(path)
    if path.is_dir():
        raise error(f"'{path}' is a directory")
    if path.exists() and not overwrite:
        raise error(f"'{path}' exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise error(f"cannot write '{path}': directory '{parent}' does not exist")
    _probe(parent, f"'{path}'", error)
    return path


def _probe(directory: Path, what: str, error: type[Exception]) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".lava-nt-", suffix=".probe")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise error(f"cannot write {what}: directory '{directory}': {reason}") from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path, error: type[Exception]) -> Path:
    """Create the output directory ``path`` if needed and check that it accepts new files;
    raise ``error`` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"'{path}' exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create directory '{path}': {exc.strerror or exc}") from None
    _probe(path, f"into '{path}'", error)
    return path
