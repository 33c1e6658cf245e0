"""Running Lava safely: a timeout, ``stop()`` always, and no worker processes left behind.

Lava 0.10 has three failure modes that this module contains (``notes/lava-facts.md`` §6):

* an exception inside a model's ``run_spk`` makes ``run()`` hang silently;
* an interpreter that exits without ``stop()`` hangs in multiprocessing's exit handler;
* killing the parent of a running network orphans its worker processes.

:func:`run_isolated` therefore runs a *job* (a function that builds, runs, reads and stops a Lava
network and returns picklable results) in a forked child that leads its own process group. Lava's
workers are forked from that child and inherit the group, so one ``killpg`` ends everything: on
timeout, on error, and after a normal result. The child also kills its group if its parent dies.

Inside a job, end every network with :func:`stopping` (or ``try: ... finally: proc.stop()``)::

    def job(x):
        src = RingBuffer(data=x); ...
        with stopping(src):
            src.run(condition=RunSteps(n), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
            return read_outputs()

    result = run_isolated(job, x, timeout=60)

Models of lava-nt's own processes wrap ``run_spk`` in :func:`report_model_errors`, which writes the
model's traceback to stderr and to a file that :func:`run_isolated` collects, so a hung run is
reported with the model error that caused it.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from lava_nt.lava.compat import allow_lava_import

#: Environment variable naming the file that model errors are appended to (set in the child).
ERROR_FILE_ENV = "LAVA_NT_MODEL_ERROR_FILE"
#: After a model reported an error, wait this long for the job to end by itself (seconds).
MODEL_ERROR_GRACE = 2.0
#: How often the child checks that its parent is still alive (seconds).
PARENT_WATCH_INTERVAL = 0.5


class LavaError(RuntimeError):
    """Base class of lava-nt's Lava run errors."""

    def __init__(self, message: str, child_traceback: str = "", model_errors: str = ""):
        self.child_traceback = child_traceback
        self.model_errors = model_errors
        text = message
        if model_errors:
            text += "\n--- errors reported by Lava process models ---\n" + model_errors.rstrip()
        if child_traceback:
            text += "\n--- traceback in the Lava job process ---\n" + child_traceback.rstrip()
        super().__init__(text)


class LavaRunError(LavaError):
    """The Lava job raised (``child_traceback`` holds its traceback) or its process died."""


class LavaTimeoutError(LavaError, TimeoutError):
    """The Lava job did not finish within its timeout (e.g. a model error hung ``run()``)."""


#: Modules every lava-nt network job imports (Lava's compiler and runtime, the I/O and Dense
#: processes and models, lava-nt's own processes and models).
LAVA_MODULES = (
    "lava.magma.core.run_configs",
    "lava.magma.core.run_conditions",
    "lava.magma.compiler.compiler",
    "lava.magma.runtime.runtime",
    "lava.proc.io.source",
    "lava.proc.io.extractor",
    "lava.proc.dense.process",
    "lava.proc.dense.models",
    "lava_nt.processes.ntlif.process",
    "lava_nt.processes.ntlif.models",
    "lava_nt.processes.spiking_bias.process",
    "lava_nt.processes.spiking_bias.models",
)


_PRELOADED = False


def preload_lava() -> None:
    """Import Lava's modules in this process and select the ProcessModels of lava-nt's runners
    (:func:`lava_nt.lava.models.warm_model_cache`), so that jobs forked by :func:`run_isolated`
    find both done instead of doing them again (together about a second per job here).

    Importing Lava sets this process' multiprocessing start method to ``fork`` (Lava requires it;
    it is the default on Linux). Call it only where Lava may be imported; lava-nt's runners call it
    before every job (after the first call it costs nothing)."""
    global _PRELOADED
    if _PRELOADED:
        return
    import importlib

    allow_lava_import()
    for name in LAVA_MODULES:
        importlib.import_module(name)
    from lava_nt.lava.models import warm_model_cache

    warm_model_cache()
    _PRELOADED = True


def default_timeout(steps: int, per_step: float = 0.02, base: float = 60.0) -> float:
    """A generous timeout for a run of ``steps`` Lava time steps (seconds)."""
    return base + per_step * max(int(steps), 0)


