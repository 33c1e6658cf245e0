"""``lava-nt eeg run`` as a user runs it: twice in a row, and killed (SIGKILL) at several points.

The README's main command is ``lava-nt eeg run --quick`` without ``--data`` (synthetic data
generated into the run directory). These tests run the same code path at tiny sizes in a
subprocess: a second run reuses everything (nothing retrained), and a run killed while generating
data, while pretraining and between units finishes, when rerun, with exactly the results of an
uninterrupted run. No timings are asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TINY = [
    "--synthetic-participants", "3", "--synthetic-trials", "8", "--synthetic-samples", "1024",
    "--participants", "1", "--methods", "none", "nt2", "--seeds", "0", "1",
    "--pretrain-epochs", "2", "--tune-epochs", "3", "--lava-samples", "4", "--no-fixed",
    "--no-progress",
]  # fmt: skip


def _cmd(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "lava_nt.cli", "eeg", "run", "--out", str(run_dir), *TINY]


def _run(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(run_dir), capture_output=True, text=True, timeout=600)


def _rows(run_dir: Path) -> list[dict]:
    """Result rows without wall times, in a canonical order."""
    rows = []
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn line of a killed append
        rows.append({k: v for k, v in r.items() if not k.endswith("seconds")})  # wall times
    key = ("kind", "participant", "method", "seed", "key")
    return sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in key))


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(p)
    return alive


def _kill_when(run_dir: Path, ready, extra: tuple | list = ()) -> int:
    """Start the command, SIGKILL it (the main process only, as the OOM killer would) as soon
    as ``ready(run_dir)`` holds; return its exit code. Its children must all go away."""
    proc = subprocess.Popen(
        _cmd(run_dir) + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            kids |= _descendants(proc.pid)
            if ready(run_dir):
                kids |= _descendants(proc.pid)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 30
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids), f"processes left behind by the killed run: {_alive(kids)}"
    return code


def _n_lines(run_dir: Path) -> int:
    p = run_dir / "results.jsonl"
    return len(p.read_text().splitlines()) if p.exists() else 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eeg_cli") / "ref"
    first = _run(run_dir)
    assert first.returncode == 0, first.stderr
    return run_dir, first


@pytest.mark.slow
def test_main_command_twice_reuses_everything(reference):
    run_dir, first = reference
    assert "4 units run, 0 already done, 4 deployed" in first.stdout
    rows = (run_dir / "results.jsonl").read_bytes()
    models = sorted(run_dir.glob("units/**/model.h5")) + sorted(run_dir.glob("pretrained/**/*.h5"))
    stamps = {p: p.stat().st_mtime_ns for p in models}
    second = _run(run_dir)
    assert second.returncode == 0, second.stderr
    assert "0 units run, 4 already done, 0 deployed" in second.stdout
    # the finished results are printed again, identical
    assert "mean test accuracy" in second.stdout
    summary = [ln for ln in first.stdout.splitlines() if "(torch)" in ln]
    assert summary and summary == [ln for ln in second.stdout.splitlines() if "(torch)" in ln]
    # nothing retrained or rewritten
    assert (run_dir / "results.jsonl").read_bytes() == rows
    assert {p: p.stat().st_mtime_ns for p in models} == stamps


@pytest.mark.slow
def test_killed_at_several_points_then_rerun_equals_uninterrupted(reference, tmp_path):
    ref_dir, _ = reference
    run_dir = tmp_path / "killed"
    kill_points = [
        ("generating data", lambda d: (d / "data" / "SYNTHETIC.json").exists()),
        ("pretraining", lambda d: any((d / "pretrained").glob("*/*/checkpoint.pt"))),
        ("between units", lambda d: _n_lines(d) >= 3),
    ]
    for what, ready in kill_points:
        code = _kill_when(run_dir, ready)
        assert code == -signal.SIGKILL, f"the run finished before the kill point '{what}'"
    # no hidden temporary file of an interrupted write survives the next run
    done = _run(run_dir)
    assert done.returncode == 0, done.stderr
    assert not [p for p in run_dir.rglob(".*.tmp")], "temporary files left behind"
    assert _rows(run_dir) == _rows(ref_dir)
    table = [ln for ln in (run_dir / "report" / "results.csv").read_text().splitlines()
             if not ln.startswith("#")]  # fmt: skip
    ref_table = [ln for ln in (ref_dir / "report" / "results.csv").read_text().splitlines()
                 if not ln.startswith("#")]  # fmt: skip
    assert table == ref_table
    # and a further rerun does nothing
    again = _run(run_dir)
    assert again.returncode == 0 and "0 units run, 4 already done" in again.stdout


@pytest.mark.slow
def test_run_refuses_to_replace_data_it_did_not_write(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "data").mkdir(parents=True)
    foreign = run_dir / "data" / "s01.dat"
    foreign.write_bytes(b"someone's real recording")
    res = _run(run_dir)
    assert res.returncode == 1
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "refusing to replace data the generator did not write" in err[0]
    assert "Traceback" not in res.stderr
    assert foreign.read_bytes() == b"someone's real recording"
    assert os.listdir(run_dir / "data") == ["s01.dat"]


# ---- parallel units on Ray ----------------------------------------------------------------------
def _ray_session_processes(skip_sessions=frozenset()) -> list[int]:
    """Processes of any local Ray instance lava-nt started (they carry its session marker),
    except those of the sessions ``skip_sessions`` (marker values)."""
    return _alive_list(
        p for p, token in _ray_session_markers().items() if token not in skip_sessions
    )


def _ray_session_markers() -> dict[int, bytes]:
    """``{pid: session marker}`` of the processes of lava-nt's local Ray instances."""
    from lava_nt.examples.eeg.pipeline.parallel import SESSION_ENV

    key = SESSION_ENV.encode() + b"="
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for e in env:
                if e.startswith(key):
                    out[int(d.name)] = e[len(key) :]
    return out


