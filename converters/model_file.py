"""lava-nt model files: one HDF5 file per trained / tuned network (schema in docs/model_file.md).

:func:`save_model` writes a :class:`~lava_nt.network.NetworkSpec` or an
:class:`~lava_nt.nn.network.NTNetwork` with everything needed to run, re-train, deploy and audit
it: architecture, per-layer neuron parameters, weights, spiking biases, which tensors were
trainable and by which tuning method(s), trainable-parameter counts, output coding, surrogate
settings, provenance and optionally an attached fixed-point (quantised) spec with its report.

Files are written atomically (a temporary file in the same directory, fsync, then rename), carry
a schema version and a SHA-256 checksum of their content, and an existing file is never replaced
unless ``overwrite=True``. :func:`load_model` validates everything (format, schema version,
checksum, required datasets, dtypes, shapes across layers, finite values and every range via the
spec validators) and raises :class:`ModelFileError` naming the file and what is wrong.

Float values are stored as float64 (a float32 network converts exactly), so
``NTNetwork -> file -> NTNetwork`` (:func:`load_network`) is bit-exact in float32 and float64.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec.fixed import fixed_ntlif_parameters, fixed_spiking_bias_parameters
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "ModelFileError",
    "ModelFileExistsError",
    "ModelInfo",
    "atomic_h5_write",
    "atomic_write",
    "attach_quantized",
    "load_model",
    "load_network",
    "network_from_model",
    "save_model",
]

FORMAT = "lava-nt model"
SCHEMA_VERSION = 1
#: ``meta`` keys that are promoted to their own fields; everything else is free-form.
META_KEYS = ("seed", "data_protocol", "tuning_methods", "n_classes", "population")
TRAINABLE_KINDS = ("weight", "bias", "gain", "w_in", "w_b", "alpha")


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt, of another schema version or inconsistent.

    ``path`` is the file; the message names the file and what is wrong."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"model file '{path}': {message}")


class ModelFileExistsError(ModelFileError, FileExistsError):
    """The target file exists and ``overwrite`` was not given."""


@dataclass
class ModelInfo:
    """Everything in a model file besides the network itself.

    Attributes:
        path: the file.
        schema_version: of the file.
        sizes: ``[n_in, n_1, ..., n_out]``.
        fixed: the main network is fixed point.
        dtype: torch dtype name the network was saved from ("float32" / "float64").
        trainable: per layer ``{"weight": bool, "bias": ..., "gain": ..., "w_in", "w_b",
            "alpha"}`` (which tensors were trainable when saved).
        tuning_methods: e.g. ``["nt2"]`` (empty if unknown / pretraining).
        trainable_counts: trainable scalars per tensor name; ``n_trainable`` their sum.
        n_classes, population: output coding (``n_out = n_classes * population``).
        surrogate: per layer ``{"name", "alpha", "bias_name", "bias_alpha"}``.
        detach_reset: of the neurons.
        seed, data_protocol, created, lava_nt_version: provenance; ``meta`` free-form extras.
        quantized: the attached fixed-point spec (or None); ``quant_report`` its
            :class:`~lava_nt.converters.quantize.QuantReport`.
    """

    path: str
    schema_version: int
    sizes: list[int]
    fixed: bool = False
    dtype: str = "float64"
    trainable: list[dict] = field(default_factory=list)
    tuning_methods: list[str] = field(default_factory=list)
    trainable_counts: dict[str, int] = field(default_factory=dict)
    n_trainable: int = 0
    n_classes: int | None = None
    population: int | None = None
    surrogate: list[dict] = field(default_factory=list)
    detach_reset: bool = True
    seed: int | None = None
    data_protocol: str | None = None
    created: str = ""
    lava_nt_version: str = ""
    meta: dict = field(default_factory=dict)
    quantized: NetworkSpec | None = None
    quant_report: Any = None


# ---- atomic HDF5 writing --------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write_tmp: Callable[[str], None], *, overwrite: bool = False) -> Path:
    """Write a file atomically: ``write_tmp(tmp_path)`` fills a temporary file in the target
    directory, which is fsynced and renamed over ``path`` (the directory is fsynced too). Without
    ``overwrite`` an existing ``path`` raises :class:`ModelFileExistsError` (also if it appears
    meanwhile: the rename is a hard link that fails on an existing name)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileExistsError(path, "exists; pass overwrite=True to replace it")
    if path.is_dir():
        raise ModelFileError(path, "is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(path, f"directory '{parent}' does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_tmp(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile
            except FileExistsError:
                raise ModelFileExistsError(
                    path, "exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # filesystem without hard links
                if path.exists():
                    raise ModelFileExistsError(
                        path, "exists; pass overwrite=True to replace it"
                    ) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        _fsync_dir(parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def atomic_h5_write(
    path, write: Callable, *, overwrite: bool = False, checksum: bool = True
) -> Path:
    """Write an HDF5 file atomically (:func:`atomic_write`): ``write(h5py.File)`` fills the
    temporary file. With ``checksum`` a SHA-256 of the content is stored in the root attribute
    ``checksum``."""
    import h5py

    def write_tmp(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            write(f)
        if checksum:
            with h5py.File(tmp, "r+") as f:
                f.attrs["checksum"] = _checksum(f)

    return atomic_write(path, write_tmp, overwrite=overwrite)


def _checksum(f) -> str:
    """SHA-256 over every dataset (name, dtype, shape, bytes) and attribute, in sorted order,
    except the root ``checksum`` attribute itself."""
    import h5py

    h = hashlib.sha256()

    def add_attrs(name, obj):
        for key in sorted(obj.attrs):
            if name == "/" and key == "checksum":
                continue
            val = obj.attrs[key]
            h.update(f"@{name}:{key}:{type(val).__name__}:".encode())
            if isinstance(val, bytes):
                h.update(val)
            elif isinstance(val, str):
                h.update(val.encode())
            else:
                arr = np.asarray(val)
                h.update(f"{arr.dtype.str}{arr.shape}".encode())
                h.update(arr.tobytes())

    add_attrs("/", f)
    names = []
    f.visit(names.append)
    for name in sorted(names):
        obj = f[name]
        add_attrs(name, obj)
        if isinstance(obj, h5py.Dataset):
            arr = obj[()]
            arr = np.asarray(arr)
            h.update(f"#{name}:{arr.dtype.str}{arr.shape}:".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


# ---- writing --------------------------------------------------------------------------------
def _is_ntnetwork(obj) -> bool:
    """``isinstance(obj, NTNetwork)`` without importing torch for other objects."""
    if "torch" not in sys.modules:
        return False
    from lava_nt.nn.network import NTNetwork

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


def _write_spec(g, spec: NetworkSpec) -> None:
    g.attrs["fixed"] = bool(spec.fixed)
    g.attrs["n_in"] = int(spec.n_in)
    g.attrs["n_layers"] = len(spec.layers)
    fdt = np.int64 if spec.fixed else np.float64
    for k, ls in enumerate(spec.layers):
        lg = g.create_group(f"layer_{k}")
        n = ls.n
        lg.create_dataset("weight", data=np.asarray(ls.weight).astype(fdt))
        p = ls.neuron
        ng = lg.create_group("neuron")
        ng.attrs["reset"] = "subtract" if p.reset_subtract else "zero"
        if spec.fixed:
            lg.attrs["weight_exp"] = int(ls.weight_exp)
            for name in ("du", "dv", "vth"):
                ng.create_dataset(name, data=_num(getattr(p, name), np.int64))
            for name in ("bias_mant", "bias_exp", "gain_mant"):
                ng.create_dataset(name, data=_vec(getattr(p, name), n, np.int64))
        else:
            for name in ("du", "dv", "vth"):
                ng.create_dataset(name, data=_num(getattr(p, name), np.float64))
            for name in ("bias", "gain"):
                ng.create_dataset(name, data=_vec(getattr(p, name), n, np.float64))
        sb = ls.spiking_bias
        if sb is None:
            continue
        sg = lg.create_group("spiking_bias")
        m = sb.m
        pb = sb.params
        sg.attrs["m"] = int(m)
        sg.create_dataset("w_in", data=np.asarray(sb.w_in).astype(fdt))
        if sb.mask is not None:
            sg.create_dataset("mask", data=np.asarray(sb.mask, dtype=bool))
        if pb.group is not None:
            sg.create_dataset("group", data=np.asarray(pb.group, dtype=np.int64))
        if spec.fixed:
            sg.attrs["w_in_exp"] = int(sb.w_in_exp)
            for name in ("du", "dv", "vth"):
                sg.create_dataset(name, data=_num(getattr(pb, name), np.int64))
            for name in ("bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc"):
                sg.create_dataset(name, data=_vec(getattr(pb, name), m, np.int64))
        else:
            for name in ("du", "dv", "vth"):
                sg.create_dataset(name, data=_num(getattr(pb, name), np.float64))
            for name in ("bias", "w_b", "alpha"):
                sg.create_dataset(name, data=_vec(getattr(pb, name), m, np.float64))


def _surrogate_name(s) -> str | None:
    return s if isinstance(s, str) else None


def _network_facts(net, k: int | None) -> dict:
    """Spec, dtype, trainable flags, counts and surrogate settings of an NTNetwork."""
    from lava_nt.nn._util import is_trainable
    from lava_nt.tuning import trainable_counts

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
                "alpha": sb is not None and is_trainable(sb, "alpha"),
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
    from lava_nt import __version__

    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"save_model: meta must be JSON-serialisable: {exc}") from exc
    if isinstance(net_or_spec, NetworkSpec):
        spec = net_or_spec
        facts = {
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
    elif _is_ntnetwork(net_or_spec):
        facts = _network_facts(net_or_spec, k)
        spec = facts["spec"]
    else:
        raise ParameterError(
            f"save_model: expected an NTNetwork or a NetworkSpec, got {type(net_or_spec).__name__}"
        )
    methods = meta.pop("tuning_methods", None)
    if tuning is not None:
        methods = list(tuning.methods)
    if isinstance(methods, str):
        methods = [methods]
    methods = [str(m) for m in (methods or [])]
    n_classes = meta.pop("n_classes", None) or facts["n_classes"]
    population = meta.pop("population", None)
    n_out = spec.n_out
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
    seed = meta.pop("seed", None)
    protocol = meta.pop("data_protocol", None)
    qpair = None
    if quantized is True:
        from lava_nt.converters.quantize import quantize

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
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def write(f):
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        arch = f.create_group("architecture")
        arch.create_dataset("sizes", data=np.asarray(spec.sizes, dtype=np.int64))
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
        from lava_nt.converters.quantize import quantize

        fixed_spec, report = quantize(spec)
    import h5py

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


# ---- reading and validation -----------------------------------------------------------------
class _Reader:
    """Typed access to one open file with errors that name the file and the object."""

    def __init__(self, f, path):
        self.f = f
        self.path = path

    def fail(self, message: str):
        raise ModelFileError(self.path, message)

    def group(self, g, name: str):
        obj = g.get(name)
        import h5py

        if not isinstance(obj, h5py.Group):
            self.fail(f"missing group '{_join(g, name)}'")
        return obj

    def attr(self, g, name: str, kind=None):
        if name not in g.attrs:
            self.fail(f"missing attribute '{name}' of '{g.name}'")
        val = g.attrs[name]
        if kind is str:
            if isinstance(val, bytes):
                val = val.decode()
            if not isinstance(val, str):
                self.fail(f"attribute '{name}' of '{g.name}' must be a string")
        elif kind is int:
            if not np.issubdtype(np.asarray(val).dtype, np.integer) or np.ndim(val):
                self.fail(f"attribute '{name}' of '{g.name}' must be an integer")
            val = int(val)
        elif kind is bool:
            if np.asarray(val).dtype != np.bool_ or np.ndim(val):
                self.fail(f"attribute '{name}' of '{g.name}' must be a boolean")
            val = bool(val)
        return val

    def json_attr(self, g, name: str):
        text = self.attr(g, name, str)
        try:
            return json.loads(text)
        except ValueError:
            self.fail(f"attribute '{name}' of '{g.name}' is not valid JSON")

    def data(self, g, name: str, kind: str, shape: tuple | None, optional: bool = False):
        """Dataset ``name`` of dtype kind ``"f"`` (float), ``"i"`` (integer) or ``"b"`` (bool),
        with exactly ``shape`` (None = any), finite."""
        import h5py

        obj = g.get(name)
        if obj is None and optional:
            return None
        if not isinstance(obj, h5py.Dataset):
            self.fail(f"missing dataset '{_join(g, name)}'")
        try:
            arr = np.asarray(obj[()])
        except Exception as exc:  # noqa: BLE001 - h5py raises various errors on bad data
            self.fail(f"cannot read dataset '{obj.name}': {exc}")
        ok = {
            "f": arr.dtype.kind == "f",
            "i": arr.dtype.kind in "iu",
            "b": arr.dtype.kind == "b",
        }[kind]
        if not ok:
            want = {"f": "floating-point", "i": "integer", "b": "boolean"}[kind]
            self.fail(f"dataset '{obj.name}' must be {want}, found dtype {arr.dtype}")
        if shape is not None and arr.shape != tuple(shape):
            self.fail(f"dataset '{obj.name}' has shape {arr.shape}, expected {tuple(shape)}")
        if kind == "f" and not np.all(np.isfinite(arr)):
            self.fail(f"dataset '{obj.name}' holds non-finite values (NaN or inf)")
        return (
            arr.astype(np.float64) if kind == "f" else arr.astype(np.int64) if kind == "i" else arr
        )


def _join(g, name: str) -> str:
    base = g.name.rstrip("/")
    return f"{base}/{name}" if base else f"/{name}"


def _read_spec(r: _Reader, g, sizes: list[int] | None) -> NetworkSpec:
    fixed = r.attr(g, "fixed", bool)
    n_in = r.attr(g, "n_in", int)
    nl = r.attr(g, "n_layers", int)
    if nl < 1:
        r.fail(f"'{g.name}' has no layers")
    if sizes is not None and (n_in != sizes[0] or nl != len(sizes) - 1):
        r.fail(f"'{g.name}' has n_in={n_in} and {nl} layers, the architecture says sizes {sizes}")
    wk = "i" if fixed else "f"
    layers = []
    n_prev = n_in
    for k in range(nl):
        lg = r.group(g, f"layer_{k}")
        w = r.data(lg, "weight", wk, None)
        if w.ndim != 2 or w.shape[1] != n_prev:
            r.fail(f"dataset '{lg.name}/weight' has shape {w.shape}, expected (n, {n_prev})")
        n = w.shape[0]
        if sizes is not None and n != sizes[k + 1]:
            r.fail(f"layer {k} has {n} neurons, the architecture says {sizes[k + 1]}")
        ng = r.group(lg, "neuron")
        reset = r.attr(ng, "reset", str)
        where = f"layer {k}"
        try:
            if fixed:
                neuron = fixed_ntlif_parameters(
                    n,
                    where,
                    du=int(r.data(ng, "du", "i", ())),
                    dv=int(r.data(ng, "dv", "i", ())),
                    vth=int(r.data(ng, "vth", "i", ())),
                    bias_mant=r.data(ng, "bias_mant", "i", (n,)),
                    bias_exp=r.data(ng, "bias_exp", "i", (n,)),
                    gain_mant=r.data(ng, "gain_mant", "i", (n,)),
                    reset=reset,
                )
                wexp = r.attr(lg, "weight_exp", int)
            else:
                neuron = ntlif_parameters(
                    n,
                    where,
                    du=float(r.data(ng, "du", "f", ())),
                    dv=float(r.data(ng, "dv", "f", ())),
                    vth=float(r.data(ng, "vth", "f", ())),
                    bias=r.data(ng, "bias", "f", (n,)),
                    gain=r.data(ng, "gain", "f", (n,)),
                    reset=reset,
                )
                wexp = 0
            sbs = None
            if "spiking_bias" in lg:
                sg = r.group(lg, "spiking_bias")
                m = r.attr(sg, "m", int)
                w_in = r.data(sg, "w_in", wk, (m, n_prev))
                mask = r.data(sg, "mask", "b", (m, n_prev), optional=True)
                group = r.data(sg, "group", "i", (n,), optional=True)
                if fixed:
                    params = fixed_spiking_bias_parameters(
                        m,
                        n,
                        f"{where} spiking bias",
                        du=int(r.data(sg, "du", "i", ())),
                        dv=int(r.data(sg, "dv", "i", ())),
                        vth=int(r.data(sg, "vth", "i", ())),
                        dc=r.data(sg, "dc", "i", (m,)),
                        bias_mant=r.data(sg, "bias_mant", "i", (m,)),
                        bias_exp=r.data(sg, "bias_exp", "i", (m,)),
                        w_b_mant=r.data(sg, "w_b_mant", "i", (m,)),
                        w_b_exp=r.data(sg, "w_b_exp", "i", (m,)),
                        group=group,
                    )
                    w_in_exp = r.attr(sg, "w_in_exp", int)
                else:
                    params = spiking_bias_parameters(
                        m,
                        n,
                        f"{where} spiking bias",
                        du=float(r.data(sg, "du", "f", ())),
                        dv=float(r.data(sg, "dv", "f", ())),
                        vth=float(r.data(sg, "vth", "f", ())),
                        bias=r.data(sg, "bias", "f", (m,)),
                        w_b=r.data(sg, "w_b", "f", (m,)),
                        alpha=r.data(sg, "alpha", "f", (m,)),
                        group=group,
                    )
                    w_in_exp = 0
                sbs = SpikingBiasSpec(w_in=w_in, params=params, mask=mask, w_in_exp=w_in_exp)
        except ParameterError as exc:
            r.fail(f"invalid parameters in '{lg.name}': {exc}")
        layers.append(LayerSpec(weight=w, neuron=neuron, spiking_bias=sbs, weight_exp=wexp))
        n_prev = n
    try:
        spec = NetworkSpec(n_in=n_in, layers=layers, fixed=fixed)
        if fixed:
            from lava_nt.converters.lava_graph import check_spec

            check_spec(spec, "fixed", "model file")
    except ParameterError as exc:
        r.fail(f"inconsistent network in '{g.name}': {exc}")
    return spec


def load_model(path) -> tuple[NetworkSpec, ModelInfo]:
    """Load and validate a model file: ``(NetworkSpec, ModelInfo)``.

    Raises :class:`ModelFileError` (naming the file and the problem) for a missing, truncated,
    corrupt, wrong-format, wrong-version or inconsistent file."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise ModelFileError(path, "does not exist")
    if not path.is_file():
        raise ModelFileError(path, "is not a regular file")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError and others
        raise ModelFileError(
            path, f"is not a readable HDF5 file (truncated or corrupt?): {exc}"
        ) from None
    with f:
        r = _Reader(f, path)
        try:
            return _load(r, f, path)
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt internals surface as many errors
            raise ModelFileError(
                path, f"cannot be read (corrupt?): {type(exc).__name__}: {exc}"
            ) from None


def _load(r: _Reader, f, path) -> tuple[NetworkSpec, ModelInfo]:
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        r.fail(f"is not a lava-nt model file (format attribute {fmt!r}, expected {FORMAT!r})")
    version = r.attr(f, "schema_version", int)
    if version != SCHEMA_VERSION:
        r.fail(
            f"has schema version {version}; this lava-nt ({_version()}) reads version "
            f"{SCHEMA_VERSION} only"
        )
    stored = r.attr(f, "checksum", str)
    if stored != _checksum(f):
        r.fail("checksum mismatch: the content was modified or corrupted after it was written")
    arch = r.group(f, "architecture")
    sizes = r.data(arch, "sizes", "i", None)
    if sizes.ndim != 1 or sizes.size < 2 or np.any(sizes <= 0):
        r.fail(f"'/architecture/sizes' must list at least two positive sizes, got {sizes}")
    sizes = [int(s) for s in sizes]
    spec = _read_spec(r, r.group(f, "network"), sizes)
    if r.attr(arch, "fixed", bool) != spec.fixed:
        r.fail("'/architecture' and '/network' disagree on fixed point")
    tr = r.group(f, "training")
    trainable = r.json_attr(tr, "trainable")
    surrogate = r.json_attr(tr, "surrogate")
    counts = r.json_attr(tr, "trainable_counts")
    methods = r.json_attr(tr, "tuning_methods")
    nl = len(spec.layers)
    if not (isinstance(trainable, list) and len(trainable) == nl):
        r.fail(f"'/training' trainable flags must list {nl} layers")
    for k, t in enumerate(trainable):
        if not isinstance(t, dict) or set(t) != set(TRAINABLE_KINDS):
            r.fail(f"'/training' trainable flags of layer {k} must have keys {TRAINABLE_KINDS}")
        if (t["w_in"] or t["w_b"] or t["alpha"]) and spec.layers[k].spiking_bias is None:
            r.fail(f"'/training' marks spiking-bias tensors of layer {k} trainable, it has none")
    if not (isinstance(surrogate, list) and len(surrogate) == nl):
        r.fail(f"'/training' surrogate settings must list {nl} layers")
    if not isinstance(counts, dict) or not all(
        isinstance(v, int) and v >= 0 for v in counts.values()
    ):
        r.fail("'/training' trainable_counts must map names to non-negative integers")
    n_trainable = r.attr(tr, "n_trainable", int)
    if n_trainable != sum(counts.values()):
        r.fail(f"'/training' n_trainable={n_trainable} != the sum of trainable_counts")
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        r.fail("'/training' tuning_methods must be a list of names")
    dtype = r.attr(tr, "dtype", str)
    if dtype not in ("float32", "float64", "float16", "bfloat16"):
        r.fail(f"'/training' dtype {dtype!r} is not a floating torch dtype")
    out = r.group(f, "output")
    n_classes = r.attr(out, "n_classes", int)
    population = r.attr(out, "population", int)
    if n_classes != -1:
        if n_classes <= 0 or population <= 0 or n_classes * population != spec.n_out:
            r.fail(
                f"'/output' coding n_classes={n_classes} x population={population} does not "
                f"match {spec.n_out} output neurons"
            )
    prov = r.group(f, "provenance")
    info = ModelInfo(
        path=str(path),
        schema_version=SCHEMA_VERSION,
        sizes=sizes,
        fixed=spec.fixed,
        dtype=dtype,
        trainable=trainable,
        tuning_methods=methods,
        trainable_counts=counts,
        n_trainable=n_trainable,
        n_classes=None if n_classes == -1 else n_classes,
        population=None if n_classes == -1 else population,
        surrogate=surrogate,
        detach_reset=r.attr(tr, "detach_reset", bool),
        seed=r.json_attr(prov, "seed"),
        data_protocol=r.json_attr(prov, "data_protocol"),
        created=r.attr(prov, "created", str),
        lava_nt_version=r.attr(prov, "lava_nt_version", str),
        meta=r.json_attr(prov, "meta"),
    )
    if "quantized" in f:
        qg = r.group(f, "quantized")
        info.quantized = _read_spec(r, qg, sizes)
        if not info.quantized.fixed:
            r.fail("'/quantized' must hold a fixed-point network")
        rep = r.json_attr(qg, "report")
        try:
            from lava_nt.converters.quantize import QuantReport

            info.quant_report = QuantReport.from_dict(rep)
        except (KeyError, TypeError, ValueError) as exc:
            r.fail(f"'/quantized' report is malformed: {exc}")
    return spec, info


def _version() -> str:
    from lava_nt import __version__

    return __version__


# ---- back to torch --------------------------------------------------------------------------
def network_from_model(spec: NetworkSpec, info: ModelInfo | None = None, dtype=None):
    """Rebuild the :class:`~lava_nt.nn.network.NTNetwork` of a loaded model: values (bit-exact
    in the saved dtype, or ``dtype``), trainable tensors, surrogate settings, ``n_classes``."""
    import torch

    from lava_nt.nn.network import NTNetwork
    from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE, make_spike_fn

    if spec.fixed:
        raise ParameterError(
            "network_from_model: the model is fixed point; run it with "
            "lava_nt.nn.fixed_emulator.emulate_fixed or run_network(..., 'fixed')"
        )
    if dtype is None:
        dtype = getattr(torch, info.dtype) if info is not None else torch.float64
    detach = info.detach_reset if info is not None else True
    net = NTNetwork.from_spec(
        spec,
        dtype=dtype,
        train_weight=False,
        train_bias=False,
        train_gain=False,
        train_w_in=False,
        train_w_b=False,
        train_alpha=False,
        detach_reset=detach,
    )
    if info is None:
        return net
    for layer, flags, sur in zip(net.layers, info.trainable, info.surrogate, strict=True):
        layer.linear.weight.requires_grad_(bool(flags["weight"]))
        layer.neuron.set_trainable(bias=flags["bias"], gain=flags["gain"])
        cell = layer.neuron
        name = sur.get("name") or DEFAULT_SURROGATE
        alpha = sur.get("alpha") or DEFAULT_ALPHA
        cell.surrogate, cell.alpha, cell.spike_fn = name, alpha, make_spike_fn(name, alpha)
        sb = layer.spiking_bias
        if sb is not None:
            sb.set_trainable(w_in=flags["w_in"], w_b=flags["w_b"], alpha=flags["alpha"])
            bname = sur.get("bias_name") or DEFAULT_SURROGATE
            balpha = sur.get("bias_alpha") or DEFAULT_ALPHA
            sb.surrogate, sb.surrogate_alpha = bname, balpha
            sb.spike_fn = make_spike_fn(bname, balpha)
    if info.n_classes is not None:
        net.n_classes = info.n_classes
    return net


def load_network(path, dtype=None):
    """``(NTNetwork, ModelInfo)`` from a model file (see :func:`network_from_model`)."""
    spec, info = load_model(path)
    return network_from_model(spec, info, dtype), info
