"""Spiking bias neurons with a leaking bias current, and volumetric bias groups (floating point).

A population of ``m`` bias neurons serves a target NTLIF layer of ``n`` neurons (thesis ch. 4,
eq. 3-4). The bias neurons are driven by the same input spikes as the target layer through their
own matrix ``W_in`` (``m x n_in``; the engine computes ``a_b[t] = W_in · s_in[t]``, exactly as it
computes the target's ``a[t]``). Each bias neuron is a LIF neuron (``du_b``, ``dv_b``, ``vth_b``,
reset to zero, optional constant drive ``b_b``) and owns a weight ``w_b`` and a current ``C`` that
keeps the fraction ``c_retention`` of its value from one step to the next::

    s_b[t]           = LIF_b(a_b[t])                       (an NTLIF step with g = 1, c = 0)
    C[t]             = c_retention * C[t-1] + w_b * s_b[t] (thesis eq. 3; one per bias neuron)
    c_target[i][t]   = C[group(i)][t]                      (delivered to the target's c input)

``c_retention`` in [0, 1] is the per-step retention factor of the current (the thesis' alpha in
eq. 3; 0: no memory, 1: an integrator); lava-nt keeps the name ``alpha`` for the surrogate-gradient
slope only. ``alpha=`` is still accepted here for one release (deprecated).

``group`` maps each target neuron to its bias neuron. Per-neuron spiking bias is ``m = n`` with
``group(i) = i`` (``group=None``); a *volumetric* bias has ``m < n`` and each bias neuron drives a
group of target neurons (contiguous blocks of ``n/m`` by default, see :func:`contiguous_groups`).

The fan-out happens inside the bias step, so in Lava the bias path into a layer has the same delay
as the synaptic path (one Dense each).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lava_nt._deprecation import C_RETENTION_RENAME, rename_kwargs, warn_renamed_attribute
from lava_nt.spec.ntlif import ArrayLike, NTLIFParameters, NTLIFState, heaviside, ntlif_step
from lava_nt.spec.validation import (
    ParameterError,
    as_array,
    check_finite,
    check_names,
    check_positive_int,
    check_range,
    check_shape,
)

SPIKING_BIAS_PARAMETER_NAMES = ("du", "dv", "vth", "bias", "w_b", "c_retention", "group")


class SpikingBiasParameters(NamedTuple):
    """Parameters of a spiking-bias population of ``m`` neurons serving ``n`` target neurons.

    Attributes:
        du, dv, vth: the bias neurons' own LIF dynamics (reset to zero).
        bias: constant drive of the bias neurons (0 by default; the input drives them).
        w_b: bias weight per bias neuron, shape ``(m,)`` (or scalar).
        c_retention: per-step retention factor of the leaking current in [0, 1] (``C[t] =
            c_retention * C[t-1] + w_b * s_b[t]``), scalar or ``(m,)``.
        group: integer array ``(n,)`` mapping target neuron -> bias neuron, or ``None`` for
            one bias neuron per target neuron (``m == n``).
    """

    du: ArrayLike = 1.0
    dv: ArrayLike = 0.0
    vth: ArrayLike = 1.0
    bias: ArrayLike = 0.0
    w_b: ArrayLike = 0.0
    c_retention: ArrayLike = 0.0
    group: ArrayLike | None = None

    def neuron_parameters(self) -> NTLIFParameters:
        return NTLIFParameters(self.du, self.dv, self.vth, self.bias, 1.0, False)

    @property
    def alpha(self) -> ArrayLike:
        """Deprecated name of :attr:`c_retention` (removed in 0.3)."""
        warn_renamed_attribute("alpha", "c_retention", "SpikingBiasParameters")
        return self.c_retention


class SpikingBiasState(NamedTuple):
    """Bias-neuron current ``u``, voltage ``v`` (shape ``[..., m]``) and leaking current ``C``."""

    u: ArrayLike
    v: ArrayLike
    C: ArrayLike


def contiguous_groups(n: int, m: int, where: str = "SpikingBias") -> np.ndarray:
    """Default volumetric assignment: target neuron ``i`` -> bias neuron ``i // (n/m)``."""
    n = check_positive_int(n, where, "n")
    m = check_positive_int(m, where, "m")
    if n % m:
        raise ParameterError(
            f"{where}: {m} bias neurons cannot form equal contiguous groups over {n} target "
            f"neurons ({n} is not a multiple of {m}); pass an explicit 'group' assignment instead"
        )
    return np.repeat(np.arange(m), n // m)


def check_group(group, n: int, m: int, where: str = "SpikingBias") -> np.ndarray | None:
    """Validate a target->bias-neuron assignment; returns it as an int64 array (or None)."""
    if group is None:
        if m != n:
            raise ParameterError(
                f"{where}: without a 'group' assignment there must be one bias neuron per target "
                f"neuron (m == n), got m={m}, n={n}"
            )
        return None
    g = np.asarray(group.detach().cpu().numpy() if hasattr(group, "detach") else group)
    if g.shape != (n,):
        raise ParameterError(f"{where}: 'group' must have shape ({n},), got {g.shape}")
    if not np.issubdtype(g.dtype, np.integer):
        raise ParameterError(f"{where}: 'group' must hold integer bias-neuron indices")
    if g.min() < 0 or g.max() >= m:
        raise ParameterError(f"{where}: 'group' indices must be in [0, {m - 1}]")
    return g.astype(np.int64)


def spiking_bias_parameters(
    m: int, n: int, where: str = "SpikingBias", **kwargs
) -> SpikingBiasParameters:
    """Validated :class:`SpikingBiasParameters` for ``m`` bias neurons serving ``n`` targets.

    Keyword arguments: ``du``, ``dv``, ``vth``, ``bias``, ``w_b``, ``c_retention``, ``group``.
    ``group`` may also be the string ``"contiguous"`` (blocks of ``n/m``). ``alpha`` is the
    deprecated name of ``c_retention`` (a :class:`DeprecationWarning`; both -> error).
    """
    rename_kwargs(kwargs, C_RETENTION_RENAME, where)
    check_names(kwargs, SPIKING_BIAS_PARAMETER_NAMES, where)
    m = check_positive_int(m, where, "m")
    n = check_positive_int(n, where, "n")
    du = kwargs.get("du", 1.0)
    dv = kwargs.get("dv", 0.0)
    vth = kwargs.get("vth", 1.0)
    for name, val in (("du", du), ("dv", dv)):
        if np.ndim(val) != 0:
            raise ParameterError(f"{where}: '{name}' must be a scalar")
        check_range(val, where, name, 0.0, 1.0)
    if np.ndim(vth) != 0:
        raise ParameterError(f"{where}: 'vth' must be a scalar")
    check_range(vth, where, "vth", 0.0, None, lo_open=True)
    bias = as_array(kwargs.get("bias", 0.0), np.float64, where, "bias")
    w_b = as_array(kwargs.get("w_b", 0.0), np.float64, where, "w_b")
    c_ret = as_array(kwargs.get("c_retention", 0.0), np.float64, where, "c_retention")
    for name, val in (("bias", bias), ("w_b", w_b), ("c_retention", c_ret)):
        check_shape(val, where, name, m)
        check_finite(val, where, name)
    check_range(c_ret, where, "c_retention", 0.0, 1.0)
    group = kwargs.get("group")
    if isinstance(group, str):
        if group != "contiguous":
            raise ParameterError(f"{where}: 'group' must be an index array, None or 'contiguous'")
        group = contiguous_groups(n, m, where)
    group = check_group(group, n, m, where)
    return SpikingBiasParameters(du, dv, vth, bias, w_b, c_ret, group)


def spiking_bias_step(
    a_b,
    state: SpikingBiasState,
    p: SpikingBiasParameters,
    spike_fn=heaviside,
    detach_reset: bool = True,
) -> tuple[ArrayLike, ArrayLike, SpikingBiasState]:
    """One step of a spiking-bias population.

    Args:
        a_b: synaptic input of the bias neurons ``W_in · s_in[t]``, shape ``[..., m]``.
        state: previous :class:`SpikingBiasState`.
        p: :class:`SpikingBiasParameters`.

    Returns:
        ``(c_target, s_b, new_state)``: the bias current for each target neuron ``[..., n]``,
        the bias neurons' spikes ``[..., m]`` and the new state.
    """
    s_b, nst = ntlif_step(
        a_b, 0.0, NTLIFState(state.u, state.v), p.neuron_parameters(), spike_fn, detach_reset
    )
    C = p.c_retention * state.C + p.w_b * s_b
    c_target = C if p.group is None else C[..., p.group]
    return c_target, s_b, SpikingBiasState(nst.u, nst.v, C)
