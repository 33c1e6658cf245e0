"""``lava-nt ondevice``: tune a model's biases (gains, spiking-bias weights) on (simulated)
neuromorphic hardware.

lava-nt ondevice MODEL --train TUNE.npz --test TEST.npz [--precision float|fixed]
                 [--engine twin|torch|lava] [--feedback identity|derived] [--layers K ...]
                 [--learn bias gain sb_weight] [--eta 3e-4] [--eta-mant M --eta-shift S]
                 [--eta-gain 1e-4] [--eta-gain-mant M --eta-gain-shift S] [--eta-sb 3e-4]
                 [--eta-sb-mant M --eta-sb-shift S] [--band 0.5] [--rates 0.5 0.0]
                 [--readout-targets ON OFF] [--eta-readout 0.05]
                 [--eta-readout-mant M --eta-readout-shift S] [--readout-headroom 1.0]
                 [--epochs 1] [--n-classes N] [--T N] [--timeout S] --out DIR [--overwrite]

One run presents TEST (learning off: accuracy before), then TUNE (learning on, ``--epochs``
passes) and TEST again (accuracy after). The biases of the tuned layers change after every
tuning sample by the local rule of :mod:`lava_nt.spec.learning` (eligibility x error fed back
through a fixed matrix); ``--learn`` adds the gains and the spiking biases' weights (rules of
the same module; one or more of ``bias gain sb_weight``, default ``bias``); ``--engine lava``
does all of it inside ONE Lava run with no torch in the loop
(:func:`lava_nt.ondevice.lava_engine.run_lava`), ``--engine twin`` runs the numpy twin and
``--engine torch`` the torch twin (:func:`lava_nt.ondevice.torch_twin.run_twin_torch`), which
give the same result (bit for bit in fixed point).

A model that ends in a non-spiking readout (a netx or NIR import, read as ``last`` or ``max``)
is tuned through its readout values: the error is ``target - value`` per class (``ON`` for the
label's unit, ``OFF`` for the others; ``--readout-targets``, default the mean value of the label's
unit and of the other units on TUNE, measured with the untuned network), the readout's bias learns
by the delta rule at ``--eta-readout`` and the spiking layers as above; accuracy is the argmax of
the readout values. Layers with synaptic delays are tuned like any other layer.

``--precision fixed`` tunes the Loihi integer network: the model's own (fixed-point model), the
one attached to the model file, or the model quantised now; ``--eta`` is converted to integer
rates per neuron (:func:`lava_nt.ondevice.rule.fixed_rates`; ``--eta-gain``/``--eta-sb`` by
:func:`lava_nt.ondevice.rule.fixed_update_rates`) unless ``--eta-mant``/``--eta-shift``
give them. ``--feedback derived`` measures the least-squares feedback matrices on TUNE with the
untuned network. Writes ``DIR/tuned.h5`` (the tuned network with its learned biases, gains and
spiking-bias weights: float, or fixed point only) and ``DIR/report.json`` (accuracy
before/after, settings, parameter changes), both atomically. In fixed
point the tuned layers' biases first get room to grow (``--bias-headroom``,
:func:`lava_nt.ondevice.rule.bias_headroom`): the quantiser's smallest exponents would saturate
at once; so do the learning spiking biases' weights (``--sb-headroom``,
:func:`lava_nt.ondevice.rule.sb_weight_headroom`) and a readout's bias (``--readout-headroom``,
a fraction of the larger value target, :func:`lava_nt.ondevice.rule.readout_headroom`; the
targets and the headroom come from :func:`lava_nt.ondevice.rule.readout_setup`, which
:func:`lava_nt.ondevice.select.tune_on_device` uses too).
"""

from __future__ import annotations

import argparse
import sys

from lava_nt.commands.arguments import (
    check_output_dir,
    model_classes,
    nonnegative_int,
    positive_float,
    positive_int,
    positive_seconds,
)


class OnDeviceError(Exception):
    """A user-facing error of ``lava-nt ondevice``."""


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a rate in [0, 1], got {text!r}")
    return v


