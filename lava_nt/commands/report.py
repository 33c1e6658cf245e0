"""``lava-nt report``: Loihi resources, core mapping, activity and energy of a saved model.

lava-nt report MODEL [--data DATA.npz] [--json OUT] [--T 25] [--precision float|fixed]
                     [--analog [--dac-bits 6] [--domains auto] [--v-ref 0.75] [--plot PNG]]
    Print per-layer and total neurons, synapses, weight/bias bits, compartments, synaptic
    memory and the cores needed on Loihi 1 (and Loihi 2), with the published limits used; with
    --data (binary spikes ``x`` [T, N, n_in] or static [N, n_in] plus ``T``, optional labels
    ``y`` [N]; format: :mod:`lava_nt.data`), spikes and synaptic operations per inference and
    an energy estimate from Davies et al. 2018 Table 2 (pre-silicon Loihi 1 figures).
    ``--analog`` adds the JLPEA 2022 analog mapping of the NT1 gains to supply voltages (with
    labels: accuracy before/after the DAC).
    ``--json OUT`` writes everything as JSON (``-``: JSON to stdout instead of the tables).
    Existing ``--json`` / ``--plot`` files are replaced only with ``--overwrite``; both targets
    are checked before the report is computed.
"""

from __future__ import annotations

import json
import sys

from lava_nt.commands import write_json
from lava_nt.commands.arguments import check_output, model_classes, positive_float, positive_int

DEFAULT_T = 25


class ReportError(Exception):
    """A user-facing error (printed without a traceback)."""


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``lava-nt`` parser."""
    p = subparsers.add_parser(
        "report",
        help="Loihi resources, cores, spikes, synaptic ops and energy estimate of a saved model",
        description="Hardware report of a saved lava-nt model: resources against published "
        "Loihi per-core limits, a core mapping and, with --data, activity and an energy "
        "estimate from published pre-silicon Loihi 1 figures (Davies et al. 2018, Table 2).",
    )
    p.add_argument("model", metavar="MODEL", help="lava-nt model file (.h5)")
    p.add_argument(
        "--data",
        metavar="DATA.npz",
        help="spikes x [T, N, n_in] (or static [N, n_in] with T), optional labels y [N]",
    )
    p.add_argument("--json", metavar="OUT", help="write the report as JSON ('-': stdout)")
    p.add_argument(
        "--T",
        type=positive_int,
        default=None,
        help=f"steps for a static input (default: DATA's T, else {DEFAULT_T})",
    )
    p.add_argument(
        "--n-classes", type=positive_int, default=None, help="default: from the model file"
    )
    p.add_argument(
        "--precision",
        choices=("float", "fixed"),
        default="float",
        help="network run for the activity: the float model or its quantised twin",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace existing --json / --plot files"
    )
    a = p.add_argument_group("analog NT1 mapping (JLPEA 2022 eq. 14-16)")
    a.add_argument("--analog", action="store_true", help="map the NT1 gains to supply voltages")
    a.add_argument("--dac-bits", type=positive_int, default=6, help="DAC resolution (default 6)")
    a.add_argument(
        "--domains",
        default="auto",
        help="power domains: auto | neuron | layer | volumetric | a group size (default auto)",
    )
    a.add_argument(
        "--v-ref", type=positive_float, default=0.75, help="supply of gain 1 (default 0.75 V)"
    )
    a.add_argument("--out-of-range", choices=("clip", "error"), default="clip")
    a.add_argument("--plot", metavar="PNG", help="write the current-voltage / gain plot")
    p.set_defaults(func=cmd_report)


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.quantize import QuantizationError
    from lava_nt.data import DataError
    from lava_nt.hardware.analog import AnalogRangeError
    from lava_nt.spec.validation import ParameterError

    return (
        ReportError,
        DataError,
        ModelFileError,
        QuantizationError,
        ParameterError,
        AnalogRangeError,
    )


def _load(args):
    """``(x spikes [T, N, n_in], y or None)`` of ``--data``, checked against the model."""
    from lava_nt.converters.model_file import load_model
    from lava_nt.data import load_data

    spec, info = load_model(args.model)
    n_classes = model_classes(info, args.n_classes, spec, args.model, ReportError, needed=False)
    data = load_data(args.data, T=args.T, default_T=DEFAULT_T, n_in=spec.n_in, n_classes=n_classes)
    if data.y is not None and n_classes is None:  # labels: the accuracy needs the coding
        model_classes(info, args.n_classes, spec, args.model, ReportError)
    return data.spikes(), data.y, n_classes


def _domains(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def cmd_report(args) -> int:
    try:
        return _report(args)
    except _user_errors() as exc:
        print(f"lava-nt report: error: {exc}", file=sys.stderr)
        return 1


def _report(args) -> int:
    from lava_nt.hardware.report import hardware_report

    for out in (args.json, args.plot if args.analog else None):
        if out and out != "-":
            check_output(out, args.overwrite, ReportError)
    x = y = n_classes = None
    if args.data:
        x, y, n_classes = _load(args)
    rep = hardware_report(
        args.model,
        x,
        y,
        n_classes=n_classes if n_classes is not None else args.n_classes,
        precision=args.precision,
        data_label=str(args.data) if args.data else "",
    )
    out = rep.to_dict()
    text = rep.to_markdown()
    if args.analog:
        analog_dict, analog_text = _analog(args, x, y, n_classes)
        out["analog"] = analog_dict
        text += "\n\n" + analog_text
    if args.json == "-":
        print(json.dumps(out, indent=1))
        return 0
    print(text)
    if args.json:
        try:
            write_json(args.json, out, args.overwrite, ReportError)
        except OSError as exc:
            raise ReportError(f"cannot write '{args.json}': {exc.strerror or exc}") from None
        print(f"\nJSON written to {args.json}")
    return 0


def _analog(args, x, y, n_classes):
    from lava_nt.converters.model_file import load_model
    from lava_nt.hardware.analog import MirrorModel, map_gains
    from lava_nt.hardware.analog_accuracy import analog_accuracy, plot_analog

    spec, info = load_model(args.model)
    if spec.fixed:
        raise ReportError("--analog needs a float model (its NT1 gains)")
    mirror = MirrorModel(v_ref=args.v_ref)
    domains = _domains(args.domains)
    if x is not None and y is not None:
        res = analog_accuracy(
            spec,
            x,
            y,
            n_classes=n_classes,
            mirror=mirror,
            domains=domains,
            dac_bits=args.dac_bits,
            out_of_range=args.out_of_range,
            data_label=str(args.data),
        )
        mapping, d, text = res.mapping, res.to_dict(), res.to_markdown()
    else:
        mapping = map_gains(
            spec, mirror, domains=domains, dac_bits=args.dac_bits, out_of_range=args.out_of_range
        )
        d = {"mapping": mapping.to_dict(), "accuracy": None}
        lo, hi = mirror.gain_range
        text = (
            f"## Analog NT1 (JLPEA 2022 eq. 14-16): {mapping.n_domains} power domains "
            f"({mapping.domains}), reachable gains [{lo:.3f}, {hi:.3f}], "
            f"{mapping.n_clipped} clipped, {args.dac_bits}-bit DAC (no labelled data: accuracy "
            "not evaluated)"
        )
    if args.plot:
        p = plot_analog(mapping, args.plot, title=f"{args.model}: NT1 gains as supply voltages")
        text += f"\n\nplot written to {p}"
        d["plot"] = str(p)
    from lava_nt.hardware.report import _jsonable

    return _jsonable(d), text
