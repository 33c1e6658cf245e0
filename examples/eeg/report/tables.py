"""The tables of a LOSO run's report, like the thesis' Tables 2/5/6 (markdown and CSV).

* per left-out participant the mean and sd over its units (tuning seeds x pretraining seeds) of
  the test accuracy of every method, and the mean over participants (its sd column is the mean of
  the per-participant sds, as the thesis' "Mean" rows; the sd across participants is listed too);
  the header names the protocol, the data source and the settings; one CSV line per unit;
* trainable parameters per method; Lava float / fixed-point accuracy beside the torch accuracy
  and the spike agreement, per deployed model and averaged per method; pretraining and per-unit
  wall times.

sd is the population standard deviation over units (``ddof=0``, numpy's default); intervals and
tests are in :mod:`.statistics`.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from lava_nt.examples.eeg.pipeline import (
    ARCHS,
    METHODS,
    MODEL_FILE,
    PROTOCOL_TEXT,
    config_from_info,
)
from lava_nt.examples.eeg.pipeline.journal import _ranges
from lava_nt.examples.eeg.pipeline.qat import QAT_DEPLOY_KEYS, qat_report_lines
from lava_nt.io import atomic_write_text

__all__ = ["accuracy_table", "pretrain_parameters"]


def _atomic_write_text(path, text: str) -> None:
    atomic_write_text(path, text, make_parents=True)


REPORT_DIR = "report"


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}"


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def _sd(xs):
    xs = [x for x in xs if x is not None]
    return float(np.std(xs)) if xs else None


def _order(methods) -> list[str]:
    methods = set(methods)
    return [m for m in METHODS if m in methods]


def pretrain_parameters(arch: str) -> int | None:
    """Weights and biases a network of ``arch`` pretrains (None: not a pretrained network)."""
    if arch not in ARCHS:
        return None
    s = ARCHS[arch].sizes
    return sum(a * b + b for a, b in zip(s[:-1], s[1:], strict=True))


def accuracy_table(rows: list[dict]) -> dict:
    """``{"methods", "participants", "cells": {(p, m): (mean, sd, n)}, "mean": {m: ...}}``."""
    acc = defaultdict(list)
    for r in rows:
        if r["kind"] == "tune":
            acc[(r["participant"], r["method"])].append(r["test_acc"])
    methods = _order({m for _, m in acc})
    parts = sorted({p for p, _ in acc})
    cells = {k: (_mean(v), _sd(v), len(v)) for k, v in acc.items()}
    overall = {}
    for m in methods:
        means = [cells[(p, m)][0] for p in parts if (p, m) in cells]
        sds = [cells[(p, m)][1] for p in parts if (p, m) in cells]
        overall[m] = {
            "mean": _mean(means),
            "mean_sd": _mean(sds),
            "sd_participants": _sd(means),
            "participants": len(means),
        }
    return {"methods": methods, "participants": parts, "cells": cells, "mean": overall}


def _header_lines(info: dict, rows: list[dict]) -> list[str]:
    cfg = config_from_info(info)
    d = info["data"]
    where = d["directory"] if Path(d["directory"]).is_absolute() else f"RUN_DIR/{d['directory']}"
    if d["source"] == "synthetic":
        s = d.get("synthetic") or {}
        src = (
            f"synthetic DEAP-format data (lava_nt.examples.eeg.synthetic, "
            f"{s.get('n_participants', len(d['pool']))} participants x {s.get('n_trials', '?')} "
            f"trials x {s.get('n_samples', '?')} samples, generator seed {s.get('seed', '?')}"
            + (
                f", variant {s['variant']}, tonic shift {s.get('tonic_shift', 0)}"
                if s.get("variant", "direction") != "direction" or s.get("tonic_shift")
                else ""
            )
            + f") in {where}"
        )
    else:
        src = f"real DEAP (data_preprocessed_python) in {where}"
    folds = sorted({r["participant"] for r in rows if r["kind"] == "tune"})
    seeds = sorted({r["seed"] for r in rows if r["kind"] == "tune"})
    tune = [r for r in rows if r["kind"] == "tune"]
    pseeds = sorted({r.get("pretrain_seed", cfg.pretrain_seed) for r in tune})
    threads = sorted({r["threads"] for r in rows if r["kind"] == "tune" and "threads" in r})
    return [
        f"protocol: {PROTOCOL_TEXT[cfg.protocol]}",
        f"data: {src}; participant pool {_ranges(d['pool'])}",
        f"settings: {cfg.describe()}",
        f"folds (left-out participants) {_ranges(folds) if folds else 'none yet'}; tuning seeds "
        f"{seeds}; pretraining seeds {pseeds or [cfg.pretrain_seed]}; each fold pretrains on the "
        "other participants of the pool",
        "accuracy: on the left-out participant's balanced test part; mean and sd over the "
        "participant's units (tuning seeds x pretraining seeds; sd ddof=0); the Mean row averages "
        "the participants (its sd = mean of the sds)",
        f"torch threads per unit: {threads[0] if len(threads) == 1 else threads or cfg.threads} "
        "(fixed by the run, recorded in every row)",
    ]


def _model_files(run_dir: Path) -> list[str]:
    """The run's lava-nt model files, relative to the run directory."""
    found = sorted(Path(run_dir).glob(f"pretrained/*/*/{MODEL_FILE}"))
    found += sorted(Path(run_dir).glob(f"units/p*/*/seed-*/{MODEL_FILE}"))
    return [str(p.relative_to(run_dir)) for p in found]


