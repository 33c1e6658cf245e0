"""``lava-nt tune``: freeze a saved model and tune it to new data with neuromodulatory tuning.

lava-nt tune MODEL --train TRAIN.npz [--val VAL.npz] --method nt2 [nt1 ...] [--layers ...]
             [--group-size 10] [--input-sparsity 0.85] [--sparsity 0.9] [--gain-init identity]
             [--qat] [--target lava|netx] [--epochs 100] [--lr 1e-2] [--patience N]
             [--select val|last] [--seed 0] [--abstract FIRST-LAST ...]
             [--abstract-matrix derived|identity] [--sparse-grad B_TH] --out TUNED.h5
             [--run-dir DIR] [--overwrite]

MODEL is any lava-nt model file (trained here, written by the examples, or imported from netx /
NIR: their float network is tuned). :func:`lava_nt.tuning.apply_tuning` freezes it and makes the
methods' parameters trainable (seeded by ``--seed``); :func:`lava_nt.training.train` tunes them;
the result is written as a lava-nt model file with its provenance (the source model's hash, the
methods, the data files' hashes, the training history).

``--qat`` tunes through the Loihi fixed-point network itself (:class:`lava_nt.qat.QATNetwork`):
the training forward *is* the integer network that Lava's fixed-point models run, and the model
file carries exactly those integers (its attached fixed-point network), so ``lava-nt deploy
TUNED.h5 --precision fixed`` reproduces the training forward spike for spike. The scales are those
of MODEL's attached fixed-point network when it has one (an imported netx model keeps its
integers), else the quantiser's choice. A network that ends in an integrator readout is tuned
through its fixed-point readout too (the loss takes the readout's integer values divided by its
scale); a network built for real-valued (graded) input trains on the integers ``round(x * S_x)``
its fixed-point network takes, ``S_x`` being the attached quantisation's input scale, else the
rule ``lava-nt evaluate`` applies (:func:`lava_nt.converters.quantize.scale.graded_input_scale`:
the power of two that puts the training data's largest magnitude into the 8-bit range; 1 for
integer data). Synaptic delays (``LayerSpec.delay``) are trained through as the fixed-point
engines run them (one integer drive per distinct delay, :mod:`lava_nt.spec.delay`) and carried
into the tuned model file. ``--target netx`` keeps every register within what
lava-dl's netx format holds (bias exponent 6, integer weights, no gains or spiking biases, reset
to zero), so ``lava-nt export-netx`` writes exactly the trained integers.

``--lr`` defaults to :data:`lava_nt.training.TUNE_LR` (1e-2) for the NT methods, which train a
few biases, gains or bias-neuron weights against frozen weights and barely move at the
pretraining rate, and to the pretraining rate 1e-4 for ``tft`` (it trains every weight).

``--abstract FIRST-LAST`` (repeatable) and ``--abstract-matrix`` tune with abstracted gradients
(:mod:`lava_nt.training.abstracted`): the tuned parameters before a block learn from the gradient
at the block's output carried through one matrix; not with ``--qat``.

Progress, checkpoint and exact resume: :mod:`lava_nt.commands.training_run`.
"""

from __future__ import annotations

import sys

from lava_nt.commands.arguments import (
    model_classes,
    positive_int,
    reset_export_error,
    subtract_reset_layers,
)
from lava_nt.commands.training_run import (
    RunError,
    add_trainer_options,
    file_sha256,
    history_summary,
    load_labelled,
    plan_run,
    shell_quote,
    trainer_config,
    trainer_identity,
)


def _fraction(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}")
    return v


