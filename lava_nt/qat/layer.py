"""One QAT layer: an NTLIF layer (and its optional spiking bias, and its optional synaptic delays)
in fixed point with STE gradients (:class:`QATLayer`)."""

from __future__ import annotations

import numpy as np
import torch

from lava_nt._deprecation import C_RETENTION_RENAME, rename_state_dict_keys
from lava_nt.network import LayerSpec, SpikingBiasSpec
from lava_nt.nn._util import DelayMasks, stacked_record
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE, make_spike_fn
from lava_nt.qat.recurrences import _FixedLIF, _LeakyCurrent, _LIFConfig, decay_factor
from lava_nt.qat.registers import (
    _C_LIM,
    _UV_LIM,
    TRAINABLE_KINDS,
    _mant_exp,
    _np,
    _Registers,
    _set,
    _trainable,
    _trunc_shift,
    _wrap_u,
    cached_weights,
    delayed_drive,
    drive,
    ste,
)
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_SHIFT,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_SHIFT,
    GAIN_UNITY,
    VTH_SHIFT,
    WB_EXP_MAX,
    WB_MANT_MAX,
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.quantization import decay_register, decay_units, gain_register, gain_units
from lava_nt.spec.spiking_bias import spiking_bias_parameters


def _decay(x, kind):
    """A decay as the layer keeps it: ``kind`` (int or float) for one per layer, a numpy
    ``(n,)`` array (int64 / float64) for one per neuron."""
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    a = a.astype(np.int64 if kind is int else np.float64).reshape(-1)
    return kind(a[0]) if a.size == 1 else a


