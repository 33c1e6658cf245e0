"""Quantise a floating-point :class:`~lava_nt.network.NetworkSpec` to Loihi-compatible fixed point.

:func:`quantize` maps every layer to the integer registers of :mod:`lava_nt.spec.fixed` with one
voltage scale ``S`` per layer (float voltage 1.0 <-> ``S`` fixed voltage units)::

    weights   W -> mantissa 2k, weight_exp e      with k = round(W S / 2**(7+e)), |k| <= 127
              (Lava adds (2k << e) << 6 = k 2**(7+e) to u; the even mantissa survives Lava's
              mixed-sign LSB truncation, e = -1 is the exact "2W, weight_exp=-1" trick)
    vth       round(vth S / 64)                       17-bit unsigned, >= 1
    bias      bias_mant << bias_exp = round(b S)      13-bit signed mantissa, exponent 0..7
                                                      (per neuron, per layer, or fixed, e.g. 6)
    gain      round(g 256)                            12-bit signed
    du        round(du 4096) - 1                      (du = 1 -> 4095; du = 0 is an error)
    dv        round(dv 4096)                          (dv = 1 -> 4096 is clipped to 4095)

A spiking-bias population gets its own scale ``S_b`` for ``W_in``, ``vth_b`` and its drive
``bias_b``; its current decay is ``dc = round((1 - c_retention) 4096)`` (``c_retention = 0`` clips
to 4095; ``c_retention`` is the float current's per-step retention factor) and its bias
weight is in the *target* layer's units: ``w_b_mant << w_b_exp = round(w_b S_target)``.

``S`` is chosen as large as the registers allow: the threshold must fit 17 bits, the weights 8
bits with ``weight_exp <= 7``, the biases and bias weights 13 + 3 bits, and (a soft limit) the
current ``u`` must not wrap even if every input spikes every step. When that worst-case bound
would leave fewer than :data:`MIN_VTH_MANT` threshold units it is relaxed (and a warning is
reported). The result is then lowered by less than a factor 2, either so that the largest weight
fills the 8-bit mantissa (default: the weights are the precision bottleneck) or to a power of two
(``power_of_two=True``: integer-valued parameters then map exactly). What cannot be represented
at any scale raises :class:`QuantizationError`; everything rounded, clipped or rounded to zero is
listed in the :class:`QuantReport`.

``fold_gains=True`` folds the NT1 gains into the weight rows and biases first
(:func:`fold_gains`: ``g (W s + b) = (g W) s + g b``, exact in real arithmetic), which gives a
gain-free network that stock Lava ``LIF``/``Dense`` can run (:func:`to_stock_lava`, in
:mod:`lava_nt.converters.netx`). ``target="netx"`` quantises for lava-dl's netx HDF5 format:
gains folded, ``bias_exp`` fixed at 6 and integer weights within [-256, 254] (``weight_exp <= 0``).

The rounding rule of every register is defined once in :mod:`lava_nt.spec.quantization` (shared
with quantisation-aware tuning, :mod:`lava_nt.qat`). Modules: :mod:`.report`
(:class:`QuantReport`), :mod:`.registers` (those rules applied on numpy, with the statistics of
each register), :mod:`.scale` (the choice of each layer's scale ``S``), :mod:`.layers` (one layer
and its spiking bias), :mod:`.network` (:func:`quantize`, :func:`fold_gains`) and
:mod:`.dequantize` (:func:`dequantize`); :mod:`.calibrate`
(:func:`calibrate_quantize`: per-layer choices made on calibration data to maximise agreement with
the float network, bias-shift correction, a report of what was chosen and why).
"""

from lava_nt.converters.quantize.calibrate import calibrate_quantize
from lava_nt.converters.quantize.dequantize import dequantize
from lava_nt.converters.quantize.network import fold_gains, quantize
from lava_nt.converters.quantize.registers import (
    _SAFE as _SAFE,
)
from lava_nt.converters.quantize.registers import (
    K_MAX as K_MAX,
)
from lava_nt.converters.quantize.registers import (
    MIN_VTH_MANT,
    QuantizationError,
)
from lava_nt.converters.quantize.registers import (
    NETX_BIAS_EXP as NETX_BIAS_EXP,
)
from lava_nt.converters.quantize.registers import (
    NETX_WEIGHT_EXP_MAX as NETX_WEIGHT_EXP_MAX,
)
from lava_nt.converters.quantize.registers import (
    TARGETS as TARGETS,
)
from lava_nt.converters.quantize.registers import _per_neuron as _per_neuron
from lava_nt.converters.quantize.registers import _round as _round
from lava_nt.converters.quantize.registers import _scalar as _scalar
from lava_nt.converters.quantize.report import LayerQuant, QuantReport, TensorQuant
from lava_nt.converters.quantize.report import _jsonable as _jsonable
from lava_nt.spec.quantization import QUANT_WEIGHT_EXP_MAX as QUANT_WEIGHT_EXP_MAX
from lava_nt.spec.quantization import QUANT_WEIGHT_EXP_MIN as QUANT_WEIGHT_EXP_MIN

__all__ = [
    "MIN_VTH_MANT",
    "LayerQuant",
    "QuantReport",
    "QuantizationError",
    "TensorQuant",
    "calibrate_quantize",
    "dequantize",
    "fold_gains",
    "quantize",
]
