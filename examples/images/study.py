"""The whole image-transfer study: pretrain, ANN tuning grid, spiking tuning grid (both
variants), Lava deployment, then the report. Writes into ``out``:

``meta.json`` (settings, source accuracies, conversion scales), ``ann.csv``, ``snn.csv``,
``lava.csv`` (one row per run) and, through :func:`.report.write_report`, ``report.md``, the
aggregated CSV tables and the plots.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import torch

from lava_nt.io import atomic_write_text

from . import ann, data, snn
from .report import write_report
from .selection import best_by_val

PAPER_LRS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)  # Table 3 (feed-forward)
PAPER_SNN_LRS = (1e-4, 1e-3, 1e-2, 1e-1)  # Table 7 (spiking)
#: the spiking grid run here: Table 7's rates and 1e-5, because the BPTT TFT's chosen rate sat
#: at Table 7's lower edge (1e-4)
SNN_LRS = (1e-5, *PAPER_SNN_LRS)

FULL = {
    "n_src_train": 4000,
    "n_src_test": 1000,
    "hidden": 64,
    "pretrain_epochs": 10,
    "tasks": data.TASKS,
    "n_train": 500,
    "n_test": 500,
    "n_val": 200,
    "tft_max_epochs": (5, 10, 20, 40),
    "ann_methods": ann.METHODS,
    "ann_lrs": PAPER_LRS,
    "ann_epochs": 5,
    "snn_methods": snn.METHODS,
    "snn_lrs": SNN_LRS,
    "snn_epochs": 5,
    "seeds": (0, 1, 2),
    "snn_seeds": (0, 1),
    "T": 8,
    "s": 1e-3,
    "lava_tasks": ("digits",),
    "lava_methods": ("tft", "nt1", "nt2", "additive_bias"),
    "lava_n": 200,
}
QUICK = dict(
    FULL,
    n_src_train=2000,
    n_src_test=500,
    pretrain_epochs=5,
    n_train=300,
    n_test=300,
    n_val=150,
    tft_max_epochs=(5, 10, 20),
    ann_lrs=(1e-1, 1e-2, 1e-3, 1e-4),
    ann_epochs=5,
    snn_lrs=(1e-3, 1e-2, 1e-1),
    snn_epochs=3,
    seeds=(0, 1),
    snn_seeds=(0, 1),
    lava_methods=("nt1", "nt2"),
    lava_n=50,
)


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as a CSV file (every key a column, first-seen order), written atomically;
    nothing for no rows."""
    if not rows:
        return
    fields = list(dict.fromkeys(k for row in rows for k in row))  # every key, first-seen order
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields, restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _ann_runs(cfg, task, method, tr, te, va, pre, epochs: int) -> list[dict]:
    """One method's runs over the learning rates and seeds (epoch chosen on ``va``)."""
    mlp = pre[method not in ("additive", "additive_bias")]
    lrs = cfg["ann_lrs"] if method != "none" else cfg["ann_lrs"][:1]
    rows = []
    for lr in lrs:
        for seed in cfg["seeds"] if method != "none" else cfg["seeds"][:1]:
            r = ann.tune(mlp, method, tr, te, lr=lr, epochs=epochs, seed=seed, val=va)
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "lr": lr,
                    "seed": seed,
                    "acc": r["acc"],
                    "val_acc": r["val_acc"],
                    "epochs": r["epochs"],
                    "max_epochs": epochs,
                    "params": r["params"],
                    "weights_frozen": r["weights_frozen"],
                }
            )
    return rows


def _ann_grid(cfg: dict, task: str, tr, te, va, pre: dict) -> tuple[list[dict], list[dict]]:
    """The feed-forward tuning grid of one task (methods x learning rates x seeds, the epoch
    chosen on the validation part), and TFT's sweep: its maximum epochs grow through
    ``tft_max_epochs`` until its best validation accuracy reaches readout-only retraining's
    (``(rows, sweep)``; only the last TFT stage's rows enter the tables)."""
    by_method = {
        m: _ann_runs(cfg, task, m, tr, te, va, pre, cfg["ann_epochs"])
        for m in cfg["ann_methods"]
        if m != "tft"
    }
    readout = by_method.get("readout", [])
    target = best_by_val(readout)[1] if readout else -1.0
    sweep, tft = [], []
    if "tft" in cfg["ann_methods"]:
        for max_epochs in cfg["tft_max_epochs"]:
            tft = _ann_runs(cfg, task, "tft", tr, te, va, pre, max_epochs)
            lr, v, acc = best_by_val(tft)
            sweep.append({"task": task, "variant": "ann", "max_epochs": max_epochs,
                          "tft_best_lr": lr,
                          "tft_val_acc": v, "tft_test_acc": acc, "readout_val_acc": target,
                          "reached": v >= target})  # fmt: skip
            if v >= target:
                break
    by_method["tft"] = tft
    return [r for m in cfg["ann_methods"] for r in by_method.get(m, [])], sweep


