"""``lava-nt deploy``, ``lava-nt quantize`` and ``lava-nt export-netx``: deploy a saved model.

lava-nt deploy MODEL --precision float|fixed --data DATA.npz [--out results.json]
    Run the model on Lava (float, or the quantised fixed-point network) and print the
    accuracy (if DATA.npz has labels) and the spike agreement with the torch engine of the
    same precision (and, for fixed point, with the float model). DATA.npz holds binary spikes
    ``x`` ``[T, N, n_in]`` (or static ``[N, n_in]`` plus ``T``; real values for a network built
    for graded input) and optionally labels ``y`` ``[N]`` (format: :mod:`lava_nt.data`).
    ``--out`` is checked before the Lava run. A network that ends in an integrator readout
    decides by the readout's values, which are compared with the torch engine (fixed point:
    equal; float: within :data:`~lava_nt.converters.agreement.FLOAT_READOUT_TOLERANCE`) and
    written to ``--out``; graded input enters the fixed-point network as
    ``round(x * input_scale)`` (:mod:`lava_nt.converters.quantize.scale`).
lava-nt quantize MODEL [--report] [--json] [--attach] [--target lava|netx] [--fold-gains]
                 [--calibrate CAL.npz [--T N]]
    Quantise the model to Loihi fixed point and print the report (``--attach`` stores the
    quantised network in the model file); ``--calibrate`` chooses each layer's quantisation on
    calibration inputs (:mod:`lava_nt.converters.quantize.calibrate`).
lava-nt export-netx MODEL OUT [--overwrite]
    Write the model as a lava-dl netx HDF5 file (needs no spiking biases, reset "zero"; a
    graded-input network is written with netx's bias-encoded Input block when its first layer
    is that block, see :mod:`lava_nt.converters.netx.export`).
"""

from __future__ import annotations

import argparse

from lava_nt.commands import CommandError, fail, write_json
from lava_nt.commands.arguments import (
    add_overwrite,
    check_output,
    model_classes,
    positive_float,
    positive_int,
    positive_seconds,
)


