"""Float tuning vs post-training quantisation vs QAT on the EEG example (:func:`compare_qat`,
``python -m lava_nt.examples.eeg.qat_compare``)."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lava_nt.builder import build_network
from lava_nt.converters.quantize import quantize
from lava_nt.decode import predictions
from lava_nt.examples.eeg.pipeline import load_features, prepare_data
from lava_nt.examples.eeg.protocols import make_split, pretrain_data, tuning_data
from lava_nt.examples.eeg.synthetic import SyntheticConfig
from lava_nt.io import (
    CorruptFileError,
    append_jsonl,
    atomic_torch_save,
    atomic_write_text,
    load_torch,
    move_aside,
    to_jsonable,
)
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, evaluate, train
from lava_nt.tuning import apply_tuning


def _population_pred(out, n_classes: int = 2) -> np.ndarray:
    out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
    return predictions(out, n_classes)


def _cache_key(key: dict) -> str:
    """The pretrained cache's key in its stored form: canonical JSON."""
    return json.dumps(to_jsonable(key), sort_keys=True)


def _load_pretrained(path: Path, key: dict) -> dict | None:
    """The state dict cached in ``path`` (``pretrained.pt``) if it was pretrained with ``key``.

    Read with ``weights_only=True``: a file that would build Python objects is refused with
    :class:`~lava_nt.io.UnsafeFileError` (nothing in it runs). A truncated or corrupt file is
    moved aside to ``pretrained.pt.corrupt-<n>`` with a ``RuntimeWarning`` and None is returned
    (the network is pretrained again), as for a cache of other settings."""
    if not path.exists():
        return None
    try:
        saved = load_torch(path, what="QAT pretrained-network cache")
    except CorruptFileError as exc:
        aside = move_aside(path)
        warnings.warn(
            f"compare_qat: {exc}. It was moved to '{aside}'; the network is pretrained again.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if not isinstance(saved, dict) or saved.get("key") != _cache_key(key):
        return None
    state = saved.get("state")
    return state if isinstance(state, dict) else None


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a torn last line of a killed run
            continue
    return rows


def _mean_se(xs) -> tuple[float, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    m = float(np.mean(xs))
    se = float(np.std(xs, ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else float("nan")
    return m, se


def compare_report(rows: list[dict], settings: dict | None = None) -> str:
    """Markdown tables of :func:`compare_qat` rows: per participant (mean over seeds) and overall
    (mean and standard error over units), accuracies in percent."""
    units = [r for r in rows if r.get("kind") == "unit"]
    if not units:
        return "no results"
    by_p: dict[int, list[dict]] = {}
    for r in units:
        by_p.setdefault(int(r["participant"]), []).append(r)
    cols = ("float_acc", "ptq_acc", "qat_acc")
    lines = []
    if settings:
        lines += [f"Settings: `{json.dumps(settings, sort_keys=True)}`", ""]
    lines += [
        "| participant | units | float tuned, float deployed | PTQ (float tuned, fixed) | "
        "QAT (fixed, Lava) | PTQ - float | QAT - float | QAT bit-exact on Lava |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(by_p):
        rs = by_p[p]
        mean = {c: 100 * float(np.mean([r[c] for r in rs])) for c in cols}
        exact = [r.get("lava_bit_exact") for r in rs]
        ex = f"{sum(bool(e) for e in exact)}/{len(rs)}"
        if all(e is None for e in exact):
            ex = "not run"
        lines.append(
            f"| {p} | {len(rs)} | {mean['float_acc']:.1f} | {mean['ptq_acc']:.1f} | "
            f"{mean['qat_acc']:.1f} | {mean['ptq_acc'] - mean['float_acc']:+.1f} | "
            f"{mean['qat_acc'] - mean['float_acc']:+.1f} | {ex} |"
        )
    f_m, f_se = _mean_se([100 * r["float_acc"] for r in units])
    p_m, p_se = _mean_se([100 * r["ptq_acc"] for r in units])
    q_m, q_se = _mean_se([100 * r["qat_acc"] for r in units])
    dp_m, dp_se = _mean_se([100 * (r["ptq_acc"] - r["float_acc"]) for r in units])
    dq_m, dq_se = _mean_se([100 * (r["qat_acc"] - r["float_acc"]) for r in units])
    exact = [r.get("lava_bit_exact") for r in units if r.get("lava_bit_exact") is not None]
    lines.append(
        f"| **mean** | {len(units)} | {f_m:.1f} ± {f_se:.1f} | {p_m:.1f} ± {p_se:.1f} | "
        f"{q_m:.1f} ± {q_se:.1f} | {dp_m:+.1f} ± {dp_se:.1f} | {dq_m:+.1f} ± {dq_se:.1f} | "
        + (f"{sum(exact)}/{len(exact)} |" if exact else "not run |")
    )
    agree_ptq = _mean_se([100 * r["ptq_prediction_agreement"] for r in units])[0]
    agree_qat = _mean_se([100 * r["qat_vs_float_prediction_agreement"] for r in units])[0]
    tf = [r["float_seconds_per_epoch"] for r in units]
    tq = [r["qat_seconds_per_epoch"] for r in units]
    ratio = [b / a for a, b in zip(tf, tq, strict=True) if a > 0]
    lines += [
        "",
        "± is the standard error over units (participant x seed). Test predictions shared with the "
        f"float-deployed model: PTQ {agree_ptq:.1f}%, QAT {agree_qat:.1f}%.",
        "",
        f"Training time per epoch (same run, same data, same trainer): float "
        f"{np.mean(tf):.3f} s, QAT {np.mean(tq):.3f} s, ratio QAT / float "
        f"{np.mean(ratio):.2f} (median {np.median(ratio):.2f}, min {np.min(ratio):.2f}, max "
        f"{np.max(ratio):.2f}); epochs run: float {np.mean([r['float_epochs'] for r in units]):.0f}"
        f", QAT {np.mean([r['qat_epochs'] for r in units]):.0f} on average.",
    ]
    return "\n".join(lines)


def compare_qat(
    out_dir,
    *,
    data_dir=None,
    n_participants: int = 16,
    synthetic=None,
    participants: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
    pretrain_participants: Sequence[int] | None = None,
    method: str | Sequence[str] = "nt2",
    seeds: Sequence[int] = (0, 1),
    hidden: Sequence[int] = (400, 800),
    population: int = 50,
    beta: float = 0.9,
    T: int = 25,
    batch_size: int = 32,
    spike_l1: float = 1e-3,
    pretrain_epochs: int = 15,
    pretrain_lr: float = 1e-4,
    tune_epochs: int = 500,
    tune_lr: float = 1e-4,
    patience: int | None = 50,
    select: str = "val",
    feature_seed: int = 0,
    float_engine: str = "fused",
    lava: bool = True,
    lava_timeout: float | None = None,
    threads: int | None = 1,
    log=print,
) -> dict:
    """Float tuning vs post-training quantisation vs QAT on the EEG example (honest protocol).

    One network ``160 -> hidden -> 2 * population`` is pretrained in float on
    ``pretrain_participants`` (default: the data pool minus ``participants``, so no tuned person
    is ever in the pretraining data). For every participant and seed, the pretrained network gets
    the tuning ``method`` (:func:`lava_nt.tuning.apply_tuning`, seeded) twice:

    * **float**: tuned in float (``float_engine``: ``"fused"`` = the pipeline's trainer,
      ``"eager"`` = :class:`~lava_nt.nn.network.NTNetwork`), deployed in float64 (= Lava float,
      ``tests/test_engine_equivalence.py``) -> ``float_acc``; then quantised with
      :func:`~lava_nt.converters.quantize.quantize` and run in fixed point (the emulator =
      Lava fixed) -> ``ptq_acc``;
    * **QAT**: wrapped in :class:`QATNetwork` (scales from the pretrained values) and tuned with
      the same trainer, data, seed and settings; :meth:`QATNetwork.to_fixed_spec` is deployed on
      Lava (``lava=True``: ``run_network(..., "fixed", record=True)``) -> ``qat_acc``, and every
      layer's spikes are compared with the training-time forward (``lava_bit_exact``).

    Data: the honest split of :mod:`lava_nt.examples.eeg.protocols` (trials split before
    augmenting, balanced test part); the epoch is chosen on validation (``select="val"``, with
    ``patience``) or is the last of a fixed budget (``select="last"``: both runs train exactly
    ``tune_epochs`` epochs, so the comparison is not blurred by epoch-selection noise).
    ``data_dir``: DEAP-format files; None generates calibrated synthetic DEAP data
    (``n_participants``, or the given :class:`~lava_nt.examples.eeg.synthetic.SyntheticConfig`
    ``synthetic``) into ``out_dir/data``.
    Results go to ``out_dir/results.jsonl`` (one line per unit; a rerun skips finished units) and
    ``out_dir/report.md``; the pretrained network is cached in ``out_dir/pretrained.pt`` (see
    :func:`_load_pretrained`: read with ``weights_only=True``, a corrupt cache is moved aside and
    the network pretrained again); returns
    ``{"rows": [...], "report": markdown, "settings": {...}}``.
    ``threads``: torch threads while it runs (1 is fastest on a loaded 2-core machine; None
    leaves the setting alone).
    """
    prev_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _compare_qat(**{k: v for k, v in locals().items() if k != "prev_threads"})
    finally:
        torch.set_num_threads(prev_threads)


def _compare_qat(
    out_dir, *, data_dir, n_participants, synthetic, participants, pretrain_participants, method,
    seeds, hidden, population, beta, T, batch_size, spike_l1, pretrain_epochs, pretrain_lr,
    tune_epochs, tune_lr, patience, select, feature_seed, float_engine, lava, lava_timeout,
    threads, log,
) -> dict:  # fmt: skip

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = [method] if isinstance(method, str) else list(method)
    settings = {
        "method": "+".join(methods), "hidden": list(hidden), "population": population,
        "beta": beta, "T": T, "batch_size": batch_size, "spike_l1": spike_l1,
        "pretrain_epochs": pretrain_epochs, "pretrain_lr": pretrain_lr,
        "tune_epochs": tune_epochs, "tune_lr": tune_lr, "patience": patience,
        "select": select,
        "feature_seed": feature_seed, "float_engine": float_engine, "protocol": "honest",
        "data": "synthetic" if data_dir is None else str(data_dir),
        "n_participants": n_participants if data_dir is None else None,
    }  # fmt: skip
    data = _prepare(out_dir, data_dir, n_participants, synthetic, settings, log)
    participants, pretrain_participants = _participants(data.pool, participants,
                                                        pretrain_participants)  # fmt: skip
    settings["participants"] = participants
    settings["pretrain_participants"] = pretrain_participants
    feats = load_features(data, out_dir, feature_seed, participants + pretrain_participants)
    net0 = _pretrained(out_dir, feats, settings, log)
    results_path = out_dir / "results.jsonl"
    tag = json.dumps({k: v for k, v in settings.items() if k != "participants"}, sort_keys=True)
    rows = [r for r in _read_jsonl(results_path) if r.get("settings") == tag]
    done = {(r["participant"], r["seed"]) for r in rows if r.get("kind") == "unit"}
    unit = {"methods": methods, "tag": tag, "settings": settings, "lava": lava,
            "lava_timeout": lava_timeout}  # fmt: skip
    for p in participants:
        for seed in seeds:
            if (p, int(seed)) in done:
                continue
            row = _run_unit(net0, feats[p], p, int(seed), unit)
            append_jsonl(results_path, row)
            rows.append(row)
            log(
                f"participant {p} seed {seed}: float {row['float_acc']:.3f}, PTQ "
                f"{row['ptq_acc']:.3f}, QAT {row['qat_acc']:.3f} (Lava bit-exact: "
                f"{row['lava_bit_exact']}); s/epoch float {row['float_seconds_per_epoch']:.3f}, "
                f"QAT {row['qat_seconds_per_epoch']:.3f}"
            )
    units = [r for r in rows if r.get("kind") == "unit" and r["participant"] in participants]
    report = compare_report(units, settings)
    atomic_write_text(out_dir / "report.md", report + "\n")
    return {"rows": units, "report": report, "settings": settings}


def _prepare(out_dir: Path, data_dir, n_participants, synthetic, settings: dict, log):
    """The study's data (DEAP files, or synthetic ones generated into ``out_dir/data``); records
    the synthetic configuration in ``settings``."""

    if data_dir is None and synthetic is None:
        synthetic = SyntheticConfig(n_participants=n_participants)
    if data_dir is None:
        settings["n_participants"] = synthetic.n_participants
        if synthetic != SyntheticConfig(n_participants=synthetic.n_participants):
            settings["synthetic"] = synthetic.to_dict()
    data = prepare_data(out_dir, data_dir, synthetic, log=log)
    if not Path(data.directory).is_absolute():  # generated data may be recorded run-relative
        data = dataclasses.replace(data, directory=out_dir / data.directory)
    return data


def _participants(pool, participants, pretrain_participants) -> tuple[list[int], list[int]]:
    """The tuned and the pretraining participants (disjoint, both in the data ``pool``)."""
    pool = list(pool)
    participants = [int(p) for p in participants]
    missing = [p for p in participants if p not in pool]
    if missing:
        raise ValueError(f"compare_qat: participants {missing} are not in the data ({pool})")
    if pretrain_participants is None:
        pretrain_participants = [p for p in pool if p not in participants]
    pretrain_participants = [int(p) for p in pretrain_participants]
    if set(pretrain_participants) & set(participants):
        raise ValueError("compare_qat: a tuned participant is in the pretraining data")
    if not pretrain_participants:
        raise ValueError("compare_qat: no pretraining participants left")
    return participants, pretrain_participants


def _tensors(x, y):
    return (
        torch.as_tensor(np.asarray(x), dtype=torch.float32),
        torch.as_tensor(np.asarray(y), dtype=torch.int64),
    )


def _trainer_model(net, float_engine: str):
    if float_engine == "fused":
        return FusedNTNetwork.from_network(net)
    return net


def _pretrained(out_dir: Path, feats, settings: dict, log):
    """The float network pretrained once on the pretraining participants (cached in
    ``out_dir/pretrained.pt``, see :func:`_load_pretrained`)."""

    pre_path = out_dir / "pretrained.pt"
    pre_keys = ("hidden", "population", "beta", "T", "pretrain_epochs", "pretrain_lr", "spike_l1",
                "batch_size", "feature_seed", "data", "n_participants", "synthetic")  # fmt: skip
    pretrain_participants = settings["pretrain_participants"]
    key = {
        "settings": {k: settings[k] for k in pre_keys if k in settings},
        "pretrain_participants": pretrain_participants,
    }
    net0 = build_network(
        160, list(settings["hidden"]), n_classes=2, population=settings["population"],
        beta=settings["beta"], seed=0,
    )  # fmt: skip
    cached = _load_pretrained(pre_path, key)
    if cached is not None:
        net0.load_state_dict(cached)
        return net0
    x, y = pretrain_data([feats[p] for p in pretrain_participants])
    log(f"pretraining on participants {pretrain_participants} ({len(y)} samples)")
    t0 = time.perf_counter()
    cfg = TrainConfig(epochs=settings["pretrain_epochs"], lr=settings["pretrain_lr"],
                      batch_size=settings["batch_size"], T=settings["T"],
                      spike_l1=settings["spike_l1"], select="last", seed=0)  # fmt: skip
    res = train(_trainer_model(net0, settings["float_engine"]), _tensors(x, y), cfg)
    log(f"  {time.perf_counter() - t0:.0f} s, train acc {res.history[-1]['train_acc']:.3f}")
    atomic_torch_save({"key": _cache_key(key), "state": net0.state_dict()}, pre_path)
    return net0


def _run_unit(net0, f, p: int, seed: int, unit: dict) -> dict:
    """One participant and seed: float tuning (+ PTQ) and QAT tuning of copies of ``net0``."""

    settings = unit["settings"]
    T = settings["T"]
    split = make_split("honest", f.valence_high, seed=seed, participant=p,
                       n_augment=f.powers.shape[1])  # fmt: skip
    td = tuning_data(f, split)
    data = {"train": _tensors(td.x_train, td.y_train), "val": _tensors(td.x_val, td.y_val),
            "test": _tensors(td.x_test, td.y_test), "y_test": td.y_test}  # fmt: skip
    cfg = TrainConfig(epochs=settings["tune_epochs"], lr=settings["tune_lr"],
                      batch_size=settings["batch_size"], T=T, spike_l1=settings["spike_l1"],
                      select=settings["select"], patience=settings["patience"],
                      seed=seed)  # fmt: skip
    row = {"kind": "unit", "settings": unit["tag"], "participant": p, "seed": seed,
           "method": settings["method"], "n_train": len(td.y_train),
           "n_val": len(td.y_val), "n_test": len(td.y_test)}  # fmt: skip
    pred_f = _float_and_ptq(net0, unit["methods"], seed, data, cfg, settings, row)
    _qat(net0, unit["methods"], seed, data, cfg, pred_f, unit, row)
    return row


def _float_and_ptq(net0, methods, seed: int, data: dict, cfg, settings: dict, row: dict):
    """Float tuning deployed in float64 (``float_acc``) and quantised (``ptq_acc``); returns the
    float predictions."""

    T = cfg.T
    net = copy.deepcopy(net0)
    apply_tuning(net, methods, seed=seed)
    t0 = time.perf_counter()
    res = train(_trainer_model(net, settings["float_engine"]), data["train"], cfg,
                val_data=data["val"])  # fmt: skip
    secs = time.perf_counter() - t0
    row.update(float_epochs=len(res.history), float_best_epoch=res.best_epoch,
               float_last_train_acc=res.history[-1]["train_acc"],
               float_seconds_per_epoch=secs / max(len(res.history), 1),
               float_val_acc=res.history[res.best_epoch].get("val_acc"))  # fmt: skip
    spec = net.to_spec()
    x_te = data["test"][0].to(torch.float64)
    y_te = data["y_test"]
    with torch.no_grad():
        out_f = NTNetwork.from_spec(spec, dtype=torch.float64).forward_static(x_te, T)
    pred_f = _population_pred(out_f)
    row["float_acc"] = float(np.mean(pred_f == y_te))
    row["float32_acc"] = evaluate(net, *data["test"], cfg)["acc"]
    fspec, _ = quantize(spec)
    xs = x_te.expand(T, *x_te.shape)
    pred_p = _population_pred(emulate_fixed(fspec, xs.to(torch.int64)))
    row["ptq_acc"] = float(np.mean(pred_p == y_te))
    row["ptq_prediction_agreement"] = float(np.mean(pred_p == pred_f))
    return pred_f


def _qat(net0, methods, seed: int, data: dict, cfg, pred_f, unit: dict, row: dict) -> None:
    """QAT tuning with the same trainer and data (``qat_emulator_acc``), deployed on Lava fixed
    point (``qat_acc``, ``lava_bit_exact``) when ``unit["lava"]``."""

    T = cfg.T
    x_te = data["test"][0].to(torch.float64)
    y_te = data["y_test"]
    net_q = copy.deepcopy(net0)
    apply_tuning(net_q, methods, seed=seed)
    qat = QATNetwork(net_q)
    t0 = time.perf_counter()
    res = train(qat, data["train"], cfg, val_data=data["val"])
    secs = time.perf_counter() - t0
    row.update(qat_epochs=len(res.history), qat_best_epoch=res.best_epoch,
               qat_last_train_acc=res.history[-1]["train_acc"],
               qat_seconds_per_epoch=secs / max(len(res.history), 1),
               qat_val_acc=res.history[res.best_epoch].get("val_acc"),
               qat_scales=qat.scales)  # fmt: skip
    with torch.no_grad():
        out_q, recs_q = qat.forward_static(x_te, T, record=True)
    pred_q = _population_pred(out_q)
    row["qat_emulator_acc"] = float(np.mean(pred_q == y_te))
    row["qat_vs_float_prediction_agreement"] = float(np.mean(pred_q == pred_f))
    fixed_q = qat.to_fixed_spec(check=True)  # the study records that they are the quantiser's
    row["qat_registers_equal_quantizer"] = True
    with torch.no_grad():
        lat = NTNetwork.from_spec(qat.to_float_spec(), dtype=torch.float64)
        row["qat_latent_float_acc"] = float(
            np.mean(_population_pred(lat.forward_static(x_te, T)) == y_te)
        )
    row["qat_acc"] = row["qat_emulator_acc"]
    row["lava_bit_exact"] = None
    if not unit["lava"]:
        return
    from lava_nt.converters.lava_graph import run_network  # lazy: Lava (start-up cost)

    xs_np = np.ascontiguousarray(x_te.expand(T, *x_te.shape).numpy())
    t0 = time.perf_counter()
    lv = run_network(fixed_q, xs_np, "fixed", timeout=unit["lava_timeout"], record=True)
    row["lava_seconds"] = round(time.perf_counter() - t0, 2)
    exact = all(
        np.array_equal(r["spikes"].numpy(), lr["spikes"])
        for r, lr in zip(recs_q, lv.layers, strict=True)
    )
    pred_l = _population_pred(lv.spikes)
    row["lava_bit_exact"] = bool(exact)
    row["lava_predictions_equal"] = bool(np.array_equal(pred_l, pred_q))
    row["qat_acc"] = float(np.mean(pred_l == y_te))


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m lava_nt.examples.eeg.qat_compare",
        description="Float tuning vs post-training quantisation vs quantisation-aware tuning on "
        "the EEG example (honest protocol); writes OUT/results.jsonl and OUT/report.md.",
    )
    ap.add_argument("out", help="output directory (rerun to resume)")
    ap.add_argument("--data", default=None, help="DEAP-format directory (default: synthetic)")
    ap.add_argument("--n-participants", type=int, default=16)
    ap.add_argument("--participants", type=int, nargs="+", default=list(range(1, 9)))
    ap.add_argument("--method", nargs="+", default=["nt2"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--hidden", type=int, nargs="+", default=[400, 800])
    ap.add_argument("--pretrain-epochs", type=int, default=15)
    ap.add_argument("--tune-epochs", type=int, default=500)
    ap.add_argument("--tune-lr", type=float, default=1e-4)
    ap.add_argument("--patience", type=int, default=50, help="0: no early stopping")
    ap.add_argument("--select", choices=("val", "last"), default="val")
    ap.add_argument("--float-engine", choices=("fused", "eager"), default="fused")
    ap.add_argument("--no-lava", action="store_true", help="skip the Lava fixed-point runs")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = ap.parse_args(argv)
    res = compare_qat(
        a.out, data_dir=a.data, n_participants=a.n_participants, participants=a.participants,
        method=a.method, seeds=a.seeds, hidden=a.hidden, pretrain_epochs=a.pretrain_epochs,
        tune_epochs=a.tune_epochs, tune_lr=a.tune_lr, patience=a.patience or None,
        select=a.select,
        float_engine=a.float_engine, lava=not a.no_lava, threads=a.threads,
    )  # fmt: skip
    print(res["report"])


if __name__ == "__main__":
    _main()
