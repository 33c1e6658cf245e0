"""Running Lava safely: a timeout, ``stop()`` always, failures noticed at once, nothing left
behind.

Lava 0.10 has failure modes that this module contains (upstream lava-nc/lava issues #231, #178,
#83 and the list below):

* an exception inside a model's ``run_spk`` makes ``run()`` hang silently;
* a worker process that dies (``os._exit``, a signal) also leaves ``run()`` waiting forever;
* an interpreter that exits without ``stop()`` hangs in multiprocessing's exit handler;
* killing the parent of a running network orphans its worker processes, and a killed network
  leaves its shared-memory segments (``/dev/shm``) and multiprocessing's ``pymp-*`` directories.

:func:`run_isolated` therefore runs a *job* (a function that builds, runs, reads and stops a Lava
network and returns picklable results) in a forked child that leads its own process group. Lava's
workers are forked from that child and inherit the group, so one ``killpg`` ends everything: on
timeout, on error, on ``KeyboardInterrupt`` and after a normal result. The child also kills its
group if its parent dies.

Each run gets a private temporary directory (``TMPDIR`` of the job: multiprocessing's ``pymp-*``
directories go there) and a private prefix for the names of the shared-memory segments its Lava
manager creates; both are removed when the run ends, whatever the outcome.

Inside the child a watcher thread notices at once a Lava worker that raised (whether or not its
model uses :func:`report_model_errors`) or died with a non-zero exit status or a signal; the
parent then ends the run with :class:`LavaRunError` within :data:`MODEL_ERROR_GRACE` seconds
instead of waiting for the timeout.

Inside a job, end every network with :func:`stopping` (or ``try: ... finally: proc.stop()``)::

    def job(x):
        src = RingBuffer(data=x); ...
        with stopping(src):
            src.run(condition=RunSteps(n), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
            return read_outputs()

    result = run_isolated(job, x, timeout=60)

Models of lava-nt's own processes wrap ``run_spk`` in :func:`report_model_errors`, which writes the
model's traceback (with the time step) to stderr and to the run's error file.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import multiprocessing
import numbers
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from multiprocessing import process, resource_tracker, shared_memory
from typing import Any

from lava_nt.lava.compat import allow_lava_import
from lava_nt.lava.models import warm_model_cache
from lava_nt.lava.procfs import (
    descendants,
    exit_text,
    group_members,
    kill_group,
    proc_stat,
    remove_run_files,
)

__all__ = [
    "ERROR_FILE_ENV",
    "LavaError",
    "LavaRunError",
    "LavaTimeoutError",
    "check_model_precision",
    "default_timeout",
    "descendants",
    "group_members",
    "kill_group",
    "preload_lava",
    "report_model_errors",
    "run_isolated",
    "stop_with_timeout",
    "stopping",
]

#: Environment variable naming the file that model errors are appended to (set in the child).
ERROR_FILE_ENV = "LAVA_NT_MODEL_ERROR_FILE"
#: After a model or worker failure was reported, wait this long for the job to end by itself (s).
MODEL_ERROR_GRACE = 2.0
#: How often the child checks its parent and its Lava workers (seconds).
WATCH_INTERVAL = 0.2
#: Name of the model-error file in the run's private directory.
ERROR_FILE_NAME = "model_errors.txt"


class LavaError(RuntimeError):
    """Base class of lava-nt's Lava run errors."""

    def __init__(self, message: str, child_traceback: str = "", model_errors: str = ""):
        self.child_traceback = child_traceback
        self.model_errors = model_errors
        text = message
        if model_errors:
            text += "\n--- errors reported by the Lava workers ---\n" + model_errors.rstrip()
        if child_traceback:
            text += "\n--- traceback in the Lava job process ---\n" + child_traceback.rstrip()
        super().__init__(text)


class LavaRunError(LavaError):
    """The Lava job raised (``child_traceback`` holds its traceback), one of its Lava workers
    raised or died, or the job process died."""


