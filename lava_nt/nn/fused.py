"""Fused training path for :class:`~lava_nt.nn.network.NTNetwork`: one autograd node per layer.

Autograd through :class:`~lava_nt.nn.network.NTNetwork` records about fifteen small nodes per
neuron layer and time step, and on a 2-core CPU the per-node overhead, not arithmetic, dominates a
training step (``benchmarks/bench_training.py`` measures it). :class:`FusedNTNetwork` computes
exactly the same function with one :class:`torch.autograd.Function` per NTLIF layer:

* **forward**: the whole ``T``-step loop runs without autograd. It performs the operations of
  :func:`lava_nt.spec.ntlif.ntlif_step` (the one definition of the dynamics) in the same order,
  but everything that does not depend on the voltage (the current ``u``, ``g (u + b)``) is
  computed for all steps at once and the loop itself is four in-place operations per step
  (``_run_layer``); ``x = v' - vth`` is kept for the backward pass. Spikes and ``x`` are
  bit-identical to the spec step's (tests compare them step by step in float32, and whole
  networks against ``NTNetwork`` in float64 and float32).
* **backward**: hand-written BPTT. With ``x[t] = v'[t] - vth`` (``v'`` the voltage before the
  reset) and ``sg`` the surrogate derivative at ``x``, ``D[t] = dL/dv'[t]`` obeys::

      D[t] = dL/ds[t] * sg(x[t]) + (1 - dv) * R[t] * D[t+1]          (D[T] = 0)

      R[t] = 1                                  reset "subtract", detached reset
           = 1 - s[t]                           reset "zero",     detached reset
           = 1 - vth * sg(x[t])                 reset "subtract", reset not detached
           = 1 - s[t] - v'[t] * sg(x[t])        reset "zero",     reset not detached

  and then ``dL/dc = D``, ``dL/db = sum g*D``, ``dL/dg = sum (u + b)*D``, ``dL/du[t] = g*D[t] +
  (1 - du) * dL/du[t+1]`` and ``dL/da = dL/du``. Every reduction over time and batch is one
  vectorised operation; the recurrences above are one operation per step. Gradients equal
  autograd through ``NTNetwork`` to float64 rounding (tests: 1e-10).
* **static input** (:meth:`FusedNTNetwork.forward_static`, the EEG task): layer 1's synaptic
  input ``W x`` is computed once, and its gradient is summed over time before the weight gradient
  (one small matmul instead of ``T``).
* **tuning mode**: a tensor that does not require grad (frozen weights, frozen gains) costs
  nothing in the backward pass; layer 1's input gradient is never computed.
* **spiking bias** (every kind the tuning methods make: one bias neuron per neuron, a masked
  trainable ``W_in``, volumetric groups): the bias neurons are NTLIF neurons and run as one
  :class:`_NTLIFSequence` node; their leaking current ``C[t] = c_retention C[t-1] + w_b s_b[t]``
  and its fan-out to the target neurons are one more node
  (:func:`lava_nt.nn.fused_bias.bias_current`, whose hand-written backward performs autograd's
  operations in autograd's order: float32 losses and gradients are bit-identical to computing
  the current as an autograd loop); the current enters the target layer's node as its input
  ``c``. Per layer and step nothing runs in autograd.

Weights (``nn.Linear`` without bias, a spiking bias' drive ``s_in (W_in * mask)^T``) and the loss
stay in ordinary autograd (one matmul for all steps each).

Supported: both reset modes, detached or not, ``du`` and ``dv`` in [0, 1], per-neuron or batched
``[K, 1, n]`` bias, gain and spiking-bias ``w_b`` / ``c_retention`` (with an input per parameter
set or one shared by the sets), the ``"super"`` (``"superspike"``, ``"fast_sigmoid"``),
``"atan"`` and ``"heaviside"`` surrogates (``"heaviside"`` gives zero gradients where
``NTNetwork`` gives none). A custom surrogate callable or a trainable ``du``/``dv``/``vth`` raises
:class:`~lava_nt.spec.validation.ParameterError`. Only fresh-state runs are offered (every sample
starts from zero, as in training). A layer with synaptic delays (``NTLayer.delay``) is refused
(train the ``NTNetwork`` itself). Under ``torch.no_grad()`` (evaluation) nothing is kept for a
backward pass. There is no ``torch.compile`` path: compiled per layer (the forward loop and the
backward recurrence each one inductor kernel, ``benchmarks/bench_compile.py``) the EEG tuning step
was only 1.03-1.13x faster (NT1+NT2 and NT2, two runs), for a one-off compile of 1-2 minutes per
input shape, because the eager loops are a small part of the step; the eager loop is what is
tested.

Usage: ``fused = FusedNTNetwork.from_network(net)`` shares ``net``'s parameters (training
``fused`` trains ``net``); ``fused`` has ``forward(x [T, B, n_in], record=False)`` and
``forward_static(x [B, n_in], T, record=False)`` with ``NTNetwork``'s return values, so
:func:`lava_nt.training.train` accepts it in place of ``net``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import torch

from lava_nt.nn.fused_bias import align_steps, bias_current, expand_steps
from lava_nt.nn.fused_core import LayerConfig, _bias_gain_grads, _run_layer, surrogate_grad
from lava_nt.nn.fused_sparse import sparse_band_applies, sparse_band_layer
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.surrogate import surrogate_derivative, surrogate_of, surrogate_width
from lava_nt.spec.spiking_bias import spiking_bias_step
from lava_nt.spec.validation import ParameterError

__all__ = [
    "FusedNTNetwork",
    "LayerConfig",
    "fused_forward",
    "fused_ntlif",
    "keep_freed_memory",
    "surrogate_of",
]


class _NTLIFSequence(torch.autograd.Function):
    """Whole-sequence NTLIF layer: ``(a, c, bias, gain, du, dv, vth, cfg) -> spikes [T, ..., n]``.

    ``a`` is ``[T, ..., n]`` (or ``[..., n]`` with ``cfg.static``), ``c`` is ``[T, ..., n]`` or
    None. Gradients flow to ``a``, ``c``, ``bias`` and ``gain`` (not to ``du``/``dv``/``vth``).
    """

    @staticmethod
    def forward(ctx, a, c, bias, gain, du, dv, vth, cfg: LayerConfig):
        need_g = ctx.needs_input_grad[3]
        spikes, x, u = _run_layer(a, c, bias, gain, du, dv, vth, cfg, True, need_g)
        a_for_gain = a if need_g and u is None else None  # du = 1: u[t] = a[t]
        ctx.save_for_backward(x, spikes, a_for_gain, u, bias, gain, du, dv, vth)
        ctx.cfg = cfg
        ctx.a_shape = a.shape
        ctx.c_shape = None if c is None else c.shape
        return spikes

    @staticmethod
    def backward(ctx, g_s):
        x, s, a, u, bias, gain, du, dv, vth = ctx.saved_tensors
        cfg: LayerConfig = ctx.cfg
        need_a, need_c, need_b, need_g = ctx.needs_input_grad[:4]
        grads = [None] * 8
        if not (need_a or need_c or need_b or need_g):
            return tuple(grads)
        d = _voltage_grad(g_s, x, s, dv, vth, cfg)
        if need_c:
            grads[1] = d.sum_to_size(ctx.c_shape)
            if grads[1] is d:
                d = d.clone()  # d is modified in place below
        # per-parameter-set sums: g and b are constant over the dimensions summed here
        d_t = d.sum(0) if cfg.static and u is None else None  # static a: sum over time first
        if need_b or need_g:
            grads[2], grads[3] = _bias_gain_grads(d, d_t, a, u, bias, gain, need_b, need_g)
        if need_a:
            grads[0] = _input_grad(d, d_t, gain, du, cfg).sum_to_size(ctx.a_shape)
        return tuple(grads)


def _voltage_grad(g_s, x, s, dv, vth, cfg: LayerConfig) -> torch.Tensor:
    """``D[t] = dL/dv'[t]`` of every step (module docstring), built in place."""
    # first the direct term dL/ds[t] * sg(x[t]) and the reset factor R[t] ...
    if cfg.detach_reset:
        d = _direct_term(g_s, x, cfg.surrogate, cfg.alpha, cfg.width)
        r = None if cfg.reset_subtract else 1.0 - s
    else:
        sg = surrogate_grad(x, cfg.surrogate, cfg.alpha, cfg.width)
        d = g_s * sg
        if cfg.reset_subtract:
            r = sg.mul_(-float(vth)).add_(1.0)
        else:
            r = (1.0 - s).sub_((x + vth).mul_(sg))
    # ... then the recurrence D[t] += (1 - dv) R[t] D[t+1]
    beta = float(1.0 - dv)
    d_s = d.unbind(0)
    if r is None:
        for t in range(cfg.T - 2, -1, -1):
            d_s[t].add_(d_s[t + 1], alpha=beta)
    else:
        k = r.mul_(beta).unbind(0)
        for t in range(cfg.T - 2, -1, -1):
            d_s[t].addcmul_(k[t], d_s[t + 1])
    return d