def register(subparsers) -> None:
    """Add ``lava-nt tune``."""
    from lava_nt.tuning import METHODS

    p = subparsers.add_parser(
        "tune",
        help="freeze a saved model and tune it to new data (NT1, NT2, spiking biases, ...; "
        "--qat for fixed point)",
        description="Neuromodulatory tuning of a saved lava-nt model (any model file, imported "
        "ones included) on labelled data (.npz: x binary spikes [T, N, n_in] or static "
        "[N, n_in], real-valued x for a network built for graded input, y labels). Every "
        "pretrained weight stays frozen; the methods' parameters are trained. Writes a lava-nt "
        "model file; the run directory makes the command resumable.",
    )
    p.add_argument("model", metavar="MODEL", help="lava-nt model file (.h5)")
    p.add_argument("--train", required=True, metavar="TRAIN.npz", help="tuning data (x, y)")
    p.add_argument("--val", metavar="VAL.npz", help="validation data (epoch selection)")
    m = p.add_argument_group("tuning (lava_nt.tuning.apply_tuning)")
    m.add_argument(
        "--method",
        nargs="+",
        required=True,
        choices=METHODS,
        metavar="METHOD",
        help=f"one or more of {', '.join(METHODS)} (combinable where sensible: nt1 nt2)",
    )
    m.add_argument(
        "--layers",
        type=int,
        nargs="+",
        metavar="K",
        help="layers to tune (0-based; default all, volumetric: 0)",
    )
    m.add_argument("--gain-init", choices=("identity", "uniform"), default="identity",
                   help="nt1 gains start at 1 (identity) or U(0, 1) (the paper)")  # fmt: skip
    m.add_argument("--group-size", type=positive_int, default=10,
                   help="volumetric: neurons per bias neuron (default %(default)s)")  # fmt: skip
    m.add_argument("--input-sparsity", type=_fraction, default=0.85,
                   help="volumetric: zero fraction of W_in (default %(default)s)")  # fmt: skip
    m.add_argument("--sparsity", type=_fraction, default=0.9,
                   help="spiking_bias_sparse: zero fraction of W_in (default 0.9)")  # fmt: skip
    m.add_argument(
        "--n-classes",
        type=positive_int,
        default=None,
        help="classes of the population code (default: from the model file)",
    )
    q = p.add_argument_group("fixed point")
    q.add_argument(
        "--qat",
        action="store_true",
        help="quantisation-aware tuning: train through the Loihi fixed-point network (an "
        "integrator readout, graded input as round(x * input scale) and synaptic delays "
        "included), so that "
        "Lava fixed point (lava-nt deploy --precision fixed) runs bit for bit what training "
        "computed",
    )
    q.add_argument(
        "--target",
        choices=("lava", "netx"),
        default=None,
        help="with --qat: the fixed-point format to tune for (default: that of MODEL's attached "
        "fixed-point network, else lava; netx: lava-dl netx registers, exported exactly by "
        "export-netx)",
    )
    add_trainer_options(p, epochs=100, lr=None)
    p.set_defaults(func=cmd_tune)


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.quantize import QuantizationError
    from lava_nt.data import DataError
    from lava_nt.io import CorruptFileError, UnsafeFileError
    from lava_nt.qat import QATError
    from lava_nt.spec.validation import ParameterError

    return (RunError, DataError, ModelFileError, ParameterError, QuantizationError, QATError,
            CorruptFileError, UnsafeFileError)  # fmt: skip


def cmd_tune(args) -> int:
    try:
        return _tune(args)
    except _user_errors() as exc:
        print(f"lava-nt tune: error: {exc}", file=sys.stderr)
        return 1


def _load(args, path, role: str, spec, n_classes: int):
    """A labelled data file for the trainer (:func:`~lava_nt.commands.training_run.labelled`);
    real-valued input for a graded network with ``--qat`` stays float64, so that the integers
    ``round(x * S_x)`` of training are those ``lava-nt evaluate`` computes from the same file."""
    if not (args.qat and spec.graded):
        return load_labelled(
            path, role, n_in=spec.n_in, n_classes=n_classes, T=args.T, graded=spec.graded
        )
    import dataclasses

    import numpy as np
    import torch

    from lava_nt.commands.training_run import labelled
    from lava_nt.data import load_data

    data = load_data(path, T=args.T, default_T=25, n_in=spec.n_in, n_classes=n_classes)
    x = torch.as_tensor(np.ascontiguousarray(data.x), dtype=torch.float64)
    return dataclasses.replace(labelled(data, role, True), x=x)


def _qat_options(args, info, methods, spec, x) -> dict | None:
    """The QAT settings (target, scales, bias exponent, input and readout scales), or None
    without ``--qat``."""
    if not args.qat:
        if args.target is not None:
            raise RunError("--target chooses the fixed-point format of --qat; add --qat")
        return None
    rep = info.quant_report
    target = args.target or (getattr(rep, "target", None) if rep is not None else None) or "lava"
    if target == "netx":
        bad = [m for m in methods if m in ("nt1", "spiking_bias", "spiking_bias_sparse",
                                          "volumetric")]  # fmt: skip
        if bad:
            raise RunError(
                f"--target netx: netx has no gains or spiking biases; method(s) {', '.join(bad)} "
                "cannot be tuned for it (use --target lava)"
            )
    from lava_nt.converters.quantize.scale import graded_input_scale

    opts = {"target": target, "scales": None, "bias_scales": None,
            "bias_exp": 6 if target == "netx" else "neuron", "readout_scale": None,
            "input_scale": graded_input_scale(spec, x),
            "source": "the quantiser's choice"}  # fmt: skip
    if rep is not None and getattr(rep, "target", "lava") == target:
        opts["scales"] = [float(lq.scale) for lq in rep.layers]
        opts["bias_scales"] = [
            None if not lq.spiking_bias else float(lq.spiking_bias["scale"]) for lq in rep.layers
        ]
        mode = str(rep.bias_exp_mode)
        opts["bias_exp"] = int(mode) if mode.lstrip("-").isdigit() else mode
        if rep.readout is not None:
            opts["readout_scale"] = float(rep.readout.scale)
        if spec.graded:
            opts["input_scale"] = float(rep.input_scale)
        opts["source"] = "the model's attached fixed-point network"
    return opts


