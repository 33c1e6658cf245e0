"""lava-dl netx HDF5 export (:func:`export_netx`) and a plain reader of its layout
(:func:`read_netx`).

Graded (real-valued) input: netx feeds data only as the bias of its Input block's neurons, one
CUBA neuron per input whose current is forgotten every step (lava-dl's ``Input`` block; the data
reach it as ``bias_mant`` with netx's ``bias_exp = 6``). lava-nt's form of that block is a first
layer with identity weights (``n_1 = n_in``, one integer weight unit per input), ``du = 4095``
(netx ``iDecay = 4096``), no bias, gain 1, reset to zero and no spiking bias: what
:func:`~lava_nt.converters.netx.import_netx` makes of an Input block. Such a network is written
as lava-dl writes an Input block::

    layer/0/type = b"input", layer/0/shape = [n_in]
    layer/0/weight = [S], layer/0/bias = [0]     the input transform: data -> round(S * data)
    layer/0/neuron/{type = b"CUBA", iDecay = 4096, vDecay = dv, vThMant = vth,
                    refDelay = 1, gradedSpike = False}

followed by the other layers as dense layers. ``S`` is the input scale (the fixed-point network
takes ``round(x * S)``; netx stores it as an integer and never applies it: the data reach the
Input neuron already encoded). A float network is quantised with its first layer's voltage scale
fixed so that the identity weights stay one integer unit. A graded network whose first layer is
anything else (a weight matrix applied to the real-valued data) has no netx form and is refused
with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lava_nt import __version__
from lava_nt.converters.model_file import atomic_h5_write, resolve_model
from lava_nt.converters.netx.delays import write_delay
from lava_nt.converters.netx.format import NETX_BIAS_EXP, NETX_WEIGHT_MAX, NETX_WEIGHT_MIN, read_str
from lava_nt.converters.netx.stock import StockLavaError, check_stock
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec
from lava_nt.spec.fixed import (
    DECAY_MAX,
    GAIN_UNITY,
    VTH_SHIFT,
    dense_effective_weights,
)

#: What the first layer of a graded-input network must be to be written as netx's Input block.
INPUT_BLOCK = (
    "netx feeds real-valued data only as the bias of its Input block's neurons (one CUBA neuron "
    "per input, its current forgotten every step), so layer 0 must be that block: n_in neurons "
    "with identity weights, du = 4095 (float: du = 1), no bias, gain 1, reset to zero and no "
    "spiking bias (what import_netx makes of an Input block)"
)


@dataclass
class NetxExport:
    """What :func:`export_netx` wrote: the path, the fixed-point spec it expresses (runnable with
    ``run_network(spec, x, "fixed")``) and the quantisation report (None if a fixed spec was
    exported unchanged)."""

    path: Path
    spec: NetworkSpec
    report: object | None = None


def netx_compatible(spec: NetworkSpec) -> list[str]:
    """Reasons why a fixed-point ``spec`` cannot be written to netx unchanged ([] if it can)."""
    if not isinstance(spec, NetworkSpec) or not spec.fixed:
        return ["not a fixed-point NetworkSpec"]
    why = []
    try:
        check_stock(spec, "netx")
    except StockLavaError as exc:
        why.append(str(exc))
    for k, ls in enumerate(spec.layers):
        p = ls.neuron
        if np.any(np.asarray(p.gain_mant) != GAIN_UNITY):
            why.append(f"layer {k}: gains (gain_mant != 256); quantise with fold_gains=True")
        try:
            _netx_weight(ls)
        except StockLavaError as exc:
            why.append(str(exc))
        eff = np.asarray(p.bias_mant, dtype=np.int64) << np.asarray(p.bias_exp, dtype=np.int64)
        if np.any(eff % (1 << NETX_BIAS_EXP)) or np.any(np.abs(eff >> NETX_BIAS_EXP) > 4095):
            why.append(
                f"layer {k}: biases are not expressible as bias_mant << 6 with a 13-bit "
                "mantissa (netx's fixed bias_exp)"
            )
    ro = spec.readout
    if ro is not None:
        if int(ro.params.i_decay) != 0 or int(ro.params.v_decay) != 4096:
            why.append(
                "readout: netx's readout (a dense layer without neuron group) accumulates its "
                f"current (i_decay 0, v_decay 4096), not i_decay {ro.params.i_decay}, v_decay "
                f"{ro.params.v_decay}"
            )
        try:
            _netx_weight(ro)
        except StockLavaError as exc:
            why.append(f"readout: {exc}")
    if spec.graded:
        why += [f"graded input: {r}" for r in _input_block_reasons(spec)]
    return why


def _shown(decay) -> str:
    """A decay for a message: its value, or ``per-neuron min..max``."""
    d = np.asarray(decay, dtype=np.float64)
    return f"{float(d):g}" if d.size == 1 else f"per-neuron {d.min():g}..{d.max():g}"


def _input_block_reasons(spec: NetworkSpec) -> list[str]:
    """Why layer 0 of a fixed-point graded ``spec`` is not netx's Input block ([] if it is)."""
    ls = spec.layers[0]
    p = ls.neuron
    why = []
    if ls.n != spec.n_in:
        return [f"layer 0 has {ls.n} neurons for {spec.n_in} inputs. {INPUT_BLOCK}"]
    try:
        w = _netx_weight(ls)
    except StockLavaError:
        w = None
    if w is None or not np.array_equal(w, np.eye(ls.n, dtype=np.int64)):
        why.append("layer 0's weights are not the identity (one integer unit per input)")
    if np.any(np.asarray(p.du) != DECAY_MAX):
        why.append(f"layer 0 has du = {_shown(p.du)}, not {DECAY_MAX} (netx iDecay 4096)")
    eff = np.asarray(p.bias_mant, dtype=np.int64) << np.asarray(p.bias_exp, dtype=np.int64)
    if np.any(eff != 0):
        why.append("layer 0 has a bias (netx's Input neuron has none)")
    if int(p.vth) < 1:
        why.append("layer 0 has vth = 0 (netx's Input neuron needs vThMant >= 1)")
    if getattr(ls, "delay", None) is not None and np.any(np.asarray(ls.delay) != 0):
        why.append("layer 0 has synaptic delays (netx's Input block has none)")
    if len(spec.layers) < 2 and spec.readout is None:
        why.append("nothing follows the Input block (netx needs a dense layer after it)")
    return [f"{w}. {INPUT_BLOCK}" for w in why]


