"""Back to floating point: :func:`dequantize` (the float twin of a fixed-point network)."""

from __future__ import annotations

import numpy as np

from lava_nt.converters.quantize.network import _scale_list
from lava_nt.converters.quantize.readout import dequantize_readout
from lava_nt.converters.quantize.registers import _per_neuron
from lava_nt.converters.quantize.report import QuantReport
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec.fixed import (
    ACT_SHIFT,
    DECAY_UNITY,
    GAIN_UNITY,
    VTH_SHIFT,
    dense_effective_weights,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError


# ---- back to float --------------------------------------------------------------------------
def _decay(register, offset: int):
    """``(register + offset) / 4096``: a float for one register per layer, a float64 ``(n,)``
    array for one per neuron (``offset`` 1 for ``du``: Loihi decays ``u`` by ``(du + 1)/4096``)."""
    r = np.asarray(register, dtype=np.int64)
    d = (r + offset) / DECAY_UNITY
    return float(d) if r.ndim == 0 else d.reshape(-1)


def dequantize(
    fixed: NetworkSpec,
    report: QuantReport | None = None,
    scales=None,
    *,
    readout_scale: float | None = None,
    input_scale: float | None = None,
) -> NetworkSpec:
    """The float network a fixed-point spec represents (given the per-layer scales from the
    ``report`` or ``scales``; spiking-bias scales from the report). Useful to measure what the
    rounding changed: ``reference_run(dequantize(q, rep), x)``.

    A readout is dequantised at ``readout_scale`` (default: the report's, else ``2**6``: values
    in the units of the integer weights). Graded input: the first layer's weights are multiplied
    by ``input_scale`` (default: the report's, else 1), so the float network takes ``x`` where
    the fixed one takes ``round(x * input_scale)``."""
    if not isinstance(fixed, NetworkSpec) or not fixed.fixed:
        raise ParameterError("dequantize: expected a fixed-point NetworkSpec")
    nl = len(fixed.layers)
    if scales is None:
        if report is None:
            raise ParameterError("dequantize: pass the QuantReport or the scales")
        scales = [lq.scale for lq in report.layers]
        b_scales = [lq.spiking_bias["scale"] if lq.spiking_bias else None for lq in report.layers]
        if readout_scale is None and report.readout is not None:
            readout_scale = report.readout.scale
        if input_scale is None:
            input_scale = getattr(report, "input_scale", 1.0)
    else:
        scales = _scale_list(scales, nl, "scales")
        b_scales = [None] * nl
    layers = []
    for k, ls in enumerate(fixed.layers):
        S = scales[k]
        p = ls.neuron
        n = ls.n
        W = dense_effective_weights(np.asarray(ls.weight)) * 2.0 ** (ls.weight_exp + ACT_SHIFT) / S
        neuron = ntlif_parameters(
            n,
            f"dequantize layer {k}",
            du=_decay(p.du, 1),
            dv=_decay(p.dv, 0),
            vth=int(p.vth) * 2**VTH_SHIFT / S,
            reset=p.reset_subtract and "subtract" or "zero",
            bias=_per_neuron(p.bias_mant, n) * 2.0 ** _per_neuron(p.bias_exp, n) / S,
            gain=_per_neuron(p.gain_mant, n) / GAIN_UNITY,
        )
        sbs = None
        if ls.spiking_bias is not None:
            sb = ls.spiking_bias
            Sb = b_scales[k]
            if Sb is None:
                raise ParameterError(f"dequantize: layer {k} spiking bias needs its scale (report)")
            pb = sb.params
            m = sb.m
            params = spiking_bias_parameters(
                m,
                n,
                f"dequantize layer {k} spiking bias",
                du=(int(pb.du) + 1) / DECAY_UNITY,
                dv=int(pb.dv) / DECAY_UNITY,
                vth=int(pb.vth) * 2**VTH_SHIFT / Sb,
                bias=_per_neuron(pb.bias_mant, m) * 2.0 ** _per_neuron(pb.bias_exp, m) / Sb,
                w_b=_per_neuron(pb.w_b_mant, m) * 2.0 ** _per_neuron(pb.w_b_exp, m) / S,
                c_retention=1.0 - _per_neuron(pb.dc, m) / DECAY_UNITY,
                group=pb.group,
            )
            w_in = (
                dense_effective_weights(np.asarray(sb.w_in)) * 2.0 ** (sb.w_in_exp + ACT_SHIFT) / Sb
            )
            sbs = SpikingBiasSpec(w_in=w_in, params=params, mask=sb.mask)
        if k == 0 and fixed.graded and input_scale not in (None, 1.0):
            W = W * float(input_scale)
            if sbs is not None:
                sbs.w_in = sbs.w_in * float(input_scale)
        layers.append(LayerSpec(weight=W, neuron=neuron, spiking_bias=sbs, delay=ls.delay))
    readout = None
    if fixed.readout is not None:
        readout = dequantize_readout(
            fixed.readout, float(readout_scale) if readout_scale else float(1 << ACT_SHIFT)
        )
    return NetworkSpec(
        n_in=fixed.n_in, layers=layers, fixed=False, readout=readout, input=fixed.input
    )
