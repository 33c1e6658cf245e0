"""``lava-nt eeg``: the EEG valence personalisation example (thesis chapter 4).

lava-nt eeg generate [--out DIR] [--participants N] [--trials N] [--samples N] [--seed S] [--yes]
    Write synthetic data in the DEAP ``data_preprocessed_python`` format (``sNN.dat``); 3.3 GB at
    the defaults, so above 1 GB it needs ``--yes``.
lava-nt eeg run [--data DIR] [--out RUN_DIR] [--participants ...] [--methods ...] [--seeds ...]
                [--protocol honest|thesis] [--pretrain-epochs N] [--tune-epochs N] [--quick]
                [--no-lava] [--workers N] [--ray-address ADDR] ...
    Leave-one-subject-out pretraining, per-person tuning with each method and seed, Lava
    deployment of every tuned model, then the report. Resumable: run it again with the same
    ``--out`` after an interruption.
lava-nt eeg report RUN_DIR [--docs FILE --docs-name NAME]
    (Re)write the tables, statistics and plots of a run directory (and its generated block in a
    documentation page).
lava-nt eeg sweep [--out DIR] [--variants ...] [--docs FILE --docs-name NAME]
    The generator's knobs against a logistic-regression proxy of the study.
"""

from __future__ import annotations

import argparse
import errno
import sys
import time
from pathlib import Path

from lava_nt.commands.arguments import (
    nonnegative_int,
    positive_float,
    positive_int,
    positive_seconds,
    reproducing_argv,
)

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


def _int_list(text: str) -> list[int]:
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


def _ints(values) -> list[int] | None:
    if values is None:
        return None
    out: list[int] = []
    for v in values:
        try:
            out += _int_list(v)
        except ValueError:
            raise SystemExit(f"lava-nt eeg: error: not a number or range: '{v}'") from None
    return out


def _names(values) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [t for t in v.replace(",", " ").split() if t]
    return out


