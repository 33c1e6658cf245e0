"""``lava-nt abstracted``: the thesis' chapter 3 Table 1 comparison (abstracted gradients).

lava-nt abstracted run [--quick] [--out DIR] [--seeds N] [--epochs N] [--parts table1 eeg]
                       [--eeg-participants N] [--datasets mnist digits]
    Train a 5-layer ReLU MLP (784-392-196-98-49-10) with plain backpropagation, with its three
    middle layers abstracted by the derived M (eq. 5) and by the block identity [I 0], on the
    MNIST subset of the image example and on scikit-learn's digits (Adam 1e-4, batch 64, 10
    epochs, test accuracy = max over epochs); write ``results.csv``, ``meta.json`` and
    ``report.md`` with the mean and standard deviation over seeds and the measured cost per step.
    Needs the ``images`` extra. ``--parts eeg`` runs the same comparison on the EEG spiking
    network (``160-400-800-100``, its middle layer abstracted; pretraining and nt2 tuning; small:
    synthetic data, a few left-out participants). The command records itself in
    ``DIR/commands.jsonl``; a rerun of a part into the same directory rewrites that part's files
    and replaces its recorded line (the other part's are kept).
lava-nt abstracted report DIR [--docs PAGE.md] [--docs-name NAME]
    (Re)write ``report.md``; with ``--docs`` also the generated block NAME (default ``table1``)
    of a documentation page, captioned with the recorded command and commit.

The abstraction itself is :mod:`lava_nt.training.abstracted` (``lava-nt train`` / ``tune``
``--abstract FIRST-LAST`` apply it to spiking networks).
"""

from __future__ import annotations

import itertools
import shlex
import sys

from lava_nt.commands.arguments import positive_int
from lava_nt.commands.recorded import recorded_run


def register(subparsers) -> None:
    """Add ``lava-nt abstracted {run,report}``."""
    p = subparsers.add_parser(
        "abstracted",
        help="abstracted gradients study: the thesis' chapter 3 Table 1 (baseline vs derived M "
        "vs [I 0])",
        description="Abstracted gradients (thesis chapter 3): the backward pass skips a block of "
        "layers through one matrix M. Reproduces Table 1 (a 5-layer ReLU MLP, three layers "
        "abstracted) on the bundled MNIST subset and scikit-learn digits.",
    )
    sub = p.add_subparsers(dest="abstracted_command", required=True)
    r = sub.add_parser("run", help="run the study and write the report")
    r.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs (a smoke test)")
    r.add_argument("--out", default=None, help="study directory (default runs/abstracted[-quick])")
    r.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="number of seeds 0..N-1 (default 5; 2 with --quick)",
    )
    r.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="epochs per run (default 10, the thesis'; 2 with --quick)",
    )
    r.add_argument(
        "--parts",
        nargs="+",
        choices=("table1", "eeg"),
        default=["table1"],
        help="table1: the MLP comparison (default); eeg: the same comparison on the EEG spiking "
        "network, pretraining and nt2 tuning (small: synthetic data, a few participants)",
    )
    r.add_argument(
        "--eeg-participants",
        type=positive_int,
        default=None,
        metavar="N",
        help="--parts eeg: leave out participants 1..N in turn (default 2; pool max(6, N + 1))",
    )
    r.add_argument(
        "--datasets",
        nargs="+",
        choices=("mnist", "digits"),
        default=None,
        help="default: mnist digits",
    )
    r.set_defaults(func=_run, parser=r)
    rep = sub.add_parser("report", help="(re)write the report of a study directory")
    rep.add_argument("dir")
    rep.add_argument(
        "--docs",
        metavar="PAGE.md",
        help="also write the table into the generated block --docs-name of this page "
        "(<!-- BEGIN generated: NAME --> ... <!-- END generated: NAME -->), captioned with the "
        "recorded command and commit",
    )
    rep.add_argument("--docs-name", metavar="NAME", default="table1", help="default table1")
    rep.set_defaults(func=_report)


def _run(args) -> int:
    try:
        from lava_nt.examples.abstracted import study
        from lava_nt.examples.abstracted.eeg import run_eeg
        from lava_nt.examples.abstracted.report import write_report
        from lava_nt.examples.images.data import MissingImageData
    except ImportError as exc:  # pragma: no cover
        print(f"lava-nt abstracted: {exc}", file=sys.stderr)
        return 2

    out = args.out or ("runs/abstracted-quick" if args.quick else "runs/abstracted")
    settings = {}
    if args.seeds is not None:
        settings["seeds"] = tuple(range(args.seeds))
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    if args.datasets is not None:
        settings["datasets"] = tuple(dict.fromkeys(args.datasets))
    eeg = {"seeds": settings["seeds"]} if "seeds" in settings else {}
    if args.eeg_participants is not None:
        n = args.eeg_participants
        eeg |= {"left_out": tuple(range(1, n + 1)), "pool": max(6, n + 1)}

    def work():
        if "table1" in args.parts:
            study.run(out, settings, quick=args.quick)
        if "eeg" in args.parts:
            run_eeg(out, eeg, quick=args.quick)
            write_report(out)

    parts = sorted(set(args.parts))
    status = recorded_run(
        "lava-nt abstracted", out, args, ["abstracted", "run"], work,
        user_errors=(MissingImageData,), fields={"parts": parts},
        replace=lambda line: bool(set(recorded_parts(line)) & set(parts)),
    )  # fmt: skip
    if status == 0:
        print(f"{out}/report.md")
    return status


def recorded_parts(line: dict) -> list[str]:
    """The parts (``table1``, ``eeg``) a recorded ``abstracted run`` line made: its ``parts``
    field, or for a line recorded without one, the ``--parts`` of its command (default table1).
    A rerun of a part rewrites that part's files, so its line replaces the earlier lines of the
    part and keeps the others'."""
    if isinstance(line.get("parts"), list):
        return [str(p) for p in line["parts"]]
    words = shlex.split(str(line.get("command", "")))
    if "--parts" not in words:
        return ["table1"]
    after = words[words.index("--parts") + 1 :]
    return [w for w in itertools.takewhile(lambda w: not w.startswith("-"), after)]


def _report(args) -> int:
    from lava_nt.examples.abstracted.report import docs_block, write_report

    try:
        path = write_report(args.dir)
        if args.docs:
            from lava_nt.docs_blocks import DocsBlockError, update_docs

            regen = f"lava-nt abstracted report {args.dir} --docs {args.docs}"
            if args.docs_name != "table1":
                regen += f" --docs-name {args.docs_name}"
            try:
                where = update_docs(args.docs, args.docs_name, docs_block(args.dir, regen))
            except DocsBlockError as exc:
                print(f"lava-nt abstracted: error: {exc}", file=sys.stderr)
                return 2
            print(f"docs block '{args.docs_name}' written to {where}")
    except FileNotFoundError as exc:
        print(f"lava-nt abstracted: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
