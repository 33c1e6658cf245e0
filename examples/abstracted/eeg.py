"""The abstracted-gradients comparison on the EEG spiking network (small; synthetic DEAP-format
data of the EEG example).

The thesis' EEG network ``160-400-800-100`` (NTLIF, 50 output neurons per class, T = 25) with its
middle layer (0-based layer 1: 400 -> 800) abstracted; for spikes ``M`` is derived from the spike
counts over the ``T`` steps and applied at every step (:mod:`lava_nt.training.abstracted`); the
block identity truncates the 800-d gradient to 400. For each left-out participant:

* **pretraining** on every other participant of the pool (all their instances, each thresholded
  at its own mean, as the EEG example's default), once per variant (baseline, derived,
  ``[I 0]``): the left-out participant's test accuracy of the pretrained network (no tuning);
* **nt2 tuning** of the *baseline*-pretrained network on the participant's training part (the
  EEG example's honest split: train / validation / test by trials), once per variant, the epoch
  chosen on the validation part: its test accuracy.

Both phases go through :func:`lava_nt.training.train` with ``TrainConfig.abstract`` (the fused
path, split at the block). The cost per step (:func:`step_costs`, ``eeg_cost.csv``): rounds of
one training step per variant in rotating order, one thread, the median. Writes ``eeg.csv`` (one
row per participant, phase, variant and seed; with each run's own step time) into the study
directory, and ``eeg_alignment.csv``: on each left-out participant's test inputs, the cosine
between the true BPTT gradient at the block's input and ``G_out @ M^T`` for ``M`` from spike
counts (lava-nt's rule), ``M`` per time step, and ``[I 0]`` (:func:`gradient_alignment`, on the
baseline-pretrained network).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lava_nt.decode import population_counts
from lava_nt.examples.eeg.pipeline.config import build_arch
from lava_nt.examples.eeg.pipeline.data import load_features, prepare_data
from lava_nt.examples.eeg.protocols import make_split, pretrain_data, tuning_data
from lava_nt.examples.eeg.synthetic import SyntheticConfig
from lava_nt.io import atomic_write_text
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.training import (
    AbstractedNetwork,
    TrainConfig,
    evaluate,
    for_model,
    loss_and_counts,
    train,
)
from lava_nt.tuning import apply_tuning

from .report import VARIANTS, write_csv

EEG_BLOCK = (1, 1)
EEG_FULL = {"pool": 6, "left_out": (1, 2), "seeds": (0,), "pretrain_epochs": 15,
            "tune_epochs": 60, "T": 25, "batch_size": 32, "cost_rounds": 30}  # fmt: skip
EEG_QUICK = dict(EEG_FULL, pool=3, left_out=(1,), pretrain_epochs=1, tune_epochs=2,
                 cost_rounds=2)  # fmt: skip


def _tensors(x, y):
    return torch.as_tensor(np.asarray(x), dtype=torch.float32), torch.as_tensor(np.asarray(y))


def _cfg(variant: str, seed: int, cfg: dict, tune: bool) -> TrainConfig:
    abstract = (
        {} if variant == "baseline" else {"abstract": [EEG_BLOCK], "abstract_matrix": variant}
    )
    return TrainConfig(
        epochs=cfg["tune_epochs" if tune else "pretrain_epochs"], T=cfg["T"],
        batch_size=cfg["batch_size"], select="val" if tune else "last", seed=seed, **abstract,
    )  # fmt: skip


def _fit(net, data, cfg: TrainConfig, val=None) -> tuple[float, int]:
    """Train (fused); ``(ms per step, steps)``: the training time (with the per-epoch
    validation, if any) over the steps."""
    t0 = time.perf_counter()
    res = train(FusedNTNetwork(net), data, cfg, val_data=val)
    steps = len(res.history) * -(-len(data[1]) // cfg.batch_size)
    return 1e3 * (time.perf_counter() - t0) / steps, steps


def run_eeg(out, settings: dict | None = None, quick: bool = False, log=print) -> list[dict]:
    """The EEG comparison into ``out/eeg.csv`` (synthetic data in ``out/eeg``)."""
    cfg = dict(EEG_QUICK if quick else EEG_FULL, **(settings or {}))
    work = Path(out) / "eeg"
    data = prepare_data(work, None, SyntheticConfig(n_participants=cfg["pool"]), log)
    data = replace(data, directory=work / data.directory)  # recorded relative to ``work``
    feats = load_features(data, work, 0, data.pool)
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # comparable step times on a shared machine
    try:
        _folds(cfg, data, feats, rows, Path(out), log)
    finally:
        torch.set_num_threads(threads)
    meta = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    meta |= {"block": list(EEG_BLOCK), "sizes": build_arch("main", beta=0.9, seed=0).sizes,
             "quick": quick, "data": "synthetic DEAP-format data"}  # fmt: skip
    atomic_write_text(Path(out) / "eeg_meta.json", json.dumps(meta, indent=1) + "\n")
    return rows


def step_costs(x, y, cfg: dict, rounds: int, seed: int = 0) -> dict:
    """``{(phase, variant): [step seconds]}``: for pretraining (every weight trained) and for
    nt2 (biases and gains), rounds of one training step per variant (fused network, batch of
    ``cfg["batch_size"]``, the variants' order rotating each round), after one untimed round."""
    out = {}
    gen = torch.Generator().manual_seed(seed)
    for phase in ("pretrain", "nt2"):
        runs = {}
        for v in VARIANTS:
            net = build_arch("main", beta=0.9, seed=seed)
            if phase == "nt2":
                apply_tuning(net, "nt2", seed=seed)
            tc = for_model(_cfg(v, seed, cfg, tune=phase == "nt2"), net)
            model = FusedNTNetwork(net)
            fwd = (
                AbstractedNetwork(model, tc.abstract, tc.abstract_matrix) if tc.abstract else model
            )
            opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=tc.lr)
            runs[v] = (fwd, opt, tc)
        for r in range(rounds + 1):
            idx = torch.randint(0, len(y), (cfg["batch_size"],), generator=gen)
            for v in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:
                fwd, opt, tc = runs[v]
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss_and_counts(fwd, x[idx], y[idx], tc)[0].backward()
                opt.step()
                if r:  # round 0 warms up
                    out.setdefault((phase, v), []).append(time.perf_counter() - t0)
    return out


