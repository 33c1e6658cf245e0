"""On-device tuning beside BPTT NT tuning of the same biases, on the image transfer tasks.

The spiking network is the study's multi-step classifier (:func:`.snn.to_snn` of the MLP
pretrained on the MNIST subset, ``"multi"`` variant: rate-coded NTLIF layers 784-64-10, one
output neuron per class, static binary images held for ``T`` steps). Its 74 biases are tuned to
each transfer task in two ways:

* **BPTT nt2** (:func:`.snn.tune_snn` with ``nt2``): the study's own spiking arm, Adam over the
  study's learning rates, cross-entropy on spike counts, the epoch chosen on validation;
* **on-device** (:mod:`lava_nt.ondevice`): the local rule (eligibility x output error through a
  fixed feedback matrix, ``[I 0]`` or the least-squares ``M`` derived on the tuning set), every
  tuning sample in turn, ``epochs`` passes over the tuning set (each seed presents the samples in
  its own order), the pass chosen on validation, in float64 and in Loihi fixed point (the
  quantised network with :func:`~lava_nt.ondevice.rule.bias_headroom` 1.0), by
  :func:`lava_nt.ondevice.select.tune_on_device` (the EEG pipeline's too) with one grid point
  and ``keep_best_pass``. ``eta`` and
  ``band`` play the learning rate's part: the pair with the best mean validation accuracy over
  the seeds is chosen (:func:`.selection.best_by_val`, as the study chooses learning rates), and
  the test accuracy is reported at that choice.

The fixed-point arm runs the numpy twin (:func:`lava_nt.ondevice.run_twin`), which the tests
prove equal to the Lava run bit for bit (``tests/processes/test_ondevice_lava.py``); accuracy
needs no Lava run. Writes ``ondevice.csv`` (one row per run) and ``ondevice_meta.json``;
:func:`.report.ondevice_table` chooses and tabulates.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from lava_nt.converters.quantize import quantize
from lava_nt.examples.images import ann, data, snn, study
from lava_nt.io import atomic_write_text
from lava_nt.ondevice import bias_headroom
from lava_nt.ondevice.select import spec_accuracy, static_sequence, tune_on_device

ETAS = (3e-4, 1e-3, 3e-3)
BANDS = (0.5, 1.0)
FEEDBACKS = ("identity", "derived")
PRECISIONS = ("float", "fixed")

#: the network and the data as the study pretrains and splits them (its full settings)
SHARED = ("n_src_train", "n_src_test", "hidden", "pretrain_epochs", "tasks", "n_train", "n_test",
          "n_val", "T")  # fmt: skip
SETTINGS = {
    **{k: study.FULL[k] for k in SHARED},
    "epochs": 5,
    "bptt_lrs": (1e-3, 1e-2, 1e-1),  # the study's SNN grid around its nt2 choices
    "seeds": (0, 1, 2),
    "etas": ETAS,
    "bands": BANDS,
    "feedbacks": FEEDBACKS,
    "precisions": PRECISIONS,
}
QUICK = dict(SETTINGS, n_train=150, n_test=150, n_val=100, epochs=2, bptt_lrs=(1e-2, 1e-1),
             seeds=(0, 1), etas=(3e-4, 1e-3), bands=(1.0,), tasks=("digits",))  # fmt: skip


def accuracy(spec, x, y) -> float:
    """Test accuracy of a network on ``x [T, B, n_in]`` (one output neuron per class)."""
    return spec_accuracy(spec, x, y, spec.n_out)


def _bptt_rows(cfg, task, pre, lams, parts) -> list[dict]:
    tr, te, va = parts
    rows = []
    for lr in cfg["bptt_lrs"]:
        for seed in cfg["seeds"]:
            net = snn.to_snn(pre, lams, "multi")
            r = snn.tune_snn(net, "nt2", "multi", tr, te, lr=lr, epochs=cfg["epochs"],
                             T=cfg["T"], seed=seed, val=va)  # fmt: skip
            rows.append({"task": task, "arm": "bptt nt2", "precision": "float",
                         "feedback": "", "lr": f"{lr:g}", "seed": seed, "acc": r["acc"],
                         "val_acc": r["val_acc"], "epochs": r["epochs"]})  # fmt: skip
    return rows


def _ondevice_rows(cfg, task, spec, parts, log) -> list[dict]:
    T = cfg["T"]
    tr, te, va = ((static_sequence(p[0].numpy(), T), p[1].numpy().astype(np.int64)) for p in parts)
    nets = {"float": spec}
    if "fixed" in cfg["precisions"]:
        nets["fixed"] = bias_headroom(quantize(spec)[0], range(len(spec.layers)), 1.0)
    rows = []
    for precision in cfg["precisions"]:
        net = nets[precision]
        base = {"task": task, "precision": precision}
        untuned = {"acc": accuracy(net, *te), "val_acc": accuracy(net, *va), "epochs": 0}
        rows.append({**base, "arm": "untuned", "feedback": "", "lr": "", "seed": "", **untuned})
        for fb in cfg["feedbacks"]:
            t0 = time.time()
            for eta in cfg["etas"]:
                for band in cfg["bands"]:
                    for seed in cfg["seeds"]:
                        ch = tune_on_device(net, *tr, *va, T=T, n_classes=net.n_out,
                                            etas=(eta,), bands=(band,), passes=cfg["epochs"],
                                            seed=seed, feedback=fb, keep_best_pass=True,
                                            float_spec=spec)  # fmt: skip
                        rows.append({**base, "arm": "on-device", "feedback": fb,
                                     "lr": f"{eta:g}/{band:g}", "seed": seed,
                                     "val_acc": ch.select_acc, "epochs": ch.passes,
                                     "acc": accuracy(ch.spec, *te)})  # fmt: skip
            log(f"  on-device {task} {precision} {fb}: {time.time() - t0:.0f}s")
    return rows


def run(out: str | Path, settings: dict | None = None, quick: bool = False, log=print) -> dict:
    """Pretrain and convert as the study does, then both arms on every task; returns meta."""
    import torch  # lazy: torch only here (pretraining and the BPTT arm)

    cfg = dict(QUICK if quick else SETTINGS)
    cfg.update(settings or {})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    xs, ys = data.load_mnist(cfg["n_src_train"] + cfg["n_src_test"])
    src_tr, _ = data.split(data.binarize(xs), ys, cfg["n_src_train"], cfg["n_src_test"])
    src_tr = ann.to_tensors(*src_tr)
    pre = ann.pretrain(*src_tr, hidden=cfg["hidden"], bias=True, epochs=cfg["pretrain_epochs"])
    lams = snn.scales(pre, src_tr[0], "multi")
    spec = snn.to_snn(pre, lams, "multi").to_spec()
    rows = []
    for task in cfg["tasks"]:
        xt, yt = data.load_task(task)
        parts = data.split3(data.binarize(xt), yt, cfg["n_train"], cfg["n_test"], cfg["n_val"])
        parts = [ann.to_tensors(*p) for p in parts]
        rows += _bptt_rows(cfg, task, pre, lams, parts)
        log(f"[{time.time() - t0:.0f}s] BPTT nt2 {task}")
        rows += _ondevice_rows(cfg, task, spec, parts, log)
        log(f"[{time.time() - t0:.0f}s] on-device {task}")
        study.write_csv(out / "ondevice.csv", rows)
    meta = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
            "seconds": time.time() - t0}  # fmt: skip
    atomic_write_text(out / "ondevice_meta.json", json.dumps(meta, indent=2))
    return meta
