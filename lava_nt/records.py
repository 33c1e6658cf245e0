"""What made a directory of results: ``DIR/commands.jsonl``, one line per completed command
with the command line, the git commit of the code that ran it (and whether the working tree had
uncommitted changes), the lava-nt version and the time.

Every command that writes results meant for the documentation records itself here
(:func:`record_command`); the generated documentation blocks (:mod:`lava_nt.docs_blocks`) name
these lines in their captions, so every number in a block can be traced to a command and a commit
and regenerated.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lava_nt import __version__
from lava_nt.io import append_jsonl, atomic_write_text, jsonl_line

__all__ = ["COMMANDS", "commands", "git_commit", "record_command"]

COMMANDS = "commands.jsonl"


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit(path=None) -> dict:
    """``{"commit": short hash or None, "dirty": bool}`` of the git tree holding ``path``
    (default: lava-nt's source; None when it is not in a git repository)."""
    here = Path(path) if path is not None else Path(__file__).resolve().parent
    commit = _git("rev-parse", "--short=10", "HEAD", cwd=here)
    if not commit:
        return {"commit": None, "dirty": False}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=here)
    return {"commit": commit, "dirty": bool(status)}


def record_command(
    run_dir,
    argv: Sequence[str],
    program: str = "lava-nt",
    code: dict | None = None,
    *,
    replace: bool | Callable[[dict], bool] = False,
    fields: dict | None = None,
) -> dict:
    """Append the completed command ``program argv`` to ``RUN/commands.jsonl``; returns the line.

    ``code``: :func:`git_commit` taken when the command started (default: now). ``replace``:
    the file holds this command alone afterwards (written atomically), for a directory whose
    results are all the last command's own (a rerun replaces them); a callable: the earlier lines
    for which ``replace(line)`` is true are dropped (the new command redid their work), the others
    kept, and the file is rewritten atomically. ``fields``: extra keys of the line (what a
    ``replace`` callable of a later command reads, e.g. which parts of a study it ran).
    """
    line = {
        "command": shlex.join([program, *map(str, argv)]),
        **(code if code is not None else git_commit()),
        "version": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(fields or {}),
    }
    if replace:
        drop = replace if callable(replace) else (lambda old: True)
        kept = [old for old in commands(run_dir) if not drop(old)]
        text = "".join(jsonl_line(old) for old in [*kept, line])
        atomic_write_text(Path(run_dir) / COMMANDS, text)
    else:
        append_jsonl(Path(run_dir) / COMMANDS, line)
    return line


def commands(run_dir) -> list[dict]:
    """The recorded command lines of ``run_dir`` (unreadable lines skipped), oldest first."""
    path = Path(run_dir) / COMMANDS
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "command" in row:
            out.append(row)
    return out