def _models_markdown(run_dir: Path) -> list[str]:
    files = _model_files(run_dir)
    if not files:
        return []
    lines = [
        "",
        "## Model files",
        "",
        f"{len(files)} lava-nt model files (HDF5, provenance in each: fold, method, seed, "
        "protocol, data hashes, training history); every `lava-nt` command opens them, e.g. "
        f"`lava-nt deploy RUN_DIR/{files[-1]} --precision fixed --data D.npz`, "
        f"`lava-nt report RUN_DIR/{files[-1]}`:",
        "",
    ]
    return lines + [f"- `{f}`" for f in files]


def participant_table(table: dict) -> list[str]:
    """The per-participant accuracy table (markdown lines), mean ± sd over units."""
    methods = table["methods"]
    lines = []
    diff = "spiking_bias" in methods and "nt2" in methods
    head = ["participant"] + [f"{m}" for m in methods] + (["spiking_bias - nt2"] if diff else [])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for p in table["participants"]:
        cells = []
        for m in methods:
            c = table["cells"].get((p, m))
            cells.append("-" if c is None else f"{_fmt(c[0])} ± {_fmt(c[1])}")
        if diff:
            a, b = table["cells"].get((p, "spiking_bias")), table["cells"].get((p, "nt2"))
            cells.append("-" if a is None or b is None else f"{a[0] - b[0]:+.3f}")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    mean_cells = [
        f"**{_fmt(table['mean'][m]['mean'])}** ± {_fmt(table['mean'][m]['mean_sd'])}"
        for m in methods
    ]
    if diff:
        a, b = table["mean"]["spiking_bias"]["mean"], table["mean"]["nt2"]["mean"]
        mean_cells.append("-" if a is None or b is None else f"{a - b:+.3f}")
    lines.append("| **Mean** | " + " | ".join(mean_cells) + " |")
    sdp = [_fmt(table["mean"][m]["sd_participants"]) for m in methods]
    lines.append("| sd across participants | " + " | ".join(sdp) + (" | |" if diff else " |"))
    return lines


