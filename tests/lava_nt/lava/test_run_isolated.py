"""lava_nt.lava.run: jobs run in their own process group, with a timeout, and leave nothing behind.

Leftover processes are counted independently of the module under test, by parsing ``ps``.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lava_nt.lava.run import (
    LavaError,
    LavaRunError,
    LavaTimeoutError,
    run_isolated,
    stop_with_timeout,
    stopping,
)


# ---- independent process accounting ------------------------------------------------------------
def _ps():
    out = subprocess.run(
        ["ps", "-eo", "pid=,pgid=,ppid=,stat=,comm="], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, pgid, ppid, stat, comm = line.split(None, 4)
        if comm.strip() == "ps" or stat.startswith("Z"):  # ourselves, and reaped-later zombies
            continue
        rows.append((int(pid), int(pgid), int(ppid)))
    return rows


def _group(pgid):
    return [pid for pid, g, _ in _ps() if g == pgid]


def _descendants(root):
    rows = _ps()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [pid for pid, _, ppid in rows if ppid == p]
        out.extend(kids)
        todo.extend(kids)
    return out


def _wait_until_empty(pgid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _group(pgid)


def _assert_clean(pid_file):
    with open(pid_file) as fh:
        child = int(fh.read())
    assert child != os.getpid()
    assert _group(child) == [], "processes of the job's group survived"
    assert _descendants(os.getpid()) == [], "the test process still has children"


def _write_pid(path):
    with open(path, "w") as fh:
        fh.write(str(os.getpid()))


# ---- jobs ---------------------------------------------------------------------------------------
def _sleep_forever(pid_file):
    _write_pid(pid_file)
    subprocess.Popen(["sleep", "600"])  # a grandchild in the same group, like Lava's workers
    while True:
        time.sleep(1)


def _raise_value_error():
    raise ValueError("the job's own error")


def _small_network(tag="floating_pt"):
    """RingBuffer -> Dense -> NTLIF -> Dense -> NTLIF (float)."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer

    from lava_nt.processes.ntlif.process import NTLIF

    rng = np.random.default_rng(0)
    src = RingBuffer(data=(rng.random((4, 20)) < 0.5).astype(float))
    d1, d2 = Dense(weights=np.full((3, 4), 0.6)), Dense(weights=np.full((2, 3), 0.7))
    n1, n2 = NTLIF(shape=(3,), vth=1.0), NTLIF(shape=(2,), vth=1.0)
    src.s_out.connect(d1.s_in)
    d1.a_out.connect(n1.a_in)
    n1.s_out.connect(d2.s_in)
    d2.a_out.connect(n2.a_in)
    return src