def _input_grad(d, d_t, gain, du, cfg: LayerConfig) -> torch.Tensor:
    """``dL/da`` (before summing to ``a``'s shape): ``dv'/du = g``, ``du[t]/da[t] = 1``,
    ``du[t+1]/du[t] = 1 - du``; ``d`` is consumed (modified in place)."""
    if d_t is not None:
        return gain * d_t
    gd = d.mul_(gain)
    decay = float(1.0 - du)
    if decay != 0.0:
        g_s_t = gd.unbind(0)
        for t in range(cfg.T - 2, -1, -1):
            g_s_t[t].add_(g_s_t[t + 1], alpha=decay)
    return gd.sum(0) if cfg.static else gd


def _direct_term(g_s: torch.Tensor, x: torch.Tensor, kind: str, alpha: float, width=None):
    """``g_s * surrogate_grad(x)`` as a new tensor, with as few passes as possible."""
    return surrogate_derivative(x, kind, alpha, g_s, scale_last=True, width=width)


def fused_ntlif(
    a: torch.Tensor,
    cell,
    T: int | None = None,
    c: torch.Tensor | None = None,
) -> torch.Tensor:
    """Spikes ``[T, ..., n]`` of the NTLIF layer ``cell`` (an :class:`~lava_nt.nn.ntlif.NTLIFCell`)
    for synaptic input ``a`` ``[T, ..., n]`` (or a static ``[..., n]`` held for ``T`` steps) and
    optional bias current ``c`` ``[T, ..., n]``, from a fresh state, as one autograd node."""
    for name in ("du", "dv", "vth"):
        if getattr(cell, name).requires_grad:
            raise ParameterError(f"FusedNTNetwork: a trainable '{name}' is not supported")
    _refuse_per_neuron_decays(cell, "an NTLIF layer")
    kind, alpha = surrogate_of(cell.spike_fn)
    return _sequence(
        a, c, cell.bias, cell.gain, cell.du, cell.dv, cell.vth, T,
        bool(cell.reset_subtract), bool(cell.detach_reset), kind, alpha,
        surrogate_width(cell.spike_fn),
    )  # fmt: skip