def register(subparsers) -> None:
    """Add ``lava-nt eeg {generate,run,report}``."""
    eeg = subparsers.add_parser(
        "eeg",
        help="EEG valence personalisation example (DEAP format; LOSO; Lava deployment)",
        description="EEG emotion (valence) classification, personalised by neuromodulatory "
        "tuning (thesis chapter 4): leave-one-subject-out pretraining, per-person tuning, Lava "
        "deployment.",
    )
    sub = eeg.add_subparsers(dest="eeg_command", metavar="SUBCOMMAND")
    eeg.set_defaults(func=lambda args: (eeg.print_help(), 2)[1])

    g = sub.add_parser(
        "generate",
        help="write synthetic data in the DEAP file format (3.3 GB at the defaults)",
        description="Write synthetic participants in the DEAP file format. At the defaults (32 "
        "participants x 40 trials x 40 channels x 8064 samples, float64) that is 3.3 GB; above "
        f"{GENERATE_CONFIRM_BYTES / 1e9:g} GB the command says the size and writes nothing "
        "unless --yes is given.",
    )
    g.add_argument("--out", default="data/deap-synthetic", help="directory (default: %(default)s)")
    g.add_argument("--participants", type=positive_int, default=32, help="default: %(default)s")
    g.add_argument(
        "--trials", type=positive_int, default=40, help="trials per participant (default 40)"
    )
    g.add_argument(
        "--samples",
        type=positive_int,
        default=8064,
        help="samples per trial incl. the 3 s baseline "
        "(default 8064 as DEAP; 2048 is enough for a quick look)",
    )
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.add_argument(
        "--yes",
        action="store_true",
        help=f"write even when the data exceed {GENERATE_CONFIRM_BYTES / 1e9:g} GB",
    )
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser(
        "run",
        help="leave-one-subject-out pretraining + per-person tuning (+ Lava deployment)",
        description="Run (or resume) a leave-one-subject-out experiment. Without --data, "
        "synthetic DEAP-format data is generated into RUN_DIR/data.",
    )
    r.add_argument("--data", metavar="DIR", help="directory of DEAP sNN.dat files (real DEAP)")
    r.add_argument(
        "--out", metavar="RUN_DIR", help=f"run directory (default runs/eeg, quick: {QUICK['out']})"
    )
    r.add_argument(
        "--participants",
        nargs="+",
        metavar="P",
        help="left-out participants (folds), e.g. '1 2 3' or '1-8' (default: all)",
    )
    r.add_argument(
        "--methods",
        nargs="+",
        metavar="M",
        help="tuning methods (default: all: "
        "none nt2 spiking_bias spiking_bias_sparse volumetric ablation tft)",
    )
    r.add_argument(
        "--seeds", nargs="+", metavar="S", help="seeds, e.g. '0 1 2' or '0-4' (default 0-4)"
    )
    r.add_argument("--protocol", choices=("honest", "thesis"), default="honest")
    r.add_argument(
        "--thresholds",
        choices=("person", "population"),
        default="person",
        help="binarising thresholds: each person's own mean power (default, the thesis) or the "
        "pretraining participants' (a front end frozen at pretraining)",
    )
    r.add_argument(
        "--pretrain-seeds",
        nargs="+",
        metavar="S",
        help="pretraining seeds, e.g. '0 1 2' (default 0): the first runs in RUN_DIR, each further "
        "seed S in RUN_DIR/pretrain-seed-S; the report pools them",
    )
    r.add_argument("--pretrain-epochs", type=positive_int, help="default 15 (thesis)")
    r.add_argument(
        "--tune-epochs", type=positive_int, help="maximum tuning epochs (default 500, thesis)"
    )
    r.add_argument(
        "--patience",
        type=positive_int,
        help="early-stopping patience in epochs (default: 100 honest, none thesis)",
    )
    r.add_argument("--no-patience", action="store_true", help="never stop early")
    r.add_argument("--lr", type=positive_float, help="pretraining learning rate (default 1e-4)")
    r.add_argument("--tune-lr", type=positive_float, help="tuning learning rate (default 1e-4)")
    r.add_argument("--batch-size", type=positive_int, default=32)
    r.add_argument(
        "--fold-group-size",
        type=positive_int,
        default=1,
        help="speed option: share one "
        "pretraining (on everybody outside the group) among K folds (default 1)",
    )
    r.add_argument(
        "--quick",
        action="store_true",
        help="small demo: synthetic data, 4 "
        "participants (LOSO over 2), 4 methods, 1 seed, few epochs, Lava float+fixed",
    )
    r.add_argument("--no-lava", action="store_true", help="skip the Lava deployment")
    r.add_argument("--no-fixed", action="store_true", help="deploy on Lava in float only")
    r.add_argument(
        "--qat",
        action="store_true",
        help="also tune every spiking unit with quantisation-aware tuning (through the Loihi "
        "fixed-point network) and deploy it on Lava fixed point: bit for bit what training "
        "computed; the report shows float, post-training-quantised and QAT accuracy per method",
    )
    r.add_argument(
        "--lava-samples", type=positive_int, help="deploy at most N test samples per model"
    )
    r.add_argument(
        "--qat-init",
        choices=("pretrained", "float"),
        default="pretrained",
        help="with --qat: start each QAT unit from the pretrained network (default: tuned in "
        "parallel with the float unit) or from the float unit's tuned model (QAT fine-tuning)",
    )
    r.add_argument("--qat-epochs", type=positive_int, help="with --qat: maximum QAT epochs")
    r.add_argument(
        "--lava-check",
        type=int,
        metavar="N",
        help="reference mode for large studies: deployment accuracies of every test sample from "
        "the engines the test suite proves equal to Lava (torch float64, the bit-exact "
        "fixed-point emulator), Lava itself on only N samples per model as a check (0: none)",
    )
    r.add_argument(
        "--lava-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="time limit of each Lava run (default: proportional to its steps)",
    )
    r.add_argument(
        "--no-fused",
        action="store_true",
        help="train through the plain NTNetwork instead of the fused layers (same results, slower)",
    )
    r.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: fastest for these small batches on a loaded machine)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument(
        "--device",
        default="cpu",
        help="where torch trains: cpu (default), cuda, cuda:N or auto (a GPU when present); "
        "Lava deployment always runs on the CPU simulator",
    )
    par = r.add_argument_group("parallel units on Ray (optional extra: pip install 'lava-nt[ray]')")
    par.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="run independent units (pretrainings, then tuning + deployment units) on N Ray "
        "workers (a local Ray instance); results equal a serial run. Default: one process, no Ray",
    )
    par.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join an existing Ray cluster (e.g. ray://head:10001 or auto) instead of starting a "
        "local instance; the run directory must be on a filesystem all nodes share",
    )
    syn = r.add_argument_group("synthetic data (without --data)")
    syn.add_argument("--synthetic-participants", type=positive_int, help="default 32 (quick: 4)")
    syn.add_argument("--synthetic-trials", type=positive_int, help="default 40")
    syn.add_argument("--synthetic-samples", type=positive_int, help="default 8064 (quick: 2048)")
    syn.add_argument("--synthetic-seed", type=nonnegative_int, default=0)
    syn.add_argument(
        "--synthetic-variant",
        choices=("direction", "shift_gain"),
        default="direction",
        help="how people differ: a person-specific direction (default) or shifts and gains along "
        "a shared pattern (positive control; see docs/eeg.md)",
    )
    syn.add_argument(
        "--synthetic-set",
        nargs="+",
        metavar="KNOB=VALUE",
        help="set generator knobs (SyntheticConfig fields), e.g. 'tonic_shift=0.25 noise=0.4'",
    )
    r.set_defaults(func=cmd_run, parser=r)

    rep = sub.add_parser("report", help="write the tables and plots of a run directory")
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument("--no-plots", action="store_true")
    _docs_options(rep)
    rep.set_defaults(func=cmd_report)

    sw = sub.add_parser(
        "sweep",
        help="sweep the synthetic generator's knobs against a logistic-regression proxy",
        description="One knob at a time around each variant's settings: synthetic data generated "
        "in memory, then the proxy's cross-person, intercept-refit and within-person accuracies "
        "for both threshold rules (lava_nt.examples.eeg.calibration).",
    )
    sw.add_argument("--out", default="runs/eeg-sweep", help="directory (default: %(default)s)")
    sw.add_argument("--variants", nargs="+", choices=("direction", "shift_gain"),
                    default=["direction", "shift_gain"])  # fmt: skip
    sw.add_argument("--participants", type=positive_int, default=10, help="default 10")
    sw.add_argument("--trials", type=positive_int, default=40, help="default 40")
    sw.add_argument("--samples", type=positive_int, default=2048, help="default 2048")
    sw.add_argument("--seed", type=nonnegative_int, default=0)
    _docs_options(sw)
    sw.set_defaults(func=cmd_sweep, parser=sw)


