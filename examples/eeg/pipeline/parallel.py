"""Units of a LOSO run on Ray workers (``lava-nt eeg run --workers N [--ray-address ADDR]``).

The driver (the process that called :func:`run_pipeline`) keeps everything it kept before: the run
lock, ``run.json``, the band-power features (computed once, cached in ``RUN/features``) and the
only writer of ``results.jsonl``. Workers are Ray actors, one CPU each; each loads the features
from the cache once and then runs whole units through the same code as the serial path
(:class:`~lava_nt.examples.eeg.pipeline.units._Pipeline`):

* a **pretraining** (one per fold group and architecture) writes its model file under
  ``RUN/pretrained/`` and returns its results row;
* a **unit** (participant, method, seed) waits for its pretraining, tunes (checkpoint, exact
  resume and model file in its own unit directory), deploys on Lava if asked, and returns its rows.

Dispatch: pretrainings first (every unit waits for one); then, whenever a worker is free, the
ready unit expected to take longest (longest processing time first, by the per-method cost model
:data:`UNIT_COST_S`), so the short units fill the end of the run and the last worker to finish
does not start a long unit while the others idle. Ties keep the run's order (fold, method, seed).

Results are identical to a serial run (each unit is deterministic given its seeds and the thread
count, which every worker sets as the driver would; the dispatch order changes only which worker
runs a unit and when); only the order of the lines in ``results.jsonl`` follows completion.
Killing the driver ends the local Ray instance and its workers; Lava runs inside a worker are
isolated as everywhere (their process group is killed when the worker dies). With
``--ray-address`` the run directory must be on a filesystem every node sees at the same path, and
lava-nt must be installed on every node.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from lava_nt.examples.eeg.pipeline.config import METHODS, PipelineConfig, PipelineError
from lava_nt.examples.eeg.pipeline.data import DataInfo, load_features
from lava_nt.examples.eeg.pipeline.journal import append_result
from lava_nt.examples.eeg.pipeline.steps import pretrain_key
from lava_nt.examples.eeg.pipeline.units import _Pipeline, _torch_threads
from lava_nt.nn.fused import keep_freed_memory

#: Expected seconds of one unit per method: (tuning, Lava deployment), means per fold on
#: full-size DEAP-format data with one torch thread, as BENCHMARKS.md's end-to-end section
#: measured them (all seven default methods, the spiking-bias ones before their bias path was
#: fused, which made them cheaper per step but left them the longest). Only the order matters:
#: the dispatch runs the dearest ready unit first. Methods it did not measure are estimated from
#: the ones whose training work they resemble (nt1, lora as nt2; readout as tft; logreg: no
#: spiking network; ondevice: nt2's times 8.8, the ratio of their mean unit times on ``--quick``
#: data, 57 s vs 6.5 s, its deployment as nt2's). An unknown method counts as the median.
UNIT_COST_S: dict[str, tuple[float, float]] = {
    "none": (0.1, 2.9),
    "nt2": (11.9, 2.7),
    "spiking_bias": (43.3, 4.9),
    "spiking_bias_sparse": (35.0, 4.5),
    "volumetric": (24.7, 3.1),
    "ablation": (13.8, 2.4),
    "tft": (11.2, 2.5),
    "nt1": (11.9, 2.7),
    "lora": (11.9, 2.7),
    "readout": (11.2, 2.5),
    "logreg": (0.5, 0.0),
    "ondevice": (105.0, 2.7),
}


def unit_cost(method: str, tune: bool, deploy: bool) -> float:
    """Expected seconds of a unit of ``method`` that tunes and/or deploys (:data:`UNIT_COST_S`)."""
    costs = sorted(UNIT_COST_S.values())
    t, d = UNIT_COST_S.get(method, costs[len(costs) // 2])
    return (t if tune else 0.0) + (d if deploy else 0.0)


def _pop_longest(ready: list, cost) -> tuple:
    """Remove and return the ready unit with the highest expected cost (the first on ties)."""
    i = max(range(len(ready)), key=lambda j: (cost(ready[j]), -j))
    return ready.pop(i)


class _UnitWorker:
    """One Ray actor: a :class:`_Pipeline` with the run's features loaded once."""

    def __init__(self, run_dir: str, config: PipelineConfig, data: DataInfo):
        if config.fused:
            keep_freed_memory()
        self.pipe = _Pipeline(Path(run_dir), config, data, log=lambda s: None)
        self.pipe.features = load_features(data, Path(run_dir), config.feature_seed, data.pool)

    def pretrain(self, group: tuple[int, ...], arch: str) -> list[dict]:
        with _torch_threads(self.pipe.config.threads):
            return [self.pipe.pretrain(group, arch)]

    def unit(self, p: int, m: str, s: int, group, tune: bool, deploy: bool) -> list[dict]:
        rows = []
        with _torch_threads(self.pipe.config.threads):
            if tune:
                rows.append(self.pipe.run_unit(p, m, s, group))
            if deploy:
                rows.append(self.pipe.deploy_unit(p, m, s, group))
        return rows