def _eta(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v >= 0.0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def add_rate_options(
    p, name: str, what: str, default: float, shift_max: int, rate_help: str | None = None
) -> None:
    """Add the float rate ``--NAME`` of the ``what`` update and its fixed-point mantissa and
    shift ``--NAME-mant``, ``--NAME-shift`` (``0 .. shift_max``), which override it."""
    rate_help = rate_help or f"{what} learning rate"
    p.add_argument(
        f"--{name}", type=_eta, default=default, help=f"{rate_help} (float; default %(default)s)"
    )
    p.add_argument(
        f"--{name}-mant",
        type=nonnegative_int,
        default=None,
        help=f"fixed point: {what} rate mantissa 0..4095 (with --{name}-shift; overrides --{name})",
    )
    p.add_argument(
        f"--{name}-shift",
        type=nonnegative_int,
        default=None,
        help=f"fixed point: right shift 0..{shift_max} of the {what} update",
    )


def add_gate_options(p, gate_help: str, weights_help: str) -> None:
    """Add ``--error-gate`` (always | misclassified) and ``--class-weights`` (none | balanced)
    of the on-device rule (:mod:`lava_nt.spec.error_gate`), with these help texts."""
    p.add_argument(
        "--error-gate", choices=("always", "misclassified"), default="always", help=gate_help
    )
    p.add_argument(
        "--class-weights", choices=("none", "balanced"), default="none", help=weights_help
    )


def register(subparsers) -> None:
    """Add ``lava-nt ondevice``."""
    p = subparsers.add_parser(
        "ondevice",
        help="tune biases on-device with a local learning rule (in one Lava run, or its twin)",
        description="On-device tuning: present TEST (before), TUNE (learning on) and TEST "
        "(after) in one run; the tuned layers' biases change after each tuning sample by a "
        "local rule (eligibility x output error through a fixed feedback matrix). Writes "
        "DIR/tuned.h5 and DIR/report.json. Guide: docs/on_device.md.",
    )
    p.add_argument("model", help="a lava-nt model file (.h5)")
    p.add_argument("--train", required=True, help="tuning data (.npz with x and labels y)")
    p.add_argument("--test", required=True, help="test data (.npz with x and labels y)")
    p.add_argument(
        "--precision",
        choices=("float", "fixed"),
        default="float",
        help="float64 network, or the Loihi integer one (default float)",
    )
    p.add_argument(
        "--engine",
        choices=("twin", "torch", "lava"),
        default="twin",
        help="twin: the numpy twin; torch: the torch twin (same result); lava: one long Lava "
        "run (default twin)",
    )
    p.add_argument(
        "--feedback",
        choices=("identity", "derived"),
        default="identity",
        help="feedback matrix per layer: [I 0], or least squares on TUNE's counts",
    )
    p.add_argument(
        "--layers",
        type=nonnegative_int,
        nargs="+",
        default=None,
        help="tuned layers (0-based; default all)",
    )
    add_rate_options(p, "eta", "bias", 3e-4, 24)
    p.add_argument(
        "--learn",
        choices=("bias", "gain", "sb_weight"),
        nargs="+",
        default=["bias"],
        help="what learns in the tuned layers: biases, gains, spiking-bias weights (one or "
        "more; default bias)",
    )
    add_rate_options(p, "eta-gain", "gain", 1e-4, 48)
    add_rate_options(p, "eta-sb", "spiking-bias weight", 3e-4, 48)
    p.add_argument(
        "--band",
        type=positive_float,
        default=0.5,
        help="eligible strip below threshold, fraction of vth (default 0.5)",
    )
    p.add_argument(
        "--rates",
        type=_rate,
        nargs=2,
        default=(0.5, 0.0),
        metavar=("ON", "OFF"),
        help="target spike rates of the label's population and the others",
    )
    p.add_argument(
        "--readout-targets",
        type=float,
        nargs=2,
        default=None,
        metavar=("ON", "OFF"),
        help="a model with a readout: value targets of the label's unit and the others "
        "(the model's value units; default measured on TUNE)",
    )
    add_rate_options(p, "eta-readout", "readout bias", 0.05, 48,
                     "a readout's bias: rate of its delta rule")  # fmt: skip
    p.add_argument(
        "--bias-headroom",
        type=_eta,
        default=1.0,
        help="fixed point: give the tuned layers' biases one exponent per layer that holds "
        "this fraction of the threshold (default 1.0; 0 keeps what they need now)",
    )
    p.add_argument(
        "--sb-headroom",
        type=_eta,
        default=1.0,
        help="fixed point, --learn sb_weight: give each tuned layer's spiking-bias weights one "
        "exponent that holds this fraction of the layer's threshold (default 1.0)",
    )
    p.add_argument(
        "--readout-headroom",
        type=_eta,
        default=1.0,
        help="fixed point, a model with a readout: give the readout's bias one exponent that "
        "holds this fraction of the larger value target |ON|, |OFF| (default 1.0; 0 keeps "
        "what it needs now)",
    )
    add_gate_options(
        p,
        "which tuning samples send the output error: always (default) or only the "
        "misclassified ones (argmax of the class counts, lowest class on a tie, != label)",
        "weight each sample's error by its class: none (default) or balanced "
        "(w_y = N / (K N_y) over TUNE; fixed point: 12-bit mantissas and one shift)",
    )
    p.add_argument("--epochs", type=positive_int, default=1, help="passes over TUNE")
    p.add_argument("--n-classes", type=positive_int, default=None)
    p.add_argument("--T", type=positive_int, default=None, help="steps of a static x")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        help="seconds for the Lava run (default from its length)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace DIR's files")
    p.set_defaults(func=cmd_ondevice)  # fmt: skip


