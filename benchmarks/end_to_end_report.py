"""The end-to-end benchmark's section: per-fold stage costs, extrapolation to 32 folds, the
FLOP lower bound and hot spots, rendered for BENCHMARKS.md (:func:`section`; measured by
``bench_end_to_end.py``)."""

from __future__ import annotations

import statistics

import common

N_PARTICIPANTS = 32
TARGET_MIN = 20.0
MAIN_METHODS = ("none", "nt2")
GROUP = 4  # --fold-group-size for the derived estimate


def _tune_flops(method: str, sizes, T: int) -> tuple[float, float]:
    """(FLOPs per training sample and epoch, FLOPs per evaluated sample) of a tuning method.

    ``tft`` trains everything (``full``); the others freeze the weights (``tune``). The spiking
    bias methods add one bias neuron per neuron driven by a dense ``W_in`` (n x n_prev) on every
    layer: ``spiking_bias`` doubles the forward and input-gradient matmuls; in
    ``spiking_bias_sparse`` W_in is 90% zero (masked), counted at 10% density (forward, input and
    weight gradients) since a sparse implementation need not do more. ``volumetric``'s 40 bias
    neurons on layer 1 are negligible."""
    f = common.static_matmul_flops(sizes, T)
    if method == "tft":
        return f["full"], f["fwd"]
    if method == "spiking_bias":
        return 2 * f["tune"], 2 * f["fwd"]
    if method == "spiking_bias_sparse":
        return f["tune"] + 0.1 * f["full"], 1.1 * f["fwd"]
    return f["tune"], f["fwd"]


def _fmt_s(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.0f} s"


def pl_key(p: int) -> str:
    """The pretraining key of fold ``p`` (fold group size 1)."""
    return f"without-p{p:02d}"


def _per_fold_stages(folds, pre, tune, dep, archs, methods_info, T: int):
    """Seconds and nominal FLOPs of every stage ("pretrain ARCH", "tune M", "deploy M") per
    fold, from the journal rows."""
    per_fold: dict[int, dict[str, float]] = {}
    flops_fold: dict[int, dict[str, float]] = {}
    for p in folds:
        key = pl_key(p)
        st: dict[str, float] = {}
        fl: dict[str, float] = {}
        for r in pre:
            if r["key"] == key:
                st[f"pretrain {r['arch']}"] = r["seconds"]
                f = common.static_matmul_flops(archs[r["arch"]].sizes, T)
                fl[f"pretrain {r['arch']}"] = f["full"] * r["n_train"] * r["epochs"]
        for r in tune:
            if r["participant"] != p:
                continue
            m = r["method"]
            st[f"tune {m}"] = r["seconds"]
            step, fwd = _tune_flops(m, archs[methods_info[m].arch].sizes, T)
            ev = (r["n_train"] + r["n_val"] + r["n_test"]) * fwd
            fl[f"tune {m}"] = (
                0.0 if m == "none" else r["epochs_run"] * (r["n_train"] * step + r["n_val"] * fwd)
            ) + ev
            d = dep.get((p, m))
            if d is not None:
                st[f"deploy {m}"] = d.get("seconds") or _lava_seconds(d)
        per_fold[p] = st
        flops_fold[p] = fl
    return per_fold, flops_fold


def _lava_seconds(row: dict) -> float:
    """Seconds a deployment row spent in Lava runs (separate runs, or the reference mode's
    checks in one runtime)."""
    keys = ("lava_float_seconds", "lava_fixed_seconds", "qat_lava_fixed_seconds",
            "lava_check_seconds")  # fmt: skip
    return sum(row.get(k) or 0 for k in keys)


def _fold_total(st, keep=lambda k: True):
    return sum(v for k, v in st.items() if keep(k))