def _ray_temp_dirs() -> list[Path]:
    return sorted(Path("/tmp").glob("lnt-ray-*"))


def _alive_list(pids):
    return sorted(_alive(set(pids)))


def _model_states(run_dir: Path) -> dict:
    from lava_nt.converters.model_file import load_model

    out = {}
    for p in sorted(run_dir.glob("**/model.h5")):
        spec, _ = load_model(p)
        out[str(p.relative_to(run_dir))] = [
            (np.asarray(layer.weight).tobytes(), np.asarray(layer.neuron.bias).tobytes())
            for layer in spec.layers
        ]
    return out


@pytest.mark.slow
def test_two_ray_workers_equal_serial_and_a_killed_parallel_run_resumes(reference, tmp_path):
    ref_dir, _ = reference
    run_dir = tmp_path / "parallel"
    workers = ["--workers", "2"]
    # another lava-nt Ray session may be running on this machine (e.g. a long study, whose
    # workers keep forking Lava processes): only the sessions this test's runs start count
    other_sessions = frozenset(_ray_session_markers().values())
    other_dirs = set(_ray_temp_dirs())

    def left_procs():
        return _ray_session_processes(other_sessions)

    def left_dirs():
        return sorted(set(_ray_temp_dirs()) - other_dirs)

    code = _kill_when(run_dir, lambda d: _n_lines(d) >= 3, extra=workers)
    assert code == -signal.SIGKILL, "the parallel run finished before it could be killed"
    deadline = time.monotonic() + 30
    while (left_procs() or left_dirs()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left_procs(), "Ray processes outlived the killed driver"
    assert not left_dirs(), "the killed run's Ray session directory was not removed"
    res = subprocess.run(_cmd(run_dir) + workers, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "running units on 2 Ray workers" in res.stdout
    assert _rows(run_dir) == _rows(ref_dir)
    assert _model_states(run_dir) == _model_states(ref_dir)
    assert not left_procs()
    assert not left_dirs(), "Ray session directory left behind"
