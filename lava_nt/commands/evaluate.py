"""``lava-nt evaluate``: accuracy, confusion matrix, spike rates and engine agreement of a model.

lava-nt evaluate MODEL --data DATA.npz [--engine torch|lava-float|lava-fixed] [--T N]
                 [--n-classes N] [--calibrate CAL.npz] [--timeout S] [--out results.json]
                 [--overwrite]

Runs the model on one engine and compares it with the torch reference of the same network:

``torch``
    the torch model: float64 :class:`~lava_nt.nn.network.NTNetwork` of a float model; for a
    model tuned with ``--qat``, the QAT training forward (:class:`lava_nt.qat.QATNetwork`: the
    fixed-point network); for a fixed-point-only model, the fixed-point emulator.
``lava-float``
    Lava's floating-point models; compared with torch float64 (equal up to float rounding).
``lava-fixed``
    Lava's bit-accurate fixed-point models on the model's fixed-point network: the one attached
    to the model file (QAT-tuned models carry the trained integers), else the calibrated
    quantisation of ``--calibrate CAL.npz`` (:mod:`lava_nt.converters.quantize.calibrate`), else
    :func:`~lava_nt.converters.quantize.quantize`. Compared with its torch twin (the QAT forward
    or the fixed-point emulator: equal bit for bit) and, for a float model, with torch float64
    (what quantisation changed).

Prints (and with ``--out`` writes as JSON) the accuracy and confusion matrix (with labels), every
layer's spike rate (spikes per neuron per step) and the agreement with each reference: output and
per-layer spike match and prediction agreement. Data: :mod:`lava_nt.data`.

Networks that end in an integrator readout decide by the readout's reduced values
(:func:`lava_nt.decode.output_predictions`), and their readout values are compared with the
reference of the same precision (float: max absolute difference; fixed: equal values). Networks
built for real-valued input take graded ``x`` as it is; their fixed-point network takes
``round(x * input_scale)`` (the attached quantisation's scale; quantised on the spot, the power of
two that puts the data's largest magnitude into the 8-bit range): the rule of
:mod:`lava_nt.converters.quantize.scale`, shared with ``lava-nt deploy``.
"""

from __future__ import annotations

import sys

from lava_nt.commands.arguments import (
    check_output,
    model_classes,
    positive_int,
    positive_seconds,
)

ENGINES = ("torch", "lava-float", "lava-fixed")


class EvaluateError(Exception):
    """A user-facing error of ``lava-nt evaluate``."""


