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
3. Fixed point vs float accuracy: the trained network quantised after training
   (:func:`lava_nt.converters.quantize.quantize`, 8-bit weights) and, separately, its biases
   fine-tuned through the bit-exact fixed-point dynamics (:class:`lava_nt.qat.QATNetwork`, NT2,
   weights frozen), both evaluated with the fixed-point emulator on the held-out samples; Lava's
   fixed-point run of both is checked bit for bit against the emulator on a subset. Target: the
   accuracy gap to float64 at most 1 percentage point. The same network is also quantised with the
   calibrated quantiser (:func:`lava_nt.converters.quantize.calibrate_quantize`).
4. The EEG example's own tuned models: ``lava-nt eeg run --quick --qat`` (synthetic data, nt2,
   spiking bias, volumetric; one seed; quick: one fold, full: two), each tuned model's fixed/float
   prediction agreement on its test samples after post-training quantisation (what the run's Lava
   deployment measured), after calibrated quantisation (calibrated on the person's training and
   validation part) and, for its QAT twin, Lava fixed point against the training forward. Target
   (issue 18): mean agreement >= 99 % over the tuned models, every model >= 95 %.

Run: ``.venv/bin/python benchmarks/bench_fidelity.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import math
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
    p64_all = []
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
            p64_all.append(p64)
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
    fx_figs, fx_setup, fx_notes = _fixed_gap(
        net32, spec64, x_tr, y_tr, x_ev64, y_ev, p64_all, n_lava_fixed=200 if quick else 500,
        qat_epochs=1 if quick else 2, n_qat=256 if quick else 1024,
    )  # fmt: skip
    figs += fx_figs
    setup += fx_setup
    notes += fx_notes
    eeg_figs, eeg_setup, eeg_notes = _eeg_models(quick)
    figs += eeg_figs
    setup += eeg_setup
    notes += eeg_notes
    return {"title": "Fidelity (float32 / float64 / Lava float / fixed point)", "setup": setup,
            "figures": figs, "notes": notes, "value_header": "value"}  # fmt: skip


def _fixed_predictions(fixed_spec, x64, batch: int = 250):
    """Predictions of a fixed-point spec on static inputs (the emulator: bit-exact with Lava)."""
    import torch

    from lava_nt.nn.fixed_emulator import emulate_fixed
    from lava_nt.training import population_counts

    preds = []
    for i in range(0, len(x64), batch):
        xb = x64[i : i + batch].long()
        out = emulate_fixed(fixed_spec, xb.expand(T, *xb.shape))
        preds.append(population_counts(out.double(), 2).argmax(-1))
    return torch.cat(preds)


def _lava_fixed_matches(fixed_spec, x64, n: int) -> tuple[bool, int]:
    """Lava fixed point vs the emulator on the first ``n`` samples: (identical, entries)."""
    from lava_nt.converters.lava_graph import run_network
    from lava_nt.nn.fixed_emulator import emulate_fixed

    xs = x64[:n].long()
    ref = emulate_fixed(fixed_spec, xs.expand(T, *xs.shape)).numpy()
    xl = np.ascontiguousarray(np.broadcast_to(xs.numpy(), (T, *xs.shape)))
    got = run_network(fixed_spec, xl, precision="fixed").spikes
    return bool(np.array_equal(got, ref)), int(ref.size)