def _failing_model_job(pid_file):
    """The first NTLIF's run_spk raises at step 5: Lava on its own hangs in run()."""
    _write_pid(pid_file)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_nt.processes.ntlif import models

    original = models.PyNTLIFModelFloat.step

    def step(self, a, c, p):
        if self.time_step >= 5:
            raise ValueError(f"boom at step {self.time_step}")
        return original(self, a, c, p)

    models.PyNTLIFModelFloat.step = step  # inherited by the forked Lava workers
    src = _small_network()
    with stopping(src):
        src.run(condition=RunSteps(num_steps=50), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
    return "finished"


def _raise_after_run_job(pid_file, state_file):
    """Raise after a successful run(); ``stopping`` must still stop the runtime."""
    _write_pid(pid_file)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    src = _small_network()
    try:
        with stopping(src):
            src.run(condition=RunSteps(num_steps=10), run_cfg=Loihi2SimCfg())
            raise KeyError("after run")
    finally:
        with open(state_file, "w") as fh:
            fh.write(f"started={src.runtime._is_started}")


# ---- tests --------------------------------------------------------------------------------------
def test_normal_job_returns_its_result(tmp_path):
    pid_file = tmp_path / "pid"

    def job(n):
        _write_pid(pid_file)
        return {"a": np.arange(n), "b": np.ones((2, 3)), "pid": os.getpid()}

    res = run_isolated(job, 5, timeout=30)
    np.testing.assert_array_equal(res["a"], np.arange(5))
    np.testing.assert_array_equal(res["b"], np.ones((2, 3)))
    assert res["pid"] != os.getpid()
    _assert_clean(pid_file)


def test_job_that_sleeps_forever_times_out(tmp_path):
    pid_file = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(LavaTimeoutError, match="did not finish within 2 s"):
        run_isolated(_sleep_forever, str(pid_file), timeout=2)
    assert time.monotonic() - t0 < 30
    _assert_clean(pid_file)


def test_job_error_carries_child_traceback():
    with pytest.raises(LavaRunError, match="the job's own error") as info:
        run_isolated(_raise_value_error, timeout=30)
    assert "ValueError: the job's own error" in info.value.child_traceback
    assert "_raise_value_error" in info.value.child_traceback
    assert _descendants(os.getpid()) == []


def test_unpicklable_result_is_an_error():
    with pytest.raises(LavaRunError, match="cannot return"):
        run_isolated(lambda: lambda: 0, timeout=30)


def test_bad_arguments():
    with pytest.raises(ValueError, match="timeout"):
        run_isolated(_raise_value_error, timeout=0)
    with pytest.raises(TypeError, match="callable"):
        run_isolated("not callable", timeout=1)


def test_model_error_in_run_spk_fails_within_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises((LavaRunError, LavaTimeoutError)) as info:
        run_isolated(_failing_model_job, str(pid_file), timeout=40)
    assert time.monotonic() - t0 < 40
    assert "boom at step 5" in str(info.value)
    assert "PyNTLIFModelFloat failed in run_spk at time_step 5" in info.value.model_errors
    _assert_clean(pid_file)


def test_raise_after_run_still_stops(tmp_path):
    pid_file, state_file = tmp_path / "pid", tmp_path / "state"
    with pytest.raises(LavaRunError, match="after run") as info:
        run_isolated(_raise_after_run_job, str(pid_file), str(state_file), timeout=60)
    assert "KeyError" in info.value.child_traceback
    assert state_file.read_text() == "started=False"  # stop() ran before the error propagated
    _assert_clean(pid_file)


def test_stop_that_hangs_cannot_hang_the_caller():
    class Hangs:
        def stop(self):
            time.sleep(600)

    t0 = time.monotonic()
    assert stop_with_timeout(Hangs(), timeout=0.2) is False
    with pytest.raises(LavaRunError, match="stop"), stopping(Hangs(), stop_timeout=0.2):
        pass
    with pytest.raises(KeyError), stopping(Hangs(), stop_timeout=0.2):
        raise KeyError("the original error wins")
    assert time.monotonic() - t0 < 10


def test_killed_parent_leaves_no_orphans(tmp_path):
    """SIGKILL the process that called run_isolated: the job's group must die with it, and the
    run's private temporary directory (with the model-error file) is removed after it."""
    pid_file, err_file = tmp_path / "pid", tmp_path / "errfile"
    code = (
        "import os, subprocess, time\n"
        "from lava_nt.lava.run import ERROR_FILE_ENV, run_isolated\n"
        "def job(path, err):\n"
        "    subprocess.Popen(['sleep', '600'])\n"
        "    open(err, 'w').write(os.environ[ERROR_FILE_ENV])\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
        f"run_isolated(job, {str(pid_file)!r}, {str(err_file)!r}, timeout=600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        time.sleep(0.2)
        assert len(_group(child)) >= 2  # the job and its grandchild are running
    finally:
        parent.kill()
        parent.wait()
    assert _wait_until_empty(child, 10) == []
    run_dir = os.path.dirname(err_file.read_text())  # the run's private temporary directory
    deadline = time.monotonic() + 10
    while os.path.exists(run_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(run_dir)


def test_torch_threads_then_lava_network():
    """Torch kernels (2 threads, forward + backward) in this process, then a Lava network forked
    from it: the run completes and equals the numpy reference."""
    torch = pytest.importorskip("torch")
    from lava_nt.converters.lava_graph import run_network
    from lava_nt.network import LayerSpec, NetworkSpec, reference_run
    from lava_nt.spec import ntlif_parameters

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 8)
        )
        for _ in range(5):
            loss = model(torch.randn(512, 64)).pow(2).mean()
            loss.backward()
        assert model[0].weight.grad is not None
        rng = np.random.default_rng(3)
        spec = NetworkSpec(
            6,
            [
                LayerSpec(rng.normal(0.4, 0.5, (5, 6)), ntlif_parameters(5, du=0.5, vth=1.0)),
                LayerSpec(rng.normal(0.4, 0.5, (3, 5)), ntlif_parameters(3, dv=0.2, vth=0.8)),
            ],
        )
        x = (rng.random((20, 5, 6)) < 0.4).astype(float)
        res = run_network(spec, x, timeout=120)
        np.testing.assert_array_equal(res.output, reference_run(spec, x))
        assert res.output.any()
    finally:
        torch.set_num_threads(old)
    assert _descendants(os.getpid()) == []


def test_lava_imports_after_a_start_method_was_chosen_in_the_parent():
    """torch.compile and others may set a multiprocessing start method before Lava is imported;
    Lava's own non-forced set_start_method('fork') must still work in the job."""
    import multiprocessing as mp
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp, sys\n"
        "mp.set_start_method('fork')\n"
        "from lava_nt.lava.run import run_isolated\n"
        "def job():\n"
        "    import lava.proc.lif.process  # triggers Lava's set_start_method('fork')\n"
        "    return 'ok'\n"
        "print(run_isolated(job, timeout=60))\n"
    )
    assert mp.get_start_method(allow_none=True) in (None, "fork")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("ok")