def _docs_options(p) -> None:
    p.add_argument(
        "--docs",
        metavar="FILE",
        help="also write the tables into this page, between "
        "its '<!-- BEGIN generated: NAME -->' and '<!-- END generated: NAME -->' lines",
    )
    p.add_argument("--docs-name", metavar="NAME", help="the block of --docs to replace")


def _check_docs(args) -> None:
    if (args.docs is None) != (args.docs_name is None):
        raise SystemExit("lava-nt eeg: error: --docs and --docs-name go together")


def _fail(cmd: str, exc: BaseException) -> int:
    if isinstance(exc, OSError) and exc.filename is not None:
        msg = f"cannot write '{exc.filename}': {exc.strerror}"
    else:
        msg = str(exc)
    print(f"lava-nt eeg {cmd}: error: {msg}", file=sys.stderr)
    return 1


#: OS errors that are the user's environment, not a bug: reported in one line.
_ENV_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR)


def _user_errors():
    from lava_nt.examples.eeg.deap import DEAPFormatError
    from lava_nt.examples.eeg.pipeline import PipelineError
    from lava_nt.examples.eeg.protocols import SplitError
    from lava_nt.examples.eeg.synthetic import SyntheticDataError
    from lava_nt.io import CorruptFileError, UnsafeFileError
    from lava_nt.lava.run import LavaError
    from lava_nt.spec.validation import ParameterError

    return (
        PipelineError, DEAPFormatError, SplitError, ParameterError, SyntheticDataError,
        CorruptFileError, UnsafeFileError, LavaError,
    )  # fmt: skip