def register(subparsers) -> None:
    """Add ``lava-nt evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="accuracy, confusion matrix, spike rates and torch agreement of a model on one "
        "engine (torch, Lava float, Lava fixed point)",
        description="Evaluate a lava-nt model on labelled data (.npz: x binary spikes "
        "[T, N, n_in] or static [N, n_in] with T, optional labels y; real-valued x for a network "
        "built for graded input) on one engine, and compare it with the torch reference of the "
        "same network. Networks with an integrator readout decide by its reduced values.",
    )
    p.add_argument("model", metavar="MODEL", help="lava-nt model file (.h5)")
    p.add_argument("--data", required=True, metavar="DATA.npz", help="x (and labels y)")
    p.add_argument("--engine", choices=ENGINES, default="torch", help="default %(default)s")
    p.add_argument(
        "--T", type=positive_int, default=None, help="steps for a static input (else DATA's T, "
        "else the T the model was trained with, else 25)"
    )  # fmt: skip
    p.add_argument(
        "--n-classes", type=positive_int, default=None, help="default: from the model file"
    )
    p.add_argument(
        "--calibrate",
        metavar="CAL.npz",
        help="lava-fixed on a float model without an attached fixed-point network: quantise it "
        "with the calibrated quantiser on these inputs (a few hundred samples)",
    )
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds for the Lava run (default: 60 + 0.02 per time step)",
    )
    p.add_argument("--out", metavar="results.json", help="write the results as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_evaluate)


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.quantize import QuantizationError
    from lava_nt.data import DataError
    from lava_nt.qat import QATError
    from lava_nt.spec.validation import ParameterError

    return (EvaluateError, DataError, ModelFileError, QuantizationError, ParameterError,
            QATError)  # fmt: skip


def cmd_evaluate(args) -> int:
    from lava_nt.lava.run import LavaError

    try:
        return _evaluate(args)
    except _user_errors() as exc:
        print(f"lava-nt evaluate: error: {exc}", file=sys.stderr)
        return 1
    except LavaError as exc:
        from lava_nt.commands.deploy import lava_failure

        print(f"lava-nt evaluate: error: {lava_failure(exc)}", file=sys.stderr)
        return 1


def confusion_matrix(y, pred, n_classes: int):
    """``[true class, predicted class]`` counts."""
    import numpy as np

    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y), np.asarray(pred)), 1)
    return m


def _fixed_network(spec, info, args, xs):
    """``(fixed spec, where it came from, QuantReport or None)`` for the fixed engines."""
    if spec.fixed:
        if args.calibrate:
            raise EvaluateError("--calibrate: the model is already fixed point")
        return spec, "the model itself (fixed point)", None
    if info.quantized is not None:
        if args.calibrate:
            raise EvaluateError(
                "--calibrate: the model carries its own fixed-point network (attached); "
                "calibration applies to a float model without one"
            )
        how = "attached to the model file"
        if _is_qat(info):
            how += " (tuned with --qat: the integers the training forward used)"
        return info.quantized, how, info.quant_report
    if args.calibrate:
        from lava_nt.converters.quantize.calibrate import calibrate_quantize, calibration_lines
        from lava_nt.data import load_data

        cal = load_data(args.calibrate, T=args.T, default_T=_default_T(info), n_in=spec.n_in)
        fixed, rep = calibrate_quantize(spec, cal.spikes(), n_classes=args.n_classes_resolved)
        print("\n".join(calibration_lines(rep)))
        return fixed, f"calibrated on {cal.n_samples} samples of {args.calibrate}", rep
    from lava_nt.converters.quantize import quantize
    from lava_nt.converters.quantize.scale import graded_input_scale

    scale = graded_input_scale(spec, xs)
    fixed, rep = quantize(spec, input_scale=scale)
    how = "quantised now (see lava-nt quantize; --calibrate CAL.npz calibrates it)"
    if scale is not None:
        how += f"; graded input x enters as round(x * {scale:g}) (8-bit range of the data)"
    return fixed, how, rep


def _is_qat(info) -> bool:
    return isinstance(info.meta.get("qat"), dict) and info.quantized is not None


def _default_T(info) -> int:
    t = info.meta.get("T")
    return int(t) if isinstance(t, int) and not isinstance(t, bool) and t > 0 else 25


class _Run:
    """One engine's run: every spiking layer's spikes ``[T, N, n]`` and the output ``[T, N,
    n_out]`` (the last layer's spikes, or a readout's voltage trace)."""

    def __init__(self, result):
        self.layers = result.numpy_layer_spikes()
        self.output = result.numpy_output()
        self.has_readout = bool(result.has_readout)


def _run(engine: str, model_path, spec, fixed, inputs, timeout) -> _Run:
    """One engine's run on ``inputs`` (``"float"``: the data; ``"fixed"``: what the fixed-point
    network takes, :func:`lava_nt.converters.quantize.scale.fixed_point_input`)."""
    import torch

    from lava_nt.result import RunResult

    xs = inputs["fixed" if engine in ("torch_fixed", "lava_fixed", "torch_qat") else "float"]
    if engine == "torch_float":
        from lava_nt.nn.network import NTNetwork

        net = NTNetwork.from_spec(spec, dtype=torch.float64)
        with torch.no_grad():
            return _Run(net.run(torch.as_tensor(xs), record=True))
    if engine == "torch_qat":
        from lava_nt.qat import QATNetwork

        qat = QATNetwork.load(model_path)
        with torch.no_grad():
            out, recs = qat.forward(torch.as_tensor(inputs["float"]), record=True)
        return _Run(RunResult(output=out, layers=recs))
    if engine == "torch_fixed":
        from lava_nt.nn.fixed_emulator import run_fixed

        return _Run(run_fixed(fixed, torch.as_tensor(xs), record=True))
    from lava_nt.converters.lava_graph import run_network

    if engine == "lava_float":
        return _Run(run_network(spec, xs, "float", timeout=timeout, record=True))
    return _Run(run_network(fixed, xs, "fixed", timeout=timeout, record=True))


def _precision(engine: str) -> str:
    return "float" if engine in ("torch_float", "lava_float") else "fixed"


NAMES = {
    "torch_float": "torch float64",
    "torch_qat": "QAT training forward (torch)",
    "torch_fixed": "torch fixed-point emulator",
    "lava_float": "Lava float",
    "lava_fixed": "Lava fixed point",
}


def _n_classes(spec, info, args) -> int:
    """``--n-classes``, else the model file's; a model that does not record it is an error
    naming ``--n-classes`` (:func:`lava_nt.commands.arguments.model_classes`)."""
    return model_classes(info, args.n_classes, spec, args.model, EvaluateError)


def _engines(args, spec, info, xs):
    """``(engine, reference engines, fixed spec or None, where it came from or None, its
    QuantReport or None)``."""
    qat = _is_qat(info)
    if args.engine == "torch":
        if spec.fixed:
            return "torch_fixed", [], spec, None, None
        return ("torch_qat" if qat else "torch_float"), [], None, None, info.quant_report
    if args.engine == "lava-float":
        if spec.fixed:
            raise EvaluateError(
                f"model '{args.model}' is fixed point only; evaluate it with --engine lava-fixed"
            )
        return "lava_float", ["torch_float"], None, None, None
    fixed, source, report = _fixed_network(spec, info, args, xs)
    refs = ["torch_qat" if qat else "torch_fixed"]
    if not spec.fixed and not qat:
        refs.append("torch_float")
    return "lava_fixed", refs, fixed, source, report


def _report_accuracy(result: dict, y, pred, n_classes: int, N: int) -> None:
    import numpy as np

    if y is None:
        print("accuracy: - (the data file has no labels y)")
        return
    result["accuracy"] = float(np.mean(pred == y))
    result["confusion"] = confusion_matrix(y, pred, n_classes).tolist()
    ok = int(np.sum(pred == y))
    print(f"accuracy: {100 * result['accuracy']:.2f}% ({ok}/{N})")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print("         " + "".join(f"{'pred ' + str(c):>9}" for c in range(n_classes)))
    for c, row in enumerate(result["confusion"]):
        print(f"  true {c:<2}" + "".join(f"{v:>9}" for v in row))


def _report_agreement(result: dict, runs: dict, engine: str, refs: list, decide) -> None:
    import numpy as np

    run = runs[engine]
    pred = decide(run.output)
    if refs:
        print("agreement with the torch reference:")
    for r in refs:
        other = runs[r]
        match = [float(np.mean(a == b)) for a, b in zip(run.layers, other.layers, strict=True)]
        agree = float(np.mean(pred == decide(other.output)))
        entry = {"name": NAMES[r], "layer_match": match, "prediction_agreement": agree}
        if run.has_readout and _precision(engine) != _precision(r):
            entry["output_match"] = None  # integer and float readout values are in other units
            what = "readout values in other units (fixed vs float)"
        elif run.has_readout:
            diff = float(np.max(np.abs(run.output - other.output), initial=0.0))
            entry.update(output_match=float(np.mean(run.output == other.output)),
                         readout_max_abs_difference=diff)  # fmt: skip
            what = (
                f"readout values {100 * entry['output_match']:.3f}% equal (max |diff| {diff:.3g})"
            )
        else:
            entry["output_match"] = match[-1]
            what = f"output spikes {100 * match[-1]:.3f}% equal"
        entry["identical"] = entry["output_match"] == 1.0 and all(m == 1.0 for m in match)
        result["agreement"][r] = entry
        layers = ", ".join(f"{100 * m:.3f}%" for m in match)
        print(
            f"  vs {NAMES[r]}: {what} (spiking layers {layers}), predictions {100 * agree:.2f}% "
            "equal" + (": identical" if entry["identical"] else "")
        )


def _evaluate(args) -> int:

    from lava_nt.converters.model_file import load_model
    from lava_nt.data import load_data
    from lava_nt.decode import output_predictions

    if args.out:
        check_output(args.out, args.overwrite, EvaluateError)
    if args.calibrate and args.engine != "lava-fixed":
        raise EvaluateError("--calibrate applies to --engine lava-fixed")
    spec, info = load_model(args.model)
    n_classes = args.n_classes_resolved = _n_classes(spec, info, args)
    data = load_data(
        args.data, T=args.T, default_T=_default_T(info), n_in=spec.n_in, n_classes=n_classes
    )
    xs, y = data.inputs(spec.graded), data.y
    engine, refs, fixed, source, report = _engines(args, spec, info, xs)
    from lava_nt.converters.quantize.scale import fixed_point_input

    inputs = {"float": xs, "fixed": fixed_point_input(spec, report, xs)}
    reduce = spec.readout.reduce if spec.readout is not None else None

    def decide(output):
        return output_predictions(output, n_classes, reduce)

    T, N = xs.shape[0], xs.shape[1]
    print(
        f"lava-nt evaluate: {args.model} (network {spec.sizes}) on {args.data}: {N} samples x "
        f"{T} steps, engine {NAMES[engine]}"
    )
    if source:
        print(f"fixed-point network: {source}")
    runs = {e: _run(e, args.model, spec, fixed, inputs, args.timeout) for e in [engine, *refs]}
    run = runs[engine]
    pred = decide(run.output)
    result: dict = {
        "model": str(args.model), "data": str(args.data), "engine": args.engine,
        "engine_name": NAMES[engine], "n_samples": int(N), "T": int(T),
        "n_classes": int(n_classes), "qat": _is_qat(info), "fixed_point_network": source,
        "accuracy": None, "confusion": None,
        "readout": None if reduce is None else {"reduce": reduce},
        "spike_rates": [float(s.mean()) for s in run.layers],
        "output_spikes_per_sample": float(run.layers[-1].sum() / N),
        "agreement": {},
    }  # fmt: skip
    _report_accuracy(result, y, pred, n_classes, N)
    rates = ", ".join(f"layer {k} {r:.4f}" for k, r in enumerate(result["spike_rates"]))
    print(f"spike rates (spikes per neuron per step): {rates}")
    _report_agreement(result, runs, engine, refs, decide)
    if args.out:
        from lava_nt.commands import write_json

        try:
            write_json(args.out, result, args.overwrite, EvaluateError)
        except OSError as exc:
            raise EvaluateError(f"cannot write '{args.out}': {exc.strerror or exc}") from None
        print(f"results written to {args.out}")
    _print_next(args, engine, result)
    return 0


def _print_next(args, engine: str, result: dict) -> None:
    from lava_nt.commands.training_run import shell_quote

    m, d = shell_quote(args.model), shell_quote(args.data)
    if engine in ("torch_float", "torch_qat", "lava_float"):
        print(f"next: Lava fixed point: lava-nt evaluate {m} --data {d} --engine lava-fixed")
        return
    print(f"next: Loihi resources and energy: lava-nt report {m} --data {d}")
    fl = result["agreement"].get("torch_float")
    if fl is not None and fl["prediction_agreement"] < 1.0:
        print(
            "  fixed point changed predictions: tune with --qat (lava-nt tune ... --qat) to "
            "deploy exactly what was trained, or calibrate: --calibrate CAL.npz"
        )
