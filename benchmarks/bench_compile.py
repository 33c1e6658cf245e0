"""Compiled recurrences in the fused training path (torch.compile per layer) vs the eager loops.

Workload: the training-throughput section's EEG network (``bench_training``: 160 -> 400 -> 800 ->
100, ``build_network`` defaults du = 1, dv = 0.1, subtractive reset, SuperSpike slope 10), T = 25,
batch 32, float32, ``torch.set_num_threads(2)``, a static binary input (p = 0.4) held for T steps,
cross-entropy on the population counts; one tuning step = ``zero_grad`` + forward + backward +
``Adam.step``, tuning NT1+NT2 (gains and biases) and NT2 (biases), weights frozen.

Variants: the fused path as it is (``lava_nt.nn.fused``: eager T-step loops) and the same path
with each layer's forward loop and backward loops replaced by pure tensor functions compiled by
``torch.compile`` (inductor, CPU, ``dynamic=False``, ``fullgraph=True``, one compiled function per
call signature), kept in this script and swapped in per call (``_Compiled``): with them the
forward of a layer is one generated kernel that walks the T steps per element, and so is the
voltage-gradient recurrence of its backward. Each variant has its own network copy and Adam
state; they are timed side by side in interleaved rounds and ratios are medians of the per-round
paired ratios. The one-off compile (the first step of each compiled variant, cold
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
import types
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import torch  # noqa: E402
from bench_training import INPUT_RATE, N_CLASSES, POP, SIZES, B, T  # noqa: E402

from lava_nt.nn.surrogate import surrogate_derivative  # noqa: E402

METHODS = {"NT1+NT2": ["nt1", "nt2"], "NT2": ["nt2"]}

# ---- the compiled recurrences (pure versions of lava_nt.nn.fused's loops) ----------------------


def layer_forward(a, c, bias, gain, beta_u: float, beta_v: float, vth: float, dtype, T: int,
                  static: bool, reset_subtract: bool, keep_x: bool, keep_u: bool):  # fmt: skip
    """``(spikes, x, u)`` of one layer from a fresh state: ``_run_layer`` of
    :mod:`lava_nt.nn.fused` as a pure function (``x`` and ``u`` are None unless kept; ``dtype``
    is the state's, ``a``'s promoted with ``vth``'s)::

        u[t]  = (1 - du) u[t-1] + a[t]           (u = a when du = 1)
        v'[t] = ((1 - dv) v[t-1] + g (u[t] + b)) + c[t]
        s[t]  = v'[t] > vth,  x[t] = v'[t] - vth
        v[t]  = v'[t] - s[t] vth   or   v'[t] (1 - s[t])
    """
    a_shape = a.shape if static else a.shape[1:]
    c_shape = () if c is None else c.shape[1:]
    shape = torch.broadcast_shapes(a_shape, c_shape, bias.shape, gain.shape)
    u = None
    if beta_u == 0.0:
        g_all = gain * (a + bias)
        g_steps = [g_all] * T if static else list(g_all.unbind(0))
    else:
        a_t = [a] * T if static else list(a.unbind(0))
        us = [a_t[0]]
        for t in range(1, T):
            us.append(us[-1] * beta_u + a_t[t])
        u = torch.stack(us)
        g_steps = list((gain * (u + bias)).unbind(0))
    v = torch.zeros(shape, dtype=dtype, device=a.device)
    spikes, vps = [], []
    for t in range(T):
        vp = v * beta_v + g_steps[t]
        if c is not None:
            vp = vp + c[t]
        s = (vp > vth).to(dtype)
        v = vp - s * vth if reset_subtract else vp * (1.0 - s)
        spikes.append(s)
        vps.append(vp)
    x = torch.stack(vps) - vth if keep_x else None
    return torch.stack(spikes), x, (u if keep_u else None)


def voltage_grad(g_s, x, s, beta_v: float, vth: float, T: int, detach_reset: bool,
                 reset_subtract: bool, kind: str, alpha: float):  # fmt: skip
    """``D[t] = dL/dv'[t]``: ``D[t] = dL/ds[t] sg(x[t]) + (1 - dv) R[t] D[t+1]`` (the reset
    factor ``R`` as in :mod:`lava_nt.nn.fused`), as a pure function."""
    if detach_reset:
        d = surrogate_derivative(x, kind, alpha, g_s, scale_last=True)
        r = None if reset_subtract else 1.0 - s
    else:
        sg = surrogate_derivative(x, kind, alpha, scale_last=True)
        d = g_s * sg
        r = 1.0 - sg * vth if reset_subtract else (1.0 - s) - (x + vth) * sg
    d_t = list(d.unbind(0))
    if r is None:
        for t in range(T - 2, -1, -1):
            d_t[t] = d_t[t] + d_t[t + 1] * beta_v
    else:
        k = r * beta_v
        for t in range(T - 2, -1, -1):
            d_t[t] = d_t[t] + k[t] * d_t[t + 1]
    return torch.stack(d_t)


def input_grad(gd, decay: float, T: int):
    """``dL/du[t] = g D[t] + (1 - du) dL/du[t+1]`` over the steps of ``gd = g D``."""
    g_t = list(gd.unbind(0))
    for t in range(T - 2, -1, -1):
        g_t[t] = g_t[t] + g_t[t + 1] * decay
    return torch.stack(g_t)


_CACHE: dict[tuple, object] = {}


def _signature(args) -> tuple:
    """A hashable key for one call: tensors by shape/dtype/device, other values as they are."""
    return tuple(
        ("T", tuple(a.shape), a.dtype, a.device.type) if isinstance(a, torch.Tensor) else a
        for a in args
    )


def _compiled(fn, args):
    """``fn`` compiled for exactly this signature (one code object, hence one dynamo cache, per
    signature: the recompile limit of a shared code object never silently falls back to eager)."""
    key = (fn.__name__, _signature(args))
    c = _CACHE.get(key)
    if c is None:
        copy = types.FunctionType(
            fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
        )
        c = _CACHE[key] = torch.compile(copy, dynamic=False, fullgraph=True)
    return c


def _signature(args) -> tuple:
    return tuple(("T", tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else a for a in args)


def _compiled(fn, *args):
    """``fn(*args)``, compiled once per call signature (own code object: own dynamo cache)."""
    key = (fn.__name__, _signature(args))
    c = _CACHE.get(key)
    if c is None:
        code = fn.__code__.replace()
        copy_ = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__)
        c = _CACHE[key] = torch.compile(copy_, dynamic=False, fullgraph=True)
    return c(*args)


class _Compiled:
    """Swap the fused path's loops (``_run_layer``, ``_voltage_grad``, ``_input_grad``) for the
    compiled functions while a step runs (forward and backward)."""

    def __enter__(self):
        from lava_nt.nn import fused

        self.fused, self.saved = fused, (fused._run_layer, fused._voltage_grad, fused._input_grad)
        fused._run_layer, fused._voltage_grad, fused._input_grad = (
            _run_layer_c, _voltage_grad_c, _input_grad_c,
        )  # fmt: skip

    def __exit__(self, *exc):
        self.fused._run_layer, self.fused._voltage_grad, self.fused._input_grad = self.saved


def _run_layer_c(a, c, bias, gain, du, dv, vth, cfg, keep_x, keep_u):
    beta_u, beta_v = 1.0 - float(du), 1.0 - float(dv)
    dtype = torch.promote_types(a.dtype, vth.dtype)
    with torch.no_grad():
        return _compiled(
            layer_forward, a, c, bias, gain, beta_u, beta_v, float(vth), dtype, cfg.T,
            cfg.static, cfg.reset_subtract, keep_x, keep_u and beta_u != 0.0,
        )  # fmt: skip


def _voltage_grad_c(g_s, x, s, dv, vth, cfg):
    return _compiled(
        voltage_grad, g_s, x, s, float(1.0 - dv), float(vth), cfg.T, cfg.detach_reset,
        cfg.reset_subtract, cfg.surrogate, cfg.alpha,
    )  # fmt: skip


def _input_grad_c(d, d_t, gain, du, cfg):
    if d_t is not None:
        return gain * d_t
    gd = d.mul_(gain)
    decay = float(1.0 - du)
    if decay != 0.0:
        gd = _compiled(input_grad, gd, decay, cfg.T)
    return gd.sum(0) if cfg.static else gd


_CACHE: dict[tuple, object] = {}


class _Plain:
    """The fused path as it is."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _model(methods, dtype=torch.float32):
    from lava_nt.builder import build_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.tuning import apply_tuning

    net = build_network(SIZES[0], list(SIZES[1:-1]), N_CLASSES, POP, seed=0, dtype=dtype)
    apply_tuning(net, methods)
    return FusedNTNetwork.from_network(net)