def _cause(exc: BaseException) -> BaseException:
    """The exception a Ray task raised (Ray wraps it), so the CLI reports it in one line."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


#: Environment marker inherited by every process of a local Ray instance lava-nt starts.
SESSION_ENV = "LAVA_NT_RAY_SESSION"

# The reaper: a separate process that waits until the driver is gone (its stdin pipe closes, on
# any exit, SIGKILL included), then ends every process carrying the session marker (Ray's agents
# outlive a killed driver otherwise) and removes the session's temporary directory.
_REAPER = r"""
import os, shutil, signal, sys, time
token, temp, driver = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdin.buffer.read()
marker = ("%s=%s" % ("LAVA_NT_RAY_SESSION", token)).encode()
def marked():
    # a process of this session carries the marker in its environment, or (Ray's agents, whose
    # environment Ray builds anew) has a file of the session's temporary directory open
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in (os.getpid(), driver):
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                mine = marker in f.read().split(b"\0")
            if not mine:
                fds = "/proc/%s/fd" % d
                for fd in os.listdir(fds):
                    try:
                        if os.readlink(os.path.join(fds, fd)).startswith(temp + "/"):
                            mine = True
                            break
                    except OSError:
                        pass
        except OSError:
            continue
        if mine:
            out.append(int(d))
    return out
for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0), (signal.SIGKILL, 2.0)):
    pids = marked()
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    end = time.monotonic() + wait
    while pids and marked() and time.monotonic() < end:
        time.sleep(0.1)
shutil.rmtree(temp, ignore_errors=True)
"""


@contextlib.contextmanager
def _ray_session(workers: int | None, address: str | None):
    """Connect to ``address`` or start a local instance of ``workers`` CPUs. A local instance is
    ended on exit whatever happens, a killed driver included (see ``_REAPER``); a cluster is left
    running."""
    try:
        import ray
    except ImportError:
        raise PipelineError(
            "--workers / --ray-address need Ray: pip install 'lava-nt[ray]' (or ray)"
        ) from None
    kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address or ray.is_initialized():
        if not ray.is_initialized():
            ray.init(address=address, **kw)
        yield ray
        return
    token = secrets.token_hex(8)
    temp = tempfile.mkdtemp(prefix="lnt-ray-", dir="/tmp")  # short: Ray's socket paths
    reaper = subprocess.Popen(
        [sys.executable, "-c", _REAPER, token, temp, str(os.getpid())], stdin=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C to the terminal's group must not stop the cleanup
    )  # fmt: skip
    old = os.environ.get(SESSION_ENV)
    os.environ[SESSION_ENV] = token
    try:
        ray.init(address="local", num_cpus=workers, _temp_dir=temp, **kw)
        yield ray
    finally:
        try:
            ray.shutdown()
        finally:
            if old is None:
                os.environ.pop(SESSION_ENV, None)
            else:
                os.environ[SESSION_ENV] = old
            reaper.stdin.close()
            try:
                reaper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                reaper.kill()


def run_units_parallel(
    run_dir: Path,
    config: PipelineConfig,
    data: DataInfo,
    todo: list[tuple[int, str, int]],
    groups: dict[int, tuple[int, ...]],
    done: dict[str, set],
    *,
    workers: int | None,
    address: str | None,
    write: Callable[[str], None],
    on_rows: Callable[[list[dict]], None],
) -> None:
    """Run ``todo`` on Ray workers; the driver appends every returned row to ``results.jsonl``
    and passes it to ``on_rows`` (logging, counters). ``done`` holds the finished
    ``pretrain`` (key, arch), ``tune`` and ``deploy`` (participant, method, seed) sets."""
    with _ray_session(workers, address) as ray:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        worker_cls = ray.remote(num_cpus=1)(_UnitWorker)
        actors = [worker_cls.remote(str(run_dir), config, data) for _ in range(n)]
        write(f"running units on {n} Ray worker{'s' * (n > 1)}")
        try:
            _schedule(ray, actors, config, todo, groups, done, run_dir, on_rows)
        finally:
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.kill(a)


def _schedule(ray, actors, config, todo, groups, done, run_dir, on_rows) -> None:
    waiting: dict[tuple[str, str], list] = {}
    ready_pre: list[tuple[tuple[int, ...], str]] = []
    ready: list = []
    for u in todo:
        p, m, s = u
        pre = (pretrain_key(groups[p]), METHODS[m].arch)
        if pre in done["pretrain"]:
            ready.append(u)
        else:
            if pre not in waiting:
                ready_pre.append((groups[p], pre[1]))
            waiting.setdefault(pre, []).append(u)

    def flags(u) -> tuple[bool, bool]:
        return u not in done["tune"], bool(config.lava) and u not in done["deploy"]

    def cost(u) -> float:
        return unit_cost(u[1], *flags(u))

    idle, pending = list(actors), {}
    while ready_pre or ready or pending:
        while idle and (ready_pre or ready):
            a = idle.pop(0)
            if ready_pre:
                group, arch = ready_pre.pop(0)
                pending[a.pretrain.remote(group, arch)] = (a, "pretrain", (group, arch))
            else:
                p, m, s = u = _pop_longest(ready, cost)
                tune, deploy = flags(u)
                pending[a.unit.remote(p, m, s, groups[p], tune, deploy)] = (a, "unit", u)
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            a, kind, what = pending.pop(ref)
            try:
                rows = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                raise PipelineError(
                    f"a Ray worker died while running {kind} {what} ({e}); run the same command "
                    "again to continue"
                ) from None
            except ray.exceptions.RayTaskError as e:
                raise _cause(e) from None
            idle.append(a)
            for row in rows:
                append_result(run_dir, row)
            on_rows(rows)
            if kind == "pretrain":
                pre = (pretrain_key(what[0]), what[1])
                done["pretrain"].add(pre)
                ready.extend(waiting.pop(pre, []))
