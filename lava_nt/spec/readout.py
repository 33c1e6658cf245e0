"""Non-spiking integrator readout, defined once (floating point and Loihi fixed point).

A readout population of ``n`` units reads the last spiking layer through its own Dense matrix
``W`` (``a[t] = W · s[t]``) and never spikes. It is the output layer lava-dl's netx writes when
a dense layer has no neuron group (a non-leaky integrator) and Norse's / NIR's leaky integrator
(``LI``/``CubaLI``). Floating point, one call = one tick::

    u[t] = (1 - du) * u[t-1] + a[t]                 current; du = 0: the accumulated current
    v[t] = (1 - dv) * v[t-1] + u[t] + b             voltage; dv = 1: v = u + b (no memory)

with ``du``, ``dv`` in [0, 1] (one per population) and a bias ``b`` per unit. The readout value
of a sample is its voltage trace ``v[0..T-1]`` reduced over the window: ``"last"`` (``v[T-1]``),
``"mean"`` or ``"max"`` (:func:`reduce_readout`); the class decision is the argmax of the values.

Fixed point uses the registers of lava-dl's netx format and of Lava's bit-accurate ``LIF``::

    u[t] = wrap24( trunc((4096 - i_decay) * u[t-1] / 4096) + (a[t] << 6) )
    v[t] = sat24( trunc((4096 - v_decay) * v[t-1] / 4096) + u[t] + (bias_mant << bias_exp) )

``i_decay`` and ``v_decay`` are 13-bit unsigned registers in 0..4096 (netx's ``iDecay`` and
``vDecay``: 0 keeps the state, 4096 forgets it), ``bias_mant`` a signed 13-bit mantissa and
``bias_exp`` a 3-bit exponent; ``trunc`` rounds toward zero, ``u`` wraps and ``v`` saturates at
24 bits exactly like the NTLIF current and voltage. Lava's ``LIF`` runs it with ``du = i_decay -
1``, ``dv = v_decay`` and a threshold it can never reach (``vth = 2**17``: ``v`` saturates below
``2**17 << 6``), which is how lava-dl's netx loader builds a dense layer without neuron group
(``iDecay 0``, ``vDecay 4096``: ``v = u``, the current accumulated since the last reset). The
float equivalent is ``du = i_decay / 4096``, ``dv = v_decay / 4096``, bias ``bias_mant <<
bias_exp``, all values in units of ``1/S`` (``S`` the readout's voltage scale).

Integer rules of the reductions: ``"last"`` and ``"max"`` are integers in fixed point; ``"mean"``
is the integer sum over the window divided by ``T`` in float64 (the same division in every
engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lava_nt.spec.fixed import (
    ACT_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_SHIFT,
    DECAY_UNITY,
    as_int64,
    saturate,
    shift_exp,
    trunc_shift,
    wrap_u,
)
from lava_nt.spec.ntlif import ArrayLike
from lava_nt.spec.validation import (
    ParameterError,
    as_array,
    check_choice,
    check_finite,
    check_int_range,
    check_names,
    check_range,
    check_shape,
)

__all__ = [
    "READOUT_PARAMETER_NAMES",
    "FIXED_READOUT_PARAMETER_NAMES",
    "REDUCTIONS",
    "FixedReadoutParameters",
    "ReadoutParameters",
    "ReadoutSpec",
    "ReadoutState",
    "fixed_readout_parameters",
    "fixed_readout_step",
    "readout_parameters",
    "readout_step",
    "reduce_readout",
]

#: How the voltage trace of a window becomes one value per unit.
REDUCTIONS = ("last", "mean", "max")
READOUT_PARAMETER_NAMES = ("du", "dv", "bias", "reduce")
FIXED_READOUT_PARAMETER_NAMES = ("i_decay", "v_decay", "bias_mant", "bias_exp", "reduce")
#: The readout decay registers hold 0..4096 (netx's iDecay / vDecay).
READOUT_DECAY_MAX = DECAY_UNITY


class ReadoutParameters(NamedTuple):
    """Floating-point readout: decays ``du``, ``dv`` in [0, 1], per-unit bias, reduction."""

    du: ArrayLike = 0.0
    dv: ArrayLike = 1.0
    bias: ArrayLike = 0.0
    reduce: str = "last"


class FixedReadoutParameters(NamedTuple):
    """Fixed-point readout registers (netx units): ``i_decay``, ``v_decay`` in 0..4096,
    13-bit signed ``bias_mant`` with a 3-bit ``bias_exp``, reduction."""

    i_decay: ArrayLike = 0
    v_decay: ArrayLike = DECAY_UNITY
    bias_mant: ArrayLike = 0
    bias_exp: ArrayLike = 0
    reduce: str = "last"


class ReadoutState(NamedTuple):
    """Current ``u`` and voltage ``v`` of a readout population."""

    u: ArrayLike
    v: ArrayLike


def readout_parameters(n: int, where: str = "Readout", **kwargs) -> ReadoutParameters:
    """Validated :class:`ReadoutParameters` for ``n`` units (misspelt names, decays outside
    [0, 1], non-scalar decays, a bias of the wrong size and unknown reductions raise
    :class:`ParameterError`)."""
    check_names(kwargs, READOUT_PARAMETER_NAMES, where)
    p = ReadoutParameters()._asdict()
    p.update(kwargs)
    for name in ("du", "dv"):
        if np.ndim(p[name]) != 0:
            raise ParameterError(f"{where}: '{name}' must be a scalar (one decay per readout)")
        check_range(p[name], where, name, 0.0, 1.0)
        p[name] = float(p[name])
    p["bias"] = as_array(p["bias"], np.float64, where, "bias")
    check_shape(p["bias"], where, "bias", n)
    check_finite(p["bias"], where, "bias")
    check_choice(p["reduce"], REDUCTIONS, where, "reduce")
    return ReadoutParameters(**p)


def fixed_readout_parameters(n: int, where: str = "Readout(fixed)", **kwargs):
    """Validated :class:`FixedReadoutParameters` (every register inside its bit width)."""
    check_names(kwargs, FIXED_READOUT_PARAMETER_NAMES, where)
    p = FixedReadoutParameters()._asdict()
    p.update(kwargs)
    for name in ("i_decay", "v_decay"):
        if np.ndim(p[name]) != 0:
            raise ParameterError(f"{where}: '{name}' must be a scalar (one decay per readout)")
        check_int_range(p[name], where, name, 0, READOUT_DECAY_MAX)
        p[name] = int(p[name])
    check_shape(p["bias_mant"], where, "bias_mant", n)
    check_int_range(p["bias_mant"], where, "bias_mant", BIAS_MANT_MIN, BIAS_MANT_MAX)
    check_shape(p["bias_exp"], where, "bias_exp", n)
    check_int_range(p["bias_exp"], where, "bias_exp", 0, BIAS_EXP_MAX)
    for name in ("bias_mant", "bias_exp"):
        p[name] = as_array(p[name], np.int64)
    check_choice(p["reduce"], REDUCTIONS, where, "reduce")
    return FixedReadoutParameters(**p)


def readout_step(a, state: ReadoutState, p: ReadoutParameters) -> tuple[ArrayLike, ReadoutState]:
    """One floating-point readout step (numpy or torch); returns ``(v, new_state)``."""
    u = (1 - p.du) * state.u + a
    v = (1 - p.dv) * state.v + u + p.bias
    return v, ReadoutState(u, v)


def fixed_readout_step(a, state: ReadoutState, p: FixedReadoutParameters):
    """One bit-accurate readout step on int64 numpy arrays or torch tensors; ``a`` is the Dense
    output (already shifted by its weight exponent). Returns ``(v, new_state)``."""
    u0, v0, a = as_int64(state.u), as_int64(state.v), as_int64(a)
    u = wrap_u(trunc_shift(u0 * (DECAY_UNITY - p.i_decay), DECAY_SHIFT) + (a << ACT_SHIFT))
    v = trunc_shift(v0 * (DECAY_UNITY - p.v_decay), DECAY_SHIFT) + u
    v = saturate(v + shift_exp(p.bias_mant, p.bias_exp))
    return v, ReadoutState(u, v)


def reduce_readout(trace, how: str):
    """Readout values ``[..., n]`` of a voltage trace ``[T, ..., n]`` (numpy or torch):
    ``"last"`` = ``trace[-1]``, ``"mean"`` = mean over time (float64 for integer traces),
    ``"max"`` = maximum over time."""
    check_choice(how, REDUCTIONS, "reduce_readout", "how")
    if how == "last":
        return trace[-1]
    if how == "max":
        return trace.max(0).values if hasattr(trace, "detach") else trace.max(0)
    if hasattr(trace, "detach"):
        import torch  # lazy: torch tensors only; lava_nt.spec is numpy-only (import lava_nt)

        if not torch.is_floating_point(trace):
            trace = trace.to(torch.float64)
        return trace.mean(0)
    trace = np.asarray(trace)
    return trace.astype(np.float64).mean(0) if trace.dtype.kind in "iub" else trace.mean(0)


@dataclass
class ReadoutSpec:
    """Readout population of a network: Dense ``weight`` (n x n_last), its parameters
    (:class:`ReadoutParameters` or :class:`FixedReadoutParameters`) and, in fixed point, the
    Dense exponent ``weight_exp``."""

    weight: np.ndarray
    params: ReadoutParameters | FixedReadoutParameters
    weight_exp: int = 0

    @property
    def n(self) -> int:
        return int(np.asarray(self.weight).shape[0])

    @property
    def reduce(self) -> str:
        return self.params.reduce
