"""``lava-nt eeg run``'s options -> ``(PipelineConfig, SyntheticConfig | None, run_dir)``:
``--quick``'s settings, number lists and ranges (``'1 2 5-8,10'``), ``--synthetic-set``."""

from __future__ import annotations

import argparse
from pathlib import Path

QUICK = {
    "participants_generated": 4,
    "trials": 40,
    "samples": 2048,
    "folds": (1, 2),
    "methods": ("none", "nt2", "spiking_bias", "volumetric"),
    "seeds": (0,),
    "pretrain_epochs": 8,
    "tune_epochs": 40,
    "tune_lr": 3e-3,
    "patience": 15,
    "out": "runs/eeg-quick",
}


def int_list(text: str) -> list[int]:
    """``"1 2 5-8,10"`` -> ``[1, 2, 5, 6, 7, 8, 10]``."""
    out: list[int] = []
    for tok in text.replace(",", " ").split():
        if "-" in tok.strip("-"):
            a, b = tok.split("-", 1)
            lo, hi = int(a), int(b)
            if hi < lo:
                raise argparse.ArgumentTypeError(f"empty range '{tok}'")
            out += list(range(lo, hi + 1))
        else:
            out.append(int(tok))
    return out


def ints(values) -> list[int] | None:
    if values is None:
        return None
    out: list[int] = []
    for v in values:
        try:
            out += int_list(v)
        except argparse.ArgumentTypeError as exc:  # a backwards range such as 5-2
            raise SystemExit(f"lava-nt eeg: error: {exc}") from None
        except ValueError:
            raise SystemExit(f"lava-nt eeg: error: not a number or range: '{v}'") from None
    return out


def names(values) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [t for t in v.replace(",", " ").split() if t]
    return out


def build_config(args):
    """``(PipelineConfig, SyntheticConfig | None, run_dir)`` from the ``run`` arguments."""
    from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError

    q = QUICK if args.quick else {}
    kw: dict = {"protocol": args.protocol, "batch_size": args.batch_size}
    methods = names(args.methods) or q.get("methods")
    if methods:
        kw["methods"] = tuple(methods)
    seeds = ints(args.seeds) or q.get("seeds")
    if seeds:
        kw["seeds"] = tuple(seeds)
    folds = ints(args.participants) or q.get("folds")
    if folds:
        kw["participants"] = tuple(folds)
    for name in ("pretrain_epochs", "tune_epochs", "tune_lr", "patience"):
        v = getattr(args, name)
        if v is None:
            v = q.get(name)
        if v is not None:
            kw[name] = v
    if args.lr is not None:
        kw["lr"] = args.lr
    if args.no_patience:
        kw["patience"] = None
    kw["fold_group_size"] = args.fold_group_size
    kw["lava"] = not args.no_lava
    kw["lava_fixed"] = not args.no_fixed
    kw["qat"] = args.qat
    kw["qat_init"] = args.qat_init
    kw["qat_epochs"] = args.qat_epochs
    kw["lava_samples"] = args.lava_samples
    kw["lava_check"] = args.lava_check
    kw["lava_timeout"] = args.lava_timeout
    kw["fused"] = not args.no_fused
    kw["threads"] = args.threads
    kw["progress"] = not args.no_progress
    kw["keep_checkpoints"] = getattr(args, "keep_checkpoints", False)
    kw["device"] = args.device
    kw["thresholds"] = getattr(args, "thresholds", "person")
    kw["sparse_grad"] = getattr(args, "sparse_grad", None)
    kw["ondevice_engine"] = getattr(args, "ondevice_engine", "twin")
    kw["ondevice_metric"] = getattr(args, "ondevice_metric", "accuracy")
    kw["ondevice_learn_on"] = getattr(args, "ondevice_learn_on", "all")
    kw["ondevice_error_gate"] = getattr(args, "ondevice_error_gate", "always")
    kw["ondevice_class_weights"] = getattr(args, "ondevice_class_weights", "none")
    pseeds = ints(getattr(args, "pretrain_seeds", None))
    if pseeds:
        kw["pretrain_seed"] = pseeds[0]
    config = PipelineConfig(**kw)
    synthetic = None
    if args.data is None:
        n = args.synthetic_participants or q.get("participants_generated") or 32
        synthetic = synthetic_config(
            args, n, args.synthetic_trials or q.get("trials") or 40,
            args.synthetic_samples or q.get("samples") or 8064,
        )  # fmt: skip
    elif any(
        getattr(args, a) is not None
        for a in ("synthetic_participants", "synthetic_trials", "synthetic_samples",
                  "synthetic_set")
    ) or getattr(args, "synthetic_variant", "direction") != "direction":  # fmt: skip
        raise PipelineError("--synthetic-* options apply only without --data")
    run_dir = Path(args.out or q.get("out") or "runs/eeg")
    return config, synthetic, run_dir


def synthetic_config(args, n: int, trials: int, samples: int):
    """The run's :class:`SyntheticConfig`: the variant's settings, then ``--synthetic-set``."""
    from lava_nt.examples.eeg.pipeline import PipelineError
    from lava_nt.examples.eeg.synthetic import SyntheticConfig

    knobs = {}
    for item in names(getattr(args, "synthetic_set", None)) or []:
        key, sep, value = item.partition("=")
        knob_names = set(SyntheticConfig.__dataclass_fields__) - {"variant"}
        if not sep or key not in knob_names:
            raise PipelineError(
                f"--synthetic-set {item!r}: expected KNOB=VALUE with KNOB one of "
                + ", ".join(sorted(knob_names))
            )
        try:
            knobs[key] = int(value) if key in ("n_participants", "n_trials", "n_samples",
                                               "seed") else float(value)  # fmt: skip
        except ValueError:
            raise PipelineError(f"--synthetic-set {item!r}: {value!r} is not a number") from None
    base = dict(n_participants=n, n_trials=trials, n_samples=samples, seed=args.synthetic_seed)
    return SyntheticConfig.for_variant(
        getattr(args, "synthetic_variant", "direction"), **{**base, **knobs}
    )
