"""Opt-in compiled recurrences of the fused training path (``FusedNTNetwork(net, compile=True)``).

The default fused path (:mod:`lava_nt.nn.fused`) runs each layer's ``T``-step recurrence as an
eager Python loop: four small operations per step forward and one per step backward, each of
which costs more in dispatch than in arithmetic at batch 32. Here the same recurrences are
written as pure tensor functions and compiled with ``torch.compile`` (inductor, ``dynamic=False``,
``fullgraph=True``), so that a layer's forward loop and its backward loop each become one
generated CPU kernel that walks the ``T`` steps per element.

The functions perform the operations of :func:`lava_nt.spec.ntlif.ntlif_step` (forward) and of
the fused hand-written BPTT (backward, see :mod:`lava_nt.nn.fused`) in the same order, but the
compiler may vectorise and schedule them differently, so results are equal to the default path
up to float rounding, not bit for bit (tests compare them in float64: equal spikes, gradients to
1e-9). That is why the path is opt-in.

Each distinct call signature (shapes, dtypes, settings) compiles once per process (the one-off
cost is seconds per layer and direction; inductor's on-disk cache shortens it in later
processes); every signature gets its own compiled function, so no recompile limit is hit when a
network's layers, the last short batch and the evaluation pass all differ in shape.
"""

from __future__ import annotations

import types

import torch

from lava_nt.nn.surrogate import surrogate_derivative

__all__ = ["compiled_backward", "compiled_forward", "compiled_input_grad"]


def layer_forward(a, c, bias, gain, beta_u: float, beta_v: float, vth: float, dtype, T: int,
                  static: bool, reset_subtract: bool, keep_x: bool, keep_u: bool):  # fmt: skip
    """``(spikes, x, u)`` of one layer from a fresh state: ``_run_layer`` of
    :mod:`lava_nt.nn.fused` as a pure function (``x`` and ``u`` are None unless kept; ``dtype``
    is the state's, ``a``'s promoted with ``vth``'s)::

        u[t]  = (1 - du) u[t-1] + a[t]           (u = a when du = 1)
        v'[t] = ((1 - dv) v[t-1] + g (u[t] + b)) + c[t]
        s[t]  = v'[t] > vth,  x[t] = v'[t] - vth
        v[t]  = v'[t] - s[t] vth   or   v'[t] (1 - s[t])
    """
    a_shape = a.shape if static else a.shape[1:]
    c_shape = () if c is None else c.shape[1:]
    shape = torch.broadcast_shapes(a_shape, c_shape, bias.shape, gain.shape)
    u = None
    if beta_u == 0.0:
        g_all = gain * (a + bias)
        g_steps = [g_all] * T if static else list(g_all.unbind(0))
    else:
        a_t = [a] * T if static else list(a.unbind(0))
        us = [a_t[0]]
        for t in range(1, T):
            us.append(us[-1] * beta_u + a_t[t])
        u = torch.stack(us)
        g_steps = list((gain * (u + bias)).unbind(0))
    v = torch.zeros(shape, dtype=dtype, device=a.device)
    spikes, vps = [], []
    for t in range(T):
        vp = v * beta_v + g_steps[t]
        if c is not None:
            vp = vp + c[t]
        s = (vp > vth).to(dtype)
        v = vp - s * vth if reset_subtract else vp * (1.0 - s)
        spikes.append(s)
        vps.append(vp)
    x = torch.stack(vps) - vth if keep_x else None
    return torch.stack(spikes), x, (u if keep_u else None)


def voltage_grad(g_s, x, s, beta_v: float, vth: float, T: int, detach_reset: bool,
                 reset_subtract: bool, kind: str, alpha: float):  # fmt: skip
    """``D[t] = dL/dv'[t]``: ``D[t] = dL/ds[t] sg(x[t]) + (1 - dv) R[t] D[t+1]`` (the reset
    factor ``R`` as in :mod:`lava_nt.nn.fused`), as a pure function."""
    if detach_reset:
        d = surrogate_derivative(x, kind, alpha, g_s, scale_last=True)
        r = None if reset_subtract else 1.0 - s
    else:
        sg = surrogate_derivative(x, kind, alpha, scale_last=True)
        d = g_s * sg
        r = 1.0 - sg * vth if reset_subtract else (1.0 - s) - (x + vth) * sg
    d_t = list(d.unbind(0))
    if r is None:
        for t in range(T - 2, -1, -1):
            d_t[t] = d_t[t] + d_t[t + 1] * beta_v
    else:
        k = r * beta_v
        for t in range(T - 2, -1, -1):
            d_t[t] = d_t[t] + k[t] * d_t[t + 1]
    return torch.stack(d_t)


def input_grad(gd, decay: float, T: int):
    """``dL/du[t] = g D[t] + (1 - du) dL/du[t+1]`` over the steps of ``gd = g D``."""
    g_t = list(gd.unbind(0))
    for t in range(T - 2, -1, -1):
        g_t[t] = g_t[t] + g_t[t + 1] * decay
    return torch.stack(g_t)


_CACHE: dict[tuple, object] = {}


def _signature(args) -> tuple:
    """A hashable key for one call: tensors by shape/dtype/device, other values as they are."""
    return tuple(
        ("T", tuple(a.shape), a.dtype, a.device.type) if isinstance(a, torch.Tensor) else a
        for a in args
    )


def _compiled(fn, args):
    """``fn`` compiled for exactly this signature (one code object, hence one dynamo cache, per
    signature: the recompile limit of a shared code object never silently falls back to eager)."""
    key = (fn.__name__, _signature(args))
    c = _CACHE.get(key)
    if c is None:
        copy = types.FunctionType(
            fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
        )
        c = _CACHE[key] = torch.compile(copy, dynamic=False, fullgraph=True)
    return c


def compiled_forward(a, c, bias, gain, beta_u, beta_v, vth, dtype, T, static, reset_subtract,
                     keep_x, keep_u):  # fmt: skip
    """:func:`layer_forward`, compiled for this signature."""
    args = (a, c, bias, gain, beta_u, beta_v, vth, dtype, T, static, reset_subtract, keep_x, keep_u)
    return _compiled(layer_forward, args)(*args)


def compiled_backward(g_s, x, s, beta_v, vth, T, detach_reset, reset_subtract, kind, alpha):
    """:func:`voltage_grad`, compiled for this signature."""
    args = (g_s, x, s, beta_v, vth, T, detach_reset, reset_subtract, kind, alpha)
    return _compiled(voltage_grad, args)(*args)


def compiled_input_grad(gd, decay, T):
    """:func:`input_grad`, compiled for this signature."""
    return _compiled(input_grad, (gd, decay, T))(gd, decay, T)
