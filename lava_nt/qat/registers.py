"""Straight-through register quantisers: the quantiser's rounding, mantissa/exponent and weight
choices on float64 tensors holding exact integers, with identity (STE) gradients."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from lava_nt.spec.fixed import (
    C_BITS,
    UV_BITS,
)

#: Weight mantissas are ``2k`` with ``|k| <= K_MAX`` (quantiser convention).
K_MAX = 127
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -1, 7
_HALF_UV = 1 << (UV_BITS - 1)
_UV_LIM = float(_HALF_UV - 1)
_C_LIM = float((1 << (C_BITS - 1)) - 1)
TRAINABLE_KINDS = ("weight", "bias", "gain", "w_in", "w_b", "alpha")


class QATError(ValueError):
    """The QAT network and the quantiser disagree, or the network cannot be wrapped."""


# ---- straight-through integer helpers (float64 tensors holding exact integers) ---------------
def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero (the quantiser's rounding), no gradient."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


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


def _exponents(q: torch.Tensor, mant_max: int, exp_mode, exp_max: int) -> torch.Tensor:
    """The quantiser's exponent choice for register values ``q`` (``_quantize_mant_exp``)."""
    q = q.detach()
    if isinstance(exp_mode, int | np.integer) and not isinstance(exp_mode, bool):
        return torch.full(q.shape, float(exp_mode), dtype=q.dtype, device=q.device)
    exps = torch.zeros_like(q)
    for ex in range(exp_max + 1):
        need = torch.abs(round_half_away(q / 2.0**ex)) > mant_max
        exps = torch.where((exps == ex) & need & (ex < exp_max), exps + 1, exps)
    if exp_mode == "layer" and exps.numel():
        exps = torch.full_like(exps, float(exps.max()))
    return exps


def _mant_exp(q: torch.Tensor, mant_max: int, exp_mode, exp_max: int):
    """``q`` (register units, with grad) -> (STE value ``mant << exp``, mant, exp)."""
    exps = _exponents(q, mant_max, exp_mode, exp_max)
    p = torch.pow(2.0, exps)
    mant = torch.clamp(round_half_away(q.detach() / p), -mant_max, mant_max)
    return ste(q, mant * p), mant, exps


def _weight_exp(wmax: float, S: float, exp_max: int = WEIGHT_EXP_MAX) -> int:
    e = WEIGHT_EXP_MIN
    while e < exp_max and wmax * S / 2.0 ** (7 + e) >= K_MAX + 0.5:
        e += 1
    return e


def _weights(W: torch.Tensor, S: float):
    """Quantiser weights at scale ``S``: (STE ``k`` with grad, integer ``k``, exponent ``e``).

    Lava's Dense adds ``(2k << e) << 6 = k 2**(7+e)`` to ``u`` (even mantissas survive its
    mixed-sign LSB truncation; ``e = -1`` shifts a sum of even numbers)."""
    wmax = float(W.detach().abs().max()) if W.numel() else 0.0
    e = _weight_exp(wmax, S)
    kq = W * S / 2.0 ** (7 + e)
    k = torch.clamp(round_half_away(kq.detach()), -K_MAX, K_MAX)
    return ste(kq, k), k, e


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
