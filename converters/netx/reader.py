"""lava-dl's own netx reader (``lava.lib.dl.netx.hdf5``), installed on demand into a side
directory (never the environment's site-packages) and imported without torch."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

from lava_nt.converters.netx.format import LAVA_DL_VERSION


class NetxUnavailable(RuntimeError):
    """lava-dl's netx reader could not be installed or imported (reason in the message)."""


def default_side_dir() -> Path:
    """``<venv>/lava-dl-side`` (the running environment's prefix), where lava-dl is unpacked."""
    return Path(sys.prefix) / "lava-dl-side"


def ensure_netx_reader(side_dir=None, *, download: bool = True, timeout: float = 600) -> Path:
    """Make lava-dl's netx reader available in ``side_dir`` (default :func:`default_side_dir`):
    ``pip download lava-dl==0.6.0 --no-deps`` then ``pip install --no-deps --target side_dir``,
    once; the environment's own packages are never touched.

    Raises :class:`NetxUnavailable` (with pip's message) if it is missing and cannot be installed.
    """
    side = Path(side_dir) if side_dir is not None else default_side_dir()
    marker = side / "lava" / "lib" / "dl" / "netx" / "hdf5.py"
    if marker.exists():
        return side
    if not download:
        raise NetxUnavailable(f"lava-dl's netx reader is not installed in {side}")
    wheels = side.parent / (side.name + "-wheel")
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    pattern = f"lava_dl-{LAVA_DL_VERSION}-*.whl"

    def _pip(args: list[str]) -> None:
        what = f"pip {args[0]} lava-dl=={LAVA_DL_VERSION}"
        try:
            res = subprocess.run(pip + args, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NetxUnavailable(f"{what} failed: {exc}") from exc
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise NetxUnavailable(f"{what} failed: {' | '.join(tail)}")

    if not sorted(wheels.glob(pattern)):
        _pip(
            ["download", f"lava-dl=={LAVA_DL_VERSION}", "--no-deps", "-d", str(wheels)]
            + ["--timeout", "30", "--retries", "2"]
        )
    found = sorted(wheels.glob(pattern))
    if not found:
        raise NetxUnavailable(f"no lava-dl {LAVA_DL_VERSION} wheel in {wheels} after pip download")
    _pip(["install", "--no-deps", "--target", str(side), str(found[0])])
    if not marker.exists():
        raise NetxUnavailable(f"lava-dl installed into {side} but {marker} is missing")
    return side


def import_netx_hdf5(side_dir):
    """Import ``lava.lib.dl.netx.hdf5`` from ``side_dir`` without torch/slayer (stub modules for
    ``lava.lib.dl.netx``'s package init, ``sequential_modules`` and ``slayer.neuron.rf``).

    Call it in a throw-away process (e.g. inside a :func:`~lava_nt.lava.run.run_isolated` job):
    it changes ``sys.path`` and ``sys.modules``."""
    side = str(side_dir)
    if side not in sys.path:
        sys.path.insert(0, side)
    netx_dir = os.path.join(side, "lava", "lib", "dl", "netx")
    if "lava.lib.dl.netx" not in sys.modules:
        pkg = types.ModuleType("lava.lib.dl.netx")
        pkg.__path__ = [netx_dir]
        sys.modules["lava.lib.dl.netx"] = pkg
        seq = types.ModuleType("lava.lib.dl.netx.sequential_modules")
        seq.__file__ = os.path.join(netx_dir, "sequential_modules.py")
        sys.modules["lava.lib.dl.netx.sequential_modules"] = seq
        for name in ("lava.lib.dl.slayer", "lava.lib.dl.slayer.neuron"):
            mod = types.ModuleType(name)
            mod.__path__ = []
            sys.modules[name] = mod
        rf = types.ModuleType("lava.lib.dl.slayer.neuron.rf")

        def neuron_params(*args, **kwargs):  # only used by RF neurons
            raise NotImplementedError("slayer is stubbed out (RF neurons are not supported)")

        rf.neuron_params = neuron_params
        sys.modules["lava.lib.dl.slayer.neuron.rf"] = rf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module("lava.lib.dl.netx.hdf5")