def _sequence(
    a, c, bias, gain, du, dv, vth, T, reset_subtract, detach_reset, kind, alpha, width=None
):
    """Spikes of one NTLIF population over the whole sequence: one :class:`_NTLIFSequence` node,
    or just the loop when nothing needs a gradient (nothing is saved for a backward pass)."""
    static = T is not None
    if not static:  # each step a[t] lines up with [k, 1, n] parameters as in the spec step
        c_shape = () if c is None else c.shape[1:]
        a = align_steps(
            a, len(torch.broadcast_shapes(a.shape[1:], c_shape, bias.shape, gain.shape))
        )
    cfg = LayerConfig(
        int(T if static else a.shape[0]), static, reset_subtract, detach_reset, kind, alpha, width
    )
    args = (a, c, bias, gain, du, dv, vth, cfg)
    if not torch.is_grad_enabled() or not any(
        t is not None and t.requires_grad for t in args[:4]
    ):  # inference: nothing to save for a backward pass
        return _run_layer(*args, keep_x=False, keep_u=False)[0]
    return _NTLIFSequence.apply(*args)


def _spiking_bias_current(sb, x: torch.Tensor, T: int | None):
    """Bias current ``[T, ..., n]`` and bias spikes ``[T, ..., m]`` of a spiking-bias population,
    as two fused nodes.

    The bias neurons are NTLIF neurons (gain 1, reset to zero, see
    :func:`lava_nt.spec.spiking_bias.spiking_bias_step`), so they run as one
    :class:`_NTLIFSequence`; the leaking current ``C[t] = c_retention C[t-1] + w_b s_b[t]`` and the
    fan-out to the targets run as one :func:`lava_nt.nn.fused_bias.bias_current` node, with the
    spec's operations in the spec's order. Every kind the tuning methods make is fused: per-neuron
    (``spiking_bias``), masked trainable ``W_in`` (``spiking_bias_sparse``; the mask is applied in
    the drive ``a_b = s_in (W_in * mask)^T``, in autograd) and volumetric groups. A population
    whose bias-neuron dynamics are trainable or whose surrogate has no known derivative runs the
    spec step in autograd instead."""
    ab = sb.drive(x)
    fusable = not any(t.requires_grad for t in (sb.du, sb.dv, sb.vth, sb.bias))
    if fusable:
        try:
            kind, alpha = surrogate_of(sb.spike_fn)
        except ParameterError:
            fusable = False
    if not fusable:
        return _spiking_bias_current_autograd(sb, ab, T)
    one = torch.ones((), dtype=sb.vth.dtype, device=ab.device)  # bias neurons: gain 1
    s_b = _sequence(
        ab, None, sb.bias, one, sb.du, sb.dv, sb.vth, T, False, sb.detach_reset, kind, alpha,
        surrogate_width(sb.spike_fn),
    )  # reset to zero  # fmt: skip
    a_c = sb.effective_c_retention()
    c = bias_current(s_b, sb.w_b, a_c, sb.group)
    # bias spikes in the shape the eager network records (with [k, 1, m] parameter sets the
    # bias-neuron state is [k, ..., m] there, even for an input shared by the sets)
    shape = torch.broadcast_shapes(s_b.shape[1:], sb.w_b.shape, a_c.shape)
    return c, expand_steps(s_b, shape)


