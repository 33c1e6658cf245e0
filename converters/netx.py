"""Networks that stock Lava can express: stock ``LIF``/``Dense`` deployment and lava-dl netx export.

A network is expressible with stock Lava when it has no spiking biases, every layer resets to
zero and it has no gains (fold them: :func:`lava_nt.converters.quantize.fold_gains`). Then

* :func:`to_stock_lava` builds a :class:`StockLavaNetwork`: per layer a stock ``Dense`` and a
  stock ``LIFReset`` (float, or Loihi fixed point with ``du``/``dv``/``vth``/``bias_mant``/
  ``bias_exp`` from the quantiser), and :meth:`StockLavaNetwork.run` runs it exactly like
  :func:`lava_nt.converters.lava_graph.run_network` (one long run, per-sample reset, outputs in
  the torch time frame);
* :func:`export_netx` writes lava-dl's netx HDF5 layout (read by ``lava/lib/dl/netx/hdf5.py``)::

      layer/0/type  = b"input", layer/0/shape = [n_in]            (no neuron: no Input block)
      layer/k/type  = b"dense", layer/k/shape = [n]
      layer/k/weight  (n, n_in) integers: the effective weight added to u >> 6
      layer/k/bias    (n,) integers: bias_mant with netx's fixed bias_exp = 6
      layer/k/neuron/{type = b"CUBA", iDecay = du + 1, vDecay = dv, vThMant = vth,
                      refDelay = 1, gradedSpike = False}

  netx casts weights to int and re-derives a weight exponent from 8-bit values, and it reads
  the bias with ``bias_exp = 6``, so a float model is re-quantised with
  ``quantize(spec, target="netx")`` (integer weights in [-256, 254], ``bias = bias_mant << 6``).
  A fixed-point spec is exported as it is if it already satisfies these constraints.

:func:`run_netx` loads a netx file with lava-dl's own reader (``lava.lib.dl.netx.hdf5.Network``)
and runs it in fixed point; the reader is installed on demand into a side directory
(:func:`ensure_netx_reader`, never into the environment's site-packages) and imported without
torch (stub modules for slayer and ``sequential_modules``, :func:`import_netx_hdf5`).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_nt.network import NetworkSpec
from lava_nt.spec.fixed import GAIN_UNITY, dense_effective_weights
from lava_nt.spec.validation import ParameterError

__all__ = [
    "LAVA_DL_VERSION",
    "NetxExport",
    "NetxUnavailable",
    "StockLavaError",
    "StockLavaNetwork",
    "ensure_netx_reader",
    "export_netx",
    "netx_compatible",
    "read_netx",
    "run_netx",
    "run_stock_lava",
    "to_stock_lava",
]

#: lava-dl release whose netx reader :func:`run_netx` uses.
LAVA_DL_VERSION = "0.6.0"
NETX_BIAS_EXP = 6
NETX_WEIGHT_MIN, NETX_WEIGHT_MAX = -256, 254


class StockLavaError(ParameterError):
    """The network uses a feature stock Lava ``LIF``/``Dense`` (or netx) cannot express."""


class NetxUnavailable(RuntimeError):
    """lava-dl's netx reader could not be installed or imported (reason in the message)."""


# ---- stock Lava -----------------------------------------------------------------------------
def _check_stock(spec: NetworkSpec, where: str) -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: expected a NetworkSpec, got {type(spec).__name__}")
    for k, ls in enumerate(spec.layers):
        if ls.spiking_bias is not None:
            raise StockLavaError(
                f"{where}: layer {k} has a spiking bias; stock Lava LIF/Dense cannot express it "
                "(deploy with lava_nt.converters.lava_graph.run_network instead)"
            )
        if ls.neuron.reset_subtract:
            raise StockLavaError(
                f"{where}: layer {k} resets by subtraction; stock Lava LIF resets to zero "
                "(deploy with lava_nt.converters.lava_graph.run_network instead)"
            )


@dataclass
class StockLavaNetwork:
    """A network of stock Lava processes only: per layer ``Dense(**dense)`` -> ``LIFReset(**lif)``.

    Attributes:
        n_in: input width.
        precision: "float" or "fixed".
        layers: per layer ``{"dense": {...}, "lif": {...}}`` keyword arguments of Lava's
            ``Dense`` and ``LIF`` (``shape`` and the reset schedule are added at build time).
    """

    n_in: int
    precision: str
    layers: list[dict] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [
            int(np.asarray(ld["dense"]["weights"]).shape[0]) for ld in self.layers
        ]

    def run(self, x, timeout: float | None = None, record: bool = False):
        """Run on binary input spikes ``x [T, B, n_in]``; returns a
        :class:`~lava_nt.converters.lava_graph.LavaRunResult` (torch time frame)."""
        return _run_chain("stock", self, x, self.precision, timeout, record)


