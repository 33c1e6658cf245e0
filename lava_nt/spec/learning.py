"""Local bias learning of NTLIF layers, defined once (floating point and Loihi integers).

A rule a neuromorphic core can run on its own: every quantity is held by the core of the neuron
(its spike, its voltage, a counter) or arrives there as a graded spike (the error). One sample is a
window of ``T`` steps; per tuned layer ``l`` and neuron ``i``::

    elig_i   = sum_{t < T} [ s_i[t]  or  v_i[t] > vth - band ]          eligibility count
    e_j      = learn * (target_j(y) - count_j)                          output error, j < n_out
    target_j = T * r_on  if neuron j codes the label y, else T * r_off  (population code)
    l_i      = sum_j B_ij e_j                                           error through B (Dense)
    b_i     += eta_i * l_i * elig_i                                     float update, once a sample

Legend: ``s_i[t]`` the neuron's spike and ``v_i[t]`` its voltage *after* the step (after the
reset), ``vth`` the layer's threshold, ``band`` (> 0, voltage units) the width of the eligible
strip below threshold (a one-sided boxcar surrogate: a step counts when the neuron spiked or ended
within ``band`` below threshold), ``count_j`` output neuron ``j``'s spikes in the window,
``learn`` 1 on tuning samples and 0 on test samples, ``r_on``/``r_off`` the target rates of the
trainer's ``"mse"`` loss, ``B`` the fixed feedback matrix ``[n_l, n_out]`` (identity / ``[I 0]``
or a least-squares ``M``), ``eta_i`` the learning rate (scalar or one per neuron).

Fixed point (integers everywhere; ``v``, ``band`` and ``vth << 6`` in Loihi voltage units)::

    elig_i   = sum_{t < T} [ s_i[t]  or  v_i[t] > (vth << 6) - band ]
    target_j = round(T * r_on) | round(T * r_off)                       (integers)
    l_i      = dense_fixed_output( sum_j B_eff_ij e_j , B_exp )         Lava's bit-accurate Dense
    d_i      = rshift_round( eta_mant_i * l_i * elig_i , eta_shift )
    bias_mant_i = clip( bias_mant_i + d_i , -4096, 4095 )               13-bit signed saturation

``rshift_round(x, s) = sign(x) * ((|x| + 2**(s-1)) >> s)`` (``x`` for ``s = 0``) divides by
``2**s`` rounding half away from zero, the rounding rule of :mod:`lava_nt.spec.quantization`;
``eta_mant`` is an unsigned 12-bit mantissa and ``eta_shift`` in ``0 .. 24``. The update changes
the mantissa only (``bias_exp`` stays), so a step of 1 is ``2**bias_exp`` voltage units.

Gain and spiking-bias weight rules
----------------------------------
The same eligibility step ``inc_i[t] = [ s_i[t] or v_i[t] > vth - band ]`` and the same error
``l_i`` drive two more updates, each the derivative of the neuron's input through *this* step
(the one-step approximation of the bias rule: the leak's memory and the resets are ignored)::

    v_i[t] = (1 - dv) v_i[t-1] + g_i (u_i[t] + b_i) + c_i[t]         (the NTLIF step)
    d v_i[t] / d g_i  = u_i[t] + b_i                                the neuron's own state
    d v_i[t] / d w_j  = trace_j[t]   for i in group(j)                the bias neuron's trace

Gain (per neuron ``i`` of a tuned layer)::

    elig_g_i = sum_{t < T} inc_i[t] * (u_i[t] + b_i)
    g_i     += eta_g_i * l_i * elig_g_i

Spiking-bias weight ``w_j`` of bias neuron ``j`` (``C_j[t] = c_retention_j C_j[t-1] + w_j
s_b_j[t]``; the target neuron ``i`` receives ``C_group(i)[t]``, so ``C_j = w_j trace_j``)::

    trace_j[t] = c_retention_j * trace_j[t-1] + s_b_j[t]             pre trace, 0 at sample start
    elig_w_i   = sum_{t < T} inc_i[t] * trace_group(i)[t]            held by target neuron i
    q_i        = l_i * elig_w_i                                      sent back to the bias neuron
    w_j       += eta_w_j * sum_{i in group(j)} q_i

Legend: ``u_i[t]`` the synaptic current after step ``t``, ``b_i`` the (sample's) bias, ``g_i``
the gain, ``s_b_j[t]`` bias neuron ``j``'s spike, ``c_retention_j`` its current's retention,
``eta_g``/``eta_w`` rates >= 0 (one per neuron / per bias neuron, or one value).

Fixed point (``x_i[t] = u_i[t] + (bias_mant_i << bias_exp_i)`` is what ``fixed_ntlif_step``
multiplies by ``gain_mant``; ``dc`` the bias neuron's current decay register)::

    elig_g_i  = sat24( elig_g_i + inc_i[t] * rshift_round(x_i[t], 8) )     pre-shift GAIN_SHIFT
    gain_mant_i = clip( gain_mant_i + rshift_round(eta_mant_i * sat24(l_i) * elig_g_i,
                                                   eta_shift), -2048, 2047 )    12-bit signed
    trace_j[t] = sat24( trunc((4096 - dc_j) * trace_j[t-1] / 4096) + (s_b_j[t] << 8) )
    elig_w_i  = sat24( elig_w_i + inc_i[t] * trace_group(i)[t] )
    q_i       = sat24( rshift_round(sat24(l_i) * elig_w_i, 8) )          a 24-bit graded message
    Q_j       = clip( sum_{i in group(j)} q_i , -(2**47 - 1), 2**47 - 1 )
    w_b_mant_j = clip( w_b_mant_j + rshift_round(eta_mant_j * Q_j, eta_shift), -4096, 4095 )

``sat24`` saturates to ``±(2**23 - 1)``. The pre-shifts are the partners' own fractional bits:
``gain_mant`` multiplies ``x`` and drops 8 bits (:data:`~lava_nt.spec.fixed.GAIN_SHIFT`), so
``elig_g`` counts in units of one gain LSB's effect on ``v``; the trace holds ``2**8`` per spike
(:data:`TRACE_SHIFT`), which ``q`` removes again. Overflow: every product stays inside int64 --
``|eta_mant * sat24(l) * elig_g| < 2**12 * 2**23 * 2**23 = 2**58``, ``|sat24(l) * elig_w| <
2**46`` and ``|eta_mant * Q| < 2**12 * 2**47 = 2**59``. ``eta_shift`` of these two updates is in
``0 .. 48`` (:data:`UPDATE_SHIFT_MAX`; the products are wider than the bias rule's). The updates
change the mantissas only: one step of ``w_b_mant`` is ``2**w_b_exp`` voltage units per bias
spike, one step of ``gain_mant`` is ``1/256`` of unity gain.

Readout output
--------------
A network that ends in a non-spiking integrator readout (:mod:`lava_nt.spec.readout`; unit ``j``
is class ``j``, as the trainer reads it) has no output spikes to count. Its error compares the
readout *value* of the window with a per-class target, a one-hot scaled target (the trainer's
cross-entropy pushes the label's value up and the others down; the local rule pulls them to two
levels)::

    value_j  = v_j[T-1]            ("last")     or  max_{t < T} v_j[t]   ("max")
    target_j = on  if j == y  else  off          (readout value units; integers in fixed point)
    e_j      = learn * (target_j - value_j)
    fixed:     e_j = sat24( rshift_round(learn * (target_j - value_j), err_shift) )
    b_j     += eta_r * e_j                                        the readout's own bias
    bias_mant_j = clip( bias_mant_j + rshift_round(eta_r_mant * e_j, eta_r_shift), -4096, 4095 )

Both reductions run online (the last value, a running maximum) and are integers in fixed point;
``"mean"`` (a float64 division of the integer sum in fixed point) is refused. The readout bias
update is the delta rule: the exact gradient descent step on ``(target_j - value_j)**2 / 2`` with
respect to ``b_j`` up to the positive factor ``c = d value_j / d b_j``, which the rate absorbs.
For netx's readout (``dv = 1``: ``v = u + b``) ``c = 1`` for both reductions; for a leaky
voltage (``dv < 1``) ``"last"`` has the constant ``c = sum_{k < T} (1 - dv)**k`` and ``"max"`` a
factor between 1 and that ``c``. The tuned spiking layers below get ``l = B e`` exactly as with a
spiking output (``B [n_l, n_readout]``). A readout's value lives in 24-bit voltage units, so
in fixed point the error is first divided by ``2**err_shift`` (rounded half away from zero):
``err_shift`` in ``0 .. 24`` is the smallest shift that keeps every ``l = B e`` inside 24 bits
whatever the values (:func:`readout_error_bound`: ``max_i sum_j |B_eff_ij| * e_max`` scaled by
``B_exp``, ``e_max = min(2**23 - 1, 2**(24 - err_shift))``, below ``2**23``), as a graded
message on the chip and Lava's 32-bit Dense accumulation need; the rates absorb the factor.

Every function here uses operators (and ``where``/``clip``/``sign``/``abs`` of the array's own
namespace) only, so the same code runs on numpy arrays (the twin and the Lava ProcessModels) and
on torch tensors.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from lava_nt.spec.fixed import (
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    C_BITS,
    DECAY_SHIFT,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_SHIFT,
    VTH_SHIFT,
    WB_MANT_MAX,
    WB_MANT_MIN,
    as_int64,
    dense_fixed_output,
    saturate,
    trunc_shift,
)
from lava_nt.spec.ntlif import ArrayLike
from lava_nt.spec.quantization import round_half_away
from lava_nt.spec.validation import ParameterError, as_values, check_shape

#: Unsigned bits of the fixed-point learning-rate mantissa ``eta_mant``.
ETA_MANT_BITS = 12
ETA_MANT_MAX = (1 << ETA_MANT_BITS) - 1
#: Largest right shift ``eta_shift`` of the fixed-point update.
ETA_SHIFT_MAX = 24
#: Largest eligibility band in fixed point (the 24-bit voltage range).
BAND_MAX = (1 << 23) - 1
#: What can learn: the neuron's bias, its gain, and the weights of its spiking bias.
LEARN_KINDS = ("bias", "gain", "sb_weight")
#: Largest right shift of the fixed-point gain and spiking-bias weight updates.
UPDATE_SHIFT_MAX = 48
#: Fractional bits of the fixed-point spiking-bias trace (a spike adds ``2**8``).
TRACE_SHIFT = 8
#: Bits of the signed, saturating gain/weight eligibility registers, trace and messages.
ELIG_BITS = 24
#: Saturation of the group sum ``Q_j`` of the spiking-bias weight rule.
GROUP_SUM_MAX = (1 << 47) - 1


class LearningParameters(NamedTuple):
    """Float learning parameters of one tuned layer.

    Attributes:
        eta: learning rate (>= 0), a scalar or one per neuron ``(n,)``.
        band: eligible strip below threshold (> 0, voltage units).
    """

    eta: ArrayLike = 0.0
    band: float = 0.5


class FixedLearningParameters(NamedTuple):
    """Integer learning parameters of one tuned layer.

    Attributes:
        eta_mant: unsigned 12-bit rate mantissa, a scalar or one per neuron ``(n,)``.
        eta_shift: right shift of the update (0 .. 24), one per layer.
        band: eligible strip below ``vth << 6`` in voltage units (integer > 0).
    """

    eta_mant: ArrayLike = 0
    eta_shift: int = 0
    band: int = 1


class Rate(NamedTuple):
    """Float rate of a gain or spiking-bias weight update.

    Attributes:
        eta: learning rate (>= 0), a scalar or one per neuron (gain: ``(n,)``; weight: one per
            bias neuron ``(m,)``).
    """

    eta: ArrayLike = 0.0


class FixedRate(NamedTuple):
    """Integer rate of a gain or spiking-bias weight update.

    Attributes:
        eta_mant: unsigned 12-bit rate mantissa, a scalar or one per (bias) neuron.
        eta_shift: right shift of the update (0 .. 48), one per layer.
    """

    eta_mant: ArrayLike = 0
    eta_shift: int = 0


class Targets(NamedTuple):
    """Target spike counts of the output population code over a window.

    Attributes:
        on: count wanted from each neuron of the label's population (``T * r_on``).
        off: count wanted from every other output neuron (``T * r_off``).
        n_classes: classes of the population code (``n_out`` is a multiple).
    """

    on: float
    off: float
    n_classes: int


def _number(x, where: str, name: str) -> float:
    v = as_values(x, where, name)
    if v.ndim != 0 or not np.isfinite(v):
        raise ParameterError(f"{where}: '{name}' must be one finite number, got {x!r}")
    return float(v)


def _integer(x, where: str, name: str, lo: int, hi: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral | np.integer):
        raise ParameterError(f"{where}: '{name}' must be an int, got {x!r}")
    if not lo <= int(x) <= hi:
        raise ParameterError(f"{where}: '{name}' must be in [{lo}, {hi}], got {x}")
    return int(x)


def learning_parameters(n: int, eta=0.0, band=0.5, where: str = "learning") -> LearningParameters:
    """Validated :class:`LearningParameters` for a layer of ``n`` neurons: ``eta`` finite and
    >= 0 (scalar or ``(n,)``), ``band`` finite and > 0."""
    e = as_values(eta, where, "eta")
    check_shape(e, where, "eta", n)
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise ParameterError(f"{where}: 'eta' must be finite and >= 0, got {eta!r}")
    b = _number(band, where, "band")
    if b <= 0:
        raise ParameterError(f"{where}: 'band' must be > 0 (voltage units), got {band!r}")
    eta = float(e) if e.ndim == 0 else e.astype(np.float64).copy()
    return LearningParameters(eta, b)


def fixed_learning_parameters(
    n: int, eta_mant=0, eta_shift=0, band=1, where: str = "learning(fixed)"
) -> FixedLearningParameters:
    """Validated :class:`FixedLearningParameters`: ``eta_mant`` integers in ``0 .. 4095``
    (scalar or ``(n,)``), ``eta_shift`` in ``0 .. 24``, ``band`` an integer in
    ``1 .. 2**23 - 1``."""
    m = as_values(eta_mant, where, "eta_mant")
    check_shape(m, where, "eta_mant", n)
    if np.any(m != np.round(m)) or np.any(m < 0) or np.any(m > ETA_MANT_MAX):
        raise ParameterError(
            f"{where}: 'eta_mant' must hold integers in [0, {ETA_MANT_MAX}] (unsigned "
            f"{ETA_MANT_BITS}-bit), got {eta_mant!r}"
        )
    shift = _integer(eta_shift, where, "eta_shift", 0, ETA_SHIFT_MAX)
    band = _integer(band, where, "band", 1, BAND_MAX)
    mant = int(m) if m.ndim == 0 else m.astype(np.int64)
    return FixedLearningParameters(mant, shift, band)


def rate(n: int, eta=0.0, where: str = "rate") -> Rate:
    """Validated :class:`Rate` for ``n`` (bias) neurons: ``eta`` finite and >= 0, a scalar or
    ``(n,)``."""
    return Rate(learning_parameters(n, eta, 1.0, where).eta)


def fixed_rate(n: int, eta_mant=0, eta_shift=0, where: str = "rate(fixed)") -> FixedRate:
    """Validated :class:`FixedRate`: ``eta_mant`` integers in ``0 .. 4095`` (scalar or ``(n,)``),
    ``eta_shift`` an int in ``0 .. 48``."""
    mant = fixed_learning_parameters(n, eta_mant, 0, 1, where).eta_mant
    return FixedRate(mant, _integer(eta_shift, where, "eta_shift", 0, UPDATE_SHIFT_MAX))


def targets(T: int, rates=(0.5, 0.0), n_classes: int = 2, fixed: bool = False,
            where: str = "targets") -> Targets:  # fmt: skip
    """:class:`Targets` of a window of ``T`` steps for target rates ``(r_on, r_off)`` in [0, 1]
    (the trainer's ``"mse"`` target rates); integers ``round(T * r)`` in fixed point."""
    T = _integer(T, where, "T", 1, 1 << 16)
    n_classes = _integer(n_classes, where, "n_classes", 1, 1 << 20)
    if len(tuple(rates)) != 2:
        raise ParameterError(f"{where}: 'rates' must be (r_on, r_off), got {rates!r}")
    r_on, r_off = (_number(r, where, "rates") for r in rates)
    for r in (r_on, r_off):
        if not 0.0 <= r <= 1.0:
            raise ParameterError(f"{where}: target rates must be in [0, 1], got {rates!r}")
    if fixed:
        return Targets(int(round_half_away(T * r_on)), int(round_half_away(T * r_off)), n_classes)
    return Targets(T * r_on, T * r_off, n_classes)


# ---- the rule (operators only) ----------------------------------------------------------------
def _cast_like(mask, ref):
    """A boolean ``mask`` in ``ref``'s dtype (numpy or torch)."""
    if hasattr(mask, "to") and not isinstance(mask, np.ndarray):
        return mask.to(ref.dtype)
    return np.asarray(mask).astype(np.asarray(ref).dtype)


def eligibility_increment(s, v, vth, band):
    """1 where the neuron spiked or its (post-step) voltage ``v`` lies above ``vth - band``,
    else 0, in ``v``'s dtype (float: ``vth`` the threshold; fixed: pass ``vth << 6``)."""
    return _cast_like((s > 0) | (v > vth - band), v)


def eligibility_step(elig, s, v, vth, band):
    """``elig + eligibility_increment(s, v, vth, band)``: the counter after one step."""
    return elig + eligibility_increment(s, v, vth, band)


def fixed_threshold(vth):
    """A fixed-point threshold register in voltage units (``vth << 6``), as the step compares."""
    return vth << VTH_SHIFT


def population_target(label, n_out: int, tg: Targets):
    """Target counts ``[n_out]`` for ``label`` (an int): ``tg.on`` for the ``n_out //
    n_classes`` neurons of class ``label``, ``tg.off`` elsewhere (numpy, the targets' type)."""
    pop = n_out // tg.n_classes
    cls = np.arange(n_out) // pop
    dtype = np.int64 if isinstance(tg.on, numbers.Integral) else np.float64
    return np.where(cls == int(label), tg.on, tg.off).astype(dtype)


def output_error(count, target, learn):
    """``learn * (target - count)``: the error of one window (``learn`` 1 or 0)."""
    return learn * (target - count)


def feedback_signal(B, e):
    """Float ``l = B e``: what a graded Dense of weights ``B [n_l, n_out]`` delivers."""
    return B @ e


def fixed_feedback_signal(B_eff, e, B_exp: int):
    """Integer ``l``: Lava's bit-accurate graded Dense with effective weights ``B_eff``
    (:func:`lava_nt.spec.fixed.dense_effective_weights`) and exponent ``B_exp``."""
    return dense_fixed_output(B_eff @ e, B_exp)


def bias_update(bias, l, elig, p: LearningParameters):
    """Float ``bias + eta * l * elig`` (one update; ``l = 0`` leaves ``bias`` unchanged)."""
    return bias + p.eta * l * elig


def rshift_round(x, shift: int):
    """``x / 2**shift`` rounded half away from zero, on integers (``x`` for ``shift = 0``)."""
    if shift == 0:
        return x
    xp = np if isinstance(x, np.ndarray | numbers.Number) else _torch_ns(x)
    return xp.sign(x) * ((xp.abs(x) + (1 << (shift - 1))) >> shift)


def _torch_ns(x):
    import torch  # lazy: torch tensors only; lava_nt.spec is numpy-only (import lava_nt)

    return torch


def fixed_bias_delta(l, elig, p: FixedLearningParameters):
    """The integer mantissa change ``rshift_round(eta_mant * l * elig, eta_shift)``."""
    return rshift_round(p.eta_mant * l * elig, p.eta_shift)


def fixed_bias_update(bias_mant, l, elig, p: FixedLearningParameters):
    """``clip(bias_mant + fixed_bias_delta(l, elig, p), -4096, 4095)`` (13-bit signed)."""
    new = bias_mant + fixed_bias_delta(l, elig, p)
    xp = np if isinstance(new, np.ndarray | numbers.Number) else _torch_ns(new)
    return xp.clip(new, BIAS_MANT_MIN, BIAS_MANT_MAX)


# ---- gain and spiking-bias weight rules (operators only) ---------------------------------------
def _xp(x):
    return np if isinstance(x, np.ndarray | numbers.Number) else _torch_ns(x)


def gain_eligibility_step(elig_g, inc, u, bias):
    """Float ``elig_g + inc * (u + bias)`` (``inc`` from :func:`eligibility_increment`, ``u`` the
    post-step current)."""
    return elig_g + inc * (u + bias)


def fixed_gain_eligibility_step(elig_g, inc, u, bias_mant, bias_exp):
    """``sat24(elig_g + inc * rshift_round(u + (bias_mant << bias_exp), 8))``."""
    x = as_int64(u) + (bias_mant << bias_exp)
    return saturate(elig_g + inc * rshift_round(x, GAIN_SHIFT), ELIG_BITS)


def gain_update(gain, l, elig_g, r: Rate):
    """Float ``gain + eta * l * elig_g``."""
    return gain + r.eta * l * elig_g


def fixed_gain_delta(l, elig_g, r: FixedRate):
    """The integer gain change ``rshift_round(eta_mant * sat24(l) * elig_g, eta_shift)``."""
    return rshift_round(r.eta_mant * saturate(l, ELIG_BITS) * elig_g, r.eta_shift)


def fixed_gain_update(gain_mant, l, elig_g, r: FixedRate):
    """``clip(gain_mant + fixed_gain_delta(l, elig_g, r), -2048, 2047)`` (12-bit signed)."""
    new = gain_mant + fixed_gain_delta(l, elig_g, r)
    return _xp(new).clip(new, GAIN_MIN, GAIN_MAX)


def sb_trace_step(trace, s_b, c_retention):
    """Float pre trace of the bias neurons: ``c_retention * trace + s_b``."""
    return c_retention * trace + s_b


def fixed_sb_trace_step(trace, s_b, dc):
    """``sat24(trunc((4096 - dc) * trace / 4096) + (s_b << 8))``: the trace decays as the
    current ``C`` does (same register ``dc``, same truncation) and a spike adds ``2**8``."""
    decayed = trunc_shift(as_int64(trace) * (DECAY_UNITY - dc), DECAY_SHIFT)
    return saturate(decayed + s_b * (1 << TRACE_SHIFT), C_BITS)


def fan_out(x, group):
    """``x[..., group]``: a bias-neuron quantity at each target neuron (``x`` if ``group`` is
    None, one bias neuron per target neuron)."""
    return x if group is None else x[..., group]


def sb_eligibility_step(elig_w, inc, trace_target):
    """Float ``elig_w + inc * trace_target`` (the trace fanned out to the target neurons)."""
    return elig_w + inc * trace_target


def fixed_sb_eligibility_step(elig_w, inc, trace_target):
    """``sat24(elig_w + inc * trace_target)``."""
    return saturate(elig_w + inc * trace_target, ELIG_BITS)


def sb_signal(l, elig_w):
    """Float ``q = l * elig_w``: what each target neuron sends back to its bias neuron."""
    return l * elig_w


def fixed_sb_signal(l, elig_w):
    """``sat24(rshift_round(sat24(l) * elig_w, 8))``: a 24-bit graded message."""
    return saturate(rshift_round(saturate(l, ELIG_BITS) * elig_w, TRACE_SHIFT), ELIG_BITS)


def group_matrix(group, m: int) -> np.ndarray | None:
    """The one-hot ``[m, n]`` matrix of a target -> bias-neuron assignment (numpy bool; None for
    ``group`` None, one bias neuron per target)."""
    if group is None:
        return None
    g = np.asarray(group.detach().cpu().numpy() if hasattr(group, "detach") else group)
    return g[None, :] == np.arange(m)[:, None]


def group_sum(q, G):
    """``Q_j = sum_{i in group(j)} q_i`` with ``G`` from :func:`group_matrix` (``q`` if None)."""
    return q if G is None else (G * q).sum(-1)


def sb_weight_update(w_b, Q, r: Rate):
    """Float ``w_b + eta * Q``."""
    return w_b + r.eta * Q


def fixed_sb_weight_update(w_b_mant, Q, r: FixedRate):
    """``clip(w_b_mant + rshift_round(eta_mant * clip(Q, ±(2**47-1)), eta_shift), -4096, 4095)``
    (13-bit signed, the bias weight's mantissa)."""
    xp = _xp(Q)
    d = rshift_round(r.eta_mant * xp.clip(Q, -GROUP_SUM_MAX, GROUP_SUM_MAX), r.eta_shift)
    return xp.clip(w_b_mant + d, WB_MANT_MIN, WB_MANT_MAX)


# ---- readout output (operators only) ------------------------------------------------------------
#: The readout reductions a local rule computes online (the last value, a running maximum).
READOUT_REDUCTIONS = ("last", "max")


def check_readout_reduction(how: str, where: str) -> str:
    """``how`` if the rule can learn through it (:data:`READOUT_REDUCTIONS`), else a
    :class:`ParameterError` that says why."""
    if how not in READOUT_REDUCTIONS:
        raise ParameterError(
            f"{where}: on-device tuning reads the readout as 'last' or 'max' (online, integers in "
            f"fixed point), not {how!r}; import the model with reduce='last' or 'max'"
        )
    return how


def readout_targets(on, off, n_classes: int, fixed: bool = False,
                    where: str = "readout targets") -> Targets:  # fmt: skip
    """:class:`Targets` of a readout in its value units: ``on`` for the label's unit, ``off``
    for the others (finite numbers; integers within 24 bits in fixed point)."""
    n_classes = _integer(n_classes, where, "n_classes", 1, 1 << 20)
    on, off = _number(on, where, "on"), _number(off, where, "off")
    if not fixed:
        return Targets(on, off, n_classes)
    lim = (1 << (ELIG_BITS - 1)) - 1
    if any(t != round(t) or abs(t) > lim for t in (on, off)):
        raise ParameterError(f"{where}: fixed-point targets must be integers within ±{lim}")
    return Targets(int(on), int(off), n_classes)


def readout_value_step(value, v, first: bool, how: str):
    """The window's readout value after a step with voltage ``v``: ``v`` on the window's first
    step and for ``"last"``, else the running maximum (``"max"``)."""
    if first or how == "last":
        return v
    return _xp(v).maximum(value, v)


def fixed_readout_error(value, target, learn, shift: int = 0):
    """``sat24(rshift_round(learn * (target - value), shift))``: the readout error as a 24-bit
    graded message."""
    return saturate(rshift_round(output_error(value, target, learn), shift), ELIG_BITS)


def readout_error_bound(B_eff, B_exp: int, shift: int) -> int:
    """The largest ``|l_i|`` a feedback Dense (effective weights ``B_eff``, exponent ``B_exp``)
    can deliver from fixed-point readout errors of ``err_shift = shift``."""
    e_max = min((1 << (ELIG_BITS - 1)) - 1, 1 << (ELIG_BITS - shift))
    row = int(np.abs(np.asarray(B_eff, np.int64)).sum(axis=1).max(initial=0))
    return int(dense_fixed_output(np.int64(row * e_max), int(B_exp)))


def readout_error_shift(feedback_eff, feedback_exp) -> int:
    """The smallest ``err_shift`` in ``0 .. 24`` whose :func:`readout_error_bound` stays below
    ``2**23`` for every feedback matrix (24 if none does)."""
    lim = 1 << (ELIG_BITS - 1)
    for shift in range(ELIG_BITS + 1):
        if all(readout_error_bound(B, e, shift) < lim
               for B, e in zip(feedback_eff, feedback_exp, strict=True)):  # fmt: skip
            return shift
    return ELIG_BITS


def readout_bias_update(bias, e, r: Rate):
    """Float ``bias + eta * e`` (the delta rule)."""
    return bias + r.eta * e


def fixed_readout_bias_update(bias_mant, e, r: FixedRate):
    """``clip(bias_mant + rshift_round(eta_mant * e, eta_shift), -4096, 4095)`` (``|eta_mant *
    e| < 2**35``)."""
    new = bias_mant + rshift_round(r.eta_mant * e, r.eta_shift)
    return _xp(new).clip(new, BIAS_MANT_MIN, BIAS_MANT_MAX)