def _cos(a, b) -> float:
    """Mean cosine similarity of the rows of ``a`` and ``b`` (rows where either is zero count
    as 0)."""
    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1).nan_to_num().mean())


def gradient_alignment(net, x, y, T: int) -> dict:
    """How well each rule's ``G_in`` matches the true BPTT gradient at the block's input
    (:data:`EEG_BLOCK` = one layer), for the loss of the batch ``(x, y)``: ``{rule: (cosine per
    sample and step, cosine of the per-sample gradients summed over the steps)}``. Rules:
    ``counts`` (one ``M`` from spike counts, applied at every step: lava-nt's choice),
    ``per-step`` (one ``M`` per step from that step's spikes) and ``identity`` (``[I 0]``)."""
    from lava_nt.training.abstracted import derived_matrix  # lazy: only this measurement

    first, last = EEG_BLOCK
    s_in = x
    for k, layer in enumerate(net.layers[:first]):
        s_in = layer.run(s_in, None, T=T if k == 0 else None)[0]
    s_in = s_in.detach().requires_grad_(True)
    s_out = s_in
    for layer in net.layers[first : last + 1]:
        s_out = layer.run(s_out, None)[0]
    s = s_out
    for layer in net.layers[last + 1 :]:
        s = layer.run(s, None)[0]
    loss = torch.nn.functional.cross_entropy(population_counts(s, 2), y)
    g_out = torch.autograd.grad(loss, s_out, retain_graph=True)[0]
    g_true = torch.autograd.grad(loss, s_in)[0]
    a, b = s_in.detach(), s_out.detach()
    m = derived_matrix(a.sum(0), b.sum(0))
    rules = {
        "counts": g_out @ m.T,
        "per-step": torch.stack([g_out[t] @ derived_matrix(a[t], b[t]).T for t in range(len(a))]),
        "identity": g_out[..., : a.shape[-1]],
    }
    d = a.shape[-1]
    return {
        k: (_cos(v.reshape(-1, d), g_true.reshape(-1, d)), _cos(v.sum(0), g_true.sum(0)))
        for k, v in rules.items()
    }


def _costs(x, y, cfg: dict, out: Path) -> None:
    rows = []
    for (phase, v), ts in step_costs(x, y, cfg, cfg["cost_rounds"]).items():
        q1, med, q3 = np.percentile(1e3 * np.asarray(ts), [25, 50, 75])
        rows.append({"phase": phase, "variant": v, "median_ms": med, "q1_ms": q1, "q3_ms": q3,
                     "rounds": len(ts)})  # fmt: skip
    write_csv(out / "eeg_cost.csv", rows)


def _folds(cfg, data, feats, rows, out: Path, log) -> None:
    aligned = []
    for p in cfg["left_out"]:
        others = [feats[q] for q in data.pool if q != p]
        pre = _tensors(*pretrain_data(others))
        if p == cfg["left_out"][0]:
            _costs(*pre, cfg, out)
        for seed in cfg["seeds"]:
            split = make_split("honest", feats[p].valence_high, seed=seed, participant=p)
            td = tuning_data(feats[p], split)
            test = _tensors(td.x_test, td.y_test)
            pretrained = {}
            for variant in VARIANTS:
                net = build_arch("main", beta=0.9, seed=seed)
                ms, steps = _fit(net, pre, _cfg(variant, seed, cfg, tune=False))
                pretrained[variant] = net
                acc = evaluate(net, *test, TrainConfig(T=cfg["T"]))["acc"]
                rows.append({"participant": p, "seed": seed, "phase": "pretrain",
                             "variant": variant, "acc": acc, "ms_per_step": ms, "steps": steps,
                             "n_train": len(pre[1]), "n_test": len(test[1])})  # fmt: skip
                log(f"EEG p{p:02d} pretrain {variant}: test accuracy {acc:.3f}, {ms:.1f} ms/step")
                write_csv(out / "eeg.csv", rows)
            align = gradient_alignment(pretrained["baseline"], *test, cfg["T"])
            for rule, (c_step, c_sum) in align.items():
                aligned.append({"participant": p, "seed": seed, "rule": rule,
                                "cos_per_step": c_step, "cos_summed": c_sum})  # fmt: skip
            write_csv(out / "eeg_alignment.csv", aligned)
            for variant in VARIANTS:
                net = copy.deepcopy(pretrained["baseline"])
                apply_tuning(net, "nt2", seed=seed)
                tr, va = _tensors(td.x_train, td.y_train), _tensors(td.x_val, td.y_val)
                ms, steps = _fit(net, tr, _cfg(variant, seed, cfg, tune=True), val=va)
                acc = evaluate(net, *test, TrainConfig(T=cfg["T"]))["acc"]
                rows.append({"participant": p, "seed": seed, "phase": "nt2", "variant": variant,
                             "acc": acc, "ms_per_step": ms, "steps": steps,
                             "n_train": len(tr[1]), "n_test": len(test[1])})  # fmt: skip
                log(f"EEG p{p:02d} nt2 {variant}: test accuracy {acc:.3f}, {ms:.1f} ms/step")
                write_csv(out / "eeg.csv", rows)
