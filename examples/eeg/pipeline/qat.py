"""Quantisation-aware tuning of the EEG units (``lava-nt eeg run --qat``).

With ``PipelineConfig.qat`` every tuned spiking unit (participant, method, seed) is tuned a second
time, through the Loihi fixed-point network (:class:`lava_nt.qat.QATNetwork`): the same pretrained
network, the same seeded tuning method, data, trainer settings and epoch selection as the float
tuning, with scales chosen by the quantiser from the pretrained values (``qat_init="float"``,
``--qat-init float``: instead it starts from the float unit's tuned model, with the scales chosen
from those values, and fine-tunes it, at most ``qat_epochs`` epochs). Its model file is
``units/pNN/METHOD/seed-S/qat/model.h5`` (the latent float network with the trained fixed-point
network attached, provenance as the float unit's; checkpoint and exact resume in the same
directory, the checkpoint removed once the unit's results row is recorded unless
``keep_checkpoints``). The unit's results row gains ``qat_*`` fields (:func:`qat_unit_fields`)
and its deployment row the Lava fixed-point run of that network compared with the training forward
(:func:`lava_nt.examples.eeg.deploy.deploy_qat_model`): what was tuned is what runs, bit for bit.

So a run reports per method: float tuning deployed in float (Lava float), the same model
post-training-quantised (Lava fixed, PTQ) and the QAT model on Lava fixed point.
:func:`fixed_float_gap` pools the fixed-minus-float differences over participants and seeds with a
paired confidence interval.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from lava_nt.converters.model_file import load_model
from lava_nt.examples.eeg.deploy import deploy_qat_model
from lava_nt.examples.eeg.pipeline.config import METHODS
from lava_nt.examples.eeg.pipeline.steps import (
    QAT_DIR,
    _tensors,
    _train_config,
    model_path,
    pretrain_key,
    unit_dir,
)
from lava_nt.io import to_jsonable
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, evaluate, train
from lava_nt.tuning import METHODS as TUNING


def qat_applies(method) -> bool:
    """QAT tunes the spiking methods of :mod:`lava_nt.tuning` (not ``none``, the baselines or
    ``ondevice``, which learns its fixed-point network with the integer rule itself)."""
    tuning = getattr(method, "tuning", None)
    family = getattr(method, "family", "snn")
    if getattr(method, "learner", "bptt") != "bptt":
        return False
    return bool(tuning) and family == "snn" and all(t in TUNING for t in tuning)


def qat_dir(run_dir, participant: int, method: str, seed: int) -> Path:
    return unit_dir(run_dir, participant, method, seed) / QAT_DIR


def qat_unit_fields(pipe, participant: int, method: str, seed: int, group, td) -> dict:
    """Tune (or reload) the QAT model of one unit and return its ``qat_*`` results fields:
    accuracies of the training forward (= Lava fixed point) on the train / val / test parts,
    selected epoch, epochs run, the scales and the seconds it took."""
    m = METHODS[method]
    if not qat_applies(m):
        return {}
    c = pipe.config
    t0 = time.perf_counter()
    d = qat_dir(pipe.run_dir, participant, method, seed)
    path = model_path(d)
    if path.exists():
        qat = QATNetwork.load(path)
        meta = load_model(path)[1].meta
    else:
        d.mkdir(parents=True, exist_ok=True)
        if c.qat_init == "float":  # QAT fine-tuning of the float unit's tuned model
            net = pipe.finished_network(participant, method, seed, group)
        else:
            net, _ = pipe.tuned_network(participant, method, seed, group)
        net = net.to(torch.device("cpu"))
        qat = QATNetwork(net)
        cfg = _train_config(c, tune=True, seed=seed)
        cfg.progress = False
        if c.qat_epochs is not None:
            cfg.epochs = c.qat_epochs
        val = _tensors(td.x_val, td.y_val) if c.select == "val" else None
        test = _tensors(td.x_test, td.y_test) if c.select == "test" else None
        res = train(
            qat, _tensors(td.x_train, td.y_train), cfg, val_data=val, test_data=test,
            run_dir=d, resume=True,
        )  # fmt: skip
        meta = {
            "role": "tuned (QAT)", "participant": participant, "method": method,
            "arch": m.arch, "tuning": list(m.tuning), "tuning_methods": list(m.tuning),
            "pretrain_key": pretrain_key(group), "history": res.history,
            "best_epoch": res.best_epoch, "stopped": bool(res.stopped_early),
            "data_sha256": pipe._data_hashes([participant]), **pipe._provenance(),
            "seed": int(seed), "data_protocol": c.protocol, "n_classes": 2,
            "qat_init": c.qat_init,
            "population": qat.n_out // 2, "seconds": round(time.perf_counter() - t0, 2),
        }  # fmt: skip
        qat.save(path, meta=to_jsonable(meta), overwrite=True)
    ecfg = TrainConfig(T=c.T, batch_size=c.batch_size, spike_l1=c.spike_l1, select="last")
    out = {}
    for part in ("train", "val", "test"):
        x, y = getattr(td, f"x_{part}"), getattr(td, f"y_{part}")
        out[f"qat_{part}_acc"] = evaluate(qat, *_tensors(x, y), ecfg)["acc"] if len(y) else None
    out.update(
        qat_best_epoch=meta.get("best_epoch"),
        qat_epochs_run=len(meta.get("history", [])),
        qat_stopped_early=bool(meta.get("stopped", False)),
        qat_scales=[float(s) for s in qat.scales],
        qat_seconds=round(time.perf_counter() - t0, 2),
    )
    return out


def qat_deploy_fields(
    pipe, participant: int, method: str, seed: int, x, y, row: dict, checks=None
) -> dict:
    """Deploy the unit's QAT model on Lava fixed point (:func:`deploy_qat_model`) on the same
    samples as the float deployment ``row``; ``{}`` for methods QAT does not apply to. In
    reference mode its Lava check is queued on ``checks`` (a ``LavaChecks``) when given."""
    if not qat_applies(METHODS[method]):
        return {}
    path = model_path(qat_dir(pipe.run_dir, participant, method, seed))
    if not path.exists():
        return {"qat_status": f"no QAT model in {path.parent}"}
    return deploy_qat_model(
        path, x, y, T=pipe.config.T, timeout=pipe.config.lava_timeout,
        float_pred=row.get("lava_float_pred"), lava_check=pipe.config.lava_check, checks=checks,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- statistics


def _t_quantile(df: int, level: float = 0.95) -> float:
    return float(stats.t.ppf(0.5 + level / 2, df))


def paired_interval(diffs, level: float = 0.95) -> dict:
    """Mean of paired differences with a t confidence interval (``n``, ``mean``, ``sd``,
    ``low``, ``high``, ``width``); NaNs without at least two values."""
    d = np.asarray([v for v in diffs if v is not None], dtype=np.float64)
    n = int(d.size)
    if n < 2:
        nan = float("nan")
        mean = float(d.mean()) if n else nan
        return {"n": n, "mean": mean, "sd": nan, "low": nan, "high": nan, "width": nan}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = _t_quantile(n - 1, level) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half,
            "width": 2 * half}  # fmt: skip


def fixed_float_gap(rows: list[dict], level: float = 0.95) -> dict:
    """Pooled fixed-minus-float accuracy differences (percentage points) with paired intervals.

    Per unit (participant, method, seed) with a deployment row: ``ptq`` = Lava fixed point of the
    quantised float model minus Lava float of the same model (the same model: the difference is
    the quantisation alone); ``qat`` = the QAT model on Lava fixed point minus the float-tuned
    model on Lava float (two tuning runs of the same unit). Pooled over every participant and
    seed, per method and over all methods: ``{"ptq": {method | "all": interval}, "qat": ...}``
    (:func:`paired_interval` over units, in points) and the same over participants
    (``"ptq_by_participant"``, ``"qat_by_participant"``: each participant's mean over its seeds
    (and methods, for "all") is one value, so units of one person are not counted as independent),
    plus the number of QAT units that were bit-exact."""
    dep = [r for r in rows if r.get("kind") == "deploy" and r.get("lava_float_acc") is not None]
    out: dict = {"level": level, "ptq": {}, "qat": {}}
    for kind, key in (("ptq", "lava_fixed_acc"), ("qat", "qat_lava_fixed_acc")):
        by: dict[str, list[float]] = {}
        per: dict[str, dict[int, list[float]]] = {}
        for r in dep:
            if r.get(key) is None:
                continue
            d = 100.0 * (r[key] - r["lava_float_acc"])
            for m in (r["method"], "all"):
                by.setdefault(m, []).append(d)
                per.setdefault(m, {}).setdefault(int(r["participant"]), []).append(d)
        out[kind] = {m: paired_interval(v, level) for m, v in by.items()}
        out[f"{kind}_by_participant"] = {
            m: paired_interval([float(np.mean(v)) for v in ps.values()], level)
            for m, ps in per.items()
        }
    exact = [bool(r["qat_bit_exact"]) for r in dep if r.get("qat_bit_exact") is not None]
    out["qat_bit_exact"] = {"units": len(exact), "bit_exact": int(sum(exact))}
    return out


def gap_markdown(gap: dict) -> str:
    """The :func:`fixed_float_gap` result as a markdown table."""
    pct = int(round(100 * gap["level"]))
    lines = [
        f"| method | units | PTQ fixed - float (points, {pct}% CI over units) | CI width | "
        "CI width over participants | "
        f"units | QAT fixed - float (points, {pct}% CI over units) | CI width | "
        "CI width over participants |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    methods = sorted(set(gap["ptq"]) | set(gap["qat"]), key=lambda m: (m == "all", m))

    def cell(i):
        if i is None:
            return "- | - | -"
        if not math.isfinite(i["width"]):
            return f"{i['n']} | {i['mean']:+.2f} | -"
        return f"{i['n']} | {i['mean']:+.2f} [{i['low']:+.2f}, {i['high']:+.2f}] | {i['width']:.2f}"

    def width(i):
        return "-" if i is None or not math.isfinite(i["width"]) else f"{i['width']:.2f}"

    for m in methods:
        name = "**all**" if m == "all" else m
        lines.append(
            f"| {name} | {cell(gap['ptq'].get(m))} | "
            f"{width(gap.get('ptq_by_participant', {}).get(m))} | {cell(gap['qat'].get(m))} | "
            f"{width(gap.get('qat_by_participant', {}).get(m))} |"
        )
    e = gap["qat_bit_exact"]
    if e["units"]:
        lines += ["", f"QAT models bit-exact on Lava (every layer): {e['bit_exact']}/{e['units']}."]
    verdict = gap_resolution(gap)
    if verdict:
        lines += ["", *verdict]
    return "\n".join(lines)


#: The question the pooled difference answers: does fixed point lose more than this (points)?
LOSS_BOUND = 0.5
#: ... which an interval resolves when it is narrower than twice the bound.
RESOLVING_WIDTH = 2 * LOSS_BOUND


def _needed(i: dict) -> int:
    """How many values an interval of ``i``'s spread needs to be :data:`RESOLVING_WIDTH` wide
    (the width shrinks as one over the square root of the count; t quantile held fixed)."""
    return math.ceil(i["n"] * (i["width"] / RESOLVING_WIDTH) ** 2)


def gap_resolution(gap: dict) -> list[str]:
    """What the pooled differences (``"all"``) resolve, in words: per kind (PTQ, QAT) whether the
    interval over units is narrower than :data:`RESOLVING_WIDTH` (else how many units it needs at
    this spread), the same over participants, and whether a loss larger than :data:`LOSS_BOUND`
    point is excluded (the interval's lower end above ``-LOSS_BOUND``), shown (its upper end
    below it) or neither."""
    out = []
    for kind, name in (("ptq", "PTQ"), ("qat", "QAT")):
        i = gap.get(kind, {}).get("all")
        ip = gap.get(f"{kind}_by_participant", {}).get("all")
        if i is None or not math.isfinite(i["width"]):
            continue
        if i["width"] < RESOLVING_WIDTH:
            size = f"narrower than {RESOLVING_WIDTH:g} point"
        else:
            size = (f"not yet narrower than {RESOLVING_WIDTH:g} point (about {_needed(i)} units "
                    "at this spread)")  # fmt: skip
        text = f"- {name}: the interval over {i['n']} units is {i['width']:.2f} points wide, {size}"
        if ip is not None and math.isfinite(ip["width"]):
            text += f"; over {ip['n']} participants {ip['width']:.2f} wide"
            if ip["width"] >= RESOLVING_WIDTH:
                text += f" (about {_needed(ip)} participants for {RESOLVING_WIDTH:g})"
        if i["low"] > -LOSS_BOUND:
            loss = f"excluded (the interval's lower end {i['low']:+.2f} is above {-LOSS_BOUND:+g})"
        elif i["high"] < -LOSS_BOUND:
            loss = f"shown (the interval's upper end {i['high']:+.2f} is below {-LOSS_BOUND:+g})"
        else:
            loss = f"neither excluded nor shown (the interval reaches {i['low']:+.2f})"
        out.append(f"{text}. A fixed-point loss larger than {LOSS_BOUND:g} point is {loss}.")
    if out:
        head = (f"Does fixed point lose more than {LOSS_BOUND:g} point against float? (The "
                f"precision aimed at: intervals narrower than {RESOLVING_WIDTH:g} point; the "
                "answer is in their ends.)")  # fmt: skip
        out.insert(0, head)
        out.insert(1, "")
    return out


def qat_report_lines(deploy_rows: list[dict]) -> list[str]:
    """The run report's QAT section (markdown lines; empty when the run did not use ``--qat``):
    per method the float-tuned model on Lava float, its post-training quantisation on Lava fixed
    point and the QAT model on Lava fixed point, how many QAT models ran bit-exactly as trained,
    then the pooled fixed-minus-float differences (:func:`fixed_float_gap`)."""
    rows = [r for r in deploy_rows if r.get("qat_status") is not None]
    if not rows:
        return []
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)

    def mean(rs, key):
        v = [r[key] for r in rs if r.get(key) is not None]
        return f"{np.mean(v):.3f}" if v else "-"

    lines = [
        "",
        "### Quantisation-aware tuning (`--qat`)",
        "",
        "Every spiking unit tuned twice with the same pretrained network, seeded method, data and "
        "selection: in float (deployed on Lava float, and post-training quantised on Lava fixed "
        "point, PTQ) and through the fixed-point network (QAT, deployed on Lava fixed point and "
        "compared with its training forward at every layer).",
        "",
        "| method | models | float (Lava float) | PTQ (Lava fixed) | QAT (Lava fixed) | QAT "
        "training forward | QAT bit-exact on Lava | QAT train->deploy prediction agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m, rs in by.items():
        ok = [r for r in rs if r.get("qat_status") == "ok"]
        exact = sum(bool(r.get("qat_bit_exact")) for r in ok)
        lines.append(
            f"| {m} | {len(rs)} | {mean(rs, 'lava_float_acc')} | {mean(rs, 'lava_fixed_acc')} | "
            f"{mean(ok, 'qat_lava_fixed_acc')} | {mean(ok, 'qat_torch_acc')} | {exact}/{len(rs)} | "
            f"{mean(ok, 'qat_train_deploy_agreement')} |"
        )
    bad = sorted({r["qat_status"] for r in rows if r.get("qat_status") != "ok"})
    if bad:
        lines += ["", "QAT deployment problems: " + "; ".join(bad)]
    lines += [
        "",
        "Fixed minus float accuracy (percentage points), pooled over participants and seeds, "
        "with paired t intervals:",
        "",
        gap_markdown(fixed_float_gap(rows)),
    ]
    return lines


#: The deploy rows' QAT columns (for ``deploy.csv``).
QAT_DEPLOY_KEYS = (
    "qat_status", "qat_torch_acc", "qat_lava_fixed_acc", "qat_bit_exact",
    "qat_train_deploy_agreement", "qat_vs_float_prediction_agreement", "qat_lava_fixed_seconds",
    "qat_lava_check_match",
)  # fmt: skip