class LavaTimeoutError(LavaError, TimeoutError):
    """The Lava job did not finish within its timeout (``timeout`` holds it, in seconds)."""

    def __init__(self, message: str, timeout: float | None = None, **kw):
        self.timeout = timeout
        super().__init__(message, **kw)


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
#: Modules Lava's compile imports lazily when installed: every process graph it builds goes
#: through networkx's ``to_networkx_graph``, which tries ``import pandas`` (measured: about half
#: of a forked job's compile + start, 0.96 -> 0.53 s per run, when pandas was not yet imported).
OPTIONAL_MODULES = ("pandas",)


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
    allow_lava_import()
    for name in LAVA_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # not installed: networkx's lazy import finds nothing either
            pass
    warm_model_cache()
    _PRELOADED = True


def default_timeout(steps: int, per_step: float = 0.02, base: float = 60.0) -> float:
    """A generous timeout for a run of ``steps`` Lava time steps (seconds)."""
    return base + per_step * max(int(steps), 0)


def check_timeout(timeout, what: str = "timeout") -> float:
    """``timeout`` as a positive finite number of seconds; anything else (0, negative, NaN,
    infinite, a bool, a string) raises ``ValueError`` naming ``what``."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, numbers.Real)
        or not math.isfinite(float(timeout))
        or not float(timeout) > 0
    ):
        raise ValueError(f"{what} must be a positive finite number of seconds, got {timeout!r}")
    return float(timeout)


# ---- inside the child ---------------------------------------------------------------------------
#: Lava workers started by this (job) process: pid -> description (filled by the start hook).
_WORKERS: dict[int, str] = {}


def _append_error(text: str) -> None:
    path = os.environ.get(ERROR_FILE_ENV)
    if path:
        with contextlib.suppress(Exception), open(path, "a") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


def _describe_worker(proc) -> str | None:
    """What a Lava actor process runs (``None`` for a process that is not a Lava actor)."""
    builder = (getattr(proc, "_kwargs", None) or {}).get("builder")
    if builder is None:
        return None
    model = getattr(builder, "proc_model", None)
    if model is not None:
        return f"process model {getattr(model, '__name__', model)}"
    service = getattr(builder, "rs_class", None)
    if service is not None:
        return f"runtime service {getattr(service, '__name__', service)}"
    return f"process {getattr(proc, 'name', '?')}"


def _hook_lava_workers() -> None:
    """Record every Lava actor this process starts and report an exception that ends one.

    Lava starts its actors (process models and runtime services) as ``multiprocessing``
    processes; an exception that ends one is only logged and ``run()`` then hangs. The hooks on
    ``BaseProcess.start`` / ``run`` (inherited by the forked workers) record the worker and
    write such an exception to the run's error file.
    """
    base = process.BaseProcess
    start, run = base.start, base.run

    def hooked_start(self):
        desc = _describe_worker(self)  # start() deletes the target and its arguments
        start(self)
        if desc is not None and self.pid is not None:
            _WORKERS[self.pid] = desc

    def hooked_run(self):
        try:
            run(self)
        except Exception as exc:
            desc = _describe_worker(self)
            if desc is not None and not getattr(exc, "_lava_nt_reported", False):
                _append_error(
                    f"lava-nt: Lava worker ({desc}, pid {os.getpid()}) raised "
                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
                )
            raise

    base.start, base.run = hooked_start, hooked_run


def _private_temp(run_dir: str, shm_prefix: str) -> None:
    """Make this process and everything it forks use the run's private files: temporary
    directory ``run_dir`` and shared-memory names starting with ``shm_prefix``."""
    os.environ["TMPDIR"] = run_dir
    tempfile.tempdir = run_dir
    process.current_process()._config.pop("tempdir", None)  # multiprocessing's pymp-* cache
    shared_memory._make_filename = lambda: f"/{shm_prefix}{secrets.token_hex(8)}"
    # a resource tracker of our own (in our group): the parent's would keep the segments
    # registered after the run and warn about them at its exit
    rt = resource_tracker._resource_tracker
    with contextlib.suppress(Exception):
        if rt._fd is not None:
            os.close(rt._fd)
        rt._fd, rt._pid, rt._lock = None, None, threading.Lock()


def _check_workers(reported: set[int]) -> None:
    for pid, desc in list(_WORKERS.items()):
        st = proc_stat(pid)
        if st is None:  # reaped by Lava's join(): it ended as Lava expected
            _WORKERS.pop(pid, None)
            continue
        state, _, _, status = st
        if state == "Z" and status and pid not in reported:
            reported.add(pid)
            _append_error(f"lava-nt: Lava worker ({desc}, pid {pid}) {exit_text(status)}")


def _orphaned(run_dir: str, shm_prefix: str) -> None:
    """The parent died: kill the group; a detached helper removes the run's files after it."""
    pgid = os.getpgid(0)
    with contextlib.suppress(OSError):
        helper = os.fork()
        if helper == 0:
            try:
                with contextlib.suppress(OSError):
                    os.setpgid(0, 0)  # out of the group that is killed below
                deadline = time.monotonic() + 10.0
                while group_members(pgid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                remove_run_files(run_dir, shm_prefix)
            finally:
                os._exit(0)
        with contextlib.suppress(OSError):
            os.setpgid(helper, helper)  # also here: no race with the kill
    os.killpg(pgid, signal.SIGKILL)


def _watch(parent_pid: int, run_dir: str, shm_prefix: str) -> None:
    reported: set[int] = set()
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != parent_pid:  # parent died: we were re-parented
            _orphaned(run_dir, shm_prefix)
        with contextlib.suppress(Exception):
            _check_workers(reported)


def _child_main(conn, parent_pid: int, run_dir: str, shm_prefix: str, job, args, kwargs) -> None:
    os.setsid()  # lead a new process group: Lava's workers inherit it, one killpg ends all
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    allow_lava_import()
    os.environ[ERROR_FILE_ENV] = os.path.join(run_dir, ERROR_FILE_NAME)
    _private_temp(run_dir, shm_prefix)
    _hook_lava_workers()
    threading.Thread(target=_watch, args=(parent_pid, run_dir, shm_prefix), daemon=True).start()
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


# ---- in the parent ------------------------------------------------------------------------------
@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) during cleanup; one that arrived is raised afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    try:
        old = signal.signal(signal.SIGINT, lambda *_: got.append(1))
    except (ValueError, OSError):  # pragma: no cover - no signal support here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got and sys.exc_info()[0] is None and old is signal.default_int_handler:
        raise KeyboardInterrupt