def _fixed_gap(net32, spec64, x_tr, y_tr, x_ev64, y_ev, p64_all, n_lava_fixed, qat_epochs, n_qat):
    """Accuracy gap fixed point vs float64: post-training quantisation and QAT (NT2)."""
    import copy

    import torch

    from lava_nt.converters.quantize import quantize
    from lava_nt.qat import QATNetwork
    from lava_nt.training import TrainConfig, train
    from lava_nt.tuning import apply_tuning

    n_eval = len(y_ev)
    p64 = torch.cat(p64_all)
    acc64 = float((p64 == y_ev).double().mean())
    t0 = time.perf_counter()
    fixed, rep = quantize(spec64)
    p_ptq = _fixed_predictions(fixed, x_ev64)
    acc_ptq = float((p_ptq == y_ev).double().mean())
    agree_ptq = float((p_ptq == p64).double().mean())
    lava_ptq, n_ent = _lava_fixed_matches(fixed, x_ev64, n_lava_fixed)
    t_ptq = time.perf_counter() - t0
    common.log(f"PTQ: float64 {acc64:.4f}, fixed {acc_ptq:.4f} ({t_ptq:.0f} s)")

    from lava_nt.converters.quantize import calibrate_quantize

    t0 = time.perf_counter()
    n_cal = 256 if n_qat <= 256 else 512
    x_cal = x_tr[:n_cal].double().numpy()
    fixed_c, rep_c = calibrate_quantize(
        spec64, np.ascontiguousarray(np.broadcast_to(x_cal, (T, *x_cal.shape))), n_classes=2
    )
    p_cal = _fixed_predictions(fixed_c, x_ev64)
    agree_cal = float((p_cal == p64).double().mean())
    lava_cal, _ = _lava_fixed_matches(fixed_c, x_ev64, n_lava_fixed)
    t_cal = time.perf_counter() - t0
    common.log(
        f"calibrated PTQ: fixed {float((p_cal == y_ev).double().mean()):.4f} ({t_cal:.0f} s)"
    )

    t0 = time.perf_counter()
    net_q = copy.deepcopy(net32).double()
    apply_tuning(net_q, "nt2")
    qat = QATNetwork(net_q)
    cfg = TrainConfig(
        epochs=qat_epochs, lr=1e-3, batch_size=32, T=T, select="last", seed=0, spike_l1=0.0
    )
    train(qat, (x_tr[:n_qat].double(), y_tr[:n_qat]), cfg)
    fixed_q = qat.to_fixed_spec()
    p_qat = _fixed_predictions(fixed_q, x_ev64)
    acc_qat = float((p_qat == y_ev).double().mean())
    lava_qat, _ = _lava_fixed_matches(fixed_q, x_ev64, n_lava_fixed)
    t_qat = time.perf_counter() - t0
    common.log(f"QAT: fixed {acc_qat:.4f} ({t_qat:.0f} s)")

    right64 = p64 == y_ev
    figs = []
    for name, p_fx in (
        ("post-training quantisation", p_ptq),
        ("calibrated post-training quantisation", p_cal),
        (f"QAT (NT2 biases, {qat_epochs} epoch{'s' if qat_epochs > 1 else ''})", p_qat),
    ):
        right = p_fx == y_ev
        acc = float(right.double().mean())
        gap = 100 * (acc64 - acc)
        # paired standard error of the difference (only discordant samples vary)
        b, c = int((right64 & ~right).sum()), int((~right64 & right).sum())
        se = 100 * math.sqrt(max(b + c - (b - c) ** 2 / n_eval, 0.0)) / n_eval
        met = gap <= 1.0
        figs.append(common.figure(
            f"fixed vs float64 accuracy gap, {name}",
            gap, f"float64 {100 * acc64:.2f} % vs fixed {100 * acc:.2f} % on {n_eval} samples "
            f"(paired SE {se:.2f} pp; {b} samples only float right, {c} only fixed right)",
            "<= 1 pp", met, unit=" pp",
            result=("met" if met else f"**MISSED** (by {gap - 1.0:.2f} pp)"),
        ))  # fmt: skip
    figs.append(common.figure(
        "float64 vs post-training-quantised fixed: prediction agreement",
        100 * agree_ptq, f"{int(round(agree_ptq * n_eval))} of {n_eval} samples", unit="%",
    ))  # fmt: skip
    figs.append(common.figure(
        "float64 vs calibrated post-training-quantised fixed: prediction agreement",
        100 * agree_cal, f"{int(round(agree_cal * n_eval))} of {n_eval} samples", unit="%",
    ))  # fmt: skip
    figs.append(common.figure(
        "QAT: Lava fixed point vs the training forward: prediction agreement",
        100.0 if lava_qat else float("nan"),
        "bit-exact at every step (the deployed network is the trained one)" if lava_qat
        else "NOT bit-exact", unit="%",
    ))  # fmt: skip
    for name, ok in (
        ("post-training quantisation", lava_ptq),
        ("calibrated post-training quantisation", lava_cal),
        ("QAT", lava_qat),
    ):
        figs.append(common.figure(
            f"Lava fixed vs fixed-point emulator, {name}: output spike match",
            100.0 if ok else 0.0, f"{n_ent} entries ({n_lava_fixed} samples), "
            + ("identical" if ok else "NOT identical"),
            "bit-exact", ok, unit="%", result="met" if ok else "**MISSED**",
        ))  # fmt: skip
    setup = [
        "Fixed point: quantize(spec) (8-bit weight mantissas, per-neuron bias exponents; "
        f"{len(rep.warnings)} quantiser warnings), evaluated on the same {n_eval} held-out samples "
        f"with the fixed-point emulator ({t_ptq:.0f} s incl. the Lava check); QAT: NT2 (biases), "
        f"weights frozen, Adam lr 1e-3, {qat_epochs} epoch(s) on {n_qat} of the training samples "
        f"through QATNetwork, then to_fixed_spec() ({t_qat:.0f} s incl. evaluation).",
        f"Calibrated post-training quantisation: calibrate_quantize(spec, {n_cal} training "
        "samples) (per-layer clip level / scale, nearest or error-feedback rounding, leak "
        f"compensation chosen on the calibration spikes, bias-shift correction; {t_cal:.0f} s "
        "incl. evaluation): "
        + "; ".join(
            f"layer {e['layer'] + 1} "
            + (
                "default kept"
                if e["chosen"] is None
                else f"{e['chosen']['clip']}, {e['chosen']['rounding']}"
            )
            for e in rep_c.calibration["layers"]
        )
        + ".",
    ]
    notes = [
        "Accuracy gaps are in percentage points (float64 minus fixed; negative = fixed is "
        "better), with the paired standard error of the difference (both are evaluated on the "
        "same samples, so only the samples on which they disagree about correctness count).",
    ]
    return figs, setup, notes