def _float_input_block_gain(spec: NetworkSpec) -> float:
    """The diagonal ``c`` of the first layer's weights ``c I`` of a float graded ``spec`` in the
    Input-block form (see :data:`INPUT_BLOCK`); raises :class:`StockLavaError` naming what
    differs."""
    ls = spec.layers[0]
    p = ls.neuron
    W = np.asarray(ls.weight, dtype=np.float64)
    c = float(W[0, 0]) if W.size else 0.0
    why = []
    if ls.n != spec.n_in:
        why.append(f"layer 0 has {ls.n} neurons for {spec.n_in} inputs")
    elif not (c > 0 and np.array_equal(W, c * np.eye(ls.n))):
        why.append("layer 0's weights are not a positive multiple of the identity")
    if np.any(np.asarray(p.du) != 1.0):
        why.append(f"layer 0 has du = {_shown(p.du)}, not 1")
    if np.any(np.asarray(p.bias) != 0):
        why.append("layer 0 has a bias")
    if np.any(np.asarray(p.gain) != 1):
        why.append("layer 0 has gains other than 1")
    if ls.spiking_bias is not None:
        why.append("layer 0 has a spiking bias")
    if why:
        raise StockLavaError(
            "export_netx: graded input: " + "; ".join(why) + f". {INPUT_BLOCK}; a graded network "
            "with another first layer stays in lava-nt's model file or NIR (lava-nt export-nir)"
        )
    return c