def cmd_ondevice(args) -> int:
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.quantize import QuantizationError
    from lava_nt.data import DataError
    from lava_nt.lava.run import LavaError
    from lava_nt.spec.validation import ParameterError

    try:
        return _ondevice(args)
    except (OnDeviceError, DataError, ModelFileError, QuantizationError, ParameterError) as exc:
        print(f"lava-nt ondevice: error: {exc}", file=sys.stderr)
        return 1
    except LavaError as exc:
        from lava_nt.commands.deploy import lava_failure

        print(f"lava-nt ondevice: error: {lava_failure(exc)}", file=sys.stderr)
        return 1


def _network(args, spec, info, xs):
    """``(network to tune, float spec or None, how it was obtained, QuantReport or None)``."""
    if args.precision == "float":
        if spec.fixed:
            raise OnDeviceError(f"model '{args.model}' is fixed point only; use --precision fixed")
        return spec, spec, "the model's float network", None
    if spec.fixed:
        return spec, None, "the model itself (fixed point)", None
    if info.quantized is not None:
        return info.quantized, spec, "attached to the model file", info.quant_report
    from lava_nt.converters.quantize import quantize
    from lava_nt.converters.quantize.scale import graded_input_scale

    fixed, rep = quantize(spec, input_scale=graded_input_scale(spec, xs))
    return fixed, spec, "quantised now", rep


_RATES = (("eta", "bias"), ("eta_gain", "gain"), ("eta_sb", "sb_weight"))


def _rule(args, net, float_spec, T: int, n_classes: int, tune, targets=None):
    from lava_nt.ondevice import make_rule

    x_tune, y_tune = tune
    layers = None if args.layers is None else sorted(set(args.layers))
    kw = dict(layers=layers, band=args.band, feedback=args.feedback, x_feedback=x_tune,
              rates=tuple(args.rates), learn=tuple(dict.fromkeys(args.learn)))  # fmt: skip
    if net.readout is not None:
        kw.update(_readout_rule(args, net, targets))
    kw["error_gate"] = args.error_gate
    if args.class_weights == "balanced":
        from lava_nt.spec.error_gate import balanced_class_weights

        kw["class_weights"] = balanced_class_weights(y_tune, n_classes, where="--class-weights")
    for eta, kind in _RATES:
        mant, shift = getattr(args, f"{eta}_mant"), getattr(args, f"{eta}_shift")
        flag = f"--{eta.replace('_', '-')}"
        if not net.fixed:
            if mant is not None or shift is not None:
                raise OnDeviceError(f"{flag}-mant/{flag}-shift are fixed point only (use {flag})")
            kw[eta] = getattr(args, eta)
        elif mant is not None or shift is not None:
            kw[f"{eta}_mant"], kw[f"{eta}_shift"] = mant or 0, shift or 0
        elif kind in args.learn:
            kw[f"{eta}_mant"], kw[f"{eta}_shift"] = _fixed_rates(args, net, float_spec, eta,
                                                                 kind, layers)  # fmt: skip
    return make_rule(net, T, n_classes, **kw)


