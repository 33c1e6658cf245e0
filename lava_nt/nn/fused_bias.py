"""The leaking current of a spiking-bias population over a whole sequence, as one autograd node
(part of the fused training path, :mod:`lava_nt.nn.fused`).

:func:`lava_nt.spec.spiking_bias.spiking_bias_step` turns the bias neurons' spikes into the
current delivered to the target layer::

    C[t]        = c_retention * C[t-1] + w_b * s_b[t]        (C[-1] = 0; one per bias neuron)
    c_target[t] = C[t][..., group]                            (the fan-out; C itself without groups)

with ``s_b`` the bias spikes ``[T, ..., m]``, ``w_b`` the bias weights, ``c_retention`` the
fraction of the current kept from one step to the next (both ``(m,)``, scalars or ``(k, 1, m)``)
and ``group`` the target-neuron -> bias-neuron index (``(n,)``, or None for one bias neuron per
target neuron). Written step by step in autograd this is three nodes per step, and the backward
of every per-step slice ``w[t]`` allocates and adds a whole ``[T, ..., m]`` tensor (work quadratic
in ``T``: on the EEG network that was a third of a spiking-bias tuning step).
:func:`bias_current` computes it with one node and a hand-written backward::

    g[t]        = dL/dc_target[t] summed over each bias neuron's targets (its fan-in)
    G[t]        = g[t] + c_retention * G[t+1]                (G[T] = 0)
    dL/ds_b[t]  = w_b * G[t]
    dL/dw_b     = sum over t and the batch of s_b[t] * G[t]
    dL/dc_retention = sum over t >= 1 and the batch of C[t-1] * G[t]

The forward performs the spec's operations in the spec's order (``c_retention * C`` rounded, then
``+ w_b s_b`` rounded), so ``C`` is bit-identical to the spec step's. The backward performs the
operations step-by-step autograd would perform, in its order: the product ``c_retention * G[t+1]``
rounded and then added to ``g[t]``, a bias neuron's target gradients summed in target-index order
starting from zero, one product and one reduction for ``dL/dw_b`` and ``dL/ds_b``. So in float32
it gives the same ``dL/dw_b`` and ``dL/ds_b`` bits as the autograd loop that computes the jumps
``w_b s_b`` of all steps in one product (the fused path's formulation before this node; the
eager network multiplies step by step, so its ``dL/dw_b`` is the same sum in another order). Only
``dL/dc_retention`` (a trainable retention, which the tuning methods never use) is one reduction
instead of one per step.
"""

from __future__ import annotations

import torch

__all__ = ["align_steps", "bias_current", "expand_steps"]


def bias_current(
    s_b: torch.Tensor,
    w_b: torch.Tensor,
    c_retention: torch.Tensor,
    group: torch.Tensor | None,
) -> torch.Tensor:
    """The target currents ``c_target [T, ..., n]`` of bias spikes ``s_b [T, ..., m]`` (module
    docstring), as one autograd node, or just the loop when nothing needs a gradient."""
    args = (s_b, w_b, c_retention)
    if torch.is_grad_enabled() and any(t.requires_grad for t in args):
        return _BiasCurrentSequence.apply(s_b, w_b, c_retention, group)
    with torch.no_grad():
        C = _current(s_b, w_b, c_retention)
        return C if group is None else C.index_select(-1, group)