def _first_line(model_errors: str) -> str:
    line = model_errors.strip().splitlines()[0] if model_errors.strip() else ""
    return line.removeprefix("lava-nt: ").rstrip(":")


# ---- the public helpers -------------------------------------------------------------------------
def run_isolated(job: Callable[..., Any], *args, timeout: float, **kwargs) -> Any:
    """Run ``job(*args, **kwargs)`` in a forked child process group and return its result.

    The child calls ``os.setsid()`` first, so the child and every Lava worker it forks form one
    process group. The result must be picklable (e.g. a dict of numpy arrays); it comes back
    through a pipe.

    Raises:
        ValueError: ``timeout`` is not a positive finite number of seconds.
        LavaTimeoutError: no result within ``timeout`` seconds (the whole group is killed).
        LavaRunError: the job raised (the child's traceback is attached), its result could not
            be pickled, the child died without a result, or a Lava worker raised or died (exit
            code or signal named; its traceback in ``model_errors``) and the job did not end
            within :data:`MODEL_ERROR_GRACE` seconds after it (Lava hangs then).
        KeyboardInterrupt: Ctrl-C in the caller, after the cleanup below.

    After any outcome the whole process group is SIGKILLed and the call returns only when no
    process of the group is left (bounded wait); the run's private temporary directory and its
    shared-memory segments are removed.
    """
    if not callable(job):
        raise TypeError(f"run_isolated: job must be callable, got {type(job).__name__}")
    timeout = check_timeout(timeout, "run_isolated: timeout")
    run_dir = tempfile.mkdtemp(prefix="lnt-")
    shm_prefix = f"lnt{secrets.token_hex(5)}_"
    error_file = os.path.join(run_dir, ERROR_FILE_NAME)
    recv_conn, send_conn = multiprocessing.Pipe(duplex=False)
    name = getattr(job, "__name__", repr(job))
    parent_pid = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # do not duplicate buffered output in the child
    pid = None
    msg = None
    child = {"status": None}  # the child's wait status once reaped (updated while waiting)
    try:
        # A bare os.fork rather than multiprocessing.Process: multiprocessing's child bootstrap
        # fixes the default start method, after which ``import lava`` (which calls
        # set_start_method('fork')) fails in the child.
        with _sigint_deferred():
            pid = os.fork()
        if pid == 0:  # child: never returns
            try:
                recv_conn.close()
                _child_main(send_conn, parent_pid, run_dir, shm_prefix, job, args, kwargs)
            finally:
                os._exit(70)
        send_conn.close()
        msg = _wait_for_child(pid, recv_conn, error_file, timeout, child)
    finally:
        with _sigint_deferred():
            if pid:
                _end_group(pid, child)
            recv_conn.close()
            with contextlib.suppress(OSError):
                send_conn.close()
            model_errors = _read(error_file)
            remove_run_files(run_dir, shm_prefix)
    return _outcome(msg, child["status"], name, timeout, model_errors)


