"""The quantiser's registers: the rules of :mod:`lava_nt.spec.quantization` applied on numpy
(weights, mantissa / exponent pairs, threshold, decays) with the statistics of each, and the
quantiser's own limits (netx target, relaxed no-wrap bound)."""

from __future__ import annotations

import math

import numpy as np

from lava_nt.converters.quantize.report import TensorQuant
from lava_nt.spec.fixed import (
    DECAY_MAX,
    DECAY_UNITY,
    VTH_MAX,
    dense_effective_weights,
)
from lava_nt.spec.quantization import (
    K_MAX,
    current_decay_register,
    decay_register,
    decay_units,
    mantissa,
    mantissa_exponents,
    round_half_away,
    threshold_register,
    threshold_units,
    weight_exponent,
    weight_index,
    weight_unit,
    weight_units,
)

#: netx casts weights to int and re-derives its own exponent from 8-bit values: weight_exp <= 0.
NETX_WEIGHT_EXP_MAX = 0
#: netx reads the bias with a fixed bias_exp of 6 (lava-dl 0.6.0 ``hdf5.py``: ``'bias_exp': 6``
#: for CUBA neurons, the bias is ``bias << 6``).
NETX_BIAS_EXP = 6
#: Below this many threshold units the worst-case no-wrap bound on u is relaxed.
MIN_VTH_MANT = 256
TARGETS = ("lava", "netx")
_SAFE = 0.49  # values below k + 0.5 round to k (half away from zero)


class QuantizationError(ValueError):
    """A parameter cannot be represented in Loihi fixed point (with the reason)."""


# ---- rounding helpers -----------------------------------------------------------------------
def _round(x) -> np.ndarray:
    """:func:`~lava_nt.spec.quantization.round_half_away` of ``x`` as a float64 array."""
    return round_half_away(np.asarray(x, dtype=np.float64))


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
    e = weight_exponent(wmax, S, exp_max)
    unit = weight_unit(e)
    q = weight_units(W, S, e)
    k = weight_index(q)
    clipped = k != round_half_away(q)
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
    exps = mantissa_exponents(q, mant_max, exp_mode, exp_max)
    mant = mantissa(q, exps, mant_max)
    clipped = mant != round_half_away(q / 2.0**exps)
    deq = mant * 2.0**exps / S
    tq = _stats(name, x, deq, clipped, np.sign(x) * mant_max * 2.0**exps / S)
    return mant.astype(np.int64), exps.astype(np.int64), tq


def _quantize_vth(vth: float, S: float, where: str):
    raw = float(_round(threshold_units(vth, S)))
    if raw < 1:
        raise QuantizationError(
            f"{where}: threshold vth={vth:g} at scale S={S:g} is {vth * S / 64:.3g} threshold "
            "units, below the smallest representable 1 (vth << 6 = 64 voltage units); the "
            "threshold is too small for this scale"
        )
    v = float(threshold_register(np.float64(raw)))
    return int(v), _stats("vth", [vth], [v * 64 / S], [v != raw], [VTH_MAX * 64 / S])


def _quantize_du(du, where: str, name: str = "du"):
    """The current decay register(s) of ``du`` (a scalar, or one per neuron elementwise):
    ``(register, TensorQuant)`` with an int register, or an int64 ``(n,)`` array."""
    d = np.asarray(du, dtype=np.float64)
    flat = d.reshape(-1)
    at = (lambda i: "") if d.ndim == 0 else (lambda i: f" (neuron {i})")
    bad = np.flatnonzero(~(flat > 0))
    if bad.size:
        raise QuantizationError(
            f"{where}: {name}=0{at(bad[0])} (current never decays) is not representable: "
            f"Loihi's current decay is (du+1)/4096 >= 1/4096; use {name} >= 1/4096"
        )
    q = decay_units(flat)
    bad = np.flatnonzero(_round(q) < 1)
    if bad.size:
        raise QuantizationError(
            f"{where}: {name}={flat[bad[0]]:g}{at(bad[0])} is below the smallest representable "
            "current decay 1/4096"
        )
    r = current_decay_register(q).astype(np.int64)
    tq = _stats(name, flat, (r + 1) / DECAY_UNITY)
    return (int(r[0]) if d.ndim == 0 else r), tq


def _decay_values(x):
    """A float decay as the quantiser reads it: a float (one per layer) or a float64 ``(n,)``
    array (one per neuron)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    return float(a.reshape(-1)[0]) if a.size == 1 else a.reshape(-1)


def _register_value(r):
    """A decay register for the fixed spec: an int, or an int64 ``(n,)`` array."""
    a = np.asarray(r, dtype=np.int64)
    return int(a) if a.ndim == 0 else a.reshape(-1)


def _report_value(r):
    """A decay register for the report: an int, or a list of ints (one per neuron)."""
    a = np.asarray(r, dtype=np.int64)
    return int(a) if a.ndim == 0 else [int(v) for v in a.reshape(-1)]


def _quantize_decay(d, name: str):
    """``dv`` / ``dc``: round(d 4096) clipped to 4095 (d = 1 is not representable)."""
    d = np.asarray(d, dtype=np.float64)
    q = decay_units(d)
    reg = decay_register(q)
    tq = _stats(
        name, d, reg / DECAY_UNITY, reg != _round(q), np.full(d.shape, DECAY_MAX / DECAY_UNITY)
    )
    return reg.astype(np.int64), tq
