"""``lava-nt train``: build a network from sizes and options and pretrain it on a data file.

lava-nt train --data TRAIN.npz [--val VAL.npz] --hidden 400 800 [--classes 2] [--population 50]
              [--beta 0.9] [--vth 1] [--reset subtract|zero] [--du 1] [--no-bias] [--init-seed 0]
              [--epochs 15] [--lr 1e-4] [--batch-size 32] [--T 25] [--spike-l1 1e-3]
              [--patience N] [--select val|last] [--seed 0] [--abstract FIRST-LAST ...]
              [--abstract-matrix derived|identity] [--sparse-grad B_TH] --out MODEL.h5
              [--run-dir DIR] [--overwrite]

The network is :func:`lava_nt.builder.build_network` (``n_in`` from the data, NTLIF layers,
population-coded output: ``classes * population`` output neurons); it is trained with
:func:`lava_nt.training.train` (BPTT, Adam, cross-entropy on population spike counts, spike-rate
L1; ``--abstract`` abstracts the backward pass of layer blocks, :mod:`lava_nt.training.abstracted`;
``--sparse-grad`` keeps surrogate gradients near threshold only, :mod:`lava_nt.nn.sparse_grad`)
and written as a lava-nt model file. Data files: :mod:`lava_nt.data` (binary inputs, labels
``y``). Progress, checkpoint and exact resume live in the run directory
(:mod:`lava_nt.commands.training_run`).

``--reset subtract`` (the default, the thesis' LIF, as :func:`~lava_nt.builder.build_network`)
exports to NIR only with ``export-nir --subtract-reset metadata`` and not to netx; the command
prints a note saying so. ``--reset zero`` builds a network that exports to both.
"""

from __future__ import annotations

import sys

from lava_nt.commands.arguments import positive_float, positive_int
from lava_nt.commands.training_run import (
    RunError,
    add_trainer_options,
    history_summary,
    labelled,
    load_labelled,
    plan_run,
    shell_quote,
    trainer_config,
    trainer_identity,
)


def register(subparsers) -> None:
    """Add ``lava-nt train``."""
    p = subparsers.add_parser(
        "train",
        help="build a network from sizes and options and pretrain it on a data file",
        description="Build an NTLIF network (n_in from the data -> hidden layers -> classes x "
        "population output neurons) and train it with BPTT on labelled data (.npz: x binary "
        "spikes [T, N, n_in] or static [N, n_in], y labels). Writes a lava-nt model file; the "
        "run directory makes the command resumable.",
    )
    p.add_argument("--data", required=True, metavar="TRAIN.npz", help="training data (x, y)")
    p.add_argument("--val", metavar="VAL.npz", help="validation data (epoch selection)")
    n = p.add_argument_group("network (lava_nt.builder.build_network)")
    n.add_argument(
        "--hidden",
        type=positive_int,
        nargs="*",
        default=[],
        metavar="N",
        help="hidden layer sizes, e.g. --hidden 400 800 (default: none)",
    )
    n.add_argument("--classes", type=positive_int, default=None, help="default: max(y) + 1")
    n.add_argument(
        "--population",
        type=positive_int,
        default=10,
        help="output neurons per class (default %(default)s)",
    )
    n.add_argument("--beta", type=float, default=0.9, help="membrane decay 1 - dv (default 0.9)")
    n.add_argument("--vth", type=positive_float, default=1.0, help="threshold (default 1)")
    n.add_argument(
        "--reset",
        choices=("subtract", "zero"),
        default="subtract",
        help="after a spike: subtract the threshold (default; the thesis LIF; export-nir needs "
        "--subtract-reset metadata and export-netx refuses it) or reset to zero (exports to "
        "netx and plain NIR)",
    )
    n.add_argument("--du", type=float, default=1.0, help="current decay (default 1: no memory)")
    n.add_argument(
        "--no-bias", action="store_true", help="no biases (for the additive_bias tuning method)"
    )
    n.add_argument("--init-seed", type=int, default=0, help="weight initialisation (default 0)")
    add_trainer_options(p, epochs=15, lr=1e-4)
    p.set_defaults(func=cmd_train)


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.data import DataError
    from lava_nt.io import CorruptFileError, UnsafeFileError
    from lava_nt.spec.validation import ParameterError

    return (RunError, DataError, ModelFileError, ParameterError, CorruptFileError,
            UnsafeFileError)  # fmt: skip