def _spiking_bias_current_autograd(sb, ab: torch.Tensor, T: int | None):
    """:func:`_spiking_bias_current` through the spec step in ordinary autograd (any settings)."""
    if T is not None:
        ab = ab.expand(T, *ab.shape)
    sst = sb.initial_state(ab[0])
    pb = sb.bias_parameters()
    cs, sbs = [], []
    for t in range(ab.shape[0]):
        c, s_b, sst = spiking_bias_step(ab[t], sst, pb, sb.spike_fn, sb.detach_reset)
        cs.append(c)
        sbs.append(s_b)
    return torch.stack(cs), torch.stack(sbs)


def _refuse_delays(net: NTNetwork) -> None:
    """The fused path has no synaptic delays (``NTLayer.delay``): refuse such a network."""
    for k, layer in enumerate(net.layers):
        if getattr(layer, "has_delay", False):
            raise ParameterError(
                f"FusedNTNetwork: layer {k} has synaptic delays, which the fused training path "
                "does not support; train the NTNetwork itself (the eager path)"
            )


def _refuse_per_neuron_decays(cell, what: str) -> None:
    """The fused path takes one ``du`` and one ``dv`` per layer: refuse per-neuron decays."""
    for name in ("du", "dv"):
        if getattr(cell, name).numel() != 1:
            raise ParameterError(
                f"FusedNTNetwork: {what} has per-neuron '{name}', which the fused training path "
                "does not support; train the NTNetwork itself (the eager path)"
            )


def fused_forward(net: NTNetwork, x: torch.Tensor, T: int | None = None, record: bool = False):
    """Run ``net`` with one fused autograd node per layer (see the module docstring).

    ``x`` is ``[T, ..., n_in]``, or with ``T`` given a static ``[..., n_in]`` held for ``T`` steps.
    Returns the output spikes ``[T, ..., n_out]`` (the readout's voltage trace for a network with
    a readout) and, with ``record=True``, also the per-layer
    record dicts of :meth:`NTNetwork.forward` (``spikes``, ``bias_current``, ``bias_spikes``).
    """
    if not isinstance(net, NTNetwork):
        raise ParameterError("fused_forward: expected an NTNetwork")
    if x.shape[-1] != net.n_in:
        raise ParameterError(
            f"FusedNTNetwork: input must be [{'' if T else 'T, '}..., {net.n_in}], "
            f"got {tuple(x.shape)}"
        )
    if T is not None and (isinstance(T, bool) or not isinstance(T, int) or T <= 0):
        raise ParameterError(f"FusedNTNetwork: 'T' must be a positive int, got {T!r}")
    if T is None and x.dim() < 2:
        raise ParameterError(f"FusedNTNetwork: input must be [T, ..., {net.n_in}]")
    _refuse_delays(net)
    s = x
    recs = []
    for k, layer in enumerate(net.layers):
        t_static = T if k == 0 else None
        width = _sparse_band(layer, s, t_static)
        a = layer.synaptic_input(s) if width is None else None
        c = b_spk = None
        if layer.spiking_bias is not None:
            c, b_spk = _spiking_bias_current(layer.spiking_bias, s, t_static)
        if width is None:
            s = fused_ntlif(a, layer.neuron, t_static, c)
        else:  # a = s W^T and the NTLIF loop as one node with a sparse input gradient
            kind, alpha = surrogate_of(layer.neuron.spike_fn)
            w = layer.linear.weight
            s = sparse_band_layer(s.to(w.dtype), w, layer.neuron, c, kind, alpha, width)
        if record:
            recs.append({"spikes": s, "bias_current": c, "bias_spikes": b_spk})
    if net.readout is not None:  # the readout's voltage trace, as NTNetwork.forward
        s = net.readout(s)
    return (s, recs) if record else s


