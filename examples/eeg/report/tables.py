"""Tables and plots of a LOSO run (:mod:`lava_nt.examples.eeg.pipeline`), like the thesis'
Tables 2/5/6 and Figures 3/7.

:func:`write_report` reads ``RUN/run.json`` and ``RUN/results.jsonl`` and writes into
``RUN/report/``:

* ``results.md`` / ``results.csv``: per left-out participant the mean and sd over seeds of the
  test accuracy of every method, and the mean over participants (its sd column is the mean of the
  per-participant sds, as the thesis' "Mean" rows; the sd across participants is listed too). The
  header names the protocol, the data source and the settings. ``results_long.csv``: one line
  per unit.
* ``parameters.csv`` (and a table in ``results.md``): trainable parameters per method.
* ``deploy.csv`` (and a table): Lava float / fixed-point accuracy beside the torch accuracy and
  the spike agreement, per deployed model and averaged per method.
* ``accuracy_bars.png`` (Figure 7: per-participant accuracy bars, error bars = sd over seeds),
  ``bias_current.png`` (Figure 3: bias current and bias spikes of a tuned spiking-bias model) and
  ``output_raster.png`` (output spikes of test samples on Lava, populations separated).

sd is the population standard deviation over seeds (``ddof=0``, numpy's default).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lava_nt.examples.eeg.pipeline import (
    ARCHS,
    METHODS,
    PROTOCOL_TEXT,
    config_from_info,
    load_results,
    load_run_info,
    unit_dir,
)
from lava_nt.examples.eeg.pipeline.units import MODEL_FILE
from lava_nt.io import atomic_write_text

__all__ = ["accuracy_table", "write_report"]


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


def pretrain_parameters(arch: str) -> int:
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
            f"trials x {s.get('n_samples', '?')} samples, generator seed {s.get('seed', '?')}) "
            f"in {where}"
        )
    else:
        src = f"real DEAP (data_preprocessed_python) in {where}"
    folds = sorted({r["participant"] for r in rows if r["kind"] == "tune"})
    seeds = sorted({r["seed"] for r in rows if r["kind"] == "tune"})
    return [
        f"protocol: {PROTOCOL_TEXT[cfg.protocol]}",
        f"data: {src}; participant pool {_ranges(d['pool'])}",
        f"settings: {cfg.describe()}",
        f"folds (left-out participants) {_ranges(folds) if folds else 'none yet'}; seeds "
        f"{seeds}; each fold pretrains on the other participants of the pool",
        "accuracy: on the left-out participant's balanced test part; mean and sd over seeds "
        "(sd ddof=0); the Mean row averages the participants (its sd = mean of the sds)",
    ]


def _ranges(ids) -> str:
    from lava_nt.examples.eeg.pipeline.run import _ranges as r

    return r(list(ids))


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


def _markdown(info, rows, table, deploy_rows, pre_rows, run_dir=None) -> str:
    cfg = config_from_info(info)
    methods = table["methods"]
    lines = [
        f"# EEG valence personalisation: leave-one-subject-out ({cfg.protocol} protocol)",
        "",
    ]
    lines += [f"- {h}" for h in _header_lines(info, rows)]
    lines += ["", "## Test accuracy per left-out participant", ""]
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
    lines += ["", "Methods: " + "; ".join(f"`{m}` = {METHODS[m].label}" for m in methods), ""]

    lines += ["## Trainable parameters", ""]
    lines += [
        "| method | network | trained during tuning | trainable parameters |",
        "|---|---|---|---|",
    ]
    for m, arch, n in _param_rows(rows):
        lines.append(f"| {m} | {ARCHS[arch].description} | {METHODS[m].tuned} | {n:,} |")
    archs = sorted({METHODS[m].arch for m in methods})
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
        lines += ["| left out | network | participants | samples | epochs | final train acc | "
                  "seconds |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in pre_rows:
            lines.append(
                f"| {', '.join(map(str, r['left_out']))} | {r['arch']} | "
                f"{len(r['pretrain_participants'])} | {r['n_train']} | {r['epochs']} | "
                f"{_fmt(r.get('train_acc'))} | {r.get('seconds', 0):.0f} |"
            )
    lines += [
        "",
        "## Figures",
        "",
        "- `accuracy_bars.png`: per-participant test accuracy, mean ± sd over seeds (thesis "
        "Figure 7)",
        "- `bias_current.png`: bias current (line) and bias-neuron spikes (red) of a tuned "
        "spiking-bias model on one test sample (thesis Figure 3)",
        "- `output_raster.png`: output spikes of test samples on Lava (float), one population per "
        "class",
    ]
    if run_dir is not None:
        lines += _models_markdown(run_dir)
    return "\n".join(lines) + "\n"


def _param_rows(rows):
    seen = {}
    for r in rows:
        if r["kind"] == "tune" and r["method"] not in seen:
            seen[r["method"]] = (r["arch"], r["n_trainable"])
    return [(m, *seen[m]) for m in _order(seen)]


def _deploy_markdown(deploy_rows) -> list[str]:
    by = defaultdict(list)
    for r in deploy_rows:
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
            vals = [r.get(key) for r in rr if r.get(key) is not None]
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
    return lines


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
    keys = ["participant", "method", "seed", "protocol", "test_acc", "val_acc", "train_acc",
            "n_trainable", "n_train", "n_val", "n_test", "best_epoch", "epochs_run",
            "stopped_early", "seconds"]  # fmt: skip
    body = [
        [r.get(k) for k in keys]
        for r in sorted(
            (r for r in rows if r["kind"] == "tune"),
            key=lambda r: (r["participant"], list(METHODS).index(r["method"]), r["seed"]),
        )
    ]
    return _csv_text(_header_lines(info, rows), keys, body)


def _deploy_csv(info, rows, deploy_rows) -> str:
    keys = ["participant", "method", "seed", "n_samples", "T", "torch_acc", "torch64_acc",
            "lava_float_acc", "float_output_match", "float_prediction_agreement",
            "float_prediction_agreement_f32", "lava_fixed_acc", "fixed_emulator_match",
            "fixed_vs_float_output_match", "fixed_vs_float_prediction_agreement",
            "quant_max_rel_error", "quant_clipped", "quant_zeroed", "fixed_status",
            "lava_float_seconds", "lava_fixed_seconds"]  # fmt: skip
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
        [m, arch, n, pretrain_parameters(arch), METHODS[m].tuned]
        for m, arch, n in _param_rows(rows)
    ]
    return _csv_text(
        [], ["method", "network", "trainable_parameters", "pretraining_parameters", "trained"], body
    )


# ---------------------------------------------------------------------------------- plots


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_accuracy_bars(table: dict, protocol: str, path: Path) -> Path:
    """Thesis Figure 7: grouped bars per participant (and the mean), error bars = sd."""
    methods, parts = table["methods"], table["participants"]
    groups = [str(p) for p in parts] + ["mean"]
    fig = _figure((max(6.0, 0.55 * len(groups) * max(1, len(methods)) / 2 + 3), 4.0))
    ax = fig.add_subplot(111)
    width = 0.8 / max(1, len(methods))
    xs = np.arange(len(groups))
    for i, m in enumerate(methods):
        means, sds = [], []
        for p in parts:
            c = table["cells"].get((p, m))
            means.append(np.nan if c is None else c[0])
            sds.append(0.0 if c is None else c[1])
        means.append(table["mean"][m]["mean"] or np.nan)
        sds.append(table["mean"][m]["mean_sd"] or 0.0)
        ax.bar(xs - 0.4 + width * (i + 0.5), means, width, yerr=sds, capsize=2, label=m)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(xs)
    ax.set_xticklabels(groups)
    ax.set_xlabel("left-out participant")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"LOSO tuning test accuracy ({protocol} protocol), mean ± sd over seeds")
    ax.legend(fontsize=8, ncol=min(4, len(methods)), loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _pick_unit(rows, prefer, need_file: str | None = None, run_dir=None):
    tune = [r for r in rows if r["kind"] == "tune"]
    for m in prefer:
        cands = sorted((r for r in tune if r["method"] == m),
                       key=lambda r: (r["participant"], r["seed"]))  # fmt: skip
        for r in cands:
            if (
                need_file is None
                or (unit_dir(run_dir, r["participant"], m, r["seed"]) / need_file).exists()
            ):
                return r
    return None


def plot_bias_current_figure(run_dir: Path, rows, path: Path) -> Path | None:
    """Thesis Figure 3 from a tuned spiking-bias model (one test sample, one target neuron)."""
    import torch

    from lava_nt.examples.eeg.pipeline import load_unit_model
    from lava_nt.nn.spiking_bias import plot_bias_current

    r = _pick_unit(rows, ("spiking_bias", "volumetric", "spiking_bias_sparse"), MODEL_FILE, run_dir)
    if r is None:
        return None
    p, m, s = r["participant"], r["method"], r["seed"]
    net, td = load_unit_model(run_dir, p, m, s)
    cfg = config_from_info(load_run_info(run_dir))
    x = torch.as_tensor(td.x_test[:1], dtype=torch.float32)
    with torch.no_grad():
        _, recs = net.forward_static(x, cfg.T, record=True)
    k = next(i for i, layer in enumerate(net.layers) if layer.spiking_bias is not None)
    sb = net.layers[k].spiking_bias
    cur = recs[k]["bias_current"][:, 0].numpy()
    spk = recs[k]["bias_spikes"][:, 0].numpy()
    counts = spk.sum(0)
    T = spk.shape[0]
    # a bias neuron that spikes, preferably not every step (shows the leak)
    score = np.where((counts > 0) & (counts < T), counts, -1)
    j = int(np.argmax(score)) if score.max() > 0 else int(np.argmax(counts))
    if sb.group is None:
        i = j
    else:
        i = int(np.flatnonzero(sb.group.cpu().numpy() == j)[0])
    fig = _figure((6.5, 3.2))
    ax = fig.add_subplot(111)
    plot_bias_current(cur[:, i], spk[:, j], ax=ax)
    ax.set_title(
        f"{METHODS[m].label}: participant {p}, seed {s}, layer {k + 1} neuron {i} "
        f"(bias neuron {j}, {int(counts[j])} spikes)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_output_raster(run_dir: Path, rows, path: Path, n_samples: int = 4) -> Path | None:
    """Output spikes of a few test samples (Lava float run if deployed, else torch)."""
    prefer = ("spiking_bias", "volumetric", "nt2", "spiking_bias_sparse", "ablation", "tft",
              "nt1", "none")  # fmt: skip
    r = _pick_unit(rows, prefer, "deploy.npz", run_dir)
    source = "Lava float"
    if r is not None:
        p, m, s = r["participant"], r["method"], r["seed"]
        with np.load(unit_dir(run_dir, p, m, s) / "deploy.npz") as z:
            spikes = np.array(z["lava_float"])
            y = np.array(z["y"])
            pred = np.array(z["pred_float"])
    else:
        import torch

        from lava_nt.examples.eeg.deploy import population_predictions
        from lava_nt.examples.eeg.pipeline import load_unit_model

        r = _pick_unit(rows, prefer, None, run_dir)
        if r is None:
            return None
        p, m, s = r["participant"], r["method"], r["seed"]
        net, td = load_unit_model(run_dir, p, m, s)
        cfg = config_from_info(load_run_info(run_dir))
        with torch.no_grad():
            spikes = net.forward_static(
                torch.as_tensor(td.x_test[:n_samples], dtype=torch.float32), cfg.T
            ).numpy()
        y = td.y_test[:n_samples]
        pred = population_predictions(spikes)
        source = "torch"
    k = min(n_samples, spikes.shape[1])
    T, n_out = spikes.shape[0], spikes.shape[2]
    fig = _figure((8.0, 3.6))
    ax = fig.add_subplot(111)
    for b in range(k):
        t, n = np.nonzero(spikes[:, b])
        ax.scatter(t + b * (T + 2), n, s=14, marker="|", color="k", linewidths=1.0)
        ax.text(b * (T + 2) + T / 2, n_out + 2, f"y={int(y[b])} pred={int(pred[b])}",
                ha="center", fontsize=8)  # fmt: skip
        if b:
            ax.axvline(b * (T + 2) - 1, color="grey", linewidth=0.8)
    ax.axhline(n_out / 2 - 0.5, color="tab:red", linewidth=0.8, linestyle="--")
    ax.set_xlim(-1, k * (T + 2) - 1)
    ax.set_ylim(-1, n_out + 6)
    ax.set_xlabel(f"time step ({k} test samples x {T} steps)")
    ax.set_ylabel("output neuron (low | high valence)")
    ax.set_title(f"{source} output spikes: {METHODS[m].label}, participant {p}, seed {s}",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    return path


# ---------------------------------------------------------------------------------- entry


def write_report(run_dir, log: Callable[[str], None] = print, plots: bool = True) -> dict:
    """Write the tables and plots of ``run_dir`` into ``run_dir/report``; returns the paths."""
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    rows = load_results(run_dir)
    out = run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    table = accuracy_table(rows)
    deploy_rows = [r for r in rows if r["kind"] == "deploy"]
    pre_rows = [r for r in rows if r["kind"] == "pretrain"]
    paths = {}
    paths["markdown"] = out / "results.md"
    _atomic_write_text(
        paths["markdown"], _markdown(info, rows, table, deploy_rows, pre_rows, run_dir)
    )
    paths["csv"] = out / "results.csv"
    _atomic_write_text(paths["csv"], _results_csv(info, rows, table))
    paths["long_csv"] = out / "results_long.csv"
    _atomic_write_text(paths["long_csv"], _long_csv(info, rows))
    paths["parameters"] = out / "parameters.csv"
    _atomic_write_text(paths["parameters"], _params_csv(rows))
    if deploy_rows:
        paths["deploy"] = out / "deploy.csv"
        _atomic_write_text(paths["deploy"], _deploy_csv(info, rows, deploy_rows))
    if plots and table["methods"]:
        cfg = config_from_info(info)
        paths["accuracy_bars"] = plot_accuracy_bars(table, cfg.protocol, out / "accuracy_bars.png")
        for name, fn in (
            ("bias_current", plot_bias_current_figure),
            ("output_raster", plot_output_raster),
        ):
            try:
                p = fn(run_dir, rows, out / f"{name}.png")
            except Exception as exc:  # noqa: BLE001 - a plot must not lose the tables
                log(f"warning: {name}.png not written ({type(exc).__name__}: {exc})")
                p = None
            if p is not None:
                paths[name] = p
    log(f"report written to {out}:")
    for k, p in paths.items():
        log(f"  {k:14s} {p}")
    return paths
