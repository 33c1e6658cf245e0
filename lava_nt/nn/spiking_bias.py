"""Spiking bias neurons (thesis ch. 4) as a torch module, with volumetric groups and recording.

A population of ``m`` bias neurons serves a target NTLIF layer of ``n`` neurons. Every step calls
:func:`lava_nt.spec.spiking_bias.spiking_bias_step` (the one definition)::

    a_b[t]         = (W_in * mask) · s_in[t]               (m x n_in, fixed sparsity mask)
    s_b[t]         = LIF_b(a_b[t])                         (du, dv, vth, constant drive ``bias``;
                                                            reset to zero; surrogate gradient)
    C[t]           = c_retention * C[t-1] + w_b * s_b[t]   (thesis eq. 3; one per bias neuron)
    c_target[i][t] = C[group(i)][t]                        (delivered as the target's ``c``)

``c_retention`` in [0, 1] is the fraction of the current kept from one step to the next (the
thesis' alpha); ``surrogate_alpha`` is the bias neurons' surrogate-gradient slope.

``group`` is None for one bias neuron per target neuron (``m == n``); with ``m < n`` it is a
*volumetric* bias: contiguous blocks of ``n/m`` target neurons by default, or an explicit index
array (target neuron -> bias neuron).

Training (defaults follow the thesis: ``w_b`` trained, ``W_in`` and ``c_retention`` fixed):

- ``W_in`` (``trainable_w_in``) is multiplied by its boolean ``mask`` buffer in every forward, so
  the masked entries are exactly zero in the forward and get exactly zero gradient; they are also
  zeroed at construction. With value 0 and gradient 0, Adam / AdamW / SGD (weight decay,
  momentum included) leave them at exactly 0. :meth:`SpikingBias.constrain_` re-zeroes them (and
  clamps ``c_retention``) after an arbitrary manual edit.
- ``c_retention`` (``trainable_c_retention``) is stored unconstrained and *clamped to [0, 1] in the
  forward with a straight-through gradient*:
  ``c_eff = clamp(c_retention.detach(), 0, 1) + (c_retention - c_retention.detach())``.
  Inside [0, 1] the forward value is exactly ``c_retention`` (so the forward equals the spec for
  any valid value), outside it is exactly the clamped value, and the gradient is never cut off (a
  plain clamp would freeze a retention that stepped past 1). :meth:`SpikingBias.to_parameters`
  exports the clamped value.
- ``w_b`` (``trainable_w_b``) is unconstrained.

Deprecated for one release: ``alpha=`` (use ``c_retention=``) and ``train_w_in`` / ``train_w_b`` /
``train_alpha`` (use ``trainable_w_in`` / ``trainable_w_b`` / ``trainable_c_retention``), in the
constructor and :meth:`SpikingBias.set_trainable`; state dicts saved with the old ``alpha`` key
still load.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from lava_nt._deprecation import (
    C_RETENTION_RENAME,
    TRAINABLE_FLAG_RENAMES,
    rename_state_dict_keys,
    renamed_kwargs,
    warn_renamed_attribute,
)
from lava_nt.nn._util import (
    as_tensor,
    is_trainable,
    param_shape_of,
    reject_unknown,
    resolve_dtype,
    resolve_param_shape,
    set_tensor,
    to_numpy,
)
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE, make_spike_fn
from lava_nt.spec.spiking_bias import (
    SpikingBiasParameters,
    SpikingBiasState,
    spiking_bias_parameters,
    spiking_bias_step,
)
from lava_nt.spec.validation import ParameterError, check_positive_int, check_range

__all__ = [
    "BiasRecording",
    "SpikingBias",
    "SpikingBiasParameters",
    "SpikingBiasState",
    "make_mask",
    "plot_bias_current",
]

DEFAULT_CURRENT_DECAY = 0.9

_SB_ARGS = (
    "m", "group", "sparsity", "mask", "seed", "generator", "w_in", "w_in_scale", "du", "dv", "vth",
    "bias", "w_b", "c_retention", "trainable_w_in", "trainable_w_b", "trainable_c_retention",
    "surrogate", "surrogate_alpha", "k", "detach_reset", "dtype", "device",
)  # fmt: skip


class BiasRecording(NamedTuple):
    """Bias currents ``[T, ..., n]`` delivered to the target neurons, bias spikes
    ``[T, ..., m]`` and the final state."""

    current: torch.Tensor
    spikes: torch.Tensor
    state: SpikingBiasState


def _generator(seed, generator) -> torch.Generator | None:
    if generator is not None:
        return generator
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return None  # torch's global RNG (seed it with torch.manual_seed)


def make_mask(m: int, n_in: int, sparsity: float, generator=None) -> torch.Tensor:
    """A boolean ``(m, n_in)`` mask with exactly ``round((1 - sparsity) * m * n_in)`` True
    entries at uniformly random positions (so parameter counts are exact: 10% of 160 x 400 is
    6,400)."""
    check_range(sparsity, "SpikingBias", "sparsity", 0.0, 1.0)
    if sparsity >= 1.0:
        raise ParameterError("SpikingBias: 'sparsity' must be < 1 (some inputs must remain)")
    size = m * n_in
    keep = int(round((1.0 - float(sparsity)) * size))
    perm = torch.randperm(size, generator=generator)
    mask = torch.zeros(size, dtype=torch.bool)
    mask[perm[:keep]] = True
    return mask.reshape(m, n_in)


class SpikingBias(torch.nn.Module):
    """``m`` spiking bias neurons driving an NTLIF layer of ``n_target`` neurons.

    Args:
        n_in: inputs (the target layer's input size; the same spikes drive both).
        n_target: target neurons ``n``.
        m: bias neurons (default: ``n_target``, or ``max(group) + 1`` for an index array).
        group: None (``m == n``: one per neuron; with ``m < n`` contiguous blocks),
            ``"contiguous"`` or an integer index array ``(n,)`` (target neuron -> bias neuron).
        sparsity: fraction of ``W_in`` entries fixed at zero (e.g. 0.85 or 0.90), drawn from
            ``seed`` / ``generator``; ignored when ``mask`` is given.
        mask: explicit boolean ``(m, n_in)`` mask (True = connection exists).
        seed, generator: randomness for the mask and the ``W_in`` initialisation (default:
            torch's global RNG).
        w_in: explicit ``(m, n_in)`` input matrix; otherwise ``N(0, 1) * w_in_scale /
            sqrt(n_in * density)`` (``density = 1 - sparsity``) and masked.
        du, dv, vth, bias: the bias neurons' LIF (bias = constant drive; reset to zero).
        w_b: bias weight per bias neuron (default 0: the tuned network starts equal to the
            pretrained one).
        c_retention: per-step retention factor of the leaking bias current in [0, 1] (``C[t] =
            c_retention * C[t-1] + w_b * s_b[t]``; default 0.9, the thesis does not state its
            value). Deprecated name: ``alpha``.
        trainable_w_in, trainable_w_b, trainable_c_retention: which tensors are
            ``nn.Parameter`` s (deprecated names: ``train_w_in``, ``train_w_b``, ``train_alpha``).
        surrogate, surrogate_alpha: spike surrogate of the bias neurons and its slope.
        k: store ``w_b`` and ``c_retention`` as ``(k, 1, m)`` for batched personalisation (``W_in``
            stays shared).
        detach_reset: stop the gradient through the bias neurons' reset.
        dtype, device: of all floating tensors.
    """

    @renamed_kwargs({**C_RETENTION_RENAME, **TRAINABLE_FLAG_RENAMES})
    def __init__(
        self,
        n_in: int,
        n_target: int,
        m: int | None = None,
        group: Any = None,
        sparsity: float = 0.0,
        mask: Any = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        w_in: Any = None,
        w_in_scale: float = 1.0,
        du: float = 1.0,
        dv: float = 0.0,
        vth: float = 1.0,
        bias: Any = 0.0,
        w_b: Any = 0.0,
        c_retention: Any = DEFAULT_CURRENT_DECAY,
        trainable_w_in: bool = False,
        trainable_w_b: bool = True,
        trainable_c_retention: bool = False,
        surrogate: Any = DEFAULT_SURROGATE,
        surrogate_alpha: float = DEFAULT_ALPHA,
        k: int | None = None,
        detach_reset: bool = True,
        dtype: torch.dtype | None = None,
        device: Any = None,
        **unknown,
    ):
        super().__init__()
        where = type(self).__name__
        reject_unknown(unknown, _SB_ARGS, where)
        n_in = check_positive_int(n_in, where, "n_in")
        n_target = check_positive_int(n_target, where, "n_target")
        if m is None:
            if group is not None and not isinstance(group, str):
                g = group.detach().cpu().numpy() if hasattr(group, "detach") else group
                m = int(np.max(np.asarray(g))) + 1
            else:
                m = n_target
        m = check_positive_int(m, where, "m")
        if group is None and m != n_target:
            group = "contiguous"
        checked = spiking_bias_parameters(
            m,
            n_target,
            where,
            du=du,
            dv=dv,
            vth=vth,
            bias=bias,
            w_b=w_b,
            c_retention=c_retention,
            group=group,
        )  # raises ParameterError on a wrong name, range or shape
        check_range(w_in_scale, where, "w_in_scale", 0.0, None)
        dtype = resolve_dtype(dtype)
        gen = _generator(seed, generator)
        self.n_in, self.n, self.m = n_in, n_target, m
        self.detach_reset = bool(detach_reset)
        self.surrogate = surrogate
        self.surrogate_alpha = surrogate_alpha
        self.spike_fn = make_spike_fn(surrogate, surrogate_alpha)

        # mask (bool buffer or None)
        if mask is not None:
            mk = torch.as_tensor(
                mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
            )
            if tuple(mk.shape) != (m, n_in):
                raise ParameterError(
                    f"{where}: 'mask' must have shape ({m}, {n_in}), got {tuple(mk.shape)}"
                )
            mk = mk.to(torch.bool)
        elif sparsity:
            mk = make_mask(m, n_in, sparsity, gen)
        else:
            check_range(sparsity, where, "sparsity", 0.0, 1.0)
            mk = None
        self.register_buffer("mask", None if mk is None else mk.to(device))

        # input matrix
        if w_in is None:
            density = 1.0 if mk is None else max(float(mk.float().mean()), 1e-12)
            w = torch.randn(m, n_in, generator=gen, dtype=torch.float64)
            w = w * (float(w_in_scale) / math.sqrt(n_in * density))
        else:
            w = as_tensor(w_in, torch.float64)
            if tuple(w.shape) != (m, n_in):
                raise ParameterError(
                    f"{where}: 'w_in' must have shape ({m}, {n_in}), got {tuple(w.shape)}"
                )
            if not torch.isfinite(w).all():
                raise ParameterError(f"{where}: 'w_in' must be finite")
        if mk is not None:
            w = torch.where(mk, w, torch.zeros((), dtype=w.dtype))
        set_tensor(self, "w_in", w.to(dtype=dtype, device=device), bool(trainable_w_in))

        # LIF of the bias neurons (buffers) and per-bias-neuron tensors
        for name, val in (("du", du), ("dv", dv), ("vth", vth)):
            self.register_buffer(name, as_tensor(val, dtype, device))
        kshape = resolve_param_shape(m, k, None, where)
        self.register_buffer(
            "bias", as_tensor(checked.bias, dtype, device, param_shape_of(checked.bias, m))
        )
        for name, val, train in (
            ("w_b", checked.w_b, trainable_w_b),
            ("c_retention", checked.c_retention, trainable_c_retention),
        ):
            shape = param_shape_of(val, m, kshape)
            set_tensor(self, name, as_tensor(val, dtype, device, shape), bool(train))
        group_t = (
            None if checked.group is None else torch.as_tensor(checked.group, dtype=torch.long)
        )
        self.register_buffer("group", None if group_t is None else group_t.to(device))

    # ---- parameters -----------------------------------------------------------------------
    def effective_w_in(self) -> torch.Tensor:
        """``W_in * mask`` (what the forward uses)."""
        return self.w_in if self.mask is None else self.w_in * self.mask

    def effective_c_retention(self) -> torch.Tensor:
        """``c_retention`` clamped to [0, 1] with a straight-through gradient (exact inside
        [0, 1])."""
        a = self.c_retention
        return a.detach().clamp(0.0, 1.0) + (a - a.detach())

    @property
    def alpha(self) -> torch.Tensor:
        """Deprecated name of the ``c_retention`` tensor (removed in 0.3)."""
        warn_renamed_attribute("alpha", "c_retention", type(self).__name__)
        return self.c_retention

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        rename_state_dict_keys(state_dict, prefix, C_RETENTION_RENAME)  # saved before the rename
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def bias_parameters(self) -> SpikingBiasParameters:
        """The :class:`SpikingBiasParameters` the step uses (tensors, differentiable)."""
        return SpikingBiasParameters(
            du=self.du,
            dv=self.dv,
            vth=self.vth,
            bias=self.bias,
            w_b=self.w_b,
            c_retention=self.effective_c_retention(),
            group=self.group,
        )

    @property
    def k(self) -> int | None:
        return int(self.w_b.shape[0]) if self.w_b.dim() == 3 else None

    @property
    def n_trainable_w_in(self) -> int:
        """Trainable entries of ``W_in`` (the unmasked ones), 0 if ``W_in`` is frozen."""
        if not is_trainable(self, "w_in"):
            return 0
        return self.w_in.numel() if self.mask is None else int(self.mask.sum())

    def to_parameters(self, k: int | None = None) -> SpikingBiasParameters:
        """Plain numpy :class:`SpikingBiasParameters` (float64) for the spec / Lava; with batched
        parameters pick set ``k``."""
        w_b, c_ret = self.w_b, self.c_retention.detach().clamp(0.0, 1.0)
        if self.k is not None:
            if k is None:
                raise ParameterError(
                    "SpikingBias: batched (k) parameters: pass k= to export one set"
                )
            w_b, c_ret = w_b[k, 0], c_ret[k, 0]
        return SpikingBiasParameters(
            du=float(self.du),
            dv=float(self.dv),
            vth=float(self.vth),
            bias=to_numpy(self.bias),
            w_b=to_numpy(w_b),
            c_retention=to_numpy(c_ret),
            group=None if self.group is None else self.group.cpu().numpy().astype(np.int64),
        )

    @torch.no_grad()
    def constrain_(self) -> SpikingBias:
        """Zero the masked ``W_in`` entries and clamp ``c_retention`` to [0, 1] in place."""
        if self.mask is not None:
            self.w_in.mul_(self.mask)
        self.c_retention.clamp_(0.0, 1.0)
        return self

    @renamed_kwargs(C_RETENTION_RENAME, "SpikingBias.set_trainable")
    def set_trainable(self, w_in=None, w_b=None, c_retention=None) -> SpikingBias:
        """Switch ``W_in`` / ``w_b`` / ``c_retention`` between ``nn.Parameter`` and buffer
        (None: unchanged; ``alpha=`` is the deprecated name of ``c_retention=``)."""
        for name, flag in (("w_in", w_in), ("w_b", w_b), ("c_retention", c_retention)):
            if flag is not None:
                set_tensor(self, name, getattr(self, name), bool(flag))
        return self

    def expand_parameters(self, k: int) -> SpikingBias:
        """Copy ``w_b`` and ``c_retention`` into ``k`` independent sets ``(k, 1, m)``."""
        shape = resolve_param_shape(self.m, k, None, type(self).__name__)
        for name in ("w_b", "c_retention"):
            t = getattr(self, name)
            set_tensor(self, name, t.expand(shape).clone(), is_trainable(self, name))
        return self

    # ---- dynamics -------------------------------------------------------------------------
    def initial_state(self, a_b: torch.Tensor) -> SpikingBiasState:
        """Zero state broadcast over ``a_b [..., m]`` and the parameter shapes (no grad)."""
        shape = torch.broadcast_shapes(a_b.shape, self.w_b.shape, self.c_retention.shape)
        dtype = torch.promote_types(a_b.dtype, self.vth.dtype)
        z = torch.zeros(shape, dtype=dtype, device=a_b.device)
        return SpikingBiasState(u=z, v=z, C=z)

    def drive(self, s_in: torch.Tensor) -> torch.Tensor:
        """Synaptic input of the bias neurons ``a_b = s_in @ (W_in * mask).T`` (any leading dims,
        e.g. all ``T`` steps in one matmul)."""
        w = self.effective_w_in()
        return F.linear(s_in.to(w.dtype), w)

    def step_drive(self, a_b: torch.Tensor, state: SpikingBiasState | None = None):
        """One step from a precomputed drive: ``(c_target [..., n], s_b [..., m], state)``."""
        if state is None:
            state = self.initial_state(a_b)
        return spiking_bias_step(
            a_b, state, self.bias_parameters(), self.spike_fn, self.detach_reset
        )

    def step(self, s_in: torch.Tensor, state: SpikingBiasState | None = None):
        """One step from input spikes: ``(c_target, s_b, state)``."""
        return self.step_drive(self.drive(s_in), state)

    def forward(self, s_in: torch.Tensor, state: SpikingBiasState | None = None):
        """One step: ``(c_target [..., n], new_state)`` (bias spikes: :meth:`step`)."""
        c, _, state = self.step(s_in, state)
        return c, state

    def forward_sequence(
        self, s_in: torch.Tensor, state: SpikingBiasState | None = None
    ) -> BiasRecording:
        """Run ``s_in [T, ..., n_in]`` (one matmul for all steps) and record the bias current
        ``[T, ..., n]`` and bias spikes ``[T, ..., m]``."""
        a_all = self.drive(s_in)
        if state is None:
            state = self.initial_state(a_all[0])
        p = self.bias_parameters()
        cs, ss = [], []
        for t in range(a_all.shape[0]):
            c, s_b, state = spiking_bias_step(a_all[t], state, p, self.spike_fn, self.detach_reset)
            cs.append(c)
            ss.append(s_b)
        return BiasRecording(torch.stack(cs), torch.stack(ss), state)

    record = forward_sequence

    def neuron_trace(self, rec: BiasRecording, neuron: int, sample: int | tuple = 0):
        """``(current [T], spikes [T])`` of target ``neuron`` and the bias neuron serving it, for
        one sample of a recording (for :func:`plot_bias_current`)."""
        idx = sample if isinstance(sample, tuple) else (sample,)
        j = neuron if self.group is None else int(self.group[neuron])
        cur = rec.current[(slice(None), *idx, neuron)]
        spk = rec.spikes[(slice(None), *idx, j)]
        return cur, spk

    def extra_repr(self) -> str:
        mode = "per-neuron" if self.group is None else "volumetric"
        sparse = "" if self.mask is None else f", density={float(self.mask.float().mean()):.3g}"
        return (
            f"n_in={self.n_in}, n={self.n}, m={self.m} ({mode}){sparse}, "
            f"trainable_w_in={is_trainable(self, 'w_in')}, "
            f"trainable_w_b={is_trainable(self, 'w_b')}, "
            f"trainable_c_retention={is_trainable(self, 'c_retention')}"
        )


def plot_bias_current(current, spikes, ax=None, color: str = "tab:blue", spike_color: str = "red"):
    """Plot one bias current over time with red vertical lines at the bias spikes (thesis Fig. 3).

    Args:
        current: ``[T]`` bias current of one target neuron (tensor or array).
        spikes: ``[T]`` spikes of the bias neuron serving it.
        ax: matplotlib axes (a new figure if None).

    Returns the axes. matplotlib is imported here, not at module import.
    """
    import matplotlib.pyplot as plt

    cur = np.asarray(current.detach().cpu() if hasattr(current, "detach") else current, float)
    spk = np.asarray(spikes.detach().cpu() if hasattr(spikes, "detach") else spikes, float)
    if cur.ndim != 1 or spk.shape != cur.shape:
        raise ParameterError(
            "plot_bias_current: 'current' and 'spikes' must both be 1-D [T] "
            f"(got {cur.shape} and {spk.shape}); select one sample and neuron, e.g. with "
            "SpikingBias.neuron_trace"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    t = np.arange(cur.shape[0])
    for ts in t[spk > 0]:
        ax.axvline(ts, color=spike_color, linewidth=1.0)
    ax.plot(t, cur, color=color, linewidth=1.5, label="bias current")
    ax.set_xlabel("time step")
    ax.set_ylabel("bias current C")
    ax.set_xlim(-0.5, cur.shape[0] - 0.5)
    return ax
