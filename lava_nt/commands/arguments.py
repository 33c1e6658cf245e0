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
    "add_overwrite",
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


def add_overwrite(parser, what: str) -> None:
    """The ``--overwrite`` flag of a command that writes ``what`` (refused if it exists)."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace an existing {what}")


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


def model_classes(info, given, spec, model, error: type[Exception], *, needed: bool = True):
    """The classes of a model's output coding: ``given`` (``--n-classes``), else the model
    file's (population coding or one readout unit per class).

    A model file that does not record its coding (a NIR or netx import without
    ``--n-classes``) is an error naming the option when ``needed``; otherwise None is returned.
    A count that does not divide the output neurons (or differs from a readout's units) is an
    error."""
    import numbers

    n = given if given is not None else info.n_classes
    ro = getattr(spec, "readout", None)
    if n is None and ro is not None:
        n = ro.n
    if n is None:
        if not needed:
            return None
        raise error(
            f"model '{model}' does not record how its {spec.n_out} output neurons code classes "
            "(NIR and netx files carry no output coding); pass --n-classes N (or store it: "
            "lava-nt import-nir/import-netx ... --n-classes N)"
        )
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise error(f"the number of classes must be a positive integer, got {n!r}")
    if ro is not None and n != ro.n:
        raise error(
            f"--n-classes {n}: model '{model}' ends in a readout of {ro.n} units, one per class"
        )
    if spec.n_out % n:
        raise error(f"{spec.n_out} output neurons do not split into {n} classes")
    return int(n)


def subtract_reset_layers(spec) -> list[int]:
    """The layers of ``spec`` that reset by subtraction (which netx and plain NIR cannot hold)."""
    return [k for k, ls in enumerate(spec.layers) if ls.neuron.reset_subtract]


def reset_export_error(model, layers: list[int], target: str) -> str:
    """The CLI's message for a subtractive-reset model that cannot go to ``target``
    (``"netx"``, ``"nir"`` or ``"norse"``), naming the option that fixes it."""
    which = f"layer{'s' if len(layers) > 1 else ''} {', '.join(map(str, layers))}"
    head = (
        f"model '{model}' resets by subtraction ({which}; the default of build_network and "
        "lava-nt train)"
    )
    retrain = "train the model with `lava-nt train --reset zero` (build_network(..., reset='zero'))"
    if target == "nir":
        return (
            f"{head}, which NIR 1.0 cannot express (its neurons reset to v_reset); pass "
            f"--subtract-reset metadata to record it in the node metadata (honoured by lava-nt "
            f"import-nir only), or {retrain}"
        )
    if target == "norse":
        return (
            f"{head}; norse.torch.from_nir resets to v_reset, so --norse-compat needs a "
            f"zero-reset model: {retrain}, or export without --norse-compat"
        )
    return (
        f"{head}; netx's CUBA neurons (Lava LIF) reset to zero, so it cannot be written as "
        f"netx: {retrain}, or run it with lava-nt deploy (lava-nt's own processes)"
    )


def reproducing_argv(args, prefix: list[str]) -> list[str]:
    """The command line that reproduces ``args`` (parsed by the subcommand parser stored as
    ``args.parser``): ``prefix`` and every option that differs from its default, in the
    parser's order. Used to record what a run directory was made by."""
    out = list(prefix)
    for a in args.parser._actions:
        if not a.option_strings or a.dest == "help":
            continue
        v = getattr(args, a.dest, None)
        if v is None or v == a.default:
            continue
        opt = max(a.option_strings, key=len)
        if isinstance(a, argparse._StoreTrueAction):
            out.append(opt)
        elif isinstance(v, list):
            out += [opt, *map(str, v)]
        else:
            out += [opt, str(v)]
    return out