def _eeg_models(quick: bool):
    """Fixed/float prediction agreement of the EEG example's tuned models: PTQ, calibrated PTQ,
    and QAT (Lava fixed point vs the training forward)."""
    import tempfile
    from pathlib import Path

    import torch

    from lava_nt.commands.eeg import QUICK
    from lava_nt.converters.agreement import predictions
    from lava_nt.converters.quantize import calibrate_quantize
    from lava_nt.examples.eeg.pipeline import PipelineConfig, load_results, run_pipeline
    from lava_nt.examples.eeg.pipeline.units import load_unit_model
    from lava_nt.examples.eeg.synthetic import SyntheticConfig
    from lava_nt.nn.fixed_emulator import emulate_fixed
    from lava_nt.nn.network import NTNetwork

    folds = QUICK["folds"][:1] if quick else QUICK["folds"]
    cfg = PipelineConfig(
        methods=("nt2", "spiking_bias", "volumetric"), seeds=QUICK["seeds"], participants=folds,
        pretrain_epochs=QUICK["pretrain_epochs"], tune_epochs=QUICK["tune_epochs"],
        tune_lr=QUICK["tune_lr"], patience=QUICK["patience"], qat=True, progress=False,
    )  # fmt: skip
    syn = SyntheticConfig(n_participants=QUICK["participants_generated"],
                          n_trials=QUICK["trials"], n_samples=QUICK["samples"])  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "eeg"
        run_pipeline(run, cfg, synthetic=syn, log=lambda m: None, report=False)
        t_run = time.perf_counter() - t0
        dep = [r for r in load_results(run) if r["kind"] == "deploy"]
        ptq, cal, qat, exact, units = [], [], [], [], []
        t1 = time.perf_counter()
        for r in sorted(dep, key=lambda r: (r["participant"], r["method"], r["seed"])):
            net, td = load_unit_model(run, r["participant"], r["method"], r["seed"])
            spec = net.to_spec()
            xc = np.concatenate([td.x_train, td.x_val]).astype(np.float64)
            fixed_c, _ = calibrate_quantize(
                spec, np.ascontiguousarray(np.broadcast_to(xc, (T, *xc.shape))), n_classes=2
            )
            xt = np.ascontiguousarray(np.broadcast_to(td.x_test.astype(np.float64),
                                                      (T, *td.x_test.shape)))  # fmt: skip
            with torch.no_grad():
                of = NTNetwork.from_spec(spec, dtype=torch.float64)(torch.as_tensor(xt)).numpy()
            oc = emulate_fixed(fixed_c, torch.as_tensor(xt)).numpy()
            ptq.append(r["fixed_vs_float_prediction_agreement"])
            cal.append(float(np.mean(predictions(oc, 2) == predictions(of, 2))))
            qat.append(r["qat_train_deploy_agreement"])
            exact.append(bool(r["qat_bit_exact"]))
            units.append(f"p{r['participant']} {r['method']}")
        t_cal = time.perf_counter() - t1
    figs = []
    for name, vals in (
        ("post-training quantisation", ptq),
        ("calibrated post-training quantisation", cal),
        ("QAT (Lava fixed vs the training forward)", qat),
    ):
        mean, worst = 100 * float(np.mean(vals)), 100 * float(np.min(vals))
        met = mean >= 99.0 and worst >= 95.0
        figs.append(common.figure(
            f"EEG example models, {name}: fixed/float prediction agreement (mean, worst)",
            mean, f"worst {worst:.1f} % over {len(vals)} tuned models ("
            + ", ".join(f"{u} {100 * v:.1f}" for u, v in zip(units, vals, strict=True)) + ")",
            "mean >= 99 %, each >= 95 %", met, unit="%",
            result="met" if met else f"**MISSED** (mean {mean:.1f} %, worst {worst:.1f} %)",
        ))  # fmt: skip
    figs.append(common.figure(
        "EEG example models, QAT: bit-exact on Lava at every layer",
        100 * float(np.mean(exact)), f"{sum(exact)} of {len(exact)} models", "bit-exact",
        all(exact), unit="%", result="met" if all(exact) else "**MISSED**",
    ))  # fmt: skip
    setup = [
        f"EEG example models: lava-nt eeg run --quick --qat settings (synthetic data, "
        f"{len(folds)} fold(s), nt2 / spiking_bias / volumetric, seed 0; {t_run:.0f} s incl. Lava "
        f"float, PTQ fixed and QAT fixed deployment of {len(dep)} models); calibrated on each "
        f"person's training + validation part, agreement on its 32 test samples ({t_cal:.0f} s).",
    ]
    notes = [
        "EEG example models: the agreement is that of the fixed-point network's decisions with the "
        "float network's; for QAT the float network of reference is the training forward itself "
        "(the tuned model is the fixed-point one). These networks' decisions flip under weight "
        "perturbations far below 8-bit rounding (docs/fixed_point.md, 'Calibrated quantisation'), "
        "which bounds what any post-training quantisation can reach.",
    ]
    return figs, setup, notes


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
