"""Process groups, exit states and a run's private files, read from Linux ``/proc`` and
``/dev/shm`` (used by :mod:`lava_nt.lava.run`).

A Lava run made by :func:`lava_nt.lava.run.run_isolated` owns

* a process group (the job process, Lava's workers, multiprocessing's manager and resource
  tracker), ended by :func:`kill_group`;
* a private temporary directory (multiprocessing's ``pymp-*`` directories and the model-error
  file go there) and the POSIX shared-memory segments whose names start with the run's prefix
  (``/dev/shm/<prefix>*``), both removed by :func:`remove_run_files`.

Nothing here reaps a process: exit states are read from ``/proc/<pid>/stat``, so Lava's own
``join()`` still finds its children.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

#: Where POSIX shared memory lives on Linux.
SHM_DIR = "/dev/shm"


def proc_stat(pid: int) -> tuple[str, int, int, int | None] | None:
    """``(state, ppid, pgid, exit_status)`` of a process, or None if it is gone.

    ``exit_status`` is the raw wait status of a zombie (Linux >= 3.5; None where unavailable).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    rest = data[data.rfind(")") + 2 :].split()
    status = int(rest[49]) if len(rest) > 49 else None  # field 52 of proc(5)
    return rest[0], int(rest[1]), int(rest[2]), status


def exit_text(status: int) -> str:
    """A raw wait status in words: ``exited with code 3`` / ``was killed by signal 9 (SIGKILL)``."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {sig} ({name})"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"


def group_members(pgid: int, include_zombies: bool = False) -> list[int]:
    """PIDs of the processes in process group ``pgid`` (zombies excluded unless asked)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is None or st[2] != pgid:
            continue
        if st[0] == "Z" and not include_zombies:
            continue
        out.append(int(entry))
    return out


def descendants(pid: int, include_zombies: bool = False) -> list[int]:
    """PIDs of all live descendants of ``pid``."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is None:
            continue
        children.setdefault(st[1], []).append(int(entry))
        states[int(entry)] = st[0]
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if include_zombies or states.get(p) != "Z":
            out.append(p)
        todo.extend(children.get(p, []))
    return out


def kill_group(pgid: int, wait: float = 5.0) -> None:
    """SIGKILL every process of group ``pgid`` and wait (up to ``wait`` s) until none is left."""
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if not group_members(pgid) or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def shm_segments(prefix: str) -> list[str]:
    """Names of the shared-memory segments in :data:`SHM_DIR` that start with ``prefix``."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    except OSError:
        return []


def remove_run_files(run_dir: str | None, shm_prefix: str | None) -> None:
    """Delete a run's private temporary directory and its shared-memory segments (call it once
    the run's processes are gone: a live Lava manager would create new segments)."""
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    if shm_prefix:
        for name in shm_segments(shm_prefix):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(SHM_DIR, name))