def _quantize_graded(spec: NetworkSpec, input_scale: float):
    """``quantize(spec, target="netx")`` of a float graded network in the Input-block form: the
    first layer's voltage scale ``64 S / c`` keeps its weights ``c I / S`` one integer unit."""
    c = _float_input_block_gain(spec)
    first = (1 << VTH_SHIFT) * float(input_scale) / c
    scales = [first] + [None] * (len(spec.layers) - 1)
    return quantize(spec, target="netx", input_scale=float(input_scale), scales=scales)


def _netx_weight(ls) -> np.ndarray:
    """The integer weights netx must hold so that its Dense adds the same ``a`` as Lava's."""
    eff = dense_effective_weights(np.asarray(ls.weight))
    e = int(ls.weight_exp)
    if e >= 0:
        w = eff << e
    elif np.all(eff % (1 << -e) == 0):
        w = eff >> -e
    else:
        raise StockLavaError(
            f"layer weights with weight_exp={e} are not integers after the shift; netx cannot "
            "hold them (re-quantise with target='netx')"
        )
    if w.size and (w.min() < NETX_WEIGHT_MIN or w.max() > NETX_WEIGHT_MAX):
        raise StockLavaError(
            f"integer weights in [{w.min()}, {w.max()}] exceed netx's 8-bit range "
            f"[{NETX_WEIGHT_MIN}, {NETX_WEIGHT_MAX}] (re-quantise with target='netx')"
        )
    return w


def _resolve_for_netx(spec_or_model, input_scale):
    """``(netx-compatible fixed spec, QuantReport or None, input scale or None)``: the input
    scale (graded input only) is ``input_scale`` if given, else the model's (its quantisation's
    ``input_scale``, or the Input transform weight of a network imported from netx), else 1."""

    m = resolve_model(spec_or_model, "export_netx")
    obj, info = m.spec, m.info
    scale = input_scale if input_scale is not None else _model_input_scale(info)
    _input_weight(obj, scale)  # an integer, before anything is quantised
    # a model file's own fixed-point network (e.g. QAT-tuned for netx, or imported from netx)
    # is written exactly when netx can hold it
    if info is not None and info.quantized is not None and not netx_compatible(info.quantized):
        return info.quantized, info.quant_report, scale
    if obj.fixed:
        why = netx_compatible(obj)
        if why:
            raise StockLavaError(
                "export_netx: this fixed-point spec cannot be written to netx as it is:\n  "
                + "\n  ".join(why)
                + "\nquantise the float model with quantize(spec, target='netx')"
            )
        return obj, None, scale
    check_stock(obj, "export_netx")
    if obj.graded:
        q, rep = _quantize_graded(obj, 1.0 if scale is None else scale)
        why = netx_compatible(q)
        if why:  # pragma: no cover - the forced first-layer scale makes the Input block
            raise StockLavaError("export_netx: " + "; ".join(why))
        return q, rep, scale
    q, rep = quantize(obj, target="netx")
    return q, rep, None


def _model_input_scale(info) -> float | None:
    """A model file's input scale: its quantisation's (when not 1), else the Input transform
    weight recorded by ``lava-nt import-netx``."""
    if info is None:
        return None
    rep_scale = getattr(info.quant_report, "input_scale", None)
    if rep_scale is not None and float(rep_scale) != 1.0:
        return float(rep_scale)
    w = info.meta.get("netx_input_weight")
    if isinstance(w, int | float) and not isinstance(w, bool):
        return float(w)
    return None


def _input_weight(spec: NetworkSpec, scale) -> int | None:
    """The Input transform weight written for a graded network: the input scale, an integer."""
    if not spec.graded:
        return None
    s = 1.0 if scale is None else float(scale)
    if not (s >= 1 and s == int(s)):
        raise StockLavaError(
            f"export_netx: graded input: the input scale {s:g} is not a positive integer; netx "
            "stores the Input transform weight (data -> round(weight * data)) as an integer. "
            "Quantise with an integer input scale (lava-nt quantize --input-scale S --attach)"
        )
    return int(s)


