"""``lava-nt export-nir``, ``lava-nt import-nir`` and ``lava-nt import-netx`` (docs/interop.md).

lava-nt export-nir MODEL OUT [--dt DT] [--norse-compat] [--subtract-reset refuse|metadata]
                   [--no-metadata] [--overwrite]
    Write a lava-nt model file as a NIR graph (nir 1.0 HDF5).
lava-nt import-nir IN OUT_MODEL [--source nir|snntorch|norse] [--dt DT] [--export-dt DT]
                   [--membrane-readout] [--reduce last|mean|max] [--input spikes|graded]
                   [--n-classes N [--population P]] [--no-metadata] [--overwrite]
    Import a NIR graph (Affine/Linear + LIF/IF/CubaLIF chains, an LI/I/CubaLI readout, lava-nt
    spiking-bias subgraphs) as a lava-nt model file, read the way its source framework runs it
    (snnTorch's export_to_nir, Norse's to_nir, or NIR's own Euler semantics).
lava-nt import-netx IN OUT_MODEL [--reduce last|mean|max] [--units integer|threshold|dyadic]
                   [--n-classes N [--population P]] [--overwrite]
    Import a lava-dl netx HDF5 network (input + dense CUBA layers) as a lava-nt model file: the
    float twin as the network, the exact fixed-point network attached.

NIR and netx files carry no output coding: pass ``--n-classes`` (and ``--population``, the output
neurons per class; default all of them split evenly) so that the model file records it and
``deploy``, ``evaluate``, ``report`` and ``tune`` read the outputs as the classes they are. A model
that ends in a readout has one unit per class and records that itself. The export commands name
the option that fixes what a format cannot hold (``--subtract-reset metadata`` for NIR, a model
trained with ``lava-nt train --reset zero`` for netx).
"""

from __future__ import annotations

from lava_nt.commands import CommandError, fail
from lava_nt.commands.arguments import add_overwrite, check_output, positive_float, positive_int

#: How a readout is read over the window (lava_nt.spec.readout.REDUCTIONS; not imported, so that
#: the CLI starts without numpy).
REDUCTIONS = ("last", "mean", "max")


def register(subparsers) -> None:
    """Add the export-nir / import-nir / import-netx subcommands to the ``lava-nt`` parser."""
    e = subparsers.add_parser(
        "export-nir",
        help="write a saved model as a NIR graph (nir 1.0 HDF5)",
        description="Export a lava-nt model file to NIR. One lava-nt step is DT seconds; every "
        "node is written so that NIR's forward-Euler update with that DT is the NTLIF step.",
    )
    e.add_argument("model", metavar="MODEL", help="lava-nt model file (.h5)")
    e.add_argument("out", metavar="OUT", help="NIR file to write (.nir)")
    e.add_argument(
        "--dt", type=positive_float, default=None, help="seconds per step (default 0.001)"
    )
    e.add_argument(
        "--norse-compat",
        action="store_true",
        help="a graph norse.torch.from_nir (norse 1.1) runs unchanged (r folded into weights)",
    )
    e.add_argument(
        "--subtract-reset",
        choices=("refuse", "metadata"),
        default="refuse",
        help="reset 'subtract' has no NIR field: refuse (default) or record it in node metadata",
    )
    e.add_argument(
        "--no-metadata", action="store_true", help="omit the exact lava-nt values (node metadata)"
    )
    add_overwrite(e, "OUT")
    e.set_defaults(func=cmd_export_nir)

    i = subparsers.add_parser(
        "import-nir",
        help="import a NIR graph (lava-nt, snnTorch, Norse) as a lava-nt model file",
        description="Import a NIR graph made of Affine/Linear + LIF/IF/CubaLIF layers, an "
        "optional LI/I/CubaLI readout (and lava-nt spiking-bias subgraphs) as a lava-nt model "
        "file. --source says which framework wrote it, so that the network runs as it did there "
        "(docs/interop.md).",
    )
    i.add_argument("nir_file", metavar="IN", help="NIR file (.nir)")
    i.add_argument("out", metavar="OUT_MODEL", help="lava-nt model file to write (.h5)")
    i.add_argument(
        "--source",
        choices=("nir", "snntorch", "norse"),
        default="nir",
        help="how the graph's nodes run: nir (NIR's forward Euler at DT; lava-nt's own exports), "
        "snntorch (snnTorch 1.0's export_to_nir) or norse (Norse 1.1's to_nir); default nir",
    )
    i.add_argument(
        "--dt",
        type=positive_float,
        default=None,
        help="seconds per step (default: the graph's, else 0.001; snnTorch: 0.0001)",
    )
    i.add_argument(
        "--export-dt",
        type=positive_float,
        default=None,
        help="--source norse: the dt given to norse.torch.to_nir (default 0.001)",
    )
    i.add_argument(
        "--membrane-readout",
        action="store_true",
        help="read the last layer's membrane voltage (never reset) as a non-spiking readout "
        "(e.g. snnTorch's Leaky(reset_mechanism='none') output layer)",
    )
    _add_reduce(i, None, "the graph's lava-nt metadata, else last")
    i.add_argument(
        "--input",
        choices=("spikes", "graded"),
        default=None,
        help="the data the first layer takes: binary spikes or real values (default: the "
        "graph's lava-nt metadata, else spikes)",
    )
    i.add_argument(
        "--no-metadata",
        action="store_true",
        help="ignore lava-nt node metadata (derive every value from the NIR fields)",
    )
    _add_coding_options(i)
    add_overwrite(i, "OUT_MODEL")
    i.set_defaults(func=cmd_import_nir)

    x = subparsers.add_parser(
        "import-netx",
        help="import a lava-dl netx HDF5 network as a lava-nt model file",
        description="Import a lava-dl netx network (input, flatten, dense CUBA layers with "
        "synaptic delays, a bias-encoded Input block as graded input, a dense layer without "
        "neuron group as integrator readout, a final average layer as population decoding). "
        "The model file holds the float twin as its network and the exact fixed-point network "
        "as its attached quantised network.",
    )
    x.add_argument("netx_file", metavar="IN", help="netx HDF5 file")
    x.add_argument("out", metavar="OUT_MODEL", help="lava-nt model file to write (.h5)")
    _add_reduce(x, "last", "last")
    x.add_argument(
        "--units",
        choices=("integer", "threshold", "dyadic"),
        default="integer",
        help="float twin in integer units (S = 64, exact; default), with thresholds 1.0, or "
        "dyadic (thresholds in (0.5, 1], readout values of a few units: for lava-nt tune; exact)",
    )
    _add_coding_options(x)
    add_overwrite(x, "OUT_MODEL")
    x.set_defaults(func=cmd_import_netx)