def to_stock_lava(spec: NetworkSpec, *, fold_gains: bool = True) -> StockLavaNetwork:
    """The stock-Lava (``LIF``/``Dense`` only) version of ``spec``.

    A float spec's gains are folded into its weights and biases (``fold_gains=True``; exact in
    real arithmetic). A fixed-point spec must already be gain-free (every ``gain_mant`` = 256:
    quantise with ``fold_gains=True``). Spiking biases and reset "subtract" raise
    :class:`StockLavaError`.

    Returns:
        A :class:`StockLavaNetwork`: ``n_in``, ``precision`` (``"float"`` or ``"fixed"``, as
        the spec) and ``layers``, one dict per layer with the keyword arguments of Lava's
        ``Dense`` (``"dense"``: ``weights``, and ``weight_exp`` / ``num_weight_bits`` in fixed
        point) and ``LIF`` (``"lif"``: ``du``, ``dv``, ``vth``, ``bias_mant``, ``bias_exp``;
        integers in fixed point, floats with ``bias_exp`` 0 in float). Nothing is built or run
        yet: :meth:`StockLavaNetwork.run` runs it on Lava and returns a
        :class:`~lava_nt.converters.lava_graph.LavaRunResult`.
    """
    _check_stock(spec, "to_stock_lava")
    layers = []
    if spec.fixed:
        for k, ls in enumerate(spec.layers):
            p = ls.neuron
            gm = np.asarray(p.gain_mant)
            if np.any(gm != GAIN_UNITY):
                raise StockLavaError(
                    f"to_stock_lava: layer {k} has gains (gain_mant != 256); stock Lava LIF has "
                    "none: quantise the float model with fold_gains=True"
                )
            n = ls.n
            layers.append(
                {
                    "dense": {
                        "weights": np.asarray(ls.weight, dtype=np.int64),
                        "weight_exp": int(ls.weight_exp),
                        "num_weight_bits": 8,
                    },
                    "lif": {
                        "du": int(p.du),
                        "dv": int(p.dv),
                        "vth": int(p.vth),
                        "bias_mant": np.broadcast_to(np.asarray(p.bias_mant), (n,)).astype(
                            np.int64
                        ),
                        "bias_exp": np.broadcast_to(np.asarray(p.bias_exp), (n,)).astype(np.int64),
                    },
                }
            )
        return StockLavaNetwork(spec.n_in, "fixed", layers)
    from lava_nt.converters.quantize import _per_neuron, _scalar
    from lava_nt.converters.quantize import fold_gains as _fold

    src = spec
    gains = [_per_neuron(ls.neuron.gain, ls.n) for ls in spec.layers]
    if any(np.any(g != 1.0) for g in gains):
        if not fold_gains:
            raise StockLavaError(
                "to_stock_lava: the network has gains != 1 and fold_gains=False; stock Lava LIF "
                "has no gain"
            )
        src = _fold(spec)
    for ls in src.layers:
        p = ls.neuron
        layers.append(
            {
                "dense": {"weights": np.asarray(ls.weight, dtype=np.float64)},
                "lif": {
                    "du": _scalar(p.du),
                    "dv": _scalar(p.dv),
                    "vth": _scalar(p.vth),
                    "bias_mant": _per_neuron(p.bias, ls.n),
                    "bias_exp": np.zeros(ls.n),
                },
            }
        )
    return StockLavaNetwork(spec.n_in, "float", layers)


def run_stock_lava(spec: NetworkSpec, x, precision: str | None = None, **kwargs):
    """``to_stock_lava(spec).run(x, ...)``; ``precision`` must match the spec if given."""
    net = to_stock_lava(spec)
    if precision is not None and precision != net.precision:
        raise ParameterError(
            f"run_stock_lava: precision={precision!r} but the spec is {net.precision}"
        )
    return net.run(x, **kwargs)


