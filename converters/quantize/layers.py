"""Quantisation of one layer (and its spiking-bias population) to fixed-point registers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lava_nt.converters.quantize.registers import (
    _SAFE,
    _decay_values,
    _per_neuron,
    _quantize_decay,
    _quantize_du,
    _quantize_mant_exp,
    _quantize_vth,
    _quantize_weights,
    _register_value,
    _report_value,
    _round,
    _scalar,
    _stats,
)
from lava_nt.converters.quantize.report import LayerQuant
from lava_nt.converters.quantize.scale import _bound, _choose_scale, _max_abs, _u_bound
from lava_nt.network import LayerSpec, SpikingBiasSpec
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    C_MAX,
    DECAY_MAX,
    DECAY_UNITY,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_UNITY,
    UV_MAX,
    VTH_MAX,
    VTH_SHIFT,
    WB_EXP_MAX,
    WB_MANT_MAX,
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
)
from lava_nt.spec.ntlif import NTLIFParameters
from lava_nt.spec.quantization import K_MAX, gain_register, gain_units, weight_unit


class _Population(NamedTuple):
    """The registers a layer and a spiking-bias population both have (weights, threshold, decays,
    bias mantissa and exponent) at one scale."""

    weight_mant: np.ndarray
    weight_exp: int
    vth: int
    du: object  # an int register, or an int64 (n,) array (one per neuron)
    dv: object
    bias_mant: np.ndarray
    bias_exp: np.ndarray


def _quantize_population(W, vth, du, dv, bias, S, bias_exp, exp_max, where, weight_name, prefix):
    """:class:`_Population` of ``W``, ``vth``, ``du``, ``dv``, ``bias`` at scale ``S`` and their
    report entries ``{name: TensorQuant}`` (named ``weight_name`` and ``prefix`` + vth, du, dv,
    bias, in that order)."""
    t = {}
    mant, wexp, t[weight_name] = _quantize_weights(W, S, where, weight_name, exp_max)
    vth_m, t[prefix + "vth"] = _quantize_vth(vth, S, where)
    t[prefix + "vth"].name = prefix + "vth"
    du_f, t[prefix + "du"] = _quantize_du(du, where, prefix + "du")
    dv_f, t[prefix + "dv"] = _quantize_decay(dv, prefix + "dv")
    bmant, bexp, t[prefix + "bias"] = _quantize_mant_exp(
        bias, S, BIAS_MANT_MAX, bias_exp, BIAS_EXP_MAX, prefix + "bias"
    )
    return _Population(mant, wexp, vth_m, du_f, dv_f, bmant, bexp), t


def _bias_limit(bias_exp) -> float:
    """The largest bias register value in float units times the scale (mantissa limit with a
    safety margin, shifted by the fixed exponent or the largest one)."""
    fixed_exp = bias_exp if isinstance(bias_exp, int | np.integer) else None
    return (BIAS_MANT_MAX + _SAFE) * 2.0 ** (BIAS_EXP_MAX if fixed_exp is None else fixed_exp)


def _quantize_layer(
    k, ls: LayerSpec, bias_exp, S_user, Sb_user, power_of_two, exp_max, in_peak=1.0
):
    """Layer ``k`` in fixed point; ``in_peak``: the largest input magnitude per step (1 for
    spikes; the integer graded input's peak for a graded network's first layer)."""
    where = f"quantize: layer {k}"
    p: NTLIFParameters = ls.neuron
    n = ls.n
    W = np.asarray(ls.weight, dtype=np.float64)
    du, dv, vth = _decay_values(p.du), _decay_values(p.dv), _scalar(p.vth)
    b = _per_neuron(p.bias, n)
    g = _per_neuron(p.gain, n)
    sb = ls.spiking_bias
    w_b = c_ret = None
    if sb is not None:
        w_b = _per_neuron(sb.params.w_b, sb.m)
        c_ret = _per_neuron(sb.params.c_retention, sb.m)
    warnings: list[str] = []
    bias_lim = _bias_limit(bias_exp)
    wb_lim = (WB_MANT_MAX + _SAFE) * 2.0**WB_EXP_MAX
    if S_user is None:
        hard = {
            "threshold (17 bits)": VTH_MAX * 2**VTH_SHIFT / vth,
            "weights (8 bits)": _bound((K_MAX + _SAFE) * weight_unit(exp_max), _max_abs(W)),
            "biases (13-bit mantissa)": _bound(bias_lim, _max_abs(b)),
        }
        soft = {_u_name("current u (24 bits)", in_peak): _bound(UV_MAX, _u_bound(W, du) * in_peak)}
        if sb is not None:
            hard["bias weights w_b (13-bit mantissa)"] = _bound(wb_lim, _max_abs(w_b))
            a_max = float(c_ret.max()) if c_ret.size else 0.0
            if a_max < 1:
                soft["bias current C (24 bits)"] = _bound(C_MAX * (1 - a_max), _max_abs(w_b))
        S, lim = _choose_scale(vth, _max_abs(W), hard, soft, power_of_two, where, warnings)
    else:
        S, lim = S_user, "given"
    r, tensors = _quantize_population(W, vth, du, dv, b, S, bias_exp, exp_max, where, "weight", "")
    mant, wexp, vth_m, du_f, dv_f, bmant, bexp = r
    gq = gain_units(g)
    gmant = gain_register(gq)
    g_lim = np.where(g < 0, GAIN_MIN, GAIN_MAX) / 256
    tensors["gain"] = _stats("gain", g, gmant / GAIN_UNITY, gmant != _round(gq), g_lim)
    neuron = fixed_ntlif_parameters(
        n,
        where,
        du=_register_value(du_f),
        dv=_register_value(dv_f),
        vth=int(vth_m),
        bias_mant=bmant,
        bias_exp=bexp,
        gain_mant=gmant.astype(np.int64),
        reset=p.reset,
    )
    sb_fixed = None
    sb_info = None
    if sb is not None:
        sb_fixed, sb_info, sb_tensors = _quantize_spiking_bias(
            k, sb, n, S, w_b, c_ret, bias_exp, Sb_user, power_of_two, exp_max, warnings, in_peak
        )
        tensors.update(sb_tensors)
    lq = LayerQuant(
        index=k,
        scale=S,
        scale_limit=lim,
        weight_exp=wexp,
        bias_exp=[int(e) for e in bexp],
        vth_mant=int(vth_m),
        du=_report_value(du_f),
        dv=_report_value(dv_f),
        tensors=tensors,
        spiking_bias=sb_info,
        warnings=warnings,
    )
    for tq in tensors.values():
        if tq.n_clipped:
            warnings.append(
                f"layer {k}: {tq.n_clipped} value(s) of {tq.name} clipped (worst "
                f"{tq.worst_clipped:.6g} -> {tq.clip_limit:.6g})"
            )
    out = LayerSpec(
        weight=mant, neuron=neuron, spiking_bias=sb_fixed, weight_exp=wexp, delay=ls.delay
    )  # synaptic delays are steps: carried unchanged
    return out, lq


def _quantize_spiking_bias(
    k, sb, n, S_target, w_b, c_ret, bias_exp, Sb_user, pow2, exp_max, warns, in_peak=1.0
):
    where = f"quantize: layer {k} spiking bias"
    pb = sb.params
    m = sb.m
    W_in = np.asarray(sb.w_in, dtype=np.float64)
    if sb.mask is not None:
        W_in = np.where(np.asarray(sb.mask, dtype=bool), W_in, 0.0)
    du, dv, vth = _scalar(pb.du), _scalar(pb.dv), _scalar(pb.vth)
    bb = _per_neuron(pb.bias, m)
    bias_lim = _bias_limit(bias_exp)
    if Sb_user is None:
        hard = {
            "bias-neuron threshold (17 bits)": VTH_MAX * 2**VTH_SHIFT / vth,
            "input weights W_in (8 bits)": _bound(
                (K_MAX + _SAFE) * weight_unit(exp_max), _max_abs(W_in)
            ),  # fmt: skip
            "bias-neuron drive (13-bit mantissa)": _bound(bias_lim, _max_abs(bb)),
        }
        name = _u_name("bias-neuron current u (24 bits)", in_peak)
        soft = {name: _bound(UV_MAX, _u_bound(W_in, du) * in_peak)}
        Sb, lim = _choose_scale(vth, _max_abs(W_in), hard, soft, pow2, where, warns)
    else:
        Sb, lim = Sb_user, "given"
    r, t = _quantize_population(
        W_in, vth, du, dv, bb, Sb, bias_exp, exp_max, where, "sb.w_in", "sb."
    )
    mant, wexp, vth_m, du_f, dv_f, bmant, bexp = r
    wbm, wbe, t["sb.w_b"] = _quantize_mant_exp(
        w_b, S_target, WB_MANT_MAX, "neuron", WB_EXP_MAX, "sb.w_b"
    )
    # Loihi's current-decay register: c_retention = (4096 - dc) / 4096
    dc, t["sb.c_retention"] = _quantize_decay(1.0 - c_ret, "sb.c_retention")
    # report c_retention's own error (1 - dc/4096 vs c_retention)
    t["sb.c_retention"] = _stats(
        "sb.c_retention", c_ret, 1.0 - dc / DECAY_UNITY,
        dc != _round((1.0 - c_ret) * DECAY_UNITY),
        np.full(c_ret.shape, 1.0 - DECAY_MAX / DECAY_UNITY),
    )  # fmt: skip
    params = fixed_spiking_bias_parameters(
        m,
        n,
        where,
        du=int(du_f),
        dv=int(dv_f),
        vth=int(vth_m),
        bias_mant=bmant,
        bias_exp=bexp,
        w_b_mant=wbm,
        w_b_exp=wbe,
        dc=dc,
        group=None if pb.group is None else np.asarray(pb.group, dtype=np.int64),
    )
    mask = None if sb.mask is None else np.asarray(sb.mask, dtype=bool).copy()
    fsb = SpikingBiasSpec(w_in=mant, params=params, mask=mask, w_in_exp=wexp)
    info = {
        "scale": Sb,
        "scale_limit": lim,
        "w_in_exp": wexp,
        "vth_mant": int(vth_m),
        "du": int(du_f),
        "dv": int(dv_f),
        "dc": [int(v) for v in dc],
        "w_b_exp": [int(v) for v in wbe],
        "bias_exp": [int(v) for v in bexp],
    }
    return fsb, info, t


def _u_name(name: str, in_peak: float) -> str:
    """The current-bound's name in the report (says when graded input scales it)."""
    return name if in_peak == 1.0 else f"{name[:-1]}, graded input up to {in_peak:g})"
