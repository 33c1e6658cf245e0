"""The fused fixed-point recurrences: the integer forward of the spec's NTLIF and spiking-bias
steps over all ``T`` steps at once, with hand-written straight-through BPTT."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from lava_nt.nn.surrogate import surrogate_derivative, surrogate_of, surrogate_width
from lava_nt.qat.registers import _C_LIM, _HALF_UV, _UV_LIM
from lava_nt.spec.fixed import (
    DECAY_UNITY,
    GAIN_UNITY,
    VTH_SHIFT,
)
from lava_nt.spec.validation import ParameterError


class _LIFConfig(NamedTuple):
    du: Any  # int, or an int64 (n,) array: one register per neuron
    dv: Any
    vth: int
    S: float
    reset_subtract: bool
    spike_fn: Any


def decay_factor(register, offset: int, device=None):
    """``(4096 - (register + offset)) / 4096``, the retention of a decay register (``offset`` 1
    for ``du``): a float for one register per layer, a float64 ``(n,)`` tensor for one per
    neuron (exact: a dyadic rational)."""
    if isinstance(register, int):
        return (DECAY_UNITY - (register + offset)) / DECAY_UNITY
    r = torch.as_tensor(register, dtype=torch.float64, device=device)
    return (DECAY_UNITY - (r + offset)) / DECAY_UNITY


def _fmax(f) -> float:
    """The largest retention factor (a float or a per-neuron tensor)."""
    return float(f.max()) if isinstance(f, torch.Tensor) else float(f)


def _all_zero(f) -> bool:
    return bool((f == 0).all()) if isinstance(f, torch.Tensor) else f == 0.0


def _surrogate_derivative(spike_fn, x: torch.Tensor) -> torch.Tensor:
    """Elementwise d spike_fn / dx at ``x`` (the surrogate's backward, one call for all steps):
    :func:`~lava_nt.nn.surrogate.surrogate_derivative` for the built-in surrogates (the same
    values autograd through ``spike_fn`` gives), autograd through a custom ``spike_fn``."""
    if surrogate_width(spike_fn) is not None:
        raise ParameterError(
            "QATNetwork: a sparse-gradient band is not supported by the QAT recurrences"
        )
    try:
        kind, alpha = surrogate_of(spike_fn, "QATNetwork")
    except ParameterError:
        kind = None
    if kind is not None:
        return surrogate_derivative(x.detach(), kind, alpha)
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        out = spike_fn(xx)
        if not out.requires_grad:  # a custom spike function without a gradient
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
        fu = decay_factor(cfg.du, 1, a.device)
        fv = decay_factor(cfg.dv, 0, a.device)
        vth = float(cfg.vth << VTH_SHIFT)
        lim = _UV_LIM
        steps = a.shape[0]
        # current u: depends on the drive only, so it runs first (vectorised when du = 1).
        # |u| <= max|a| / (1 - fu): when that stays inside 24 bits, u can never wrap.
        amax = float(a.abs().max()) if a.numel() else 0.0
        if _all_zero(fu):
            u_all = _wrap_exact(a) if amax >= _HALF_UV else a
        else:
            may_wrap = _fmax(fu) >= 1.0 or amax / (1.0 - _fmax(fu)) >= _HALF_UV
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
        fv_max = _fmax(fv)
        may_sat = xmax * (steps if fv_max >= 1.0 else min(steps, 1.0 / (1.0 - fv_max))) > lim
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
        kv = decay_factor(cfg.dv, 0, gz.device)
        ku = decay_factor(cfg.du, 1, gz.device)
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
            if _all_zero(ku):
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