def _snn_runs(cfg, task, v, method, data, pre, lams, epochs: int):
    """One spiking method's runs over the learning rates and seeds (epoch chosen on the
    validation part): ``(rows, {lr: first seed's network})``."""
    tr, te, va = data
    b = method != "additive_bias"
    lrs = cfg["snn_lrs"] if method != "none" else cfg["snn_lrs"][:1]
    seeds = cfg.get("snn_seeds", cfg["seeds"])
    rows, nets = [], {}
    for lr in lrs:
        for seed in seeds if method != "none" else seeds[:1]:
            net = snn.to_snn(pre[b], lams[(v, b)], v)
            r = snn.tune_snn(net, method, v, tr, te, lr=lr, epochs=epochs, T=cfg["T"],
                             seed=seed, s=cfg["s"], val=va)  # fmt: skip
            if seed == cfg["seeds"][0]:
                nets[lr] = net
            rows.append({"task": task, "variant": v, "method": method, "lr": lr, "seed": seed,
                         "acc": r["acc"], "val_acc": r["val_acc"], "epochs": r["epochs"],
                         "max_epochs": epochs, "params": r["params"],
                         "weights_frozen": r["weights_frozen"]})  # fmt: skip
    return rows, nets


def _snn_grid(cfg: dict, task: str, v: str, data, pre: dict, lams: dict, target: float):
    """The spiking tuning grid of one task and variant: ``(rows, best, tuned, sweep)`` with
    ``best`` the learning rate with the best mean validation accuracy per method (and that
    mean), ``tuned`` the networks tuned with seed ``cfg["seeds"][0]`` per ``(method, lr)`` (for
    Lava) and ``sweep`` TFT's stages: its maximum epochs grow through ``tft_max_epochs`` until
    its best validation accuracy reaches ``target`` (readout-only retraining's, feed-forward).
    The epoch of every run is chosen on the validation part ``data[2]``."""
    rows, best, tuned, sweep = [], {}, {}, []
    for method in cfg["snn_methods"]:
        stages = cfg["tft_max_epochs"] if method == "tft" else (cfg["snn_epochs"],)
        for epochs in stages:
            m_rows, nets = _snn_runs(cfg, task, v, method, data, pre, lams, epochs)
            lr, val, test = best_by_val(m_rows)
            if method != "tft":
                break
            sweep.append({"task": task, "variant": v, "max_epochs": epochs, "tft_best_lr": lr,
                          "tft_val_acc": val, "tft_test_acc": test, "readout_val_acc": target,
                          "reached": val >= target})  # fmt: skip
            if val >= target:
                break
        rows += m_rows
        best[method] = (lr, val)
        tuned.update({(method, k): net for k, net in nets.items()})
    return rows, best, tuned, sweep


def _lava_runs(cfg: dict, task, v, tr, te, pre, lams, best, tuned, qat: bool) -> list[dict]:
    """Lava deployment of each method's best network (and, with ``qat``, its
    quantisation-aware tuned twin on the multi-step variant)."""
    out = []
    n = min(cfg["lava_n"], len(te[1]))
    for method in cfg["lava_methods"]:
        lr = best[method][0]
        net = tuned.get((method, lr))
        if net is None:  # the sweep's seeds did not include cfg["seeds"][0]
            b = method != "additive_bias"
            net = snn.to_snn(pre[b], lams[(v, b)], v)
            snn.tune_snn(
                net,
                method,
                v,
                tr,
                te,
                lr=lr,
                epochs=cfg["snn_epochs"],
                T=cfg["T"],
                seed=cfg["seeds"][0],
                s=cfg["s"],
            )
        rows = snn.deploy(net, te[0][:n], te[1][:n], v, cfg["T"])
        if qat and v == "multi":
            b = method != "additive_bias"
            q_net = snn.to_snn(pre[b], lams[(v, b)], v)
            q, _ = snn.tune_snn_qat(
                q_net, method, tr, te, lr=lr, epochs=cfg["snn_epochs"], T=cfg["T"],
                seed=cfg["seeds"][0],
            )  # fmt: skip
            rows.append(snn.deploy_qat(q, te[0][:n], te[1][:n], cfg["T"]))
        for row in rows:
            out.append(
                {
                    "task": task,
                    "variant": v,
                    "method": method,
                    "lr": lr,
                    "seed": cfg["seeds"][0],
                    **row,
                }
            )
    return out