def _add_reduce(p, default: str | None, default_text: str) -> None:
    p.add_argument(
        "--reduce",
        choices=REDUCTIONS,
        default=default,
        help=f"how a readout is read over the window (default: {default_text})",
    )


def _add_coding_options(p) -> None:
    p.add_argument(
        "--n-classes",
        type=positive_int,
        default=None,
        help="classes the outputs code (stored in the model file; the file format carries no "
        "output coding, so without it deploy/evaluate/report/tune ask for --n-classes). A "
        "readout has one unit per class",
    )
    p.add_argument(
        "--population",
        type=positive_int,
        default=None,
        help="output neurons per class, the spike count of a class's population is its logit "
        "(default: the outputs split evenly over --n-classes)",
    )


def _coding_meta(args, spec, meta: dict) -> None:
    """Record the output coding in ``meta``: a readout's units, or ``--n-classes`` x
    ``--population`` of the spiking outputs (checked against the network)."""
    n, pop, ro = args.n_classes, args.population, spec.readout
    if ro is not None:
        if n is not None and n != ro.n:
            raise CommandError(
                f"--n-classes {n}: the network ends in a readout of {ro.n} units, one per class"
            )
        if pop is not None:
            raise CommandError("--population: the network ends in a readout (one unit per class)")
        meta["n_classes"] = ro.n
        return
    if n is None:
        if pop is not None:
            raise CommandError("--population needs --n-classes")
        return
    pop = spec.n_out // n if pop is None else pop
    if n * pop != spec.n_out:
        raise CommandError(
            f"--n-classes {n}" + (f" --population {args.population}" if args.population else "")
            + f": the network has {spec.n_out} output neurons, not n_classes x population"
        )  # fmt: skip
    meta["n_classes"], meta["population"] = n, pop


def _coding_note(meta: dict, spec) -> str:
    if "population" in meta:
        return f"output coding: {meta['n_classes']} classes x {meta['population']} neurons"
    if "n_classes" in meta:
        return f"output coding: a readout of {meta['n_classes']} units, one per class"
    return (
        f"output coding unknown ({spec.n_out} output neurons): deploy, evaluate, report and "
        "tune will ask for --n-classes N (or import again with --n-classes N)"
    )


def _user_errors():
    from lava_nt.converters.model_file import ModelFileError
    from lava_nt.converters.netx import NetxImportError
    from lava_nt.converters.nir_io import NIRImportError
    from lava_nt.spec.validation import ParameterError

    return (CommandError, ModelFileError, ParameterError, NIRImportError, NetxImportError)


def _save(path, spec, overwrite: bool, meta: dict, quantized=None):
    from lava_nt.converters.model_file import ModelFileExistsError, save_model

    try:
        return save_model(path, spec, meta=meta, overwrite=overwrite, quantized=quantized)
    except ModelFileExistsError as exc:
        raise CommandError(f"'{exc.path}' exists; pass --overwrite to replace it") from None


