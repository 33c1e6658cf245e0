"""Numerical fidelity on the EEG network: float32 torch vs float64, and float64 torch vs Lava float.

1. float32 vs float64 (training precision vs the Lava-float-equivalent precision). The EEG network
   (weights scaled for 15/10/8 % firing, small random biases, subtractive reset) is trained briefly
   in float32 (``FusedNTNetwork``, a learnable rule on random static inputs), then the same weights
   run in float64 (``NTNetwork.from_spec(net.to_spec(), dtype=torch.float64)``) on held-out
   samples. Reported: the spike mismatch rate per layer (cascaded: each precision feeds itself;
   and the layer's own rate: float32 layer fed with the float64 network's input spikes), the share
   of samples with any output difference, and the prediction disagreement (argmax of the 2x50
   population counts).
2. float64 torch vs Lava float (``run_network`` in one long run, every layer recorded): spike
   match per layer; expected 100 %.

Run: ``.venv/bin/python benchmarks/bench_fidelity.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import numpy as np  # noqa: E402

T = 25


def _rule(x):
    """A learnable label: more of the first 80 inputs on than of the last 80."""
    return (x[:, :80].sum(1) > x[:, 80:].sum(1)).long()


def run(quick: bool) -> dict:
    import torch

    from lava_nt.converters.lava_graph import run_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.nn.network import NTNetwork
    from lava_nt.training import TrainConfig, evaluate, population_counts, train

    torch.set_num_threads(2)
    torch.manual_seed(0)
    n_eval, n_lava = (1000, 1000) if quick else (5000, 2000)
    spec = common.calibrated_eeg_spec()
    net32 = NTNetwork.from_spec(spec, dtype=torch.float32)

    # --- brief float32 training --------------------------------------------------------------
    x_tr = common.static_inputs(1024, seed=21).float()
    y_tr = _rule(x_tr)
    x_ev64 = common.static_inputs(n_eval, seed=22)
    y_ev = _rule(x_ev64)
    cfg = TrainConfig(epochs=3, lr=3e-4, batch_size=32, T=T, select="last", seed=0, spike_l1=0.0)
    t0 = time.perf_counter()
    acc0 = evaluate(net32, x_ev64.float(), y_ev, cfg)["acc"]
    train(FusedNTNetwork.from_network(net32), (x_tr, y_tr), cfg)
    acc1 = evaluate(net32, x_ev64.float(), y_ev, cfg)["acc"]
    t_train = time.perf_counter() - t0
    common.log(f"trained: accuracy {acc0:.3f} -> {acc1:.3f} in {t_train:.1f} s")

    spec64 = net32.to_spec()
    net64 = NTNetwork.from_spec(spec64, dtype=torch.float64)
    batch = 250
    mism = np.zeros(3)
    own = np.zeros(3)
    total = np.zeros(3)
    any_out = 0
    disagree = 0
    outs64 = []
    rec64_all = [[] for _ in range(3)]
    with torch.no_grad():
        for i in range(0, n_eval, batch):
            xb = x_ev64[i : i + batch]
            o32, r32 = net32.forward_static(xb.float(), T, record=True)
            o64, r64 = net64.forward_static(xb, T, record=True)
            for k in range(3):
                s32, s64 = r32[k]["spikes"].double(), r64[k]["spikes"]
                mism[k] += float((s32 != s64).sum())
                total[k] += s64.numel()
                # the layer's own rounding: float32 layer fed with the float64 input spikes
                layer = net32.layers[k]
                if k == 0:
                    s_own, _, _ = layer.run(xb.float(), T=T)
                else:
                    s_own, _, _ = layer.run(r64[k - 1]["spikes"].float())
                own[k] += float((s_own.double() != s64).sum())
            any_out += int((o32.double() != o64).flatten(0, 0).any(0).any(-1).sum())
            p32 = population_counts(o32.double(), 2).argmax(-1)
            p64 = population_counts(o64, 2).argmax(-1)
            disagree += int((p32 != p64).sum())
            if i < n_lava:
                outs64.append(o64)
                for k in range(3):
                    rec64_all[k].append(r64[k]["spikes"])
    rates = [float(torch.cat(rec64_all[k], 1).mean()) for k in range(3)]

    figs = []
    for k in range(3):
        figs.append(common.figure(
            f"float32 vs float64: spike mismatch, layer {k + 1} (cascaded)",
            100 * mism[k] / total[k],
            f"{int(mism[k])} of {int(total[k])} spike entries",
            unit="%",
        ))  # fmt: skip
        figs.append(common.figure(
            f"float32 vs float64: spike mismatch, layer {k + 1} (own rounding only)",
            100 * own[k] / total[k],
            f"{int(own[k])} of {int(total[k])} spike entries",
            unit="%",
        ))  # fmt: skip
    figs.append(common.figure(
        "float32 vs float64: samples with any output spike difference",
        100 * any_out / n_eval, f"{any_out} of {n_eval} samples", unit="%",
    ))  # fmt: skip
    figs.append(common.figure(
        "float32 vs float64: prediction disagreement (argmax of population counts)",
        100 * disagree / n_eval, f"{disagree} of {n_eval} samples", unit="%",
    ))  # fmt: skip

    # --- torch float64 vs Lava float --------------------------------------------------------
    x_l = x_ev64[:n_lava].numpy()
    x_l = np.ascontiguousarray(np.broadcast_to(x_l, (T, *x_l.shape)))
    t0 = time.perf_counter()
    lava = run_network(spec64, x_l, precision="float", record=True)
    t_lava = time.perf_counter() - t0
    common.log(f"Lava float: {n_lava} samples in {t_lava:.1f} s")
    all_match = True
    for k in range(3):
        ref = torch.cat(rec64_all[k], 1)[:, :n_lava].numpy()
        got = lava.layers[k]["spikes"]
        match = float(np.mean(got == ref)) * 100
        all_match &= match == 100.0
        figs.append(common.figure(
            f"float64 torch vs Lava float: spike match, layer {k + 1}",
            match, f"{int(np.sum(got != ref))} of {ref.size} entries differ", "100 %",
            match == 100.0, result="met" if match == 100.0 else "**MISSED**", unit="%",
        ))  # fmt: skip
    setup = [
        "EEG network 160-400-800-100 (build_network, seed 0) with weights scaled for 15/10/8 % "
        "firing and biases ~ N(0, 0.02), subtractive reset, du = 1, dv = 0.1, T = 25.",
        "Brief float32 training (FusedNTNetwork, Adam lr 3e-4, no spike penalty, 3 epochs of "
        "1024 samples, label = "
        f"'more of inputs 0-79 on than of 80-159'): held-out accuracy {acc0:.3f} -> {acc1:.3f} "
        f"({t_train:.0f} s).",
        f"Evaluation: {n_eval} held-out static binary samples (p = 0.4); float64 firing rates "
        f"{', '.join(f'{r:.3f}' for r in rates)} (first {n_lava} samples).",
        f"Lava float: run_network, {n_lava} samples in one run with every layer recorded "
        f"({t_lava:.0f} s).",
    ]
    notes = [
        "Cascaded mismatch: each precision runs the whole network on its own spikes, so a flip in "
        "layer 1 propagates. Own-rounding mismatch: the float32 layer gets the float64 network's "
        "input spikes, so only that layer's float32 rounding differs.",
        "No target: float32 is the training precision; deployment figures in float use float64 "
        "(Lava float computes in float64 numpy) and match exactly.",
    ]
    return {"title": "Fidelity (float32 / float64 / Lava float)", "setup": setup,
            "figures": figs, "notes": notes, "value_header": "value"}  # fmt: skip


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
