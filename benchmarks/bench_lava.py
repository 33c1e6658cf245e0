"""Lava deployment throughput on the EEG network (float and Loihi fixed point).

Two comparisons, each side by side in the same interleaved rounds:

1. lava-nt's :func:`lava_nt.converters.lava_graph.run_network` (ONE long Lava run, samples back
   to back, per-layer state reset at each sample boundary, output read with an Extractor) vs the
   naive way of running many samples through a Lava network ("per sample"): one
   ``run(RunSteps(T + depth))`` per sample, with ``Var.set`` writing the sample
   into the RingBuffer, zeroing ``u``/``v`` of every NTLIF and ``a_buff`` of every Dense before
   it. Same NTLIF/Dense processes, same Extractor read-out; the outputs are checked to be identical.
2. The NT processes (NTLIF + Dense, no spiking bias) vs stock Lava ``LIFReset``/``Dense`` of the
   same shape and equivalent parameters (unit gain, zero bias current, reset to zero) in the same
   runner style (one long run, per-layer reset interval, Extractor on the last layer, inside
   :func:`lava_nt.lava.run.run_isolated`).

The network is the EEG network 160-400-800-100 with its weights scaled for 15/10/8 % firing
(``common.calibrated_eeg_spec``, reset to zero so that stock LIF computes the same thing); the
fixed-point version has 8-bit weight mantissas (``common.fixed_from_float``). Inputs are static
binary samples held for T = 25 steps. Every Lava run happens in ``run_isolated`` (timeout, process
group killed afterwards) and ends in ``stop()`` (try/finally via ``stopping``).

Run: ``.venv/bin/python benchmarks/bench_lava.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import numpy as np  # noqa: E402

CHECK = 2  # samples of a reference-mode Lava check (--lava-check 2)
T = 25
PRECISIONS = ("float", "fixed")


# ---- jobs (run inside run_isolated's child process) ------------------------------------------


def _neuron(layer, precision: str, stock: bool, interval: int, offset: int, k: int):
    if stock:
        from lava.proc.lif.process import LIF, LIFReset

        p = layer.neuron
        if precision == "float":
            kw = dict(du=float(p.du), dv=float(p.dv), vth=float(p.vth),
                      bias_mant=np.asarray(p.bias, np.float64) * np.ones(layer.n))  # fmt: skip
        else:
            kw = dict(du=int(p.du), dv=int(p.dv), vth=int(p.vth),
                      bias_mant=np.asarray(p.bias_mant) * np.ones(layer.n, np.int64),
                      bias_exp=np.asarray(p.bias_exp) * np.ones(layer.n, np.int64))  # fmt: skip
        if interval:
            return LIFReset(shape=(layer.n,), reset_interval=interval, reset_offset=offset,
                            name=f"lif_{k}", **kw)  # fmt: skip
        return LIF(shape=(layer.n,), name=f"lif_{k}", **kw)
    from lava_nt.processes.ntlif.process import NTLIF

    p = layer.neuron
    reset = "subtract" if p.reset_subtract else "zero"
    if precision == "float":
        kw = dict(du=p.du, dv=p.dv, vth=p.vth, bias=p.bias, gain=p.gain, reset=reset)
    else:
        kw = dict(du=p.du, dv=p.dv, vth=p.vth, bias_mant=p.bias_mant, bias_exp=p.bias_exp,
                  gain_mant=p.gain_mant, reset=reset)  # fmt: skip
    return NTLIF(shape=(layer.n,), precision=precision, reset_interval=interval,
                 reset_offset=offset, name=f"ntlif_{k}", **kw)  # fmt: skip


def _graph(spec, data, precision: str, stock: bool, interval: int, buffer: int):
    from lava.proc.dense.process import Dense
    from lava.proc.io.extractor import Extractor
    from lava.proc.io.source import RingBuffer

    fixed = precision == "fixed"
    src = RingBuffer(data=data.astype(np.int32) if fixed else data)
    prev, neurons, denses = src.s_out, [], []
    for k, layer in enumerate(spec.layers, start=1):
        w = np.asarray(layer.weight)
        if fixed:
            dense = Dense(weights=w.astype(np.int64), weight_exp=int(layer.weight_exp),
                          num_weight_bits=8)  # fmt: skip
        else:
            dense = Dense(weights=w.astype(np.float64))
        offset = (k + 1) % interval if interval else 0
        neuron = _neuron(layer, precision, stock, interval, offset, k)
        prev.connect(dense.s_in)
        dense.a_out.connect(neuron.a_in)
        prev = neuron.s_out
        neurons.append(neuron)
        denses.append(dense)
    tap = Extractor(shape=(spec.layers[-1].n,), buffer_size=buffer)
    prev.connect(tap.in_port)
    return src, neurons, denses, tap


def _long_job(spec, x, precision: str, stock: bool) -> dict:
    """One long run with per-layer reset (LIFReset / NTLIF reset_interval), Extractor read."""
    from lava.magma.core.run_conditions import RunSteps

    from lava_nt.converters.lava_graph import schedule, source_data, to_torch_frame
    from lava_nt.lava.models import base_config
    from lava_nt.lava.run import stopping

    t0 = time.perf_counter()
    _, B, _ = x.shape
    depth = len(spec.layers)
    L, steps = schedule(T, B, depth)
    src, _, _, tap = _graph(spec, source_data(x, depth), precision, stock, L, steps)
    timing = {"build": time.perf_counter() - t0}
    with stopping(src):
        t0 = time.perf_counter()
        src.create_runtime(run_cfg=base_config(precision))
        timing["start"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        src.run(condition=RunSteps(num_steps=steps))
        timing["run"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec = np.stack([tap.receive() for _ in range(steps)])
        timing["read"] = time.perf_counter() - t0
    return {"out": to_torch_frame(rec, depth, T, B, L).astype(np.int8), "timing": timing}


def _persample_job(spec, x, precision: str) -> dict:
    """The naive way: one run per sample, state reset with Var.set (lava-facts §4 (b))."""
    from lava.magma.core.run_conditions import RunSteps

    from lava_nt.converters.lava_graph import source_data
    from lava_nt.lava.models import base_config
    from lava_nt.lava.run import stopping

    t0 = time.perf_counter()
    _, B, _ = x.shape
    depth = len(spec.layers)
    L = T + depth
    windows = [source_data(x[:, b : b + 1], depth) for b in range(B)]  # [n_in, L] each
    src, neurons, denses, tap = _graph(spec, windows[0], precision, False, 0, L)
    timing = {"build": time.perf_counter() - t0, "set": 0.0, "run": 0.0, "read": 0.0}
    dtype = np.int32 if precision == "fixed" else np.float64
    outs = []
    with stopping(src):
        t0 = time.perf_counter()
        src.create_runtime(run_cfg=base_config(precision))
        timing["start"] = time.perf_counter() - t0
        for b in range(B):
            t0 = time.perf_counter()
            if b:  # the runtime starts with the first run: sample 0 starts from the initial state
                src.data.set(windows[b].astype(dtype))
                for neuron in neurons:
                    neuron.u.set(np.zeros(neuron.u.shape, dtype))
                    neuron.v.set(np.zeros(neuron.v.shape, dtype))
                for dense in denses:
                    dense.a_buff.set(np.zeros(dense.a_buff.shape, dtype))
            t1 = time.perf_counter()
            src.run(condition=RunSteps(num_steps=L))
            t2 = time.perf_counter()
            rec = np.stack([tap.receive() for _ in range(L)])
            t3 = time.perf_counter()
            outs.append(rec[depth : depth + T])
            timing["set"] += t1 - t0
            timing["run"] += t2 - t1
            timing["read"] += t3 - t2
    return {"out": np.stack(outs, axis=1).astype(np.int8), "timing": timing}


# ---- the benchmark ---------------------------------------------------------------------------


def _call(job, *args, timeout: float) -> dict:
    from lava_nt.lava.run import run_isolated

    t0 = time.perf_counter()
    res = run_isolated(job, *args, timeout=timeout)
    res["timing"]["total"] = time.perf_counter() - t0
    return res


def run(quick: bool) -> dict:
    import torch

    from lava_nt.converters.lava_graph import run_network
    from lava_nt.lava.run import preload_lava

    torch.set_num_threads(2)
    # Lava imported and its models selected once in this process, before any variant: every
    # forked job of every variant (run_network's as well as the naive and stock ones) inherits it
    preload_lava()
    n_samples, rounds = (20, 3) if quick else (50, 5)
    # zero biases: with a bias, the naive per-sample way is not even equivalent (layer k integrates
    # its bias for k steps before the sample reaches it; run_network's per-layer reset offsets
    # avoid that), and the comparison below checks that the outputs are identical
    float_spec = common.calibrated_eeg_spec(reset="zero", bias_sd=0.0)
    specs = {"float": float_spec, "fixed": common.fixed_from_float(float_spec)}
    xs = common.static_inputs(n_samples, seed=11).numpy()
    x = np.ascontiguousarray(np.broadcast_to(xs, (T, *xs.shape)))
    steps = n_samples * (T + 3)
    timeout = 120 + 0.5 * steps

    results: dict[str, list[dict]] = {}

    def variant(name, fn):
        def call():
            res = fn()
            results.setdefault(name, []).append(res)
            return res

        return call

    fns = {}
    for prec in PRECISIONS:
        spec = specs[prec]

        def rn(spec=spec, prec=prec):
            t0 = time.perf_counter()
            r = run_network(spec, x, precision=prec, timeout=timeout)
            timing = dict(r.timing)
            timing["total"] = time.perf_counter() - t0
            return {"out": r.output.astype(np.int8), "timing": timing}

        fns[f"run_network {prec}"] = variant(f"run_network {prec}", rn)
        fns[f"naive per-sample {prec}"] = variant(
            f"naive per-sample {prec}",
            lambda spec=spec, prec=prec: _call(_persample_job, spec, x, prec, timeout=timeout),
        )
        fns[f"stock LIF long {prec}"] = variant(
            f"stock LIF long {prec}",
            lambda spec=spec, prec=prec: _call(_long_job, spec, x, prec, True, timeout=timeout),
        )
        fns[f"NTLIF long {prec}"] = variant(
            f"NTLIF long {prec}",
            lambda spec=spec, prec=prec: _call(_long_job, spec, x, prec, False, timeout=timeout),
        )
    # several networks in one runtime: the EEG pipeline's reference-mode check (float, fixed
    # and the QAT model's fixed network recorded, CHECK samples) and a full float + fixed deploy
    nets = {
        "check": ([(specs["float"], "float", False), (specs["fixed"], "fixed", False),
                   (specs["fixed"], "fixed", True)], x[:, :CHECK]),
        "float + fixed": ([(specs["float"], "float", False), (specs["fixed"], "fixed", False)], x),
    }  # fmt: skip

    fns.update(_shared_variants(nets, variant, timeout))
    common.log(f"Lava benchmark: {n_samples} samples, {rounds} interleaved rounds")
    common.interleaved(fns, rounds, reps=1, warmup=0, log=common.log)

    def per_sample(name, key):
        return [r["timing"][key] / n_samples for r in results[name]]

    def total_or_run(name, key):
        if key == "run+set":
            return [
                (r["timing"]["run"] + r["timing"].get("set", 0.0) + r["timing"]["read"]) / n_samples
                for r in results[name]
            ]
        return per_sample(name, key)

    figs, checks = [], []
    for prec in PRECISIONS:
        ref = results[f"run_network {prec}"][0]["out"]
        for name in (f"naive per-sample {prec}", f"NTLIF long {prec}"):
            same = all(np.array_equal(r["out"], ref) for r in results[name])
            checks.append(f"{name}: outputs identical to run_network: {'yes' if same else 'NO'}")
        stock = results[f"stock LIF long {prec}"][0]["out"]
        agree = float(np.mean(stock == ref)) * 100
        checks.append(
            f"stock LIF long {prec}: output spikes agree with NTLIF on {agree:.3f} % of entries"
            + (" (bit-accurate models: must be 100 %)" if prec == "fixed" else
               " (float: LIF adds bias after u, NTLIF adds g*(u+b); rounding may differ)")
        )  # fmt: skip
        out_rate = float(ref.mean())
        checks.append(f"{prec}: output firing rate {out_rate:.3f} spikes/neuron/step")

        # 1. run_network vs naive
        a, b = f"run_network {prec}", f"naive per-sample {prec}"
        for key, label in (("total", "end to end"), ("run+set", "run + reset + read only")):
            ta, tb = total_or_run(a, key), total_or_run(b, key)
            r = common.ratio_median(tb, ta)
            raw = (
                f"{common.median(ta) * 1e3:.1f} vs {common.median(tb) * 1e3:.1f} ms/sample "
                f"({n_samples} samples)"
            )
            if key == "total":
                met = r >= 5.0
                figs.append(common.figure(
                    f"{prec}: run_network speed-up over naive per-sample runs ({label})", r, raw,
                    ">= 5x", met, result=common.target_text(met, r, 5.0, True),
                    note="" if met else _why_naive(results, a, b, n_samples),
                ))  # fmt: skip
            else:
                figs.append(common.figure(
                    f"{prec}: run_network speed-up over naive per-sample runs ({label})", r, raw
                ))  # fmt: skip
        # 2. NT processes vs stock LIF in the same runner
        a, b = f"NTLIF long {prec}", f"stock LIF long {prec}"
        for key, label, target in (
            ("run", "run phase", True),
            ("total", "end to end incl. compile/start/stop", False),
        ):
            ta, tb = per_sample(a, key), per_sample(b, key)
            r = common.ratio_median(ta, tb)
            raw = f"{common.median(ta) * 1e3:.2f} vs {common.median(tb) * 1e3:.2f} ms/sample"
            if target:
                met = r <= 1.25
                figs.append(common.figure(
                    f"{prec}: NTLIF+Dense time / stock LIFReset+Dense time ({label})", r, raw,
                    "<= 1.25x", met, result=common.target_text(met, r, 1.25, False),
                ))  # fmt: skip
            else:
                figs.append(common.figure(
                    f"{prec}: NTLIF+Dense time / stock LIFReset+Dense time ({label})", r, raw
                ))  # fmt: skip
        a = f"run_network {prec}"
        b = f"NTLIF long {prec}"
        ta, tb = per_sample(a, "total"), per_sample(b, "total")
        figs.append(common.figure(
            f"{prec}: run_network / the benchmark's own NTLIF long-run job (end to end)",
            common.ratio_median(ta, tb),
            f"{common.median(ta) * 1e3:.1f} vs {common.median(tb) * 1e3:.1f} ms/sample",
        ))  # fmt: skip

    _shared_figures(nets, results, figs, checks)
    rows = _variant_rows(results, n_samples)
    rates = common.firing_rates(float_spec, common.static_inputs(n_samples, seed=11), T)
    setup = [
        f"EEG network 160-400-800-100, weights scaled for firing rates "
        f"{', '.join(f'{r:.3f}' for r in rates)} (float64 torch on these inputs), reset to zero, "
        f"du = 1, dv = {float(float_spec.layers[0].neuron.dv):g}; fixed point: 8-bit weight "
        "mantissas, du = 4095, dv = 410. Biases are zero: with nonzero biases the naive "
        "per-sample way is not equivalent to the torch model (layer k integrates its bias for k "
        "steps before the sample reaches it through k Dense delays; run_network's per-layer reset "
        "offsets avoid that).",
        f"{n_samples} static binary samples x T = {T} steps; the long runs (run_network and the "
        "stock/NTLIF jobs) send the samples back to back and drain 3 steps at the end, the naive "
        "way runs T + 3 steps per sample (it must drain every sample); "
        f"{rounds} interleaved rounds; every variant runs in lava_nt.lava.run.run_isolated and "
        "ends in stop().",
        "lava_nt.lava.run.preload_lava() runs once before all variants (Lava imported and the "
        "ProcessModels selected in the parent, inherited by every forked job of every variant).",
        "Times: build = create the Processes, compile+start = compile + create_runtime (fork), "
        "run = RunSteps, Var.set = per-sample resets (naive only), read = Extractor receive, "
        "total = the whole isolated job as seen by the caller (fork, stop, process-group kill).",
        f"Several networks in one runtime (lava_nt.converters.lava_graph.run_networks: one "
        f"source, one build/compile/start/stop) against one run_network call each: the EEG "
        f"pipeline's reference-mode check (`--lava-check {CHECK} --qat`: the float network, its "
        f"fixed-point network and the QAT model's fixed-point network recorded at every layer, "
        f"{CHECK} samples; the fixed network stands in for the QAT one) and a full float + fixed "
        f"deployment of all {n_samples} samples.",
    ]
    return {
        "title": "Lava deployment (EEG network)",
        "setup": setup,
        "figures": figs,
        "notes": checks,
        "extra": ["Median seconds per call of each variant:\n\n" + "\n".join(rows)],
    }


def _variant_rows(results: dict, n_samples: int) -> list[str]:
    """The per-variant timing table (the several-networks variants are in the figures)."""
    rows = ["| variant | build | compile+start | run | Var.set | read | total (ms/sample) |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, rs in results.items():
        if ":" in name:  # the several-networks variants: total only (in the figures above)
            continue
        med = {k: common.median([r["timing"].get(k, 0.0) for r in rs])
               for k in ("build", "start", "run", "set", "read", "total")}  # fmt: skip
        rows.append(
            f"| {name} | {med['build']:.2f} s | {med['start']:.2f} s | {med['run']:.2f} s | "
            f"{med['set']:.2f} s | {med['read']:.3f} s | {med['total']:.2f} s "
            f"({med['total'] / n_samples * 1e3:.1f}) |"
        )
    return rows


def _shared_variants(nets: dict, variant, timeout: float) -> dict:
    """Per kind of ``nets``: its networks as separate run_network calls and in one runtime."""
    from lava_nt.converters.lava_graph import run_network, run_networks

    fns = {}

    def separate(kind):
        t0 = time.perf_counter()
        jobs, xk = nets[kind]
        outs = [run_network(sp, xk, pr, timeout=timeout, record=rec) for sp, pr, rec in jobs]
        return {"outs": [o.output for o in outs], "timing": {"total": time.perf_counter() - t0}}

    def shared(kind):
        t0 = time.perf_counter()
        jobs, xk = nets[kind]
        outs = run_networks(jobs, xk, timeout=timeout * len(jobs))
        return {"outs": [o.output for o in outs], "timing": {"total": time.perf_counter() - t0}}

    for kind in nets:
        fns[f"{kind}: separate runs"] = variant(f"{kind}: separate runs", partial(separate, kind))
        fns[f"{kind}: one runtime"] = variant(f"{kind}: one runtime", partial(shared, kind))
    return fns


def _shared_figures(nets: dict, results: dict, figs: list, checks: list) -> None:
    """One runtime vs separate runs per kind of ``nets``: the ratio and the identity check."""
    for kind, (jobs, xk) in nets.items():
        a, b = f"{kind}: one runtime", f"{kind}: separate runs"
        same = all(
            all(np.array_equal(o, p) for o, p in zip(ra["outs"], rb["outs"], strict=True))
            for ra, rb in zip(results[a], results[b], strict=True)
        )
        ta = [r["timing"]["total"] for r in results[a]]
        tb = [r["timing"]["total"] for r in results[b]]
        what = ("reference-mode check (float, fixed, QAT fixed recorded)" if kind == "check"
                else "full deployment (float, fixed)")  # fmt: skip
        figs.append(common.figure(
            f"{what}, {xk.shape[1]} samples: {len(jobs)} networks in one Lava runtime, speed-up "
            f"over {len(jobs)} separate runs (end to end)", common.ratio_median(tb, ta),
            f"{common.median(ta):.2f} vs {common.median(tb):.2f} s",
        ))  # fmt: skip
        checks.append(f"{kind}: outputs of one runtime identical to separate runs: "
                      f"{'yes' if same else 'NO'}")  # fmt: skip


def _why_naive(results, a, b, n) -> str:
    def med(name, key):
        return common.median([r["timing"].get(key, 0.0) for r in results[name]])

    fixed_cost = med(a, "total") - med(a, "run") - med(a, "read")
    return (
        f"run_network pays a fixed {fixed_cost:.2f} s (fork, build, compile, start, stop) that "
        f"only {n} samples share ({fixed_cost / n * 1e3:.0f} ms/sample); the naive way spends "
        f"{med(b, 'set') / n * 1e3:.0f} ms/sample in Var.set and {med(b, 'run') / n * 1e3:.0f} "
        f"ms/sample in its short runs, run_network {med(a, 'run') / n * 1e3:.0f} ms/sample in its "
        "long run (Lava's cost per step is inter-process synchronisation, about the same in both); "
        "with more samples the ratio approaches the run + reset + read ratio in the next row"
    )


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