# ---- process-group helpers (Linux /proc) --------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, pgid)`` of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    rest = data[data.rfind(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2])


def group_members(pgid: int, include_zombies: bool = False) -> list[int]:
    """PIDs of the processes in process group ``pgid`` (zombies excluded unless asked)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _proc_stat(int(entry))
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
        st = _proc_stat(int(entry))
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


# ---- inside the child ---------------------------------------------------------------------------
def _watch_parent(parent_pid: int, error_file: str) -> None:
    while True:
        time.sleep(PARENT_WATCH_INTERVAL)
        if os.getppid() != parent_pid:  # parent died: we were re-parented
            with contextlib.suppress(OSError):
                os.unlink(error_file)  # the parent can no longer clean it up
            os.killpg(os.getpgid(0), signal.SIGKILL)


def _child_main(conn, parent_pid: int, error_file: str, job, args, kwargs) -> None:
    os.setsid()  # lead a new process group: Lava's workers inherit it, one killpg ends all
    allow_lava_import()
    os.environ[ERROR_FILE_ENV] = error_file
    threading.Thread(target=_watch_parent, args=(parent_pid, error_file), daemon=True).start()
    try:
        try:
            result = job(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        else:
            try:
                conn.send(("ok", result))
            except Exception as exc:  # e.g. unpicklable result
                conn.send(("error", f"cannot return the job's result: {exc!r}", ""))
        conn.close()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # skip atexit/multiprocessing exit handlers: they hang on a Lava runtime that was not
        # stopped; the parent kills whatever is left of the group.
        os._exit(0)


# ---- the public helpers -------------------------------------------------------------------------
def run_isolated(job: Callable[..., Any], *args, timeout: float, **kwargs) -> Any:
    """Run ``job(*args, **kwargs)`` in a forked child process group and return its result.

    The child calls ``os.setsid()`` first, so the child and every Lava worker it forks form one
    process group. The result must be picklable (e.g. a dict of numpy arrays); it comes back
    through a pipe.

    Raises:
        LavaTimeoutError: no result within ``timeout`` seconds (the whole group is killed).
        LavaRunError: the job raised (the child's traceback is attached), its result could not
            be pickled, the child died without a result, or one of lava-nt's process models
            reported an error (see :func:`report_model_errors`) and the job did not end within
            :data:`MODEL_ERROR_GRACE` seconds after it (Lava usually hangs then).

    After any outcome, including a normal result, the whole process group is SIGKILLed and the
    call returns only when no process of the group is left (bounded wait).
    """
    if not callable(job):
        raise TypeError(f"run_isolated: job must be callable, got {type(job).__name__}")
    if timeout is None or not timeout > 0:
        raise ValueError(
            f"run_isolated: timeout must be a positive number of seconds, got {timeout}"
        )
    fd, error_file = tempfile.mkstemp(prefix="lava_nt_model_errors_", suffix=".txt")
    os.close(fd)
    recv_conn, send_conn = multiprocessing.Pipe(duplex=False)
    name = getattr(job, "__name__", repr(job))
    parent_pid = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # do not duplicate buffered output in the child
    # A bare os.fork rather than multiprocessing.Process: multiprocessing's child bootstrap fixes
    # the default start method, after which ``import lava`` (which calls set_start_method('fork'))
    # fails in the child.
    pid = os.fork()
    if pid == 0:  # child: never returns
        try:
            recv_conn.close()
            _child_main(send_conn, parent_pid, error_file, job, args, kwargs)
        finally:
            os._exit(70)
    send_conn.close()
    deadline = time.monotonic() + float(timeout)
    msg = None
    status = None
    model_error_seen = None
    try:
        while True:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                break
            if model_error_seen is None and _nonempty(error_file):
                model_error_seen = now
            if model_error_seen is not None and now - model_error_seen > MODEL_ERROR_GRACE:
                msg = ("model_error", None)  # a model failed and Lava hangs: do not wait longer
                break
            if recv_conn.poll(min(remaining, 0.25)):
                try:
                    msg = recv_conn.recv()
                except (EOFError, OSError):
                    msg = ("died", None)
                break
            if status is None:
                done, status_ = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = status_
            if status is not None and not recv_conn.poll(0):
                msg = ("died", None)
                break
    finally:
        kill_group(pid)
        if status is None:  # not reaped yet, so the pid is still ours
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # in case it had not reached setsid() yet
            with contextlib.suppress(ChildProcessError):
                status = os.waitpid(pid, 0)[1]
        recv_conn.close()
        model_errors = _read_and_remove(error_file)
    if msg is None:
        raise LavaTimeoutError(
            f"Lava job {name!r} did not finish within {timeout:g} s; its process group was killed",
            model_errors=model_errors,
        )
    if msg[0] == "ok":
        return msg[1]
    if msg[0] == "model_error":
        raise LavaRunError(
            f"Lava job {name!r}: a process model failed (Lava would hang); its process group "
            "was killed",
            model_errors=model_errors,
        )
    if msg[0] == "error":
        raise LavaRunError(
            f"Lava job {name!r} failed: {msg[1]}", child_traceback=msg[2], model_errors=model_errors
        )
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    raise LavaRunError(
        f"Lava job {name!r} died without a result (exit status {code})",
        model_errors=model_errors,
    )


def _nonempty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _read_and_remove(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def stop_with_timeout(proc, timeout: float = 30.0) -> bool:
    """Call ``proc.stop()`` in a helper thread; True if it returned within ``timeout`` s.

    ``stop()`` can hang after a model error; the caller then simply proceeds (inside
    :func:`run_isolated` the parent's timeout and ``killpg`` clean up). Exceptions from ``stop()``
    are re-raised.
    """
    box: dict[str, BaseException] = {}

    def target():
        try:
            proc.stop()
        except BaseException as exc:  # noqa: BLE001
            box["exc"] = exc

    th = threading.Thread(target=target, name="lava-nt-stop", daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        return False
    if "exc" in box:
        raise box["exc"]
    return True


@contextlib.contextmanager
def stopping(proc, stop_timeout: float = 30.0) -> Iterator[Any]:
    """Context manager that always ends the Lava runtime of ``proc`` with ``stop()``.

    On an exception inside the block, ``stop()`` is attempted (bounded by ``stop_timeout``) and
    the original exception propagates; a hanging ``stop()`` cannot hide it. After a clean block a
    ``stop()`` that hangs raises :class:`LavaRunError`. Yields ``proc`` (Lava's own ``with proc``
    yields None).
    """
    try:
        yield proc
    except BaseException:
        with contextlib.suppress(Exception):
            stop_with_timeout(proc, stop_timeout)
        raise
    if not stop_with_timeout(proc, stop_timeout):
        raise LavaRunError(f"stop() did not return within {stop_timeout:g} s")


# ---- used by lava-nt's ProcessModels -----------------------------------------------------------
def report_model_errors(run_fn):
    """Decorator for a model's ``run_spk`` (and ``__init__``): an exception is written (with the
    model and time step) to stderr and to the file named by ``$LAVA_NT_MODEL_ERROR_FILE`` (which
    :func:`run_isolated` collects), then re-raised.

    Lava only logs such errors at INFO level and often hangs; this makes them visible.
    """

    @functools.wraps(run_fn)
    def wrapper(self, *args, **kwargs):
        try:
            return run_fn(self, *args, **kwargs)
        except BaseException:
            text = (
                f"lava-nt: {type(self).__name__} failed in {run_fn.__name__} at time_step "
                f"{getattr(self, 'time_step', '?')} (pid {os.getpid()}):\n{traceback.format_exc()}"
            )
            with contextlib.suppress(Exception):
                sys.stderr.write(text)
                sys.stderr.flush()
            path = os.environ.get(ERROR_FILE_ENV)
            if path:
                with contextlib.suppress(Exception), open(path, "a") as fh:
                    fh.write(text)
            raise

    return wrapper


def check_model_precision(model: str, proc_params, precision: str) -> None:
    """Raise if a ProcessModel of one precision was selected for a Process built for the other."""
    built = proc_params.get("precision", precision)
    if built != precision:
        tag = "floating_pt" if built == "float" else "fixed_pt"
        raise RuntimeError(
            f"{model} is the {precision} model but the process was built with "
            f"precision={built!r}; run it with select_tag={tag!r}"
        )