def _tune(args) -> int:

    from lava_nt.converters.model_file import load_model, network_from_model
    from lava_nt.tuning import apply_tuning

    spec, info = load_model(args.model)
    if spec.fixed:
        raise RunError(
            f"model '{args.model}' holds only a fixed-point network; tuning needs a float network "
            "(import-netx and import-nir write one)"
        )
    n_classes = model_classes(info, args.n_classes, spec, args.model, RunError)
    tr = _load(args, args.train, "training", spec, n_classes)
    va = None if not args.val else _load(args, args.val, "validation", spec, n_classes)
    methods = list(dict.fromkeys(args.method))
    if args.lr is None:  # NT methods: TUNE_LR; tft trains the weights: the pretraining rate
        from lava_nt.training import PRETRAIN_LR, TUNE_LR

        args.lr = PRETRAIN_LR if "tft" in methods else TUNE_LR
    cfg = trainer_config(args, T=tr.T, n_classes=n_classes, have_val=va is not None)
    kwargs = {"gain_init": args.gain_init, "group_size": args.group_size,
              "input_sparsity": args.input_sparsity, "sparsity": args.sparsity}  # fmt: skip
    if args.layers is not None:
        kwargs["layers"] = list(args.layers)
    net = network_from_model(spec, info)
    report = apply_tuning(net, methods, seed=args.seed, **kwargs)  # checks methods and layers
    if report.total == 0:
        raise RunError(f"method(s) {' '.join(methods)} leave nothing to tune in this network")
    qopts = _qat_options(args, info, methods, spec, tr.x)
    if qopts is not None and cfg.abstract:
        raise RunError(
            "--abstract trains the float network (NTNetwork); it does not combine with --qat"
        )
    if qopts is not None and cfg.sparse_grad is not None:
        raise RunError(
            "--sparse-grad bands the float network's surrogate gradient; QAT has no banded "
            "backward, so it does not combine with --qat"
        )
    settings = {"methods": methods, "tuning": kwargs, "n_classes": n_classes,
                "trainer": trainer_identity(cfg),
                "qat": None if qopts is None else {k: v for k, v in qopts.items()
                                                   if k != "source"}}  # fmt: skip
    inputs = {"model": args.model, "train": args.train} | ({"val": args.val} if args.val else {})
    plan, done = plan_run("tune", args, settings, inputs)
    if done is not None:
        print(f"lava-nt tune: {plan.out} is already the result of this run (nothing to do)")
        _print_result(plan.out, done.meta, args, written=False)
        return 0
    model, qat = _trainer_model(net, qopts, info)
    print(
        f"lava-nt tune: {args.model} (network {spec.sizes}), {'+'.join(methods)}: "
        f"{report.total:,} trainable parameters, {tr.n} training samples"
        + (f", {va.n} validation samples" if va else "")
        + f", T {tr.T}, up to {cfg.epochs} epochs"
        + (f", QAT for {qopts['target']} (scales from {qopts['source']})" if qat else "")
    )  # fmt: skip
    if qat is not None and qat.graded:
        print(f"  graded input: the fixed-point network takes round(x * {qat.input_scale:g})")
    for line in report.added:
        print(f"  added {line}")
    if qat is not None:
        _warn_requantised(qat, info)
    if plan.resuming:
        print(f"resuming from the checkpoint in {plan.run_dir}")
    from lava_nt.training import train

    res = train(
        model, (tr.x, tr.y), cfg, val_data=None if va is None else (va.x, va.y),
        run_dir=plan.run_dir, resume=True,
    )  # fmt: skip
    meta = {
        "seed": args.seed, "data_protocol": "user data", "n_classes": n_classes,
        "tuning_methods": methods, "role": "tuned", "run": plan.provenance(),
        "tuned_from": {"path": str(args.model), "sha256": file_sha256(args.model),
                       "seed": info.seed, "role": info.meta.get("role"),
                       "tuning_methods": info.tuning_methods},
        "history": res.history, "best_epoch": res.best_epoch,
        "stopped_early": bool(res.stopped_early), "T": tr.T,
        "n_trainable": report.total, "trainable_counts": report.trainable,
    }  # fmt: skip
    if info.population is not None:
        meta["population"] = info.population
    from lava_nt.io import to_jsonable

    if qat is not None:
        meta["qat_check"] = _handoff_check(qat, va or tr)
        qat.save(plan.out, meta=to_jsonable(meta), overwrite=args.overwrite)
    else:
        from lava_nt.converters.model_file import save_model

        save_model(plan.out, net, meta=to_jsonable(meta), overwrite=args.overwrite)
    _print_result(plan.out, meta, args)
    return 0


