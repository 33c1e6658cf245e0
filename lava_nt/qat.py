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
    saturate,
    trunc_shift,
    wrap_u,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "QATError",
    "QATLayer",
    "QATNetwork",
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
        (g,) = torch.autograd.grad(spike_fn(xx).sum(), xx, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _sum_to(g: torch.Tensor, n: int) -> torch.Tensor:
    return g.reshape(-1, n).sum(0)


class _FixedLIF(torch.autograd.Function):
    """All ``T`` steps of :func:`~lava_nt.spec.fixed.fixed_ntlif_step` (reset detached) with the
    straight-through BPTT of :meth:`QATLayer._run_autograd`.

    Inputs: drive ``a_all [T, ..., n]`` (``a << 6``, integer-valued float64), register values
    ``bias (n,)`` (``bias_mant << bias_exp``), ``gain (n,)`` (``gain_mant``), bias current
    ``c_all [T, ..., n]`` or None; returns spikes ``[T, ..., n]`` (float64 0/1)."""

    @staticmethod
    def forward(ctx, a_all, bias, gain, c_all, cfg: _LIFConfig):
        a = a_all.detach().to(torch.int64)
        b = bias.detach().to(torch.int64)
        g = gain.detach().to(torch.int64)
        c = None if c_all is None else c_all.detach().to(torch.int64)
        ku = DECAY_UNITY - (cfg.du + 1)
        kv = DECAY_UNITY - cfg.dv
        vth = cfg.vth << VTH_SHIFT
        lim = int(_UV_LIM)
        u = torch.zeros(a.shape[1:], dtype=torch.int64, device=a.device)
        v = u
        us, vcs, sat = [], [], []
        for t in range(a.shape[0]):
            u = wrap_u(trunc_shift(u * ku, DECAY_SHIFT) + a[t])
            v = trunc_shift(v * kv, DECAY_SHIFT) + trunc_shift(g * (u + b), GAIN_SHIFT)
            if c is not None:
                v = v + c[t]
            sat.append((v < -lim) | (v > lim))
            v = saturate(v)
            vcs.append(v)
            s = v > vth
            v = torch.where(s, v - vth, v) if cfg.reset_subtract else torch.where(s, 0, v)
            us.append(u)
        u_all, vc_all = torch.stack(us), torch.stack(vcs)
        z = (vc_all > vth).to(torch.float64)
        ctx.save_for_backward(u_all, vc_all, torch.stack(sat), z, b, g)
        ctx.cfg = cfg
        ctx.has_c = c_all is not None
        return z

    @staticmethod
    def backward(ctx, gz):
        u_all, vc_all, sat, z, b, g = ctx.saved_tensors
        cfg: _LIFConfig = ctx.cfg
        n = z.shape[-1]
        vth = float(cfg.vth << VTH_SHIFT)
        # d spike / d v (the surrogate acts on (v - vth) / S)
        sg = _surrogate_derivative(cfg.spike_fn, (vc_all.to(torch.float64) - vth) / cfg.S)
        gz_v = gz * sg / cfg.S
        keep = (~sat).to(torch.float64)
        reset_keep = None if cfg.reset_subtract else 1.0 - z
        x_all = (u_all + b).to(torch.float64)
        gf, bf = g.to(torch.float64), b
        ku = (DECAY_UNITY - (cfg.du + 1)) / DECAY_UNITY
        kv = (DECAY_UNITY - cfg.dv) / DECAY_UNITY
        need_a, need_b, need_g, need_c = ctx.needs_input_grad[:4]
        ga = torch.empty_like(gz) if need_a else None
        gc = torch.empty_like(gz) if (need_c and ctx.has_c) else None
        gb = torch.zeros(n, dtype=torch.float64, device=gz.device)
        gg = torch.zeros(n, dtype=torch.float64, device=gz.device)
        gv = torch.zeros_like(gz[0])
        gu = torch.zeros_like(gz[0])
        for t in range(gz.shape[0] - 1, -1, -1):
            g_vc = gv if reset_keep is None else gv * reset_keep[t]
            g_pre = (g_vc + gz_v[t]) * keep[t]
            if gc is not None:
                gc[t] = g_pre
            gv = g_pre * kv
            if need_g:
                gg += _sum_to(g_pre * x_all[t], n)
            g_x = g_pre * (gf / GAIN_UNITY)
            g_u = gu + g_x
            if ga is not None:
                ga[t] = g_u
            gu = g_u * ku
            if need_b:
                gb += _sum_to(g_x, n)
        del bf
        return (
            ga,
            gb if need_b else None,
            gg / GAIN_UNITY if need_g else None,
            gc,
            None,
        )


class _LeakyCurrent(torch.autograd.Function):
    """``C[t] = sat24(trunc((4096 - dc) C[t-1] / 4096) + s_b[t] w)`` for all ``T`` steps (the
    current of :func:`~lava_nt.spec.fixed.fixed_spiking_bias_step`) with straight-through BPTT.
    Inputs: bias spikes ``s_b [T, ..., m]``, register values ``w (m,)`` (``w_b_mant <<
    w_b_exp``) and ``dc (m,)``; returns ``C [T, ..., m]`` (integer-valued float64)."""

    @staticmethod
    def forward(ctx, s_b, w, dc):
        s = s_b.detach().to(torch.int64)
        wi = w.detach().to(torch.int64)
        kc = DECAY_UNITY - dc.detach().to(torch.int64)
        lim = int(_C_LIM)
        C = torch.zeros(s.shape[1:], dtype=torch.int64, device=s.device)
        cs, sat = [], []
        for t in range(s.shape[0]):
            C = trunc_shift(C * kc, DECAY_SHIFT) + s[t] * wi
            sat.append((C < -lim) | (C > lim))
            C = saturate(C, C_BITS)
            cs.append(C)
        C_all = torch.stack(cs).to(torch.float64)
        ctx.save_for_backward(C_all, torch.stack(sat), s_b.detach(), w.detach(), kc)
        return C_all

    @staticmethod
    def backward(ctx, gC):
        C_all, sat, s_b, w, kc = ctx.saved_tensors
        m = C_all.shape[-1]
        keep = (~sat).to(torch.float64)
        kcf = kc.to(torch.float64) / DECAY_UNITY
        need_s, need_w, need_dc = ctx.needs_input_grad
        gs = torch.empty_like(gC) if need_s else None
        gw = torch.zeros(m, dtype=torch.float64, device=gC.device)
        gdc = torch.zeros(m, dtype=torch.float64, device=gC.device)
        g = torch.zeros_like(gC[0])
        for t in range(gC.shape[0] - 1, -1, -1):
            g_pre = (gC[t] + g) * keep[t]
            if gs is not None:
                gs[t] = g_pre * w
            if need_w:
                gw += _sum_to(g_pre * s_b[t], m)
            if need_dc and t > 0:
                gdc -= _sum_to(g_pre * C_all[t - 1], m) / DECAY_UNITY
            g = g_pre * kcf
        return gs, gw if need_w else None, gdc if need_dc else None


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
        k, k_int, e = _weights(self.weight, self.S)
        bias, bm, be = _mant_exp(self.bias * self.S, BIAS_MANT_MAX, self.bias_exp_mode,
                                 BIAS_EXP_MAX)  # fmt: skip
        gq = self.gain * float(GAIN_UNITY)
        g_int = torch.clamp(round_half_away(gq.detach()), GAIN_MIN, GAIN_MAX)
        sb = None
        if self.has_sb:
            w = self.w_in if self.mask is None else self.w_in * self.mask
            kb, kb_int, eb = _weights(w, self.S_b)
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
    @staticmethod
    def _drive(s_in: torch.Tensor, k: torch.Tensor, e: int) -> torch.Tensor:
        """``dense_fixed_output(2k · s, e) << 6`` = ``(k · s) 2**(7+e)`` (exact)."""
        return torch.matmul(s_in, k.T) * 2.0 ** (7 + e)

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