def _readout_rule(args, net, targets) -> dict:
    """make_rule's readout keywords: the value targets (:func:`readout_setup`'s) and the rate of
    the readout bias (fixed point: the mantissa and shift given, or ``--eta-readout`` converted
    by make_rule with the rule's error shift)."""
    kw = {"readout_targets": tuple(targets), "eta_readout": args.eta_readout}
    mant, shift = args.eta_readout_mant, args.eta_readout_shift
    if not net.fixed:
        if mant is not None or shift is not None:
            raise OnDeviceError("--eta-readout-mant/--eta-readout-shift are fixed point only "
                                "(use --eta-readout)")  # fmt: skip
    elif mant is not None or shift is not None:
        kw["eta_readout_mant"], kw["eta_readout_shift"] = mant or 0, shift or 0
    else:
        kw["eta_readout_mant"] = None  # converted from --eta-readout
    return kw


def _fixed_rates(args, net, float_spec, eta: str, kind: str, layers):
    """Integer rates (per tuned layer) converted from the float ``--eta*`` of ``kind``."""
    from lava_nt.ondevice import fixed_rates, fixed_update_rates

    flag = f"--{eta.replace('_', '-')}"
    if float_spec is None:
        raise OnDeviceError(
            f"a fixed-point-only model has no float scale to convert {flag}; give the integer "
            f"rate with {flag}-mant M {flag}-shift S"
        )
    chosen = range(len(net.layers)) if layers is None else layers
    if kind == "bias":
        return fixed_rates(args.eta, net, float_spec, chosen)
    mants, shifts = fixed_update_rates(getattr(args, eta), kind, net, float_spec, chosen)
    return [0 if m is None else m for m in mants], shifts


def _ondevice(args) -> int:
    import numpy as np

    from lava_nt.converters.model_file import load_model
    from lava_nt.converters.quantize.scale import fixed_point_input
    from lava_nt.data import load_data

    out_dir = check_output_dir(args.out, OnDeviceError)
    for name in ("tuned.h5", "report.json"):
        if (out_dir / name).exists() and not args.overwrite:
            raise OnDeviceError(f"'{out_dir / name}' exists; pass --overwrite to replace it")
    spec, info = load_model(args.model)
    n_classes = model_classes(info, args.n_classes, spec, args.model, OnDeviceError)
    T0 = info.meta.get("T") if isinstance(info.meta.get("T"), int) else 25
    sets = {}
    for role in ("train", "test"):
        d = load_data(getattr(args, role), T=args.T, default_T=T0, n_in=spec.n_in,
                      n_classes=n_classes)  # fmt: skip
        if d.y is None:
            raise OnDeviceError(f"--{role} {getattr(args, role)}: the data file has no labels y")
        sets[role] = (d.inputs(spec.graded), d.y)
    (xt, yt), (xs, ys) = sets["train"], sets["test"]
    if xt.shape[0] != xs.shape[0]:
        raise OnDeviceError(f"TUNE has {xt.shape[0]} steps per sample, TEST {xs.shape[0]}")
    net, float_spec, source, report = _network(args, spec, info, xt)
    xt, xs = (fixed_point_input(spec, report, v) if net.fixed else v for v in (xt, xs))
    T = int(xt.shape[0])
    if net.fixed:
        from lava_nt.ondevice import bias_headroom, sb_weight_headroom

        layers = range(len(net.layers)) if args.layers is None else sorted(set(args.layers))
        if all(0 <= k < len(net.layers) for k in layers):  # else make_rule names the layer
            net = bias_headroom(net, layers, args.bias_headroom)
            if "sb_weight" in args.learn:
                net = sb_weight_headroom(net, layers, args.sb_headroom)
    targets = None
    if net.readout is not None:
        from lava_nt.ondevice import readout_setup

        net, targets = readout_setup(net, xt, yt, args.readout_targets, args.readout_headroom)
    rule = _rule(args, net, float_spec, T, n_classes, (xt, yt), targets)
    x = np.concatenate([xs] + [xt] * args.epochs + [xs], axis=1)
    labels = np.concatenate([ys] + [yt] * args.epochs + [ys])
    learn = np.concatenate([np.zeros(len(ys))] + [np.ones(len(yt))] * args.epochs
                           + [np.zeros(len(ys))]).astype(np.int64)  # fmt: skip
    print(
        f"lava-nt ondevice: {args.model} (network {net.sizes}, {args.precision}: {source}); "
        f"engine {args.engine}; tuning layers {list(rule.layers)} on {len(yt)} samples x "
        f"{args.epochs} epoch(s), testing on {len(ys)} before and after; T {T}"
    )
    if args.engine == "lava":
        from lava_nt.ondevice.lava_engine import run_lava

        res = run_lava(net, rule, x, labels, learn, timeout=args.timeout)
    elif args.engine == "torch":
        from lava_nt.ondevice import run_twin_torch

        res = run_twin_torch(net, rule, x, labels, learn)
    else:
        from lava_nt.ondevice import run_twin

        res = run_twin(net, rule, x, labels, learn)
    _finish(args, out_dir, net, rule, res, (ys, yt), n_classes, info, source)
    return 0