def _step_fn(model, x, y, cfg, compiled: bool):
    """One Adam tuning step of ``model`` (own optimiser), with the compiled loops or without."""
    from lava_nt.training import loss_and_counts

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    path = _Compiled if compiled else _Plain

    def step():
        with path():
            opt.zero_grad(set_to_none=True)
            loss, _ = loss_and_counts(model, x, y, cfg)
            loss.backward()
            opt.step()

    return step


def _check(x, y, cfg) -> str:
    """One NT1+NT2 step of both paths from the same float64 state: spikes and gradients."""
    from lava_nt.training import loss_and_counts

    ref = _model(METHODS["NT1+NT2"], torch.float64)
    comp = copy.deepcopy(ref)
    res = []
    for m, path in ((ref, _Plain), (comp, _Compiled)):
        m.zero_grad(set_to_none=True)
        with path():
            _, recs = m.forward_static(x.double(), T, record=True)
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
            fns[f"fused {name}"] = _step_fn(_model(methods), x, y, cfg, False)
            step = _step_fn(_model(methods), x, y, cfg, True)
            t0 = time.perf_counter()
            step()  # compiles every layer's forward and backward for this shape
            compile_s[name] = time.perf_counter() - t0
            common.log(f"compiled {name}: first step {compile_s[name]:.1f} s")
            fns[f"compiled {name}"] = step
        check = _check(x, y, cfg)
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
            f"tuning step {name}: compiled loops / fused path as it is (speed-up)",
            common.ratio_median(times[a], times[b]),
            f"{ms[b]:.1f} vs {ms[a]:.1f} ms per step", target=">= 1.3x",
            met=common.ratio_median(times[a], times[b]) >= 1.3,
        ))  # fmt: skip
    for k, ts in times.items():
        rows.append(f"| {k} | {ms[k]:.1f} ({common.spread([t * 1e3 for t in ts])}) |")
    table = "\n".join(["| variant | ms per tuning step (median, min-max) |", "|---|---|", *rows])
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
        "notes": [
            "The compiled loops replace about 375 small operations per step (4 per step and "
            "layer forward, 1 per step and layer backward: 4 x 25 x 3 + 25 x 3) by six kernels; "
            "the rest of the step (the dense matmuls, the surrogate and the bias/gain "
            "reductions, the loss, Adam) is unchanged, so the gain is bounded by the loops' "
            "share of the step. Below 1.3x the one-off compile does not pay, and the fused "
            "path offers no compiled option.",
        ],
        "extra": [table],
    }


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
