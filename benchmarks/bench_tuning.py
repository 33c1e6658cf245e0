"""Tuning unit cost on the EEG network: the fused spiking-bias path against the previous one.

Workload: the EEG pipeline's main network 160 -> 400 -> 800 -> 100 (2 classes x 50 output
neurons, ``build_network`` defaults: du = 1, dv = 0.1, subtractive reset), its weights scaled so
that the layers fire at 0.15 / 0.10 / 0.08 spikes per neuron and step on static binary inputs
(``common.calibrated_eeg_spec``, as the fidelity section), float32, one torch thread (the pipeline's
default), T = 25, each tuning method exactly as ``lava-nt eeg run`` applies it
(``METHODS[m].tuning`` and its arguments). One tuning step = ``zero_grad`` + forward
(``FusedNTNetwork.forward_static``) + cross-entropy on the population counts + spike-rate L1
(1e-3) + backward + ``Adam.step`` on a batch of 32; one epoch = the steps over 104 training
samples (batches 32, 32, 32, 8) + the validation pass over 24 samples (no gradients), as a unit
of the pipeline spends it.

Variants, side by side in interleaved rounds (ratios are medians of per-round paired ratios):

* **fused bias path** (``lava_nt.nn.fused`` as it is): a spiking-bias population is two fused
  nodes (bias neurons; leaking current + fan-out, ``lava_nt.nn.fused_bias``);
* **previous path**: the same network with the leaking current and its fan-out written as an
  autograd loop over T (``_previous_spiking_bias_current`` below, the code of git e3209a2^),
  swapped in for the call;
* ``nt2`` (biases only, no spiking bias) on the same network: the reference tuning cost.

Before timing, both paths run one step from the same state and their loss and every gradient are
compared bit for bit. A second table times the event-driven alternative to the dense synaptic
matmul (the weight columns of the active inputs summed with ``torch.nn.functional.embedding_bag``)
on the spikes this network produces, layer by layer.

Run: ``.venv/bin/python benchmarks/bench_tuning.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

B, T = 32, 25
N_TRAIN, N_VAL = 104, 24
KINDS = ("spiking_bias", "spiking_bias_sparse", "volumetric")
PREV, FUSED = "previous path", "fused bias path"


def _previous_spiking_bias_current(sb, x, T):
    """The fused path's spiking bias before the current was fused (git e3209a2^): bias neurons
    as one fused node, then ``C[t] = c_retention C[t-1] + w_b s_b[t]`` and the fan-out in
    autograd, step by step."""
    import torch

    from lava_nt.nn import fused
    from lava_nt.nn.surrogate import surrogate_of

    ab = sb.drive(x)
    kind, alpha = surrogate_of(sb.spike_fn)
    one = torch.ones((), dtype=sb.vth.dtype, device=ab.device)
    s_b = fused._sequence(
        ab, None, sb.bias, one, sb.du, sb.dv, sb.vth, T, False, sb.detach_reset, kind, alpha
    )
    w = sb.w_b * s_b
    a_c = sb.effective_c_retention()
    shape = torch.broadcast_shapes(s_b.shape[1:], sb.w_b.shape, a_c.shape)
    cs = [w[0].expand(shape)]
    for t in range(1, s_b.shape[0]):
        cs.append(a_c * cs[-1] + w[t])
    C = torch.stack(cs)
    return (C if sb.group is None else C[..., sb.group]), s_b


class _Path:
    """Run a call with the previous or the current spiking-bias function of the fused path."""

    def __init__(self, previous: bool):
        from lava_nt.nn import fused

        self.fused = fused
        self.fn = _previous_spiking_bias_current if previous else fused._spiking_bias_current

    def __enter__(self):
        self.saved = self.fused._spiking_bias_current
        self.fused._spiking_bias_current = self.fn

    def __exit__(self, *exc):
        self.fused._spiking_bias_current = self.saved


def _data(torch):
    g = torch.Generator().manual_seed(1)
    x = (common.static_inputs(N_TRAIN + N_VAL, seed=7)).float()
    y = torch.randint(0, 2, (N_TRAIN + N_VAL,), generator=g)
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def _variant(torch, spec, method: str, previous: bool, train, val):
    """``(step, epoch, model)`` of one variant (own network copy and Adam state)."""
    from lava_nt.examples.eeg.pipeline.config import METHODS
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.nn.network import NTNetwork
    from lava_nt.training import TrainConfig, loss_and_counts
    from lava_nt.training.batches import evaluate
    from lava_nt.tuning import apply_tuning

    net = NTNetwork.from_spec(spec, dtype=torch.float32)
    mt = METHODS[method]
    apply_tuning(net, list(mt.tuning), **mt.tuning_kwargs())
    model = FusedNTNetwork.from_network(net)
    cfg = TrainConfig(T=T, n_classes=2, spike_l1=1e-3, batch_size=B)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    path = _Path(previous)
    (xt, yt), (xv, yv) = train, val

    def one(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_and_counts(model, xb, yb, cfg)
        loss.backward()
        opt.step()

    def step():
        with path:
            one(xt[:B], yt[:B])

    def epoch():
        with path:
            for i in range(0, N_TRAIN, B):
                one(xt[i : i + B], yt[i : i + B])
            evaluate(model, xv, yv, cfg)

    return step, epoch, model, cfg


def _bit_check(torch, spec, method: str, train) -> str:
    """Loss and every gradient of one step from the same state, previous vs fused path."""
    from lava_nt.training import loss_and_counts

    step, _, model, cfg = _variant(torch, spec, method, False, train, train)
    twin = copy.deepcopy(model)
    xb, yb = train[0][:B], train[1][:B]
    res = []
    for m, previous in ((model, True), (twin, False)):
        m.zero_grad(set_to_none=True)
        with _Path(previous):
            loss, _ = loss_and_counts(m, xb, yb, cfg)
        loss.backward()
        grads = {n: p.grad for n, p in m.named_parameters() if p.requires_grad}
        res.append((loss.detach(), grads))
    same = torch.equal(res[0][0], res[1][0]) and all(
        torch.equal(res[0][1][n], res[1][1][n]) for n in res[0][1]
    )
    return f"{method}: loss and {len(res[0][1])} gradient tensors " + (
        "bit-identical" if same else "DIFFER"
    )


def _rates(torch, spec, x) -> tuple[list[float], list]:
    """Spikes per neuron and step of every layer and the layers' input spikes ``[T*B, n]``."""
    from lava_nt.nn.network import NTNetwork

    net = NTNetwork.from_spec(spec, dtype=torch.float32)
    with torch.no_grad():
        _, recs = net.forward_static(x, T, record=True)
    spikes = [r["spikes"] for r in recs]
    return [float(s.mean()) for s in spikes], [s.reshape(-1, s.shape[-1]) for s in spikes[:-1]]