def _extrapolate(per_fold, keep, once, other_per_fold, g_scale, group: int = 1):
    """(mean, min, max) 32-fold seconds: data + features + report ``once``, + per fold."""
    totals = []
    for st in per_fold.values():
        s = 0.0
        for k, v in st.items():
            if not keep(k):
                continue
            if k.startswith("pretrain") and group > 1:
                v = v / group * g_scale
            s += v
        totals.append(s + other_per_fold)
    scale_folds = N_PARTICIPANTS
    return (
        once + scale_folds * statistics.mean(totals),
        once + scale_folds * min(totals),
        once + scale_folds * max(totals),
    )


def _keep_methods(ms, methods_info):
    """A stage filter: the stages of methods ``ms`` (and the pretraining of their arches)."""

    def keep(k):
        kind, name = k.split(" ", 1)
        if kind == "pretrain":
            return any(methods_info[m].arch == name for m in ms)
        return name in ms

    return keep


def _figure(name: str, est, bound, tgt: float) -> dict:
    mean, lo, hi = est
    met = mean <= tgt
    raw = f"{_fmt_s(mean)} (per-fold spread: {_fmt_s(lo)}-{_fmt_s(hi)})"
    if bound is not None:
        raw += (
            f"; dense-matmul lower bound {_fmt_s(bound[0])} at the measured 2-thread SGEMM "
            f"rate, {_fmt_s(bound[1])} at the theoretical FP32 peak"
        )
    return common.figure(
        name,
        mean / 60,
        raw,
        f"< {TARGET_MIN:g} min",
        met,
        unit=" min",
        result=common.target_text(met, mean, tgt, False),
    )  # fmt: skip


def _epochs_text(k: str, folds, epochs_of, pre_epochs) -> str:
    kind, name = k.split(" ", 1)
    if kind == "tune":
        return "/".join(str(epochs_of.get((p, name), "-")) for p in folds)
    if kind == "pretrain":
        return "/".join(str(pre_epochs.get((pl_key(p), name), "-")) for p in folds)
    return ""


def _stage_table(folds, stages, per_fold, flops_fold, pre, tune, total_32) -> list[str]:
    """The header and one row per stage of the breakdown table."""
    scale_folds = N_PARTICIPANTS
    head = "| stage | " + " | ".join(f"fold p{p:02d}" for p in folds) + " | mean per fold | " \
        "x 32 folds | share | epochs run | GFLOP (mean) | GFLOP/s achieved |"  # fmt: skip
    tab = [head, "|" + "---|" * (len(folds) + 7)]
    epochs_of = {(r["participant"], r["method"]): r["epochs_run"] for r in tune}
    pre_epochs = {(r["key"], r["arch"]): r["epochs"] for r in pre}
    for k in stages:
        vals = [per_fold[p].get(k) for p in folds]
        have = [v for v in vals if v is not None]
        mean = statistics.mean(have) if have else 0.0
        ep = _epochs_text(k, folds, epochs_of, pre_epochs)
        gfl = [flops_fold[p].get(k) for p in folds]
        gfl = [g for g in gfl if g is not None]
        gmean = statistics.mean(gfl) / 1e9 if gfl else None
        rate = f"{sum(gfl) / sum(have) / 1e9:.1f}" if gfl and have and sum(have) > 0 else ""
        tab.append(
            f"| {k} | "
            + " | ".join("-" if v is None else f"{v:.1f} s" for v in vals)
            + f" | {mean:.1f} s | {_fmt_s(mean * scale_folds)} | "
            f"{100 * mean * scale_folds / total_32:.1f} % | {ep} | "
            + ("" if gmean is None else f"{gmean:.1f}")
            + f" | {rate} |"
        )
    return tab


def _stage_rate(folds, per_fold, flops_fold, k):
    """Achieved nominal FLOP/s of a stage over the measured folds (None: no time measured)."""
    secs = sum(per_fold[p].get(k, 0.0) for p in folds)
    return sum(flops_fold[p].get(k, 0.0) for p in folds) / secs if secs > 0 else None


