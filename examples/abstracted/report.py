"""The Table 1 report of a study directory written by :func:`.study.run`: per dataset and variant
the mean and standard deviation of the test accuracy over seeds (the thesis' numbers beside
ours for MNIST), and the measured cost per training step as a ratio to the baseline."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from lava_nt.docs_blocks import caption
from lava_nt.io import atomic_write_text
from lava_nt.records import commands

VARIANTS = ("baseline", "derived", "identity")
#: the thesis' Table 1, MNIST column: (accuracy, standard deviation over five runs)
THESIS_MNIST = {"baseline": (0.9763, 0.002), "derived": (0.9762, 0.001),
                "identity": (0.9612, 0.002)}  # fmt: skip
LABELS = {"baseline": "baseline model", "derived": "abstracted gradients (derived M)",
          "identity": "abstracted gradients (M = [I 0])"}  # fmt: skip
NAMES = {"mnist": "MNIST subset (4,000 train / 1,000 test)",
         "digits": "scikit-learn digits, 28x28 (1,437 train / 360 test)"}  # fmt: skip


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` (dicts with the same keys) as a CSV file, atomically."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _read(out: Path) -> tuple[list[dict], dict, list[dict], dict]:
    """``(Table 1 rows, meta, EEG rows, EEG meta)`` of a study directory; each meta holds the
    step costs of its part (``cost.csv`` / ``eeg_cost.csv``) under ``"costs"``."""
    rows, eeg = _csv(out / "results.csv"), _csv(out / "eeg.csv")
    if not rows and not eeg:
        raise FileNotFoundError(
            f"{out}: no results.csv or eeg.csv (run 'lava-nt abstracted run' first)"
        )
    meta = {**_json(out / "meta.json"), "costs": _csv(out / "cost.csv")}
    eeg_meta = {**_json(out / "eeg_meta.json"), "costs": _csv(out / "eeg_cost.csv"),
                "alignment": _csv(out / "eeg_alignment.csv")}  # fmt: skip
    return rows, meta, eeg, eeg_meta


def _cost(costs: list[dict], group: str, key: str, variant: str, e: dict) -> str:
    """``ms / step | cost vs baseline`` cells: the interleaved timing's median [quartiles] and
    the ratio of medians when recorded, else the runs' own mean step time."""
    med = {r["variant"]: r for r in costs if r[group] == key}
    if variant in med and "baseline" in med:
        r = med[variant]
        ratio = float(r["median_ms"]) / float(med["baseline"]["median_ms"])
        return (f"{float(r['median_ms']):.2f} [{float(r['q1_ms']):.2f}, "
                f"{float(r['q3_ms']):.2f}] | {ratio:.2f}x")  # fmt: skip
    return f"{e['ms']:.2f} | {e['ratio']:.2f}x"


def summary(rows: list[dict], group: str = "dataset") -> dict:
    """``{(group value, variant): {"mean", "std", "n", "ms", "ratio"}}``: accuracy mean and
    sample standard deviation (ddof 1; 0 for one run) over the group's runs, mean step time,
    its ratio to the group's baseline."""
    acc, ms = defaultdict(list), defaultdict(list)
    for r in rows:
        key = (r[group], r["variant"])
        acc[key].append(float(r["acc"]))
        ms[key].append(float(r["ms_per_step"]))
    out = {}
    for key, a in acc.items():
        base = ms.get((key[0], "baseline"))
        mean_ms = float(np.mean(ms[key]))
        out[key] = {
            "mean": float(np.mean(a)),
            "std": float(np.std(a, ddof=1)) if len(a) > 1 else 0.0,
            "n": len(a),
            "ms": mean_ms,
            "ratio": mean_ms / float(np.mean(base)) if base else float("nan"),
        }
    return out


