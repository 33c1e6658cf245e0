"""Compiled recurrences in the fused training path: FusedNTNetwork(net, compile=True) vs default.

Workload: the training-throughput section's EEG network (``bench_training``: 160 -> 400 -> 800 ->
100, ``build_network`` defaults du = 1, dv = 0.1, subtractive reset, SuperSpike slope 10), T = 25,
batch 32, float32, ``torch.set_num_threads(2)``, a static binary input (p = 0.4) held for T steps,
cross-entropy on the population counts; one tuning step = ``zero_grad`` + forward + backward +
``Adam.step``, tuning NT1+NT2 (gains and biases) and NT2 (biases), weights frozen.

Variants: the default fused path (eager T-step loops) and the compiled one (each layer's forward
loop and backward loop compiled by ``torch.compile``, inductor, per shape), each with its own
network copy and Adam state, timed side by side in interleaved rounds; ratios are medians of the
per-round paired ratios. The one-off compile (the first step of each compiled variant, cold
inductor cache in a fresh directory) is timed separately and excluded from the step times.
Before timing, one step of both paths from the same state in float64 is compared (spikes equal,
largest gradient difference reported).

Run: ``.venv/bin/python benchmarks/bench_compile.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from bench_training import INPUT_RATE, N_CLASSES, POP, SIZES, B, T  # noqa: E402

METHODS = {"NT1+NT2": ["nt1", "nt2"], "NT2": ["nt2"]}


def _model(torch, methods, compile: bool, dtype=None):
    from lava_nt.builder import build_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.tuning import apply_tuning

    net = build_network(
        SIZES[0], list(SIZES[1:-1]), N_CLASSES, POP, seed=0, dtype=dtype or torch.float32
    )
    apply_tuning(net, methods)
    return FusedNTNetwork.from_network(net, compile=compile)


def _step_fn(torch, model, x, y, cfg):
    from lava_nt.training import loss_and_counts

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_and_counts(model, x, y, cfg)
        loss.backward()
        opt.step()

    return step


def _check(torch, x, y, cfg) -> str:
    """One NT1+NT2 step of both paths from the same float64 state: spikes and gradients."""
    from lava_nt.training import loss_and_counts

    ref = _model(torch, METHODS["NT1+NT2"], False, torch.float64)
    comp = copy.deepcopy(ref)
    comp.compiled = True
    res = []
    for m in (ref, comp):
        m.zero_grad(set_to_none=True)
        out, recs = m.forward_static(x.double(), T, record=True)
        loss, _ = loss_and_counts(m, x.double(), y, cfg)
        loss.backward()
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        res.append(([r["spikes"] for r in recs], grads))
    same = all(torch.equal(a, b) for a, b in zip(res[0][0], res[1][0], strict=True))
    diff = max(float((a - b).abs().max()) for a, b in zip(res[0][1], res[1][1], strict=True))
    scale = max(float(a.abs().max()) for a in res[0][1])
    return (
        f"float64, one NT1+NT2 step: spikes of every layer {'equal' if same else 'DIFFER'}, "
        f"largest gradient difference {diff:.1e} (largest gradient {scale:.1e}) over "
        f"{len(res[0][1])} gradient tensors"
    )


def run(quick: bool) -> dict:
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    torch.manual_seed(0)
    from lava_nt.training import TrainConfig

    rounds, reps = (5, 4) if quick else (15, 5)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(B, SIZES[0], generator=g) < INPUT_RATE).float()
    y = torch.randint(0, N_CLASSES, (B,), generator=g)
    cfg = TrainConfig(T=T, n_classes=N_CLASSES, spike_l1=0.0)

    cache = tempfile.mkdtemp(prefix="bench_inductor_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # cold: nothing cached from earlier runs
    fns, compile_s = {}, {}
    try:
        for name, methods in METHODS.items():
            fns[f"fused {name}"] = _step_fn(torch, _model(torch, methods, False), x, y, cfg)
            step = _step_fn(torch, _model(torch, methods, True), x, y, cfg)
            t0 = time.perf_counter()
            step()  # compiles every layer's forward and backward for this shape
            compile_s[name] = time.perf_counter() - t0
            common.log(f"compiled {name}: first step {compile_s[name]:.1f} s")
            fns[f"compiled {name}"] = step
        check = _check(torch, x, y, cfg)
        common.log(check)
        common.log(f"compile benchmark: {rounds} rounds x {reps} steps per variant")
        times = common.interleaved(fns, rounds, reps, warmup=2, log=common.log)
    finally:
        shutil.rmtree(os.environ.pop("TORCHINDUCTOR_CACHE_DIR"), ignore_errors=True)

    ms = {k: common.median(v) * 1e3 for k, v in times.items()}
    figs, rows = [], []
    for name in METHODS:
        a, b = f"fused {name}", f"compiled {name}"
        figs.append(common.figure(
            f"tuning step {name}: compiled fused / default fused (speed-up)",
            common.ratio_median(times[a], times[b]),
            f"{ms[b]:.1f} vs {ms[a]:.1f} ms per step", target=">= 1.3x",
            met=common.ratio_median(times[a], times[b]) >= 1.3,
        ))  # fmt: skip
    for k, ts in times.items():
        rows.append(f"| {k} | {ms[k]:.1f} ({common.spread([t * 1e3 for t in ts])}) |")
    table = "\n".join(
        ["| variant | ms per tuning step (median, min-max) |", "|---|---|", *rows]
    )
    setup = [
        "EEG network 160-400-800-100 (build_network defaults: du 1, dv 0.1, subtractive reset, "
        "SuperSpike slope 10), float32, torch.set_num_threads(2), T 25, batch 32, static binary "
        f"input p={INPUT_RATE}, CE on population counts, Adam lr 1e-4, weights frozen.",
        f"{rounds} interleaved rounds x {reps} steps per variant (2 warm-up steps); ratios are "
        "medians of the per-round paired ratios.",
        "One-off compile (first step, cold inductor cache): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in compile_s.items())
        + " (not in the step times).",
        "Result check: " + check + ".",
    ]
    return {
        "title": "Compiled recurrences in the fused training path",
        "setup": setup,
        "figures": figs,
        "notes": [],
        "extra": [table],
    }


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
