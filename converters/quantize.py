"""Quantise a floating-point :class:`~lava_nt.network.NetworkSpec` to Loihi-compatible fixed point.

:func:`quantize` maps every layer to the integer registers of :mod:`lava_nt.spec.fixed` with one
voltage scale ``S`` per layer (float voltage 1.0 <-> ``S`` fixed voltage units)::

    weights   W -> mantissa 2k, weight_exp e      with k = round(W S / 2**(7+e)), |k| <= 127
              (Lava adds (2k << e) << 6 = k 2**(7+e) to u; the even mantissa survives Lava's
              mixed-sign LSB truncation, e = -1 is the exact "2W, weight_exp=-1" trick)
    vth       round(vth S / 64)                       17-bit unsigned, >= 1
    bias      bias_mant << bias_exp = round(b S)      13-bit signed mantissa, exponent 0..7
                                                      (per neuron, per layer, or fixed, e.g. 6)
    gain      round(g 256)                            12-bit signed
    du        round(du 4096) - 1                      (du = 1 -> 4095; du = 0 is an error)
    dv        round(dv 4096)                          (dv = 1 -> 4096 is clipped to 4095)

A spiking-bias population gets its own scale ``S_b`` for ``W_in``, ``vth_b`` and its drive
``bias_b``; its decay is ``dc = round((1 - alpha) 4096)`` (alpha = 0 clips to 4095) and its bias
weight is in the *target* layer's units: ``w_b_mant << w_b_exp = round(w_b S_target)``.

``S`` is chosen as large as the registers allow: the threshold must fit 17 bits, the weights 8
bits with ``weight_exp <= 7``, the biases and bias weights 13 + 3 bits, and (a soft limit) the
current ``u`` must not wrap even if every input spikes every step. When that worst-case bound
would leave fewer than :data:`MIN_VTH_MANT` threshold units it is relaxed (and a warning is
reported). The result is then lowered by less than a factor 2, either so that the largest weight
fills the 8-bit mantissa (default: the weights are the precision bottleneck) or to a power of two
(``power_of_two=True``: integer-valued parameters then map exactly). What cannot be represented
at any scale raises :class:`QuantizationError`; everything rounded, clipped or rounded to zero is
listed in the :class:`QuantReport`.

``fold_gains=True`` folds the NT1 gains into the weight rows and biases first
(:func:`fold_gains`: ``g (W s + b) = (g W) s + g b``, exact in real arithmetic), which gives a
gain-free network that stock Lava ``LIF``/``Dense`` can run (:func:`to_stock_lava`, in
:mod:`lava_nt.converters.netx`). ``target="netx"`` quantises for lava-dl's netx HDF5 format:
gains folded, ``bias_exp`` fixed at 6 and integer weights within [-256, 254] (``weight_exp <= 0``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec.fixed import (
    ACT_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    C_MAX,
    DECAY_MAX,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_UNITY,
    UV_MAX,
    VTH_MAX,
    VTH_SHIFT,
    WB_EXP_MAX,
    WB_MANT_MAX,
    dense_effective_weights,
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
)
from lava_nt.spec.ntlif import NTLIFParameters, ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "MIN_VTH_MANT",
    "LayerQuant",
    "QuantReport",
    "QuantizationError",
    "TensorQuant",
    "dequantize",
    "fold_gains",
    "quantize",
    "to_stock_lava",
]

#: Half-range of the weight mantissa pair index k (mantissa 2k in [-254, 254]).
K_MAX = 127
#: Weight exponents used: -1 (exact "2W >> 1") .. 7 (Lava's Dense accepts -8..7).
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -1, 7
#: netx casts weights to int and re-derives its own exponent from 8-bit values: weight_exp <= 0.
NETX_WEIGHT_EXP_MAX = 0
#: netx reads the bias with a fixed bias_exp of 6.
NETX_BIAS_EXP = 6
#: Below this many threshold units the worst-case no-wrap bound on u is relaxed.
MIN_VTH_MANT = 256
TARGETS = ("lava", "netx")
_SAFE = 0.49  # values below k + 0.5 round to k (half away from zero)


class QuantizationError(ValueError):
    """A parameter cannot be represented in Loihi fixed point (with the reason)."""


# ---- report ---------------------------------------------------------------------------------
@dataclass
class TensorQuant:
    """Rounding statistics of one quantised tensor (errors in float units).

    ``max_rel_error`` / ``mean_rel_error`` are over the nonzero entries (``|q - x| / |x|``);
    ``max_rel_range_error`` is ``max |q - x| / max |x|``. ``n_zeroed`` counts nonzero values that
    became 0; ``n_clipped`` values outside the representable range (``worst_clipped`` is the
    value furthest outside, ``clip_limit`` what it became).
    """

    name: str
    size: int
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    mean_rel_error: float = 0.0
    max_rel_range_error: float = 0.0
    n_zeroed: int = 0
    n_clipped: int = 0
    worst_clipped: float | None = None
    clip_limit: float | None = None

    @property
    def exact(self) -> bool:
        return self.max_abs_error == 0.0 and self.n_clipped == 0


@dataclass
class LayerQuant:
    """What :func:`quantize` chose for one layer (and its spiking bias, if any)."""

    index: int
    scale: float
    scale_limit: str
    weight_exp: int
    bias_exp: list[int]
    vth_mant: int
    du: int
    dv: int
    tensors: dict[str, TensorQuant] = field(default_factory=dict)
    spiking_bias: dict | None = None  # scale, scale_limit, w_in_exp, vth_mant, du, dv, dc, w_b_exp
    warnings: list[str] = field(default_factory=list)


@dataclass
class QuantReport:
    """Per-layer scales, exponents and rounding / clipping statistics of a quantisation."""

    layers: list[LayerQuant]
    fold_gains: bool = False
    target: str = "lava"
    bias_exp_mode: str = "neuron"
    warnings: list[str] = field(default_factory=list)

    # ---- summaries --------------------------------------------------------------------------
    def tensors(self):
        """``(layer index, TensorQuant)`` for every tensor of every layer."""
        for lq in self.layers:
            for tq in lq.tensors.values():
                yield lq.index, tq

    @property
    def exact(self) -> bool:
        """True if every value was represented exactly (nothing rounded or clipped)."""
        return all(tq.exact for _, tq in self.tensors())

    @property
    def n_clipped(self) -> int:
        return sum(tq.n_clipped for _, tq in self.tensors())

    @property
    def n_zeroed(self) -> int:
        return sum(tq.n_zeroed for _, tq in self.tensors())

    @property
    def max_rel_error(self) -> float:
        """Largest ``|q - x| / |x|`` over all nonzero values (1.0 if any value became 0)."""
        return max((tq.max_rel_error for _, tq in self.tensors()), default=0.0)

    @property
    def max_rel_range_error(self) -> float:
        """Largest ``|q - x| / max|x|`` of any tensor (rounding against the tensor's range)."""
        return max((tq.max_rel_range_error for _, tq in self.tensors()), default=0.0)

    def clipped(self) -> list[tuple[int, str, int, float | None, float | None]]:
        """Every tensor with clipped values: ``(layer, tensor, count, worst, limit)``."""
        return [
            (k, tq.name, tq.n_clipped, tq.worst_clipped, tq.clip_limit)
            for k, tq in self.tensors()
            if tq.n_clipped
        ]

    # ---- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable dict (inverse: :meth:`from_dict`)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> QuantReport:
        layers = []
        for ld in d["layers"]:
            ld = dict(ld)
            ld["tensors"] = {k: TensorQuant(**v) for k, v in ld.get("tensors", {}).items()}
            layers.append(LayerQuant(**ld))
        rest = {k: v for k, v in d.items() if k != "layers"}
        return cls(layers=layers, **rest)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def to_markdown(self) -> str:
        lines = [
            f"## Quantisation report (target {self.target}, gains "
            f"{'folded' if self.fold_gains else 'kept'}, bias_exp {self.bias_exp_mode})",
            "",
            "| layer | scale S | limited by | weight_exp | bias_exp | vth | du | dv |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for lq in self.layers:
            be = f"{min(lq.bias_exp)}..{max(lq.bias_exp)}" if lq.bias_exp else "-"
            lines.append(
                f"| {lq.index} | {lq.scale:g} | {lq.scale_limit} | {lq.weight_exp} | {be} | "
                f"{lq.vth_mant} | {lq.du} | {lq.dv} |"
            )
            sb = lq.spiking_bias
            if sb:
                lines.append(
                    f"| {lq.index} (spiking bias) | {sb['scale']:g} | {sb['scale_limit']} | "
                    f"{sb['w_in_exp']} | - | {sb['vth_mant']} | {sb['du']} | {sb['dv']} |"
                )
        lines += [
            "",
            "| layer | tensor | size | max rel err | mean rel err | max err / range | "
            "zeroed | clipped (worst -> limit) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k, tq in self.tensors():
            clip = "0"
            if tq.n_clipped:
                clip = f"{tq.n_clipped} ({tq.worst_clipped:.6g} -> {tq.clip_limit:.6g})"
            lines.append(
                f"| {k} | {tq.name} | {tq.size} | {tq.max_rel_error:.3g} | "
                f"{tq.mean_rel_error:.3g} | {tq.max_rel_range_error:.3g} | {tq.n_zeroed} | {clip} |"
            )
        warns = list(self.warnings) + [w for lq in self.layers for w in lq.warnings]
        if warns:
            lines += ["", "Warnings:", ""] + [f"- {w}" for w in warns]
        return "\n".join(lines)

    def summary(self) -> str:
        """A few lines: scales, worst errors, clipped / zeroed counts."""
        out = [
            f"quantised {len(self.layers)} layers for {self.target} "
            f"(gains {'folded' if self.fold_gains else 'kept'}): max error "
            f"{self.max_rel_range_error:.3g} of a tensor's range, {self.n_clipped} clipped, "
            f"{self.n_zeroed} rounded to zero" + (" (exact)" if self.exact else "")
        ]
        for lq in self.layers:
            out.append(
                f"  layer {lq.index}: S={lq.scale:g} ({lq.scale_limit}), weight_exp={lq.weight_exp}"
                f", vth={lq.vth_mant}, du={lq.du}, dv={lq.dv}"
            )
        for w in list(self.warnings) + [w for lq in self.layers for w in lq.warnings]:
            out.append(f"  warning: {w}")
        return "\n".join(out)

    __str__ = summary


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


# ---- rounding helpers -----------------------------------------------------------------------
def _round(x) -> np.ndarray:
    """Round half away from zero (float array of integers)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _stats(name: str, x, q, clipped=None, clip_value=None) -> TensorQuant:
    """Statistics of the dequantised ``q`` against the float ``x``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    err = np.abs(q - x)
    nz = x != 0
    tq = TensorQuant(name=name, size=int(x.size))
    if x.size:
        tq.max_abs_error = float(err.max())
        rng = float(np.abs(x).max())
        tq.max_rel_range_error = float(err.max() / rng) if rng > 0 else 0.0
        if nz.any():
            rel = err[nz] / np.abs(x[nz])
            tq.max_rel_error = float(rel.max())
            tq.mean_rel_error = float(rel.mean())
        tq.n_zeroed = int(np.sum(nz & (q == 0)))
    if clipped is not None:
        clipped = np.asarray(clipped, dtype=bool).ravel()
        tq.n_clipped = int(clipped.sum())
        if tq.n_clipped:
            i = int(np.argmax(np.where(clipped, err, -1.0)))
            tq.worst_clipped = float(x[i])
            if clip_value is None:
                tq.clip_limit = float(q[i])
            else:
                cv = np.asarray(clip_value, dtype=np.float64).ravel()
                tq.clip_limit = float(cv[i] if cv.size > 1 else cv[0])
    return tq


def _per_neuron(x, n: int) -> np.ndarray:
    """Broadcast a scalar / ``(n,)`` / ``(1, n)`` parameter to ``(n,)`` float64."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim > 1:
        if any(d != 1 for d in a.shape[:-1]):
            raise QuantizationError(
                f"batched parameters of shape {a.shape} cannot be quantised; export one set "
                "first (NTNetwork.to_spec(k=...))"
            )
        a = a.reshape(-1)
    return np.broadcast_to(a, (n,)).copy()


def _scalar(x) -> float:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return float(np.asarray(x, dtype=np.float64))


def _pow2_floor(x: float) -> float:
    return float(2.0 ** math.floor(math.log2(x)))


# ---- individual registers -------------------------------------------------------------------
def _quantize_weights(W, S: float, where: str, name: str, exp_max: int):
    """``W`` at scale ``S`` -> (even mantissas 2k, weight_exp, TensorQuant)."""
    W = np.asarray(W, dtype=np.float64)
    wmax = float(np.abs(W).max()) if W.size else 0.0
    e = WEIGHT_EXP_MIN
    while e < exp_max and wmax * S / 2.0 ** (7 + e) >= K_MAX + 0.5:
        e += 1
    unit = 2.0 ** (7 + e)
    k_raw = _round(W * S / unit)
    k = np.clip(k_raw, -K_MAX, K_MAX)
    clipped = k != k_raw
    mant = (2 * k).astype(np.int64)
    eff = dense_effective_weights(mant)
    if not np.array_equal(eff, mant):  # pragma: no cover - guaranteed by the mantissa choice
        raise QuantizationError(f"{where}: internal error: Lava would alter {name} mantissas")
    deq = k * unit / S
    tq = _stats(name, W, deq, clipped, np.sign(W) * K_MAX * unit / S)
    return mant, int(e), tq


def _quantize_mant_exp(x, S: float, mant_max: int, exp_mode, exp_max: int, name: str):
    """``x S`` as ``mant << exp`` (signed ``mant`` within ``mant_max``); per-value exponents
    (``exp_mode="neuron"``), one shared exponent (``"layer"``) or a fixed int."""
    x = np.asarray(x, dtype=np.float64)
    q = x * S
    if isinstance(exp_mode, int | np.integer) and not isinstance(exp_mode, bool):
        exps = np.full(x.shape, int(exp_mode), dtype=np.int64)
    else:
        exps = np.zeros(x.shape, dtype=np.int64)
        for ex in range(exp_max + 1):
            need = np.abs(_round(q / 2.0**ex)) > mant_max
            exps = np.where((exps == ex) & need & (ex < exp_max), ex + 1, exps)
        if exp_mode == "layer":
            exps = np.full(x.shape, int(exps.max()) if exps.size else 0, dtype=np.int64)
    m_raw = _round(q / 2.0**exps)
    mant = np.clip(m_raw, -mant_max, mant_max)
    clipped = mant != m_raw
    deq = mant * 2.0**exps / S
    tq = _stats(name, x, deq, clipped, np.sign(x) * mant_max * 2.0**exps / S)
    return mant.astype(np.int64), exps.astype(np.int64), tq


def _quantize_vth(vth: float, S: float, where: str):
    raw = float(_round(vth * S / 2**VTH_SHIFT))
    if raw < 1:
        raise QuantizationError(
            f"{where}: threshold vth={vth:g} at scale S={S:g} is {vth * S / 64:.3g} threshold "
            "units, below the smallest representable 1 (vth << 6 = 64 voltage units); the "
            "threshold is too small for this scale"
        )
    v = min(raw, VTH_MAX)
    return int(v), _stats("vth", [vth], [v * 64 / S], [v != raw], [VTH_MAX * 64 / S])


def _quantize_du(du: float, where: str, name: str = "du"):
    if not du > 0:
        raise QuantizationError(
            f"{where}: {name}=0 (current never decays) is not representable: Loihi's current decay "
            f"is (du+1)/4096 >= 1/4096; use {name} >= 1/4096"
        )
    r = int(_round(du * DECAY_UNITY))
    if r < 1:
        raise QuantizationError(
            f"{where}: {name}={du:g} is below the smallest representable current decay 1/4096"
        )
    r = min(r, DECAY_UNITY)
    return r - 1, _stats(name, [du], [r / DECAY_UNITY])


def _quantize_decay(d, name: str):
    """``dv`` / ``dc``: round(d 4096) clipped to 4095 (d = 1 is not representable)."""
    d = np.asarray(d, dtype=np.float64)
    raw = _round(d * DECAY_UNITY)
    q = np.clip(raw, 0, DECAY_MAX)
    tq = _stats(name, d, q / DECAY_UNITY, q != raw, np.full(d.shape, DECAY_MAX / DECAY_UNITY))
    return q.astype(np.int64), tq


# ---- scale choice ---------------------------------------------------------------------------
def _choose_scale(
    vth: float,
    wmax: float,
    hard: dict[str, float],
    soft: dict[str, float],
    power_of_two: bool,
    where: str,
    warnings: list[str],
) -> tuple[float, str]:
    """The scale: the largest one allowed by the ``hard`` (representability) and ``soft``
    (no-overflow guarantee) upper bounds, then lowered (by less than 2x) to a power of two or,
    by default, so that the largest weight ``wmax`` fills the 8-bit weight mantissa exactly
    (the weights are the precision bottleneck; thresholds and biases keep >= 16 bits).
    Raises if no scale represents ``vth``."""
    s_min = 2**VTH_SHIFT / vth  # vth_mant >= 1
    hard = {k: v for k, v in hard.items() if math.isfinite(v)}
    s_hard = min(hard.values())
    lim_hard = min(hard, key=hard.get)
    if s_hard < s_min:
        raise QuantizationError(
            f"{where}: no scale represents this layer (dynamic range too wide): the threshold "
            f"vth={vth:g} needs S >= {s_min:.4g} (at least one threshold unit), but the "
            f"{lim_hard} limits S to <= {s_hard:.4g} (the largest values would not fit their "
            "registers); rescale the layer (weights, biases and threshold together)"
        )
    soft = {k: v for k, v in soft.items() if math.isfinite(v)}
    s, lim = s_hard, lim_hard
    if soft and min(soft.values()) < s:
        s, lim = min(soft.values()), min(soft, key=soft.get)
        floor = min(s_hard, MIN_VTH_MANT * 2**VTH_SHIFT / vth)
        if s < floor:
            warnings.append(
                f"{where}: the no-overflow guarantee for '{lim}' would leave fewer than "
                f"{MIN_VTH_MANT} threshold units; relaxed to S={floor:.4g}: the state can wrap "
                "or saturate if far more inputs spike at once than usual"
            )
            s, lim = floor, f"{lim} (relaxed to {MIN_VTH_MANT} threshold units)"
    if power_of_two:
        p = _pow2_floor(s)
    elif wmax > 0:
        # the largest e with (K_MAX + _SAFE) 2**(7+e) / wmax <= s: weights fill k in [-127, 127]
        e = math.floor(math.log2(s * wmax / (K_MAX + _SAFE))) - 7
        p = (K_MAX + _SAFE) * 2.0 ** (7 + e) / wmax
        if e < WEIGHT_EXP_MIN or p > s:
            p = s
    else:
        p = s
    if p < s_min:  # keep at least one threshold unit
        p = s
    return float(p), lim


def _u_bound(W: np.ndarray, du: float) -> float:
    """Worst-case |u| (all inputs spiking every step): max row sum of |W| / du."""
    if W.size == 0:
        return 0.0
    return float(np.abs(W).sum(axis=1).max()) / max(du, 1.0 / DECAY_UNITY)


def _max_abs(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.abs(x).max()) if x.size else 0.0


def _bound(limit: float, value: float) -> float:
    return limit / value if value > 0 else math.inf


# ---- folding --------------------------------------------------------------------------------
def fold_gains(spec: NetworkSpec) -> NetworkSpec:
    """The same float network with every NT1 gain folded into its weight row and bias:
    ``g (W s + b) = (g W) s + g b`` (exact in real arithmetic), gains then 1.

    Spiking biases are kept (their current is not scaled by the gain)."""
    _check_float_spec(spec, "fold_gains")
    layers = []
    for k, ls in enumerate(spec.layers):
        p = ls.neuron
        n = ls.n
        g = _per_neuron(p.gain, n)
        b = _per_neuron(p.bias, n)
        neuron = ntlif_parameters(
            n,
            f"fold_gains layer {k}",
            du=_scalar(p.du),
            dv=_scalar(p.dv),
            vth=_scalar(p.vth),
            reset=p.reset,
            bias=g * b,
            gain=np.ones(n),
        )
        W = np.asarray(ls.weight, dtype=np.float64) * g[:, None]
        layers.append(LayerSpec(weight=W, neuron=neuron, spiking_bias=ls.spiking_bias))
    return NetworkSpec(n_in=spec.n_in, layers=layers, fixed=False)


_fold = fold_gains  # quantize()'s flag of the same name shadows the function


def _check_float_spec(spec, where: str) -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: expected a lava_nt.network.NetworkSpec, got {type(spec)}")
    if spec.fixed:
        raise ParameterError(f"{where}: the spec is already fixed point (spec.fixed=True)")


# ---- the quantiser --------------------------------------------------------------------------
def quantize(
    spec: NetworkSpec,
    *,
    fold_gains: bool = False,
    target: str = "lava",
    bias_exp: str | int = "neuron",
    scales: list[float | None] | float | None = None,
    bias_scales: list[float | None] | float | None = None,
    power_of_two: bool = False,
) -> tuple[NetworkSpec, QuantReport]:
    """Quantise a floating-point ``spec`` to a fixed-point one (see the module docstring).

    Args:
        spec: a float :class:`~lava_nt.network.NetworkSpec` (e.g. ``NTNetwork.to_spec()``).
        fold_gains: fold NT1 gains into weights and biases first (gain-free result).
        target: ``"lava"`` (lava-nt's NTLIF / SpikingBias processes, or stock Lava when gain-free)
            or ``"netx"`` (lava-dl netx: implies ``fold_gains``, ``bias_exp=6``, weight exponents
            <= 0; spiking biases and reset "subtract" are refused).
        bias_exp: ``"neuron"`` (one exponent per neuron: most precise), ``"layer"`` (one per
            layer) or a fixed int in 0..7 (netx uses 6).
        scales: force the voltage scale ``S`` of every layer (a number) or of some (a list with
            None for automatic); values outside the registers are then clipped and reported.
        bias_scales: the same for the spiking-bias populations' own scales ``S_b``.
        power_of_two: lower automatic scales to a power of two (integer-valued parameters then
            map exactly) instead of filling the 8-bit weight range (default, more precise).

    Returns:
        ``(fixed_spec, report)``.

    Raises:
        QuantizationError: something cannot be represented (du = 0, a threshold too small at
            any scale, a dynamic range too wide, netx-incompatible features).
    """
    _check_float_spec(spec, "quantize")
    if target not in TARGETS:
        raise ParameterError(f"quantize: target must be one of {TARGETS}, got {target!r}")
    if target == "netx":
        if bias_exp not in ("neuron", NETX_BIAS_EXP):
            raise ParameterError("quantize: target='netx' fixes bias_exp at 6")
        bias_exp = NETX_BIAS_EXP
        fold_gains = True
        for k, ls in enumerate(spec.layers):
            if ls.spiking_bias is not None:
                raise QuantizationError(
                    f"quantize(target='netx'): layer {k} has a spiking bias, which netx cannot "
                    "express; deploy it with lava_nt's processes (target='lava')"
                )
            if ls.neuron.reset_subtract:
                raise QuantizationError(
                    f"quantize(target='netx'): layer {k} resets by subtraction; netx's CUBA "
                    "neurons (Lava LIF) reset to zero"
                )
    if isinstance(bias_exp, bool) or not (
        bias_exp in ("neuron", "layer")
        or (isinstance(bias_exp, int | np.integer) and 0 <= bias_exp <= BIAS_EXP_MAX)
    ):
        raise ParameterError(
            f"quantize: bias_exp must be 'neuron', 'layer' or an int in 0..{BIAS_EXP_MAX}, "
            f"got {bias_exp!r}"
        )
    nl = len(spec.layers)
    scales = _scale_list(scales, nl, "scales")
    bias_scales = _scale_list(bias_scales, nl, "bias_scales")
    src = _fold(spec) if fold_gains else spec
    exp_max = NETX_WEIGHT_EXP_MAX if target == "netx" else WEIGHT_EXP_MAX
    report = QuantReport(
        layers=[],
        fold_gains=bool(fold_gains),
        target=target,
        bias_exp_mode=str(bias_exp),
    )
    layers = []
    for k, ls in enumerate(src.layers):
        fl, lq = _quantize_layer(k, ls, bias_exp, scales[k], bias_scales[k], power_of_two, exp_max)
        layers.append(fl)
        report.layers.append(lq)
    try:
        fixed = NetworkSpec(n_in=src.n_in, layers=layers, fixed=True)
    except ParameterError as exc:  # pragma: no cover - every register is range-checked above
        raise QuantizationError(f"quantize: internal error: {exc}") from exc
    return fixed, report


def _scale_list(x, n: int, name: str) -> list:
    if x is None:
        return [None] * n
    if isinstance(x, int | float) and not isinstance(x, bool):
        x = [x] * n
    x = list(x)
    if len(x) != n:
        raise ParameterError(f"quantize: '{name}' needs {n} entries, got {len(x)}")
    for v in x:
        if v is not None and not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
            raise ParameterError(f"quantize: '{name}' entries must be positive numbers or None")
    return [None if v is None else float(v) for v in x]


def _quantize_layer(k, ls: LayerSpec, bias_exp, S_user, Sb_user, power_of_two, exp_max):
    where = f"quantize: layer {k}"
    p: NTLIFParameters = ls.neuron
    n = ls.n
    W = np.asarray(ls.weight, dtype=np.float64)
    du, dv, vth = _scalar(p.du), _scalar(p.dv), _scalar(p.vth)
    b = _per_neuron(p.bias, n)
    g = _per_neuron(p.gain, n)
    sb = ls.spiking_bias
    w_b = alpha = None
    if sb is not None:
        w_b = _per_neuron(sb.params.w_b, sb.m)
        alpha = _per_neuron(sb.params.alpha, sb.m)
    warnings: list[str] = []
    # bias register limit in float units (times S)
    fixed_exp = bias_exp if isinstance(bias_exp, int | np.integer) else None
    bias_lim = (BIAS_MANT_MAX + _SAFE) * 2.0 ** (BIAS_EXP_MAX if fixed_exp is None else fixed_exp)
    wb_lim = (WB_MANT_MAX + _SAFE) * 2.0**WB_EXP_MAX
    if S_user is None:
        hard = {
            "threshold (17 bits)": VTH_MAX * 2**VTH_SHIFT / vth,
            "weights (8 bits)": _bound((K_MAX + _SAFE) * 2.0 ** (7 + exp_max), _max_abs(W)),
            "biases (13-bit mantissa)": _bound(bias_lim, _max_abs(b)),
        }
        soft = {"current u (24 bits)": _bound(UV_MAX, _u_bound(W, du))}
        if sb is not None:
            hard["bias weights w_b (13-bit mantissa)"] = _bound(wb_lim, _max_abs(w_b))
            a_max = float(alpha.max()) if alpha.size else 0.0
            if a_max < 1:
                soft["bias current C (24 bits)"] = _bound(C_MAX * (1 - a_max), _max_abs(w_b))
        S, lim = _choose_scale(vth, _max_abs(W), hard, soft, power_of_two, where, warnings)
    else:
        S, lim = S_user, "given"
    tensors = {}
    mant, wexp, tensors["weight"] = _quantize_weights(W, S, where, "weight", exp_max)
    vth_m, tensors["vth"] = _quantize_vth(vth, S, where)
    du_f, tensors["du"] = _quantize_du(du, where)
    dv_f, tensors["dv"] = _quantize_decay(dv, "dv")
    bmant, bexp, tensors["bias"] = _quantize_mant_exp(
        b, S, BIAS_MANT_MAX, bias_exp, BIAS_EXP_MAX, "bias"
    )
    g_raw = _round(g * GAIN_UNITY)
    gmant = np.clip(g_raw, GAIN_MIN, GAIN_MAX)
    tensors["gain"] = _stats(
        "gain", g, gmant / GAIN_UNITY, gmant != g_raw, np.where(g < 0, GAIN_MIN, GAIN_MAX) / 256
    )
    neuron = fixed_ntlif_parameters(
        n,
        where,
        du=int(du_f),
        dv=int(dv_f),
        vth=int(vth_m),
        bias_mant=bmant,
        bias_exp=bexp,
        gain_mant=gmant.astype(np.int64),
        reset=p.reset,
    )
    sb_fixed = None
    sb_info = None
    if sb is not None:
        sb_fixed, sb_info, sb_tensors = _quantize_spiking_bias(
            k, sb, n, S, w_b, alpha, bias_exp, Sb_user, power_of_two, exp_max, warnings
        )
        tensors.update(sb_tensors)
    lq = LayerQuant(
        index=k,
        scale=S,
        scale_limit=lim,
        weight_exp=wexp,
        bias_exp=[int(e) for e in bexp],
        vth_mant=int(vth_m),
        du=int(du_f),
        dv=int(dv_f),
        tensors=tensors,
        spiking_bias=sb_info,
        warnings=warnings,
    )
    for tq in tensors.values():
        if tq.n_clipped:
            warnings.append(
                f"layer {k}: {tq.n_clipped} value(s) of {tq.name} clipped (worst "
                f"{tq.worst_clipped:.6g} -> {tq.clip_limit:.6g})"
            )
    return LayerSpec(weight=mant, neuron=neuron, spiking_bias=sb_fixed, weight_exp=wexp), lq


def _quantize_spiking_bias(k, sb, n, S_target, w_b, alpha, bias_exp, Sb_user, pow2, exp_max, warns):
    where = f"quantize: layer {k} spiking bias"
    pb = sb.params
    m = sb.m
    W_in = np.asarray(sb.w_in, dtype=np.float64)
    if sb.mask is not None:
        W_in = np.where(np.asarray(sb.mask, dtype=bool), W_in, 0.0)
    du, dv, vth = _scalar(pb.du), _scalar(pb.dv), _scalar(pb.vth)
    bb = _per_neuron(pb.bias, m)
    fixed_exp = bias_exp if isinstance(bias_exp, int | np.integer) else None
    bias_lim = (BIAS_MANT_MAX + _SAFE) * 2.0 ** (BIAS_EXP_MAX if fixed_exp is None else fixed_exp)
    if Sb_user is None:
        hard = {
            "bias-neuron threshold (17 bits)": VTH_MAX * 2**VTH_SHIFT / vth,
            "input weights W_in (8 bits)": _bound(
                (K_MAX + _SAFE) * 2.0 ** (7 + exp_max), _max_abs(W_in)
            ),
            "bias-neuron drive (13-bit mantissa)": _bound(bias_lim, _max_abs(bb)),
        }
        soft = {"bias-neuron current u (24 bits)": _bound(UV_MAX, _u_bound(W_in, du))}
        Sb, lim = _choose_scale(vth, _max_abs(W_in), hard, soft, pow2, where, warns)
    else:
        Sb, lim = Sb_user, "given"
    t = {}
    mant, wexp, t["sb.w_in"] = _quantize_weights(W_in, Sb, where, "sb.w_in", exp_max)
    vth_m, t["sb.vth"] = _quantize_vth(vth, Sb, where)
    t["sb.vth"].name = "sb.vth"
    du_f, t["sb.du"] = _quantize_du(du, where, "sb.du")
    dv_f, t["sb.dv"] = _quantize_decay(dv, "sb.dv")
    bmant, bexp, t["sb.bias"] = _quantize_mant_exp(
        bb, Sb, BIAS_MANT_MAX, bias_exp, BIAS_EXP_MAX, "sb.bias"
    )
    wbm, wbe, t["sb.w_b"] = _quantize_mant_exp(
        w_b, S_target, WB_MANT_MAX, "neuron", WB_EXP_MAX, "sb.w_b"
    )
    dc, t["sb.alpha"] = _quantize_decay(1.0 - alpha, "sb.alpha")
    # report alpha's own error (1 - dc/4096 vs alpha)
    t["sb.alpha"] = _stats(
        "sb.alpha", alpha, 1.0 - dc / DECAY_UNITY, dc != _round((1.0 - alpha) * DECAY_UNITY),
        np.full(alpha.shape, 1.0 - DECAY_MAX / DECAY_UNITY),
    )  # fmt: skip
    params = fixed_spiking_bias_parameters(
        m,
        n,
        where,
        du=int(du_f),
        dv=int(dv_f),
        vth=int(vth_m),
        bias_mant=bmant,
        bias_exp=bexp,
        w_b_mant=wbm,
        w_b_exp=wbe,
        dc=dc,
        group=None if pb.group is None else np.asarray(pb.group, dtype=np.int64),
    )
    mask = None if sb.mask is None else np.asarray(sb.mask, dtype=bool).copy()
    fsb = SpikingBiasSpec(w_in=mant, params=params, mask=mask, w_in_exp=wexp)
    info = {
        "scale": Sb,
        "scale_limit": lim,
        "w_in_exp": wexp,
        "vth_mant": int(vth_m),
        "du": int(du_f),
        "dv": int(dv_f),
        "dc": [int(v) for v in dc],
        "w_b_exp": [int(v) for v in wbe],
        "bias_exp": [int(v) for v in bexp],
    }
    return fsb, info, t


# ---- back to float --------------------------------------------------------------------------
def dequantize(fixed: NetworkSpec, report: QuantReport | None = None, scales=None) -> NetworkSpec:
    """The float network a fixed-point spec represents (given the per-layer scales from the
    ``report`` or ``scales``; spiking-bias scales from the report). Useful to measure what the
    rounding changed: ``reference_run(dequantize(q, rep), x)``."""
    if not isinstance(fixed, NetworkSpec) or not fixed.fixed:
        raise ParameterError("dequantize: expected a fixed-point NetworkSpec")
    nl = len(fixed.layers)
    if scales is None:
        if report is None:
            raise ParameterError("dequantize: pass the QuantReport or the scales")
        scales = [lq.scale for lq in report.layers]
        b_scales = [lq.spiking_bias["scale"] if lq.spiking_bias else None for lq in report.layers]
    else:
        scales = _scale_list(scales, nl, "scales")
        b_scales = [None] * nl
    layers = []
    for k, ls in enumerate(fixed.layers):
        S = scales[k]
        p = ls.neuron
        n = ls.n
        W = dense_effective_weights(np.asarray(ls.weight)) * 2.0 ** (ls.weight_exp + ACT_SHIFT) / S
        neuron = ntlif_parameters(
            n,
            f"dequantize layer {k}",
            du=(int(p.du) + 1) / DECAY_UNITY,
            dv=int(p.dv) / DECAY_UNITY,
            vth=int(p.vth) * 2**VTH_SHIFT / S,
            reset=p.reset_subtract and "subtract" or "zero",
            bias=_per_neuron(p.bias_mant, n) * 2.0 ** _per_neuron(p.bias_exp, n) / S,
            gain=_per_neuron(p.gain_mant, n) / GAIN_UNITY,
        )
        sbs = None
        if ls.spiking_bias is not None:
            sb = ls.spiking_bias
            Sb = b_scales[k]
            if Sb is None:
                raise ParameterError(f"dequantize: layer {k} spiking bias needs its scale (report)")
            pb = sb.params
            m = sb.m
            params = spiking_bias_parameters(
                m,
                n,
                f"dequantize layer {k} spiking bias",
                du=(int(pb.du) + 1) / DECAY_UNITY,
                dv=int(pb.dv) / DECAY_UNITY,
                vth=int(pb.vth) * 2**VTH_SHIFT / Sb,
                bias=_per_neuron(pb.bias_mant, m) * 2.0 ** _per_neuron(pb.bias_exp, m) / Sb,
                w_b=_per_neuron(pb.w_b_mant, m) * 2.0 ** _per_neuron(pb.w_b_exp, m) / S,
                alpha=1.0 - _per_neuron(pb.dc, m) / DECAY_UNITY,
                group=pb.group,
            )
            w_in = (
                dense_effective_weights(np.asarray(sb.w_in)) * 2.0 ** (sb.w_in_exp + ACT_SHIFT) / Sb
            )
            sbs = SpikingBiasSpec(w_in=w_in, params=params, mask=sb.mask)
        layers.append(LayerSpec(weight=W, neuron=neuron, spiking_bias=sbs))
    return NetworkSpec(n_in=fixed.n_in, layers=layers, fixed=False)


def to_stock_lava(spec: NetworkSpec, **kwargs: Any):
    """Stock-Lava (``LIF``/``Dense`` only) deployment of ``spec``; see
    :func:`lava_nt.converters.netx.to_stock_lava` (re-exported here)."""
    from lava_nt.converters.netx import to_stock_lava as _impl

    return _impl(spec, **kwargs)