def register(subparsers) -> None:
    """Add the deploy / quantize / export-netx subcommands to the ``lava-nt`` parser."""
    p = subparsers.add_parser(
        "deploy",
        help="run a saved model on Lava (float or fixed point) and report accuracy/agreement",
        description="Run a saved lava-nt model on Lava's CPU simulator and compare it with the "
        "torch engine of the same precision. A network that ends in an integrator readout "
        "decides by the readout values (written to --out); graded input enters the fixed-point "
        "network as round(x * input_scale) (the attached quantisation's scale, or the power of "
        "two that puts the data's largest magnitude into the 8-bit range).",
    )
    p.add_argument("model", metavar="MODEL", help="lava-nt model file (.h5)")
    p.add_argument("--precision", choices=("float", "fixed"), required=True)
    p.add_argument(
        "--data",
        required=True,
        metavar="DATA.npz",
        help="spikes x [T, N, n_in] (or static [N, n_in] with T; real values for a network "
        "built for graded input), optional labels y [N]",
    )
    p.add_argument("--out", metavar="results.json", help="write the results as JSON")
    p.add_argument(
        "--T", type=positive_int, default=None, help="steps for a static input (else DATA's T)"
    )
    p.add_argument(
        "--n-classes", type=positive_int, default=None, help="default: from the model file"
    )
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds for each Lava run (default: 60 + 0.02 per time step)",
    )
    add_overwrite(p, "--out file")
    p.set_defaults(func=cmd_deploy)

    q = subparsers.add_parser(
        "quantize",
        help="quantise a saved model to Loihi fixed point and print the report",
    )
    q.add_argument("model", metavar="MODEL")
    q.add_argument("--report", action="store_true", help="print the full per-tensor report")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.add_argument(
        "--attach", action="store_true", help="store the quantised network in the model file"
    )
    q.add_argument("--target", choices=("lava", "netx"), default="lava")
    q.add_argument("--fold-gains", action="store_true", help="fold NT1 gains into the weights")
    q.add_argument(
        "--input-scale",
        type=positive_float,
        default=None,
        metavar="S",
        help="networks for real-valued (graded) input: the fixed-point network takes the integers "
        "round(x * S) (default 1: the data are integers already); the first layer's weights are "
        "divided by S. Recorded in the report (and the model file with --attach)",
    )
    q.add_argument(
        "--input-peak",
        type=positive_float,
        default=None,
        metavar="P",
        help="networks for real-valued (graded) input: the largest integer round(x * S) in one "
        "step the first layer's 24-bit current must hold without wrapping (default 255, the "
        "8-bit range); a smaller true peak of your data gives a finer first-layer scale",
    )
    q.add_argument(
        "--calibrate",
        metavar="CAL.npz",
        help="calibrated quantisation: per-layer scales, rounding and bias-shift correction "
        "chosen on these inputs (a few hundred samples) for the best agreement with the float "
        "network; the report says per layer what was chosen and why",
    )
    q.add_argument(
        "--T", type=positive_int, default=None, help="steps of a static --calibrate input"
    )
    q.set_defaults(func=cmd_quantize)

    e = subparsers.add_parser(
        "export-netx",
        help="write a saved model as a lava-dl netx HDF5 file",
        description="Write a saved lava-nt model as a lava-dl netx HDF5 file (no spiking biases, "
        "reset to zero). A network for graded input is written with netx's bias-encoded Input "
        "block (its first layer must be that block: identity weights, du = 1, no bias); the "
        "transform weight is the input scale of the attached quantisation (lava-nt quantize "
        "--input-scale S --attach) or of the netx file it was imported from.",
    )
    e.add_argument("model", metavar="MODEL")
    e.add_argument("out", metavar="OUT")
    add_overwrite(e, "OUT")
    e.set_defaults(func=cmd_export_netx)


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.netx import NetxUnavailable
    from lava_nt.converters.quantize import QuantizationError
    from lava_nt.data import DataError
    from lava_nt.spec.validation import ParameterError

    return (
        CommandError,
        DataError,
        ModelFileError,
        QuantizationError,
        ParameterError,
        NetxUnavailable,
    )


def lava_failure(exc: BaseException, timeout_option: bool = True) -> str:
    """One line for a failed or timed-out Lava run (its details stay in the exception); with
    ``timeout_option`` a timeout names ``--timeout`` as the way to allow more time."""
    from lava_nt.lava.run import LavaTimeoutError

    if isinstance(exc, LavaTimeoutError):
        limit = f"{exc.timeout:g} s" if exc.timeout is not None else "its time limit"
        text = f"the Lava run did not finish within {limit} and was stopped"
        if timeout_option:
            text += "; allow more time with --timeout SECONDS"
        return text
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"the Lava run failed: {first}"


def cmd_deploy(args) -> int:
    from lava_nt.lava.run import LavaError

    try:
        return _deploy(args)
    except _user_errors() as exc:
        return fail("deploy", exc)
    except LavaError as exc:
        return fail("deploy", lava_failure(exc))


def _fixed_network(spec, info, x):
    """``(quantized for agreement or None, where the fixed-point network comes from)``."""
    if info.quantized is not None:
        return (info.quantized, info.quant_report), "attached to the model file"
    if spec.fixed:
        return None, "the model itself"
    from lava_nt.converters.quantize import quantize
    from lava_nt.converters.quantize.scale import graded_input_scale

    scale = graded_input_scale(spec, x)
    source = "quantised now (not attached; see `lava-nt quantize --attach`)"
    if scale is None:
        return quantize(spec), source
    source += f"; graded input x enters as round(x * {scale:g}) (8-bit range of the data)"
    return quantize(spec, input_scale=scale), source


