"""Shared helpers of the lava-nt benchmarks (scripts, not tests).

House rules (``BENCHMARKS.md``): every figure is a RATIO against a baseline measured side by side
in the same run, as the median over repeated interleaved rounds (the 2-core machine is shared and
noisy), with the raw medians next to it; machine, versions, command and date are recorded.

A benchmark script exposes ``run(quick: bool) -> dict`` returning a *section*::

    {"title": str, "setup": [str, ...], "figures": [figure, ...], "notes": [str, ...]}

and each figure is made by :func:`figure`. ``benchmarks/run_all.py`` runs every script in its own
subprocess (``--json PATH``), collects the sections and writes ``BENCHMARKS.md`` atomically.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ---- timing ------------------------------------------------------------------------------------


def interleaved(
    fns: dict[str, Callable[[], object]],
    rounds: int,
    reps: int = 1,
    warmup: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of every function, ``rounds`` times, interleaved.

    Every round calls each function ``reps`` times in a row (after ``warmup`` untimed calls of
    each before the first round) and records the mean time per call; the order of the functions
    rotates from round to round so no variant always follows the same neighbour. Returns
    ``{name: [seconds per call, one per round]}``.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            for _ in range(reps):
                fns[name]()
            out[name].append((time.perf_counter() - t0) / reps)
        if log:
            log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {out[n][-1]:.4g}s" for n in names))
    return out


def gemm_rate(torch, threads: int | None = None, seconds: float = 1.0) -> float:
    """Measured float32 GEMM rate (2048^3, FLOP/s) with ``threads`` torch threads (default: the
    current setting): an achievable-peak reference measured in the same run."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        a = torch.randn(2048, 2048)
        b = torch.randn(2048, 2048)
        a @ b
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            n += 1
        return n * 2 * 2048**3 / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)


def static_matmul_flops(sizes, T: int) -> dict[str, float]:
    """Dense matmul FLOPs per sample of a network ``sizes`` with a static input held for T steps.

    Layer 1 sees the same input every step, so its matmul (and its weight gradient) is counted
    once; layers 2..L run every step. ``full``: forward + input gradients of layers 2..L + weight
    gradients (pretraining, TFT); ``tune``: forward + input gradients (weights frozen; the small
    extra work of bias neurons / gains is not counted); ``fwd``: evaluation."""
    first = 2 * sizes[0] * sizes[1]
    rest = sum(2 * T * a * b for a, b in zip(sizes[1:-1], sizes[2:], strict=True))
    fwd = first + rest
    return {"fwd": fwd, "tune": fwd + rest, "full": fwd + rest + fwd}


def median(xs) -> float:
    return float(statistics.median(xs))


def ratio_median(num: list[float], den: list[float]) -> float:
    """Median over rounds of ``num[i] / den[i]`` (paired: both measured in the same round)."""
    return median([a / b for a, b in zip(num, den, strict=True)])


def spread(xs) -> str:
    """``min-max`` of a list (a rough noise indicator)."""
    return f"{min(xs):.3g}-{max(xs):.3g}"


# ---- results -----------------------------------------------------------------------------------


def figure(
    name: str,
    ratio: float,
    raw: str,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
    unit: str = "x",
    result: str = "",
) -> dict:
    """One result row: ``ratio`` (median of paired per-round ratios), ``raw`` (the raw medians as
    text), the ``target`` (text) and whether it was ``met`` (None: no target)."""
    return {
        "name": name,
        "ratio": None if ratio is None or not math.isfinite(ratio) else float(ratio),
        "unit": unit,
        "raw": raw,
        "target": target,
        "met": met,
        "result": result,
        "note": note,
    }


def target_text(met: bool | None, value: float, goal: float, higher_is_better: bool) -> str:
    """``met (by 12%)`` / ``MISSED (by 30%)`` for a value against its goal."""
    if met is None:
        return ""
    if higher_is_better:
        margin = value / goal - 1.0
    else:
        margin = goal / value - 1.0
    word = "met" if met else "MISSED"
    return f"{word} (by {abs(margin) * 100:.0f}%)"


# ---- machine -----------------------------------------------------------------------------------


def lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def cpu_mhz() -> float | None:
    """Nominal clock: lscpu's max MHz if given, else /proc/cpuinfo's ``cpu MHz``."""
    info = lscpu()
    for key in ("CPU max MHz", "CPU MHz"):
        if key in info:
            try:
                return float(info[key])
            except ValueError:
                pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return None


def peak_flops() -> dict:
    """Theoretical float32 peak from lscpu: cores x GHz x FLOPs/cycle/core.

    FLOPs/cycle assumes two FMA pipes per core at the widest vector width the flags show
    (AVX-512: 2 x 16 lanes x 2 = 64; AVX2/FMA: 32; SSE: 8), i.e. full-width 512-bit datapaths
    (true for AMD Zen 5 / Intel server cores; a core that splits AVX-512 into two 256-bit halves,
    e.g. Zen 4, has half that)."""
    info = lscpu()
    flags = info.get("Flags", "")
    cores = os.cpu_count() or 1
    try:
        cores = int(info.get("Core(s) per socket", cores)) * int(info.get("Socket(s)", 1))
    except ValueError:
        pass
    if "avx512f" in flags:
        width, per_cycle = "AVX-512", 64
    elif "avx2" in flags and "fma" in flags:
        width, per_cycle = "AVX2+FMA", 32
    else:
        width, per_cycle = "SSE", 8
    mhz = cpu_mhz() or float("nan")
    peak = cores * mhz * 1e6 * per_cycle
    return {
        "cores": cores,
        "mhz": mhz,
        "width": width,
        "flops_per_cycle": per_cycle,
        "peak_flops": peak,
        "model": info.get("Model name", platform.processor()),
        "text": (
            f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FP32 FLOP/cycle ({width}: 2 FMA "
            f"pipes x {per_cycle // 4} lanes x 2) = {peak / 1e9:.0f} GFLOP/s"
        ),
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("torch", "numpy", "norse", "snntorch"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            out[mod] = "not installed"
    try:
        from importlib.metadata import version

        out["lava-nc"] = version("lava-nc")
    except Exception:  # noqa: BLE001
        out["lava-nc"] = "not installed"
    return out


def git_commit() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(  # only the code the benchmarks run
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "lava_nt",
                "processes",
                "converters",
                "benchmarks",
                ":(exclude)benchmarks/results",  # what a run itself writes
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return rev + (" (+ uncommitted changes to the benchmarked code)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def scheduling() -> str:
    """This process' nice value and (Linux) autogroup nice: with autogroups, a nice value only
    orders processes within one session, so a raised priority needs the autogroup's too."""
    text = f"nice {os.nice(0)}"
    try:
        with open("/proc/self/autogroup") as fh:
            text += f", autogroup {fh.read().split('nice')[-1].strip()}"
    except OSError:
        pass
    return text


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---- files -------------------------------------------------------------------------------------


def stored_section(name: str, mode: str = "full") -> dict | None:
    """The stored result of benchmark section ``name`` (``benchmarks/results/MODE/NAME.json``,
    written by ``run_all.py``), or None when there is none or it is unreadable."""
    path = ROOT / "benchmarks" / "results" / mode / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(run: Callable[[bool], dict], description: str) -> None:
    """Command line of a benchmark script: ``[--quick] [--json PATH]``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="short version (part of make bench)")
    ap.add_argument("--json", help="write the section as JSON to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    section = run(args.quick)
    section["seconds"] = time.perf_counter() - t0
    if args.json:
        atomic_write(args.json, json.dumps(section, indent=1))
    print(format_section(section))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- markdown ----------------------------------------------------------------------------------


def format_section(section: dict) -> str:
    lines = [f"## {section['title']}", ""]
    for s in section.get("setup", []):
        lines.append(f"- {s}")
    if section.get("setup"):
        lines.append("")
    lines.append(
        f"| figure | {section.get('value_header', 'median ratio')} | raw | target | result |"
    )
    lines.append("|---|---|---|---|---|")
    for f in section["figures"]:
        r = f["ratio"]
        if r is None:
            rt = "n/a"
        elif f.get("unit") == "%":
            rt = f"{r:.4g} %" if r == 0 or r >= 0.01 else f"{r:.1e} %"
        else:
            rt = f"{r:.3g}{f.get('unit', 'x')}"
        res = f.get("result") or ("" if f["met"] is None else ("met" if f["met"] else "**MISSED**"))
        lines.append(f"| {f['name']} | {rt} | {f['raw']} | {f['target'] or ''} | {res} |")
    for block in section.get("extra", []):
        lines += ["", block]
    notes = [f"{f['name']}: {f['note']}" for f in section["figures"] if f.get("note")]
    notes += section.get("notes", [])
    if notes:
        lines.append("")
        for n in notes:
            lines.append(f"- {n}")
    if "seconds" in section:
        lines.append("")
        lines.append(f"_Section wall time: {section['seconds']:.0f} s._")
    return "\n".join(lines) + "\n"


# ---- the EEG network with realistic activity ---------------------------------------------------

EEG_SIZES = (160, 400, 800, 100)


def static_inputs(n: int, seed: int, rate: float = 0.4):
    """``n`` static binary inputs ``[n, 160]`` (the EEG task thresholds band powers at their
    mean, so roughly 30-50 % of the inputs are on)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, EEG_SIZES[0], generator=g, dtype=torch.float64) < rate).double()


def calibrated_eeg_spec(
    rates=(0.15, 0.10, 0.08),
    reset: str = "subtract",
    T: int = 25,
    seed: int = 0,
    n_cal: int = 64,
    bias_sd: float = 0.02,
):
    """Float :class:`~lava_nt.network.NetworkSpec` of ``build_network(160, [400, 800], 2, 50)``
    (seeded) with each layer's weights scaled so that it fires at ``rates[k]`` spikes per neuron
    and step on static random inputs (bisection in float64), and random biases (sd ``bias_sd``)."""
    import torch

    from lava_nt.builder import build_network

    net = build_network(160, [400, 800], 2, 50, seed=seed, dtype=torch.float64, reset=reset)
    g = torch.Generator().manual_seed(seed + 1)
    x = static_inputs(n_cal, seed + 2)
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.bias.copy_(
                torch.randn(layer.n, generator=g, dtype=torch.float64) * bias_sd
            )
        for k, layer in enumerate(net.layers):
            w0 = layer.linear.weight.detach().clone()
            lo, hi = 0.05, 50.0
            for _ in range(16):
                mid = (lo * hi) ** 0.5
                layer.linear.weight.copy_(w0 * mid)
                _, recs = net.forward_static(x, T, record=True)
                if float(recs[k]["spikes"].mean()) > rates[k]:
                    hi = mid
                else:
                    lo = mid
            layer.linear.weight.copy_(w0 * (lo * hi) ** 0.5)
    return net.to_spec()


def fixed_from_float(spec):
    """A Loihi fixed-point version of a float spec with du = 1 and zero biases/unit gains
    (for timing): 8-bit weight mantissas with per-layer scale 2**q, ``vth = vth * 2**q``,
    ``dv = round(dv * 4096)``, ``du = 4095`` (no current memory). Activity stays close to the float
    network's; it is not meant to be bit-equivalent to it."""
    import numpy as np

    from lava_nt.network import LayerSpec, NetworkSpec
    from lava_nt.spec import fixed_ntlif_parameters

    layers = []
    for layer in spec.layers:
        p = layer.neuron
        w = np.asarray(layer.weight)
        q = int(np.floor(np.log2(254.0 / np.abs(w).max())))
        w_mant = np.clip(np.round(w * 2.0**q), -254, 254).astype(np.int64)
        neuron = fixed_ntlif_parameters(
            layer.n,
            du=4095,
            dv=int(round(float(p.dv) * 4096)),
            vth=int(round(float(p.vth) * 2.0**q)),
            reset=p.reset,
        )
        layers.append(LayerSpec(weight=w_mant, neuron=neuron, weight_exp=0))
    return NetworkSpec(n_in=spec.n_in, layers=layers, fixed=True)


def firing_rates(spec, x, T: int = 25) -> list[float]:
    """Mean spikes per neuron and step of every layer (float64 torch) for static inputs ``x``."""
    import torch

    from lava_nt.nn.network import NTNetwork

    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        _, recs = net.forward_static(x, T, record=True)
    return [float(r["spikes"].mean()) for r in recs]
