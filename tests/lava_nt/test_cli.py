"""The ``lava-nt`` command line with careless and hostile inputs: every mistake ends with one line
on stderr and a non-zero exit status (2 for refused options, 1 otherwise, 130 for Ctrl-C), never a
traceback; outputs are checked before the work; Ctrl-C leaves no processes or files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import save_model
from lava_nt.testing import random_spec


def _spec(n_in=8):
    return random_spec(0, (n_in, 6, 4), du=(0.5, 1.0), dv=(0.2, 0.1), vth=1.0, gain=1.0,
                       zero_bias=(0, 1), weight_mean=0.2, weight_scale=0.4)  # fmt: skip


@pytest.fixture()
def files(tmp_path):
    model = tmp_path / "model.h5"
    save_model(model, _spec(), meta={"n_classes": 2})
    rng = np.random.default_rng(1)
    data = tmp_path / "data.npz"
    np.savez(data, x=(rng.random((6, 10, 8)) < 0.4).astype(np.int8), y=rng.integers(0, 2, 10))
    return {"model": model, "data": data, "dir": tmp_path}


def _writable(d: Path) -> bool:
    try:
        (d / ".probe").write_text("x")
    except OSError:
        return False
    (d / ".probe").unlink()
    return True


@pytest.fixture()
def read_only_dir(tmp_path):
    """A directory that refuses new files (permission bits; for root, who ignores them, /sys)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        if _writable(d):
            d = Path("/sys")
            if not d.is_dir() or _writable(d):
                pytest.skip("no read-only directory available")
        yield d
    finally:
        (tmp_path / "ro").chmod(0o755)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, command: str) -> None:
    assert err.startswith(f"lava-nt {command}: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


# ---- numbers from the user ------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, option",
    [
        (["deploy", "M", "--precision", "float", "--data", "D", f"--timeout={v}"], "--timeout")
        for v in ("0", "-1", "nan", "inf", "-inf", "abc", "")
    ]
    + [
        (["deploy", "M", "--precision", "float", "--data", "D", "--T", v], "--T")
        for v in ("0", "-3", "2.5", "true")
    ]
    + [
        (["deploy", "M", "--precision", "float", "--data", "D", "--n-classes", "0"], "--n-classes"),
        (["report", "M", "--T", "0"], "--T"),
        (["report", "M", "--n-classes", "False"], "--n-classes"),
        (["report", "M", "--dac-bits", "-2"], "--dac-bits"),
        (["report", "M", "--v-ref", "nan"], "--v-ref"),
        (["export-nir", "M", "OUT", "--dt", "0"], "--dt"),
        (["import-nir", "IN", "OUT", "--dt", "inf"], "--dt"),
        (["smoke", "--samples", "0"], "--samples"),
        (["smoke", "--seed", "-1"], "--seed"),
    ],
)
def test_bad_numbers_are_refused_naming_the_option(capsys, argv, option):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be a " in err
    assert "positive" in err or "non-negative" in err
    assert "Traceback" not in err


# ---- outputs checked before the work --------------------------------------------------------
def _no_lava(monkeypatch):
    """Make any Lava/engine run fail the test: the checks must come first."""
    import lava_nt.converters.agreement as agreement

    def ran(*a, **k):
        raise AssertionError("the engines ran before the output was checked")

    monkeypatch.setattr(agreement, "agreement", ran)


def test_deploy_out_is_checked_before_the_lava_run(files, read_only_dir, capsys, monkeypatch):
    _no_lava(monkeypatch)
    d = files["dir"]
    base = ["deploy", files["model"], "--precision", "float", "--data", files["data"], "--out"]
    existing = d / "old.json"
    existing.write_text("{}")
    cases = [
        (existing, "exists; pass --overwrite"),
        (d / "missing" / "r.json", "directory"),
        (read_only_dir / "r.json", "cannot write"),
        (d, "is a directory"),
    ]
    for out, fragment in cases:
        code, _, err = _run(capsys, *base, out)
        assert code == 1, err
        _one_line_error(err, "deploy")
        assert fragment in err and str(out) in err
    assert existing.read_text() == "{}"