def _deploy(args) -> int:
    from lava_nt.converters.agreement import agreement
    from lava_nt.converters.model_file import load_model
    from lava_nt.data import load_data

    if args.out:  # before the (long) Lava run
        check_output(args.out, args.overwrite, CommandError)
    spec, info = load_model(args.model)
    n_classes = model_classes(info, args.n_classes, spec, args.model, CommandError)
    data = load_data(args.data, T=args.T, n_in=spec.n_in, n_classes=n_classes)
    x, y = data.inputs(spec.graded), data.y
    quantized = source = None
    if args.precision == "float":
        if spec.fixed:
            raise CommandError(
                f"model '{args.model}' is fixed point only; deploy it with --precision fixed"
            )
        engines = ("torch_float", "lava_float")
    else:
        engines = ("torch_float", "torch_fixed", "lava_fixed") if not spec.fixed else (
            "torch_fixed", "lava_fixed"
        )  # fmt: skip
        quantized, source = _fixed_network(spec, info, x)
    model = spec
    if not spec.fixed:
        from lava_nt.converters.model_file import network_from_model

        model = network_from_model(spec, info)
    rep = agreement(
        model,
        x,
        y,
        n_classes,
        quantized=quantized,
        engines=engines,
        timeout=args.timeout,
    )
    lava = "lava_" + args.precision
    torch_same = "torch_" + args.precision
    kind = ", graded input" if spec.graded else ""
    print(
        f"lava-nt deploy: {args.model} on Lava ({args.precision}), network {spec.sizes}"
        f"{_readout_words(spec)}{kind}, {x.shape[1]} samples x {x.shape[0]} steps"
    )
    if source:
        print(f"fixed-point network: {source}")
    e = rep.engines[lava]
    if e["accuracy"] is not None:
        print(f"accuracy (Lava {args.precision}): {100 * e['accuracy']:.2f}%")
    pair = rep.pair(torch_same, lava)
    if spec.readout is not None:
        print(_readout_line(args.precision, pair))
    print(rep.to_markdown())
    result = {
        "model": str(args.model),
        "data": str(args.data),
        "precision": args.precision,
        "accuracy": e["accuracy"],
        "engine_pair": f"{torch_same} vs {lava}",
        "output_match": pair["output_match"],
        "predictions": rep.predictions[lava].tolist(),
        "agreement": rep.to_dict(),
    }
    if spec.readout is not None:
        result["readout"] = {
            "n": int(spec.readout.n),
            "reduce": spec.readout.reduce,
            "values": rep.readout_values[lava].tolist(),
            "max_abs_difference": pair["readout_max_abs_difference"],
            "agree": pair["readout_agree"],
        }
    if rep.input_scale is not None:
        result["input_scale"] = rep.input_scale
    if args.out:
        try:
            write_json(args.out, result, args.overwrite, CommandError)
        except OSError as exc:
            raise CommandError(f"cannot write '{args.out}': {exc.strerror or exc}") from None
        print(f"results written to {args.out}")
    return 0


def _readout_words(spec) -> str:
    ro = spec.readout
    return "" if ro is None else f" + readout of {ro.n} units (read as '{ro.reduce}')"


def _readout_line(precision: str, pair: dict) -> str:
    """How the Lava readout values compare with the torch engine of the same precision."""
    from lava_nt.converters.agreement import FLOAT_READOUT_TOLERANCE

    diff = pair["readout_max_abs_difference"]
    if precision == "fixed":
        verdict = "equal value for value" if pair["readout_agree"] else "NOT equal"
        return f"readout values (Lava fixed vs torch fixed-point emulator): {verdict} " \
            f"(max |diff| {diff:g})"  # fmt: skip
    verdict = "within" if pair["readout_agree"] else "OUTSIDE"
    return (
        f"readout values (Lava float vs torch float64): max |diff| {diff:.3g}, {verdict} the "
        f"tolerance ({FLOAT_READOUT_TOLERANCE:g} of the largest value)"
    )


