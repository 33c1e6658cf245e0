"""Which failures of ``lava-nt eeg`` are the user's (bad settings or data, the environment) and
how they are reported: one line ``lava-nt eeg CMD: error: ...`` and exit status 1."""

from __future__ import annotations

import errno
import sys

#: OS errors that are the user's environment, not a bug: reported in one line.
ENV_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR)


def check_docs(args) -> None:
    if (args.docs is None) != (args.docs_name is None):
        raise SystemExit("lava-nt eeg: error: --docs and --docs-name go together")
    if getattr(args, "docs_part", "all") != "all" and (args.docs is None or args.against):
        raise SystemExit("lava-nt eeg report: error: --docs-part goes with --docs (not --against)")


def fail(cmd: str, exc: BaseException) -> int:
    if isinstance(exc, OSError) and exc.filename is not None:
        msg = f"cannot write '{exc.filename}': {exc.strerror}"
    else:
        msg = str(exc)
    print(f"lava-nt eeg {cmd}: error: {msg}", file=sys.stderr)
    return 1


def user_errors():
    from lava_nt.docs_blocks import DocsBlockError
    from lava_nt.examples.eeg.deap import DEAPFormatError
    from lava_nt.examples.eeg.pipeline import PipelineError
    from lava_nt.examples.eeg.protocols import SplitError
    from lava_nt.examples.eeg.synthetic import SyntheticDataError
    from lava_nt.io import CorruptFileError, UnsafeFileError
    from lava_nt.lava.run import LavaError
    from lava_nt.spec.validation import ParameterError

    return (
        PipelineError, DEAPFormatError, SplitError, ParameterError, SyntheticDataError,
        CorruptFileError, UnsafeFileError, LavaError, DocsBlockError,
    )  # fmt: skip


def env_error(exc: OSError) -> bool:
    return exc.errno in ENV_ERRNOS
