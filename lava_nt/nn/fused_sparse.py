"""Sparse-band layer node of the fused training path (:mod:`lava_nt.nn.fused`): opt-in sparse
spiking gradient descent (Perez-Nieves & Goodman, NeurIPS 2021).

With a band (:func:`lava_nt.nn.sparse_grad.sparse_gradients`) the surrogate derivative of a
layer is exactly zero outside ``|v' - vth| < width`` (``width = B_th * vth``), so the direct term
``G[t] = dL/ds[t] * sg(x[t])`` of the backward pass is sparse: only the neurons near threshold
carry it. The voltage gradient ``D`` is not sparse (``D[t] = G[t] + (1 - dv) D[t+1]`` spreads it
over earlier steps), but for a layer whose synaptic input feeds the voltage directly (``du = 1``)
and whose reset passes no gradient and subtracts (``detach_reset``, ``reset="subtract"``: the
reset factor ``R[t] = 1``, the EEG network's layers) the recurrence is one linear time filter
``F`` shared by every neuron, which commutes with the weights::

    dL/da       = g * F(G)                    (F: D[t] = G[t] + (1 - dv) D[t+1])
    dL/ds_in    = F(g G W)                    (the filter applied after the matmul, on n_in)

so the input-gradient matmul takes the sparse ``Q = g G`` (``[rows, n]`` with only the band's
entries non-zero) instead of the dense ``g D``. :class:`_SparseBandLayer` is one autograd node
for ``a = s_in W^T`` and the NTLIF loop that computes ``dL/ds_in`` that way when ``G`` is sparse
enough: its density, estimated from every 8th entry, at most :data:`SPARSE_MAX_DENSITY`; ``Q W``
is then a sparse sum of the active neurons' weight rows per input row
(``torch.nn.functional.embedding_bag`` with the non-zero values as per-sample weights). Above
that density the node computes ``dL/ds_in = (g D) W`` with the dense matmul, as the dense node
does (no filter after it). The threshold is the measured crossover on this project's 2-core CPU,
one thread, under load: a sparse product beats MKL's dense matmul of these shapes only at about
1-2 % non-zeros, and then by 5-20 % (``benchmarks/bench_sparse_grad.py`` records it; torch's CSR
product, building the CSR tensor included, was sometimes a little faster and sometimes slower than
``embedding_bag``, which needs no sparse tensor and is kept). Everything else
(``dL/dW = (g D)^T s_in``, ``dL/db``, ``dL/dg``, ``dL/dc``) is computed from ``D`` as in the
dense node. The forward is the dense node's, bit for bit.

Gradients equal the dense node's with the banded derivative to rounding (the summation order of
the input gradient differs; tests compare them in float64). Layers of another kind (``du < 1``,
reset to zero, a reset with gradient, LoRA or delayed synapses, layer 1's static input) and the
spiking-bias neurons (reset to zero) run the dense node with the banded derivative: correct, but
without the sparse product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lava_nt.nn.fused_bias import align_steps
from lava_nt.nn.fused_core import LayerConfig, _bias_gain_grads, _run_layer
from lava_nt.nn.surrogate import surrogate_derivative

__all__ = [
    "SPARSE_MAX_DENSITY",
    "sampled_density",
    "sparse_band_applies",
    "sparse_band_layer",
    "sparse_matmul",
]

#: Largest density of ``Q`` at which the input-gradient product is computed sparsely (measured
#: crossover with the dense matmul on this project's CPU, one thread: module docstring).
SPARSE_MAX_DENSITY = 0.01
#: :func:`sampled_density` estimates a density from every this-many-th entry.
DENSITY_STRIDE = 8


def sparse_band_applies(layer, width: float | None, static: bool) -> bool:
    """Whether layer ``layer`` (an :class:`~lava_nt.nn.layer.NTLayer`) can run
    :class:`_SparseBandLayer`: a band is set, the input is a sequence, the synapses are a plain
    ``nn.Linear`` without delays, ``du = 1`` and the reset is detached and subtractive."""
    cell = layer.neuron
    return (
        width is not None
        and not static
        and type(layer.linear) is torch.nn.Linear
        and not layer.has_delay
        and cell.du.numel() == 1
        and float(cell.du) == 1.0
        and bool(cell.detach_reset)
        and bool(cell.reset_subtract)
    )


def sparse_band_layer(s_in, weight, cell, c, kind: str, alpha: float, width: float):
    """Spikes ``[T, ..., n]`` of an NTLayer (``a = s_in W^T`` + the NTLIF loop) as one
    :class:`_SparseBandLayer` node (module docstring); ``s_in`` is ``[T, ..., n_in]`` in the
    weight's dtype, ``c`` a bias current ``[T, ..., n]`` or None."""
    c_shape = () if c is None else c.shape[1:]
    nd = len(
        torch.broadcast_shapes((*s_in.shape[1:-1], weight.shape[0]), c_shape, cell.bias.shape,
                               cell.gain.shape)
    )  # fmt: skip
    cfg = LayerConfig(int(s_in.shape[0]), False, True, True, kind, alpha, float(width))
    return _SparseBandLayer.apply(
        s_in, weight, c, cell.bias, cell.gain, cell.du, cell.dv, cell.vth, cfg, nd
    )


