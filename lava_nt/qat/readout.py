"""The integrator readout in fixed point with straight-through gradients (:class:`QATReadout`).

The readout of :mod:`lava_nt.spec.readout` at its own voltage scale ``S_r`` (the quantiser's,
:mod:`lava_nt.converters.quantize.readout`), operation for operation as
:func:`~lava_nt.spec.readout.fixed_readout_step`::

    u[t] = wrap24( trunc((4096 - i_decay) u[t-1] / 4096) + k · s[t] 2**(7+e) )
    v[t] = sat24( trunc((4096 - v_decay) v[t-1] / 4096) + u[t] + (bias_mant << bias_exp) )

Legend: ``s`` the last layer's spikes, ``k`` the weight pair indices (mantissas ``2k``) and ``e``
the weight exponent, ``i_decay`` / ``v_decay`` the decay registers (frozen: ``round(du 4096)``,
``round(dv 4096)``), ``bias_mant << bias_exp = round(b S_r)``. Every register is derived from a
float latent by the rules of :mod:`lava_nt.spec.quantization` (straight-through gradients); the
trace is computed on float64 tensors holding exact integers (``|u|, |v| < 2**24``), with the
gradient of the exact quotient through each truncation, the identity through the wrap and none
where ``v`` saturates.

:meth:`QATReadout.forward` returns the integer voltage trace (bit for bit the fixed-point
network's output); :meth:`QATReadout.values` reduces it over the window (``last`` / ``mean`` /
``max``, :func:`~lava_nt.spec.readout.reduce_readout`) and divides by ``S_r``, so the training
loss sees logits in the float network's units (the argmax, i.e. every decision, is that of the
integer values: dividing by a positive scale keeps their order and their ties).
"""

from __future__ import annotations

import numpy as np
import torch

from lava_nt.qat.registers import (
    _UV_LIM,
    _mant_exp,
    _np,
    _set,
    _trainable,
    _trunc_shift,
    _wrap_u,
    cached_weights,
    drive,
)
from lava_nt.spec.fixed import BIAS_EXP_MAX, BIAS_MANT_MAX, DECAY_SHIFT, DECAY_UNITY
from lava_nt.spec.readout import (
    ReadoutSpec,
    fixed_readout_parameters,
    readout_parameters,
    reduce_readout,
)
from lava_nt.spec.validation import ParameterError

#: What of a readout can be trained.
READOUT_TRAINABLE_KINDS = ("weight", "bias")


class QATReadout(torch.nn.Module):
    """A readout population in fixed point with STE gradients (see the module docstring).

    Args:
        ro: the float readout (latent weights and biases, decays, reduction).
        fro: the quantiser's fixed readout of ``ro`` at scale ``S`` (its decay registers are
            taken over).
        S: the readout's voltage scale ``S_r``.
        bias_exp: ``"neuron"``, ``"layer"`` or a fixed int, as for the layers.
        trainable: ``{"weight": bool, "bias": bool}``.
    """

    def __init__(self, ro: ReadoutSpec, fro: ReadoutSpec, S: float, bias_exp, trainable: dict):
        super().__init__()
        p = ro.params
        self.n = ro.n
        self.n_in = int(np.asarray(ro.weight).shape[1])
        self.S = float(S)
        self.bias_exp_mode = bias_exp
        self.du_f, self.dv_f, self.reduce = float(p.du), float(p.dv), p.reduce
        self._wcache: dict = {}
        _set(self, "weight", ro.weight, bool(trainable.get("weight", False)))
        bias = np.broadcast_to(np.asarray(p.bias, np.float64), (self.n,))
        _set(self, "bias", bias, bool(trainable.get("bias", False)))
        self.i_decay, self.v_decay = int(fro.params.i_decay), int(fro.params.v_decay)

    def registers(self):
        """``(k STE, k int, e, bias STE, bias_mant, bias_exp)`` at the current latents."""
        k, k_int, e = cached_weights(self, "weight", self.S)
        bias, bm, be = _mant_exp(self.bias * self.S, BIAS_MANT_MAX, self.bias_exp_mode,
                                 BIAS_EXP_MAX)  # fmt: skip
        return k, k_int, e, bias, bm, be

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """The integer voltage trace ``[T, ..., n]`` (float64 holding exact integers, STE
        gradients) fed by the last layer's spikes ``s [T, ..., n_in]``."""
        if s.shape[-1] != self.n_in:
            raise ParameterError(
                f"QATReadout: input must be [T, ..., {self.n_in}], got {tuple(s.shape)}"
            )
        k, _, e, bias, _, _ = self.registers()
        a_all = drive(s.to(torch.float64), k, e)
        ku = float(DECAY_UNITY - self.i_decay)
        kv = float(DECAY_UNITY - self.v_decay)
        u = v = torch.zeros(a_all.shape[1:], dtype=torch.float64, device=a_all.device)
        trace = []
        for t in range(a_all.shape[0]):
            u = _wrap_u(_trunc_shift(u * ku, DECAY_SHIFT) + a_all[t])
            v = torch.clamp(_trunc_shift(v * kv, DECAY_SHIFT) + u + bias, -_UV_LIM, _UV_LIM)
            trace.append(v)
        return torch.stack(trace)

    def values(self, trace: torch.Tensor) -> torch.Tensor:
        """Readout values ``[..., n]`` in float units: the reduced integer trace divided by
        ``S_r`` (what the training loss takes as logits)."""
        return reduce_readout(trace, self.reduce) / self.S

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp the bias latents to what the 13-bit mantissa and its exponent can hold."""
        exp = BIAS_EXP_MAX if isinstance(self.bias_exp_mode, str) else self.bias_exp_mode
        lim = BIAS_MANT_MAX * 2.0**exp / self.S
        self.bias.clamp_(-lim, lim)

    def fixed_readout(self) -> ReadoutSpec:
        """The fixed-point :class:`~lava_nt.spec.readout.ReadoutSpec` of the current registers."""
        with torch.no_grad():
            _, k_int, e, _, bm, be = self.registers()
        params = fixed_readout_parameters(
            self.n, "QATNetwork readout", i_decay=self.i_decay, v_decay=self.v_decay,
            bias_mant=_np(bm).astype(np.int64), bias_exp=_np(be).astype(np.int64),
            reduce=self.reduce,
        )  # fmt: skip
        mant = (2 * _np(k_int)).astype(np.int64)
        return ReadoutSpec(weight=mant, params=params, weight_exp=int(e))

    def float_readout(self) -> ReadoutSpec:
        """The float :class:`~lava_nt.spec.readout.ReadoutSpec` of the latent parameters."""
        params = readout_parameters(
            self.n, "QATNetwork readout", du=self.du_f, dv=self.dv_f, bias=_np(self.bias),
            reduce=self.reduce,
        )  # fmt: skip
        return ReadoutSpec(weight=_np(self.weight), params=params)

    def extra_repr(self) -> str:
        tr = [k for k in READOUT_TRAINABLE_KINDS if _trainable(self, k)]
        return (
            f"n_in={self.n_in}, n={self.n}, S={self.S:g}, i_decay={self.i_decay}, "
            f"v_decay={self.v_decay}, reduce={self.reduce}, trainable={tr}"
        )