def cost_table(rows: list[dict]) -> list[str]:
    """Wall time per step (pretraining, tuning, quantisation-aware tuning and deployment per
    method): count, mean, range, total, and per epoch for trainings (markdown lines).

    A unit's ``seconds`` include its QAT stage (``qat_seconds``: QAT training and the evaluation
    of its model); the ``tune`` row counts the rest and the ``qat`` row the QAT stage, so each
    per-epoch time divides a stage's time by that stage's epochs."""
    by, per_epoch = defaultdict(list), defaultdict(list)

    def add(name, seconds, epochs):
        by[name].append(seconds)
        if epochs:
            per_epoch[name].append(seconds / epochs)

    for r in rows:
        if r["kind"] not in ("tune", "pretrain", "deploy") or r.get("seconds") is None:
            continue
        if r["kind"] == "deploy" and r.get("deployable") is False:
            continue
        seconds = float(r["seconds"])
        if r["kind"] == "pretrain":
            add(f"pretrain {r['arch']}", seconds, r.get("epochs"))
        elif r["kind"] == "deploy":
            add(f"deploy {r['method']}", seconds, None)
        else:
            qat = r.get("qat_seconds")
            if qat is not None:
                add(f"qat {r['method']}", float(qat), r.get("qat_epochs_run"))
                seconds -= float(qat)
            add(f"tune {r['method']}", seconds, r.get("epochs_run"))
    if not by:
        return []
    order = [f"pretrain {a}" for a in ARCHS]
    order += [f"{k} {m}" for k in ("tune", "qat", "deploy") for m in METHODS]
    lines = ["| step | count | mean s | min s | max s | total s | mean s per epoch |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in order:
        v = by.get(name)
        if v:
            e = per_epoch.get(name)
            lines.append(
                f"| {name} | {len(v)} | {np.mean(v):.1f} | {min(v):.1f} | {max(v):.1f} | "
                f"{sum(v):.0f} | {f'{np.mean(e):.2f}' if e else '-'} |"
            )
    return lines


def _markdown(info, rows, table, deploy_rows, pre_rows, run_dir=None, stats_lines=()) -> str:
    cfg = config_from_info(info)
    methods = table["methods"]
    lines = [
        f"# EEG valence personalisation: leave-one-subject-out ({cfg.protocol} protocol)",
        "",
    ]
    lines += [f"- {h}" for h in _header_lines(info, rows)]
    lines += ["", "## Test accuracy per left-out participant", ""]
    lines += participant_table(table)
    lines += ["", "Methods: " + "; ".join(f"`{m}` = {METHODS[m].label}" for m in methods), ""]
    lines += list(stats_lines)

    lines += ["## Trainable parameters", ""]
    lines += [
        "| method | network | trained during tuning | trainable parameters |",
        "|---|---|---|---|",
    ]
    for m, arch, n in _param_rows(rows):
        lines.append(f"| {m} | {_arch_text(arch)} | {METHODS[m].tuned} | {n:,} |")
    archs = sorted({METHODS[m].arch for m in methods if METHODS[m].family == "snn"})
    lines.append("")
    lines.append(
        "Pretraining (weights + biases): "
        + "; ".join(f"{ARCHS[a].description}: {pretrain_parameters(a):,}" for a in archs)
    )
    lines += ["", "## Deployment on Lava (CPU simulator)", ""]
    if not deploy_rows:
        lines.append("Not run (`--no-lava`, or no unit has been deployed yet).")
    else:
        lines += _deploy_markdown(deploy_rows)
    if pre_rows:
        lines += ["", "## Pretraining", ""]
        lines += ["| left out | network | pretraining seed | participants | samples | epochs | "
                  "final train acc | seconds |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in pre_rows:
            lines.append(
                f"| {', '.join(map(str, r['left_out']))} | {r['arch']} | "
                f"{r.get('pretrain_seed', cfg.pretrain_seed)} | "
                f"{len(r['pretrain_participants'])} | {r['n_train']} | {r['epochs']} | "
                f"{_fmt(r.get('train_acc'))} | {r.get('seconds', 0):.0f} |"
            )
    cost = cost_table(rows)
    if cost:
        lines += ["", "## Wall time", "", *cost]
    lines += [
        "",
        "## Figures",
        "",
        "- `accuracy_bars.png`: per-participant test accuracy, mean ± sd over units (thesis "
        "Figure 7)",
        "- `bias_current.png`: bias current (line) and bias-neuron spikes (red) of a tuned "
        "spiking-bias model on one test sample (thesis Figure 3)",
        "- `output_raster.png`: output spikes of test samples on Lava (float), one population per "
        "class",
    ]
    if run_dir is not None:
        lines += _models_markdown(run_dir)
    return "\n".join(lines) + "\n"


def _arch_text(arch: str) -> str:
    return ARCHS[arch].description if arch in ARCHS else "logistic regression on the 160 inputs"


def _param_rows(rows):
    seen = {}
    for r in rows:
        if r["kind"] == "tune" and r["method"] not in seen:
            seen[r["method"]] = (r["arch"], r["n_trainable"])
    return [(m, *seen[m]) for m in _order(seen)]


def _deploy_markdown(deploy_rows) -> list[str]:
    by = defaultdict(list)
    for r in deploy_rows:
        if r.get("deployable") is False:
            continue
        by[r["method"]].append(r)
    lines = [
        "Each tuned model's test samples run in one long Lava run per precision; accuracy of the "
        "torch model (float32, as trained) and of Lava on the same samples; spike match = "
        "fraction of equal output spikes (t, sample, neuron) against torch float64 (float) or "
        "the torch fixed-point emulator (fixed). Mean over deployed models (for spike match the "
        "worst model too, when not every model matches exactly).",
        "",
        "| method | models | samples | torch acc | Lava float acc | float spike match | "
        "float/torch prediction agreement | Lava fixed acc | fixed spike match (emulator) | "
        "fixed/float prediction agreement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = set()
    for m in _order(by):
        rs = by[m]
        ok = [r for r in rs if r.get("fixed_status") == "ok"]
        for r in rs:
            if r.get("fixed_status") != "ok":
                notes.add(r.get("fixed_status"))

        def mean(key, rr=rs):
            return _fmt(_mean([r.get(key) for r in rr]))

        def match(key, rr=rs):  # spike match: mean, and the worst model if not all identical
            alt = CHECK_KEYS[key]  # reference-mode rows: Lava vs the reference on checked samples
            vals = [r.get(key, r.get(alt)) for r in rr if r.get(key, r.get(alt)) is not None]
            if not vals:
                return "-"
            return _fmt(float(np.mean(vals))) + (
                "" if min(vals) == 1.0 else f" (min {min(vals):.4f})"
            )

        lines.append(
            f"| {m} | {len(rs)} | {sum(r['n_samples'] for r in rs)} | {mean('torch_acc')} | "
            f"{mean('lava_float_acc')} | {match('float_output_match')} | "
            f"{mean('float_prediction_agreement_f32')} | "
            + (
                f"{mean('lava_fixed_acc', ok)} | {match('fixed_emulator_match', ok)} | "
                f"{mean('fixed_vs_float_prediction_agreement', ok)} |"
                if ok
                else "unavailable | - | - |"
            )
        )
    if notes:
        lines += ["", "Fixed point: " + "; ".join(sorted(str(n) for n in notes))]
    ref = [r for r in deploy_rows if r.get("deploy_engine") == "reference"]
    if ref:
        checked = sorted({int(r.get("lava_check_samples", 0)) for r in ref})
        lines += ["", f"Reference mode (`--lava-check`) for {len(ref)} of {len(deploy_rows)} "
                  "deployments: their Lava accuracies come from the engines the test suite "
                  "proves equal to Lava (torch float64 for Lava float, the bit-exact fixed-point "
                  "emulator for Lava fixed) on every test sample; Lava itself ran "
                  f"{'/'.join(map(str, checked))} sample(s) per model, and their spike match "
                  "columns compare those Lava runs with the reference."]  # fmt: skip
    return lines + qat_report_lines(deploy_rows)


#: spike-match keys of a Lava deployment and their reference-mode counterparts
CHECK_KEYS = {"float_output_match": "lava_check_float_match",
              "fixed_emulator_match": "lava_check_fixed_match"}  # fmt: skip


def _csv_text(header_lines, head, body) -> str:
    buf = io.StringIO()
    for h in header_lines:
        buf.write(f"# {h}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(body)
    return buf.getvalue()


def _results_csv(info, rows, table) -> str:
    methods = table["methods"]
    head = ["participant"]
    for m in methods:
        head += [f"{m}_mean", f"{m}_sd", f"{m}_n"]
    body = []
    for p in table["participants"]:
        line = [p]
        for m in methods:
            c = table["cells"].get((p, m))
            line += ["", "", 0] if c is None else [_num(c[0]), _num(c[1]), c[2]]
        body.append(line)
    line = ["mean"]
    for m in methods:
        o = table["mean"][m]
        line += [_num(o["mean"]), _num(o["mean_sd"]), o["participants"]]
    body.append(line)
    line = ["sd_across_participants"]
    for m in methods:
        line += [_num(table["mean"][m]["sd_participants"]), "", ""]
    body.append(line)
    cfg = config_from_info(info)
    hdr = [f"EEG LOSO results ({cfg.protocol} protocol)"] + _header_lines(info, rows)
    return _csv_text(hdr, head, body)


def _num(v):
    return "" if v is None else f"{v:.6f}"


def _long_csv(info, rows) -> str:
    keys = ["participant", "method", "seed", "pretrain_seed", "protocol", "test_acc",
            "val_acc", "train_acc", "n_trainable", "n_train", "n_val", "n_test", "test_distinct",
            "best_epoch", "epochs_run", "stopped_early", "threads", "seconds"]  # fmt: skip
    body = [
        [r.get(k) for k in keys]
        for r in sorted(
            (r for r in rows if r["kind"] == "tune"),
            key=lambda r: (
                r["participant"],
                list(METHODS).index(r["method"]),
                r["seed"],
                r.get("pretrain_seed", 0),
            ),  # fmt: skip
        )
    ]
    return _csv_text(_header_lines(info, rows), keys, body)


def _deploy_csv(info, rows, deploy_rows) -> str:
    keys = ["participant", "method", "seed", "n_samples", "T", "torch_acc", "torch64_acc",
            "lava_float_acc", "float_output_match", "float_prediction_agreement",
            "float_prediction_agreement_f32", "lava_fixed_acc", "fixed_emulator_match",
            "fixed_vs_float_output_match", "fixed_vs_float_prediction_agreement",
            "quant_max_rel_error", "quant_clipped", "quant_zeroed", "fixed_status",
            "lava_float_seconds", "lava_fixed_seconds", "lava_check_seconds", "deploy_engine",
            "lava_check_samples", "lava_check_float_match", "lava_check_fixed_match"]  # fmt: skip
    if any(r.get("qat_status") is not None for r in deploy_rows):
        keys += list(QAT_DEPLOY_KEYS)
    body = [
        [r.get(k) for k in keys]
        for r in sorted(
            deploy_rows,
            key=lambda r: (r["participant"], list(METHODS).index(r["method"]), r["seed"]),
        )
    ]
    return _csv_text(_header_lines(info, rows), keys, body)


def _params_csv(rows) -> str:
    body = [
        [m, arch, n, pretrain_parameters(arch) or "", METHODS[m].tuned]
        for m, arch, n in _param_rows(rows)
    ]
    return _csv_text(
        [], ["method", "network", "trainable_parameters", "pretraining_parameters", "trained"], body
    )