def _hotspot_text(folds, per_fold, flops_fold, total_32) -> str:
    """The note on the spiking-bias units' FLOP rate against nt2's ("" when not measured)."""
    scale_folds = N_PARTICIPANTS
    hot = []
    r_nt2 = _stage_rate(folds, per_fold, flops_fold, "tune nt2")
    for m in ("spiking_bias", "spiking_bias_sparse"):
        r_m = _stage_rate(folds, per_fold, flops_fold, f"tune {m}")
        if r_nt2 and r_m:
            secs = statistics.mean(per_fold[p].get(f"tune {m}", 0.0) for p in folds)
            hot.append((m, r_m, secs, secs * (1 - r_m / r_nt2)))
    hot_text = ""
    if hot:
        saved = sum(h[3] for h in hot)
        hot_text = (
            "Hotspot: the spiking-bias units run at "
            + ", ".join(f"{m} {r / 1e9:.1f} GFLOP/s ({sec:.0f} s per fold)" for m, r, sec, _ in hot)
            + f" vs nt2's {r_nt2 / 1e9:.1f} GFLOP/s (their bias path counted; the bias neurons "
            "are a second NTLIF population on every layer, fused like the layer itself, and "
            "spiking_bias_sparse's masked W_in is computed dense: see the 'Tuning unit cost' "
            f"section). At nt2's rate they would take {saved:.0f} s less per fold "
            f"({_fmt_s(saved * scale_folds)} of the {_fmt_s(total_32)})."
        )
    return hot_text