# ---- netx export ----------------------------------------------------------------------------
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
        _check_stock(spec, "netx")
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
    from lava_nt.converters.quantize import quantize

    obj = spec_or_model
    if isinstance(obj, str | os.PathLike):
        from lava_nt.converters.model_file import load_model

        obj, info = load_model(obj)
        # the model's own fixed-point network (e.g. QAT-tuned for netx, or imported from netx)
        # is written exactly when netx can hold it
        if info.quantized is not None and not netx_compatible(info.quantized):
            return info.quantized, info.quant_report
    elif _is_net(obj):
        obj = obj.to_spec()
    if not isinstance(obj, NetworkSpec):
        raise ParameterError(
            "export_netx: expected a NetworkSpec, an NTNetwork or a model file path, got "
            f"{type(obj).__name__}"
        )
    if obj.fixed:
        why = netx_compatible(obj)
        if why:
            raise StockLavaError(
                "export_netx: this fixed-point spec cannot be written to netx as it is:\n  "
                + "\n  ".join(why)
                + "\nquantise the float model with quantize(spec, target='netx')"
            )
        return obj, None
    _check_stock(obj, "export_netx")
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
    from lava_nt import __version__
    from lava_nt.converters.model_file import atomic_h5_write

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
    import h5py

    from lava_nt.converters.netx_import import _str

    def neuron(g) -> dict:
        if "neuron" not in g:
            return {"neuron_type": None, "iDecay": None, "vDecay": None, "vThMant": None}
        nrn = g["neuron"]
        return {
            "neuron_type": _str(nrn["type"]),
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
            typ = _str(g["type"]).lower()
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


# ---- lava-dl's netx reader (side install) ---------------------------------------------------
def default_side_dir() -> Path:
    """``<venv>/lava-dl-side`` (the running environment's prefix), where lava-dl is unpacked."""
    return Path(sys.prefix) / "lava-dl-side"


def ensure_netx_reader(side_dir=None, *, download: bool = True, timeout: float = 600) -> Path:
    """Make lava-dl's netx reader available in ``side_dir`` (default :func:`default_side_dir`):
    ``pip download lava-dl==0.6.0 --no-deps`` then ``pip install --no-deps --target side_dir``,
    once; the environment's own packages are never touched.

    Raises :class:`NetxUnavailable` (with pip's message) if it is missing and cannot be installed.
    """
    side = Path(side_dir) if side_dir is not None else default_side_dir()
    marker = side / "lava" / "lib" / "dl" / "netx" / "hdf5.py"
    if marker.exists():
        return side
    if not download:
        raise NetxUnavailable(f"lava-dl's netx reader is not installed in {side}")
    wheels = side.parent / (side.name + "-wheel")
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    pattern = f"lava_dl-{LAVA_DL_VERSION}-*.whl"

    def _pip(args: list[str]) -> None:
        what = f"pip {args[0]} lava-dl=={LAVA_DL_VERSION}"
        try:
            res = subprocess.run(pip + args, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NetxUnavailable(f"{what} failed: {exc}") from exc
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise NetxUnavailable(f"{what} failed: {' | '.join(tail)}")

    if not sorted(wheels.glob(pattern)):
        _pip(
            ["download", f"lava-dl=={LAVA_DL_VERSION}", "--no-deps", "-d", str(wheels)]
            + ["--timeout", "30", "--retries", "2"]
        )
    found = sorted(wheels.glob(pattern))
    if not found:
        raise NetxUnavailable(f"no lava-dl {LAVA_DL_VERSION} wheel in {wheels} after pip download")
    _pip(["install", "--no-deps", "--target", str(side), str(found[0])])
    if not marker.exists():
        raise NetxUnavailable(f"lava-dl installed into {side} but {marker} is missing")
    return side


def import_netx_hdf5(side_dir):
    """Import ``lava.lib.dl.netx.hdf5`` from ``side_dir`` without torch/slayer (stub modules for
    ``lava.lib.dl.netx``'s package init, ``sequential_modules`` and ``slayer.neuron.rf``).

    Call it in a throw-away process (e.g. inside a :func:`~lava_nt.lava.run.run_isolated` job):
    it changes ``sys.path`` and ``sys.modules``."""
    side = str(side_dir)
    if side not in sys.path:
        sys.path.insert(0, side)
    netx_dir = os.path.join(side, "lava", "lib", "dl", "netx")
    if "lava.lib.dl.netx" not in sys.modules:
        pkg = types.ModuleType("lava.lib.dl.netx")
        pkg.__path__ = [netx_dir]
        sys.modules["lava.lib.dl.netx"] = pkg
        seq = types.ModuleType("lava.lib.dl.netx.sequential_modules")
        seq.__file__ = os.path.join(netx_dir, "sequential_modules.py")
        sys.modules["lava.lib.dl.netx.sequential_modules"] = seq
        for name in ("lava.lib.dl.slayer", "lava.lib.dl.slayer.neuron"):
            mod = types.ModuleType(name)
            mod.__path__ = []
            sys.modules[name] = mod
        rf = types.ModuleType("lava.lib.dl.slayer.neuron.rf")

        def neuron_params(*args, **kwargs):  # only used by RF neurons
            raise NotImplementedError("slayer is stubbed out (RF neurons are not supported)")

        rf.neuron_params = neuron_params
        sys.modules["lava.lib.dl.slayer.neuron.rf"] = rf
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module("lava.lib.dl.netx.hdf5")


def run_netx(path, x, *, side_dir=None, timeout: float | None = None, record: bool = False):
    """Run a netx file with lava-dl's reader in fixed point (``Network(net_config=path,
    reset_interval=T + depth, reset_offset=1)``) on ``x [T, B, n_in]``: binary spikes, or, when
    the file's input layer has a neuron group (netx's bias-encoded Input block), the integers
    ``round(weight * data)`` that lava-nt's import takes (:attr:`~lava_nt.converters.
    netx_import.NetxImport.input_weight`). netx never applies the input transform itself
    ("the input must be handled through neuron's bias"); here the Input neuron receives ``x``
    on its ``a_in`` port, which equals setting its ``bias_mant`` to ``x`` each step because its
    current decays fully (``iDecay = 4096``).

    A dense layer without neuron group (netx's readout, a non-leaky integrator that never
    spikes) is read through a Lava ``Monitor`` on its voltage: ``output`` is then that voltage
    trace (int64), directly comparable with ``run_network(spec, x, "fixed").output``.

    Returns a :class:`~lava_nt.converters.lava_graph.LavaRunResult` in the torch time frame,
    directly comparable with ``run_network(spec, x, "fixed")`` (with ``record``, ``layers`` lists
    the spiking layers: the Input block first when there is one). Raises
    :class:`NetxUnavailable` if the reader is not installed (see :func:`ensure_netx_reader`)."""
    side = ensure_netx_reader(side_dir, download=False)
    info = read_netx(path)
    return _run_chain(
        "netx", {"path": str(Path(path).resolve()), "side": str(side), "info": info},
        x, "fixed", timeout, record,
    )  # fmt: skip


# ---- one long Lava run of a Dense -> LIF chain ----------------------------------------------
def _build_stock(net: StockLavaNetwork, src, L: int, fixed: bool) -> list:
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIFReset

    prev = src.s_out
    outs = []
    for k, ld in enumerate(net.layers, start=1):
        dense = Dense(**ld["dense"])
        n = int(np.asarray(ld["dense"]["weights"]).shape[0])
        lif = LIFReset(shape=(n,), reset_interval=L, reset_offset=(k + 1) % L, **ld["lif"])
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        outs.append(lif.s_out)
        prev = lif.s_out
    return outs


def _build_netx(payload: dict, src, L: int, fixed: bool):
    hdf5 = import_netx_hdf5(payload["side"])
    net = hdf5.Network(net_config=payload["path"], reset_interval=L, reset_offset=1)
    layers = list(net.layers)
    if payload["info"]["input"] is not None:  # bias-encoded Input block: drive its neuron
        src.s_out.connect(layers[0].neuron.a_in)
    else:
        src.s_out.connect(net.inp)
    monitor = None
    if payload["info"]["layers"] and payload["info"]["layers"][-1]["readout"]:
        from lava.proc.monitor.process import Monitor

        monitor = Monitor()
        monitor.probe(layers[-1].neuron.v, payload["steps"])
        layers = layers[:-1]
    return [layer.out for layer in layers], monitor


def _chain_job(kind: str, payload, x: np.ndarray, precision: str, record: bool) -> dict:
    from lava.proc.io.extractor import Extractor
    from lava.proc.io.source import RingBuffer

    from lava_nt.converters.lava_graph import (
        CHUNK_STEPS,
        run_chunked,
        schedule,
        source_data,
        to_torch_frame,
    )
    from lava_nt.lava.models import base_config

    t0 = time.perf_counter()
    fixed = precision == "fixed"
    T, B, _ = x.shape
    depth = _chain_depth(kind, payload)
    # lava-dl's netx network resets all layers at one offset: a drained window per sample
    L, steps = schedule(T, B, depth, back_to_back=False)
    chunk = min(steps, CHUNK_STEPS)
    data = source_data(x, depth, back_to_back=False)
    monitor = None
    if kind == "stock":
        src = RingBuffer(data=data.astype(np.int32) if fixed else data)
        outs = _build_stock(payload, src, L, fixed)
    else:
        inp = payload["info"]["input"]
        if inp is not None:
            # straight into the Input neuron (no Dense): one step later, with the transform bias
            data = _netx_input_data(x, depth, L)
        src = RingBuffer(data=data.astype(np.int32) if fixed else data)
        outs, monitor = _build_netx(dict(payload, steps=steps), src, L, fixed)
    n_spiking = len(outs)
    taps = {}
    for k, port in enumerate(outs):
        if record or (k == n_spiking - 1 and monitor is None):
            tap = Extractor(shape=port.shape, buffer_size=chunk)
            port.connect(tap.in_port)
            taps[k] = tap
    run_cfg = base_config(precision)  # lava-dl's hierarchical processes: Lava selects the models
    build_time = time.perf_counter() - t0

    def read_monitor():
        data = next(iter(next(iter(monitor.get_data().values())).values()))
        return np.asarray(data).reshape(steps, -1).astype(np.int64)

    raw, timing, readout = run_chunked(
        src, run_cfg, steps, chunk, taps, finish=None if monitor is None else read_monitor
    )
    timing = {"build": build_time, **timing}
    recs = {k: to_torch_frame(v, k + 1, T, B, L).astype(np.int8) for k, v in raw.items()}
    if readout is not None:
        recs["readout"] = to_torch_frame(readout, depth, T, B, L)
    return {"records": recs, "timing": timing, "steps": steps, "window": L}


def _chain_depth(kind, payload) -> int:
    """Dense stages of the chain (a netx Input block counts as one: it is fed a step later)."""
    if kind == "stock":
        return len(payload.layers)
    info = payload["info"]
    return len(info["layers"]) + (info["input"] is not None)


def _netx_input_data(x: np.ndarray, depth: int, L: int) -> np.ndarray:
    """RingBuffer data for a netx Input block: each sample's window shifted one step later (no
    Dense in front of the Input neuron)."""
    T, B, n_in = x.shape
    data = np.zeros((B, L, n_in))
    data[:, 1 : T + 1] = np.transpose(x, (1, 0, 2))
    return data.reshape(B * L, n_in).T.copy()


def _run_chain(kind, payload, x, precision, timeout, record):
    from lava_nt.converters.lava_graph import LavaRunResult, check_input
    from lava_nt.lava.run import default_timeout, run_isolated

    n_in = payload.n_in if kind == "stock" else payload["info"]["n_in"]
    depth = _chain_depth(kind, payload)
    graded = kind == "netx" and payload["info"]["input"] is not None
    probe = types.SimpleNamespace(n_in=n_in, graded=graded, fixed=True)
    if graded:
        from lava_nt.network import check_network_input

        xf = check_network_input(probe, x, "run_netx")
    else:
        xf = check_input(probe, x, "run_" + kind)
    T, B, _ = xf.shape
    steps = B * (T + depth)
    if timeout is None:
        timeout = default_timeout(steps) + 2.0 * (depth + 1) + (10.0 if kind == "netx" else 0.0)
    t0 = time.perf_counter()
    res = run_isolated(_chain_job, kind, payload, xf, precision, record, timeout=timeout)
    recs = res["records"]
    n_spiking = depth - ("readout" in recs)
    layers = []
    if record:
        layers = [
            {"spikes": recs[k].astype(np.float64), "bias_current": None, "bias_spikes": None}
            for k in range(n_spiking)
        ]
    output = recs["readout"] if "readout" in recs else recs[n_spiking - 1].astype(np.float64)
    return LavaRunResult(
        output=output,
        layers=layers,
        has_readout="readout" in recs,
        precision=precision,
        steps=res["steps"],
        window=res["window"],
        timing=dict(res["timing"], total=time.perf_counter() - t0),
    )


def _is_net(obj) -> bool:
    from lava_nt.converters.model_file import _is_ntnetwork

    return _is_ntnetwork(obj)
