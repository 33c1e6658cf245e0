"""NTLIF: the bias-modulated LIF neuron, defined once (floating point).

One layer of ``n`` neurons, discrete time, one call = one tick. Per layer: threshold ``vth`` and
reset mode. Per layer or per neuron: current decay ``du`` (1 = no current state) and voltage
decay ``dv`` (a scalar, or one value per neuron as lava-dl's CUBA blocks trained with
``shared_param=False``). Per neuron: additive bias ``b`` and multiplicative gain ``g``. Inputs
each step: synaptic input ``a[t]`` (= W·s_in) and a graded bias current ``c[t]`` (from spiking
bias neurons, 0 if none)::

    u[t] = (1 - du) * u[t-1] + a[t]
    v[t] = (1 - dv) * v[t-1] + g * (u[t] + b) + c[t]
    s[t] = v[t] > vth                                   (strict, as Lava)
    v[t] = 0            where s[t]    (reset = "zero")
    v[t] = v[t] - vth   where s[t]    (reset = "subtract")

:func:`ntlif_step` is written with arithmetic operators only, so the *same function* runs on numpy
arrays (the Lava floating-point ProcessModel calls it) and on torch tensors (the Norse cell calls it
with a surrogate-gradient spike function). With ``g = 1``, ``c = 0``, ``reset = "zero"`` it is
Lava's
``LIF`` (up to float rounding of the addition order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Union

import numpy as np

from lava_nt.spec.validation import (
    ParameterError,
    as_array,
    check_choice,
    check_finite,
    check_layer_or_neuron,
    check_names,
    check_range,
    check_shape,
)

if TYPE_CHECKING:
    import torch

# what a parameter or state field holds: a scalar, a numpy array or a torch tensor (the step
# functions run unchanged on both array libraries); annotation only, nothing checks it
ArrayLike = Union[float, np.ndarray, "torch.Tensor"]  # noqa: UP007 (a forward reference)

RESET_MODES = ("zero", "subtract")
NTLIF_PARAMETER_NAMES = ("du", "dv", "vth", "reset", "bias", "gain")


class NTLIFParameters(NamedTuple):
    """Parameters of one NTLIF layer (values may be floats, numpy arrays or torch tensors).

    Attributes:
        du: current decay in [0, 1]; 1 forgets the current every step (no current state).
            A scalar, or one value per neuron (shape ``(n,)``).
        dv: voltage decay in [0, 1]; the thesis' LIF has ``dv = 1 - beta``. A scalar or ``(n,)``.
        vth: threshold (> 0), one value per layer as on Loihi.
        bias: additive bias ``b``, scalar or one per neuron.
        gain: multiplicative gain ``g``, scalar or one per neuron (NT1 tunes it).
        reset_subtract: False resets v to 0 on a spike, True subtracts vth.
    """

    du: ArrayLike = 1.0
    dv: ArrayLike = 0.0
    vth: ArrayLike = 1.0
    bias: ArrayLike = 0.0
    gain: ArrayLike = 1.0
    reset_subtract: bool = False

    @property
    def reset(self) -> str:
        return "subtract" if self.reset_subtract else "zero"


class NTLIFState(NamedTuple):
    """State of one NTLIF layer: synaptic current ``u`` and voltage ``v``."""

    u: ArrayLike
    v: ArrayLike


def ntlif_parameters(n: int, where: str = "NTLIF", **kwargs) -> NTLIFParameters:
    """Validated :class:`NTLIFParameters` for a layer of ``n`` neurons.

    Keyword arguments: ``du``, ``dv``, ``vth``, ``reset`` ("zero" | "subtract"), ``bias``, ``gain``.
    ``du`` and ``dv`` are scalars or one value per neuron (shape ``(n,)``); ``vth`` is a scalar.
    A misspelt name, a decay outside [0, 1] or of another shape, a non-positive threshold, a bias
    or gain whose last dimension is not ``n`` or any non-finite value raises
    :class:`ParameterError`.
    """
    check_names(kwargs, NTLIF_PARAMETER_NAMES, where)
    du = as_array(kwargs.get("du", 1.0), np.float64, where, "du")
    dv = as_array(kwargs.get("dv", 0.0), np.float64, where, "dv")
    vth = kwargs.get("vth", 1.0)
    reset = check_choice(kwargs.get("reset", "zero"), RESET_MODES, where, "reset")
    bias = as_array(kwargs.get("bias", 0.0), np.float64, where, "bias")
    gain = as_array(kwargs.get("gain", 1.0), np.float64, where, "gain")
    for name, val in (("du", du), ("dv", dv)):
        check_layer_or_neuron(val, where, name, n)
        check_range(val, where, name, 0.0, 1.0)
    if np.ndim(as_scalar_check(vth)) != 0:
        raise ParameterError(f"{where}: 'vth' must be a scalar (one threshold per layer, as Loihi)")
    check_range(vth, where, "vth", 0.0, None, lo_open=True)
    for name, val in (("bias", bias), ("gain", gain)):
        check_shape(val, where, name, n)
        check_finite(val, where, name)
    return NTLIFParameters(du, dv, vth, bias, gain, reset == "subtract")


def as_scalar_check(x):
    """Shape-only view used by the validators (tensors and arrays alike)."""
    return np.empty(tuple(x.shape)) if hasattr(x, "shape") else x


def heaviside(x):
    """Reference spike function: 1 where ``x > 0``, in ``x``'s dtype (numpy or torch)."""
    if isinstance(x, np.ndarray):
        return (x > 0).astype(x.dtype)
    if type(x).__module__.startswith("torch"):
        return (x > 0).to(x.dtype)
    return float(x > 0)


def _detach(x):
    return x.detach() if hasattr(x, "detach") else x


def ntlif_step(
    a,
    c,
    state: NTLIFState,
    p: NTLIFParameters,
    spike_fn=heaviside,
    detach_reset: bool = True,
) -> tuple[ArrayLike, NTLIFState]:
    """One NTLIF step (see the module docstring for the equations).

    Args:
        a: synaptic input ``a[t]``, shape ``[..., n]``.
        c: graded bias current ``c[t]`` (same shape as ``a``, or 0).
        state: previous :class:`NTLIFState`.
        p: :class:`NTLIFParameters`.
        spike_fn: maps ``v - vth`` to spikes; :func:`heaviside` for inference, a surrogate
            autograd function for training. Its forward must equal ``x > 0``.
        detach_reset: stop the gradient through the reset (as snnTorch and Norse' recurrent
            cells do); the forward value is unaffected.

    Returns:
        ``(s, new_state)`` with spikes ``s`` as 0/1 in the dtype of ``v``.
    """
    u = (1 - p.du) * state.u + a
    v = (1 - p.dv) * state.v + p.gain * (u + p.bias) + c
    s = spike_fn(v - p.vth)
    r = _detach(s) if detach_reset else s
    if p.reset_subtract:
        v = v - r * p.vth
    else:
        v = v * (1 - r)
    return s, NTLIFState(u, v)
