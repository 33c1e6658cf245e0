"""Surrogate-gradient spike functions (forward: Heaviside, backward: a smooth pseudo-derivative).

Every function here maps ``x = v - vth`` to spikes ``s = (x > 0)`` in ``x``'s dtype (strict, as
Lava and :func:`lava_nt.spec.ntlif.heaviside`), so the forward pass of a cell is exactly the spec.
Only the backward pass differs:

``"super"`` (alias ``"fast_sigmoid"``), SuperSpike (Zenke & Ganguli 2018)::

    ds/dx ~= 1 / (alpha * |x| + 1)**2

    The slope ``alpha`` really is used. Norse 1.1.0's ``"super"`` ignores its ``alpha`` (its
    backward is ``1 / (|x| + 1)**2``, i.e. ``alpha = 1`` here; fixed upstream only after the
    1.1.0 release), so ``alpha=1.0`` reproduces norse 1.1.0 and snnTorch's
    ``fast_sigmoid(slope=1)``.

``"atan"`` (snnTorch's ``atan``, Fang et al. 2021)::

    ds/dx ~= (alpha / 2) / (1 + (pi/2 * alpha * x)**2)

``"heaviside"``: no surrogate, no gradient (inference only).

All are ``torch.autograd.Function`` s in the ``setup_context`` style, so they trace through
``torch.compile`` without graph breaks. ``alpha`` is a plain Python float stored on the context.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

from lava_nt.spec.validation import ParameterError

DEFAULT_SURROGATE = "super"
DEFAULT_ALPHA = 10.0


class SuperSpike(torch.autograd.Function):
    """Heaviside forward, SuperSpike backward ``grad / (alpha * |x| + 1)**2``."""

    @staticmethod
    def forward(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, alpha = inputs
        ctx.save_for_backward(x)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad = None
        if ctx.needs_input_grad[0]:
            grad = grad_output / (ctx.alpha * x.abs() + 1.0) ** 2
        return grad, None


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, arctan backward ``grad * (alpha/2) / (1 + (pi/2 * alpha * x)**2)``."""

    @staticmethod
    def forward(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, alpha = inputs
        ctx.save_for_backward(x)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad = None
        if ctx.needs_input_grad[0]:
            a = ctx.alpha
            grad = grad_output * (0.5 * a) / (1.0 + (0.5 * math.pi * a * x) ** 2)
        return grad, None


def super_spike(x: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """``(x > 0)`` with the SuperSpike surrogate of slope ``alpha``."""
    return SuperSpike.apply(x, alpha)


def atan_spike(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """``(x > 0)`` with the arctan surrogate of sharpness ``alpha``."""
    return ATanSpike.apply(x, alpha)


def heaviside_spike(x: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """``(x > 0)`` without any gradient (``alpha`` is ignored)."""
    return (x > 0).to(x.dtype)


SURROGATES: dict[str, Callable] = {
    "super": super_spike,
    "superspike": super_spike,
    "fast_sigmoid": super_spike,
    "atan": atan_spike,
    "heaviside": heaviside_spike,
}


def make_spike_fn(name: str | Callable = DEFAULT_SURROGATE, alpha: float = DEFAULT_ALPHA):
    """The spike function ``x -> s`` for a surrogate ``name`` with slope ``alpha``.

    ``name`` is one of ``"super"`` (= ``"superspike"``, ``"fast_sigmoid"``), ``"atan"`` or
    ``"heaviside"``; a callable is returned unchanged (its forward must equal ``x > 0``, e.g. a
    smooth function for finite-difference checks of the non-spiking parts). The result is a
    ``functools.partial`` (picklable, traced by ``torch.compile``).

    Raises :class:`~lava_nt.spec.validation.ParameterError` for an unknown name or a
    non-positive / non-finite ``alpha``.
    """
    if callable(name):
        return name
    if not isinstance(name, str) or name not in SURROGATES:
        raise ParameterError(
            f"surrogate: unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}"
        )
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"surrogate: 'alpha' must be a number, got {alpha!r}") from exc
    if not math.isfinite(a) or a <= 0:
        raise ParameterError(f"surrogate: 'alpha' must be a finite number > 0, got {alpha!r}")
    return functools.partial(SURROGATES[name], alpha=a)
