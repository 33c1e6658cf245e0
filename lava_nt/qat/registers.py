"""Straight-through register quantisers: the rules of :mod:`lava_nt.spec.quantization` (the
quantiser's rounding, mantissa/exponent and weight choices) on float64 tensors holding exact
integers, with identity (STE) gradients."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from lava_nt.spec.delay import delayed_input
from lava_nt.spec.fixed import (
    C_BITS,
    UV_BITS,
)
from lava_nt.spec.quantization import (
    QUANT_WEIGHT_EXP_MAX,
    WEIGHT_UNIT_SHIFT,
    mantissa,
    mantissa_exponents,
    max_abs,
    weight_exponent,
    weight_index,
    weight_units,
)

_HALF_UV = 1 << (UV_BITS - 1)
_UV_LIM = float(_HALF_UV - 1)
_C_LIM = float((1 << (C_BITS - 1)) - 1)
TRAINABLE_KINDS = ("weight", "bias", "gain", "w_in", "w_b", "c_retention")


class QATError(ValueError):
    """The QAT network and the quantiser disagree, or the network cannot be wrapped."""


# ---- straight-through integer helpers (float64 tensors holding exact integers) ---------------
def ste(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Forward ``y`` exactly, backward the identity to ``x`` (straight-through estimator).

    ``y + (x - x)`` is ``y`` bit for bit (``x - x.detach()`` is exactly 0 for finite ``x``)."""
    return y.detach() + (x - x.detach())


def _trunc_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """``trunc(x / 2**shift)`` (Loihi's sign-magnitude shift); gradient of ``x / 2**shift``."""
    y = x * (2.0**-shift)  # exact: a power of two
    return ste(y, torch.trunc(y))


def _wrap_u(x: torch.Tensor) -> torch.Tensor:
    """Lava's 24-bit wrap of ``u`` (the spec's two ``where`` expressions); identity gradient."""
    h = float(_HALF_UV)
    w = torch.where(x > h, x - 2 * h, x)
    w = torch.where(w <= -h, x + 2 * h, w)
    return ste(x, w)


def _mant_exp(q: torch.Tensor, mant_max: int, exp_mode, exp_max: int):
    """``q`` (register units, with grad) -> (STE value ``mant << exp``, mant, exp)."""
    qd = q.detach()
    exps = mantissa_exponents(qd, mant_max, exp_mode, exp_max)
    mant = mantissa(qd, exps, mant_max)
    return ste(q, mant * torch.pow(2.0, exps)), mant, exps


def _weights(W: torch.Tensor, S: float):
    """Quantiser weights at scale ``S``: (STE ``k`` with grad, integer ``k``, exponent ``e``).

    Lava's Dense adds ``(2k << e) << 6 = k 2**(7+e)`` to ``u`` (even mantissas survive its
    mixed-sign LSB truncation; ``e = -1`` shifts a sum of even numbers)."""
    e = weight_exponent(max_abs(W.detach()), S, QUANT_WEIGHT_EXP_MAX)
    kq = weight_units(W, S, e)
    k = weight_index(kq.detach())
    return ste(kq, k), k, e


def drive(s_in: torch.Tensor, k: torch.Tensor, e: int, graded: bool = False) -> torch.Tensor:
    """``dense_fixed_output(2k · s, e) << 6`` = ``(k · s) 2**(7+e)``: a Dense's drive of ``u``.

    For spikes (0/1) the product runs in float32 when that is exact: ``|k| <= 127``, so every
    partial sum is an integer below ``127 n_in < 2**24`` (float32's exact-integer range); the
    power-of-two factor and the cast to float64 are exact too. Graded input (integers up to
    ``GRADED_INPUT_MAX``, ``graded=True``) runs in float64, exact while ``127 max|x| n_in <
    2**53``."""
    if not graded and 127 * s_in.shape[-1] < 2**24:
        a = torch.matmul(s_in.to(torch.float32), k.to(torch.float32).T).to(torch.float64)
    else:
        if graded and 127.0 * max_abs(s_in.detach()) * s_in.shape[-1] >= 2.0**53:
            raise QATError(
                "QATNetwork: the graded input is too large for an exact float64 drive "
                f"(max |x| {max_abs(s_in.detach()):g} over {s_in.shape[-1]} inputs)"
            )
        a = torch.matmul(s_in.to(torch.float64), k.T)
    return a * 2.0 ** (WEIGHT_UNIT_SHIFT + e)


def delayed_drive(
    s_in: torch.Tensor, k: torch.Tensor, e: int, groups, graded: bool = False
) -> torch.Tensor:
    """The drive of a layer with synaptic delays: ``sum_d drive(s_in(t - d), k * mask_d, e)``
    over ``groups`` (``[(d, bool mask tensor)]``, largest delay first, as
    :func:`lava_nt.spec.delay.delay_groups` orders them), added by
    :func:`lava_nt.spec.delay.delayed_input` (the one definition of the delay line).

    The spec scales each group's integer accumulation by the weight exponent on its own
    (``dense_fixed_output`` per delay column, as Lava's bit-accurate ``DelayDense``); here each
    group's :func:`drive` is that scaled accumulation exactly, because the quantiser's mantissas
    ``2k`` are even and its exponents are ``>= -1`` (``QUANT_WEIGHT_EXP_MIN``), so no group's
    shift drops a bit. The masked ``k`` keeps its straight-through gradient."""

    def project(idx: int, xs: torch.Tensor) -> torch.Tensor:
        return drive(xs, k * groups[idx][1].to(k.dtype), e, graded)

    return delayed_input(s_in, groups, project)


def cached_weights(module: torch.nn.Module, name: str, S: float, factor: float = 1.0, mask=None):
    """:func:`_weights` of ``module``'s matrix ``name`` (times ``mask``, then times ``factor``:
    the first layer's ``1 / input_scale`` for graded input, as the quantiser scales it); a frozen
    matrix is quantised once (cache keyed on the tensor's identity and in-place version)."""
    src = getattr(module, name)

    def value():
        w = src if mask is None else src * mask
        return w if factor == 1.0 else w * factor

    if src.requires_grad:
        return _weights(value(), S)
    cache = module.__dict__.setdefault("_wcache", {})
    key = (id(src), src._version, src.data_ptr(), S, factor)
    hit = cache.get(name)
    if hit is None or hit[0] != key:
        with torch.no_grad():
            hit = (key, _weights(value(), S))
        cache[name] = hit
    return hit[1]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _set(module: torch.nn.Module, name: str, value, trainable: bool) -> None:
    t = torch.as_tensor(np.array(value, dtype=np.float64))
    module._parameters.pop(name, None)
    module._buffers.pop(name, None)
    if trainable:
        module.register_parameter(name, torch.nn.Parameter(t))
    else:
        module.register_buffer(name, t)


def _trainable(module: torch.nn.Module, name: str) -> bool:
    p = module._parameters.get(name)
    return p is not None and p.requires_grad


class _Registers(NamedTuple):
    """One layer's quantised tensors: STE values for the forward, integers for the spec."""

    k: torch.Tensor  # weight pair index (STE), mantissa = 2k
    k_int: torch.Tensor
    w_exp: int
    bias: torch.Tensor  # bias_mant << bias_exp (STE)
    bias_mant: torch.Tensor
    bias_exp: torch.Tensor
    gain: torch.Tensor  # gain_mant (STE)
    gain_int: torch.Tensor
    sb: dict | None
