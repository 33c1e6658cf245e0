"""Writing model files: :func:`save_model` and :func:`attach_quantized`."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lava_nt import __version__
from lava_nt.converters.model_file.atomic import atomic_h5_write
from lava_nt.converters.model_file.read import load_model
from lava_nt.converters.model_file.schema import FORMAT, SCHEMA_VERSION, TRAINABLE_KINDS, ModelInfo
from lava_nt.converters.model_file.storage import write_dataset
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError


def _is_ntnetwork(obj) -> bool:
    """``isinstance(obj, NTNetwork)`` without importing torch for other objects."""
    if "torch" not in sys.modules:
        return False
    from lava_nt.nn.network import NTNetwork  # lazy: torch; saving a NetworkSpec needs none

    return isinstance(obj, NTNetwork)


def _vec(x, n: int, dtype) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim > 1:
        if any(d != 1 for d in a.shape[:-1]):
            raise ParameterError(
                f"save_model: batched parameters of shape {a.shape}: save one set (k=...)"
            )
        a = a.reshape(-1)
    return np.broadcast_to(a.astype(dtype), (n,)).copy()


def _num(x, dtype):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(dtype).reshape(())


def _decay(x, dtype):
    """A neuron decay as stored: a scalar, or one value per neuron ``(n,)`` (schema 5)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x).astype(dtype)
    return a.reshape(()) if a.size == 1 else a.reshape(-1)


def _write_readout(g, ro, fixed: bool, fdt) -> None:
    rg = g.create_group("readout")
    rp = ro.params
    rg.attrs["n"] = int(ro.n)
    rg.attrs["reduce"] = str(rp.reduce)
    write_dataset(rg, "weight", np.asarray(ro.weight).astype(fdt))
    if fixed:
        rg.attrs["weight_exp"] = int(ro.weight_exp)
        for name in ("i_decay", "v_decay"):
            write_dataset(rg, name, _num(getattr(rp, name), np.int64))
        for name in ("bias_mant", "bias_exp"):
            write_dataset(rg, name, _vec(getattr(rp, name), ro.n, np.int64))
    else:
        for name in ("du", "dv"):
            write_dataset(rg, name, _num(getattr(rp, name), np.float64))
        write_dataset(rg, "bias", _vec(rp.bias, ro.n, np.float64))


def _write_spiking_bias(lg, sb, fixed: bool, fdt) -> None:
    sg = lg.create_group("spiking_bias")
    m = sb.m
    pb = sb.params
    sg.attrs["m"] = int(m)
    write_dataset(sg, "w_in", np.asarray(sb.w_in).astype(fdt))
    if sb.mask is not None:
        write_dataset(sg, "mask", np.asarray(sb.mask, dtype=bool))
    if pb.group is not None:
        write_dataset(sg, "group", np.asarray(pb.group, dtype=np.int64))
    if fixed:
        sg.attrs["w_in_exp"] = int(sb.w_in_exp)
        for name in ("du", "dv", "vth"):
            write_dataset(sg, name, _num(getattr(pb, name), np.int64))
        for name in ("bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc"):
            write_dataset(sg, name, _vec(getattr(pb, name), m, np.int64))
    else:
        for name in ("du", "dv", "vth"):
            write_dataset(sg, name, _num(getattr(pb, name), np.float64))
        for name in ("bias", "w_b", "c_retention"):
            write_dataset(sg, name, _vec(getattr(pb, name), m, np.float64))


def _write_layer(lg, ls, fixed: bool, fdt) -> None:
    n = ls.n
    write_dataset(lg, "weight", np.asarray(ls.weight).astype(fdt))
    if ls.delay is not None:
        write_dataset(lg, "delay", np.asarray(ls.delay).astype(np.int64))
    p = ls.neuron
    ng = lg.create_group("neuron")
    ng.attrs["reset"] = "subtract" if p.reset_subtract else "zero"
    dt = np.int64 if fixed else np.float64
    for name in ("du", "dv"):
        write_dataset(ng, name, _decay(getattr(p, name), dt))
    write_dataset(ng, "vth", _num(p.vth, dt))
    if fixed:
        lg.attrs["weight_exp"] = int(ls.weight_exp)
        for name in ("bias_mant", "bias_exp", "gain_mant"):
            write_dataset(ng, name, _vec(getattr(p, name), n, np.int64))
    else:
        for name in ("bias", "gain"):
            write_dataset(ng, name, _vec(getattr(p, name), n, np.float64))
    if ls.spiking_bias is not None:
        _write_spiking_bias(lg, ls.spiking_bias, fixed, fdt)