def _finish(args, out_dir, net, rule, res, ys_yt, n_classes: int, info, source: str) -> None:
    import numpy as np

    from lava_nt.commands import write_json
    from lava_nt.commands.training_run import file_sha256, shell_quote
    from lava_nt.converters.model_file import save_model
    from lava_nt.decode import output_predictions
    from lava_nt.ondevice import tuned_spec

    ys, yt = ys_yt
    n_test = len(ys)
    ro = net.readout
    pred = output_predictions(res.output, n_classes, None if ro is None else ro.reduce)
    before = float(np.mean(pred[:n_test] == ys))
    after = float(np.mean(pred[-n_test:] == ys))
    online = float(np.mean(pred[n_test:-n_test] == np.tile(yt, args.epochs)))
    name = "bias_mant" if net.fixed else "bias"
    changes = _changes(net, res.biases, lambda k: net.layers[k].neuron, name)
    gname = "gain_mant" if net.fixed else "gain"
    wname = "w_b_mant" if net.fixed else "w_b"
    tuned = tuned_spec(net, res.biases, res.gains, res.sb_weights, res.readout_bias)
    settings = {
        "precision": args.precision, "engine": args.engine, "feedback": args.feedback,
        "layers": list(rule.layers), "learn": list(rule.learn), "eta": args.eta,
        "eta_mant": args.eta_mant, "eta_shift": args.eta_shift, "band": args.band,
        "rates": list(args.rates), "epochs": args.epochs, "T": rule.T,
        "bias_headroom": args.bias_headroom, "error_gate": rule.error_gate,
        "class_weights": args.class_weights, "class_weight_values": _weights(rule.class_weights),
    }  # fmt: skip
    if ro is not None:
        settings.update(readout_targets=[float(rule.targets.on), float(rule.targets.off)],
                        eta_readout=args.eta_readout, eta_readout_mant=args.eta_readout_mant,
                        eta_readout_shift=args.eta_readout_shift)  # fmt: skip
        if net.fixed:
            settings["readout_headroom"] = args.readout_headroom
    if rule.learns("gain"):
        settings.update(eta_gain=args.eta_gain, eta_gain_mant=args.eta_gain_mant,
                        eta_gain_shift=args.eta_gain_shift)  # fmt: skip
    if rule.learns("sb_weight"):
        settings.update(eta_sb=args.eta_sb, eta_sb_mant=args.eta_sb_mant,
                        eta_sb_shift=args.eta_sb_shift, sb_headroom=args.sb_headroom)  # fmt: skip
    meta = {
        "n_classes": n_classes, "role": "tuned", "T": rule.T, "ondevice": settings,
        "tuned_from": {"path": str(args.model), "sha256": file_sha256(args.model),
                       "network": source},
    }  # fmt: skip
    if info.population is not None:
        meta["population"] = info.population
    model_path = out_dir / "tuned.h5"
    save_model(model_path, tuned, meta=meta, overwrite=args.overwrite)
    rep = {
        "model": str(args.model), "train": str(args.train), "test": str(args.test),
        "tuned_model": str(model_path), "settings": settings, "network": source,
        "accuracy_before": before, "accuracy_after": after, "accuracy_online_tuning": online,
        "n_tune": int(len(yt)), "n_test": int(n_test), "bias_change": changes,
        "gain_change": _changes(net, res.gains, lambda k: net.layers[k].neuron, gname),
        "sb_weight_change": _changes(net, res.sb_weights,
                                     lambda k: net.layers[k].spiking_bias.params, wname),
        "readout_bias_change": None if ro is None
        else _changes(net, {"readout": res.readout_bias}, lambda k: ro.params, name)["readout"],
        "lava_steps": int(res.steps) if res.engine == "lava" else None,
        "learning": _learning_cost(rule, res, ys, yt, args.epochs, net),
    }  # fmt: skip
    write_json(out_dir / "report.json", rep, True, OnDeviceError)
    print(
        f"test accuracy before {before:.4f}, after {after:.4f} (online during tuning {online:.4f})"
    )
    for what, key in ((name, "bias_change"), (gname, "gain_change"),
                      (wname, "sb_weight_change")):  # fmt: skip
        for k, c in rep[key].items():
            print(
                f"  layer {k}: {what} changed by {c['mean_abs']:.4g} on average "
                f"(max {c['max_abs']:.4g})"
            )
    if rep["readout_bias_change"] is not None:
        c = rep["readout_bias_change"]
        print(f"  readout: {name} changed by {c['mean_abs']:.4g} on average "
              f"(max {c['max_abs']:.4g})")  # fmt: skip
    cost = rep["learning"]
    if cost is not None:
        _print_cost(cost, rule)
    print(f"tuned model written to {model_path}; report {out_dir / 'report.json'}")
    engine = "lava-fixed" if net.fixed else "lava-float"
    print(f"next: lava-nt evaluate {shell_quote(str(model_path))} --data "
          f"{shell_quote(str(args.test))} --engine {engine}")  # fmt: skip