def cmd_export_nir(args) -> int:
    try:
        from lava_nt.converters.model_file import ModelFileExistsError
        from lava_nt.converters.nir_io import DEFAULT_DT, export_nir

        dt = DEFAULT_DT if args.dt is None else args.dt
        check_output(args.out, args.overwrite, CommandError)
        _check_reset(args)
        try:
            path = export_nir(
                args.model,
                args.out,
                overwrite=args.overwrite,
                dt=dt,
                norse_compat=args.norse_compat,
                subtract_reset=args.subtract_reset,
                metadata=not args.no_metadata,
            )
        except ModelFileExistsError as exc:
            raise CommandError(f"'{exc.path}' exists; pass --overwrite to replace it") from None
        print(f"NIR graph written to {path} (dt = {dt:g} s per step)")
        return 0
    except _user_errors() as exc:
        return fail("export-nir", exc)


def _check_reset(args) -> None:
    """A subtractive-reset model NIR cannot hold as asked: the error names the CLI option."""
    from lava_nt.commands.arguments import reset_export_error, subtract_reset_layers
    from lava_nt.converters.model_file import load_model

    layers = subtract_reset_layers(load_model(args.model)[0])
    if layers and args.norse_compat:
        raise CommandError(reset_export_error(args.model, layers, "norse"))
    if layers and args.subtract_reset == "refuse":
        raise CommandError(reset_export_error(args.model, layers, "nir"))


def cmd_import_nir(args) -> int:
    try:
        from lava_nt.converters.nir_io import import_nir

        check_output(args.out, args.overwrite, CommandError)
        res = import_nir(
            args.nir_file, dt=args.dt, use_metadata=not args.no_metadata, source=args.source,
            export_dt=args.export_dt, membrane_readout=args.membrane_readout, reduce=args.reduce,
            input=args.input,
        )  # fmt: skip
        meta = {
            "imported_from": f"NIR {args.nir_file}", "nir_dt": res.dt, "nir_exact": res.exact,
            "nir_source": res.source,
        }  # fmt: skip
        _coding_meta(args, res.spec, meta)
        path = _save(args.out, res.spec, args.overwrite, meta)
        ro = res.spec.readout
        print(
            f"imported {args.nir_file} (source {res.source}): network {res.spec.sizes}"
            + (f" + readout of {ro.n} units" if ro is not None else "")
            + (", graded input" if res.spec.graded else "")
        )
        for note in res.notes:
            print(f"  {note}")
        print(f"  {_coding_note(meta, res.spec)}")
        print(f"model written to {path}")
        return 0
    except _user_errors() as exc:
        return fail("import-nir", exc)


def _registers(r) -> str:
    """A decay register for the import summary: ``4095``, or ``per-neuron 17..4095``."""
    vals = [int(v) for v in (r.reshape(-1) if hasattr(r, "reshape") else [r])]
    return str(vals[0]) if len(vals) == 1 else f"per-neuron {min(vals)}..{max(vals)}"


def cmd_import_netx(args) -> int:
    try:
        from lava_nt.converters.netx import import_netx

        check_output(args.out, args.overwrite, CommandError)
        res = import_netx(args.netx_file, reduce=args.reduce, units=args.units)
        meta = {"imported_from": f"netx {args.netx_file}", "netx_scales": res.scales}
        if res.input_weight is not None:
            meta["netx_input_weight"] = res.input_weight
        if args.n_classes is None and res.n_classes is not None:  # the file's average layer
            args.n_classes = res.n_classes
        _coding_meta(args, res.fixed_spec, meta)
        path = _save(
            args.out, res.float_spec, args.overwrite, meta, quantized=(res.fixed_spec, res.report)
        )
        print(f"imported {args.netx_file}: network {res.fixed_spec.sizes} (exact fixed point)")
        for k, ls in enumerate(res.fixed_spec.layers):
            p = ls.neuron
            print(
                f"  layer {k}: vth={int(p.vth)} du={_registers(p.du)} dv={_registers(p.dv)} "
                f"weight_exp={ls.weight_exp}, float scale S={res.scales[k]:g}"
            )
        ro = res.fixed_spec.readout
        if ro is not None:
            print(
                f"  readout: {ro.n} units, i_decay={ro.params.i_decay} v_decay="
                f"{ro.params.v_decay} weight_exp={ro.weight_exp}, read as '{ro.reduce}'"
            )
        if res.input_weight is not None:
            print(f"  input: graded, x = round({res.input_weight} * data)")
        for note in res.notes:
            print(f"  note: {note}")
        print(f"  {_coding_note(meta, res.fixed_spec)}")
        print(f"model written to {path} (float twin; the fixed-point network is attached)")
        return 0
    except _user_errors() as exc:
        return fail("import-netx", exc)