def test_read_only_outputs_of_every_writer(files, read_only_dir, capsys):
    model, d = files["model"], files["dir"]
    nir, netx = d / "m.nir", d / "m.netx.h5"
    assert _run(capsys, "export-nir", model, nir)[0] == 0
    assert _run(capsys, "export-netx", model, netx)[0] == 0
    cases = [
        ("export-netx", [model, read_only_dir / "x.h5"]),
        ("export-nir", [model, read_only_dir / "x.nir"]),
        ("import-nir", [nir, read_only_dir / "x.h5"]),
        ("import-netx", [netx, read_only_dir / "x.h5"]),
        ("report", [model, "--json", read_only_dir / "r.json"]),
        ("report", [model, "--analog", "--plot", read_only_dir / "p.png"]),
    ]
    for command, rest in cases:
        code, _, err = _run(capsys, command, *rest)
        assert code == 1, (command, err)
        _one_line_error(err, command)
        assert "cannot write" in err and str(read_only_dir) in err


def test_report_plot_is_not_replaced_silently(files, capsys):
    plot = files["dir"] / "p.png"
    plot.write_bytes(b"old")
    code, _, err = _run(capsys, "report", files["model"], "--analog", "--plot", plot)
    assert code == 1 and "exists; pass --overwrite" in err
    assert plot.read_bytes() == b"old"


# ---- data files -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["deploy", "report"])
def test_bad_data_files_are_one_line_errors(files, capsys, monkeypatch, command):
    _no_lava(monkeypatch)
    d = files["dir"]
    bad = {
        "t0.npz": ({"x": np.zeros((0, 3, 8))}, "T = 0"),
        "n0.npz": ({"x": np.zeros((4, 0, 8))}, "N = 0"),
        "wide.npz": ({"x": np.zeros((4, 3, 9))}, "9 inputs per sample, the model expects 8"),
        "label.npz": ({"x": np.zeros((4, 3, 8)), "y": np.array([0, 1, 5])}, "label 5"),
        "neg.npz": ({"x": np.zeros((4, 3, 8)), "y": np.array([0, -1, 1])}, "negative label"),
        "bool.npz": ({"x": np.zeros((4, 3, 8)), "y": np.ones(3, bool)}, "y holds bool"),
        "cplx.npz": ({"x": np.zeros((4, 3, 8), complex)}, "complex"),
        "text.npz": ({"x": np.full((3, 8), "1")}, "text"),
        "nan.npz": ({"x": np.full((4, 3, 8), np.nan)}, "NaN"),
        "graded.npz": ({"x": np.full((3, 8), 0.3), "T": np.int64(4)}, "graded values"),
    }
    for name, (arrays, fragment) in bad.items():
        np.savez(d / name, **arrays)
        argv = [command, files["model"], "--data", d / name]
        if command == "deploy":
            argv += ["--precision", "float"]
        code, _, err = _run(capsys, *argv)
        assert code == 1, (name, err)
        _one_line_error(err, command)
        assert name in err and fragment in err, (name, err)


# ---- Lava failures --------------------------------------------------------------------------
def test_lava_timeout_is_one_line_naming_the_option(files, capsys):
    argv = ["deploy", files["model"], "--precision", "float", "--data", files["data"]]
    code, _, err = _run(capsys, *argv, "--timeout", "0.001")
    assert code == 1
    _one_line_error(err, "deploy")
    assert "did not finish within 0.001 s" in err and "--timeout SECONDS" in err


def test_lava_failure_is_one_line(files, capsys, monkeypatch):
    import lava_nt.converters.agreement as agreement  # deploy runs Lava through agreement
    from lava_nt.lava.run import LavaRunError

    def failing(*a, **k):
        raise LavaRunError(
            "Lava job 'x' failed: Lava worker (process model M, pid 1) exited with code 3",
            model_errors="details\nmore details\n",
        )

    monkeypatch.setattr(agreement, "run_network", failing)
    argv = ["deploy", files["model"], "--precision", "float", "--data", files["data"]]
    code, _, err = _run(capsys, *argv)
    assert code == 1
    _one_line_error(err, "deploy")
    assert "exited with code 3" in err


