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

In lava-nt ``alpha`` means only this surrogate-gradient slope (as in Norse): the ``alpha`` of
:class:`~lava_nt.nn.ntlif.NTLIFCell`, :class:`~lava_nt.nn.layer.NTLayer` and
``NTNetwork.from_spec``, ``surrogate_alpha`` of a :class:`~lava_nt.nn.spiking_bias.SpikingBias`
and ``bias_alpha`` of a model file's surrogate settings. A spiking bias' current retention factor
is ``c_retention``.

The derivatives are defined once, in :func:`surrogate_derivative`: the autograd functions here,
the fused BPTT (:mod:`lava_nt.nn.fused`) and the QAT recurrences (:mod:`lava_nt.qat`) all call it;
:func:`surrogate_of` names the surrogate of a spike function made by :func:`make_spike_fn`.

Sparse gradients (opt-in, Perez-Nieves & Goodman 2021): a spike function with a band ``width``
(:func:`with_band`) has the derivative above where ``|x| < width`` and exactly zero where
``|x| >= width`` or ``x`` is NaN (``x`` compared in its own dtype); the forward is unchanged.
:func:`lava_nt.nn.sparse_grad.sparse_gradients` sets ``width = B_th * vth`` on every spiking
population of a network (``B_th`` in units of the threshold).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lava_nt.spec.validation import ParameterError

DEFAULT_SURROGATE = "super"
DEFAULT_ALPHA = 10.0
#: The surrogate kinds :func:`surrogate_derivative` knows.
SURROGATE_KINDS = ("super", "atan", "heaviside")