# ---- Lava workers that fail: noticed at once, nothing left behind ------------------------------
HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lava_failures.py")


@pytest.fixture(scope="module")
def failures():
    """The helper module with the failing Lava process (loaded from its file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lava_failures", HELPERS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lava_failures"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_failing_model_helper_runs_when_it_does_not_fail(failures):
    assert run_isolated(failures.network_job, "none", timeout=120) == 50.0


@pytest.mark.parametrize(
    "mode, text",
    [
        ("raise", "raised ValueError: failing model raised at step 3"),
        ("exit", "exited with code 3"),
        ("kill", "was killed by signal 9 (SIGKILL)"),
    ],
)
def test_failing_worker_is_reported_not_timed_out(failures, tmp_path, mode, text):
    """A model without lava-nt's decorator raises, or its worker process exits or is killed:
    Lava alone hangs until the timeout; run_isolated reports the worker at once."""
    pid_file = tmp_path / "pid"
    with pytest.raises(LavaError) as info:
        run_isolated(failures.network_job, mode, str(pid_file), timeout=120)
    assert type(info.value) is LavaRunError
    first = str(info.value).splitlines()[0]
    assert "Lava worker (process model PyFailingModel, pid " in first
    assert text in first
    if mode == "raise":
        assert "Traceback" in info.value.model_errors
        assert "in run_spk" in info.value.model_errors
    _assert_clean(pid_file)


def test_job_process_killed_by_a_signal_is_named(tmp_path):
    def job():
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(LavaRunError, match=r"killed by signal 9 \(SIGKILL\) without a result"):
        run_isolated(job, timeout=120)
    assert _descendants(os.getpid()) == []


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5", None])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(ValueError, match="positive finite number of seconds"):
        run_isolated(_raise_value_error, timeout=timeout)


def test_timeout_error_carries_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    with pytest.raises(LavaTimeoutError) as info:
        run_isolated(_sleep_forever, str(pid_file), timeout=1.5)
    assert info.value.timeout == 1.5
    _assert_clean(pid_file)


# the caller as a user's interactive Python has it: Ctrl-C raises KeyboardInterrupt (a suite
# started as a background job of a non-interactive shell inherits SIGINT ignored, and Python keeps
# an ignored SIGINT ignored, so the "interrupted" case would wait for its timeout)
_PARENT = """
import importlib.util, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
spec = importlib.util.spec_from_file_location("lava_failures", {helpers!r})
mod = importlib.util.module_from_spec(spec)
sys.modules["lava_failures"] = mod
spec.loader.exec_module(mod)
from lava_nt.lava.run import LavaError, run_isolated
try:
    run_isolated(mod.network_job, {mode!r}, {pid_file!r}, {names_file!r}, 10**6, timeout={timeout})