def _event_driven(torch, spec, x, rounds: int) -> tuple[list[dict], list[str]]:
    """Dense matmul vs index/sum of the active inputs' weight columns, layers 2 and 3."""
    import torch.nn.functional as F

    rates, inputs = _rates(torch, spec, x)
    fns, shapes = {}, {}
    for k, s in enumerate(inputs, start=2):
        w = torch.as_tensor(spec.layers[k - 1].weight, dtype=torch.float32)
        wt = w.T.contiguous()

        def dense(s=s, w=w):
            return F.linear(s, w)

        def events(s=s, wt=wt):
            idx = s.nonzero()
            offsets = torch.zeros(s.shape[0], dtype=torch.long)
            offsets[1:] = s.sum(1).long().cumsum(0)[:-1]
            return F.embedding_bag(idx[:, 1], wt, offsets, mode="sum")

        diff = float((dense() - events()).abs().max())
        fns[f"layer {k} dense"], fns[f"layer {k} events"] = dense, events
        shapes[k] = (tuple(s.shape), tuple(w.shape), float(s.mean()), diff)
    times = common.interleaved(fns, rounds, reps=20, warmup=3)
    med = {k: common.median(v) for k, v in times.items()}
    figs = []
    for k, (_, _, dens, _) in shapes.items():
        a, b = f"layer {k} events", f"layer {k} dense"
        figs.append(common.figure(
            f"event-driven synaptic input / dense matmul, layer {k} (input density "
            f"{dens:.1%}; time)",
            common.ratio_median(times[a], times[b]),
            f"{med[a] * 1e3:.2f} vs {med[b] * 1e3:.2f} ms per call",
        ))  # fmt: skip
    notes = [
        "Event-driven input: firing rates of this network on the benchmark inputs (layers 1-3): "
        + ", ".join(f"{r:.3f}" for r in rates)
        + "; "
        + "; ".join(
            f"layer {k}: spikes {s} x W {w}, max |events - dense| {d:.1e} (summation order)"
            for k, (s, w, _, d) in shapes.items()
        )
        + ". Above 1 means the event-driven way is slower: at these densities the dense "
        "matmul wins on this CPU, so no event-driven option is offered.",
    ]
    return figs, notes


