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
for ``a = s_in W^T`` and the NTLIF loop that computes ``dL/ds_in`` that way. The product ``Q W``
is computed as a sparse sum of the active neurons' weight rows per input row
(``torch.nn.functional.embedding_bag`` with the non-zero values as per-sample weights) when
``Q``'s measured density is at most :data:`SPARSE_MAX_DENSITY`, and as the dense matmul
otherwise (same values up to summation order): on this project's 2-core CPU, one thread, the
sparse product is faster than MKL's dense matmul only below about 3 % non-zeros
(``benchmarks/bench_sparse_grad.py`` records the crossover; torch's CSR product was slower than
``embedding_bag`` at every density measured, mostly for building the CSR tensor). Everything else
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

__all__ = ["SPARSE_MAX_DENSITY", "sparse_band_applies", "sparse_band_layer", "sparse_matmul"]

#: Largest density of ``Q`` at which the input-gradient product is computed sparsely (measured
#: crossover with the dense matmul on this project's CPU, one thread: module docstring).
SPARSE_MAX_DENSITY = 0.03
#: ``sparse_matmul`` estimates the density of ``Q`` from every this-many-th entry.
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


def sparse_matmul(q: torch.Tensor, w: torch.Tensor, max_density: float | None = None):
    """``q @ w`` for ``q [rows, n]``, ``w [n, m]``: the sum of the weight rows of each row's
    non-zero entries weighted by them (``embedding_bag``) when at most ``max_density`` (default
    :data:`SPARSE_MAX_DENSITY`) of ``q`` is non-zero, the dense matmul otherwise. Returns
    ``(product, density)``; the density decides from every :data:`DENSITY_STRIDE`-th entry (a
    full count costs as much as a few percent of the step), and is exact on the sparse path."""
    if max_density is None:
        max_density = SPARSE_MAX_DENSITY
    rows = q.shape[0]
    flat = q.reshape(-1)
    sample = flat[::DENSITY_STRIDE]
    density = int(torch.count_nonzero(sample)) / max(sample.numel(), 1)
    if density > max_density:
        return q @ w, density
    nz = q != 0
    nnz = int(nz.sum())
    density = nnz / max(q.numel(), 1)
    if nnz == 0:
        return q.new_zeros((rows, w.shape[1])), 0.0
    counts = nz.sum(1)
    idx = nz.nonzero()[:, 1]  # row-major: the entries of row 0, then row 1, ...
    offsets = torch.zeros(rows, dtype=torch.long, device=q.device)
    offsets[1:] = counts.cumsum(0)[:-1]
    out = F.embedding_bag(idx, w, offsets, mode="sum", per_sample_weights=q[nz])
    return out, density


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
        q = None
        if need_in:  # Q = g G before G becomes D in place
            q = (G * gain).sum_to_size(ctx.al_shape).reshape(-1, weight.shape[0])
        if need_w or need_c or need_b or need_g:
            d = G
            d_s = d.unbind(0)
            for t in range(cfg.T - 2, -1, -1):  # R[t] = 1: the dense node's recurrence
                d_s[t].add_(d_s[t + 1], alpha=beta)
            if need_c:
                grads[2] = d.sum_to_size(ctx.c_shape)
            if need_b or need_g:
                grads[3], grads[4] = _bias_gain_grads(d, None, a_al, None, bias, gain, need_b,
                                                      need_g)  # fmt: skip
            if need_w:
                n, n_in = ctx.a_shape[-1], s_in.shape[-1]
                da = (gain * d).sum_to_size(ctx.al_shape).reshape(-1, n)
                grads[1] = da.t().mm(s_in.reshape(-1, n_in))
        if need_in:
            n_in = weight.shape[1]
            p, _ = sparse_matmul(q, weight)
            p = p.view(*ctx.a_shape[:-1], n_in)
            p_s = p.unbind(0)
            for t in range(cfg.T - 2, -1, -1):  # the filter F, after the matmul
                p_s[t].add_(p_s[t + 1], alpha=beta)
            grads[0] = p
        return tuple(grads)
