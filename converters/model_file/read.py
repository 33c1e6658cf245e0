"""Reading and validating model files: :func:`load_model`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from lava_nt import __version__
from lava_nt.converters.lava_graph import check_spec
from lava_nt.converters.model_file.checksum import _checksum
from lava_nt.converters.model_file.errors import ModelFileError
from lava_nt.converters.model_file.schema import (
    FORMAT,
    LEGACY_C_RETENTION,
    READABLE_VERSIONS,
    TRAINABLE_KINDS,
    ModelInfo,
    c_retention_name,
    trainable_kinds,
)
from lava_nt.converters.model_file.structure import check_structure, read_header
from lava_nt.converters.quantize import QuantReport
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec.fixed import fixed_ntlif_parameters, fixed_spiking_bias_parameters
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.readout import ReadoutSpec, fixed_readout_parameters, readout_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError


class _Reader:
    """Typed access to one open file with errors that name the file and the object."""

    def __init__(self, f, path):
        self.f = f
        self.path = path

    def fail(self, message: str):
        raise ModelFileError(self.path, message)

    def group(self, g, name: str):
        obj = g.get(name)
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


def _read_readout(r: _Reader, g, fixed: bool, n_prev: int):
    rg = r.group(g, "readout")
    n = r.attr(rg, "n", int)
    reduce = r.attr(rg, "reduce", str)
    w = r.data(rg, "weight", "i" if fixed else "f", (n, n_prev))
    try:
        if fixed:
            params = fixed_readout_parameters(
                n, "readout", i_decay=int(r.data(rg, "i_decay", "i", ())),
                v_decay=int(r.data(rg, "v_decay", "i", ())),
                bias_mant=r.data(rg, "bias_mant", "i", (n,)),
                bias_exp=r.data(rg, "bias_exp", "i", (n,)), reduce=reduce,
            )  # fmt: skip
            return ReadoutSpec(w, params, weight_exp=r.attr(rg, "weight_exp", int))
        params = readout_parameters(
            n, "readout", du=float(r.data(rg, "du", "f", ())), dv=float(r.data(rg, "dv", "f", ())),
            bias=r.data(rg, "bias", "f", (n,)), reduce=reduce,
        )  # fmt: skip
    except ParameterError as exc:
        r.fail(f"invalid parameters in '{rg.name}': {exc}")
    return ReadoutSpec(w, params)


def _decay(r: _Reader, ng, name: str, kind: str, n: int):
    """A neuron decay: a scalar (``int`` / ``float``), or one value per neuron ``(n,)``."""
    arr = r.data(ng, name, kind, None)
    if arr.shape == ():
        return int(arr) if kind == "i" else float(arr)
    if arr.shape != (n,):
        r.fail(f"dataset '{ng.name}/{name}' has shape {arr.shape}, expected () or ({n},)")
    return arr


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
                    du=_decay(r, ng, "du", "i", n),
                    dv=_decay(r, ng, "dv", "i", n),
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
                    du=_decay(r, ng, "du", "f", n),
                    dv=_decay(r, ng, "dv", "f", n),
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
                    # "alpha" in schema versions 1 and 2 (check_structure allows only one)
                    c_name = "c_retention" if "c_retention" in sg else LEGACY_C_RETENTION
                    params = spiking_bias_parameters(
                        m,
                        n,
                        f"{where} spiking bias",
                        du=float(r.data(sg, "du", "f", ())),
                        dv=float(r.data(sg, "dv", "f", ())),
                        vth=float(r.data(sg, "vth", "f", ())),
                        bias=r.data(sg, "bias", "f", (m,)),
                        w_b=r.data(sg, "w_b", "f", (m,)),
                        c_retention=r.data(sg, c_name, "f", (m,)),
                        group=group,
                    )
                    w_in_exp = 0
                sbs = SpikingBiasSpec(w_in=w_in, params=params, mask=mask, w_in_exp=w_in_exp)
        except ParameterError as exc:
            r.fail(f"invalid parameters in '{lg.name}': {exc}")
        delay = r.data(lg, "delay", "i", (n, n_prev), optional=True)  # version 4 on
        layers.append(
            LayerSpec(weight=w, neuron=neuron, spiking_bias=sbs, weight_exp=wexp, delay=delay)
        )
        n_prev = n
    kind = r.attr(g, "input", str) if "input" in g.attrs else "spikes"
    readout = _read_readout(r, g, fixed, n_prev) if "readout" in g else None
    try:
        spec = NetworkSpec(n_in=n_in, layers=layers, fixed=fixed, readout=readout, input=kind)
        if fixed:
            check_spec(spec, "fixed", "model file")
    except ParameterError as exc:
        r.fail(f"inconsistent network in '{g.name}': {exc}")
    return spec


def load_model(path) -> tuple[NetworkSpec, ModelInfo]:
    """Load and validate a model file: ``(NetworkSpec, ModelInfo)``.

    In order: the file is HDF5; its ``format`` and ``schema_version``; its structure, before any
    data is read or hashed (:func:`~.structure.check_structure`: no links, no external or
    virtual storage, no references, no member outside the layout, dtypes and shapes as the
    declared network needs, nothing that could expand beyond the file's size); the checksum; the
    content (finite values, ranges, consistency). Raises :class:`ModelFileError` (naming the
    file and the problem) for a missing, truncated, corrupt, hostile, wrong-format,
    wrong-version or inconsistent file."""
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
            _check(r, f, path)
            return _load(r, f, path)
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt internals surface as many errors
            raise ModelFileError(
                path, f"cannot be read (corrupt?): {type(exc).__name__}: {exc}"
            ) from None


def _check(r: _Reader, f, path) -> None:
    """Format, version, structure (nothing read yet), then the checksum."""
    fmt, version = read_header(f, path)
    if fmt != FORMAT:
        r.fail(f"is not a lava-nt model file (format attribute {fmt!r}, expected {FORMAT!r})")
    if version is None:
        r.fail("attribute 'schema_version' of '/' is missing or not an integer")
    if version not in READABLE_VERSIONS:
        r.fail(
            f"has schema version {version}; this lava-nt ({_version()}) reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} only"
        )
    check_structure(f, path)
    if r.attr(f, "checksum", str) != _checksum(f):
        r.fail("checksum mismatch: the content was modified or corrupted after it was written")


def _read_training(r: _Reader, tr, spec: NetworkSpec, version: int):
    """The checked ``/training`` group: ``(trainable, surrogate, trainable_counts,
    tuning_methods, n_trainable, dtype)``; an old file's ``alpha`` flag and counts are returned
    under the name ``c_retention``."""
    trainable = r.json_attr(tr, "trainable")
    surrogate = r.json_attr(tr, "surrogate")
    counts = r.json_attr(tr, "trainable_counts")
    methods = r.json_attr(tr, "tuning_methods")
    nl = len(spec.layers)
    if not (isinstance(trainable, list) and len(trainable) == nl):
        r.fail(f"'/training' trainable flags must list {nl} layers")
    kinds = trainable_kinds(version)
    for k, t in enumerate(trainable):
        if not isinstance(t, dict) or set(t) != set(kinds):
            r.fail(f"'/training' trainable flags of layer {k} must have keys {kinds}")
        if kinds != TRAINABLE_KINDS:
            trainable[k] = {new: t[old] for old, new in zip(kinds, TRAINABLE_KINDS, strict=True)}
            t = trainable[k]
        if (t["w_in"] or t["w_b"] or t["c_retention"]) and spec.layers[k].spiking_bias is None:
            r.fail(f"'/training' marks spiking-bias tensors of layer {k} trainable, it has none")
    if not (isinstance(surrogate, list) and len(surrogate) == nl):
        r.fail(f"'/training' surrogate settings must list {nl} layers")
    if not isinstance(counts, dict) or not all(
        isinstance(v, int) and v >= 0 for v in counts.values()
    ):
        r.fail("'/training' trainable_counts must map names to non-negative integers")
    if c_retention_name(version) == LEGACY_C_RETENTION:  # tensor names before the rename
        old = f"spiking_bias.{LEGACY_C_RETENTION}"
        counts = {
            (f"{key[: -len(old)]}spiking_bias.c_retention" if key.endswith(old) else key): v
            for key, v in counts.items()
        }
    n_trainable = r.attr(tr, "n_trainable", int)
    if n_trainable != sum(counts.values()):
        r.fail(f"'/training' n_trainable={n_trainable} != the sum of trainable_counts")
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        r.fail("'/training' tuning_methods must be a list of names")
    dtype = r.attr(tr, "dtype", str)
    if dtype not in ("float32", "float64", "float16", "bfloat16"):
        r.fail(f"'/training' dtype {dtype!r} is not a floating torch dtype")
    return trainable, surrogate, counts, methods, n_trainable, dtype


def _load(r: _Reader, f, path) -> tuple[NetworkSpec, ModelInfo]:
    arch = r.group(f, "architecture")
    sizes = r.data(arch, "sizes", "i", None)
    if sizes.ndim != 1 or sizes.size < 2 or np.any(sizes <= 0):
        r.fail(f"'/architecture/sizes' must list at least two positive sizes, got {sizes}")
    sizes = [int(s) for s in sizes]
    spec = _read_spec(r, r.group(f, "network"), sizes)
    if r.attr(arch, "fixed", bool) != spec.fixed:
        r.fail("'/architecture' and '/network' disagree on fixed point")
    tr = r.group(f, "training")
    version = int(f.attrs["schema_version"])
    trainable, surrogate, counts, methods, n_trainable, dtype = _read_training(r, tr, spec, version)
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
        schema_version=int(f.attrs["schema_version"]),
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
            info.quant_report = QuantReport.from_dict(rep)
        except (KeyError, TypeError, ValueError) as exc:
            r.fail(f"'/quantized' report is malformed: {exc}")
    return spec, info


def _version() -> str:
    return __version__