def _trainer_model(net, qopts, info):
    """``(model handed to the trainer, QATNetwork or None)``."""
    if qopts is None:
        from lava_nt.commands.train import _fused

        return _fused(net), None
    from lava_nt.converters.quantize import quantize
    from lava_nt.qat import QATNetwork

    scales, bias_scales = qopts["scales"], qopts["bias_scales"]
    readout_scale, input_scale = qopts["readout_scale"], qopts["input_scale"]
    if qopts["target"] == "netx" and scales is None:
        spec = net.to_spec()
        layers = subtract_reset_layers(spec)
        if layers:
            raise RunError(reset_export_error(info.path, layers, "netx"))
        _, rep = quantize(spec, target="netx", input_scale=input_scale)  # refuses spiking biases
        scales = [float(lq.scale) for lq in rep.layers]
        if rep.readout is not None:
            readout_scale = float(rep.readout.scale)
        gains = [ls.neuron.gain for ls in spec.layers]
        import numpy as np

        if any(np.any(np.asarray(g) != 1.0) for g in gains):
            raise RunError("--target netx: the model has gains other than 1, which netx cannot "
                           "hold (tune for --target lava)")  # fmt: skip
    if bias_scales is not None:
        bias_scales = [
            s if k < len(net.layers) and net.layers[k].spiking_bias is not None else None
            for k, s in enumerate(bias_scales)
        ]
    qat = QATNetwork(
        net, scales=scales, bias_scales=bias_scales, bias_exp=qopts["bias_exp"],
        input_scale=input_scale, readout_scale=readout_scale,
    )  # fmt: skip
    qat.n_classes = getattr(net, "n_classes", None)
    return qat, qat


def _warn_requantised(qat, info) -> None:
    """Say so when QAT's frozen weights differ from the model's attached fixed-point network."""
    if info.quantized is None:
        return
    import numpy as np

    fixed = qat.to_fixed_spec(check=False)
    differ = [
        k
        for k, (a, b) in enumerate(zip(info.quantized.layers, fixed.layers, strict=True))
        if a.weight_exp != b.weight_exp or not np.array_equal(np.asarray(a.weight), b.weight)
    ]
    if differ:
        print(
            f"  note: at these scales the frozen weights of layer(s) {differ} round differently "
            "from the model's attached fixed-point network (the tuned model carries its own)"
        )


def _handoff_check(qat, data) -> dict:
    """Run the saved fixed-point network in the emulator (bit-exact with Lava fixed point) on
    (at most 256 samples of) ``data`` and compare every layer's spikes, and a readout's integer
    values, with the QAT training forward."""
    import numpy as np
    import torch

    from lava_nt.nn.fixed_emulator import run_fixed

    n = min(data.n, 256)
    x = data.x[..., :n, :].to(torch.float64)
    xs = x if x.ndim == 3 else x.unsqueeze(0).expand(data.T, *x.shape)
    with torch.no_grad():
        out, recs = qat.forward(xs, record=True)
    emu = run_fixed(qat.to_fixed_spec(), qat.fixed_input(xs).to(torch.int64), record=True)
    exact = all(
        np.array_equal(r["spikes"].numpy(), e["spikes"].numpy())
        for r, e in zip(recs, emu.layers, strict=True)
    )
    if qat.readout is not None:
        exact = exact and np.array_equal(out.numpy(), emu.output.numpy())
    return {"data": data.path, "samples": n, "bit_exact": bool(exact),
            "readout": qat.readout is not None}  # fmt: skip


def _print_result(out, meta: dict, args, written: bool = True) -> None:
    sel = meta["run"]["settings"]["trainer"]["select"]
    print(history_summary(meta.get("history", []), meta.get("best_epoch", -1), sel))
    chk = meta.get("qat_check")
    if chk:
        verdict = "bit for bit" if chk["bit_exact"] else "NOT bit for bit (please report this)"
        print(
            f"QAT: the fixed-point network attached to {out} computes the training forward "
            f"(every layer's spikes{', the readout values' if chk.get('readout') else ''}) "
            f"{verdict} on {chk['samples']} samples of {chk['data']} (checked in the fixed-point "
            "emulator, which equals Lava fixed point)"
        )
    print(f"model written to {out}" if written else f"model: {out}")
    test = "TEST.npz"
    q = shell_quote(out)
    print("next: evaluate it on held-out data in Lava fixed point (or float), or deploy it:")
    print(f"  lava-nt evaluate {q} --data {test} --engine lava-fixed")
    print(f"  lava-nt deploy {q} --precision fixed --data {test}")