class QATLayer(DelayMasks, torch.nn.Module):
    """One NTLIF layer (and its optional spiking bias) in fixed point with STE gradients.

    Latent float parameters (``weight``, ``bias``, ``gain``; ``w_in``, ``w_b``,
    ``c_retention``, ``bias_b`` of the spiking bias) are ``nn.Parameter`` s when trainable, buffers
    otherwise; registers are derived from them in every forward at the fixed scales ``S`` (and
    ``S_b``). ``alpha`` / ``sb_alpha`` are the surrogate-gradient slopes of the neurons and the
    bias neurons.

    Synaptic delays (``ls.delay``, frozen) delay the weights' drive as the fixed-point engines
    do (:func:`~lava_nt.qat.registers.delayed_drive`: one masked integer drive per distinct
    delay over the shifted input, :mod:`lava_nt.spec.delay`); the spiking bias' ``w_in`` has
    none. Every sample starts with empty delay lines.
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
        input_scale: float | None = None,
    ):
        super().__init__()
        p = ls.neuron
        n = ls.n
        self.n_in = int(np.asarray(ls.weight).shape[1])
        self.n = n
        self.S = float(S)
        self.bias_exp_mode = bias_exp
        self.du_f, self.dv_f, self.vth_f = _decay(p.du, float), _decay(p.dv, float), float(p.vth)
        self.reset_subtract = bool(p.reset_subtract)
        self.detach_reset = bool(detach_reset)
        self.engine = "fused"
        self._wcache: dict = {}
        # graded input (first layer): the integers round(x * input_scale) drive W / input_scale
        self.graded = input_scale is not None
        self.in_factor = 1.0 if input_scale is None else 1.0 / float(input_scale)
        self.surrogate, self.surrogate_alpha = surrogate, float(alpha)
        self.spike_fn = make_spike_fn(surrogate, alpha)
        _set(self, "weight", ls.weight, trainable["weight"])
        d = None if ls.delay is None else np.asarray(ls.delay, dtype=np.int64)
        self.set_delay(d, persistent=False)
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
            c0 = np.broadcast_to(np.asarray(pb.c_retention, np.float64), (m,))
            _set(self, "c_retention", c0, trainable["c_retention"])
            g = None if pb.group is None else torch.as_tensor(np.asarray(pb.group, np.int64))
            self.register_buffer("group", g)
        # frozen registers: the quantiser's (decays; thresholds depend on the fixed scales only)
        # du, dv: one register per layer (int) or one per neuron (int64 (n,) array)
        self.du, self.dv = _decay(fl.neuron.du, int), _decay(fl.neuron.dv, int)
        self.vth = int(fl.neuron.vth)
        if sb is not None:
            fp = fl.spiking_bias.params
            self.sb_du, self.sb_dv, self.sb_vth = int(fp.du), int(fp.dv), int(fp.vth)

    # -- registers ------------------------------------------------------------------------------
    def registers(self) -> _Registers:
        """The layer's registers at the current latent values (STE tensors and integers)."""
        k, k_int, e = cached_weights(self, "weight", self.S, self.in_factor)
        bias, bm, be = _mant_exp(self.bias * self.S, BIAS_MANT_MAX, self.bias_exp_mode,
                                 BIAS_EXP_MAX)  # fmt: skip
        gq = gain_units(self.gain)
        g_int = gain_register(gq.detach())
        sb = None
        if self.has_sb:
            kb, kb_int, eb = cached_weights(self, "w_in", self.S_b, self.in_factor, self.mask)
            bb, bbm, bbe = _mant_exp(self.bias_b * self.S_b, BIAS_MANT_MAX, self.bias_exp_mode,
                                     BIAS_EXP_MAX)  # fmt: skip
            wb, wbm, wbe = _mant_exp(self.w_b * self.S, WB_MANT_MAX, "neuron", WB_EXP_MAX)
            dq = decay_units(1.0 - self.c_retention)  # dc: c_retention = (4096 - dc) / 4096
            dc_int = decay_register(dq.detach())
            sb = {
                "k": kb, "k_int": kb_int, "w_exp": eb, "bias": bb, "bias_mant": bbm,
                "bias_exp": bbe, "w_b": wb, "w_b_mant": wbm, "w_b_exp": wbe,
                "dc": ste(dq, dc_int), "dc_int": dc_int,
            }  # fmt: skip
        return _Registers(k, k_int, e, bias, bm, be, ste(gq, g_int), g_int, sb)

    # -- dynamics -------------------------------------------------------------------------------
    def _drive(self, s_in: torch.Tensor, k: torch.Tensor, e: int) -> torch.Tensor:
        """:func:`~lava_nt.qat.registers.drive` of this layer's input (graded or spikes)."""
        return drive(s_in, k, e, self.graded)

    def _weight_drive(self, s_in: torch.Tensor, k: torch.Tensor, e: int) -> torch.Tensor:
        """The drive through the weights: delayed per synapse if the layer has delays."""
        if not self.has_delay:
            return self._drive(s_in, k, e)
        return delayed_drive(s_in, k, e, self.delay_mask_groups(), self.graded)

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
        if T is not None and self.has_delay:  # a held input reaches the neurons step by step
            x, T = x.expand(T, *x.shape), None
        a_all = self._weight_drive(x, r.k, r.w_exp)
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
        ku = decay_factor(self.du, 1, a_all.device) * DECAY_UNITY  # 4096 - (du + 1)
        kv = decay_factor(self.dv, 0, a_all.device) * DECAY_UNITY  # 4096 - dv
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
        return z, stacked_record(z, cs, sbs) if record else None

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
        return LayerSpec(
            weight=mant, neuron=neuron, spiking_bias=sbs, weight_exp=int(r.w_exp),
            delay=self._delay_copy(),
        )  # fmt: skip

    def _delay_copy(self) -> np.ndarray | None:
        return None if self.delay is None else _np(self.delay).astype(np.int64)

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
                c_retention=np.clip(_np(self.c_retention), 0.0, 1.0),
                group=None if self.group is None else _np(self.group).astype(np.int64),
            )  # fmt: skip
            w = self.w_in if self.mask is None else self.w_in * self.mask
            sbs = SpikingBiasSpec(
                w_in=_np(w), params=params,
                mask=None if self.mask is None else _np(self.mask).astype(bool),
            )  # fmt: skip
        return LayerSpec(
            weight=_np(self.weight), neuron=neuron, spiking_bias=sbs, delay=self._delay_copy()
        )

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
            self.c_retention.clamp_(0.0, 1.0)
            if self.mask is not None:
                self.w_in.mul_(self.mask)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        rename_state_dict_keys(state_dict, prefix, C_RETENTION_RENAME)  # saved before the rename
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        sb = f", spiking bias m={self.m} S_b={self.S_b:g}" if self.has_sb else ""
        tr = [k for k in TRAINABLE_KINDS if _trainable(self, k)]
        dl = f", max_delay={self.max_delay}" if self.has_delay else ""
        return f"n_in={self.n_in}, n={self.n}, S={self.S:g}{sb}{dl}, trainable={tr}"