def _weights(cw):
    """The rule's class weights for the report: None, a float list, or the fixed mantissas and
    shift."""
    if cw is None:
        return None
    if hasattr(cw, "w_mant"):
        return {"w_mant": [int(m) for m in cw.w_mant], "w_shift": int(cw.w_shift)}
    return [float(w) for w in cw]


def _print_cost(cost: dict, rule) -> None:
    ops, en = cost["counts"]["per_tuning_sample"], cost["energy"]
    print(
        f"learning cost per tuning sample (ESTIMATE, {en['figures']['label']}): "
        f"{ops['eligibility_updates']:.0f} eligibility + {ops['error_counter_updates']:.0f} "
        f"error-counter updates, {ops['error_messages']:.3g} error messages, "
        f"{ops['error_synops']:.4g} feedback synops, {ops['bias_updates']:.0f} bias updates"
        + (
            f", {ops['gain_and_weight_updates']:.0f} gain/weight-rule updates and "
            f"{ops['weight_messages']:.3g} weight messages"
            if rule.learn != ("bias",)
            else ""
        )
        + (
            f", readout {ops['readout_value_updates']:.0f} value updates, "
            f"{ops['readout_errors']:.0f} errors and {ops['readout_bias_updates']:.0f} bias "
            "updates"
            if rule.readout_rate is not None
            else ""
        )
        + ": "
        f"{en['total_pj'] / 1e3:.4g} nJ (lower bound {en['total_low_pj'] / 1e3:.4g} nJ)"
    )


def _changes(net, learned: dict, owner, name: str) -> dict:
    """``{layer: {mean_abs, max_abs}}`` of the change of the learned ``name`` fields."""
    import numpy as np

    out = {}
    for k, b in learned.items():
        d = np.asarray(b, np.float64) - np.broadcast_to(getattr(owner(k), name), b.shape)
        out[str(k)] = {"mean_abs": float(np.abs(d).mean()), "max_abs": float(np.abs(d).max())}
    return out


def _learning_cost(rule, res, ys, yt, epochs: int, net=None) -> dict:
    """The ``learning`` section of report.json: the operations the rule adds per tuning sample
    and their energy estimate (:mod:`lava_nt.hardware.learning`)."""
    import numpy as np

    from lava_nt.hardware.learning import learning_activity, learning_energy

    labels = np.concatenate([ys] + [yt] * epochs + [ys]).astype(np.int64)
    act = learning_activity(rule, res.output, labels, res.learn, spec=net)
    return {"counts": act.to_dict(), "energy": learning_energy(act)}