def cmd_train(args) -> int:
    try:
        return _train(args)
    except _user_errors() as exc:
        print(f"lava-nt train: error: {exc}", file=sys.stderr)
        return 1


RESET_NOTE = (
    "note: reset 'subtract' (the default): to export this model use export-nir --subtract-reset "
    "metadata (lava-nt reads it back); netx cannot hold it (train with --reset zero for netx)"
)


def _training_data(args):
    """The training data and the number of classes (``--classes`` or ``max(y) + 1``)."""
    from lava_nt.data import load_data

    if args.classes is not None and args.classes < 2:
        raise RunError(f"--classes must be at least 2, got {args.classes}")
    data = load_data(args.data, T=args.T, default_T=25, n_classes=args.classes)
    tr = labelled(data, "training")
    classes = args.classes if args.classes is not None else int(tr.y.max()) + 1
    if classes < 2:
        raise RunError(
            f"the training labels hold one class only ({int(tr.y.max())}); pass --classes N"
        )
    return tr, data.n_in, classes


def _train(args) -> int:

    from lava_nt.builder import build_network
    from lava_nt.converters.model_file import save_model
    from lava_nt.training import train

    tr, n_in, classes = _training_data(args)
    va = None
    if args.val:
        va = load_labelled(args.val, "validation", n_in=n_in, n_classes=classes, T=args.T)
    cfg = trainer_config(args, T=tr.T, n_classes=classes, have_val=va is not None)
    network = {
        "n_in": n_in, "hidden": list(args.hidden), "classes": classes,
        "population": args.population, "beta": args.beta, "vth": args.vth,
        "reset": args.reset, "du": args.du, "bias": not args.no_bias, "init_seed": args.init_seed,
    }  # fmt: skip
    settings = {"network": network, "trainer": trainer_identity(cfg)}
    inputs = {"train": args.data} | ({"val": args.val} if args.val else {})
    plan, done = plan_run("train", args, settings, inputs)
    if done is not None:
        print(f"lava-nt train: {plan.out} is already the result of this run (nothing to do)")
        _print_result(plan.out, done.meta, args, written=False)
        return 0
    net = build_network(
        n_in, list(args.hidden), classes, args.population, bias=not args.no_bias,
        beta=args.beta, vth=args.vth, reset=args.reset, du=args.du, seed=args.init_seed,
    )  # fmt: skip
    from lava_nt.tuning import count_trainable

    print(
        f"lava-nt train: network {net.sizes} ({count_trainable(net):,} parameters), "
        f"{tr.n} training samples" + (f", {va.n} validation samples" if va else "")
        + f", T {tr.T}, {cfg.epochs} epochs, run directory {plan.run_dir}"
    )  # fmt: skip
    if args.reset == "subtract":
        print(RESET_NOTE)
    if plan.resuming:
        print(f"resuming from the checkpoint in {plan.run_dir}")
    model = _fused(net)
    res = train(
        model, (tr.x, tr.y), cfg, val_data=None if va is None else (va.x, va.y),
        run_dir=plan.run_dir, resume=True,
    )  # fmt: skip
    meta = {
        "seed": args.seed, "data_protocol": "user data", "n_classes": classes,
        "population": args.population, "role": "pretrained", "run": plan.provenance(),
        "history": res.history, "best_epoch": res.best_epoch,
        "stopped_early": bool(res.stopped_early), "T": tr.T,
    }  # fmt: skip
    from lava_nt.io import to_jsonable

    save_model(plan.out, net, meta=to_jsonable(meta), overwrite=args.overwrite)
    _print_result(plan.out, meta, args)
    return 0


def _fused(net):
    """The fused training path when the network supports it (same function, faster)."""
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.spec.validation import ParameterError

    try:
        return FusedNTNetwork.from_network(net)
    except ParameterError:
        return net


def _print_result(out, meta: dict, args, written: bool = True) -> None:
    sel = meta["run"]["settings"]["trainer"]["select"]
    print(history_summary(meta.get("history", []), meta.get("best_epoch", -1), sel))
    print(f"model written to {out}" if written else f"model: {out}")
    data = args.val or args.data
    print("next: tune it to new data, or evaluate it:")
    print(
        f"  lava-nt tune {shell_quote(out)} --train NEW_TRAIN.npz --val NEW_VAL.npz "
        "--method nt2 --out tuned.h5"
    )
    print(f"  lava-nt evaluate {shell_quote(out)} --data {shell_quote(data)} --engine torch")
