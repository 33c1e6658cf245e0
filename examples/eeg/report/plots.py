"""Figures of a LOSO run: thesis Figure 7 (accuracy bars), Figure 3 (bias current) and an output
raster of test samples on Lava."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lava_nt.examples.eeg.deploy import population_predictions
from lava_nt.examples.eeg.pipeline import (
    METHODS,
    MODEL_FILE,
    config_from_info,
    load_run_info,
    load_unit_model,
    unit_dir,
)
from lava_nt.nn.spiking_bias import plot_bias_current

__all__ = ["plot_accuracy_bars", "plot_bias_current_figure", "plot_output_raster"]


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
