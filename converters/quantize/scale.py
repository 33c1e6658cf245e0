"""The choice of each layer's voltage scale ``S`` from the register limits, and of the input
scale of real-valued (graded) input.

Graded input, one rule for every command (``lava-nt evaluate``, ``lava-nt deploy``, the engine
agreement report): the float engines take the data ``x`` as they are; the fixed-point network
takes the integers ``round(x * input_scale)`` (half away from zero, :func:`encode_graded_input`),
``input_scale`` being the one its quantisation recorded (``QuantReport.input_scale``, set by
``lava-nt quantize --input-scale S``), 1 for a network that has no report (a fixed-point model:
the data are integers already). When a graded network is quantised on the spot,
:func:`graded_input_scale` chooses the power of two that puts the data's largest magnitude into
the 8-bit range.
"""

from __future__ import annotations

import math

import numpy as np

from lava_nt.converters.quantize.registers import (
    _SAFE,
    MIN_VTH_MANT,
    QuantizationError,
    _pow2_floor,
)
from lava_nt.spec.fixed import (
    DECAY_UNITY,
    VTH_SHIFT,
)
from lava_nt.spec.quantization import (
    K_MAX,
    QUANT_WEIGHT_EXP_MIN,
    round_half_away,
    weight_unit,
)

__all__ = ["GRADED_PEAK", "encode_graded_input", "fixed_point_input", "graded_input_scale"]

#: the 8-bit range :func:`graded_input_scale` maps graded data into (``max |x| * S <= 255``), and
#: the quantiser's default bound on the integer input per step when it guarantees that a graded
#: network's first-layer current cannot wrap (``quantize(input_peak=...)``)
GRADED_PEAK = 255.0


# ---- graded input ---------------------------------------------------------------------------
def graded_input_scale(spec, x) -> float | None:
    """The input scale for quantising a graded-input ``spec`` on the spot for data ``x``: the
    power of two ``S`` that maps the data's largest magnitude into the 8-bit range
    (``max |x| * S <= 255``), or None (no scale: 1) when ``x`` holds integers already, and for a
    network that takes spikes."""
    x = np.asarray(x, dtype=np.float64)
    if not getattr(spec, "graded", False) or np.array_equal(x, np.round(x)):
        return None
    peak = float(np.max(np.abs(x)))
    return float(2.0 ** np.floor(np.log2(GRADED_PEAK / peak)))


def encode_graded_input(x, input_scale: float | None) -> np.ndarray:
    """The integers a fixed-point network takes for real-valued data ``x``:
    ``round(x * input_scale)``, half away from zero (``input_scale`` None: 1)."""
    scale = 1.0 if input_scale is None else float(input_scale)
    return round_half_away(np.asarray(x, dtype=np.float64) * scale)


def fixed_point_input(spec, report, x) -> np.ndarray:
    """What the fixed-point network of ``spec`` takes for the input ``x`` the float network
    takes: spikes as they are; graded data as :func:`encode_graded_input` with the scale of the
    quantisation ``report`` (its ``input_scale``; 1 without a report)."""
    if not getattr(spec, "graded", False):
        return np.asarray(x)
    return encode_graded_input(x, getattr(report, "input_scale", None) or 1.0)


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
        p = (K_MAX + _SAFE) * weight_unit(e) / wmax
        if e < QUANT_WEIGHT_EXP_MIN or p > s:
            p = s
    else:
        p = s
    if p < s_min:  # keep at least one threshold unit
        p = s
    return float(p), lim


def _u_bound(W: np.ndarray, du) -> float:
    """Worst-case |u| (all inputs spiking every step): the largest row sum of |W| divided by its
    neuron's own ``du`` (one per layer, or one per neuron)."""
    if W.size == 0:
        return 0.0
    du = np.maximum(np.asarray(du, dtype=np.float64), 1.0 / DECAY_UNITY)
    return float((np.abs(W).sum(axis=1) / du).max())


def _max_abs(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.abs(x).max()) if x.size else 0.0


def _bound(limit: float, value: float) -> float:
    return limit / value if value > 0 else math.inf