def test_smoke_lava_timeout_is_one_line(capsys, monkeypatch):
    import lava_nt.converters.lava_graph as lava_graph
    from lava_nt.lava.run import LavaTimeoutError

    def hanging(*a, **k):
        raise LavaTimeoutError("Lava job 'x' did not finish within 61 s", timeout=61.0)

    monkeypatch.setattr(lava_graph, "run_networks", hanging)
    code, _, err = _run(capsys, "smoke", "--samples", "2")
    assert code == 1
    _one_line_error(err, "smoke")
    assert "did not finish within 61 s" in err


# ---- interrupts and operating-system errors -------------------------------------------------
@pytest.mark.parametrize(
    "exc, code, line",
    [
        (KeyboardInterrupt(), 130, "lava-nt quantize: interrupted\n"),
        (PermissionError(13, "Permission denied", "/x/y"), 1, "lava-nt quantize: error: "),
    ],
)
def test_interrupts_and_os_errors_end_in_one_line(capsys, monkeypatch, exc, code, line):
    import lava_nt.commands.deploy as deploy

    def raising(args):
        raise exc

    monkeypatch.setattr(deploy, "cmd_quantize", raising)
    assert main(["quantize", "M"]) == code
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err


def _descendants(root: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat="], capture_output=True, text=True)
    rows = [line.split() for line in out.stdout.splitlines()]
    kids: dict[int, list[int]] = {}
    for pid, ppid, stat in rows:
        if not stat.startswith("Z"):
            kids.setdefault(int(ppid), []).append(int(pid))
    found, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            found.append(k)
            todo.append(k)
    return found


def _alive(pids) -> list[int]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(pid)
        except OSError:
            pass
    return out


def _shm_mapped_by(pids) -> set[str]:
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as fh:
                for line in fh:
                    path = line.split(None, 5)[-1].strip()
                    if path.startswith("/dev/shm/"):
                        names.add(path[len("/dev/shm/") :].removesuffix(" (deleted)"))
        except OSError:
            pass
    return names


def test_ctrl_c_during_a_lava_deploy(tmp_path):
    """SIGINT while `lava-nt deploy` runs Lava: exit 130, one line, and no process, temporary
    directory or shared-memory segment of the run is left."""
    import shutil
    import tempfile

    model = tmp_path / "model.h5"
    save_model(model, _spec(), meta={"n_classes": 2})
    rng = np.random.default_rng(2)
    data = tmp_path / "big.npz"  # long enough that the Lava run is still going at the SIGINT
    np.savez(data, x=(rng.random((50, 3000, 8)) < 0.3).astype(np.int8))
    private_tmp = tempfile.mkdtemp(prefix="lnt-cli-")  # short: AF_UNIX socket paths are limited
    try:
        env = dict(os.environ, TMPDIR=private_tmp)
        argv = [sys.executable, "-m", "lava_nt.cli", "deploy", str(model), "--precision", "float"]
        proc = subprocess.Popen(
            argv + ["--data", str(data), "--timeout", "600"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C as a user's terminal delivers it: a suite started as a background job of a
            # non-interactive shell inherits SIGINT ignored, which Python would keep
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        seen: set[int] = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _descendants(proc.pid)
            seen.update(kids)
            if len(kids) >= 3:  # the job process and its Lava workers are running
                break
            time.sleep(0.1)
        time.sleep(0.5)
        seen.update(_descendants(proc.pid))
        mapped = _shm_mapped_by(seen)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert err == "lava-nt deploy: interrupted\n"
        assert len(seen) >= 3
        deadline = time.monotonic() + 10
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(seen) == []
        assert os.listdir(private_tmp) == []
        assert mapped, "the run mapped no shared memory (the test would prove nothing)"
        assert [n for n in mapped if os.path.exists(f"/dev/shm/{n}")] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(private_tmp, ignore_errors=True)
