"""lava-dl 0.6.0's netx weight and bias handling, reproduced operation for operation."""

from __future__ import annotations

import numpy as np

from lava_nt.converters.netx.format import NETX_BIAS_EXP, WEIGHT_MANT_MAX, WEIGHT_MANT_MIN
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    dense_effective_weights,
)
from lava_nt.spec.quantization import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN
from lava_nt.spec.validation import ParameterError


def optimize_weight_bits(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``lava.lib.dl.netx.utils.optimize_weight_bits`` (lava-dl 0.6.0) for weights already in
    [-256, 255]: returns ``(weights << scale_bits, num_weight_bits, weight_exponent)``."""
    w = np.asarray(weight, dtype=np.int64)
    max_w, min_w = int(w.max()), int(w.min())
    if max_w > 254 and min_w < 0:
        w = np.clip(w, -256, 254)
        max_w = int(w.max())
    if min_w < -256 and max_w > 0:
        w = np.clip(w, -256, 254)
        min_w = int(w.min())
    with np.errstate(divide="ignore"):  # numpy semantics, as lava-dl: 127 / 0 = inf
        mx, mn = np.float64(max_w), np.float64(min_w)
        if max_w < 0:
            is_signed, scale = 0, -256 / mn
        elif min_w >= 0:
            is_signed, scale = 0, 255 / mx
        else:
            is_signed, scale = 1, min(127 / mx, -128 / mn)
    if not np.isfinite(scale):
        return w.copy(), 8, 0  # an all-zero matrix: any choice gives zero input
    scale_bits = int(np.floor(np.log2(scale))) + is_signed
    n = 8
    while n > 0:
        if np.sum(np.abs(w / 2**n - np.round(w / 2**n))) == 0:
            break
        n -= 1
    n -= is_signed
    num_weight_bits = 8 - scale_bits - n
    return (
        np.left_shift(w, scale_bits) if scale_bits >= 0 else w >> -scale_bits,
        int(num_weight_bits),
        int(-scale_bits),
    )


def netx_effective_weights(weight) -> tuple[np.ndarray, int]:
    """``(effective integer matrix, weight_exponent)`` that lava-dl 0.6.0's Dense uses for a netx
    ``weight`` dataset: the layer input is ``dense_fixed_output(eff @ s, weight_exponent)``."""
    w = np.asarray(weight)
    w_opt, nwb, wexp = optimize_weight_bits(w.astype(np.int64))
    nwb = min(max(nwb, 1), 8)
    return dense_effective_weights(w_opt, num_weight_bits=nwb), wexp


def lava_nt_weights(eff: np.ndarray, wexp: int) -> tuple[np.ndarray, int]:
    """An 8-bit lava-nt Dense (mantissa, exponent) adding exactly what netx's Dense adds.

    If every entry's contribution is an integer, the coarsest-exponent-first search returns the
    finest representation whose mantissas survive Lava's 8-bit truncation (this is the
    quantiser's ``2k << e`` layout for networks lava-nt exported); otherwise netx's own
    (matrix, exponent) pair is used as it is."""
    eff = np.asarray(eff, dtype=np.int64)
    if wexp >= 0:
        per_elem = eff << wexp
    elif np.all(eff % (1 << -wexp) == 0):
        per_elem = eff >> -wexp
    else:
        per_elem = None
    if per_elem is not None:
        for e in range(WEIGHT_EXP_MIN, WEIGHT_EXP_MAX + 1):
            if e < 0:
                m = per_elem << -e
            elif np.all(per_elem % (1 << e) == 0):
                m = per_elem >> e
            else:
                continue
            if m.size and (m.min() < WEIGHT_MANT_MIN or m.max() > WEIGHT_MANT_MAX):
                continue
            if np.array_equal(dense_effective_weights(m), m):
                return m, e
    if WEIGHT_EXP_MIN <= wexp <= WEIGHT_EXP_MAX and np.array_equal(
        dense_effective_weights(eff), eff
    ):
        return eff.copy(), int(wexp)
    raise ParameterError("no 8-bit Dense mantissa/exponent reproduces these weights")


def bias_registers(bias_eff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron ``(bias_mant, bias_exp)`` with ``bias_mant << bias_exp == bias_eff``,
    preferring netx's exponent 6."""
    mant = np.zeros_like(bias_eff)
    exp = np.zeros_like(bias_eff)
    order = [NETX_BIAS_EXP] + [e for e in range(BIAS_EXP_MAX, -1, -1) if e != NETX_BIAS_EXP]
    for i, v in enumerate(bias_eff):
        for e in order:
            if v % (1 << e) == 0 and BIAS_MANT_MIN <= (v >> e) <= BIAS_MANT_MAX:
                mant[i], exp[i] = v >> e, e
                break
        else:
            raise ParameterError(
                f"neuron {i}: bias {v >> NETX_BIAS_EXP} (<< 6) needs more than a 13-bit mantissa "
                "with a 3-bit exponent"
            )
    return mant, exp