def _write_spec(g, spec: NetworkSpec) -> None:
    g.attrs["fixed"] = bool(spec.fixed)
    g.attrs["n_in"] = int(spec.n_in)
    g.attrs["n_layers"] = len(spec.layers)
    g.attrs["input"] = str(spec.input)
    fdt = np.int64 if spec.fixed else np.float64
    if spec.readout is not None:
        _write_readout(g, spec.readout, spec.fixed, fdt)
    for k, ls in enumerate(spec.layers):
        _write_layer(g.create_group(f"layer_{k}"), ls, spec.fixed, fdt)


def _surrogate_name(s) -> str | None:
    return s if isinstance(s, str) else None


def _network_facts(net, k: int | None) -> dict:
    """Spec, dtype, trainable flags, counts and surrogate settings of an NTNetwork."""
    from lava_nt.nn._util import is_trainable  # lazy: torch (an NTNetwork is being saved)
    from lava_nt.tuning import trainable_counts  # lazy: torch, as above

    spec = net.to_spec(k)
    trainable, surrogate = [], []
    for layer in net.layers:
        sb = layer.spiking_bias
        cell = layer.neuron
        trainable.append(
            {
                "weight": bool(layer.linear.weight.requires_grad),
                "bias": is_trainable(cell, "bias"),
                "gain": is_trainable(cell, "gain"),
                "w_in": sb is not None and is_trainable(sb, "w_in"),
                "w_b": sb is not None and is_trainable(sb, "w_b"),
                "c_retention": sb is not None and is_trainable(sb, "c_retention"),
            }
        )
        surrogate.append(
            {
                "name": _surrogate_name(cell.surrogate),
                "alpha": float(cell.alpha),
                "bias_name": None if sb is None else _surrogate_name(sb.surrogate),
                "bias_alpha": None if sb is None else float(sb.surrogate_alpha),
            }
        )
    counts = trainable_counts(net)
    return {
        "spec": spec,
        "dtype": str(net.layers[0].linear.weight.dtype).replace("torch.", ""),
        "trainable": trainable,
        "surrogate": surrogate,
        "counts": counts,
        "detach_reset": bool(net.layers[0].neuron.detach_reset),
        "n_classes": getattr(net, "n_classes", None),
    }


def _spec_facts(spec: NetworkSpec) -> dict:
    """What :func:`_network_facts` records, for a bare spec (nothing trainable)."""
    return {
        "spec": spec,
        "dtype": "float64",
        "trainable": [dict.fromkeys(TRAINABLE_KINDS, False) for _ in spec.layers],
        "surrogate": [
            {"name": None, "alpha": None, "bias_name": None, "bias_alpha": None}
            for _ in spec.layers
        ],
        "counts": {},
        "detach_reset": True,
        "n_classes": None,
    }


def _coding(meta: dict, net_classes, n_out: int):
    """``(n_classes, population)`` of the output coding (popped from ``meta``; None when not
    given), checked against the ``n_out`` output neurons."""
    n_classes = meta.pop("n_classes", None) or net_classes
    population = meta.pop("population", None)
    if n_classes is not None:
        n_classes = int(n_classes)
        if n_classes <= 0 or n_out % n_classes:
            raise ParameterError(
                f"save_model: {n_out} output neurons do not split into n_classes={n_classes}"
            )
        if population is None:
            population = n_out // n_classes
        if int(population) * n_classes != n_out:
            raise ParameterError(
                f"save_model: n_classes * population = {n_classes} * {population} != {n_out}"
            )
    return n_classes, population


def _quantized_pair(quantized, spec: NetworkSpec):
    """The ``(fixed_spec, report)`` to attach for save_model's ``quantized`` (or None)."""
    qpair = None
    if quantized is True:
        qpair = quantize(spec)
    elif quantized is not None and quantized is not False:
        qpair = tuple(quantized)
        if len(qpair) != 2 or not isinstance(qpair[0], NetworkSpec) or not qpair[0].fixed:
            raise ParameterError("save_model: quantized must be True or (fixed_spec, report)")
        if qpair[0].sizes != spec.sizes:
            raise ParameterError(
                f"save_model: the quantised spec's sizes {qpair[0].sizes} differ from the "
                f"network's {spec.sizes}"
            )
    return qpair


