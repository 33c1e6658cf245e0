"""The parts of the fused training path (:mod:`lava_nt.nn.fused`) shared by its dense and its
sparse-band layer nodes (:mod:`lava_nt.nn.fused_sparse`): the static settings of a layer, its
forward loop without autograd and the bias/gain gradients of the hand-written backward."""

from __future__ import annotations

from typing import NamedTuple

import torch

from lava_nt.nn.surrogate import surrogate_derivative

__all__ = ["LayerConfig", "surrogate_grad"]


class LayerConfig(NamedTuple):
    """Static settings of one fused layer (hashable, passed through autograd untouched)."""

    T: int
    static: bool  # ``a`` is [..., n] held for T steps instead of [T, ..., n]
    reset_subtract: bool
    detach_reset: bool
    surrogate: str  # "super" | "atan" | "heaviside"
    alpha: float
    width: float | None = None  # sparse gradients: surrogate derivative zero where |x| >= width


def surrogate_grad(
    x: torch.Tensor, kind: str, alpha: float, width: float | None = None
) -> torch.Tensor:
    """``ds/dx`` of the surrogate at ``x``: :func:`~lava_nt.nn.surrogate.surrogate_derivative`
    in the fused order (``(1 / den) alpha/2``), zero where ``|x| >= width`` if a band is given."""
    return surrogate_derivative(x, kind, alpha, scale_last=True, width=width)


def _run_layer(a, c, bias, gain, du, dv, vth, cfg: LayerConfig, keep_x: bool, keep_u: bool):
    """The T-step loop of one layer from a fresh state, without autograd. Returns ``(spikes, x,
    u)`` with ``x = v' - vth`` (None unless ``keep_x``) and the currents ``u`` stacked over time
    (None unless ``keep_u`` and ``du < 1``).

    This is :func:`lava_nt.spec.ntlif.ntlif_step` with the SAME operations in the SAME order, so
    every value is bit-identical (tests compare it with ``NTNetwork`` in float64 and float32)::

        u[t]  = (1 - du) * u[t-1] + a[t]             (u[t] = a[t] when du = 1: 0 * u + a = a)
        G[t]  = g * (u[t] + b)                       (for all t at once; once if a is static)
        v'[t] = ((1 - dv) * v[t-1] + G[t]) + c[t]    (+ c[t] only if a bias current is given)
        x[t]  = v'[t] - vth,  s[t] = x[t] > 0
        v[t]  = v'[t] - s[t] * vth   or   v'[t] * (1 - s[t])

    Everything that does not depend on ``v`` is computed for all steps at once (also ``x``, from
    the stored ``v'``, after the loop), so the loop does four operations per step into
    preallocated buffers instead of about ten allocating ones (Python-float scalars: an operation
    with a 0-d tensor costs several times more here). No fused multiply-add is used
    (``(1 - dv) * v + G`` is a multiply, then an add): it would round differently from the spec."""
    T = cfg.T
    a_shape = a.shape if cfg.static else a.shape[1:]
    c_shape = () if c is None else c.shape[1:]
    shape = torch.broadcast_shapes(a_shape, c_shape, bias.shape, gain.shape)
    dtype = torch.promote_types(a.dtype, vth.dtype)
    dev = a.device
    # ``du`` and ``dv`` enter the spec only as ``1 - du`` and ``1 - dv``: as Python floats that is
    # computed exactly in double and rounds to the same factor as the 0-d buffer arithmetic.
    beta_u, beta_v = 1.0 - float(du), 1.0 - float(dv)
    no_u = beta_u == 0.0
    with torch.no_grad():
        if no_u:
            u = None
            g_all = gain * (a + bias)  # [..., n] (static) or [T, ..., n]
        else:
            a_t = [a] * T if cfg.static else a.unbind(0)
            u = torch.empty((T, *a_shape), dtype=a.dtype, device=dev)
            u[0] = a_t[0]  # (1 - du) * 0 + a = a
            for t in range(1, T):
                torch.mul(u[t - 1], beta_u, out=u[t]).add_(a_t[t])
            g_all = gain * (u + bias)
        g_steps = [g_all] * T if (cfg.static and no_u) else g_all.unbind(0)
        c_steps = None if c is None else c.unbind(0)
        spikes = torch.empty((T, *shape), dtype=dtype, device=dev)
        # v' (before the reset) of every step, or one reused buffer when x is not needed
        vp = torch.empty((T, *shape) if keep_x else shape, dtype=dtype, device=dev)
        v = torch.zeros(shape, dtype=dtype, device=dev)
        vth_f = float(vth)  # exact: vth is a float32/float64 0-d tensor
        for t in range(T):
            vp_t = vp[t] if keep_x else vp
            torch.mul(v, beta_v, out=vp_t).add_(g_steps[t])
            if c_steps is not None:
                vp_t.add_(c_steps[t])
            # v' - vth > 0  <=>  v' > vth  (IEEE subtraction is exact in sign, with subnormals)
            s_t = torch.gt(vp_t, vth_f, out=spikes[t])
            if cfg.reset_subtract:
                torch.sub(vp_t, s_t, alpha=vth_f, out=v)  # s in {0, 1}: s * vth is exact
            else:
                torch.mul(vp_t, torch.sub(1.0, s_t), out=v)
        x = vp.sub_(vth_f) if keep_x else None  # x = v' - vth, in place of v'
    return spikes, x, (u if keep_u else None)


def _bias_gain_grads(d, d_t, a, u, bias, gain, need_b: bool, need_g: bool):
    """``(dL/db, dL/dg)`` (None where not needed): ``dv'/db = g``, ``dv'/dg = u + b``; ``d_t`` is
    ``D`` summed over time (static input without a current state) or None."""
    pshape = torch.broadcast_shapes(bias.shape, gain.shape)
    d_p = (d_t if d_t is not None else d).sum_to_size(pshape)
    gb = gg = None
    if need_b:
        gb = (gain * d_p).sum_to_size(bias.shape)
    if need_g:
        if d_t is not None:
            ud = (a * d_t).sum_to_size(pshape)
        else:
            ud = ((a if u is None else u) * d).sum_to_size(pshape)
        gg = ud.add_(bias * d_p).sum_to_size(gain.shape)
    return gb, gg