def _sparse_band(layer, s: torch.Tensor, T: int | None) -> float | None:
    """The band width of ``layer`` if it runs as a :mod:`lava_nt.nn.fused_sparse` node (a band is
    set, a gradient is recorded and the layer is of the kind that node handles), else None."""
    cell = layer.neuron
    width = surrogate_width(cell.spike_fn)
    if width is None or not torch.is_grad_enabled():
        return None
    if not (s.requires_grad or layer.linear.weight.requires_grad):
        return None
    if not sparse_band_applies(layer, width, T is not None):
        return None
    for name in ("du", "dv", "vth"):
        if getattr(cell, name).requires_grad:
            raise ParameterError(f"FusedNTNetwork: a trainable '{name}' is not supported")
    return width


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Let glibc's malloc serve blocks up to ``mmap_threshold`` bytes from the heap and keep up to
    ``trim_threshold`` bytes of freed memory instead of returning it to the OS (``mallopt``
    ``M_MMAP_THRESHOLD`` / ``M_TRIM_THRESHOLD``, the same as the ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` environment variables).

    A training step allocates and frees several multi-megabyte ``[T, B, n]`` tensors; by default
    glibc maps each one fresh and the kernel zero-fills it page by page on first touch, which cost
    about a quarter of a FusedNTNetwork step on the EEG network here (BENCHMARKS.md). This is
    process-wide and opt-in: the process keeps its peak heap instead of shrinking. Returns True if
    both settings were applied (Linux with glibc), False otherwise (nothing changed).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = mallopt(m_mmap_threshold, int(mmap_threshold)) == 1
    return mallopt(m_trim_threshold, int(trim_threshold)) == 1 and ok


class FusedNTNetwork(torch.nn.Module):
    """An :class:`NTNetwork` run through :func:`fused_forward` (same parameters, same spikes,
    same gradients, fewer autograd nodes). Build with :meth:`from_network`."""

    def __init__(self, net: NTNetwork):
        super().__init__()
        if not isinstance(net, NTNetwork):
            raise ParameterError("FusedNTNetwork: expected an NTNetwork")
        for k, layer in enumerate(net.layers):
            cell = layer.neuron
            surrogate_of(cell.spike_fn)  # raises early for an unsupported surrogate
            for name in ("du", "dv", "vth"):
                if getattr(cell, name).requires_grad:
                    raise ParameterError(
                        f"FusedNTNetwork: layer {k} has a trainable '{name}' (not supported)"
                    )
            _refuse_per_neuron_decays(cell, f"layer {k}")
        _refuse_delays(net)
        self.net = net
        if hasattr(net, "n_classes"):
            self.n_classes = net.n_classes

    @classmethod
    def from_network(cls, net: NTNetwork) -> FusedNTNetwork:
        """Wrap ``net`` (no copy: the parameters are shared)."""
        return cls(net)

    @property
    def n_in(self) -> int:
        return self.net.n_in

    @property
    def n_out(self) -> int:
        return self.net.n_out

    @property
    def sizes(self) -> list[int]:
        return self.net.sizes

    @property
    def layers(self):
        return self.net.layers

    def forward(self, x: torch.Tensor, record: bool = False):
        """``x [T, ..., n_in]`` -> spikes ``[T, ..., n_out]`` (and records with ``record``)."""
        return fused_forward(self.net, x, None, record)

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """Static input ``x [..., n_in]`` held for ``T`` steps (layer-1 input computed once)."""
        return fused_forward(self.net, x, T, record)

    def after_step(self):
        if hasattr(self.net, "after_step"):
            self.net.after_step()