def _env_error(exc: OSError) -> bool:
    return exc.errno in _ENV_ERRNOS


#: ``eeg generate`` writes more than this many bytes only with --yes (the defaults write 3.3 GB)
GENERATE_CONFIRM_BYTES = 10**9


def cmd_generate(args) -> int:
    from lava_nt.examples.eeg.synthetic import SyntheticConfig, data_bytes, generate_deap

    try:
        cfg = SyntheticConfig(
            n_participants=args.participants,
            n_trials=args.trials,
            n_samples=args.samples,
            seed=args.seed,
        )
    except (TypeError, ValueError) as exc:
        return _fail("generate", exc)
    size = data_bytes(cfg)
    what = (
        f"{size / 1e9:.1f} GB ({cfg.n_participants} participants x {cfg.n_trials} trials x 40 "
        f"channels x {cfg.n_samples} samples, float64) to {Path(args.out)}"
    )
    if size > GENERATE_CONFIRM_BYTES and not getattr(args, "yes", False):
        print(
            f"lava-nt eeg generate: error: would write {what}; pass --yes to write it, or ask "
            "for less (--participants, --trials, --samples)",
            file=sys.stderr,
        )
        return 1
    print(f"writing {what} ...", flush=True)
    t0 = time.perf_counter()
    try:
        paths = generate_deap(args.out, cfg)
    except _user_errors() as exc:
        return _fail("generate", exc)
    except OSError as exc:
        if not _env_error(exc):
            raise
        return _fail("generate", exc)
    print(
        f"wrote {len(paths)} synthetic DEAP participants ({cfg.n_trials} trials x 40 channels x "
        f"{cfg.n_samples} samples) to {Path(args.out)} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def build_config(args):
    """``(PipelineConfig, SyntheticConfig | None, run_dir)`` from the ``run`` arguments."""
    from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError

    q = QUICK if args.quick else {}
    kw: dict = {"protocol": args.protocol, "batch_size": args.batch_size}
    methods = _names(args.methods) or q.get("methods")
    if methods:
        kw["methods"] = tuple(methods)
    seeds = _ints(args.seeds) or q.get("seeds")
    if seeds:
        kw["seeds"] = tuple(seeds)
    folds = _ints(args.participants) or q.get("folds")
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
    kw["device"] = args.device
    kw["thresholds"] = getattr(args, "thresholds", "person")
    pseeds = _ints(getattr(args, "pretrain_seeds", None))
    if pseeds:
        kw["pretrain_seed"] = pseeds[0]
    config = PipelineConfig(**kw)
    synthetic = None
    if args.data is None:
        n = args.synthetic_participants or q.get("participants_generated") or 32
        synthetic = _synthetic_config(
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


def _synthetic_config(args, n: int, trials: int, samples: int):
    """The run's :class:`SyntheticConfig`: the variant's settings, then ``--synthetic-set``."""
    from lava_nt.examples.eeg.pipeline import PipelineError
    from lava_nt.examples.eeg.synthetic import SyntheticConfig

    knobs = {}
    for item in _names(getattr(args, "synthetic_set", None)) or []:
        key, sep, value = item.partition("=")
        names = set(SyntheticConfig.__dataclass_fields__) - {"variant"}
        if not sep or key not in names:
            raise PipelineError(
                f"--synthetic-set {item!r}: expected KNOB=VALUE with KNOB one of "
                + ", ".join(sorted(names))
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


def cmd_run(args) -> int:
    t0 = time.perf_counter()
    from lava_nt.examples.eeg.study import git_commit, record_command, run_study

    code = git_commit()  # the code this command runs (recorded when it completes)
    try:
        config, synthetic, run_dir = build_config(args)
        pseeds = _ints(args.pretrain_seeds) or [config.pretrain_seed]
    except (TypeError, ValueError) as exc:  # bad settings (PipelineError, SyntheticConfig)
        return _fail("run", exc)
    if config.fused:
        # this command is the whole process: let glibc keep freed training buffers instead of
        # mapping and zero-filling them again every step (+20-30 % for the fused path,
        # BENCHMARKS.md); results are unchanged
        from lava_nt.nn.fused import keep_freed_memory

        keep_freed_memory()
    try:
        summaries = run_study(
            run_dir, config, pseeds, data_dir=args.data, synthetic=synthetic,
            workers=args.workers, ray_address=args.ray_address,
        )  # fmt: skip
        record_command(run_dir, reproducing_argv(args, ["eeg", "run"]), code=code)
    except _user_errors() as exc:
        return _fail("run", exc)
    except OSError as exc:
        if not _env_error(exc):
            raise
        return _fail("run", exc)
    except KeyboardInterrupt:
        print(
            "\ninterrupted; run the same command again to continue where it stopped",
            file=sys.stderr,
        )
        return 130
    wall = time.perf_counter() - t0
    rep = summaries[0].report
    _print_summary(run_dir)
    print(
        f"\nfinished in {wall:.0f} s: {sum(s.units_run for s in summaries)} units run, "
        f"{sum(s.units_skipped for s in summaries)} already done, "
        f"{sum(s.deployed for s in summaries)} deployed on Lava"
        + (f" ({len(summaries)} pretraining seeds)" if len(summaries) > 1 else "")
    )
    if rep:
        print(f"results table: {rep.get('markdown')}  (CSV: {rep.get('csv')})")
        figs = [str(rep[k]) for k in ("accuracy_bars", "bias_current", "output_raster") if k in rep]
        if figs:
            print("plots: " + ", ".join(figs))
    return 0


_SUMMARY_COLUMNS = (
    ("lava_float_acc", "Lava float"),
    ("lava_fixed_acc", "Lava fixed, PTQ"),
    ("qat_lava_fixed_acc", "Lava fixed, QAT"),
    ("qat_train_deploy_agreement", "QAT train->deploy agreement"),
)


def _print_summary(run_dir) -> None:
    """Mean test accuracy per method (and Lava accuracies: float, post-training-quantised fixed
    point and, with --qat, the QAT model on fixed point with its train->deploy agreement)."""
    from lava_nt.examples.eeg.report import accuracy_table
    from lava_nt.examples.eeg.study import study_rows

    rows = study_rows(run_dir)
    table = accuracy_table(rows)
    if not table["methods"]:
        return
    dep: dict = {}
    for r in rows:
        if r["kind"] == "deploy" and r.get("deployable") is not False:
            for k, _ in _SUMMARY_COLUMNS:
                if r.get(k) is not None:
                    dep.setdefault((r["method"], k), []).append(r[k])
    print(f"\nmean test accuracy over {len(table['participants'])} left-out participant(s):")
    for m in table["methods"]:
        o = table["mean"][m]
        line = f"  {m:20s} {o['mean']:.3f} (torch)"
        for k, name in _SUMMARY_COLUMNS:
            v = dep.get((m, k))
            if v:
                line += f"  {sum(v) / len(v):.3f} ({name})"
        print(line)


def cmd_report(args) -> int:
    _check_docs(args)
    try:
        from lava_nt.examples.eeg.report import write_report
        from lava_nt.examples.eeg.report.docs import run_block, update_docs

        paths = write_report(args.run_dir, plots=not args.no_plots)
        if args.docs:
            body = run_block(args.run_dir, args.docs_name, args.docs)
            where = update_docs(args.docs, args.docs_name, body)
            print(f"docs block '{args.docs_name}' written to {where}")
    except _user_errors() as exc:
        return _fail("report", exc)
    print(f"results table: {paths['markdown']}")
    return 0


def cmd_sweep(args) -> int:
    _check_docs(args)
    from lava_nt.examples.eeg.sweep import run_sweep

    try:
        run_sweep(args, reproducing_argv(args, ["eeg", "sweep"]))
    except _user_errors() as exc:
        return _fail("sweep", exc)
    except OSError as exc:
        if not _env_error(exc):
            raise
        return _fail("sweep", exc)
    return 0