def section(
    *, quick, folds, config, syn, rows, t_gen, t_feat, t_pipe, t_report, data_bytes, profiles,
    lava_su, gemm2, gemm1, summary, loads, archs, methods_info, ckpt_every,
) -> dict:  # fmt: skip
    T = config.T
    pre = [r for r in rows if r["kind"] == "pretrain"]
    tune = [r for r in rows if r["kind"] == "tune"]
    dep = {(r["participant"], r["method"]): r for r in rows if r["kind"] == "deploy"}
    methods = list(config.methods)
    n_pool = syn.n_participants
    scale_folds = N_PARTICIPANTS  # quick mode too (its numbers are only a smoke test)
    g_scale = (N_PARTICIPANTS - GROUP) / (N_PARTICIPANTS - 1)  # pretraining set size ratio

    # ---- per fold, per stage -----------------------------------------------------------------
    per_fold, flops_fold = _per_fold_stages(folds, pre, tune, dep, archs, methods_info, T)
    stages = list(dict.fromkeys(k for st in per_fold.values() for k in st))

    measured_stages = sum(_fold_total(st) for st in per_fold.values())
    other = t_pipe - measured_stages  # feature loading from the cache, unit set-up, logging
    other_per_fold = other / len(folds)
    once = t_gen + t_feat + t_report

    def extrapolate(keep, group: int = 1) -> tuple[float, float, float]:
        return _extrapolate(per_fold, keep, once, other_per_fold, g_scale, group)

    all_keep = _keep_methods(methods, methods_info)
    main_keep = _keep_methods([m for m in MAIN_METHODS if m in methods], methods_info)
    est_all = extrapolate(all_keep)
    est_main = extrapolate(main_keep)
    est_group = extrapolate(all_keep, GROUP)
    est_group_main = extrapolate(main_keep, GROUP)

    # ---- lower bound from FLOPs ----------------------------------------------------------------
    fl_fold = statistics.mean(sum(fl.values()) for fl in flops_fold.values())
    fl_pre = statistics.mean(
        sum(v for k, v in fl.items() if k.startswith("pretrain")) for fl in flops_fold.values()
    )
    fl_main = statistics.mean(
        sum(v for k, v in fl.items() if main_keep(k)) for fl in flops_fold.values()
    )
    bound_all = scale_folds * fl_fold / gemm2
    bound_main = scale_folds * fl_main / gemm2
    bound_pre = scale_folds * fl_pre / gemm2
    peak = common.peak_flops()
    peak_rate = peak["peak_flops"]
    bound_all_peak = scale_folds * fl_fold / peak_rate
    bound_main_peak = scale_folds * fl_main / peak_rate

    label = "" if not quick else " [QUICK: small data, 2+20 epochs, NOT thesis settings]"
    tgt = TARGET_MIN * 60
    figs = [
        _figure(name, est, bound, tgt)
        for name, est, bound in (
            (f"32-participant LOSO, one seed, all methods (extrapolated from {len(folds)} "
             f"fold{'s' if len(folds) > 1 else ''}){label}", est_all, (bound_all, bound_all_peak)),
            (f"32-participant LOSO, one seed, none + nt2 only (extrapolated){label}", est_main,
             (bound_main, bound_main_peak)),
            (f"32-participant LOSO, one seed, all methods, --fold-group-size {GROUP} (derived)"
             f"{label}", est_group, None),
            (f"32-participant LOSO, one seed, none + nt2, --fold-group-size {GROUP} (derived)"
             f"{label}", est_group_main, None),
        )
    ]  # fmt: skip

    # ---- breakdown table ---------------------------------------------------------------------
    total_32 = est_all[0]
    tab = _stage_table(folds, stages, per_fold, flops_fold, pre, tune, total_32)
    v = other_per_fold
    tab.append(
        "| other (feature cache load, unit set-up, logging) | "
        + " | ".join("" for _ in folds)
        + f" | {v:.1f} s | {_fmt_s(v * scale_folds)} | "
        + f"{100 * v * scale_folds / total_32:.1f} % | | | |"
    )
    for k, v in (
        (f"data generation ({n_pool} participants, once)", t_gen),
        (f"feature extraction ({n_pool} participants, once)", t_feat),
        ("report (tables + plots, once)", t_report),
    ):
        tab.append(
            f"| {k} | "
            + " | ".join("" for _ in folds)
            + f" | | {_fmt_s(v)} | {100 * v / total_32:.1f} % | | | |"
        )
    fold_tot = [_fold_total(per_fold[p]) + other_per_fold for p in folds]
    tab.append(
        "| **fold total** | "
        + " | ".join(f"**{v:.0f} s**" for v in fold_tot)
        + f" | **{statistics.mean(fold_tot):.0f} s** | **{_fmt_s(total_32)}** (with the "
        "one-off stages) | 100 % | | "
        f"{fl_fold / 1e9:.0f} | {fl_fold / 1e9 / statistics.mean(fold_tot):.1f} |"
    )

    # ---- profile table -----------------------------------------------------------------------
    ptab = [
        "| tuning unit (profiled, "
        f"{profiles[0]['epochs']} epochs, no early stop) | wall s/epoch | "
        + " | ".join(profiles[0]["parts_per_epoch"])
        + " | checkpoint size |",
        "|---|---|" + "---|" * (len(profiles[0]["parts_per_epoch"]) + 1),
    ]
    for pr in profiles:
        tot = pr["profiled_per_epoch"]
        ptab.append(
            f"| {pr['method']} (p{pr['participant']:02d}, {pr['n_train']} train + "
            f"{pr['n_val']} val samples) | {pr['wall_per_epoch'] * 1e3:.0f} ms | "
            + " | ".join(
                f"{v * 1e3:.1f} ms ({100 * v / tot:.0f} %)" for v in pr["parts_per_epoch"].values()
            )
            + f" | {pr['checkpoint_bytes'] / 1e6:.1f} MB |"
        )

    # ---- text ----------------------------------------------------------------------------------
    tuned_units = [r for r in tune if r["method"] != "none"]
    stopped = sum(1 for r in tuned_units if r["stopped_early"])
    dep_rows = [r for r in dep.values()]
    mean_dep = statistics.mean(r.get("seconds") or 0 for r in dep_rows) if dep_rows else 0
    mean_lava = statistics.mean(_lava_seconds(r) for r in dep_rows) if dep_rows else 0
    fl_main_arch = common.static_matmul_flops(archs["main"].sizes, T)
    fl_abl_arch = common.static_matmul_flops(archs["ablation"].sizes, T)
    setup = [
        "What: the real `lava-nt eeg run` pipeline (`run_pipeline`, in process) on synthetic "
        f"DEAP-format data, {n_pool} participants x {syn.n_trials} trials x 40 channels x "
        f"{syn.n_samples} samples ({data_bytes / 1e9:.2f} GB), LOSO folds (left-out "
        f"participants) {', '.join(map(str, folds))} of {n_pool}, seed 0, methods "
        f"{', '.join(methods)}, Lava float + fixed deployment of every model"
        + (
            f" (at most {config.lava_samples} test samples)"
            if config.lava_samples
            else " (all test samples)"
        )
        + ".",  # fmt: skip
        f"Settings: {config.describe()}; protocol {config.protocol}; torch threads "
        f"{config.threads} (the pipeline's default); fused training {config.fused}; trainer "
        f"checkpoints: {ckpt_every}; git {common.git_commit()}."
        + (
            " **QUICK MODE: NOT the thesis settings** (small data, few epochs, lr 3e-3); the "
            "numbers only check the script."
            if quick
            else ""
        ),  # fmt: skip
        f"Measured: pipeline wall {t_pipe:.0f} s for {summary.units_run} units and "
        f"{summary.deployed} deployments; stage seconds from `results.jsonl` (pretraining per "
        "fold and architecture, tuning unit per method, deployment per model incl. quantisation "
        "and the torch/emulator comparisons); 'other' = pipeline wall minus the stages.",
        f"Extrapolation: data generation + features + report once, plus {scale_folds} x the "
        "mean measured fold (the range uses the cheapest / dearest measured fold). none + nt2: "
        "only the main pretraining and those two units. --fold-group-size "
        f"{GROUP}: {scale_folds // GROUP} pretrainings per architecture instead of "
        f"{scale_folds}, each on {scale_folds - GROUP} instead of {scale_folds - 1} participants "
        f"(pretraining seconds x 1/{GROUP} x {scale_folds - GROUP}/{scale_folds - 1}: epochs are "
        "linear in "
        "the sample count), tuning and deployment unchanged (derived, not run).",
        f"Lower bound: dense matmul FLOPs (per sample: main network full training "
        f"{fl_main_arch['full'] / 1e6:.1f} M, tuning {fl_main_arch['tune'] / 1e6:.1f} M, "
        f"forward {fl_main_arch['fwd'] / 1e6:.1f} M; ablation network full "
        f"{fl_abl_arch['full'] / 1e6:.1f} M; layer 1 counted once per sample since its input is "
        "static) of every pretraining and tuning epoch as actually run, divided by the "
        f"measured 2048^3 SGEMM rate: {gemm2 / 1e9:.0f} GFLOP/s with 2 threads "
        f"({gemm1 / 1e9:.0f} GFLOP/s with 1 thread), the better of 1-s measurements at the "
        "start and at the end of this benchmark; theoretical peak "
        f"{peak['text']}. Spiking-bias methods: see `_tune_flops` (their bias path counted).",
        f"Load average (1/5/15 min): start {loads[0]}, after the pipeline {loads[1]}, end "
        f"{loads[2]} (shared machine: other sessions ran at the same time).",
    ]
    per_fold_h = statistics.mean(fold_tot) / 3600
    n_tr = [r["n_train"] for r in tuned_units] or [0]
    n_batches = -(-max(n_tr) // config.batch_size)

    hot_text = _hotspot_text(folds, per_fold, flops_fold, total_32)
    notes = [
        f"Why the target is missed: one fold costs {statistics.mean(fold_tot) / 60:.1f} min "
        f"here ({per_fold_h * scale_folds:.1f} h for {scale_folds} folds). Pretraining both "
        f"architectures on {n_pool - 1} participants is "
        f"{fl_pre / 1e12:.2f} TFLOP per fold ({bound_pre / 60:.0f} min for {scale_folds} folds "
        f"even at the 2-thread SGEMM rate); all pretrainings and tunings as run are "
        f"{fl_fold / 1e12:.2f} TFLOP per fold, {scale_folds * fl_fold / 1e12:.0f} TFLOP in all: "
        f"{_fmt_s(bound_all)} at the measured {gemm2 / 1e9:.0f} GFLOP/s, "
        f"{_fmt_s(bound_all_peak)} even at the theoretical {peak_rate / 1e9:.0f} GFLOP/s of "
        "both cores, "
        + (
            "i.e. no dense implementation on this machine can reach 20 min."
            if bound_all_peak > tgt
            else (
                "i.e. a dense implementation could reach 20 min only near the GEMM peak."
                if bound_all > tgt
                else "so 20 min is reachable in principle."
            )
        )  # fmt: skip
        + f" The pipeline reaches {fl_fold / 1e9 / statistics.mean(fold_tot):.1f} GFLOP/s "
        f"over a fold ({100 * fl_fold / statistics.mean(fold_tot) / gemm2:.0f} % of the 2-thread "
        f"SGEMM rate, {100 * fl_fold / statistics.mean(fold_tot) / gemm1:.0f} % of the 1-thread "
        "rate): batch 32 x 25 steps of small matmuls, the T-step loop and the per-epoch "
        f"validation pass of tiny tuning sets ({n_batches} training batches per epoch) keep it "
        "far from the GEMM rate, and it uses one thread (one core).",
        f"Tuning: {stopped} of {len(tuned_units)} tuned units stopped early (patience "
        f"{config.patience}); epochs run per unit are in the table. Lava deployment "
        f"{mean_dep:.1f} s per model on average (float + fixed + quantisation + emulator), of "
        f"which the two Lava runs {mean_lava:.1f} s: "
        f"Lava start-up {lava_su['startup_s']:.1f} s per run (float, 1 sample: "
        f"{lava_su['one_sample_s']:.1f} s for {lava_su['one_sample_steps']} steps; "
        f"{lava_su['n']} samples: {lava_su['all_s']:.1f} s for {lava_su['all_steps']} steps, "
        f"{lava_su['per_step_ms']:.2f} ms per step), two runs per model.",
        "Per-epoch overhead of a tuning unit (cProfile of the trainer; the profiler inflates "
        "Python-heavy parts somewhat): see the second table. The checkpoint (torch.save of "
        "model + Adam state) and the metrics line are the trainer's (`lava_nt/training.py`; "
        "checkpoint policy in the setup above); the per-epoch validation pass is what the "
        "honest protocol needs.",
        "Cheaper ways to the full experiment on this machine (not measured here): "
        f"--fold-group-size {GROUP} (figure above), fewer methods (none + nt2), and running two "
        "pipeline processes on disjoint folds (each uses one thread; separate --out directories "
        "or one after the other on the same one, since a run directory is locked) to use both "
        "cores. The thesis' 5 seeds multiply the tuning + deployment part by 5 (pretraining is "
        "shared by the seeds).",
    ]
    if hot_text:
        notes.insert(1, hot_text)
    return {
        "title": "End to end: 32-participant EEG LOSO (one seed), extrapolated"
        + (" [quick]" if quick else ""),
        "value_header": "value",
        "setup": setup,
        "figures": figs,
        "notes": notes,
        "extra": ["\n".join(tab), "\n".join(ptab)],
        "measured": {
            "per_fold": {str(p): per_fold[p] for p in folds},
            "flops_per_fold": {str(p): flops_fold[p] for p in folds},
            "t_gen": t_gen,
            "t_feat": t_feat,
            "t_pipe": t_pipe,
            "t_report": t_report,
            "other_per_fold": other_per_fold,
            "gemm2": gemm2,
            "rows": rows,
            "gemm1": gemm1,
            "profiles": profiles,
            "lava_startup": lava_su,
            "estimates_s": {
                "all": est_all,
                "main": est_main,
                "group": est_group,
                "group_main": est_group_main,
                "bound_all": bound_all,
                "bound_main": bound_main,
            },
        },
    }
