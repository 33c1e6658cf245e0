"""Loihi-compatible fixed-point NTLIF and spiking bias, defined once (integer arithmetic).

Where NTLIF reduces to Lava's LIF (unity gain, no bias current, reset to zero) this is Lava's
bit-accurate ``PyLifModelBitAcc`` operation for operation (``lava/proc/lif/models.py``)::

    u[t] = wrap24( trunc((4096 - (du + 1)) * u[t-1] / 4096) + (a[t] << 6) )
    x[t] = u[t] + (bias_mant << bias_exp)
    v[t] = sat24( trunc((4096 - dv) * v[t-1] / 4096) + trunc(gain_mant * x[t] / 2**8) + c[t] )
    s[t] = v[t] > (vth << 6)
    v[t] = 0  |  v[t] - (vth << 6)      where s[t]       (reset zero | subtract)

The decay registers ``du`` and ``dv`` are one per layer or one per neuron (shape ``(n,)``, applied
elementwise, as Lava's LIF takes them from lava-dl's netx files). ``trunc`` rounds toward zero
(sign-magnitude shift, as Loihi's decays), ``wrap24`` is Lava's 24-bit wrap of ``u`` and
``sat24`` the saturation of ``v`` to ±(2**23 - 1). The gain extension is an integer multiply by a
signed 12-bit mantissa followed by the same truncating shift by ``GAIN_SHIFT`` = 8 bits, so
``gain_mant = 256`` is exactly unity. The graded bias current ``c`` is
in voltage units (like the bias: no ``<< 6``).

Spiking bias (same style)::

    s_b[t] = NTLIF_fixed(bias neurons; unity gain, reset zero)
    C[t]   = sat24( trunc((4096 - dc) * C[t-1] / 4096) + s_b[t] * (w_b_mant << w_b_exp) )
    c_target[i][t] = C[group(i)][t]

so the float current retention is ``c_retention = (4096 - dc) / 4096`` (``dc`` is Loihi's
current-decay register) and ``w_b`` is in voltage units.

The step functions use only operators plus ``where``/``clip``/``sign``/``abs`` from the array's
own namespace, so the same code runs on numpy int64 (the Lava fixed-point ProcessModels) and on
torch int64 tensors (the torch emulator).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lava_nt.spec.spiking_bias import check_group, contiguous_groups
from lava_nt.spec.validation import (
    ParameterError,
    as_array,
    check_int_range,
    check_layer_or_neuron,
    check_names,
    check_shape,
)

# ---- bit widths (Loihi; Lava 0.10 PyLifModelBitAcc) -------------------------------------------
UV_BITS = 24  # u wraps, v saturates
C_BITS = 24  # leaking bias current saturates
DECAY_BITS = 12  # du, dv, dc: unsigned 12-bit
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096
ACT_SHIFT = 6  # synaptic input a << 6
VTH_SHIFT = 6  # threshold vth << 6
VTH_BITS = 17  # unsigned threshold mantissa
BIAS_MANT_BITS = 13  # signed
BIAS_EXP_MAX = 7  # 3-bit unsigned exponent
GAIN_BITS = 12  # signed gain mantissa
GAIN_SHIFT = 8  # gain = gain_mant / 2**8 ; unity = 256
GAIN_UNITY = 1 << GAIN_SHIFT
WB_MANT_BITS = 13  # signed bias-weight mantissa (voltage units, like the bias)
WB_EXP_MAX = 7
WEIGHT_BITS = 8  # Dense weight mantissa (signed, Lava truncates the LSB in mixed-sign mode)

UV_MAX = (1 << (UV_BITS - 1)) - 1
C_MAX = (1 << (C_BITS - 1)) - 1
DECAY_MAX = DECAY_UNITY - 1
VTH_MAX = (1 << VTH_BITS) - 1
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << (BIAS_MANT_BITS - 1)), (1 << (BIAS_MANT_BITS - 1)) - 1
GAIN_MIN, GAIN_MAX = -(1 << (GAIN_BITS - 1)), (1 << (GAIN_BITS - 1)) - 1
WB_MANT_MIN, WB_MANT_MAX = -(1 << (WB_MANT_BITS - 1)), (1 << (WB_MANT_BITS - 1)) - 1
#: Dense weight mantissas Lava's bit-accurate Dense holds: 8 bits plus the sign bit it uses in
#: mixed-sign mode (``[-256, 255]``, as :func:`dense_effective_weights` clips them).
WEIGHT_MANT_MIN, WEIGHT_MANT_MAX = -(2**WEIGHT_BITS), 2**WEIGHT_BITS - 1

FIXED_NTLIF_PARAMETER_NAMES = ("du", "dv", "vth", "bias_mant", "bias_exp", "gain_mant", "reset")
FIXED_SPIKING_BIAS_PARAMETER_NAMES = (
    "du", "dv", "vth", "bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc", "group",
)  # fmt: skip


class FixedNTLIFParameters(NamedTuple):
    """Integer NTLIF parameters (12-bit decays, 17-bit vth, 13-bit bias mantissa, 3-bit exponent,
    12-bit signed gain mantissa with unity 256). ``du`` and ``dv`` are one register per layer or
    one per neuron (shape ``(n,)``, as Lava's LIF and lava-dl's netx allow); ``vth`` is one per
    layer."""

    du: Any = DECAY_MAX
    dv: Any = 0
    vth: Any = 1
    bias_mant: Any = 0
    bias_exp: Any = 0
    gain_mant: Any = GAIN_UNITY
    reset_subtract: bool = False


class FixedNTLIFState(NamedTuple):
    u: Any
    v: Any


class FixedSpikingBiasParameters(NamedTuple):
    """Integer spiking-bias parameters: the bias neurons' LIF, the bias weight ``w_b_mant <<
    w_b_exp`` (voltage units), the current decay ``dc`` (``c_retention = (4096 - dc) / 4096``)
    and ``group``."""

    du: Any = DECAY_MAX
    dv: Any = 0
    vth: Any = 1
    bias_mant: Any = 0
    bias_exp: Any = 0
    w_b_mant: Any = 0
    w_b_exp: Any = 0
    dc: Any = DECAY_MAX
    group: Any = None

    def neuron_parameters(self) -> FixedNTLIFParameters:
        return FixedNTLIFParameters(
            self.du, self.dv, self.vth, self.bias_mant, self.bias_exp, GAIN_UNITY, False
        )


class FixedSpikingBiasState(NamedTuple):
    u: Any
    v: Any
    C: Any


def _check_scalars(p: dict, names, where: str) -> None:
    for name in names:
        if np.ndim(p[name]) != 0:
            raise ParameterError(f"{where}: '{name}' must be a scalar (one value per layer)")


def fixed_ntlif_parameters(n: int, where: str = "NTLIF(fixed)", **kwargs) -> FixedNTLIFParameters:
    """Validated :class:`FixedNTLIFParameters` (every register inside its bit width)."""
    check_names(kwargs, FIXED_NTLIF_PARAMETER_NAMES, where)
    p = dict(FixedNTLIFParameters()._asdict())
    reset = kwargs.pop("reset", "zero")
    if reset not in ("zero", "subtract"):
        raise ParameterError(f"{where}: 'reset' must be 'zero' or 'subtract', got {reset!r}")
    p.update(kwargs)
    p["reset_subtract"] = reset == "subtract"
    _check_scalars(p, ("vth",), where)
    for name in ("du", "dv"):  # one per layer or one per neuron
        check_layer_or_neuron(p[name], where, name, n)
        check_int_range(p[name], where, name, 0, DECAY_MAX)
        if not hasattr(p[name], "detach") and np.ndim(p[name]) != 0:
            p[name] = np.asarray(p[name], dtype=np.int64).reshape(-1)
    check_int_range(p["vth"], where, "vth", 1, VTH_MAX)  # 0: v > 0 spikes every step
    check_shape(p["bias_mant"], where, "bias_mant", n)
    check_int_range(p["bias_mant"], where, "bias_mant", BIAS_MANT_MIN, BIAS_MANT_MAX)
    check_shape(p["bias_exp"], where, "bias_exp", n)
    check_int_range(p["bias_exp"], where, "bias_exp", 0, BIAS_EXP_MAX)
    check_shape(p["gain_mant"], where, "gain_mant", n)
    check_int_range(p["gain_mant"], where, "gain_mant", GAIN_MIN, GAIN_MAX)
    for name in ("bias_mant", "bias_exp", "gain_mant"):
        p[name] = as_array(p[name], np.int64)
    return FixedNTLIFParameters(**p)


def fixed_spiking_bias_parameters(
    m: int, n: int, where: str = "SpikingBias(fixed)", **kwargs
) -> FixedSpikingBiasParameters:
    """Validated :class:`FixedSpikingBiasParameters` for ``m`` bias neurons serving ``n``."""
    check_names(kwargs, FIXED_SPIKING_BIAS_PARAMETER_NAMES, where)
    p = dict(FixedSpikingBiasParameters()._asdict())
    p.update(kwargs)
    _check_scalars(p, ("du", "dv", "vth"), where)
    check_shape(p["dc"], where, "dc", m)  # one current decay per bias neuron, like c_retention
    check_int_range(p["du"], where, "du", 0, DECAY_MAX)
    check_int_range(p["dv"], where, "dv", 0, DECAY_MAX)
    check_int_range(p["vth"], where, "vth", 1, VTH_MAX)  # 0: v > 0 spikes every step
    check_int_range(p["dc"], where, "dc", 0, DECAY_MAX)
    for name, lo, hi in (
        ("bias_mant", BIAS_MANT_MIN, BIAS_MANT_MAX),
        ("bias_exp", 0, BIAS_EXP_MAX),
        ("w_b_mant", WB_MANT_MIN, WB_MANT_MAX),
        ("w_b_exp", 0, WB_EXP_MAX),
    ):
        check_shape(p[name], where, name, m)
        check_int_range(p[name], where, name, lo, hi)
    if isinstance(p["group"], str) and p["group"] == "contiguous":
        p["group"] = contiguous_groups(n, m, where)
    p["group"] = check_group(p["group"], n, m, where)
    for name in ("bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc"):
        p[name] = as_array(p[name], np.int64)
    return FixedSpikingBiasParameters(**p)


# ---- integer helpers: the same code for numpy int64 and torch int64 ---------------------------
def _ns(x):
    if type(x).__module__.startswith("torch"):
        import torch  # lazy: torch tensors only; lava_nt.spec is numpy-only (import lava_nt)

        return torch
    return np


def trunc_shift(x, shift: int):
    """``x / 2**shift`` rounded toward zero (Loihi's sign-magnitude shift)."""
    xp = _ns(x)
    return xp.sign(x) * (xp.abs(x) >> shift)


def shift_exp(mant, exp):
    """``mant << exp``; exponents are unsigned 3-bit registers (validated at the boundary)."""
    return mant << exp


def as_int64(x):
    """Promote to int64 before any product (Lava promotes u and v to int64 the same way)."""
    if type(x).__module__.startswith("torch"):
        import torch  # lazy: torch tensors only; lava_nt.spec is numpy-only (import lava_nt)

        return x.to(torch.int64)
    return np.asarray(x, dtype=np.int64)


def wrap_u(x):
    """Lava's 24-bit wrap of the current (exactly its two ``where`` expressions)."""
    xp = _ns(x)
    half = 1 << (UV_BITS - 1)
    w = xp.where(x > half, x - 2 * half, x)
    return xp.where(w <= -half, x + 2 * half, w)


def saturate(x, bits: int = UV_BITS):
    lim = (1 << (bits - 1)) - 1
    return _ns(x).clip(x, -lim, lim)


def fixed_ntlif_step(a, c, state: FixedNTLIFState, p: FixedNTLIFParameters):
    """One bit-accurate NTLIF step on int64 arrays/tensors (equations in the module docstring).

    ``a`` is the Dense output (already shifted by its weight exponent), ``c`` the bias current
    in voltage units (0 if none). Returns ``(s, new_state)`` with boolean spikes.
    """
    xp = _ns(state.u)
    u0, v0, a = as_int64(state.u), as_int64(state.v), as_int64(a)
    u = wrap_u(trunc_shift(u0 * (DECAY_UNITY - (p.du + 1)), DECAY_SHIFT) + (a << ACT_SHIFT))
    x = u + shift_exp(p.bias_mant, p.bias_exp)
    v = trunc_shift(v0 * (DECAY_UNITY - p.dv), DECAY_SHIFT) + trunc_shift(
        p.gain_mant * x, GAIN_SHIFT
    )
    v = saturate(v + c)
    vth = p.vth << VTH_SHIFT
    s = v > vth
    if p.reset_subtract:
        v = xp.where(s, v - vth, v)
    else:
        v = xp.where(s, xp.zeros_like(v), v)
    return s, FixedNTLIFState(u, v)


def fixed_spiking_bias_step(a_b, state: FixedSpikingBiasState, p: FixedSpikingBiasParameters):
    """One bit-accurate spiking-bias step. Returns ``(c_target, s_b, new_state)``."""
    s_b, nst = fixed_ntlif_step(a_b, 0, FixedNTLIFState(state.u, state.v), p.neuron_parameters())
    w = shift_exp(p.w_b_mant, p.w_b_exp)
    C = saturate(
        trunc_shift(as_int64(state.C) * (DECAY_UNITY - p.dc), DECAY_SHIFT) + s_b * w, C_BITS
    )
    c_target = C if p.group is None else C[..., p.group]
    return c_target, s_b, FixedSpikingBiasState(nst.u, nst.v, C)


# ---- Lava's fixed-point Dense (lava/proc/dense/models.py PyDenseModelBitAcc) -----------------
def dense_effective_weights(weights, num_weight_bits: int = WEIGHT_BITS, sign_mode=None):
    """The integer weights Lava's bit-accurate Dense really uses (numpy in, int64 numpy out).

    Lava clips to 8 bits (``[-256, 255]`` for mixed signs, ``[0, 255]`` otherwise, negated for
    all-inhibitory matrices) and then drops ``8 - num_weight_bits (+1 if mixed)`` low bits, so
    mixed-sign 8-bit weights lose their LSB. ``sign_mode``: None (decide as Lava does from the
    values), or "mixed" / "excitatory" / "inhibitory".
    """
    w = np.asarray(weights)
    if np.any(w != np.round(w)):
        raise ParameterError("Dense(fixed): weights must be integer-valued mantissas")
    w = w.astype(np.int64)
    if sign_mode is None:
        if w.size == 0 or w.min() >= 0:
            sign_mode = "excitatory"
        elif w.max() <= 0:
            sign_mode = "inhibitory"
        else:
            sign_mode = "mixed"
    mixed = int(sign_mode == "mixed")
    inhib = sign_mode == "inhibitory"
    if inhib:
        w = -w
    w = np.clip(w, -(2**WEIGHT_BITS) * mixed, 2**WEIGHT_BITS - 1)
    drop = WEIGHT_BITS - num_weight_bits + mixed
    w = (w >> drop) << drop
    return -w if inhib else w


def dense_fixed_output(accum, weight_exp: int):
    """Dense accumulation scaled by its exponent (``<< e`` or arithmetic ``>> -e``), as Lava."""
    return accum << weight_exp if weight_exp > 0 else accum >> (-weight_exp)