def sampled_density(t: torch.Tensor) -> float:
    """Fraction of non-zero entries of ``t`` estimated from every :data:`DENSITY_STRIDE`-th one
    (a full count costs as much as a few percent of a step)."""
    sample = t.reshape(-1)[::DENSITY_STRIDE]
    return int(torch.count_nonzero(sample)) / max(sample.numel(), 1)


def sparse_matmul(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``q @ w`` for a sparse ``q [rows, n]`` and ``w [n, m]``: per row, the sum of the weight
    rows of its non-zero entries weighted by them (``embedding_bag``; the same value as the
    matmul up to summation order)."""
    rows = q.shape[0]
    nz = q != 0
    counts = nz.sum(1)
    if int(counts.sum()) == 0:
        return q.new_zeros((rows, w.shape[1]))
    idx = nz.nonzero()[:, 1]  # row-major: the entries of row 0, then row 1, ...
    offsets = torch.zeros(rows, dtype=torch.long, device=q.device)
    offsets[1:] = counts.cumsum(0)[:-1]
    return F.embedding_bag(idx, w, offsets, mode="sum", per_sample_weights=q[nz])


class _SparseBandLayer(torch.autograd.Function):
    """``(s_in, W, c, bias, gain, du, dv, vth, cfg, nd) -> spikes [T, ..., n]`` with
    ``a = s_in W^T`` (module docstring). Gradients flow to ``s_in``, ``W``, ``c``, ``bias`` and
    ``gain``. ``nd``: the per-step dims the parameters broadcast to."""

    @staticmethod
    def forward(ctx, s_in, weight, c, bias, gain, du, dv, vth, cfg: LayerConfig, nd: int):
        need_in, need_w, _, _, need_g = ctx.needs_input_grad[:5]
        a = F.linear(s_in, weight)  # what nn.Linear computes: the same bits
        a_al = align_steps(a, nd)
        spikes, x, _ = _run_layer(a_al, c, bias, gain, du, dv, vth, cfg, True, False)
        ctx.save_for_backward(
            x, s_in if need_w else None, a_al if need_g else None,
            weight if need_in else None, bias, gain, dv,
        )  # fmt: skip
        ctx.cfg = cfg
        ctx.a_shape, ctx.al_shape = a.shape, a_al.shape
        ctx.c_shape = None if c is None else c.shape
        return spikes

    @staticmethod
    def backward(ctx, g_s):
        x, s_in, a_al, weight, bias, gain, dv = ctx.saved_tensors
        cfg: LayerConfig = ctx.cfg
        need_in, need_w, need_c, need_b, need_g = ctx.needs_input_grad[:5]
        grads = [None] * 10
        beta = float(1.0 - dv)
        G = surrogate_derivative(x, cfg.surrogate, cfg.alpha, g_s, scale_last=True, width=cfg.width)
        n = ctx.a_shape[-1]
        # the sparse product only pays below SPARSE_MAX_DENSITY; above it the dense node's way
        sparse = need_in and sampled_density(G) <= SPARSE_MAX_DENSITY
        q = None
        if sparse:  # Q = g G before G becomes D in place
            q = (G * gain).sum_to_size(ctx.al_shape).reshape(-1, n)
        d = G
        d_s = d.unbind(0)
        for t in range(cfg.T - 2, -1, -1):  # R[t] = 1: the dense node's recurrence
            d_s[t].add_(d_s[t + 1], alpha=beta)
        if need_c:
            grads[2] = d.sum_to_size(ctx.c_shape)
            if grads[2] is d:
                grads[2] = d.clone()  # d becomes g D in place below
        if need_b or need_g:
            grads[3], grads[4] = _bias_gain_grads(d, None, a_al, None, bias, gain, need_b, need_g)
        da = None
        if need_w or (need_in and not sparse):  # d is not needed after this: g D in place
            da = d.mul_(gain).sum_to_size(ctx.al_shape).reshape(-1, n)
        if need_w:
            grads[1] = da.t().mm(s_in.reshape(-1, s_in.shape[-1]))
        if need_in:
            n_in = weight.shape[1]
            if not sparse:
                grads[0] = (da @ weight).view(*ctx.a_shape[:-1], n_in)
            else:
                p = sparse_matmul(q, weight).view(*ctx.a_shape[:-1], n_in)
                p_s = p.unbind(0)
                for t in range(cfg.T - 2, -1, -1):  # the filter F, after the matmul
                    p_s[t].add_(p_s[t + 1], alpha=beta)
                grads[0] = p
        return tuple(grads)
