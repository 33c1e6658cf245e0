"""Subcommands of the ``lava-nt`` CLI, one module per group (each defines ``register``)."""

import sys


class CommandError(Exception):
    """A user-facing error (printed without a traceback)."""


def fail(cmd: str, exc: BaseException | str) -> int:
    """Report a user-facing error as one line ``lava-nt CMD: error: ...`` on stderr; returns the
    exit status 1."""
    print(f"lava-nt {cmd}: error: {exc}", file=sys.stderr)
    return 1


def write_json(path, obj, overwrite: bool, error: type[Exception] = ValueError) -> None:
    """Write ``obj`` as indented JSON atomically (temporary file, fsync, rename: see
    :func:`lava_nt.converters.model_file.atomic_write`). An existing file without ``overwrite``
    or a missing directory raises ``error`` with a message for the command line."""
    import json

    from lava_nt.converters.model_file import ModelFileError, ModelFileExistsError, atomic_write

    def fill(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1)
            fh.write("\n")

    try:
        atomic_write(path, fill, overwrite=overwrite)
    except ModelFileExistsError:
        raise error(f"'{path}' exists; pass --overwrite to replace it") from None
    except ModelFileError as exc:
        raise error(str(exc).replace("model file ", "", 1)) from None