def save_model(
    path,
    net_or_spec,
    *,
    meta: dict | None = None,
    overwrite: bool = False,
    k: int | None = None,
    quantized: Any = None,
    tuning=None,
) -> Path:
    """Save a network to ``path`` (HDF5, atomically; schema in docs/model_file.md).

    Args:
        path: the file to write; an existing file is refused unless ``overwrite``.
        net_or_spec: an :class:`~lava_nt.nn.network.NTNetwork` (its values, dtype, trainable
            tensors, counts and surrogate settings are recorded) or a
            :class:`~lava_nt.network.NetworkSpec` (float or fixed).
        meta: provenance and coding. Recognised keys: ``seed``, ``data_protocol``,
            ``tuning_methods`` (list of method names), ``n_classes``, ``population``; every other
            key is stored as free-form JSON (values must be JSON-serialisable).
        k: with batched (``k``) parameters, the set to save.
        quantized: ``True`` to quantise the float network now and attach the result, a
            ``(fixed_spec, QuantReport)`` pair to attach, or None.
        tuning: a :class:`lava_nt.tuning.TuningReport` (its methods are recorded).

    Returns the path. Raises :class:`ModelFileExistsError`, :class:`ModelFileError` or
    :class:`~lava_nt.spec.validation.ParameterError` (bad input).
    """
    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"save_model: meta must be JSON-serialisable: {exc}") from exc
    if isinstance(net_or_spec, NetworkSpec):
        facts = _spec_facts(net_or_spec)
    elif _is_ntnetwork(net_or_spec):
        facts = _network_facts(net_or_spec, k)
    else:
        raise ParameterError(
            f"save_model: expected an NTNetwork or a NetworkSpec, got {type(net_or_spec).__name__}"
        )
    spec = facts["spec"]
    methods = meta.pop("tuning_methods", None)
    if tuning is not None:
        methods = list(tuning.methods)
    if isinstance(methods, str):
        methods = [methods]
    methods = [str(m) for m in (methods or [])]
    n_classes, population = _coding(meta, facts["n_classes"], spec.n_out)
    seed = meta.pop("seed", None)
    protocol = meta.pop("data_protocol", None)
    qpair = _quantized_pair(quantized, spec)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def write(f):
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        arch = f.create_group("architecture")
        write_dataset(arch, "sizes", np.asarray(spec.sizes, dtype=np.int64))
        arch.attrs["n_in"] = int(spec.n_in)
        arch.attrs["n_layers"] = len(spec.layers)
        arch.attrs["fixed"] = bool(spec.fixed)
        arch.attrs["spiking_bias_layers"] = json.dumps(
            [k for k, ls in enumerate(spec.layers) if ls.spiking_bias is not None]
        )
        _write_spec(f.create_group("network"), spec)
        tr = f.create_group("training")
        tr.attrs["dtype"] = facts["dtype"]
        tr.attrs["detach_reset"] = bool(facts["detach_reset"])
        tr.attrs["tuning_methods"] = json.dumps(methods)
        tr.attrs["trainable"] = json.dumps(facts["trainable"])
        tr.attrs["trainable_counts"] = json.dumps(facts["counts"])
        tr.attrs["n_trainable"] = int(sum(facts["counts"].values()))
        tr.attrs["surrogate"] = json.dumps(facts["surrogate"])
        out = f.create_group("output")
        out.attrs["coding"] = "population"
        out.attrs["n_classes"] = -1 if n_classes is None else int(n_classes)
        out.attrs["population"] = -1 if population is None else int(population)
        prov = f.create_group("provenance")
        prov.attrs["lava_nt_version"] = __version__
        prov.attrs["created"] = created
        prov.attrs["seed"] = json.dumps(seed)
        prov.attrs["data_protocol"] = json.dumps(protocol)
        prov.attrs["meta"] = json.dumps(meta, sort_keys=True)
        if qpair is not None:
            qg = f.create_group("quantized")
            _write_spec(qg, qpair[0])
            rep = qpair[1]
            qg.attrs["report"] = json.dumps(
                rep.to_dict() if hasattr(rep, "to_dict") else rep, sort_keys=True
            )

    return atomic_h5_write(path, write, overwrite=overwrite)


def attach_quantized(path, fixed_spec: NetworkSpec | None = None, report=None) -> ModelInfo:
    """Quantise the model in ``path`` (or attach the given ``(fixed_spec, report)``) and rewrite
    the file atomically with the quantised spec attached (everything else unchanged except the
    checksum). Returns the new :class:`ModelInfo`."""
    spec, info = load_model(path)
    if fixed_spec is None:
        fixed_spec, report = quantize(spec)

    def write(f):
        with h5py.File(path, "r") as src:
            for key in src.attrs:
                if key != "checksum":
                    f.attrs[key] = src.attrs[key]
            for name in src:
                if name != "quantized":
                    src.copy(src[name], f, name=name)
        qg = f.create_group("quantized")
        _write_spec(qg, fixed_spec)
        qg.attrs["report"] = json.dumps(
            report.to_dict() if hasattr(report, "to_dict") else report, sort_keys=True
        )

    atomic_h5_write(path, write, overwrite=True)
    return load_model(path)[1]