def export_netx(
    spec_or_model, path, *, overwrite: bool = False, input_scale: float | None = None
) -> NetxExport:
    """Write ``spec_or_model`` as a lava-dl netx HDF5 file (layout in the module docstring).

    ``spec_or_model``: a float or fixed :class:`NetworkSpec`, an ``NTNetwork`` or the path of a
    lava-nt model file (its attached fixed-point network is written as it is when netx can hold
    it, e.g. a model tuned with QAT for netx or imported from netx; otherwise its float network
    is re-quantised for netx). The file is written
    atomically; an existing file is refused unless ``overwrite=True``.

    A network for graded input is written with netx's bias-encoded Input block (module
    docstring). ``input_scale`` (graded input only): the fixed-point network takes
    ``round(x * input_scale)``, written as the Input transform weight (an integer); a float
    network is quantised with it. Default: the model's (its quantisation's ``input_scale``, or
    the transform weight of a network imported from netx), else 1.

    Raises:
        StockLavaError: spiking biases, reset "subtract", a graded network whose first layer is
            not an Input block, or a fixed spec netx cannot hold.
        QuantizationError: the float model cannot be quantised for netx.
    """
    if input_scale is not None and (
        isinstance(input_scale, bool)
        or not isinstance(input_scale, int | float)
        or not np.isfinite(input_scale)
        or input_scale <= 0
    ):
        raise StockLavaError(
            f"export_netx: input_scale must be a positive number, got {input_scale!r}"
        )
    spec, report, scale = _resolve_for_netx(spec_or_model, input_scale)
    if input_scale is not None and not spec.graded:
        raise StockLavaError("export_netx: input_scale applies to graded input (input='graded')")
    weight_in = _input_weight(spec, scale)
    scales = None if report is None else [lq.scale for lq in report.layers]
    dense = spec.layers[1:] if spec.graded else spec.layers

    def write(f):
        f.attrs["generator"] = f"lava-nt {__version__}"
        f.attrs["lava_nt_format"] = "netx"
        lay = f.create_group("layer")
        g0 = lay.create_group("0")
        g0.create_dataset("type", (1,), "S10", [b"input"])
        g0.create_dataset("shape", data=np.array([spec.n_in], dtype=np.int64))
        if spec.graded:  # the bias-encoded Input block, as lava-dl writes it
            g0.create_dataset("weight", data=np.array([weight_in], dtype=np.float32))
            g0.create_dataset("bias", data=np.array([0.0], dtype=np.float32))
            _write_neuron(g0, spec.layers[0].neuron)
            if scales is not None:
                g0.attrs["lava_nt_voltage_scale"] = float(scales[0])
        first = 1 if spec.graded else 0
        for k, ls in enumerate(dense, start=1):
            g = _write_dense(lay, k, ls, ls.neuron)
            _write_neuron(g, ls.neuron)
            if scales is not None:
                g.attrs["lava_nt_voltage_scale"] = float(scales[first + k - 1])
        ro = spec.readout
        if ro is not None:  # netx's readout: a dense layer without neuron group
            g = _write_dense(lay, len(dense) + 1, ro, ro.params)
            if report is not None and report.readout is not None:
                g.attrs["lava_nt_voltage_scale"] = float(report.readout.scale)

    path = atomic_h5_write(path, write, overwrite=overwrite, checksum=False)
    return NetxExport(Path(path), spec, report)


def _write_dense(lay, k: int, ls, params):
    """netx dense layer ``k``: weights and biases (``params``: the bias registers)."""
    g = lay.create_group(str(k))
    g.create_dataset("type", (1,), "S10", [b"dense"])
    g.create_dataset("shape", data=np.array([ls.n], dtype=np.int64))
    g.create_dataset("inFeatures", data=int(ls.weight.shape[1]))
    g.create_dataset("outFeatures", data=int(ls.n))
    g.create_dataset("weight", data=_netx_weight(ls).astype(np.int64))
    write_delay(g, ls)  # synaptic delays as lava-dl writes them (none: nothing written)
    eff = np.broadcast_to(
        np.asarray(params.bias_mant, dtype=np.int64) << np.asarray(params.bias_exp, dtype=np.int64),
        (ls.n,),
    )
    g.create_dataset("bias", data=(eff >> NETX_BIAS_EXP).astype(np.int64))
    return g