def cmd_quantize(args) -> int:
    try:
        from lava_nt.converters.model_file import attach_quantized, load_model
        from lava_nt.converters.quantize import quantize

        spec, info = load_model(args.model)
        if spec.fixed:
            raise CommandError(f"model '{args.model}' is already fixed point")
        for opt, v in (("--input-scale", args.input_scale), ("--input-peak", args.input_peak)):
            if v is not None and not spec.graded:
                raise CommandError(
                    f"{opt}: model '{args.model}' takes binary spikes; it applies to networks "
                    "built for real-valued (graded) input"
                )
        if args.calibrate:
            if args.input_scale is not None or args.input_peak is not None:
                raise CommandError("--input-scale/--input-peak do not combine with --calibrate")
            q, rep = _calibrated(args, spec, info)
        else:
            if args.target == "netx":
                _check_netx_reset(args.model, spec)
            q, rep = quantize(
                spec, target=args.target, fold_gains=args.fold_gains,
                input_scale=args.input_scale, input_peak=args.input_peak,
            )  # fmt: skip
        if args.json:
            print(rep.to_json())
        elif args.report:
            from lava_nt.converters.quantize.calibrate import calibration_lines

            print("\n".join([rep.to_markdown(), *calibration_lines(rep)]))
        else:
            print(rep.summary())
        if args.attach:
            attach_quantized(args.model, q, rep)
            print(f"quantised network attached to {args.model}")
        return 0
    except _user_errors() as exc:
        return fail("quantize", exc)


def _calibrated(args, spec, info):
    """``lava-nt quantize --calibrate``: :func:`~lava_nt.converters.quantize.calibrate_quantize`
    on the file's inputs (static inputs held ``--T``, the model's training T, or 25 steps)."""
    from lava_nt.converters.quantize import calibrate_quantize
    from lava_nt.data import load_data

    if args.target != "lava" or args.fold_gains:
        raise CommandError("--calibrate quantises for --target lava (without --fold-gains)")
    t = info.meta.get("T")
    default_T = t if isinstance(t, int) and not isinstance(t, bool) and t > 0 else 25
    data = load_data(args.calibrate, T=args.T, default_T=default_T, n_in=spec.n_in)
    return calibrate_quantize(spec, data.spikes(), n_classes=info.n_classes)


def _check_netx_reset(model, spec=None) -> None:
    """netx cannot hold a subtractive reset: the error names the option that fixes it."""
    from lava_nt.commands.arguments import reset_export_error, subtract_reset_layers
    from lava_nt.converters.model_file import load_model

    layers = subtract_reset_layers(spec if spec is not None else load_model(model)[0])
    if layers:
        raise CommandError(reset_export_error(model, layers, "netx"))


def cmd_export_netx(args) -> int:
    try:
        from lava_nt.converters.model_file import ModelFileExistsError
        from lava_nt.converters.netx import export_netx, read_netx

        check_output(args.out, args.overwrite, CommandError)
        _check_netx_reset(args.model)
        try:
            res = export_netx(args.model, args.out, overwrite=args.overwrite)
        except ModelFileExistsError as exc:
            raise CommandError(f"'{exc.path}' exists; pass --overwrite to replace it") from None
        print(f"netx file written to {res.path}: network {res.spec.sizes}")
        if res.spec.graded:
            w = read_netx(res.path)["input"]["weight"]
            print(
                f"  graded input: layer 0 is netx's bias-encoded Input block; the data enter "
                f"as round({w} * x) (its transform weight)"
            )
        if res.report is not None:
            print(res.report.summary())
        return 0
    except _user_errors() as exc:
        return fail("export-netx", exc)


def main(argv=None) -> int:  # pragma: no cover - convenience for `python -m`
    parser = argparse.ArgumentParser(prog="lava-nt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
