"""The quantisation rules, defined once: float parameters -> Loihi fixed-point registers.

One float network maps to the integer registers of :mod:`lava_nt.spec.fixed` at one voltage scale
``S`` per layer (float voltage 1.0 <-> ``S`` fixed voltage units). Each rule is one function
written with arithmetic operators plus ``sign``/``abs``/``floor``/``clip``/``where`` from the
array's own namespace, so the *same function* runs on numpy arrays (the post-training quantiser,
:mod:`lava_nt.converters.quantize`) and on torch tensors (quantisation-aware tuning,
:mod:`lava_nt.qat`, which wraps them in straight-through estimators). The rules::

    round(x)      = sign(x) floor(|x| + 1/2)                 half away from zero
    weights       e = min{e >= QUANT_WEIGHT_EXP_MIN : max|W| S / 2**(7+e) < K_MAX + 1/2}
                  k = clip(round(W S / 2**(7+e)), -K_MAX, K_MAX),  mantissa 2k, weight_exp e
    mant << exp   exp = min{exp >= 0 : |round(x S / 2**exp)| <= mant_max}  (or fixed / shared)
                  mant = clip(round(x S / 2**exp), -mant_max, mant_max)
    vth           round(vth S / 2**6)   (17-bit unsigned, >= 1; below 1 is an error)
    gain          clip(round(g 256), GAIN_MIN, GAIN_MAX)
    du            clip(round(du 4096), 1, 4096) - 1     (Loihi's current decay is (du+1)/4096)
    dv, dc        clip(round(d 4096), 0, 4095)          (dc = round((1 - c_retention) 4096))

Legend: ``W`` float weights, ``S`` the layer's voltage scale, ``e`` the weight exponent, ``k``
the weight pair index (Lava adds ``(2k << e) << 6 = k 2**(7+e)`` to ``u``), ``x`` a bias (or
bias weight ``w_b``), ``mant_max`` the mantissa's largest magnitude, ``g`` the NT1 gain, ``du``,
``dv`` the decays in [0, 1], ``c_retention`` a spiking bias' current retention.

Two weight-exponent ranges exist and both are named here: :data:`WEIGHT_EXP_MIN` ..
:data:`WEIGHT_EXP_MAX` (-8 .. 7) is the hardware register (a signed 4-bit exponent, what Lava's
Dense accepts and lava-nt's Lava graph validates); :data:`QUANT_WEIGHT_EXP_MIN` (-1) is the
quantiser's policy: it never goes below -1 because its mantissas are even (``2k``), so ``e = -1``
already is the exact ``2W >> 1`` representation of an integer ``W`` and smaller exponents would
only lose range.
"""

from __future__ import annotations

import numpy as np

from lava_nt.spec.fixed import (
    DECAY_MAX,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_UNITY,
    VTH_MAX,
    VTH_SHIFT,
)

# ---- weight registers -------------------------------------------------------------------------
#: Bits of the Dense weight exponent register (signed).
WEIGHT_EXP_BITS = 4
#: Hardware range of the Dense weight exponent (signed 4 bits): what Lava's Dense accepts.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -(1 << (WEIGHT_EXP_BITS - 1)), (1 << (WEIGHT_EXP_BITS - 1)) - 1
#: Smallest weight exponent the quantiser chooses (policy: ``e = -1`` is the exact ``2W >> 1``).
QUANT_WEIGHT_EXP_MIN = -1
#: Largest weight exponent the quantiser chooses (the hardware's).
QUANT_WEIGHT_EXP_MAX = WEIGHT_EXP_MAX
#: Half-range of the weight pair index ``k`` (mantissa ``2k`` in [-254, 254]: even mantissas
#: survive Lava's mixed-sign LSB truncation of 8-bit weights).
K_MAX = 127
#: ``(2k << e) << 6 = k 2**(WEIGHT_UNIT_SHIFT + e)``: the drive of one pair index step.
WEIGHT_UNIT_SHIFT = 7

__all__ = [
    "K_MAX",
    "QUANT_WEIGHT_EXP_MAX",
    "QUANT_WEIGHT_EXP_MIN",
    "WEIGHT_EXP_BITS",
    "WEIGHT_EXP_MAX",
    "WEIGHT_EXP_MIN",
    "WEIGHT_UNIT_SHIFT",
    "current_decay_register",
    "decay_register",
    "decay_units",
    "gain_register",
    "gain_units",
    "mantissa",
    "mantissa_exponents",
    "max_abs",
    "round_half_away",
    "threshold_register",
    "threshold_units",
    "weight_exponent",
    "weight_index",
    "weight_unit",
    "weight_units",
]


def _ns(x):
    """The array namespace of ``x``: torch for tensors, numpy for everything else."""
    if type(x).__module__.startswith("torch"):
        import torch  # lazy: torch tensors only; lava_nt.spec is numpy-only (import lava_nt)

        return torch
    return np


def _size(x) -> int:
    return int(np.prod(tuple(x.shape)))


# ---- rounding ---------------------------------------------------------------------------------
def round_half_away(x):
    """Round half away from zero: ``sign(x) floor(|x| + 1/2)`` (``x``: the value to round).

    Every register uses it (2.5 -> 3, -2.5 -> -3, 0.49 -> 0); the result keeps ``x``'s float
    dtype and holds exact integers."""
    xp = _ns(x)
    return xp.sign(x) * xp.floor(xp.abs(x) + 0.5)


