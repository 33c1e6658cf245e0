"""Import a lava-dl netx HDF5 network (``input`` + ``dense`` layers of CUBA neurons) into lava-nt.

A network trained elsewhere (lava-dl slayer, or lava-nt's own :func:`~lava_nt.converters.netx.
export_netx`) becomes a lava-nt network that can be NT-tuned and deployed back. netx stores
Loihi integers and lava-dl 0.6.0's reader (``lava/lib/dl/netx/hdf5.py`` in lava-dl 0.6.0)
interprets them as follows, which :func:`import_netx` reproduces operation for operation:

====================  =========================================================================
netx dataset          meaning in lava-dl 0.6.0 -> lava-nt fixed spec
====================  =========================================================================
``weight`` (n, n_in)  cast to int; ``optimize_weight_bits`` picks ``weight_exponent`` and
                      ``num_weight_bits``; Lava's Dense truncates. The integer that reaches
                      ``u >> 6`` per input spike is written as an 8-bit Dense mantissa + exponent
``bias`` (n,)         cast to int, ``bias_mant`` with ``bias_exp = 6``
``neuron/iDecay``     Lava ``du = iDecay - 1`` (1..4096); a scalar, or ``(n,)`` one per neuron
                      (lava-dl's CUBA blocks trained with ``shared_param=False``)
``neuron/vDecay``     Lava ``dv = vDecay`` (0..4095); a scalar or ``(n,)`` one per neuron
``neuron/vThMant``    ``vth`` (0..131071), one per layer
``delay``             synaptic delays (``LayerSpec.delay``): ``(n,)`` one per output neuron
                      (``D[j, :] = d_j``, checked first), ``(n_in,)`` one per input
                      (``D[:, i] = d_i``), a scalar for all, or the full ``(n, n_in)`` matrix;
                      larger than 62 -> clamped to 62 with lava-dl's warning; cast to int.
                      netx builds a ``DelayDense`` (a spike arrives ``1 + d`` steps later)
``flatten``           right after the input: nothing to do for dense vectors
``average``           last: slayer's population average of ``n_classes`` consecutive groups of
                      the last layer's neurons (lava-dl's reader refuses it; lava-dl's own tests
                      stop before it) -> :attr:`NetxImport.n_classes`, population decoding
reset                 to zero (CUBA), gain 1 (``gain_mant = 256``), no spiking bias
====================  =========================================================================

The fixed spec runs bit-exactly like lava-dl's loader (``run_network(spec, x, "fixed")`` equals
``lava_nt.converters.netx.run_netx(path, x)``). Its float twin
(:attr:`NetxImport.float_spec`) is ``dequantize(fixed, scales)`` with the voltage scale
``S = 64 vThMant`` per layer, so every float threshold is 1.0: weights ``W_int / vThMant``,
biases ``bias / vThMant``, ``du = iDecay / 4096``, ``dv = vDecay / 4096``. Re-quantising it with
the same scales (``quantize(float_spec, target="netx", scales=result.scales)``) returns the same
integers.

Refused, with the layer and the reason: layer types other than input/dense (conv, pool, ...),
recurrent or complex weights, non-CUBA neurons (SDNN, RF), graded spikes (``messageBits`` > 0),
negative delays and delays on a readout (a dense layer without neuron group), per-neuron
thresholds (``vThMant`` with more than one value: one threshold per layer), ``iDecay = 0``
(a current that never decays: lava-nt's 12-bit ``du`` starts at decay 1/4096),
``vDecay = 4096``, a dense layer without a neuron group (netx's non-leaky default with
``vThMant = 2**17``) that is not the last, weights outside [-256, 255] and biases that no 13-bit
mantissa with a 3-bit exponent can hold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from lava_nt.converters.netx.format import (
    NETX_BIAS_EXP,
    read_int,
    read_str,
)
from lava_nt.converters.netx.lava_dl import (
    bias_registers,
    lava_nt_weights,
    netx_effective_weights,
)
from lava_nt.converters.netx.neurons import check_decays, neuron_registers, report_register
from lava_nt.converters.quantize import LayerQuant, QuantReport, dequantize
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.delay import DELAY_MAX, expand_delay
from lava_nt.spec.fixed import (
    DECAY_MAX,
    GAIN_UNITY,
    VTH_MAX,
    VTH_SHIFT,
    fixed_ntlif_parameters,
)
from lava_nt.spec.readout import REDUCTIONS, ReadoutSpec, fixed_readout_parameters
from lava_nt.spec.validation import ParameterError

#: Voltage units of the float twin (:func:`import_netx`).
UNITS = ("integer", "threshold", "dyadic")


class NetxImportError(ValueError):
    """The netx file is missing, unreadable, or uses a feature lava-nt cannot express.

    ``layer`` is the offending layer index (None for file-level problems)."""

    def __init__(self, message: str, layer: int | None = None):
        self.layer = layer
        super().__init__(message)


@dataclass
class NetxImport:
    """Result of :func:`import_netx`.

    Attributes:
        fixed_spec: the exact fixed-point network (Lava bit-accurate semantics = netx's).
        float_spec: its float twin ``dequantize(fixed_spec, scales=scales)`` (thresholds 1.0).
        scales: voltage scale per layer (``64 * vThMant``).
        report: a :class:`~lava_nt.converters.quantize.QuantReport` describing the registers
            (attach it with the fixed spec: ``save_model(..., quantized=(fixed_spec, report))``).
        notes: what was read, ignored or normalised.
        path: the file.
    """

    fixed_spec: NetworkSpec
    float_spec: NetworkSpec
    scales: list[float]
    report: object
    notes: list[str] = field(default_factory=list)
    path: str = ""
    #: bias-encoded input (a netx Input layer with a neuron group): the input transform's
    #: integer weight; the networks take ``round(input_weight * data)`` (:meth:`encode_input`)
    input_weight: int | None = None
    #: classes of a final ``average`` layer (slayer's population average: the last layer's
    #: neurons in ``n_classes`` consecutive groups, as :mod:`lava_nt.decode`); None without one
    n_classes: int | None = None

    def encode_input(self, data):
        """The integer graded input of a bias-encoded netx network for real ``data`` (e.g. pixel
        intensities in [0, 1], as the network was trained on): ``round(input_weight * data)``,
        half away from zero: the value lava-dl's Input neuron gets as ``bias_mant``."""
        if self.input_weight is None:
            raise ParameterError("encode_input: this network takes spikes, not graded input")
        d = np.asarray(data, dtype=np.float64) * self.input_weight
        return np.sign(d) * np.floor(np.abs(d) + 0.5)


def _open(path: Path):

    if not path.exists():
        raise NetxImportError(f"netx file '{path}' does not exist")
    if path.is_dir() or not h5py.is_hdf5(path):
        raise NetxImportError(f"netx file '{path}' is not an HDF5 file (corrupt or not netx)")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds on a damaged file
        raise NetxImportError(f"netx file '{path}' cannot be read: {exc}") from None
    if "layer" not in f:
        f.close()
        raise NetxImportError(f"netx file '{path}' has no '/layer' group (not a netx network)")
    return f


def import_netx(path, *, reduce: str = "last", units: str = "integer") -> NetxImport:
    """Read a netx file into an exact fixed-point :class:`NetworkSpec` and its float twin.

    ``reduce``: how a readout (a dense layer without neuron group) is read over the window
    ("last", "mean" or "max"). ``units``: the float twin's voltage scale, ``"integer"`` (``S =
    64``: weights, thresholds and biases keep their integer values and the decays are dyadic, so
    float engines cannot disagree on threshold ties), ``"threshold"`` (``S = 64 vThMant``:
    every threshold 1.0) or ``"dyadic"`` (for training: ``S = 64 * 2**ceil(log2 vThMant)``, every
    threshold in (0.5, 1], and the readout's scale the power of two at which a unit's largest
    one-step change, every neuron of the last layer spiking, lies in (4, 8]; every value stays
    dyadic, so float engines agree exactly as with ``"integer"``).

    Raises :class:`NetxImportError` (with the layer index) for anything lava-nt cannot express
    exactly; see the module docstring.
    """

    if reduce not in REDUCTIONS:
        raise ParameterError(f"import_netx: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if units not in UNITS:
        raise ParameterError(f"import_netx: units must be one of {UNITS}, got {units!r}")

    path = Path(path)
    f = _open(path)
    notes: list[str] = []
    try:
        n_in, input_group, raw, n_classes = _scan_layers(path, f["layer"], notes)
        n_in, layers, scales, lqs, readout, readout_lq, input_weight = _build_layers(
            path, raw, input_group, n_in, reduce, notes
        )
    finally:
        f.close()
    kind = "graded" if input_group is not None else "spikes"
    fixed = NetworkSpec(int(n_in), layers, fixed=True, readout=readout, input=kind)
    _check_average(path, fixed, n_classes, notes)
    scales, float_spec = _float_twin(fixed, scales, lqs, readout_lq, units)
    report = QuantReport(
        layers=[LayerQuant(**lq) for lq in lqs],
        fold_gains=True,
        target="netx",
        bias_exp_mode="netx import",
        warnings=[f"imported from netx file '{path.name}' (exact integers, not quantised)"],
        readout=None if readout_lq is None else LayerQuant(**readout_lq),
    )
    return NetxImport(fixed, float_spec, scales, report, notes, str(path), input_weight, n_classes)


_UNSUPPORTED_TYPES = {
    "conv": "convolutions are not lava-nt layers (dense only)",
    "flatten": "reshapes are not lava-nt layers",
    "pool": "pooling is not a lava-nt layer",
    "average": "an average layer belongs last (population decoding of the last layer)",
    "concat": "concatenation is not a lava-nt layer",
    "dense_rec": "recurrent weights: lava-nt networks are feed-forward",
    "dense_comp": "complex weights (resonate-and-fire) are not NTLIF",
    "convt": "transposed convolutions are not lava-nt layers",
    "unpool": "unpooling is not a lava-nt layer",
}


def _layer_kind(path: Path, i: int, g) -> tuple[str, np.ndarray]:
    """``(type, shape)`` of netx layer ``i``."""
    try:
        return read_str(g["type"]).lower(), np.asarray(g["shape"][()]).reshape(-1)
    except (KeyError, ValueError, TypeError) as exc:
        raise NetxImportError(
            f"netx file '{path}': layer {i} lacks a readable 'type'/'shape' ({exc})", i
        ) from None


def _scan_layers(path: Path, lay, notes: list[str]):
    """``(n_in or None, the Input block's group or None, [(index, group, size)] of the dense
    layers, classes of a final average layer or None)``; anything but input, a flatten right
    after it, dense layers and a final average layer is refused."""
    keys = sorted(lay.keys(), key=lambda s: int(s) if s.isdigit() else -1)
    if not keys or any(k != str(i) for i, k in enumerate(keys)):
        raise NetxImportError(
            f"netx file '{path}': layers must be numbered 0..L-1, found {list(lay.keys())}"
        )
    n_in = input_group = n_classes = None
    raw = []
    for i, key in enumerate(keys):
        g = lay[key]
        typ, shape = _layer_kind(path, i, g)
        if typ == "average" and i == len(keys) - 1 and raw:
            n_classes = int(np.prod(shape))
            notes.append(
                f"layer {i} (average, {n_classes} outputs): slayer's population average of "
                f"{n_classes} consecutive groups of the last layer's neurons; imported as "
                f"population decoding with {n_classes} classes (lava-dl's reader has no average)"
            )
            continue
        if typ == "input":
            if i != 0:
                raise NetxImportError(f"netx file '{path}': layer {i} is a second input", i)
            n_in = int(np.prod(shape))
            if "neuron" in g:
                input_group = g
            continue
        if typ == "flatten":
            if raw:
                raise NetxImportError(
                    f"netx file '{path}': layer {i} has type 'flatten' between dense "
                    "layers: lava-nt layers are dense vectors (a flatten belongs right "
                    "after the input)",
                    i,
                )
            notes.append(f"layer {i} (flatten) after the input: nothing to do for dense layers")
            continue
        if typ != "dense":
            why = _UNSUPPORTED_TYPES.get(typ, "unknown layer type")
            raise NetxImportError(f"netx file '{path}': layer {i} has type '{typ}': {why}", i)
        raw.append((i, g, int(np.prod(shape))))
    if not raw:
        raise NetxImportError(f"netx file '{path}' has no dense layer")
    return n_in, input_group, raw, n_classes


def _build_layers(path: Path, raw, input_group, n_in, reduce: str, notes: list[str]):
    """The fixed-point layers of the scanned netx layers: ``(n_in, layers, scales, layer quant
    records, readout, readout quant record, input weight)``."""
    layers, scales, lqs = [], [], []
    readout = readout_lq = None
    input_weight = None
    if input_group is not None:
        layer, S, lq, input_weight = _input_layer(path, input_group, n_in, notes)
        layers.append(layer)
        scales.append(S)
        lqs.append(lq)
    n_prev = n_in
    for k, (i, g, n) in enumerate(raw):
        if "neuron" not in g:
            if k != len(raw) - 1:
                raise NetxImportError(
                    f"netx file '{path}': layer {i} (dense) has no neuron group (netx's "
                    "non-spiking integrator) but is not the last layer: it never spikes, so "
                    "the layers after it would receive nothing",
                    i,
                )
            readout, readout_lq = _readout_layer(path, i, len(layers), g, n, n_prev, reduce)
            notes.append(
                f"layer {i} (dense without neuron group): integrator readout (accumulated "
                f"current, read as '{reduce}' over the window)"
            )
            break
        layer, S, lq = _dense_layer(path, i, len(layers), g, n, n_prev, notes)
        if n_prev is None:
            n_in = layer.weight.shape[1]
            notes.append(f"no input layer: {n_in} inputs from the first weight matrix")
        layers.append(layer)
        scales.append(S)
        lqs.append(lq)
        n_prev = n
    if not layers:
        raise NetxImportError(
            f"netx file '{path}': only a readout (a dense layer without neuron group) and "
            "no spiking layer; lava-nt networks have at least one spiking layer"
        )
    return n_in, layers, scales, lqs, readout, readout_lq, input_weight


def _float_twin(fixed: NetworkSpec, scales, lqs, readout_lq, units: str):
    """``(scales, float twin)`` of the fixed network in the chosen ``units`` (the layer quant
    records are updated with the scales)."""

    layers, readout = fixed.layers, fixed.readout
    if units == "integer":
        scales = [float(1 << VTH_SHIFT)] * len(layers)
        for lq in lqs:
            lq["scale"] = scales[0]
            lq["scale_limit"] = "netx import (S = 64: integer units)"
    readout_scale = float(1 << VTH_SHIFT)
    if units == "dyadic":
        scales = [float((1 << VTH_SHIFT) * _pow2_at_least(int(ls.neuron.vth))) for ls in layers]
        for lq, S in zip(lqs, scales, strict=True):
            lq["scale"] = S
            lq["scale_limit"] = "netx import (dyadic: S = 64 * 2**ceil(log2 vThMant))"
        if readout is not None:
            step = dequantize(fixed, scales=scales, readout_scale=readout_scale).readout.weight
            largest = float(np.abs(step).sum(1).max())  # one step, every input spiking
            readout_scale *= max(_pow2_at_least(largest) / 8.0, 1.0)
            readout_lq["scale"] = readout_scale
            readout_lq["scale_limit"] = "netx import (dyadic: largest one-step change in (4, 8])"
    return scales, dequantize(fixed, scales=scales, readout_scale=readout_scale)


def _check_average(path, spec: NetworkSpec, n_classes, notes: list[str]) -> None:
    """A final average layer needs spiking outputs that split into ``n_classes`` groups."""
    if n_classes is None:
        return
    last = len(spec.layers) - 1
    if spec.readout is not None:
        raise NetxImportError(
            f"netx file '{path}': the average layer follows a readout (a dense layer without "
            "neuron group): slayer averages spikes, a readout has none",
            last,
        )
    n_out = spec.layers[-1].n
    if n_classes < 1 or n_out % n_classes:
        raise NetxImportError(
            f"netx file '{path}': the average layer's {n_classes} outputs do not split the last "
            f"layer's {n_out} neurons into equal groups",
            last,
        )
    notes.append(f"output coding: {n_classes} classes x {n_out // n_classes} neurons")


def _delay(g, n: int, n_prev: int, fail, notes, i: int):
    """The layer's ``(n, n_prev)`` delay matrix as lava-dl 0.6.0's reader builds it (None for no
    or all-zero delays): clamped to 62 with lava-dl's warning, cast to int, expanded by
    :func:`~lava_nt.spec.delay.expand_delay` (per output neuron first, then per input)."""
    if "delay" not in g:
        return None
    d = np.asarray(g["delay"][()])
    if not np.issubdtype(d.dtype, np.number) or not np.all(np.isfinite(d)) or d.size == 0:
        fail("'delay' must hold finite numbers")
    if d.max() > DELAY_MAX:
        msg = f"Found max delay of {d.max()}. Clamping the delays."
        warnings.warn(msg, stacklevel=3)  # lava-dl's warning, word for word
        notes.append(f"layer {i}: {msg} (to 0..{DELAY_MAX}, as lava-dl does)")
        d = np.clip(d, 0, DELAY_MAX)
    if d.min() < 0:
        fail(f"negative delay {d.min()} (Lava's DelayDense refuses it)")
    if np.any(d != np.trunc(d)):
        notes.append(f"layer {i}: fractional delays truncated toward zero, as netx does")
    try:
        full = expand_delay(np.trunc(d).astype(np.int64), n, n_prev, f"layer {i}")
    except ParameterError as exc:
        fail(str(exc))
    if not full.any():
        notes.append(f"layer {i}: all-zero 'delay' dataset: no delay")
        return None
    kind = (
        "one per output neuron" if d.ndim == 1 and d.size == n and n > 1
        else "one per input" if d.ndim == 1 and d.size == n_prev and n_prev > 1
        else "one for all synapses" if d.size == 1
        else "one per synapse"
    )  # fmt: skip
    notes.append(f"layer {i}: synaptic delays up to {int(full.max())} steps ({kind})")
    return full


def _weights(g, n: int, n_prev, fail, notes, i: int) -> np.ndarray:
    """The integer ``(n, n_prev)`` weight matrix of a dense layer (checked)."""
    for key, why in (
        ("weight_rec", "recurrent weights: lava-nt networks are feed-forward"),
        ("weight/real", "complex weights (resonate-and-fire) are not NTLIF"),
    ):
        if key in g:
            fail(why)
    if "weight" not in g:
        fail("has no 'weight' dataset")
    w = np.asarray(g["weight"][()])
    if not np.issubdtype(w.dtype, np.number) or not np.all(np.isfinite(w)):
        fail("weights must be finite numbers")
    if np.any(w != np.trunc(w)):
        notes.append(f"layer {i}: fractional weights truncated toward zero, as netx does")
    w = np.trunc(w).astype(np.int64)
    if w.ndim == 1:
        if w.size % n:
            fail(f"a flat weight of {w.size} values does not split into {n} rows")
        w = w.reshape(n, -1)
    if w.ndim != 2 or w.shape[0] != n:
        fail(f"weight shape {w.shape} does not match {n} neurons")
    if n_prev is not None and w.shape[1] != n_prev:
        fail(f"weight has {w.shape[1]} inputs, the layer before has {n_prev} neurons")
    if w.size and (w.min() < -256 or w.max() > 255):
        fail(f"weights in [{w.min()}, {w.max()}] exceed the 8-bit synapse range [-256, 255]")
    return w


def _biases(g, n: int, fail, notes, i: int) -> np.ndarray:
    bias = np.zeros(n, dtype=np.int64)
    if "bias" in g:
        b = np.asarray(g["bias"][()])
        if not np.all(np.isfinite(b)):
            fail("non-finite biases")
        if np.any(b != np.trunc(b)):
            notes.append(f"layer {i}: fractional biases truncated toward zero, as netx does")
        bias = np.broadcast_to(np.trunc(b).astype(np.int64), (n,)).copy()
    return bias


def _dense_layer(path, i: int, k: int, g, n: int, n_prev, notes):
    def fail(why: str):
        raise NetxImportError(f"netx file '{path}': layer {i} (dense): {why}", i)

    w = _weights(g, n, n_prev, fail, notes, i)
    delay = _delay(g, n, w.shape[1], fail, notes, i)
    nrn = g["neuron"]
    i_decay, v_decay, vth = neuron_registers(path, i, nrn, fail, n)
    check_decays(i_decay, v_decay, fail)
    if not 0 <= vth <= VTH_MAX:
        fail(f"vThMant = {vth} outside 0..{VTH_MAX} (17-bit threshold)")
    bias = _biases(g, n, fail, notes, i)
    try:
        eff, wexp = netx_effective_weights(w)
        weight, weight_exp = lava_nt_weights(eff, wexp)
        bias_mant, bias_exp = bias_registers(bias << NETX_BIAS_EXP)
        neuron = fixed_ntlif_parameters(
            n, f"netx layer {i}", du=i_decay - 1, dv=v_decay, vth=vth, bias_mant=bias_mant,
            bias_exp=bias_exp, gain_mant=np.full(n, GAIN_UNITY), reset="zero",
        )  # fmt: skip
    except ParameterError as exc:
        fail(str(exc))
    S = float((1 << VTH_SHIFT) * max(vth, 1))
    lq = {
        "index": k,
        "scale": S,
        "scale_limit": "netx import (S = 64 vThMant: float threshold 1)",
        "weight_exp": int(weight_exp),
        "bias_exp": [int(e) for e in bias_exp],
        "vth_mant": int(vth),
        "du": report_register(i_decay - 1),
        "dv": report_register(v_decay),
    }
    if "refDelay" in nrn and read_int(nrn["refDelay"]) not in (0, 1):
        notes.append(
            f"layer {i}: refDelay = {read_int(nrn['refDelay'])} is not read by netx; ignored"
        )
    layer = LayerSpec(weight=weight, neuron=neuron, weight_exp=int(weight_exp), delay=delay)
    return layer, S, lq


def _input_layer(path, g, n: int, notes):
    """netx's bias-encoded Input block as lava-nt layer 0: graded input through an identity
    Dense into NTLIF neurons with the input neuron's registers and the transform's bias."""

    def fail(why: str):
        raise NetxImportError(f"netx file '{path}': layer 0 (input): {why}", 0)

    i_decay, v_decay, vth = neuron_registers(path, 0, g["neuron"], fail, n)
    if np.any(np.asarray(i_decay) != DECAY_MAX + 1):
        fail(
            f"iDecay = {i_decay}: netx feeds the data as the neuron's bias, which lava-nt delivers "
            "as a current that must be forgotten every step (iDecay = 4096) to equal a bias"
        )
    if np.any((np.asarray(v_decay) < 0) | (np.asarray(v_decay) > DECAY_MAX)) or not (
        1 <= vth <= VTH_MAX
    ):
        fail(f"vDecay = {v_decay} / vThMant = {vth} outside lava-nt's 12-bit / 17-bit registers")
    weight = read_int(g["weight"]) if "weight" in g else 64
    t_bias = read_int(g["bias"]) if "bias" in g else 0
    bias = 0  # netx never applies the transform (its bias included): the Input neuron has none
    try:
        bias_mant, bias_exp = bias_registers(np.full(n, bias << NETX_BIAS_EXP, dtype=np.int64))
        neuron = fixed_ntlif_parameters(
            n, "netx input layer", du=DECAY_MAX, dv=v_decay, vth=vth, bias_mant=bias_mant,
            bias_exp=bias_exp, gain_mant=np.full(n, GAIN_UNITY), reset="zero",
        )  # fmt: skip
    except ParameterError as exc:
        fail(str(exc))
    notes.append(
        f"layer 0 (input) has a neuron group: bias-encoded input. lava-nt takes the integers "
        f"x = round({weight} * data) as graded input through an identity Dense, which equals "
        "setting the Input neuron's bias_mant to x in lava-dl (netx never applies the input "
        f"transform; its bias {t_bias} is not added, as netx's Input neuron has no bias)"
    )
    lq = {
        "index": 0, "scale": float((1 << VTH_SHIFT) * vth),
        "scale_limit": "netx import (S = 64 vThMant: float threshold 1)", "weight_exp": 0,
        "bias_exp": [int(e) for e in bias_exp], "vth_mant": int(vth), "du": DECAY_MAX,
        "dv": report_register(v_decay),
    }  # fmt: skip
    layer = LayerSpec(weight=np.eye(n, dtype=np.int64), neuron=neuron, weight_exp=0)
    return layer, lq["scale"], lq, weight


def _pow2_at_least(x: float) -> int:
    """The smallest power of two >= ``x`` (1 for ``x <= 1``)."""
    p = 1
    while p < x:
        p *= 2
    return p


def _readout_layer(path, i: int, index: int, g, n: int, n_prev, reduce: str):
    """A dense layer without neuron group: netx's non-leaky integrator (iDecay 0, vDecay 4096,
    a threshold it never reaches) as a lava-nt readout."""

    def fail(why: str):
        raise NetxImportError(f"netx file '{path}': layer {i} (dense readout): {why}", i)

    w = _weights(g, n, n_prev, fail, [], i)
    if _delay(g, n, w.shape[1], fail, [], i) is not None:
        fail("synaptic delays into a readout: lava-nt's readout has none")
    bias = _biases(g, n, fail, [], i)
    try:
        eff, wexp = netx_effective_weights(w)
        weight, weight_exp = lava_nt_weights(eff, wexp)
        bias_mant, bias_exp = bias_registers(bias << NETX_BIAS_EXP)
        params = fixed_readout_parameters(
            n, f"netx layer {i}", i_decay=0, v_decay=DECAY_MAX + 1, bias_mant=bias_mant,
            bias_exp=bias_exp, reduce=reduce,
        )  # fmt: skip
    except ParameterError as exc:
        fail(str(exc))
    lq = {
        "index": index, "scale": float(1 << VTH_SHIFT),
        "scale_limit": "netx import (S = 64: readout values in integer current units)",
        "weight_exp": int(weight_exp), "bias_exp": [int(e) for e in bias_exp], "vth_mant": 0,
        "du": 0, "dv": DECAY_MAX + 1,
    }  # fmt: skip
    return ReadoutSpec(weight=weight, params=params, weight_exp=int(weight_exp)), lq


def netx_float_equivalent(fixed: NetworkSpec, scales=None) -> NetworkSpec:
    """``dequantize(fixed, scales=...)`` with the default ``S = 64 vth`` per layer."""

    if scales is None:
        scales = [float((1 << VTH_SHIFT) * max(int(ls.neuron.vth), 1)) for ls in fixed.layers]
    return dequantize(fixed, scales=scales)
