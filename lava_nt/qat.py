"""Quantisation-aware tuning (QAT): train through the bit-exact fixed-point dynamics.

:class:`QATNetwork` wraps a pretrained :class:`~lava_nt.nn.network.NTNetwork` (after
:func:`lava_nt.tuning.apply_tuning`) or a float :class:`~lava_nt.network.NetworkSpec` together with
the quantiser's per-layer voltage scales ``S`` (:func:`lava_nt.converters.quantize.quantize`).
Its forward pass *is* the Loihi-compatible integer network of :mod:`lava_nt.spec.fixed` (the
one Lava's fixed-point models run), computed on float64 tensors that hold exact integers, while
surrogate and straight-through gradients reach the trainable parameters:

* every register is what the quantiser would write at the given scales: ``bias_mant << bias_exp
  = round(b S)`` (13-bit mantissa, per-neuron / per-layer / fixed exponent), ``gain_mant =
  round(256 g)`` (12-bit signed), ``w_b_mant << w_b_exp = round(w_b S)``, ``dc = round((1 -
  alpha) 4096)``, weight mantissas ``2 round(W S / 2**(7+e))`` -- rounding half away from zero,
  clipping to the register widths; the forward uses the rounded value, the backward the identity
  (straight-through estimator, STE) with respect to the float *latent* parameter;
* the dynamics are :func:`~lava_nt.spec.fixed.fixed_ntlif_step` and
  :func:`~lava_nt.spec.fixed.fixed_spiking_bias_step` operation for operation: products of
  integers (exact in float64: every value stays below 2**37), truncation toward zero after the
  12-bit decays and the 8-bit gain shift (STE: gradient of the exact quotient), the 24-bit wrap of
  ``u`` (STE) and the saturation of ``v`` and ``C`` (clamp);
* the spike is ``v > vth << 6`` exactly; its surrogate gradient acts on ``(v - (vth << 6)) / S``,
  i.e. on the float network's ``v - vth``, so surrogate slopes keep their meaning and gradients
  have the float network's magnitude.

Hence ``QATNetwork(x)`` gives bit for bit the spikes of
:func:`~lava_nt.nn.fixed_emulator.emulate_fixed` and of Lava's fixed-point run of
:meth:`QATNetwork.to_fixed_spec`, which holds the integer mantissas used in training (tests prove
it, and :meth:`to_fixed_spec` re-checks that :func:`~lava_nt.converters.quantize.quantize` of
:meth:`to_float_spec` at the same scales yields the same registers). What is trained is what the
chip runs.

Usage::

    net = build_network(160, [400, 800], 2, 50); ...pretrain...
    apply_tuning(net, "nt2")                     # freeze, choose what is trainable
    qat = QATNetwork(net)                        # scales chosen by quantize(net.to_spec())
    train(qat, (x, y), TrainConfig(...), val_data=...)
    fixed = qat.to_fixed_spec()                  # deploy: run_network(fixed, x, "fixed")

:func:`compare_qat` measures float tuning, post-training quantisation and QAT on the synthetic EEG
example (``python -m lava_nt.qat --help``); see ``docs/qat.md``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE, make_spike_fn
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    C_BITS,
    DECAY_MAX,
    DECAY_SHIFT,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_SHIFT,
    GAIN_UNITY,
    UV_BITS,
    VTH_SHIFT,
    WB_EXP_MAX,
    WB_MANT_MAX,
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "QATError",
    "QATLayer",
    "QATNetwork",
    "compare_qat",
    "compare_report",
    "fixed_spec_differences",
    "round_half_away",
    "ste",
]

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


# ---- fused recurrences: integer forward (the spec's helpers), hand-written BPTT ------------------
class _LIFConfig(NamedTuple):
    du: int
    dv: int
    vth: int
    S: float
    reset_subtract: bool
    spike_fn: Any


def _surrogate_derivative(spike_fn, x: torch.Tensor) -> torch.Tensor:
    """Elementwise d spike_fn / dx at ``x`` (the surrogate's backward, one call for all steps)."""
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        out = spike_fn(xx)
        if not out.requires_grad:  # e.g. "heaviside": no surrogate, no gradient
            return torch.zeros_like(x)
        (g,) = torch.autograd.grad(out.sum(), xx, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _sum_to(g: torch.Tensor, n: int) -> torch.Tensor:
    return g.reshape(-1, n).sum(0)


def _trunc_mul(x: torch.Tensor, f: float) -> torch.Tensor:
    """``trunc(x * f)`` for integer-valued float64 ``x`` and a dyadic ``f = k / 2**s`` (``|k| <
    2**12``): the product is exact (``|x| < 2**40``), so this is the spec's ``trunc_shift(x * k,
    s)`` bit for bit."""
    return torch.trunc(x * f)


def _wrap_exact(x: torch.Tensor) -> torch.Tensor:
    """The spec's :func:`~lava_nt.spec.fixed.wrap_u` on integer-valued float64 (no gradient)."""
    h = float(_HALF_UV)
    w = torch.where(x > h, x - 2 * h, x)
    return torch.where(w <= -h, x + 2 * h, w)


class _FixedLIF(torch.autograd.Function):
    """All ``T`` steps of :func:`~lava_nt.spec.fixed.fixed_ntlif_step` (reset detached) with the
    straight-through BPTT of :meth:`QATLayer._run_autograd`.

    Inputs: drive ``a_all [T, ..., n]`` (``a << 6``, integer-valued float64), register values
    ``bias (n,)`` (``bias_mant << bias_exp``), ``gain (n,)`` (``gain_mant``), bias current
    ``c_all [T, ..., n]`` or None; returns spikes ``[T, ..., n]`` (float64 0/1).

    Backward (``D[t]`` = dL/dv before the saturation at step ``t``, ``sg`` the surrogate
    derivative at ``(v[t] - vth) / S``, ``K[t]`` = 1 inside the 24-bit range, else 0)::

        D[t]  = K[t] (dL/ds[t] sg / S + R[t] (4096 - dv) / 4096 D[t+1])
        R[t]  = 1 (reset subtract) | 1 - s[t] (reset zero)
        dL/dc[t] = D[t];  dL/dgain = sum D (u + bias) / 256;  dL/dbias = sum D gain / 256
        dL/da[t] = D[t] gain / 256 + (4096 - (du + 1)) / 4096 dL/da[t+1]

    i.e. the float NTLIF's BPTT with the fixed-point coefficients (STE through every truncation
    and the wrap)."""

    @staticmethod
    def forward(ctx, a_all, bias, gain, c_all, cfg: _LIFConfig):
        # integer arithmetic on exact integers held in float64 (all values < 2**40)
        a = a_all.detach()
        b = bias.detach()
        g = gain.detach()
        fu = (DECAY_UNITY - (cfg.du + 1)) / DECAY_UNITY
        fv = (DECAY_UNITY - cfg.dv) / DECAY_UNITY
        vth = float(cfg.vth << VTH_SHIFT)
        lim = _UV_LIM
        steps = a.shape[0]
        # current u: depends on the drive only, so it runs first (vectorised when du = 1).
        # |u| <= max|a| / (1 - fu): when that stays inside 24 bits, u can never wrap.
        amax = float(a.abs().max()) if a.numel() else 0.0
        if fu == 0.0:
            u_all = _wrap_exact(a) if amax >= _HALF_UV else a
        else:
            may_wrap = fu >= 1.0 or amax / (1.0 - fu) >= _HALF_UV
            u_all = torch.empty(a.shape, dtype=torch.float64, device=a.device)
            u = None
            for t in range(steps):
                u = a[t] if u is None else _trunc_mul(u, fu) + a[t]
                if may_wrap:
                    u = _wrap_exact(u)
                u_all[t] = u
        # what enters v besides its own decay: trunc(gain (u + bias) / 256) + c, all steps at once
        X = torch.trunc((u_all + b) * (g / GAIN_UNITY))
        if c_all is not None:
            X = X + c_all.detach()
        # |v| <= max|X| min(T, 1 / (1 - fv)) (truncation and reset only shrink |v|)
        xmax = float(X.abs().max()) if X.numel() else 0.0
        may_sat = xmax * (steps if fv >= 1.0 else min(steps, 1.0 / (1.0 - fv))) > lim
        v_pre = torch.empty(X.shape, dtype=torch.float64, device=X.device)
        v = None
        for t in range(steps):
            v = X[t] if v is None else _trunc_mul(v, fv) + X[t]
            v_pre[t] = v
            if may_sat:
                v = v.clamp(-lim, lim)
            s = v > vth
            v = torch.where(s, v - vth, v) if cfg.reset_subtract else v.masked_fill(s, 0.0)
        vc = v_pre.clamp(-lim, lim) if may_sat else v_pre
        z = (vc > vth).to(torch.float64)
        ctx.save_for_backward(u_all, v_pre, b, g)
        ctx.cfg = cfg
        ctx.may_sat = may_sat
        ctx.has_c = c_all is not None
        return z

    @staticmethod
    def backward(ctx, gz):
        u_all, v_pre, b, g = ctx.saved_tensors
        cfg: _LIFConfig = ctx.cfg
        n = v_pre.shape[-1]
        lim = _UV_LIM
        vth = float(cfg.vth << VTH_SHIFT)
        vc = v_pre.clamp(-lim, lim) if ctx.may_sat else v_pre
        gz_v = gz * _surrogate_derivative(cfg.spike_fn, (vc - vth) / cfg.S) * (1.0 / cfg.S)
        keep = None
        if ctx.may_sat and bool((v_pre.abs() > lim).any()):
            keep = (v_pre.abs() <= lim).to(torch.float64)
        reset_keep = None if cfg.reset_subtract else (vc <= vth).to(torch.float64)
        kv = (DECAY_UNITY - cfg.dv) / DECAY_UNITY
        ku = (DECAY_UNITY - (cfg.du + 1)) / DECAY_UNITY
        D = torch.empty_like(gz)
        d = None
        for t in range(gz.shape[0] - 1, -1, -1):
            if d is None:
                dt = gz_v[t]
            elif reset_keep is None:
                dt = gz_v[t] + d
            else:
                dt = torch.addcmul(gz_v[t], d, reset_keep[t])
            if keep is not None:
                dt = dt * keep[t]
            D[t] = dt
            d = dt * kv
        need_a, need_b, need_g, need_c = ctx.needs_input_grad[:4]
        g_x = D * (g / GAIN_UNITY) if (need_a or need_b) else None
        ga = None
        if need_a:
            if ku == 0.0:
                ga = g_x
            else:
                ga = torch.empty_like(g_x)
                acc = None
                for t in range(g_x.shape[0] - 1, -1, -1):
                    acc = g_x[t] if acc is None else g_x[t] + acc * ku
                    ga[t] = acc
        gb = _sum_to(g_x, n) if need_b else None
        gg = None
        if need_g:
            gg = _sum_to(D * (u_all + b), n) / GAIN_UNITY
        gc = D if (need_c and ctx.has_c) else None
        return ga, gb, gg, gc, None


class _LeakyCurrent(torch.autograd.Function):
    """``C[t] = sat24(trunc((4096 - dc) C[t-1] / 4096) + s_b[t] w)`` for all ``T`` steps (the
    current of :func:`~lava_nt.spec.fixed.fixed_spiking_bias_step`) with straight-through BPTT.
    Inputs: bias spikes ``s_b [T, ..., m]``, register values ``w (m,)`` (``w_b_mant <<
    w_b_exp``) and ``dc (m,)``; returns ``C [T, ..., m]`` (integer-valued float64)."""

    @staticmethod
    def forward(ctx, s_b, w, dc):
        s = s_b.detach()
        wi = w.detach()
        fc = (DECAY_UNITY - dc.detach()) / DECAY_UNITY
        lim = _C_LIM
        SW = s * wi  # the jump of every step, all at once
        pre = torch.empty(s.shape, dtype=torch.float64, device=s.device)
        C = None
        for t in range(s.shape[0]):
            C = SW[t] if C is None else _trunc_mul(C, fc) + SW[t]
            pre[t] = C
            C = C.clamp(-lim, lim)
        C_all = pre.clamp(-lim, lim)
        ctx.save_for_backward(pre, C_all, s, wi, fc)
        return C_all

    @staticmethod
    def backward(ctx, gC):
        pre, C_all, s_b, w, kcf = ctx.saved_tensors
        m = C_all.shape[-1]
        lim = _C_LIM
        keep = None
        if bool((pre.abs() > lim).any()):
            keep = (pre.abs() <= lim).to(torch.float64)
        D = torch.empty_like(gC)
        d = None
        for t in range(gC.shape[0] - 1, -1, -1):
            dt = gC[t] if d is None else gC[t] + d
            if keep is not None:
                dt = dt * keep[t]
            D[t] = dt
            d = dt * kcf
        need_s, need_w, need_dc = ctx.needs_input_grad
        gs = D * w if need_s else None
        gw = _sum_to(D * s_b, m) if need_w else None
        gdc = -_sum_to(D[1:] * C_all[:-1], m) / DECAY_UNITY if need_dc else None
        return gs, gw, gdc


# ---- one layer -----------------------------------------------------------------------------------
class QATLayer(torch.nn.Module):
    """One NTLIF layer (and its optional spiking bias) in fixed point with STE gradients.

    Latent float parameters (``weight``, ``bias``, ``gain``; ``w_in``, ``w_b``, ``alpha``,
    ``bias_b`` of the spiking bias) are ``nn.Parameter`` s when trainable, buffers otherwise;
    registers are derived from them in every forward at the fixed scales ``S`` (and ``S_b``).
    """

    def __init__(
        self,
        ls: LayerSpec,
        fl: LayerSpec,
        S: float,
        S_b: float | None,
        bias_exp,
        trainable: dict[str, bool],
        surrogate=DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        sb_surrogate=None,
        sb_alpha: float | None = None,
        detach_reset: bool = True,
    ):
        super().__init__()
        p = ls.neuron
        n = ls.n
        self.n_in = int(np.asarray(ls.weight).shape[1])
        self.n = n
        self.S = float(S)
        self.bias_exp_mode = bias_exp
        self.du_f, self.dv_f, self.vth_f = float(p.du), float(p.dv), float(p.vth)
        self.reset_subtract = bool(p.reset_subtract)
        self.detach_reset = bool(detach_reset)
        self.engine = "fused"
        self._wcache: dict = {}
        self.surrogate, self.surrogate_alpha = surrogate, float(alpha)
        self.spike_fn = make_spike_fn(surrogate, alpha)
        _set(self, "weight", ls.weight, trainable["weight"])
        _set(self, "bias", np.broadcast_to(np.asarray(p.bias, np.float64), (n,)), trainable["bias"])
        _set(self, "gain", np.broadcast_to(np.asarray(p.gain, np.float64), (n,)), trainable["gain"])
        sb = ls.spiking_bias
        self.has_sb = sb is not None
        if sb is not None:
            pb = sb.params
            m = sb.m
            self.m = m
            self.S_b = float(S_b)
            self.sb_du_f, self.sb_dv_f, self.sb_vth_f = float(pb.du), float(pb.dv), float(pb.vth)
            self.sb_surrogate = surrogate if sb_surrogate is None else sb_surrogate
            self.sb_surrogate_alpha = float(alpha if sb_alpha is None else sb_alpha)
            self.sb_spike_fn = make_spike_fn(self.sb_surrogate, self.sb_surrogate_alpha)
            mask = None if sb.mask is None else torch.as_tensor(np.asarray(sb.mask, dtype=bool))
            self.register_buffer("mask", mask)
            w_in = np.asarray(sb.w_in, np.float64)
            if mask is not None:
                w_in = np.where(np.asarray(sb.mask, dtype=bool), w_in, 0.0)
            _set(self, "w_in", w_in, trainable["w_in"])
            _set(self, "bias_b", np.broadcast_to(np.asarray(pb.bias, np.float64), (m,)), False)
            _set(
                self, "w_b", np.broadcast_to(np.asarray(pb.w_b, np.float64), (m,)), trainable["w_b"]
            )
            a0 = np.broadcast_to(np.asarray(pb.alpha, np.float64), (m,))
            _set(self, "alpha", a0, trainable["alpha"])
            g = None if pb.group is None else torch.as_tensor(np.asarray(pb.group, np.int64))
            self.register_buffer("group", g)
        # frozen registers: the quantiser's (decays; thresholds depend on the fixed scales only)
        self.du, self.dv, self.vth = int(fl.neuron.du), int(fl.neuron.dv), int(fl.neuron.vth)
        if sb is not None:
            fp = fl.spiking_bias.params
            self.sb_du, self.sb_dv, self.sb_vth = int(fp.du), int(fp.dv), int(fp.vth)

    # -- registers ------------------------------------------------------------------------------
    def registers(self) -> _Registers:
        """The layer's registers at the current latent values (STE tensors and integers)."""
        k, k_int, e = self._cached_weights("weight", self.weight, self.S)
        bias, bm, be = _mant_exp(self.bias * self.S, BIAS_MANT_MAX, self.bias_exp_mode,
                                 BIAS_EXP_MAX)  # fmt: skip
        gq = self.gain * float(GAIN_UNITY)
        g_int = torch.clamp(round_half_away(gq.detach()), GAIN_MIN, GAIN_MAX)
        sb = None
        if self.has_sb:
            w = self.w_in if self.mask is None else self.w_in * self.mask
            kb, kb_int, eb = self._cached_weights("w_in", w, self.S_b)
            bb, bbm, bbe = _mant_exp(self.bias_b * self.S_b, BIAS_MANT_MAX, self.bias_exp_mode,
                                     BIAS_EXP_MAX)  # fmt: skip
            wb, wbm, wbe = _mant_exp(self.w_b * self.S, WB_MANT_MAX, "neuron", WB_EXP_MAX)
            dq = (1.0 - self.alpha) * float(DECAY_UNITY)
            dc_int = torch.clamp(round_half_away(dq.detach()), 0, DECAY_MAX)
            sb = {
                "k": kb, "k_int": kb_int, "w_exp": eb, "bias": bb, "bias_mant": bbm,
                "bias_exp": bbe, "w_b": wb, "w_b_mant": wbm, "w_b_exp": wbe,
                "dc": ste(dq, dc_int), "dc_int": dc_int,
            }  # fmt: skip
        return _Registers(k, k_int, e, bias, bm, be, ste(gq, g_int), g_int, sb)

    # -- dynamics -------------------------------------------------------------------------------
    def _cached_weights(self, name: str, w: torch.Tensor, S: float):
        """:func:`_weights` of a matrix; frozen matrices are quantised once (cache keyed on the
        tensor's identity and in-place version counter)."""
        src = getattr(self, name)
        if src.requires_grad:
            return _weights(w, S)
        key = (id(src), src._version, src.data_ptr(), S)
        hit = self._wcache.get(name)
        if hit is None or hit[0] != key:
            with torch.no_grad():
                res = _weights(w, S)
            hit = (key, res, res[0].to(torch.float32))
            self._wcache[name] = hit
        return hit[1]

    @staticmethod
    def _drive(s_in: torch.Tensor, k: torch.Tensor, e: int) -> torch.Tensor:
        """``dense_fixed_output(2k · s, e) << 6`` = ``(k · s) 2**(7+e)``.

        The product runs in float32 when that is exact: spikes are 0/1 and ``|k| <= 127``, so
        every partial sum is an integer below ``127 n_in < 2**24`` (float32's exact-integer
        range); the power-of-two factor and the cast to float64 are exact too."""
        if 127 * s_in.shape[-1] < 2**24:
            a = torch.matmul(s_in.to(torch.float32), k.to(torch.float32).T).to(torch.float64)
        else:  # pragma: no cover - more than 132,000 inputs per neuron
            a = torch.matmul(s_in.to(torch.float64), k.T)
        return a * 2.0 ** (7 + e)

    def run(self, x: torch.Tensor, T: int | None = None, record: bool = False):
        """Run ``x [T, ..., n_in]`` (or a static ``[..., n_in]`` held ``T`` steps): spikes
        ``[T, ..., n]`` and the record dict (spikes, bias_current, bias_spikes) if asked.

        ``engine`` (attribute): ``"fused"`` (default: integer forward and hand-written BPTT, one
        autograd node per recurrence) or ``"autograd"`` (the reference: every integer operation
        an autograd op with its straight-through gradient). Both compute the same forward bit
        for bit and the same gradients (tests prove it); ``detach_reset=False`` always uses
        ``"autograd"``."""
        r = self.registers()
        x = x.to(torch.float64)
        a_all = self._drive(x, r.k, r.w_exp)
        ab_all = None
        if r.sb is not None:
            ab_all = self._drive(x, r.sb["k"], r.sb["w_exp"])
        if T is not None:
            a_all = a_all.expand(T, *a_all.shape)
            if ab_all is not None:
                ab_all = ab_all.expand(T, *ab_all.shape)
        if self.engine == "fused" and self.detach_reset:
            return self._run_fused(r, a_all, ab_all, record)
        return self._run_autograd(r, a_all, ab_all, record)

    def _run_fused(self, r: _Registers, a_all, ab_all, record: bool):
        c_all = s_b = None
        if r.sb is not None:
            sb = r.sb
            unity = torch.full((self.m,), float(GAIN_UNITY), dtype=torch.float64)
            cfg_b = _LIFConfig(self.sb_du, self.sb_dv, self.sb_vth, self.S_b, False,
                               self.sb_spike_fn)  # fmt: skip
            s_b = _FixedLIF.apply(ab_all, sb["bias"], unity, None, cfg_b)
            C = _LeakyCurrent.apply(s_b, sb["w_b"], sb["dc"])
            c_all = C if self.group is None else C[..., self.group]
        cfg = _LIFConfig(self.du, self.dv, self.vth, self.S, self.reset_subtract, self.spike_fn)
        z = _FixedLIF.apply(a_all, r.bias, r.gain, c_all, cfg)
        rec = None
        if record:
            rec = {"spikes": z, "bias_current": c_all, "bias_spikes": s_b}
        return z, rec

    def _run_autograd(self, r: _Registers, a_all, ab_all, record: bool):
        steps = a_all.shape[0]
        u = torch.zeros(a_all.shape[1:], dtype=torch.float64, device=a_all.device)
        v = u
        ku = float(DECAY_UNITY - (self.du + 1))
        kv = float(DECAY_UNITY - self.dv)
        vth = float(self.vth << VTH_SHIFT)
        sb = r.sb
        if sb is not None:
            ub = torch.zeros(ab_all.shape[1:], dtype=torch.float64, device=a_all.device)
            vb, C = ub, ub
            kub = float(DECAY_UNITY - (self.sb_du + 1))
            kvb = float(DECAY_UNITY - self.sb_dv)
            vthb = float(self.sb_vth << VTH_SHIFT)
            kc = float(DECAY_UNITY) - sb["dc"]
        zs, cs, sbs = [], [], []
        for t in range(steps):
            c = 0.0
            if sb is not None:
                # bias neurons: fixed_ntlif_step with unity gain (trunc(256 x / 256) = x), reset 0
                ub = _wrap_u(_trunc_shift(ub * kub, DECAY_SHIFT) + ab_all[t])
                vb = torch.clamp(_trunc_shift(vb * kvb, DECAY_SHIFT) + (ub + sb["bias"]),
                                 -_UV_LIM, _UV_LIM)  # fmt: skip
                s_b = self.sb_spike_fn((vb - vthb) / self.S_b)
                rb = s_b.detach() if self.detach_reset else s_b
                vb = vb * (1.0 - rb)
                C = torch.clamp(_trunc_shift(C * kc, DECAY_SHIFT) + s_b * sb["w_b"],
                                -_C_LIM, _C_LIM)  # fmt: skip
                c = C if self.group is None else C[..., self.group]
                if record:
                    cs.append(c)
                    sbs.append(s_b)
            u = _wrap_u(_trunc_shift(u * ku, DECAY_SHIFT) + a_all[t])
            xg = u + r.bias
            v = _trunc_shift(v * kv, DECAY_SHIFT) + _trunc_shift(r.gain * xg, GAIN_SHIFT)
            v = torch.clamp(v + c, -_UV_LIM, _UV_LIM)
            s = self.spike_fn((v - vth) / self.S)
            rs = s.detach() if self.detach_reset else s
            v = v - rs * vth if self.reset_subtract else v * (1.0 - rs)
            zs.append(s)
        z = torch.stack(zs)
        rec = None
        if record:
            rec = {
                "spikes": z,
                "bias_current": torch.stack(cs) if cs else None,
                "bias_spikes": torch.stack(sbs) if sbs else None,
            }
        return z, rec

    # -- export ---------------------------------------------------------------------------------
    def fixed_layer(self) -> LayerSpec:
        """The fixed-point :class:`LayerSpec` of the current registers."""
        with torch.no_grad():
            r = self.registers()
        where = "QATNetwork"
        neuron = fixed_ntlif_parameters(
            self.n, where, du=self.du, dv=self.dv, vth=self.vth,
            bias_mant=_np(r.bias_mant).astype(np.int64), bias_exp=_np(r.bias_exp).astype(np.int64),
            gain_mant=_np(r.gain_int).astype(np.int64),
            reset="subtract" if self.reset_subtract else "zero",
        )  # fmt: skip
        sbs = None
        if r.sb is not None:
            sb = r.sb
            params = fixed_spiking_bias_parameters(
                self.m, self.n, where, du=self.sb_du, dv=self.sb_dv, vth=self.sb_vth,
                bias_mant=_np(sb["bias_mant"]).astype(np.int64),
                bias_exp=_np(sb["bias_exp"]).astype(np.int64),
                w_b_mant=_np(sb["w_b_mant"]).astype(np.int64),
                w_b_exp=_np(sb["w_b_exp"]).astype(np.int64),
                dc=_np(sb["dc_int"]).astype(np.int64),
                group=None if self.group is None else _np(self.group).astype(np.int64),
            )  # fmt: skip
            sbs = SpikingBiasSpec(
                w_in=(2 * _np(sb["k_int"])).astype(np.int64),
                params=params,
                mask=None if self.mask is None else _np(self.mask).astype(bool),
                w_in_exp=int(sb["w_exp"]),
            )
        mant = (2 * _np(r.k_int)).astype(np.int64)
        return LayerSpec(weight=mant, neuron=neuron, spiking_bias=sbs, weight_exp=int(r.w_exp))

    def float_layer(self) -> LayerSpec:
        """The float :class:`LayerSpec` of the latent parameters."""
        neuron = ntlif_parameters(
            self.n, "QATNetwork", du=self.du_f, dv=self.dv_f, vth=self.vth_f,
            reset="subtract" if self.reset_subtract else "zero",
            bias=_np(self.bias), gain=_np(self.gain),
        )  # fmt: skip
        sbs = None
        if self.has_sb:
            params = spiking_bias_parameters(
                self.m, self.n, "QATNetwork", du=self.sb_du_f, dv=self.sb_dv_f,
                vth=self.sb_vth_f, bias=_np(self.bias_b), w_b=_np(self.w_b),
                alpha=np.clip(_np(self.alpha), 0.0, 1.0),
                group=None if self.group is None else _np(self.group).astype(np.int64),
            )  # fmt: skip
            w = self.w_in if self.mask is None else self.w_in * self.mask
            sbs = SpikingBiasSpec(
                w_in=_np(w), params=params,
                mask=None if self.mask is None else _np(self.mask).astype(bool),
            )  # fmt: skip
        return LayerSpec(weight=_np(self.weight), neuron=neuron, spiking_bias=sbs)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp latents to what their registers can hold (so they cannot drift beyond the clip
        while the clipped forward value stays the same); zero masked ``W_in`` entries."""
        lim = BIAS_MANT_MAX * 2.0**BIAS_EXP_MAX if not isinstance(self.bias_exp_mode, int) else (
            BIAS_MANT_MAX * 2.0**self.bias_exp_mode)  # fmt: skip
        self.bias.clamp_(-lim / self.S, lim / self.S)
        self.gain.clamp_(GAIN_MIN / GAIN_UNITY, GAIN_MAX / GAIN_UNITY)
        if self.has_sb:
            wl = WB_MANT_MAX * 2.0**WB_EXP_MAX / self.S
            self.w_b.clamp_(-wl, wl)
            self.alpha.clamp_(0.0, 1.0)
            if self.mask is not None:
                self.w_in.mul_(self.mask)

    def extra_repr(self) -> str:
        sb = f", spiking bias m={self.m} S_b={self.S_b:g}" if self.has_sb else ""
        tr = [k for k in TRAINABLE_KINDS if _trainable(self, k)]
        return f"n_in={self.n_in}, n={self.n}, S={self.S:g}{sb}, trainable={tr}"


# ---- the network ---------------------------------------------------------------------------------
def _is_ntnetwork(obj) -> bool:
    from lava_nt.nn.network import NTNetwork

    return isinstance(obj, NTNetwork)


def _trainable_flags(net) -> list[dict[str, bool]]:
    """What an NTNetwork (after apply_tuning) left trainable, per layer."""
    from lava_nt.nn._util import is_trainable

    flags = []
    for layer in net.layers:
        sb = layer.spiking_bias
        flags.append(
            {
                "weight": bool(layer.linear.weight.requires_grad),
                "bias": is_trainable(layer.neuron, "bias"),
                "gain": is_trainable(layer.neuron, "gain"),
                "w_in": sb is not None and is_trainable(sb, "w_in"),
                "w_b": sb is not None and is_trainable(sb, "w_b"),
                "alpha": sb is not None and is_trainable(sb, "alpha"),
            }
        )
    return flags


class QATNetwork(torch.nn.Module):
    """The fixed-point network as a trainable torch module (see the module docstring).

    Args:
        net: a float :class:`~lava_nt.nn.network.NTNetwork` (its trainable tensors, surrogates
            and ``detach_reset`` are taken over; batched ``k`` parameters are refused) or a float
            :class:`~lava_nt.network.NetworkSpec`.
        scales, bias_scales, bias_exp, power_of_two: passed to
            :func:`~lava_nt.converters.quantize.quantize` to choose the per-layer scales ``S``
            (and spiking-bias scales ``S_b``) once, from ``net``'s current values; the scales
            then stay fixed (they are part of the deployed network's meaning).
        trainable: override which kinds are trainable, e.g. ``{"bias": True}`` (all layers) or a
            list with one dict per layer; kinds: weight, bias, gain, w_in, w_b, alpha. Default:
            what ``net`` has trainable (nothing for a spec).
        surrogate, alpha, detach_reset: for a spec (an NTNetwork's own settings are used).

    Attributes:
        scales, bias_scales: the fixed scales; ``report``: the quantiser's report at construction.
    """

    def __init__(
        self,
        net,
        *,
        scales=None,
        bias_scales=None,
        bias_exp: str | int = "neuron",
        power_of_two: bool = False,
        trainable: dict | Sequence[dict] | None = None,
        surrogate: Any = DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        detach_reset: bool = True,
    ):
        super().__init__()
        from lava_nt.converters.quantize import quantize

        if _is_ntnetwork(net):
            for k, layer in enumerate(net.layers):
                sb = layer.spiking_bias
                if layer.neuron.k is not None or (sb is not None and sb.k is not None):
                    raise QATError(
                        f"QATNetwork: layer {k} has batched (k) parameters; wrap one set "
                        "(NTNetwork.to_spec(k=...)) instead"
                    )
            spec = net.to_spec()
            flags = _trainable_flags(net)
            sur = [(layer.neuron.surrogate, layer.neuron.alpha) for layer in net.layers]
            sbsur = [
                (None, None)
                if layer.spiking_bias is None
                else (layer.spiking_bias.surrogate, layer.spiking_bias.surrogate_alpha)
                for layer in net.layers
            ]
            detach = [bool(layer.neuron.detach_reset) for layer in net.layers]
            n_classes = getattr(net, "n_classes", None)
        elif isinstance(net, NetworkSpec):
            if net.fixed:
                raise QATError("QATNetwork: expected a float spec (quantisation happens here)")
            spec = net
            flags = [dict.fromkeys(TRAINABLE_KINDS, False) for _ in spec.layers]
            sur = [(surrogate, alpha)] * len(spec.layers)
            sbsur = [(surrogate, alpha)] * len(spec.layers)
            detach = [bool(detach_reset)] * len(spec.layers)
            n_classes = None
        else:
            raise QATError(
                f"QATNetwork: expected an NTNetwork or a float NetworkSpec, got {type(net)}"
            )
        if trainable is not None:
            per = [trainable] * len(spec.layers) if isinstance(trainable, dict) else trainable
            if len(per) != len(spec.layers):
                raise QATError(f"QATNetwork: 'trainable' needs {len(spec.layers)} entries")
            for f, t in zip(flags, per, strict=True):
                for key, val in dict(t).items():
                    if key not in TRAINABLE_KINDS:
                        raise QATError(f"QATNetwork: unknown trainable kind {key!r}")
                    f[key] = bool(val)
        if isinstance(bias_exp, bool) or not (
            bias_exp in ("neuron", "layer") or isinstance(bias_exp, int | np.integer)
        ):
            raise ParameterError("QATNetwork: bias_exp must be 'neuron', 'layer' or an int")
        q, report = quantize(
            spec, scales=scales, bias_scales=bias_scales, bias_exp=bias_exp,
            power_of_two=power_of_two,
        )  # fmt: skip
        self.report = report
        self.bias_exp = bias_exp if isinstance(bias_exp, str) else int(bias_exp)
        self.scales = [float(lq.scale) for lq in report.layers]
        self.bias_scales = [
            None if lq.spiking_bias is None else float(lq.spiking_bias["scale"])
            for lq in report.layers
        ]
        self.n_classes = n_classes
        self.layers = torch.nn.ModuleList(
            QATLayer(
                ls,
                q.layers[k],
                self.scales[k],
                self.bias_scales[k],
                self.bias_exp,
                flags[k],
                surrogate=sur[k][0],
                alpha=sur[k][1],
                sb_surrogate=sbsur[k][0],
                sb_alpha=sbsur[k][1],
                detach_reset=detach[k],
            )  # fmt: skip
            for k, ls in enumerate(spec.layers)
        )
        # the registers derived here must be the quantiser's (checked once, cheaply)
        self.check_against_quantizer(q)

    # -- properties -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [layer.n for layer in self.layers]

    # -- running --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, record: bool = False):
        """Spikes ``[T, ..., n_out]`` (float64 0/1, surrogate gradients) of input ``x [T, ...,
        n_in]``; with ``record=True`` also one dict per layer (``spikes``, ``bias_current`` in
        integer voltage units, ``bias_spikes``), as :func:`~lava_nt.network.reference_run`."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: input must be [T, ..., {self.n_in}]")
        s, recs = x, []
        for layer in self.layers:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return (s, recs) if record else s

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """A static input ``x [..., n_in]`` held for ``T`` steps (the EEG task); returns what
        ``forward(x.expand(T, ...), record)`` returns (layer 1's drive is computed once)."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: static input must be [..., {self.n_in}]")
        if isinstance(T, bool) or not isinstance(T, int) or T <= 0:
            raise ParameterError(
                f"QATNetwork.forward_static: 'T' must be a positive int, got {T!r}"
            )
        s, rec = self.layers[0].run(x, T=T, record=record)
        recs = [rec]
        for layer in self.layers[1:]:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return (s, recs) if record else s

    def after_step(self) -> None:
        """Called by :func:`lava_nt.training.train` after every optimizer step."""
        self.constrain_()

    def constrain_(self) -> QATNetwork:
        for layer in self.layers:
            layer.constrain_()
        return self

    # -- export ---------------------------------------------------------------------------------
    def to_float_spec(self) -> NetworkSpec:
        """The float network of the latent parameters (weights, biases, gains, ``w_b``, clamped
        ``alpha``); ``quantize(to_float_spec(), scales=self.scales, bias_scales=self.bias_scales,
        bias_exp=self.bias_exp)`` gives :meth:`to_fixed_spec`."""
        return NetworkSpec(self.n_in, [layer.float_layer() for layer in self.layers])

    def to_fixed_spec(self, check: bool = True) -> NetworkSpec:
        """The fixed-point network that the forward computes (integer mantissas as trained):
        deploy it with ``run_network(spec, x, "fixed")``. With ``check`` the registers are
        compared with the quantiser's at the same scales (raises :class:`QATError` if not)."""
        fixed = NetworkSpec(self.n_in, [layer.fixed_layer() for layer in self.layers], fixed=True)
        if check:
            self.check_against_quantizer(None, fixed)
        return fixed

    def quantized(self):
        """``(fixed_spec, QuantReport)`` of the latents at the fixed scales (quantiser's view)."""
        from lava_nt.converters.quantize import quantize

        return quantize(
            self.to_float_spec(), scales=self.scales, bias_scales=self.bias_scales,
            bias_exp=self.bias_exp,
        )  # fmt: skip

    def check_against_quantizer(self, q: NetworkSpec | None = None, fixed=None) -> None:
        """Raise :class:`QATError` unless the registers equal ``quantize``'s at the fixed scales."""
        if q is None:
            q, _ = self.quantized()
        if fixed is None:
            fixed = NetworkSpec(
                self.n_in, [layer.fixed_layer() for layer in self.layers], fixed=True
            )
        diffs = fixed_spec_differences(q, fixed)
        if diffs:
            raise QATError(
                "QATNetwork: the trained registers differ from the quantiser's at the same "
                f"scales: {', '.join(diffs[:8])}"
            )

    def integer_parameters(self) -> dict[str, np.ndarray]:
        """The trained registers by name (int64), e.g. ``layers.0.bias_mant``: what a chip's
        registers hold."""
        fixed = self.to_fixed_spec(check=False)
        out = {}
        for k, ls in enumerate(fixed.layers):
            p = ls.neuron
            out[f"layers.{k}.weight"] = np.asarray(ls.weight)
            out[f"layers.{k}.bias_mant"] = np.asarray(p.bias_mant)
            out[f"layers.{k}.bias_exp"] = np.asarray(p.bias_exp)
            out[f"layers.{k}.gain_mant"] = np.asarray(p.gain_mant)
            if ls.spiking_bias is not None:
                pb = ls.spiking_bias.params
                out[f"layers.{k}.sb.w_in"] = np.asarray(ls.spiking_bias.w_in)
                out[f"layers.{k}.sb.w_b_mant"] = np.asarray(pb.w_b_mant)
                out[f"layers.{k}.sb.w_b_exp"] = np.asarray(pb.w_b_exp)
                out[f"layers.{k}.sb.dc"] = np.asarray(pb.dc)
        return out

    def save(self, path, *, meta: dict | None = None, overwrite: bool = False) -> Path:
        """Save as a lava-nt model file: the latent float network with the trained fixed-point
        network attached (``load_model(path)`` / the ``quantized`` group hold the integers)."""
        from lava_nt.converters.model_file import save_model

        fixed, report = self.quantized()
        self.check_against_quantizer(fixed)
        meta = dict(meta or {})
        meta.setdefault("qat", {"scales": self.scales, "bias_scales": self.bias_scales,
                                "bias_exp": self.bias_exp})  # fmt: skip
        if self.n_classes is not None:
            meta.setdefault("n_classes", int(self.n_classes))
        return save_model(
            path, self.to_float_spec(), meta=meta, overwrite=overwrite, quantized=(fixed, report)
        )

    @classmethod
    def load(cls, path, *, trainable: dict | Sequence[dict] | None = None, **kwargs) -> QATNetwork:
        """Rebuild a QAT network saved with :meth:`save` (same scales, same registers); the file
        is validated by :func:`~lava_nt.converters.model_file.load_model`."""
        from lava_nt.converters.model_file import load_model

        spec, info = load_model(path)
        q = info.meta.get("qat")
        if not isinstance(q, dict) or "scales" not in q:
            raise QATError(f"{path}: not saved by QATNetwork.save (no 'qat' scales in meta)")
        sur = info.surrogate[0] if info.surrogate else {}
        kwargs.setdefault("surrogate", sur.get("name") or DEFAULT_SURROGATE)
        kwargs.setdefault("alpha", sur.get("alpha") or DEFAULT_ALPHA)
        qat = cls(
            spec, scales=q["scales"], bias_scales=q["bias_scales"], bias_exp=q["bias_exp"],
            trainable=trainable, **kwargs,
        )  # fmt: skip
        if info.quantized is not None:
            qat.check_against_quantizer(info.quantized)
        qat.n_classes = info.n_classes
        return qat

    def trainable_summary(self) -> dict[str, int]:
        out = dict.fromkeys(TRAINABLE_KINDS, 0)
        for layer in self.layers:
            for kind in TRAINABLE_KINDS:
                if _trainable(layer, kind):
                    t = getattr(layer, kind)
                    if kind == "w_in" and layer.mask is not None:
                        out[kind] += int(layer.mask.sum())
                    else:
                        out[kind] += t.numel()
        out["total"] = sum(out.values())
        return out


def fixed_spec_differences(a: NetworkSpec, b: NetworkSpec) -> list[str]:
    """Names of the registers in which two fixed-point specs differ (empty: identical)."""
    out = []
    if len(a.layers) != len(b.layers) or a.n_in != b.n_in:
        return ["architecture"]
    for k, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        if la.weight_exp != lb.weight_exp or not np.array_equal(
            np.asarray(la.weight), np.asarray(lb.weight)
        ):
            out.append(f"layer {k} weight")
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp", "gain_mant", "reset_subtract"):
            if not np.array_equal(np.asarray(getattr(la.neuron, name)),
                                  np.asarray(getattr(lb.neuron, name))):  # fmt: skip
                out.append(f"layer {k} {name}")
        sa, sb = la.spiking_bias, lb.spiking_bias
        if (sa is None) != (sb is None):
            out.append(f"layer {k} spiking bias")
            continue
        if sa is None:
            continue
        if sa.w_in_exp != sb.w_in_exp or not np.array_equal(sa.w_in, sb.w_in):
            out.append(f"layer {k} sb.w_in")
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc"):
            if not np.array_equal(np.asarray(getattr(sa.params, name)),
                                  np.asarray(getattr(sb.params, name))):  # fmt: skip
                out.append(f"layer {k} sb.{name}")
        ga, gb = sa.params.group, sb.params.group
        if (ga is None) != (gb is None) or (ga is not None and not np.array_equal(ga, gb)):
            out.append(f"layer {k} sb.group")
    return out


# ---- measurement on the EEG example --------------------------------------------------------------
def _population_pred(out, n_classes: int = 2) -> np.ndarray:
    out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
    counts = out.sum(0).reshape(out.shape[1], n_classes, out.shape[2] // n_classes).sum(-1)
    return np.argmax(counts, axis=-1)


def _append_jsonl(path: Path, row: dict) -> None:
    import os

    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a torn last line of a killed run
            continue
    return rows


def _mean_se(xs) -> tuple[float, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    m = float(np.mean(xs))
    se = float(np.std(xs, ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else float("nan")
    return m, se


def compare_report(rows: list[dict], settings: dict | None = None) -> str:
    """Markdown tables of :func:`compare_qat` rows: per participant (mean over seeds) and overall
    (mean and standard error over units), accuracies in percent."""
    units = [r for r in rows if r.get("kind") == "unit"]
    if not units:
        return "no results"
    by_p: dict[int, list[dict]] = {}
    for r in units:
        by_p.setdefault(int(r["participant"]), []).append(r)
    cols = ("float_acc", "ptq_acc", "qat_acc")
    lines = []
    if settings:
        lines += [f"Settings: `{json.dumps(settings, sort_keys=True)}`", ""]
    lines += [
        "| participant | units | float tuned, float deployed | PTQ (float tuned, fixed) | "
        "QAT (fixed, Lava) | PTQ - float | QAT - float | QAT bit-exact on Lava |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(by_p):
        rs = by_p[p]
        mean = {c: 100 * float(np.mean([r[c] for r in rs])) for c in cols}
        exact = [r.get("lava_bit_exact") for r in rs]
        ex = f"{sum(bool(e) for e in exact)}/{len(rs)}"
        if all(e is None for e in exact):
            ex = "not run"
        lines.append(
            f"| {p} | {len(rs)} | {mean['float_acc']:.1f} | {mean['ptq_acc']:.1f} | "
            f"{mean['qat_acc']:.1f} | {mean['ptq_acc'] - mean['float_acc']:+.1f} | "
            f"{mean['qat_acc'] - mean['float_acc']:+.1f} | {ex} |"
        )
    f_m, f_se = _mean_se([100 * r["float_acc"] for r in units])
    p_m, p_se = _mean_se([100 * r["ptq_acc"] for r in units])
    q_m, q_se = _mean_se([100 * r["qat_acc"] for r in units])
    dp_m, dp_se = _mean_se([100 * (r["ptq_acc"] - r["float_acc"]) for r in units])
    dq_m, dq_se = _mean_se([100 * (r["qat_acc"] - r["float_acc"]) for r in units])
    exact = [r.get("lava_bit_exact") for r in units if r.get("lava_bit_exact") is not None]
    lines.append(
        f"| **mean** | {len(units)} | {f_m:.1f} ± {f_se:.1f} | {p_m:.1f} ± {p_se:.1f} | "
        f"{q_m:.1f} ± {q_se:.1f} | {dp_m:+.1f} ± {dp_se:.1f} | {dq_m:+.1f} ± {dq_se:.1f} | "
        + (f"{sum(exact)}/{len(exact)} |" if exact else "not run |")
    )
    agree_ptq = _mean_se([100 * r["ptq_prediction_agreement"] for r in units])[0]
    agree_qat = _mean_se([100 * r["qat_vs_float_prediction_agreement"] for r in units])[0]
    tf = [r["float_seconds_per_epoch"] for r in units]
    tq = [r["qat_seconds_per_epoch"] for r in units]
    ratio = [b / a for a, b in zip(tf, tq, strict=True) if a > 0]
    lines += [
        "",
        "± is the standard error over units (participant x seed). Test predictions shared with the "
        f"float-deployed model: PTQ {agree_ptq:.1f}%, QAT {agree_qat:.1f}%.",
        "",
        f"Training time per epoch (same run, same data, same trainer): float "
        f"{np.mean(tf):.3f} s, QAT {np.mean(tq):.3f} s, ratio QAT / float "
        f"{np.mean(ratio):.2f} (median {np.median(ratio):.2f}, min {np.min(ratio):.2f}, max "
        f"{np.max(ratio):.2f}); epochs run: float {np.mean([r['float_epochs'] for r in units]):.0f}"
        f", QAT {np.mean([r['qat_epochs'] for r in units]):.0f} on average.",
    ]
    return "\n".join(lines)


def compare_qat(
    out_dir,
    *,
    data_dir=None,
    n_participants: int = 16,
    synthetic=None,
    participants: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
    pretrain_participants: Sequence[int] | None = None,
    method: str | Sequence[str] = "nt2",
    seeds: Sequence[int] = (0, 1),
    hidden: Sequence[int] = (400, 800),
    population: int = 50,
    beta: float = 0.9,
    T: int = 25,
    batch_size: int = 32,
    spike_l1: float = 1e-3,
    pretrain_epochs: int = 15,
    pretrain_lr: float = 1e-4,
    tune_epochs: int = 500,
    tune_lr: float = 1e-4,
    patience: int | None = 50,
    select: str = "val",
    feature_seed: int = 0,
    float_engine: str = "fused",
    lava: bool = True,
    lava_timeout: float | None = None,
    threads: int | None = 1,
    log=print,
) -> dict:
    """Float tuning vs post-training quantisation vs QAT on the EEG example (honest protocol).

    One network ``160 -> hidden -> 2 * population`` is pretrained in float on
    ``pretrain_participants`` (default: the data pool minus ``participants``, so no tuned person
    is ever in the pretraining data). For every participant and seed, the pretrained network gets
    the tuning ``method`` (:func:`lava_nt.tuning.apply_tuning`, seeded) twice:

    * **float**: tuned in float (``float_engine``: ``"fused"`` = the pipeline's trainer,
      ``"eager"`` = :class:`~lava_nt.nn.network.NTNetwork`), deployed in float64 (= Lava float,
      ``tests/test_engine_equivalence.py``) -> ``float_acc``; then quantised with
      :func:`~lava_nt.converters.quantize.quantize` and run in fixed point (the emulator =
      Lava fixed) -> ``ptq_acc``;
    * **QAT**: wrapped in :class:`QATNetwork` (scales from the pretrained values) and tuned with
      the same trainer, data, seed and settings; :meth:`QATNetwork.to_fixed_spec` is deployed on
      Lava (``lava=True``: ``run_network(..., "fixed", record=True)``) -> ``qat_acc``, and every
      layer's spikes are compared with the training-time forward (``lava_bit_exact``).

    Data: the honest split of :mod:`lava_nt.examples.eeg.protocols` (trials split before
    augmenting, balanced test part); the epoch is chosen on validation (``select="val"``, with
    ``patience``) or is the last of a fixed budget (``select="last"``: both runs train exactly
    ``tune_epochs`` epochs, so the comparison is not blurred by epoch-selection noise).
    ``data_dir``: DEAP-format files; None generates calibrated synthetic DEAP data
    (``n_participants``, or the given :class:`~lava_nt.examples.eeg.synthetic.SyntheticConfig`
    ``synthetic``) into ``out_dir/data``.
    Results go to ``out_dir/results.jsonl`` (one line per unit; a rerun skips finished units) and
    ``out_dir/report.md``; returns ``{"rows": [...], "report": markdown, "settings": {...}}``.
    ``threads``: torch threads while it runs (1 is fastest on a loaded 2-core machine; None
    leaves the setting alone).
    """
    prev_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _compare_qat(**{k: v for k, v in locals().items() if k != "prev_threads"})
    finally:
        torch.set_num_threads(prev_threads)


def _compare_qat(
    out_dir, *, data_dir, n_participants, synthetic, participants, pretrain_participants, method,
    seeds, hidden, population, beta, T, batch_size, spike_l1, pretrain_epochs, pretrain_lr,
    tune_epochs, tune_lr, patience, select, feature_seed, float_engine, lava, lava_timeout,
    threads, log,
) -> dict:  # fmt: skip
    import copy

    from lava_nt.builder import build_network
    from lava_nt.converters.quantize import quantize
    from lava_nt.examples.eeg.pipeline import load_features, prepare_data
    from lava_nt.examples.eeg.protocols import make_split, pretrain_data, tuning_data
    from lava_nt.examples.eeg.synthetic import SyntheticConfig
    from lava_nt.nn.fixed_emulator import emulate_fixed
    from lava_nt.nn.network import NTNetwork
    from lava_nt.training import TrainConfig, evaluate, train
    from lava_nt.tuning import apply_tuning

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = [method] if isinstance(method, str) else list(method)
    settings = {
        "method": "+".join(methods), "hidden": list(hidden), "population": population,
        "beta": beta, "T": T, "batch_size": batch_size, "spike_l1": spike_l1,
        "pretrain_epochs": pretrain_epochs, "pretrain_lr": pretrain_lr,
        "tune_epochs": tune_epochs, "tune_lr": tune_lr, "patience": patience,
        "select": select,
        "feature_seed": feature_seed, "float_engine": float_engine, "protocol": "honest",
        "data": "synthetic" if data_dir is None else str(data_dir),
        "n_participants": n_participants if data_dir is None else None,
    }  # fmt: skip
    if data_dir is None and synthetic is None:
        synthetic = SyntheticConfig(n_participants=n_participants)
    if data_dir is None:
        settings["n_participants"] = synthetic.n_participants
        if synthetic != SyntheticConfig(n_participants=synthetic.n_participants):
            settings["synthetic"] = synthetic.to_dict()
    data = prepare_data(out_dir, data_dir, synthetic, log=log)
    if not Path(data.directory).is_absolute():  # generated data may be recorded run-relative
        import dataclasses

        data = dataclasses.replace(data, directory=out_dir / data.directory)
    pool = list(data.pool)
    participants = [int(p) for p in participants]
    missing = [p for p in participants if p not in pool]
    if missing:
        raise ValueError(f"compare_qat: participants {missing} are not in the data ({pool})")
    if pretrain_participants is None:
        pretrain_participants = [p for p in pool if p not in participants]
    pretrain_participants = [int(p) for p in pretrain_participants]
    if set(pretrain_participants) & set(participants):
        raise ValueError("compare_qat: a tuned participant is in the pretraining data")
    if not pretrain_participants:
        raise ValueError("compare_qat: no pretraining participants left")
    settings["participants"] = participants
    settings["pretrain_participants"] = pretrain_participants
    feats = load_features(data, out_dir, feature_seed, participants + pretrain_participants)

    def tensors(x, y):
        return (
            torch.as_tensor(np.asarray(x), dtype=torch.float32),
            torch.as_tensor(np.asarray(y), dtype=torch.int64),
        )

    def trainer_model(net):
        if float_engine == "fused":
            from lava_nt.nn.fused import FusedNTNetwork

            return FusedNTNetwork.from_network(net)
        return net

    # ---- pretraining (float, once) -------------------------------------------------------------
    pre_path = out_dir / "pretrained.pt"
    pre_keys = ("hidden", "population", "beta", "T", "pretrain_epochs", "pretrain_lr", "spike_l1",
                "batch_size", "feature_seed", "data", "n_participants", "synthetic")  # fmt: skip
    key = {
        "settings": {k: settings[k] for k in pre_keys if k in settings},
        "pretrain_participants": pretrain_participants,
    }
    net0 = build_network(160, list(hidden), n_classes=2, population=population, beta=beta, seed=0)
    if pre_path.exists() and torch.load(pre_path, weights_only=False)["key"] == key:
        net0.load_state_dict(torch.load(pre_path, weights_only=False)["state"])
    else:
        x, y = pretrain_data([feats[p] for p in pretrain_participants])
        log(f"pretraining on participants {pretrain_participants} ({len(y)} samples)")
        t0 = time.perf_counter()
        cfg = TrainConfig(epochs=pretrain_epochs, lr=pretrain_lr, batch_size=batch_size, T=T,
                          spike_l1=spike_l1, select="last", seed=0)  # fmt: skip
        res = train(trainer_model(net0), tensors(x, y), cfg)
        log(f"  {time.perf_counter() - t0:.0f} s, train acc {res.history[-1]['train_acc']:.3f}")
        torch.save({"key": key, "state": net0.state_dict()}, pre_path)

    # ---- units ---------------------------------------------------------------------------------
    results_path = out_dir / "results.jsonl"
    tag = json.dumps({k: v for k, v in settings.items() if k != "participants"}, sort_keys=True)
    rows = [r for r in _read_jsonl(results_path) if r.get("settings") == tag]
    done = {(r["participant"], r["seed"]) for r in rows if r.get("kind") == "unit"}
    for p in participants:
        for seed in seeds:
            if (p, int(seed)) in done:
                continue
            f = feats[p]
            split = make_split("honest", f.valence_high, seed=int(seed), participant=p,
                               n_augment=f.powers.shape[1])  # fmt: skip
            td = tuning_data(f, split)
            tr, va, te = (tensors(td.x_train, td.y_train), tensors(td.x_val, td.y_val),
                          tensors(td.x_test, td.y_test))  # fmt: skip
            cfg = TrainConfig(epochs=tune_epochs, lr=tune_lr, batch_size=batch_size, T=T,
                              spike_l1=spike_l1, select=select, patience=patience,
                              seed=int(seed))  # fmt: skip
            x_te = te[0].to(torch.float64)
            y_te = td.y_test
            row = {"kind": "unit", "settings": tag, "participant": p, "seed": int(seed),
                   "method": settings["method"], "n_train": len(td.y_train),
                   "n_val": len(td.y_val), "n_test": len(y_te)}  # fmt: skip
            # float tuning
            net = copy.deepcopy(net0)
            apply_tuning(net, methods, seed=int(seed))
            t0 = time.perf_counter()
            res = train(trainer_model(net), tr, cfg, val_data=va)
            secs = time.perf_counter() - t0
            row.update(float_epochs=len(res.history), float_best_epoch=res.best_epoch,
                       float_last_train_acc=res.history[-1]["train_acc"],
                       float_seconds_per_epoch=secs / max(len(res.history), 1),
                       float_val_acc=res.history[res.best_epoch].get("val_acc"))  # fmt: skip
            spec = net.to_spec()
            with torch.no_grad():
                out_f = NTNetwork.from_spec(spec, dtype=torch.float64).forward_static(x_te, T)
            pred_f = _population_pred(out_f)
            row["float_acc"] = float(np.mean(pred_f == y_te))
            row["float32_acc"] = evaluate(net, *te, cfg)["acc"]
            fspec, rep = quantize(spec)
            xs = x_te.expand(T, *x_te.shape)
            pred_p = _population_pred(emulate_fixed(fspec, xs.to(torch.int64)))
            row["ptq_acc"] = float(np.mean(pred_p == y_te))
            row["ptq_prediction_agreement"] = float(np.mean(pred_p == pred_f))
            # QAT tuning
            net_q = copy.deepcopy(net0)
            apply_tuning(net_q, methods, seed=int(seed))
            qat = QATNetwork(net_q)
            t0 = time.perf_counter()
            res = train(qat, tr, cfg, val_data=va)
            secs = time.perf_counter() - t0
            row.update(qat_epochs=len(res.history), qat_best_epoch=res.best_epoch,
                       qat_last_train_acc=res.history[-1]["train_acc"],
                       qat_seconds_per_epoch=secs / max(len(res.history), 1),
                       qat_val_acc=res.history[res.best_epoch].get("val_acc"),
                       qat_scales=qat.scales)  # fmt: skip
            with torch.no_grad():
                out_q, recs_q = qat.forward_static(x_te, T, record=True)
            pred_q = _population_pred(out_q)
            row["qat_emulator_acc"] = float(np.mean(pred_q == y_te))
            row["qat_vs_float_prediction_agreement"] = float(np.mean(pred_q == pred_f))
            fixed_q = qat.to_fixed_spec()
            row["qat_registers_equal_quantizer"] = True  # to_fixed_spec(check=True) passed
            with torch.no_grad():
                lat = NTNetwork.from_spec(qat.to_float_spec(), dtype=torch.float64)
                row["qat_latent_float_acc"] = float(
                    np.mean(_population_pred(lat.forward_static(x_te, T)) == y_te)
                )
            row["qat_acc"] = row["qat_emulator_acc"]
            row["lava_bit_exact"] = None
            if lava:
                from lava_nt.converters.lava_graph import run_network

                xs_np = np.ascontiguousarray(xs.numpy())
                t0 = time.perf_counter()
                lv = run_network(fixed_q, xs_np, "fixed", timeout=lava_timeout, record=True)
                row["lava_seconds"] = round(time.perf_counter() - t0, 2)
                exact = all(
                    np.array_equal(r["spikes"].numpy(), lr["spikes"])
                    for r, lr in zip(recs_q, lv.layers, strict=True)
                )
                pred_l = _population_pred(lv.spikes)
                row["lava_bit_exact"] = bool(exact)
                row["lava_predictions_equal"] = bool(np.array_equal(pred_l, pred_q))
                row["qat_acc"] = float(np.mean(pred_l == y_te))
            _append_jsonl(results_path, row)
            rows.append(row)
            log(
                f"participant {p} seed {seed}: float {row['float_acc']:.3f}, PTQ "
                f"{row['ptq_acc']:.3f}, QAT {row['qat_acc']:.3f} (Lava bit-exact: "
                f"{row['lava_bit_exact']}); s/epoch float {row['float_seconds_per_epoch']:.3f}, "
                f"QAT {row['qat_seconds_per_epoch']:.3f}"
            )
    units = [r for r in rows if r.get("kind") == "unit" and r["participant"] in participants]
    report = compare_report(units, settings)
    (out_dir / "report.md").write_text(report + "\n")
    return {"rows": units, "report": report, "settings": settings}


def _main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m lava_nt.qat",
        description="Float tuning vs post-training quantisation vs quantisation-aware tuning on "
        "the EEG example (honest protocol); writes OUT/results.jsonl and OUT/report.md.",
    )
    ap.add_argument("out", help="output directory (rerun to resume)")
    ap.add_argument("--data", default=None, help="DEAP-format directory (default: synthetic)")
    ap.add_argument("--n-participants", type=int, default=16)
    ap.add_argument("--participants", type=int, nargs="+", default=list(range(1, 9)))
    ap.add_argument("--method", nargs="+", default=["nt2"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--hidden", type=int, nargs="+", default=[400, 800])
    ap.add_argument("--pretrain-epochs", type=int, default=15)
    ap.add_argument("--tune-epochs", type=int, default=500)
    ap.add_argument("--tune-lr", type=float, default=1e-4)
    ap.add_argument("--patience", type=int, default=50, help="0: no early stopping")
    ap.add_argument("--select", choices=("val", "last"), default="val")
    ap.add_argument("--float-engine", choices=("fused", "eager"), default="fused")
    ap.add_argument("--no-lava", action="store_true", help="skip the Lava fixed-point runs")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = ap.parse_args(argv)
    res = compare_qat(
        a.out, data_dir=a.data, n_participants=a.n_participants, participants=a.participants,
        method=a.method, seeds=a.seeds, hidden=a.hidden, pretrain_epochs=a.pretrain_epochs,
        tune_epochs=a.tune_epochs, tune_lr=a.tune_lr, patience=a.patience or None,
        select=a.select,
        float_engine=a.float_engine, lava=not a.no_lava, threads=a.threads,
    )  # fmt: skip
    print(res["report"])


if __name__ == "__main__":
    _main()