def max_abs(x) -> float:
    """``max |x|`` as a Python float, 0.0 for an empty array/tensor (``x``: any values)."""
    return float(abs(x).max()) if _size(x) else 0.0


# ---- weights ----------------------------------------------------------------------------------
def weight_unit(e: int) -> float:
    """``2**(7+e)``: the drive (fixed voltage units) of one weight pair index step at exponent
    ``e`` (Lava adds ``(2k << e) << 6 = k 2**(7+e)`` to ``u``)."""
    return 2.0 ** (WEIGHT_UNIT_SHIFT + e)


def weight_exponent(wmax: float, S: float, exp_max: int = QUANT_WEIGHT_EXP_MAX) -> int:
    """The smallest exponent ``e >= QUANT_WEIGHT_EXP_MIN`` (at most ``exp_max``) at which the
    largest weight fits the pair index: ``wmax S / 2**(7+e) < K_MAX + 1/2``.

    ``wmax``: largest ``|W|``; ``S``: the layer's voltage scale; ``exp_max``: the largest
    exponent allowed (7, or 0 for netx). Weights still too large at ``exp_max`` are clipped by
    :func:`weight_index`."""
    e = QUANT_WEIGHT_EXP_MIN
    while e < exp_max and wmax * S / weight_unit(e) >= K_MAX + 0.5:
        e += 1
    return e


def weight_units(W, S: float, e: int):
    """``W S / 2**(7+e)``: the weights in pair-index units (real-valued, before rounding).

    ``W``: float weights; ``S``: voltage scale; ``e``: the weight exponent."""
    return W * S / weight_unit(e)


def weight_index(q):
    """``k = clip(round(q), -K_MAX, K_MAX)``: the integer pair index (mantissa ``2k``) of the
    weights ``q`` in pair-index units (:func:`weight_units`)."""
    return _ns(q).clip(round_half_away(q), -K_MAX, K_MAX)


# ---- mantissa << exponent registers (biases, bias weights) -------------------------------------
def mantissa_exponents(q, mant_max: int, exp_mode, exp_max: int):
    """The exponent of each value ``q`` (register units, e.g. ``b S``) stored as ``mant << exp``.

    ``exp_mode``: ``"neuron"``: per value, the smallest ``exp`` in ``0..exp_max`` with
    ``|round(q / 2**exp)| <= mant_max`` (``exp_max`` if none); ``"layer"``: the largest of
    those, shared; an int: that exponent for every value. ``mant_max``: the signed mantissa's
    largest magnitude. Returns exponents as floats holding integers, in ``q``'s dtype."""
    xp = _ns(q)
    exps = xp.zeros_like(q)
    if isinstance(exp_mode, int | np.integer) and not isinstance(exp_mode, bool):
        return exps + int(exp_mode)
    for ex in range(exp_max + 1):
        need = xp.abs(round_half_away(q / 2.0**ex)) > mant_max
        exps = xp.where((exps == ex) & need & (ex < exp_max), exps + 1, exps)
    if exp_mode == "layer" and _size(exps):
        exps = xp.zeros_like(exps) + exps.max()
    return exps


def mantissa(q, exps, mant_max: int):
    """``mant = clip(round(q / 2**exp), -mant_max, mant_max)``: the signed mantissa of ``q``
    (register units) at exponents ``exps`` (:func:`mantissa_exponents`)."""
    return _ns(q).clip(round_half_away(q / 2.0**exps), -mant_max, mant_max)


# ---- threshold, gain, decays -------------------------------------------------------------------
def threshold_units(vth, S: float):
    """``vth S / 2**6``: the threshold in register units (Loihi compares ``v`` with
    ``vth << 6``); ``vth``: float threshold, ``S``: voltage scale."""
    return vth * S / 2**VTH_SHIFT


def threshold_register(q):
    """``min(round(q), VTH_MAX)`` for a threshold ``q`` in register units
    (:func:`threshold_units`); a result below 1 is not representable (the caller refuses it)."""
    return _ns(q).clip(round_half_away(q), None, VTH_MAX)


def gain_units(g):
    """``g 256``: the NT1 gain ``g`` in mantissa units (``gain_mant = 256`` is unity)."""
    return g * float(GAIN_UNITY)


def gain_register(q):
    """``clip(round(q), GAIN_MIN, GAIN_MAX)``: the signed 12-bit gain mantissa of ``q``
    (:func:`gain_units`)."""
    return _ns(q).clip(round_half_away(q), GAIN_MIN, GAIN_MAX)


def decay_units(d):
    """``d 4096``: a decay ``d`` in [0, 1] (``du``, ``dv``, or ``1 - c_retention``) in 12-bit
    units."""
    return d * float(DECAY_UNITY)


def decay_register(q):
    """``clip(round(q), 0, 4095)``: a voltage decay ``dv`` or bias-current decay ``dc`` register
    (``q`` from :func:`decay_units`; ``d = 1`` is clipped to 4095: not representable)."""
    return _ns(q).clip(round_half_away(q), 0, DECAY_MAX)


def current_decay_register(q):
    """``clip(round(q), 1, 4096) - 1``: the current decay register ``du`` of ``q = du 4096``
    (Loihi decays ``u`` by ``(du + 1) / 4096``, so ``du = 1`` -> 4095; ``round(q) < 1``, i.e. a
    current that never decays, is not representable: the caller refuses it)."""
    return _ns(q).clip(round_half_away(q), 1, DECAY_UNITY) - 1
