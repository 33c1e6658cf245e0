"""Tables (Markdown + CSV) and plots of a study directory written by :func:`.study.run`.

Tables in the form of the paper's: Table 1 (additive vs multiplicative at lr 0.01), Tables 2-3
(feed-forward methods per learning rate, average, best, trainable parameters), Table 7 (spiking
methods per learning rate, per task and variant), Table 8 (best learning rate and parameters),
plus the Lava deployment table (torch vs Lava float / fixed point on the same samples).
Accuracies are means over seeds.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from lava_nt.docs_blocks import caption
from lava_nt.examples.images.selection import best_by_val, first_max
from lava_nt.io import atomic_write_text
from lava_nt.records import commands


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _mean_acc(rows, field: str = "acc", **keys) -> dict:
    """``{key tuple: (mean of field, n seeds)}`` grouped by ``keys`` (field names); rows without
    the field (studies recorded before validation splits) are left out."""
    groups = defaultdict(list)
    fields = list(keys)
    for r in rows:
        if r.get(field) not in (None, ""):
            groups[tuple(r[k] for k in fields)].append(float(r[field]))
    return {k: (float(np.mean(v)), len(v)) for k, v in groups.items()}


SELECTION_RULE = (
    "Selection: every run keeps the epoch with the best accuracy on a validation part of the "
    "target data (disjoint from training and test; a tie keeps the earlier epoch), and a "
    "method's learning rate is the one with the best mean validation accuracy over seeds; the "
    "test accuracy is reported at that choice, never used to choose."
)


def _best_by_val(acc: dict, val: dict, keys: list) -> tuple | None:
    """The key with the best validation mean (first in order on a tie) and its test mean."""
    k = first_max([k for k in keys if k in val and k in acc], lambda k: val[k][0])
    return None if k is None else (k, acc[k][0], val[k][0])


def _lr(x) -> str:
    return f"{float(x):g}"


def _md(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append(
            "| " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in r) + " |"
        )
    return "\n".join(out)


def _save(out: Path, name: str, header, rows) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(out / f"{name}.csv", buf.getvalue())
    return _md(header, rows)


def ann_tables(out: Path, rows: list[dict]) -> list[str]:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lrs = sorted({_lr(r["lr"]) for r in rows if r["method"] != "none"}, key=float, reverse=True)
    acc = _mean_acc([dict(r, lr=_lr(r["lr"])) for r in rows], method=0, lr=0, task=0)
    val = _mean_acc([dict(r, lr=_lr(r["lr"])) for r in rows], "val_acc", method=0, lr=0, task=0)
    params = {r["method"]: int(r["params"]) for r in rows}
    none = {
        t: acc.get(("none", k[1], t), (np.nan,))[0] for k in acc if k[0] == "none" for t in tasks
    }
    md = []
    # Table 1 form
    t1 = [[m] + [acc.get((m, "0.01", t), (np.nan,))[0] for t in tasks] for m in ("additive", "nt1")]
    md.append(
        "### Table 1 form: additive vs multiplicative (NT1) bias, lr = 0.01 (ANN)\n\n"
        + _save(out, "table1_ann_additive_vs_nt1", ["method"] + tasks, t1)
    )
    # Tables 2-3 form
    body = [["none (no tuning)"] + [none.get(t, np.nan) for t in tasks]]
    for lr in lrs:
        for m in methods:
            if m == "none":
                continue
            body.append([f"{m} (lr={lr})"] + [acc.get((m, lr, t), (np.nan,))[0] for t in tasks])
    for m in methods:
        if m == "none":
            continue
        vals = [[acc[(m, lr, t)][0] for lr in lrs if (m, lr, t) in acc] for t in tasks]
        body.append([f"{m} - average"] + [float(np.mean(v)) if v else np.nan for v in vals])
        chosen = [_best_by_val(acc, val, [(m, lr, t) for lr in lrs]) for t in tasks]
        body.append(
            [f"{m} - chosen on validation (test acc)"] + [c[1] if c else np.nan for c in chosen]
        )
        body.append([f"{m} - chosen lr"] + [c[0][1] if c else "-" for c in chosen])
    for m in methods:
        body.append([f"{m} - tuned parameters"] + [f"{params[m]:,}"] * len(tasks))
    md.append(
        "### Tables 2-3 form: feed-forward transfer accuracy per method and learning rate\n\n"
        + SELECTION_RULE
        + "\n\n"
        + _save(out, "table3_ann", ["method"] + tasks, body)
    )
    return md


def snn_tables(out: Path, rows: list[dict]) -> list[str]:
    if not rows:
        return []
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lrs = sorted({_lr(r["lr"]) for r in rows if r["method"] != "none"}, key=float)
    lr_rows = [dict(r, lr=_lr(r["lr"])) for r in rows]
    acc = _mean_acc(lr_rows, task=0, variant=0, method=0, lr=0)
    val = _mean_acc(lr_rows, "val_acc", task=0, variant=0, method=0, lr=0)
    params = {r["method"]: int(r["params"]) for r in rows}
    body7, body8 = [], []
    for t in tasks:
        for v in variants:
            for m in methods:
                if m == "none":
                    a = next(val[0] for k, val in acc.items() if k[:3] == (t, v, m))
                    body7.append([t, v, "no tuning"] + [a] * len(lrs))
                    continue
                vals = [acc.get((t, v, m, lr), (np.nan,))[0] for lr in lrs]
                body7.append([t, v, m] + vals)
                c = _best_by_val(acc, val, [(t, v, m, lr) for lr in lrs])
                if c is not None:
                    body8.append([t, v, m, c[0][3], c[2], c[1], f"{params[m]:,}"])
    md = [
        "### Table 7 form: spiking transfer accuracy per learning rate\n\n"
        + _save(
            out, "table7_snn", ["task", "variant", "method"] + [f"lr {lr}" for lr in lrs], body7
        ),
        "### Table 8 form: learning rate chosen on validation, and trainable parameters\n\n"
        + SELECTION_RULE
        + "\n\n"
        + _save(
            out,
            "table8_snn",
            [
                "task",
                "variant",
                "method",
                "chosen lr",
                "val accuracy",
                "test accuracy",
                "parameters",
            ],
            body8,
        ),
    ]
    return md


def tft_sweep_table(out: Path, sweep: list[dict]) -> list[str]:
    """TFT's sweep: its maximum epochs grew until its best validation accuracy reached
    readout-only retraining's (the baseline TFT must at least match), per arm: the feed-forward
    net and each spiking variant."""
    if not sweep:
        return []
    body = [
        [s["task"], s.get("variant", "ann"), int(s["max_epochs"]), _lr(s["tft_best_lr"]),
         float(s["tft_val_acc"]), float(s["tft_test_acc"]), float(s["readout_val_acc"]),
         "yes" if str(s["reached"]) in ("True", "true") or s["reached"] is True else "no"]
        for s in sweep
    ]  # fmt: skip
    return [
        "### TFT swept against readout-only retraining\n\n"
        "Traditional fine-tuning trains a superset of what readout-only retraining trains, so an "
        "honest TFT baseline must reach it: each stage reruns TFT's learning-rate grid with more "
        "epochs (the epoch still chosen on validation) until its best validation accuracy is at "
        "least readout-only's (the feed-forward readout, also the target of the spiking arms), "
        "or the last stage; the last stage is the one in the tables.\n\n"
        + _save(
            out,
            "table_tft_sweep",
            [
                "task",
                "arm",
                "max epochs",
                "best lr",
                "TFT val acc",
                "TFT test acc",
                "readout val acc",
                "reached",
            ],
            body,
        )
    ]


def lava_table(out: Path, rows: list[dict]) -> list[str]:
    if not rows:
        return []
    body = [
        [
            r["task"],
            r["variant"],
            r["method"],
            _lr(r["lr"]),
            r["precision"],
            int(r["n"]),
            float(r["acc_torch"]),
            float(r["acc_lava"]),
            float(r["spike_agreement"]),
        ]
        for r in rows
    ]
    qat = [r for r in rows if r["precision"] == "qat fixed"]
    note = ""
    if qat:
        exact = sum(str(r.get("bit_exact")) == "True" for r in qat)
        note = (
            "\n\nPrecision *qat fixed*: the same method, learning rate and seed tuned through the "
            "Loihi fixed-point network (quantisation-aware tuning, `--qat`); *acc torch* is its "
            "training forward, and its Lava fixed-point run equals the training forward at every "
            f"layer in {exact} of {len(qat)} runs."
        )
    return [
        "### Lava deployment: torch (float32, as trained) vs Lava on the same test samples\n\n"
        + _save(
            out,
            "table_lava",
            [
                "task",
                "variant",
                "method",
                "lr",
                "precision",
                "samples",
                "acc torch",
                "acc Lava",
                "spike agreement",
            ],
            body,
        )
        + note
    ]


ONDEVICE_NOTE = (
    "The multi-step spiking classifier's 74 biases tuned to each task: BPTT nt2 (the study's "
    "spiking arm, same settings) and the local on-device rule (`lava-nt images ondevice`, "
    "`lava_nt.ondevice`: "
    "eligibility x output error through a fixed feedback matrix, one update per tuning sample, "
    "[I 0] or the derived least-squares feedback), in float64 and in Loihi fixed point. "
    "*choice* is the learning rate, or eta/band for the rule, with the best mean validation "
    "accuracy over the seeds (every run keeps its best epoch / pass on validation); test "
    "accuracy is the mean over the seeds at that choice (± its standard deviation). The "
    "fixed-point arm runs the numpy twin, which the tests prove equal to the Lava run bit for "
    "bit, so no Lava run is needed for its accuracy."
)


def ondevice_summary(rows: list[dict]) -> list[dict]:
    """One row per task, arm, precision and feedback of ``ondevice.csv``: the choice (``lr``:
    a learning rate or ``eta/band``) with the best mean validation accuracy over the seeds
    (:func:`.selection.best_by_val`), that mean, the mean test accuracy and its spread."""
    groups: dict = {}
    for r in rows:
        key = (r["task"], r["arm"], r["precision"], r["feedback"])
        groups.setdefault(key, []).append(
            {**r, "acc": float(r["acc"]), "val_acc": float(r["val_acc"])}
        )
    out = []
    for (task, arm, precision, fb), rs in groups.items():
        choice, val, acc = best_by_val(rs)
        chosen = [r for r in rs if r["lr"] == choice]
        out.append({"task": task, "arm": arm, "precision": precision, "feedback": fb,
                    "choice": choice, "val_acc": val, "acc": acc,
                    "std": float(np.std([r["acc"] for r in chosen])),
                    "seeds": len(chosen)})  # fmt: skip
    return out


def ondevice_table(out: Path, rows: list[dict]) -> list[str]:
    if not rows:
        return []
    body = [
        [s["task"], s["arm"] + (f" ({s['feedback']})" if s["feedback"] else ""),
         s["precision"], s["choice"] or "-", s["seeds"], s["val_acc"],
         f"{s['acc']:.3f} ± {s['std']:.3f}"]
        for s in ondevice_summary(rows)
    ]  # fmt: skip
    header = ["task", "arm", "precision", "choice", "seeds", "val accuracy", "test accuracy"]
    meta_path = out / "ondevice_meta.json"
    setup = ""
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        s = meta.get("settings", {})
        setup = (
            f" Settings: {s.get('n_train')} tuning / {s.get('n_val')} validation / "
            f"{s.get('n_test')} test images per task, T = {s.get('T')}, {s.get('epochs')} epochs "
            f"(passes), seeds {s.get('seeds')}, BPTT learning rates {s.get('bptt_lrs')}, eta "
            f"{s.get('etas')} x band {s.get('bands')}; {meta.get('seconds', 0):.0f} s."
        )
    return [
        "### On-device tuning beside BPTT nt2 (multi-step spiking classifier, the same biases)"
        f"\n\n{ONDEVICE_NOTE}{setup}\n\n" + _save(out, "table_ondevice", header, body)
    ]


def plots(out: Path, ann_rows, snn_rows) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return []
    files = []
    for name, rows, keys in (("ann", ann_rows, ("task",)), ("snn", snn_rows, ("task", "variant"))):
        if not rows:
            continue
        panels = list(dict.fromkeys(tuple(r[k] for k in keys) for r in rows))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
        for ax, panel in zip(axes[0], panels, strict=True):
            sub = [r for r in rows if tuple(r[k] for k in keys) == panel]
            for m in dict.fromkeys(r["method"] for r in sub):
                acc = _mean_acc([r for r in sub if r["method"] == m], lr=0)
                lrs = sorted(acc, key=lambda k: float(k[0]))
                xs = [float(k[0]) for k in lrs]
                ys = [acc[k][0] for k in lrs]
                if m == "none":
                    ax.axhline(ys[0], color="k", ls=":", label="no tuning")
                else:
                    ax.plot(xs, ys, "o-", label=m)
            ax.set_xscale("log")
            ax.set_ylim(0, 1)
            ax.set_xlabel("learning rate")
            ax.set_title("/".join(panel), fontsize=9)
        axes[0][0].set_ylabel("test accuracy (mean over seeds)")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{name}_accuracy_vs_lr.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


def _report_parts(out: Path) -> list[str]:
    """The report's text blocks (without the title and the plot links)."""
    meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").exists() else {}
    ann_rows, snn_rows = _read(out / "ann.csv"), _read(out / "snn.csv")
    lava_rows = _read(out / "lava.csv")
    parts = []
    if meta:
        s = meta.get("settings", {})
        parts.append(
            f"Source accuracies (MNIST test): {json.dumps(meta.get('source_acc', {}))}. "
            f"Seeds {s.get('seeds')}, ANN epochs {s.get('ann_epochs')}, SNN epochs "
            f"{s.get('snn_epochs')}, T = {s.get('T')} (multi-step), s = {s.get('s')} "
            f"(single-update), tasks {meta.get('tasks')}, {meta.get('seconds', 0):.0f} s.\n"
        )
    if ann_rows:
        parts += ann_tables(out, ann_rows) + tft_sweep_table(out, meta.get("tft_sweep", []))
    if snn_rows:
        parts += snn_tables(out, snn_rows)
    parts += lava_table(out, lava_rows)
    frozen = [
        r
        for r in ann_rows + snn_rows
        if r["method"] not in ("tft", "readout") and r["weights_frozen"] != "True"
    ]
    if ann_rows or snn_rows:
        parts.append(f"Runs whose weights changed although the method freezes them: {len(frozen)}.")
    parts += ondevice_table(out, _read(out / "ondevice.csv"))
    return parts


