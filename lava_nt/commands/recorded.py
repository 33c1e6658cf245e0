"""Commands that write a results directory and record themselves in it (``DIR/commands.jsonl``,
:mod:`lava_nt.records`): ``images run``, ``images ondevice``, ``abstracted run``.

:func:`recorded_run` is their common frame: the output directory checked first (an error names
it), the git commit taken when the work starts, the work, and on success the command line that
reproduces it recorded. A rerun of the same command into the same directory rewrites its files,
so its line replaces the earlier lines of that command (``same_command``) instead of being added
beside them: a generated documentation block then names the command once.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from lava_nt.commands.arguments import check_output_dir, reproducing_argv
from lava_nt.records import git_commit, record_command

__all__ = ["recorded_run", "same_command"]


def same_command(words: list[str], program: str = "lava-nt") -> Callable[[dict], bool]:
    """A ``record_command`` ``replace`` predicate: true for a recorded line of the command
    ``program words...`` (whatever its options)."""
    head = shlex.join([program, *words])
    return lambda line: str(line.get("command", "")).split(" --")[0].strip() == head


def recorded_run(
    prog: str,
    out,
    args,
    words: list[str],
    work: Callable[[], object],
    *,
    user_errors: tuple[type[Exception], ...] = (),
    replace: Callable[[dict], bool] | None = None,
    fields: dict | None = None,
) -> int:
    """Run ``work()`` into the directory ``out`` and record ``lava-nt words... options`` there.

    ``prog`` prefixes the messages (``lava-nt images``). An unusable ``out`` is exit status 1;
    an exception of ``user_errors`` (missing data, ...) is printed and exit status 2, and nothing
    is recorded. ``replace``: which earlier lines the new one replaces (default: the lines of the
    same command, :func:`same_command`); ``fields``: extra keys of the line."""
    try:
        check_output_dir(out, ValueError)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    code = git_commit()  # the code this command runs (recorded when it completes)
    try:
        work()
    except user_errors as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    argv = reproducing_argv(args, words)
    record_command(out, argv, code=code, replace=replace or same_command(words), fields=fields)
    return 0
