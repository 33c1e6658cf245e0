"""lava-dl netx HDF5 export (:func:`export_netx`) and a plain reader of its layout
(:func:`read_netx`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lava_nt import __version__
from lava_nt.converters.model_file import atomic_h5_write, resolve_model
from lava_nt.converters.netx.format import NETX_BIAS_EXP, NETX_WEIGHT_MAX, NETX_WEIGHT_MIN, read_str
from lava_nt.converters.netx.stock import StockLavaError, check_stock
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec
from lava_nt.spec.fixed import (
    GAIN_UNITY,
    dense_effective_weights,
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
        why.append(
            "graded input: netx feeds data only through an Input block's bias; export of graded "
            "networks is not supported (import netx's Input block with import_netx)"
        )
    return why


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


def _resolve_for_netx(spec_or_model):
    """A netx-compatible fixed spec (and the QuantReport if it was quantised here)."""

    m = resolve_model(spec_or_model, "export_netx")
    obj, info = m.spec, m.info
    # a model file's own fixed-point network (e.g. QAT-tuned for netx, or imported from netx)
    # is written exactly when netx can hold it
    if info is not None and info.quantized is not None and not netx_compatible(info.quantized):
        return info.quantized, info.quant_report
    if obj.fixed:
        why = netx_compatible(obj)
        if why:
            raise StockLavaError(
                "export_netx: this fixed-point spec cannot be written to netx as it is:\n  "
                + "\n  ".join(why)
                + "\nquantise the float model with quantize(spec, target='netx')"
            )
        return obj, None
    check_stock(obj, "export_netx")
    if obj.graded:
        raise StockLavaError(
            "export_netx: graded input: netx feeds data only through an Input block's bias; "
            "export of graded networks is not supported"
        )
    return quantize(obj, target="netx")


def export_netx(spec_or_model, path, *, overwrite: bool = False) -> NetxExport:
    """Write ``spec_or_model`` as a lava-dl netx HDF5 file (layout in the module docstring).

    ``spec_or_model``: a float or fixed :class:`NetworkSpec`, an ``NTNetwork`` or the path of a
    lava-nt model file (its attached fixed-point network is written as it is when netx can hold
    it, e.g. a model tuned with QAT for netx or imported from netx; otherwise its float network
    is re-quantised for netx). The file is written
    atomically; an existing file is refused unless ``overwrite=True``.

    Raises:
        StockLavaError: spiking biases, reset "subtract", or a fixed spec netx cannot hold.
        QuantizationError: the float model cannot be quantised for netx.
    """

    spec, report = _resolve_for_netx(spec_or_model)
    scales = None if report is None else [lq.scale for lq in report.layers]

    def write(f):
        f.attrs["generator"] = f"lava-nt {__version__}"
        f.attrs["lava_nt_format"] = "netx"
        lay = f.create_group("layer")
        g0 = lay.create_group("0")
        g0.create_dataset("type", (1,), "S10", [b"input"])
        g0.create_dataset("shape", data=np.array([spec.n_in], dtype=np.int64))
        for k, ls in enumerate(spec.layers, start=1):
            p = ls.neuron
            g = lay.create_group(str(k))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([ls.n], dtype=np.int64))
            g.create_dataset("inFeatures", data=int(ls.weight.shape[1]))
            g.create_dataset("outFeatures", data=int(ls.n))
            g.create_dataset("weight", data=_netx_weight(ls).astype(np.int64))
            eff = np.broadcast_to(
                np.asarray(p.bias_mant, dtype=np.int64) << np.asarray(p.bias_exp, dtype=np.int64),
                (ls.n,),
            )
            g.create_dataset("bias", data=(eff >> NETX_BIAS_EXP).astype(np.int64))
            nrn = g.create_group("neuron")
            nrn.create_dataset("type", (1,), "S10", [b"CUBA"])
            nrn.create_dataset("iDecay", data=int(p.du) + 1)
            nrn.create_dataset("vDecay", data=int(p.dv))
            nrn.create_dataset("vThMant", data=int(p.vth))
            nrn.create_dataset("refDelay", data=1)
            nrn.create_dataset("gradedSpike", data=False)
            if scales is not None:
                g.attrs["lava_nt_voltage_scale"] = float(scales[k - 1])
        ro = spec.readout
        if ro is not None:  # netx's readout: a dense layer without neuron group
            g = lay.create_group(str(len(spec.layers) + 1))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([ro.n], dtype=np.int64))
            g.create_dataset("inFeatures", data=int(ro.weight.shape[1]))
            g.create_dataset("outFeatures", data=int(ro.n))
            g.create_dataset("weight", data=_netx_weight(ro).astype(np.int64))
            eff = np.broadcast_to(
                np.asarray(ro.params.bias_mant, dtype=np.int64)
                << np.asarray(ro.params.bias_exp, dtype=np.int64),
                (ro.n,),
            )
            g.create_dataset("bias", data=(eff >> NETX_BIAS_EXP).astype(np.int64))
            if report is not None and report.readout is not None:
                g.attrs["lava_nt_voltage_scale"] = float(report.readout.scale)

    path = atomic_h5_write(path, write, overwrite=overwrite, checksum=False)
    return NetxExport(Path(path), spec, report)


def read_netx(path) -> dict:
    """The netx file's layers as plain numpy values (for inspection, tests and :func:`run_netx`):
    ``{"n_in": int, "input": None or {"shape", "weight", "bias", "neuron_type", "iDecay",
    "vDecay", "vThMant"}, "layers": [{"type", "shape", "weight", "bias", "neuron_type",
    "iDecay", "vDecay", "vThMant", "readout"}, ...]}`` (dense layers; ``readout`` is True for a
    dense layer without neuron group, whose neuron fields are then None). String fields may be
    stored as scalars or as one-element arrays (lava-dl writes both)."""

    def neuron(g) -> dict:
        if "neuron" not in g:
            return {"neuron_type": None, "iDecay": None, "vDecay": None, "vThMant": None}
        nrn = g["neuron"]
        return {
            "neuron_type": read_str(nrn["type"]),
            "iDecay": int(np.asarray(nrn["iDecay"][()]).reshape(-1)[0]),
            "vDecay": int(np.asarray(nrn["vDecay"][()]).reshape(-1)[0]),
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