except LavaError as exc:
    print(type(exc).__name__, str(exc).splitlines()[0])
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.fixture()
def private_tmp():
    """A short private temporary directory (multiprocessing puts AF_UNIX sockets in it, whose
    paths are limited to 107 bytes)."""
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="lnt-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("outcome", ["failed", "timed out", "interrupted"])
def test_run_leaves_no_shared_memory_temp_dirs_or_processes(tmp_path, private_tmp, outcome):
    """After a failed, timed-out or interrupted (Ctrl-C in the caller) run, none of the /dev/shm
    segments that the job had mapped remains, the caller's TMPDIR holds no pymp-* directories
    (nothing at all), and no process of the run is left."""
    pid_file, names_file = tmp_path / "pid", tmp_path / "names"
    mode = "raise" if outcome == "failed" else "slow"
    timeout = 8 if outcome == "timed out" else 300
    code = _PARENT.format(
        helpers=HELPERS,
        mode=mode,
        pid_file=str(pid_file),
        names_file=str(names_file),
        timeout=timeout,
    )
    env = dict(os.environ, TMPDIR=private_tmp)
    parent = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if outcome == "interrupted":
            deadline = time.monotonic() + 120
            while not names_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            parent.send_signal(signal.SIGINT)
        out, err = parent.communicate(timeout=300)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    expected = {"failed": "LavaRunError", "timed out": "LavaTimeoutError"}.get(
        outcome, "KeyboardInterrupt"
    )
    assert out.decode().startswith(expected), (out, err[-3000:])
    names = [n for n in names_file.read_text().splitlines() if n]
    assert names, "the job mapped no shared memory (the test would prove nothing)"
    left = [n for n in names if os.path.exists(os.path.join("/dev/shm", n))]
    assert left == [], f"shared-memory segments of the run remain: {left}"
    assert os.listdir(private_tmp) == []
    child = int(pid_file.read_text())
    assert _wait_until_empty(child, 10) == []


def _imports_during_a_run(x):
    """In a forked job: build a two-layer float network, run and stop it; the top-level modules
    imported meanwhile."""
    from lava_nt.converters.lava_graph import build, run_graph
    from lava_nt.network import LayerSpec, NetworkSpec
    from lava_nt.spec import ntlif_parameters

    layers = [LayerSpec(np.full((3, 4), 0.6), ntlif_parameters(3, vth=1.0)),
              LayerSpec(np.full((2, 3), 0.6), ntlif_parameters(2, vth=1.0))]  # fmt: skip
    spec = NetworkSpec(4, layers)
    graph = build(spec, x, "float")
    before = set(sys.modules)
    run_graph(graph)
    return sorted({m.split(".")[0] for m in set(sys.modules) - before})


def test_preloaded_parent_leaves_nothing_heavy_to_import_in_a_job():
    """After preload_lava() a forked job compiles, runs and stops without importing any further
    package (Lava's compile would otherwise import pandas through networkx in every job: about
    half a second per run); multiprocessing's own submodules are all Lava's runtime adds."""
    from lava_nt.lava.run import preload_lava

    preload_lava()
    x = np.ones((3, 2, 4))
    new = run_isolated(_imports_during_a_run, x, timeout=120)
    assert set(new) <= {"multiprocessing"}, new
