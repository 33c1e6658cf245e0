"""Quantisation of the integrator readout (:mod:`lava_nt.spec.readout`) and back.

The readout gets its own voltage scale ``S_r`` (float value 1.0 <-> ``S_r`` fixed units)::

    weights   W -> mantissa 2k, weight_exp e      as the layers (k = round(W S_r / 2**(7+e)))
    bias      bias_mant << bias_exp = round(b S_r)  13-bit signed mantissa, exponent 0..7
    du        i_decay = round(du 4096)             0..4096 (0: the current accumulates)
    dv        v_decay = round(dv 4096)             0..4096 (4096: v = u + b)

``S_r`` is the largest scale at which the weights (8 bits, ``weight_exp`` up to 7) and the biases
fit and at which the current ``u`` and voltage ``v`` stay within 24 bits even if every input
spikes on every step of a window of ``window`` steps (``|u| <= max_i sum_j |W_ij| * min(window,
1/du)``, ``|v| <= (|u| + |b|) * min(window, 1/dv)``), lowered (by less than 2x) so that the largest
weight fills the 8-bit mantissa, or to a power of two. The readout never spikes, so no threshold
limits it; a longer window than assumed can wrap ``u`` like Loihi's (and saturate ``v``).
"""

from __future__ import annotations

import math

import numpy as np

from lava_nt.converters.quantize.registers import (
    _SAFE,
    _per_neuron,
    _quantize_mant_exp,
    _quantize_weights,
    _round,
    _stats,
)
from lava_nt.converters.quantize.report import LayerQuant
from lava_nt.converters.quantize.scale import _bound, _choose_scale, _max_abs
from lava_nt.spec.fixed import (
    ACT_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_UNITY,
    UV_MAX,
    dense_effective_weights,
)
from lava_nt.spec.quantization import K_MAX, decay_units, weight_unit
from lava_nt.spec.readout import (
    ReadoutSpec,
    fixed_readout_parameters,
    readout_parameters,
)

__all__ = ["dequantize_readout", "quantize_readout"]


def quantize_readout(
    ro: ReadoutSpec, index: int, bias_exp, S_user, power_of_two, exp_max, window: int = 100
):
    """``(fixed ReadoutSpec, LayerQuant)`` of a float readout (``index`` numbers it after the
    layers in the report)."""
    where = "quantize: readout"
    p = ro.params
    n = ro.n
    W = np.asarray(ro.weight, dtype=np.float64)
    b = _per_neuron(p.bias, n)
    warnings: list[str] = []
    fixed_exp = bias_exp if isinstance(bias_exp, int | np.integer) else None
    bias_lim = (BIAS_MANT_MAX + _SAFE) * 2.0 ** (BIAS_EXP_MAX if fixed_exp is None else fixed_exp)
    if S_user is not None:
        S, lim = float(S_user), "given"
    else:
        hard = {
            "weights (8 bits)": _bound((K_MAX + _SAFE) * weight_unit(exp_max), _max_abs(W)),
            "biases (13-bit mantissa)": _bound(bias_lim, _max_abs(b)),
        }
        du, dv = float(p.du), float(p.dv)
        u_max = (float(np.abs(W).sum(axis=1).max()) if W.size else 0.0) * min(
            window, 1.0 / du if du > 0 else math.inf
        )
        v_max = (u_max + _max_abs(b)) * min(window, 1.0 / dv if dv > 0 else math.inf)
        hard[f"readout u, v (24 bits over {window} steps)"] = _bound(UV_MAX, max(u_max, v_max))
        if all(not math.isfinite(v) for v in hard.values()):
            S, lim = float(1 << ACT_SHIFT), "nothing to represent (zero weights and biases)"
        else:
            S, lim = _choose_scale(math.inf, _max_abs(W), hard, {}, power_of_two, where, warnings)
    tensors = {}
    mant, wexp, tq = _quantize_weights(W, S, where, "readout weight", exp_max)
    tensors["readout weight"] = tq
    bmant, bexp, tq = _quantize_mant_exp(b, S, BIAS_MANT_MAX, bias_exp, BIAS_EXP_MAX, "bias")
    tq.name = "readout bias"
    tensors["readout bias"] = tq
    decays = {}
    for name, d in (("du", p.du), ("dv", p.dv)):
        q = int(_round(decay_units(float(d))))  # i_decay, v_decay: 0..4096, not clipped
        decays[name] = q
        tensors[f"readout {name}"] = _stats(f"readout {name}", d, q / DECAY_UNITY)
    params = fixed_readout_parameters(
        n, where, i_decay=decays["du"], v_decay=decays["dv"], bias_mant=bmant, bias_exp=bexp,
        reduce=p.reduce,
    )  # fmt: skip
    lq = LayerQuant(
        index=index, scale=float(S), scale_limit=lim, weight_exp=int(wexp),
        bias_exp=[int(e) for e in np.atleast_1d(bexp)], vth_mant=0, du=decays["du"],
        dv=decays["dv"], tensors=tensors, warnings=warnings,
    )  # fmt: skip
    for tq in tensors.values():
        if tq.n_clipped:
            warnings.append(f"readout: {tq.n_clipped} value(s) of {tq.name} clipped")
    return ReadoutSpec(weight=mant, params=params, weight_exp=int(wexp)), lq


def dequantize_readout(ro: ReadoutSpec, S: float) -> ReadoutSpec:
    """The float readout a fixed one represents at scale ``S`` (values = fixed / ``S``)."""
    p = ro.params
    n = ro.n
    W = dense_effective_weights(np.asarray(ro.weight)) * 2.0 ** (ro.weight_exp + ACT_SHIFT) / S
    params = readout_parameters(
        n, "dequantize readout", du=int(p.i_decay) / DECAY_UNITY, dv=int(p.v_decay) / DECAY_UNITY,
        bias=_per_neuron(p.bias_mant, n) * 2.0 ** _per_neuron(p.bias_exp, n) / S, reduce=p.reduce,
    )  # fmt: skip
    return ReadoutSpec(weight=W, params=params)