def tables(rows: list[dict], meta: dict) -> list[str]:
    """The Markdown parts: settings line, one table per dataset, the protocol note."""
    s = summary(rows)
    cfg = meta.get("settings", {})
    parts = [
        f"Network {'-'.join(map(str, meta.get('sizes', [])))} (ReLU, log-softmax + NLL), layers "
        f"{meta.get('block', ['?'])[0]}..{meta.get('block', ['?', '?'])[-1]} abstracted (block "
        f"input 392-d, output 49-d); Adam lr {cfg.get('lr', '?'):g}, batch "
        f"{cfg.get('batch_size', '?')}, {cfg.get('epochs', '?')} epochs, seeds "
        f"{', '.join(map(str, cfg.get('seeds', [])))}."
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        lines = [
            f"**{NAMES.get(dataset, dataset)}**",
            "",
            "| variant | test accuracy (mean, std) | seeds | thesis, MNIST (acc, std) "
            "| ms / step | cost vs baseline |",
            "|---|---|---|---|---|---|",
        ]
        for v in VARIANTS:
            if (dataset, v) not in s:
                continue
            e = s[(dataset, v)]
            thesis = THESIS_MNIST[v] if dataset == "mnist" else None
            th = f"({thesis[0]:.4f}, {thesis[1]:.3f})" if thesis else "-"
            cost = _cost(meta.get("costs", []), "dataset", dataset, v, e)
            lines.append(
                f"| {LABELS[v]} | ({e['mean']:.4f}, {e['std']:.3f}) | {e['n']} | {th} | {cost} |"
            )
        parts.append("\n".join(lines))
    parts.append(
        "Test accuracy of a run: the maximum over its epochs (the thesis' protocol for Table 1; "
        "optimistic, as the test set chooses the epoch). Standard deviation: sample (ddof 1) "
        "over seeds. ms / step: forward, backward and Adam step of one batch on one CPU thread, "
        "the median [quartiles] of rounds of one step per variant in rotating order (the "
        "machine is shared: the rotation lets a change of load meet every variant alike); cost "
        "vs baseline: the ratio of the medians. The thesis trained on the full MNIST (60,000 "
        "images, about 9,400 steps in 10 epochs); these runs use the bundled 4,000-image "
        f"subset ({63 * int(cfg.get('epochs', 10)):,} steps in {cfg.get('epochs', 10)} epochs)."
    )
    return parts


def eeg_tables(rows: list[dict], meta: dict) -> list[str]:
    """The EEG comparison: one table, pretraining and nt2 tuning per variant."""
    s = summary(rows, "phase")
    who = sorted({int(r["participant"]) for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    parts = [
        f"**EEG spiking network** {'-'.join(map(str, meta.get('sizes', [])))} (T "
        f"{meta.get('T', '?')}), layer {meta.get('block', ['?'])[0]} abstracted "
        f"(400 -> 800; M from spike counts, applied at every step); {meta.get('data', '')}: "
        f"pool of {meta.get('pool', '?')} participants, left out {', '.join(map(str, who))}, "
        f"seeds {', '.join(map(str, seeds))}; pretraining {meta.get('pretrain_epochs', '?')} "
        f"epochs on the other participants (lr 1e-4, last epoch), nt2 tuning "
        f"{meta.get('tune_epochs', '?')} epochs of the baseline-pretrained network (lr 1e-2, "
        "epoch chosen on the validation part).",
        "",
        "| phase | variant | test accuracy (mean, std) | runs | ms / step | cost vs baseline |",
        "|---|---|---|---|---|---|",
    ]
    for phase in ("pretrain", "nt2"):
        for v in VARIANTS:
            if (phase, v) in s:
                e = s[(phase, v)]
                cost = _cost(meta.get("costs", []), "phase", phase, v, e)
                parts.append(
                    f"| {phase} | {LABELS[v]} | ({e['mean']:.4f}, {e['std']:.3f}) | {e['n']} "
                    f"| {cost} |"
                )
    parts += _alignment_table(meta.get("alignment", []))
    parts += ["", "Test accuracy: the left-out participant's test part (trials unseen in "
              "training and validation). ms / step: one training step (forward, loss, backward, "
              "Adam) of a batch of 32 on one thread, the median [quartiles] of rounds of one step "
              "per variant in rotating order; cost vs baseline: the ratio of the medians. A small "
              "study: a few participants on synthetic data."]  # fmt: skip
    return ["\n".join(parts)]


RULES = {"counts": "M from spike counts, every step (lava-nt)", "per-step": "one M per step",
         "identity": "[I 0]"}  # fmt: skip


def _alignment_table(rows: list[dict]) -> list[str]:
    """Which ``L`` for spikes: cosine of each rule's ``G_in`` with the true BPTT gradient."""
    if not rows:
        return []
    out = ["", "Which `L` for spikes: cosine between `G_out @ M^T` and the true BPTT gradient "
           "at the block's input (baseline-pretrained network, the left-out participants' test "
           "inputs; mean over participants):", "",
           "| rule | cosine per sample and step | cosine of the gradients summed over steps |",
           "|---|---|---|"]  # fmt: skip
    for rule, label in RULES.items():
        sel = [r for r in rows if r["rule"] == rule]
        if sel:
            step = np.mean([float(r["cos_per_step"]) for r in sel])
            summed = np.mean([float(r["cos_summed"]) for r in sel])
            out.append(f"| {label} | {step:.3f} | {summed:.3f} |")
    return out


def docs_block(out, regenerate: str) -> str:
    """The generated documentation block: a caption naming the recorded command and commit
    (``commands.jsonl``, written by ``lava-nt abstracted run``), then the tables. Raises
    ``FileNotFoundError`` for a directory without a recorded command."""
    out = Path(out)
    made_by = commands(out)
    if not made_by:
        raise FileNotFoundError(
            f"{out}: no recorded command (commands.jsonl): only studies run by "
            "`lava-nt abstracted run` can be written into the documentation"
        )
    return "\n".join(caption(made_by, regenerate)) + "\n" + "\n\n".join(_parts(out)) + "\n"


def _parts(out: Path) -> list[str]:
    rows, meta, eeg, eeg_meta = _read(out)
    return (tables(rows, meta) if rows else []) + (eeg_tables(eeg, eeg_meta) if eeg else [])


def write_report(out) -> Path:
    """(Re)write ``report.md`` of a study directory."""
    out = Path(out)
    parts = ["# Abstracted gradients (thesis chapter 3)\n", *_parts(out)]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(parts) + "\n")
    return path