def _decay_data(register, offset: int):
    """A decay register as netx stores it: a scalar int for one per layer, an int64 ``(n,)``
    array for one per neuron (as lava-dl writes blocks trained with ``shared_param=False``)."""
    r = np.asarray(register, dtype=np.int64) + offset
    return int(r) if r.ndim == 0 else r.reshape(-1)


def _write_neuron(g, p) -> None:
    """The CUBA neuron group of a netx layer (Lava ``du = iDecay - 1``; decays scalar or one per
    neuron, the threshold one per layer)."""
    nrn = g.create_group("neuron")
    nrn.create_dataset("type", (1,), "S10", [b"CUBA"])
    nrn.create_dataset("iDecay", data=_decay_data(p.du, 1))
    nrn.create_dataset("vDecay", data=_decay_data(p.dv, 0))
    nrn.create_dataset("vThMant", data=int(p.vth))
    nrn.create_dataset("refDelay", data=1)
    nrn.create_dataset("gradedSpike", data=False)


def _int_or_list(ds):
    """A netx integer dataset: ``int`` for one value, a list of ints for one per neuron."""
    v = np.asarray(ds[()]).reshape(-1)
    return int(v[0]) if v.size == 1 else [int(x) for x in v]


def read_netx(path) -> dict:
    """The netx file's layers as plain numpy values (for inspection, tests and :func:`run_netx`):
    ``{"n_in": int, "input": None or {"shape", "weight", "bias", "neuron_type", "iDecay",
    "vDecay", "vThMant"}, "layers": [{"type", "shape", "weight", "bias", "neuron_type",
    "iDecay", "vDecay", "vThMant", "readout"}, ...]}`` (dense layers; ``iDecay`` and ``vDecay``
    are an int, or a list with one per neuron; ``readout`` is True for a
    dense layer without neuron group, whose neuron fields are then None). String fields may be
    stored as scalars or as one-element arrays (lava-dl writes both)."""

    def neuron(g) -> dict:
        if "neuron" not in g:
            return {"neuron_type": None, "iDecay": None, "vDecay": None, "vThMant": None}
        nrn = g["neuron"]
        return {
            "neuron_type": read_str(nrn["type"]),
            "iDecay": _int_or_list(nrn["iDecay"]),
            "vDecay": _int_or_list(nrn["vDecay"]),
            "vThMant": int(np.asarray(nrn["vThMant"][()]).reshape(-1)[0]),
        }

    def scalar(g, key, default):
        return int(np.asarray(g[key][()]).reshape(-1)[0]) if key in g else default

    out = {"n_in": None, "input": None, "layers": []}
    with h5py.File(path, "r") as f:
        lay = f["layer"]
        for i in range(len(lay)):
            g = lay[str(i)]
            typ = read_str(g["type"]).lower()
            if typ == "input":
                out["n_in"] = int(np.prod(g["shape"][()]))
                if "neuron" in g:
                    out["input"] = {
                        "shape": np.asarray(g["shape"][()]).tolist(),
                        "weight": scalar(g, "weight", 64),
                        "bias": scalar(g, "bias", 0),
                        **neuron(g),
                    }
                continue
            if typ == "flatten":
                continue
            out["layers"].append(
                {
                    "type": typ,
                    "shape": np.asarray(g["shape"][()]).tolist(),
                    "weight": g["weight"][()] if "weight" in g else None,
                    "bias": g["bias"][()] if "bias" in g else None,
                    "readout": "neuron" not in g,
                    **neuron(g),
                }
            )
    return out