def docs_block(out: str | Path, regenerate: str) -> str:
    """The generated documentation block of a study directory: a caption with the recorded
    command and commit that made the numbers (``commands.jsonl``, written by
    ``lava-nt images run``), then the report's tables. Raises ``FileNotFoundError`` for a
    directory without a recorded command."""
    out = Path(out)
    made_by = commands(out)
    if not made_by:
        raise FileNotFoundError(
            f"{out}: no recorded command (commands.jsonl): only studies run by "
            "`lava-nt images run` can be written into the documentation"
        )
    parts = _report_parts(out)
    return "\n".join(caption(made_by, regenerate)) + "\n" + "\n\n".join(parts) + "\n"


def write_report(out: str | Path) -> Path:
    """(Re)write ``report.md``, the table CSVs and plots of a study directory."""
    out = Path(out)
    if not (out / "ann.csv").exists() and not (out / "ondevice.csv").exists():
        raise FileNotFoundError(
            f"{out}: no ann.csv or ondevice.csv (run 'lava-nt images run' or "
            "'lava-nt images ondevice' first)"
        )
    ann_rows, snn_rows = _read(out / "ann.csv"), _read(out / "snn.csv")
    parts = ["# Image transfer study (MNIST subset -> scikit-learn digits)\n"]
    parts += _report_parts(out)
    parts += [f"![{p}]({p})" for p in plots(out, ann_rows, snn_rows)]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(parts) + "\n")
    return path