def _wait_for_child(pid: int, recv_conn, error_file: str, timeout: float, child: dict):
    """Wait for the job's message: ``("ok", result)``, ``("error", text, traceback)``,
    ``("model_error", None)`` (a Lava worker failed and the job did not end within
    :data:`MODEL_ERROR_GRACE` s), ``("died", None)``, or None after ``timeout`` seconds.
    ``child["status"]`` receives the child's wait status if it is reaped here."""
    deadline = time.monotonic() + timeout
    model_error_seen = None
    while True:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            return None
        if model_error_seen is None and _nonempty(error_file):
            model_error_seen = now
        if model_error_seen is not None and now - model_error_seen > MODEL_ERROR_GRACE:
            return ("model_error", None)  # a worker failed and Lava hangs: do not wait longer
        if recv_conn.poll(min(remaining, 0.25)):
            try:
                return recv_conn.recv()
            except (EOFError, OSError):
                return ("died", None)
        if child["status"] is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                child["status"] = status
        if child["status"] is not None and not recv_conn.poll(0):
            return ("died", None)


def _end_group(pid: int, child: dict) -> None:
    """Kill the job's process group and reap the job process (its status into ``child``)."""
    kill_group(pid)
    if child["status"] is None:  # not reaped yet, so the pid is still ours
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # in case it had not reached setsid() yet
        with contextlib.suppress(ChildProcessError):
            child["status"] = os.waitpid(pid, 0)[1]


def _outcome(msg, status, name: str, timeout: float, model_errors: str) -> Any:
    """The job's result, or the :class:`LavaError` its message (or its absence) means."""
    if msg is None:
        raise LavaTimeoutError(
            f"Lava job {name!r} did not finish within {timeout:g} s; its process group was killed",
            timeout=timeout,
            model_errors=model_errors,
        )
    if msg[0] == "ok":
        return msg[1]
    if msg[0] == "model_error":
        raise LavaRunError(
            f"Lava job {name!r} failed: {_first_line(model_errors)}; its process group was killed",
            model_errors=model_errors,
        )
    if msg[0] == "error":
        raise LavaRunError(
            f"Lava job {name!r} failed: {msg[1]}", child_traceback=msg[2], model_errors=model_errors
        )
    how = exit_text(status) if status is not None else "ended"
    raise LavaRunError(
        f"Lava job {name!r}: its process {how} without a result", model_errors=model_errors
    )


def _nonempty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


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
            _append_error(text)
            with contextlib.suppress(Exception):
                sys.exc_info()[1]._lava_nt_reported = True  # the worker hook skips it
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
