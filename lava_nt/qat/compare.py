"""The register comparison of two fixed-point specs (:func:`fixed_spec_differences`)."""

from __future__ import annotations

import numpy as np

from lava_nt.network import NetworkSpec

__all__ = ["fixed_spec_differences"]

_NEURON = ("du", "dv", "vth", "bias_mant", "bias_exp", "gain_mant", "reset_subtract")
_BIAS = ("du", "dv", "vth", "bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc")
_READOUT = ("i_decay", "v_decay", "bias_mant", "bias_exp", "reduce")


def _differ(a, b, names) -> list[str]:
    return [
        n for n in names if not np.array_equal(np.asarray(getattr(a, n)), np.asarray(getattr(b, n)))
    ]


def _dense_differs(w_a, e_a, w_b, e_b) -> bool:
    return e_a != e_b or not np.array_equal(np.asarray(w_a), np.asarray(w_b))


def _delay_differs(la, lb) -> bool:
    """True if two layers delay their synapses differently (None = all zero: no delay)."""
    da = np.zeros(np.shape(la.weight), np.int64) if la.delay is None else np.asarray(la.delay)
    db = np.zeros(np.shape(lb.weight), np.int64) if lb.delay is None else np.asarray(lb.delay)
    return not np.array_equal(da, db)


def _bias_differences(k: int, sa, sb) -> list[str]:
    if (sa is None) != (sb is None):
        return [f"layer {k} spiking bias"]
    if sa is None:
        return []
    out = []
    if _dense_differs(sa.w_in, sa.w_in_exp, sb.w_in, sb.w_in_exp):
        out.append(f"layer {k} sb.w_in")
    out += [f"layer {k} sb.{n}" for n in _differ(sa.params, sb.params, _BIAS)]
    ga, gb = sa.params.group, sb.params.group
    if (ga is None) != (gb is None) or (ga is not None and not np.array_equal(ga, gb)):
        out.append(f"layer {k} sb.group")
    return out


def _readout_differences(ra, rb) -> list[str]:
    if (ra is None) != (rb is None):
        return ["readout"]
    if ra is None:
        return []
    out = []
    if _dense_differs(ra.weight, ra.weight_exp, rb.weight, rb.weight_exp):
        out.append("readout weight")
    return out + [f"readout {n}" for n in _differ(ra.params, rb.params, _READOUT)]


def fixed_spec_differences(a: NetworkSpec, b: NetworkSpec) -> list[str]:
    """Names of the registers in which two fixed-point specs differ (empty: identical): every
    layer's weights, synaptic delays (None and all-zero are the same: no delay), neuron and
    spiking-bias registers, the readout's, and the input kind."""
    if len(a.layers) != len(b.layers) or a.n_in != b.n_in:
        return ["architecture"]
    out = [] if a.input == b.input else ["input kind"]
    for k, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        if _dense_differs(la.weight, la.weight_exp, lb.weight, lb.weight_exp):
            out.append(f"layer {k} weight")
        if _delay_differs(la, lb):
            out.append(f"layer {k} delay")
        out += [f"layer {k} {n}" for n in _differ(la.neuron, lb.neuron, _NEURON)]
        out += _bias_differences(k, la.spiking_bias, lb.spiking_bias)
    return out + _readout_differences(a.readout, b.readout)