FUSED_BIAS_COMMIT = "e3209a2"  # the commit that fused the spiking-bias current


def _section_commit(name: str) -> str | None:
    """The git commit a stored full-version section was measured at (its ``measured`` text)."""
    section = common.stored_section(name)
    m = re.search(r"git ([0-9a-f]{7,40})", section.get("measured", "")) if section else None
    return m.group(1) if m else None


def _includes_fused_bias(commit: str | None) -> bool:
    """Whether ``commit`` already has the fused spiking-bias path (False when unknown)."""
    if commit is None:
        return False
    r = subprocess.run(
        ["git", "merge-base", "--is-ancestor", FUSED_BIAS_COMMIT, commit],
        cwd=common.ROOT, capture_output=True, check=False,
    )  # fmt: skip
    return r.returncode == 0


def _stored_efficiency() -> float | None:
    """The scaling section's measured 1 -> 2 worker efficiency, if stored."""
    figs = (common.stored_section("scaling") or {}).get("figures", [])
    return next((f["ratio"] for f in figs if f["name"].startswith("parallel efficiency")), None)


def _derived(ratio_epoch: dict[str, float]) -> tuple[list[dict], list[str]]:
    """Per-fold tuning seconds and the thesis-size estimate with the measured epoch ratios.

    Only while the stored end-to-end section predates the fused spiking-bias path: once it was
    re-measured with that path, its stage times already contain the speed-up and the scaling
    section gives the thesis-size estimate directly (dividing again would count it twice).
    """
    import bench_scaling

    stages = bench_scaling._stage_times()
    if not stages:
        return [], ["Derived estimates skipped: no stored end-to-end section."]
    e2e_commit = _section_commit("end_to_end")
    if _includes_fused_bias(e2e_commit):
        return [], [
            f"No derived thesis-size rows: the stored end-to-end section (git {e2e_commit}) was "
            "measured with the fused spiking-bias path, so the scaling section's estimate "
            "already includes this speed-up."
        ]
    eff = _stored_efficiency() or 0.79
    new = dict(stages)
    for m, r in ratio_epoch.items():
        if f"tune {m}" in new:
            new[f"tune {m}"] = stages[f"tune {m}"] / r
    figs = []
    for m in ratio_epoch:
        if f"tune {m}" in stages:
            figs.append(common.figure(
                f"tune {m}, seconds per fold (end-to-end stage time / measured epoch speed-up; "
                "derived)",
                new[f"tune {m}"], f"{stages[f'tune {m}']:.1f} s before", unit=" s",
            ))  # fmt: skip
    work_old = bench_scaling._estimate(stages, 1, 1.0) / 3600
    work_new = bench_scaling._estimate(new, 1, 1.0) / 3600
    wall_old = bench_scaling._estimate(stages, 2, eff) / 3600
    wall_new = bench_scaling._estimate(new, 2, eff) / 3600
    figs.append(common.figure(
        "thesis-size experiment (32 folds x 7 methods x 5 seeds), work on one worker (derived)",
        work_new, f"{work_old:.2f} h before", unit=" h",
    ))  # fmt: skip
    figs.append(common.figure(
        f"thesis-size experiment, this 2-core machine, 2 workers at efficiency {eff:.2f} "
        "(derived)",
        wall_new, f"{wall_old:.2f} h before", target="<= 3 h", met=wall_new <= 3.0,
        unit=" h", result=common.target_text(wall_new <= 3.0, wall_new, 3.0, False),
    ))  # fmt: skip
    notes = [
        "Derived rows: the end-to-end section's per-fold tuning seconds of each spiking-bias "
        "method divided by this section's epoch speed-up, the other stages unchanged, through "
        "the scaling section's estimate (work = 32 x pretrainings + 5 seeds x 32 x (tuning + "
        f"deployment)) at the scaling section's stored efficiency {eff:.2f}. Not a run.",
    ]
    return figs, notes


