"""The argparse definitions of ``lava-nt eeg {generate,run,report,sweep}``."""

from __future__ import annotations

from lava_nt.commands.arguments import (
    nonnegative_int,
    positive_float,
    positive_int,
    positive_seconds,
)
from lava_nt.commands.eeg.config import QUICK
from lava_nt.commands.eeg.generate import GENERATE_CONFIRM_BYTES, cmd_generate
from lava_nt.commands.eeg.report import cmd_report
from lava_nt.commands.eeg.run import cmd_run
from lava_nt.commands.eeg.sweep import cmd_sweep


def register(subparsers) -> None:
    """Add ``lava-nt eeg {generate,run,report,sweep}``."""
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
        "none nt2 spiking_bias spiking_bias_sparse volumetric ablation tft; opt-in: nt1 readout "
        "lora logreg ondevice = the biases tuned by the on-device local rule, float and fixed)",
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
        "--keep-checkpoints",
        action="store_true",
        help="keep the trainer checkpoints (checkpoint.pt, best.pt, also under qat/) of "
        "finished pretrainings and units; default: removed once the unit's model file is written "
        "and its results line recorded (an interrupted training still resumes exactly). "
        "Recorded in run.json",
    )
    r.add_argument(
        "--sparse-grad",
        type=positive_float,
        metavar="B_TH",
        help="sparse spiking gradient descent in pretraining and tuning: surrogate gradients "
        "only where |v - vth| < B_TH * vth (e.g. 0.5), zero elsewhere; recorded in run.json and "
        "every results row. Default: the dense surrogate gradient",
    )
    r.add_argument(
        "--ondevice-engine",
        choices=("twin", "lava"),
        default="twin",
        help="method ondevice: what learns the biases: twin (default: the numpy twin) or lava "
        "(the eta x band grid on the twin, then the chosen point once more as ONE Lava learning "
        "run per precision, float and fixed, whose biases the unit deploys; equal to the twin, "
        "recorded in each row as ondevice_engine)",
    )
    r.add_argument(
        "--ondevice-metric",
        choices=("accuracy", "balanced"),
        default="accuracy",
        help="method ondevice: the score that chooses eta x band on the selection part: accuracy "
        "(default) or balanced (mean per-class accuracy)",
    )
    r.add_argument(
        "--ondevice-learn-on",
        choices=("all", "errors"),
        default="all",
        help="method ondevice: which tuning samples learn: all (default) or errors (at the start "
        "of each pass, only the samples the network misclassifies)",
    )
    r.add_argument(
        "--ondevice-error-gate",
        choices=("always", "misclassified"),
        default="always",
        help="method ondevice: the rule's error gate: always (default) or misclassified (a sample "
        "pushes the biases only while its output counts predict another class)",
    )
    r.add_argument(
        "--ondevice-class-weights",
        choices=("none", "balanced"),
        default="none",
        help="method ondevice: weights of each class's error: none (default) or balanced "
        "(N / (K N_y) over the person's tuning labels)",
    )
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
    rep.add_argument(
        "--against",
        metavar="BASE_RUN",
        help="compare RUN_DIR with another run of the same units (e.g. without --sparse-grad): "
        "per method both mean test accuracies and the paired difference; with --docs that "
        "comparison is the block written",
    )
    docs_options(rep)
    rep.add_argument(
        "--docs-part",
        choices=DOCS_PARTS,
        default="all",
        help="what the --docs block holds: all (settings, accuracies, statistics, deployment, "
        "wall times; default), deployment (the Lava deployment, fixed point and QAT section "
        "with the pooled fixed-minus-float differences) or claims (the folds and the verdict "
        "on each of the thesis' claims, short enough for a README)",
    )
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
    sw.add_argument(
        "--report",
        metavar="DIR",
        help="run nothing: print the table of a sweep directory written by --out (with --docs: "
        "write it into the page's block, captioned with the recorded command and commit)",
    )
    docs_options(sw)
    sw.set_defaults(func=cmd_sweep, parser=sw)


DOCS_PARTS = ("all", "deployment", "claims")


def docs_options(p) -> None:
    p.add_argument(
        "--docs",
        metavar="FILE",
        help="also write the tables into this page, between "
        "its '<!-- BEGIN generated: NAME -->' and '<!-- END generated: NAME -->' lines",
    )
    p.add_argument("--docs-name", metavar="NAME", help="the block of --docs to replace")