def surrogate_derivative(
    x: torch.Tensor, kind: str, alpha: float, grad: torch.Tensor | None = None,
    *, scale_last: bool = False, width: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """``grad * ds/dx`` of the surrogate ``kind`` at ``x`` (``ds/dx`` itself if ``grad`` is None),
    restricted to the band ``|x| < width`` when ``width`` is given (sparse gradients: zero
    elsewhere and at NaN, the values inside bit for bit unchanged; see :func:`with_band`)::

        super:      ds/dx = 1 / (alpha |x| + 1)**2
        atan:       ds/dx = (alpha / 2) / (1 + (pi/2 alpha x)**2)
        heaviside:  ds/dx = 0

    ``x``: the spike function's argument ``v - vth``; ``alpha``: the slope (super) or sharpness
    (atan); ``grad``: the incoming gradient ``dL/ds`` (``x``'s shape and dtype). The denominator
    is computed as ``d = |x| alpha + 1; d d`` (super) and ``d = x (pi/2 alpha); d d + 1`` (atan).

    Rounding order of atan's factor ``alpha / 2`` (the only choice; super has none):
    ``(grad alpha/2) / den`` (default: the autograd functions' order; without ``grad``
    ``(alpha/2) / den``, one rounding) or, with ``scale_last``, ``(grad / den) alpha/2`` (without
    ``grad`` ``(1 / den) alpha/2``: the fused BPTT's order, one pass fewer). The two differ in
    the last bit when ``alpha / 2`` is not a power of two; each engine keeps its order so that
    its gradients stay what they were. Without autograd recording (every backward pass) the
    work is done in place on new tensors.
    """
    if kind == "heaviside":
        return torch.zeros_like(x)
    inplace = not torch.is_grad_enabled()
    if kind == "super":
        den = x.abs() if width is None else _banded_abs(x, width, inplace)
        den = den.mul_(alpha).add_(1.0) if inplace else den * alpha + 1.0
        den = den.mul_(den) if inplace else den * den
        scale = None
    elif kind == "atan":
        # |x| c squared equals (x c) squared exactly (IEEE products are symmetric in sign)
        c = 0.5 * math.pi * alpha
        den = x.mul(c) if width is None else _banded_abs(x, width, inplace)
        if width is not None:
            den = den.mul_(c) if inplace else den * c
        den = den.mul_(den).add_(1.0) if inplace else den * den + 1.0
        scale = 0.5 * alpha
    else:
        raise ParameterError(
            f"surrogate: unknown surrogate kind {kind!r}; valid: {', '.join(SURROGATE_KINDS)}"
        )
    if grad is None:
        if scale is None or scale_last:
            out = den.reciprocal_() if inplace else den.reciprocal()
        else:
            return torch.full_like(den, scale) / den
    elif scale is None or scale_last:
        same = inplace and grad.shape == den.shape and grad.dtype == den.dtype
        out = torch.div(grad, den, out=den) if same else grad / den
    else:
        return grad * scale / den
    if scale is None:
        return out
    return out.mul_(scale) if inplace else out * scale


def _banded_abs(x: torch.Tensor, width: float, inplace: bool) -> torch.Tensor:
    """``|x|`` where ``|x| < width``, ``+inf`` elsewhere (and for NaN), as a new tensor: the
    surrogate's denominator is then infinite outside the band, so its derivative there is exactly
    zero (``g / inf``, ``1 / inf``) without a separate mask pass (``torch.threshold`` on ``-|x|``:
    ``-|x| > -width`` keeps the value; the comparison is in ``x``'s dtype)."""
    n = x.abs().neg_()
    if inplace:
        return F.threshold_(n, -width, -math.inf).neg_()
    return F.threshold(n, -width, -math.inf).neg()


def _spike_function(name: str, kind: str, doc: str) -> type[torch.autograd.Function]:
    """The autograd function of surrogate ``kind``: Heaviside forward, backward
    :func:`surrogate_derivative` of ``kind`` (restricted to ``|x| < width`` when the optional
    third argument ``width`` is given). ``apply(x, alpha, width=None)``."""

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(x: torch.Tensor, alpha: float, width: float | None = None) -> torch.Tensor:
            return (x > 0).to(x.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, alpha, width = inputs
            ctx.save_for_backward(x)
            ctx.alpha = alpha
            ctx.width = width

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            grad = None
            if ctx.needs_input_grad[0]:
                grad = surrogate_derivative(x, kind, ctx.alpha, grad_output, width=ctx.width)
            return grad, None, None

    Spike.__name__ = Spike.__qualname__ = name
    Spike.__doc__ = doc
    return Spike


SuperSpike = _spike_function(
    "SuperSpike",
    "super",
    """Heaviside forward, SuperSpike backward ``grad / (alpha * |x| + 1)**2`` (zero where
    ``|x| >= width`` when a band ``width`` is given).""",
)
ATanSpike = _spike_function(
    "ATanSpike",
    "atan",
    """Heaviside forward, arctan backward ``grad * (alpha/2) / (1 + (pi/2 * alpha * x)**2)``
    (zero where ``|x| >= width`` when a band ``width`` is given).""",
)


def super_spike(
    x: torch.Tensor, alpha: float = DEFAULT_ALPHA, width: float | None = None
) -> torch.Tensor:
    """``(x > 0)`` with the SuperSpike surrogate of slope ``alpha`` (restricted to
    ``|x| < width`` when ``width`` is given)."""
    return SuperSpike.apply(x, alpha, width)


def atan_spike(x: torch.Tensor, alpha: float = 2.0, width: float | None = None) -> torch.Tensor:
    """``(x > 0)`` with the arctan surrogate of sharpness ``alpha`` (restricted to
    ``|x| < width`` when ``width`` is given)."""
    return ATanSpike.apply(x, alpha, width)


def heaviside_spike(
    x: torch.Tensor, alpha: float = 0.0, width: float | None = None
) -> torch.Tensor:
    """``(x > 0)`` without any gradient (``alpha`` and ``width`` are ignored)."""
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


_SURROGATE_KIND = {super_spike: "super", atan_spike: "atan", heaviside_spike: "heaviside"}


def surrogate_of(spike_fn, where: str = "FusedNTNetwork") -> tuple[str, float]:
    """``(kind, alpha)`` of a spike function made by :func:`make_spike_fn` (or one of the
    functions of :data:`SURROGATES`), for :func:`surrogate_derivative`.

    Raises :class:`ParameterError` (naming ``where``) for anything else: a custom callable has
    no known derivative."""
    if spike_fn in _SURROGATE_KIND:
        func, kw = spike_fn, {}
    elif isinstance(spike_fn, functools.partial) and spike_fn.func in _SURROGATE_KIND:
        func, kw = spike_fn.func, spike_fn.keywords
    else:
        raise ParameterError(
            f"{where}: only the built-in surrogates ('super'/'superspike'/'fast_sigmoid', "
            f"'atan', 'heaviside') are supported, got {spike_fn!r}; use NTNetwork for a custom "
            "spike function"
        )
    kind = _SURROGATE_KIND[func]
    # a bare function runs with its own default slope; the derivative must use the same one
    default = inspect.signature(func).parameters["alpha"].default
    return kind, float(kw.get("alpha", default))


def surrogate_width(spike_fn) -> float | None:
    """The band ``width`` of a spike function made by :func:`with_band` (None: no band, the
    dense derivative; also for a custom callable)."""
    if isinstance(spike_fn, functools.partial) and spike_fn.func in _SURROGATE_KIND:
        w = spike_fn.keywords.get("width")
        return None if w is None else float(w)
    return None


def with_band(spike_fn, width: float | None, where: str = "sparse_gradients"):
    """The spike function ``spike_fn`` (a built-in surrogate, see :func:`surrogate_of`) with its
    derivative restricted to ``|x| < width`` (``width=None``: the dense spike function, exactly
    what :func:`make_spike_fn` returns). Forward and slope unchanged.

    Raises :class:`ParameterError` (naming ``where``) for a custom callable or a ``width`` that
    is not a finite number > 0."""
    kind, alpha = surrogate_of(spike_fn, where)
    func = {v: k for k, v in _SURROGATE_KIND.items()}[kind]
    if width is None:
        return functools.partial(func, alpha=alpha)
    w = float(width)
    if not math.isfinite(w) or w <= 0:
        raise ParameterError(f"{where}: the band width must be a finite number > 0, got {width!r}")
    return functools.partial(func, alpha=alpha, width=w)