def run(quick: bool) -> dict:
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rounds = 5 if quick else 15
    spec = common.calibrated_eeg_spec()
    train, val = _data(torch)
    checks = [_bit_check(torch, spec, m, train) for m in KINDS]
    for c in checks:
        common.log(c)

    steps, epochs = {}, {}
    for m in ("nt2", *KINDS):
        for previous in (True, False) if m in KINDS else (False,):
            name = m if m == "nt2" else f"{m}, {PREV if previous else FUSED}"
            steps[name], epochs[name], _, _ = _variant(torch, spec, m, previous, train, val)
    common.log(f"tuning benchmark: {rounds} rounds x 5 steps, then {rounds} rounds x 1 epoch")
    t_step = common.interleaved(steps, rounds, reps=5, warmup=2, log=common.log)
    t_epoch = common.interleaved(epochs, rounds, reps=1, warmup=1, log=common.log)
    ms = {k: common.median(v) * 1e3 for k, v in t_step.items()}
    es = {k: common.median(v) * 1e3 for k, v in t_epoch.items()}

    figs, ratio_epoch, rows = [], {}, []
    for m in KINDS:
        old, new = f"{m}, {PREV}", f"{m}, {FUSED}"
        figs.append(common.figure(
            f"{m}: tuning step speed-up, fused bias path over previous path",
            common.ratio_median(t_step[old], t_step[new]),
            f"{ms[new]:.1f} vs {ms[old]:.1f} ms per step",
        ))  # fmt: skip
        ratio_epoch[m] = common.ratio_median(t_epoch[old], t_epoch[new])
        figs.append(common.figure(
            f"{m}: tuning epoch speed-up (104 training + 24 validation samples)",
            ratio_epoch[m], f"{es[new]:.0f} vs {es[old]:.0f} ms per epoch",
        ))  # fmt: skip
    for name in steps:
        rel = common.ratio_median(t_step[name], t_step["nt2"])
        rows.append(
            f"| {name} | {ms[name]:.1f} ({common.spread([t * 1e3 for t in t_step[name]])}) | "
            f"{es[name]:.0f} | {rel:.2f} |"
        )
    table = "\n".join([
        "| variant | ms per tuning step (median, min-max) | ms per epoch | step time / nt2's |",
        "|---|---|---|---|",
        *rows,
    ])  # fmt: skip

    dfigs, dnotes = _derived(ratio_epoch)
    x_rate = train[0][:B]
    efigs, enotes = _event_driven(torch, spec, x_rate, rounds)
    setup = [
        "EEG main network 160-400-800-100 (build_network defaults: du 1, dv 0.1, subtractive "
        "reset), weights scaled to fire at 0.15 / 0.10 / 0.08 on static binary inputs "
        "(common.calibrated_eeg_spec), float32, torch.set_num_threads(1) (the pipeline's "
        "default), T 25, batch 32, Adam lr 1e-4, CE on population counts + spike L1 1e-3; each "
        "method applied as `lava-nt eeg run` does (spiking_bias: one bias neuron per neuron on "
        "every layer, W_in fixed; spiking_bias_sparse: the same with 10% of W_in trained on a "
        "fixed mask; volumetric: 40 bias neurons on layer 1, W_in 85% sparse and trained).",
        f"{rounds} interleaved rounds x 5 steps per variant (2 warm-up steps), then {rounds} "
        "rounds x 1 epoch (104 training samples in batches of 32, 32, 32, 8 + evaluation of 24 "
        "validation samples); ratios are medians of the per-round paired ratios. The previous "
        "path is the code of git e3209a2^ for the current and fan-out (kept in this script), "
        "swapped in per call.",
        "Result check (one step from the same state, float32): " + "; ".join(checks) + ".",
    ]
    notes = [
        "Why the spiking-bias methods stay about twice nt2's step: a bias population is a second "
        "NTLIF population on its layer (the same loop, surrogate and backward as the layer's "
        "own neurons) and its drive s_in W_in^T doubles the layer's matmuls forward and in the "
        "input gradient; spiking_bias_sparse also computes its masked W_in's weight gradient "
        "dense and Adam updates every entry of it (the masked ones stay exactly zero).",
        *dnotes,
        *enotes,
    ]
    return {
        "title": "Tuning unit cost (EEG network, spiking-bias methods)",
        "setup": setup,
        "figures": figs + dfigs + efigs,
        "notes": notes,
        "extra": [table],
    }


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