def run(
    out: str | Path,
    settings: dict | None = None,
    quick: bool = False,
    lava: bool = True,
    log=print,
    qat: bool = False,
) -> dict:
    """Run the study with ``settings`` (default :data:`QUICK` or :data:`FULL`); returns meta.

    ``qat``: the Lava deployment also tunes each deployed multi-step network with
    quantisation-aware tuning (same method, learning rate, seed, epochs) and runs it on Lava
    fixed point (``lava.csv`` rows with precision ``"qat fixed"``, see
    :func:`.snn.deploy_qat`)."""
    cfg = dict(QUICK if quick else FULL)
    cfg.update(settings or {})
    cfg["qat"] = bool(qat)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not lava:  # a rerun without Lava keeps no earlier run's Lava rows beside its own
        (out / "lava.csv").unlink(missing_ok=True)
    t0 = time.time()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    # source: MNIST subset, binarised
    xs, ys = data.load_mnist(cfg["n_src_train"] + cfg["n_src_test"])
    src_tr, src_te = data.split(data.binarize(xs), ys, cfg["n_src_train"], cfg["n_src_test"])
    src_tr, src_te = ann.to_tensors(*src_tr), ann.to_tensors(*src_te)
    pre = {
        b: ann.pretrain(*src_tr, hidden=cfg["hidden"], bias=b, epochs=cfg["pretrain_epochs"])
        for b in (True, False)
    }
    meta = {
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "source_acc": {
            ("bias" if b else "no_bias"): ann.accuracy(m, *src_te) for b, m in pre.items()
        },
        "tasks": {},
        "scales": {},
    }
    log(f"pretrained on MNIST ({cfg['n_src_train']} images): {meta['source_acc']}")

    lams = {(v, b): snn.scales(pre[b], src_tr[0], v) for v in snn.VARIANTS for b in (True, False)}
    meta["scales"] = {f"{v}/{'bias' if b else 'no_bias'}": s for (v, b), s in lams.items()}
    for v in snn.VARIANTS:
        net = snn.to_snn(pre[True], lams[(v, True)], v)
        r = snn.tune_snn(net, "none", v, src_tr, src_te, lr=1.0, epochs=1, T=cfg["T"])
        meta["source_acc"][f"snn_{v}"] = r["acc"]
    log(f"converted spiking classifiers on MNIST: {meta['source_acc']}")

    ann_rows, snn_rows, lava_rows = [], [], []
    for task in cfg["tasks"]:
        xt, yt = data.load_task(task)
        tr, te, va = data.split3(data.binarize(xt), yt, cfg["n_train"], cfg["n_test"], cfg["n_val"])
        tr, te, va = ann.to_tensors(*tr), ann.to_tensors(*te), ann.to_tensors(*va)
        meta["tasks"][task] = {"n_train": len(tr[1]), "n_test": len(te[1]), "n_val": len(va[1])}
        rows, sweep = _ann_grid(cfg, task, tr, te, va, pre)
        ann_rows += rows
        meta.setdefault("tft_sweep", []).extend(sweep)
        log(f"[{time.time() - t0:.0f}s] ANN {task}: {len(ann_rows)} runs")
        write_csv(out / "ann.csv", ann_rows)
        for v in snn.VARIANTS:
            target = next((s["readout_val_acc"] for s in sweep), -1.0)
            rows, best, tuned, snn_sweep = _snn_grid(cfg, task, v, (tr, te, va), pre, lams, target)
            meta["tft_sweep"].extend(snn_sweep)
            snn_rows += rows
            log(f"[{time.time() - t0:.0f}s] SNN {task}/{v}: {len(snn_rows)} runs")
            write_csv(out / "snn.csv", snn_rows)
            if not (lava and task in cfg["lava_tasks"]):
                continue
            lava_rows += _lava_runs(cfg, task, v, tr, te, pre, lams, best, tuned, qat)
            log(f"[{time.time() - t0:.0f}s] Lava {task}/{v}: {len(lava_rows)} runs")
            write_csv(out / "lava.csv", lava_rows)
    meta["seconds"] = time.time() - t0
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2))
    write_report(out)
    log(f"done in {meta['seconds']:.0f}s: {out / 'report.md'}")
    return meta