def align_steps(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """``x [T, ...]`` viewed as ``[T, 1, ..., 1, ...]`` with ``ndim`` dims after T, so that each
    step ``x[t]`` lines up with a per-step shape of ``ndim`` dims from the right (as the spec step
    broadcasts ``s_b[t]`` against ``[k, 1, m]`` parameters)."""
    extra = ndim - (x.dim() - 1)
    return x if extra <= 0 else x.view(x.shape[0], *([1] * extra), *x.shape[1:])


def expand_steps(x: torch.Tensor, shape) -> torch.Tensor:
    """``x [T, ...]`` expanded (a view) to ``[T, *shape]``, each step ``x[t]`` broadcast to
    ``shape`` as the spec step broadcasts it (e.g. bias spikes ``[T, B, m]`` -> ``[T, k, B, m]``
    for ``k`` parameter sets, the shape the eager network records)."""
    shape = tuple(shape)
    if tuple(x.shape[1:]) == shape:
        return x
    return align_steps(x, len(shape)).expand(x.shape[0], *shape)


def _current(s_b, w_b, c_ret) -> torch.Tensor:
    """``C [T, ...]`` over the whole sequence (no autograd): ``C[t] = c_ret * C[t-1] + w_b s_b[t]``
    with the product and the sum rounded separately, as the spec step."""
    T = s_b.shape[0]
    shape = torch.broadcast_shapes(s_b.shape[1:], w_b.shape, c_ret.shape)
    w = w_b * align_steps(s_b, len(shape))  # the jump of every step at once (the spec's w_b * s_b)
    C = w if tuple(w.shape[1:]) == tuple(shape) else w.expand(T, *shape).contiguous()
    if T > 1:
        tmp = torch.empty(shape, dtype=C.dtype, device=C.device)
        for t in range(1, T):
            # (c_ret * C[t-1]) + w[t], written as w[t] + (...): IEEE addition is commutative
            C[t].add_(torch.mul(C[t - 1], c_ret, out=tmp))
    return C


def _fan_in(g: torch.Tensor, group: torch.Tensor, m: int) -> torch.Tensor:
    """``g [..., n] -> [..., m]``: the gradients of each bias neuron's targets summed in
    target-index order from zero (the order of autograd's backward of ``C[..., group]``).
    Contiguous equal groups (the volumetric default) take ``n / m`` vectorised additions."""
    n = g.shape[-1]
    r = n // m
    if n == m * r and torch.equal(group, torch.arange(m, device=group.device).repeat_interleave(r)):
        gv = g.reshape(*g.shape[:-1], m, r)
        acc = gv[..., 0].clone()  # 0 + g = g
        for k in range(1, r):
            acc.add_(gv[..., k])
        return acc
    out = torch.zeros((*g.shape[:-1], m), dtype=g.dtype, device=g.device)
    return out.index_add_(-1, group, g)


class _BiasCurrentSequence(torch.autograd.Function):
    """``(s_b, w_b, c_retention, group) -> c_target [T, ..., n]`` (module docstring).

    Gradients flow to ``s_b``, ``w_b`` and ``c_retention`` (``group`` is an index)."""

    @staticmethod
    def forward(ctx, s_b, w_b, c_ret, group):
        C = _current(s_b, w_b, c_ret)
        need_c = ctx.needs_input_grad[2]
        ctx.save_for_backward(s_b, w_b, c_ret, C if need_c else None, group)
        ctx.m = C.shape[-1]
        ctx.s_shape = s_b.shape
        if group is None:
            return C
        return C.index_select(-1, group)

    @staticmethod
    def backward(ctx, g_out):
        s_b, w_b, c_ret, C, group = ctx.saved_tensors
        need_s, need_w, need_c = ctx.needs_input_grad[:3]
        g = g_out.contiguous() if group is None else _fan_in(g_out.contiguous(), group, ctx.m)
        T = g.shape[0]
        G = torch.empty(g.shape, dtype=g.dtype, device=g.device)
        G[T - 1] = g[T - 1]
        if T > 1:
            tmp = torch.empty(g.shape[1:], dtype=g.dtype, device=g.device)
            for t in range(T - 2, -1, -1):
                # autograd: dL/dC[t] = (stack's g[t]) + (mul's G[t+1] * c_ret), both rounded
                torch.add(g[t], torch.mul(G[t + 1], c_ret, out=tmp), out=G[t])
        nd = G.dim() - 1
        gs = None
        if need_s:
            s_steps = align_steps(s_b, nd).shape
            gs = (G * w_b).sum_to_size(s_steps).view(ctx.s_shape)
        gw = (G * align_steps(s_b, nd)).sum_to_size(w_b.shape) if need_w else None
        gc = None
        if need_c:
            gc = (G[1:] * C[:-1]).sum_to_size(c_ret.shape) if T > 1 else torch.zeros_like(c_ret)
        return gs, gw, gc, None
