"""The Table 1 report of a study directory written by :func:`.study.run`: per dataset and variant
the mean and standard deviation of the test accuracy over seeds (the thesis' numbers beside
ours for MNIST), and the measured cost per training step as a ratio to the baseline."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from lava_nt.examples.eeg.report.docs import caption
from lava_nt.examples.eeg.runs import commands
from lava_nt.io import atomic_write_text

VARIANTS = ("baseline", "derived", "identity")
#: the thesis' Table 1, MNIST column: (accuracy, standard deviation over five runs)
THESIS_MNIST = {"baseline": (0.9763, 0.002), "derived": (0.9762, 0.001),
                "identity": (0.9612, 0.002)}  # fmt: skip
LABELS = {"baseline": "baseline model", "derived": "abstracted gradients (derived M)",
          "identity": "abstracted gradients (M = [I 0])"}  # fmt: skip
NAMES = {"mnist": "MNIST subset (4,000 train / 1,000 test)",
         "digits": "scikit-learn digits, 28x28 (1,437 train / 360 test)"}  # fmt: skip


def _read(out: Path) -> tuple[list[dict], dict]:
    path = out / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"{out}: no results.csv (run 'lava-nt abstracted run' first)")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return rows, meta


def summary(rows: list[dict]) -> dict:
    """``{(dataset, variant): {"mean", "std", "n", "ms", "ratio"}}``: accuracy mean and sample
    standard deviation (ddof 1; 0 for one seed) over seeds, mean step time, its ratio to the
    dataset's baseline."""
    acc, ms = defaultdict(list), defaultdict(list)
    for r in rows:
        key = (r["dataset"], r["variant"])
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
            lines.append(
                f"| {LABELS[v]} | ({e['mean']:.4f}, {e['std']:.3f}) | {e['n']} | {th} "
                f"| {e['ms']:.2f} | {e['ratio']:.2f}x |"
            )
        parts.append("\n".join(lines))
    parts.append(
        "Test accuracy of a run: the maximum over its epochs (the thesis' protocol for Table 1; "
        "optimistic, as the test set chooses the epoch). Standard deviation: sample (ddof 1) "
        "over seeds. ms / step: forward, backward and Adam step on one CPU thread, mean over "
        "the run's steps; the variants ran interleaved in the same process. The thesis trained "
        "on the full MNIST (60,000 images); these runs use the bundled 4,000-image subset."
    )
    return parts


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
    rows, meta = _read(out)
    return "\n".join(caption(made_by, regenerate)) + "\n" + "\n\n".join(tables(rows, meta)) + "\n"


def write_report(out) -> Path:
    """(Re)write ``report.md`` of a study directory."""
    out = Path(out)
    rows, meta = _read(out)
    parts = ["# Abstracted gradients: Table 1 (thesis chapter 3)\n", *tables(rows, meta)]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(parts) + "\n")
    return path
