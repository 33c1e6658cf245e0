"""NTLayer: Dense weights (no torch bias) + optional spiking bias + NTLIF neurons.

One layer of a feed-forward NT network, exactly as :mod:`lava_nt.network` describes it::

    a[t]    = W · s_in[t]                 (nn.Linear without bias: the NTLIF bias is *the* bias)
    c[t]    = SpikingBias(s_in[t])        (0 without a spiking bias)
    s[t], _ = NTLIF step(a[t], c[t])      (lava_nt.spec.ntlif.ntlif_step)

With synaptic delays (``delay``, an integer ``(n, n_in)`` matrix) the current is
``a_j[t] = sum_i W_ji s_in_i[t - D_ji]`` (:mod:`lava_nt.spec.delay`): the synapses are grouped by
delay value and each group is one masked matmul over the time-shifted input, so per-neuron
delays cost one matmul per distinct value, not one per synapse.

``forward(s_in, state=None) -> (s_out, state)`` is one tick, so the layer works inside
``norse.torch.SequentialState``; :meth:`NTLayer.run` processes a whole ``[T, ..., n_in]`` sequence
with one matmul for all steps (identical math: the matmul does not depend on the state). A delayed
layer's state keeps the last ``max delay`` inputs (``NTLayerState.history``), so a run continued
from a state, or tick by tick, equals one long run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from lava_nt._deprecation import TRAINABLE_FLAG_RENAMES, renamed_kwargs
from lava_nt.nn._util import (
    DelayMasks,
    as_tensor,
    reject_unknown,
    resolve_dtype,
    stacked_record,
)
from lava_nt.nn.ntlif import NTLIFCell
from lava_nt.nn.spiking_bias import SpikingBias, SpikingBiasState
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE
from lava_nt.spec.delay import check_delay, delayed_input
from lava_nt.spec.ntlif import NTLIFState
from lava_nt.spec.spiking_bias import spiking_bias_step
from lava_nt.spec.validation import ParameterError, check_positive_int

__all__ = ["NTLayer", "NTLayerState"]

_LAYER_ARGS = (
    "bias", "gain", "spiking_bias", "weight", "trainable_weight", "trainable_bias",
    "trainable_gain", "du", "dv", "vth", "reset", "surrogate", "alpha", "detach_reset", "k",
    "param_shape", "delay", "dtype", "device",
)  # fmt: skip


class NTLayerState(NamedTuple):
    """State of one :class:`NTLayer`: the neurons' ``NTLIFState``, the spiking bias' state
    (None without a spiking bias) and, for a layer with delays, the last ``max delay`` inputs
    ``[M, ..., n_in]`` still on their way (None: nothing sent before)."""

    neuron: NTLIFState
    bias: SpikingBiasState | None = None
    history: torch.Tensor | None = None


class NTLayer(DelayMasks, torch.nn.Module):
    """Linear (no torch bias) + optional :class:`SpikingBias` + :class:`NTLIFCell`.

    Args:
        n_in, n: input and output sizes.
        bias: ``True`` (trainable per-neuron bias, zero-initialised), ``False``/``None`` (no bias:
            frozen zeros) or initial values (scalar / ``(n,)`` / ``[K, 1, n]``, trainable).
        gain: initial gain (default 1, frozen unless ``trainable_gain``).
        spiking_bias: a :class:`SpikingBias` with ``n_in`` inputs and ``n`` targets, or None.
        weight: initial ``(n, n_in)`` weights (default: ``nn.Linear`` initialisation).
        trainable_weight: whether ``W`` requires grad (deprecated name: ``train_weight``).
        trainable_bias, trainable_gain: override the defaults above.
        du, dv, vth, reset, surrogate, alpha, detach_reset, k, param_shape: of the
            :class:`NTLIFCell` (``alpha`` is the surrogate slope).
        delay: None, or the integer ``(n, n_in)`` synaptic delays in steps (0..62; frozen;
            :mod:`lava_nt.spec.delay`).
        dtype, device: of the weights, parameters and buffers.
    """

    @renamed_kwargs(TRAINABLE_FLAG_RENAMES)
    def __init__(
        self,
        n_in: int,
        n: int,
        bias: Any = True,
        gain: Any = 1.0,
        spiking_bias: SpikingBias | None = None,
        weight: Any = None,
        trainable_weight: bool = True,
        trainable_bias: bool | None = None,
        trainable_gain: bool = False,
        du: float = 1.0,
        dv: float = 0.0,
        vth: float = 1.0,
        reset: str = "zero",
        surrogate: Any = DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        detach_reset: bool = True,
        k: int | None = None,
        param_shape: tuple[int, ...] | None = None,
        delay: Any = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
        **unknown,
    ):
        super().__init__()
        where = type(self).__name__
        reject_unknown(unknown, _LAYER_ARGS, where)
        n_in = check_positive_int(n_in, where, "n_in")
        n = check_positive_int(n, where, "n")
        dtype = resolve_dtype(dtype)
        self.n_in, self.n = n_in, n
        self.linear = torch.nn.Linear(n_in, n, bias=False, dtype=dtype, device=device)
        if weight is not None:
            w = as_tensor(weight, dtype, device)
            if tuple(w.shape) != (n, n_in):
                raise ParameterError(
                    f"{where}: 'weight' must have shape ({n}, {n_in}), got {tuple(w.shape)}"
                )
            if not torch.isfinite(w).all():
                raise ParameterError(f"{where}: 'weight' must be finite")
            with torch.no_grad():
                self.linear.weight.copy_(w)
        self.linear.weight.requires_grad_(bool(trainable_weight))
        if bias is True:
            b_val, b_train = 0.0, True
        elif bias is False or bias is None:
            b_val, b_train = None, False
        else:
            b_val, b_train = bias, True
        if trainable_bias is not None:
            b_train = bool(trainable_bias)
        self.neuron = NTLIFCell(
            n,
            du=du,
            dv=dv,
            vth=vth,
            reset=reset,
            bias=b_val,
            gain=gain,
            trainable_bias=b_train,
            trainable_gain=trainable_gain,
            surrogate=surrogate,
            alpha=alpha,
            k=k,
            param_shape=param_shape,
            detach_reset=detach_reset,
            dtype=dtype,
            device=device,
        )
        if spiking_bias is not None:
            if not isinstance(spiking_bias, SpikingBias):
                raise ParameterError(f"{where}: 'spiking_bias' must be a SpikingBias or None")
            if spiking_bias.n_in != n_in or spiking_bias.n != n:
                raise ParameterError(
                    f"{where}: spiking bias serves {spiking_bias.n_in} -> {spiking_bias.n}, "
                    f"the layer is {n_in} -> {n}"
                )
        self.spiking_bias = spiking_bias
        self.set_delay(check_delay(delay, n, n_in, where), device)

    # convenient views
    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor:
        return self.neuron.bias

    @property
    def gain(self) -> torch.Tensor:
        return self.neuron.gain

    def synaptic_input(self, s_in: torch.Tensor, history: torch.Tensor | None = None):
        """``a = s_in @ W.T`` for any leading dims (all ``T`` steps in one matmul).

        With delays ``s_in`` is a sequence ``[T, ..., n_in]`` that starts at step 0 (or after
        ``history``, the ``[M, ..., n_in]`` inputs sent before it) and ``a_j[t] = sum_i W_ji
        s_in_i[t - D_ji]``: one masked matmul per distinct delay over the shifted input, added
        from the largest delay down (:func:`lava_nt.spec.delay.delayed_input`)."""
        w = self.linear.weight
        x = s_in.to(w.dtype)
        if not self.has_delay:
            return self.linear(x)
        if history is not None and history.shape[0]:
            x = torch.cat([history.to(w.dtype), x])
        masks = self._delay_masks
        groups = self.delay_mask_groups()
        a = delayed_input(x, groups, lambda idx, xs: torch.matmul(xs, (w * masks[idx]).T))
        return a if history is None else a[history.shape[0] :]

    def _history(self, x: torch.Tensor, state: NTLayerState | None) -> tuple:
        """``(history before x or None, history after x or None)`` of a delayed layer."""
        if not self.has_delay:
            return None, None
        M = self.max_delay
        old = None if state is None else state.history
        if old is None:
            full = torch.cat([x.new_zeros((M, *x.shape[1:])), x])
        else:
            full = torch.cat([old.to(x.dtype), x])
        return old, full[full.shape[0] - M :]

    def forward(self, s_in: torch.Tensor, state: NTLayerState | None = None):
        """One tick: ``(s_out [..., n], NTLayerState)``; ``state=None`` starts fresh."""
        if self.has_delay:
            z, st, _ = self.run(s_in.unsqueeze(0), state)
            return z[0], st
        a = self.synaptic_input(s_in)
        c, sb_state = None, None
        if self.spiking_bias is not None:
            c, _, sb_state = self.spiking_bias.step(s_in, None if state is None else state.bias)
        z, nst = self.neuron(a, None if state is None else state.neuron, c=c)
        return z, NTLayerState(nst, sb_state)

    def run(
        self,
        x: torch.Tensor,
        state: NTLayerState | None = None,
        record: bool = False,
        T: int | None = None,
    ):
        """Run ``x [T, ..., n_in]``: ``(spikes [T, ..., n], final state, record)``.

        With ``T`` given, ``x`` is a *static* input ``[..., n_in]`` held for ``T`` steps: the
        synaptic input (and the spiking bias' drive) is computed once and broadcast over time,
        which is the same computation as feeding the repeated input (tests prove it).

        ``record`` (if requested, else None) is a dict like :func:`lava_nt.network.reference_run`'s:
        ``spikes``, ``bias_current`` ``[T, ..., n]`` and ``bias_spikes`` ``[T, ..., m]`` (None
        without a spiking bias).
        """
        sb = self.spiking_bias
        if T is not None and self.has_delay:  # a held input reaches the neurons step by step
            x, T = x.expand(T, *x.shape), None
        old_hist, new_hist = self._history(x, state)
        if T is None:
            a_all = self.synaptic_input(x, old_hist)
        else:
            a_all = self.synaptic_input(x).expand(T, *x.shape[:-1], self.n)
        nst = None if state is None else state.neuron
        sst = None if state is None else state.bias
        if nst is None:
            nst = self.neuron.initial_state(a_all[0])
        p = self.neuron.neuron_parameters()
        if sb is not None:
            ab_all = sb.drive(x) if T is None else sb.drive(x).expand(T, *x.shape[:-1], sb.m)
            if sst is None:
                sst = sb.initial_state(ab_all[0])
            pb = sb.bias_parameters()
        zs, cs, sbs = [], [], []
        for t in range(a_all.shape[0]):
            c = None
            if sb is not None:
                c, s_b, sst = spiking_bias_step(ab_all[t], sst, pb, sb.spike_fn, sb.detach_reset)
                if record:
                    cs.append(c)
                    sbs.append(s_b)
            z, nst = self.neuron.activation(
                a_all[t],
                nst,
                p,
                self.neuron.dt,
                c=c,
                spike_fn=self.neuron.spike_fn,
                detach_reset=self.neuron.detach_reset,
            )
            zs.append(z)
        z_all = torch.stack(zs)
        rec = stacked_record(z_all, cs, sbs) if record else None
        return z_all, NTLayerState(nst, sst, new_hist), rec

    def extra_repr(self) -> str:
        out = f"n_in={self.n_in}, n={self.n}, trainable_weight={self.linear.weight.requires_grad}"
        return out + (f", max_delay={self.max_delay}" if self.has_delay else "")
