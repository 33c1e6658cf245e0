"""Quantisation-aware tuning (QAT): train through the bit-exact fixed-point dynamics.

:class:`QATNetwork` wraps a pretrained :class:`~lava_nt.nn.network.NTNetwork` (after
:func:`lava_nt.tuning.apply_tuning`) or a float :class:`~lava_nt.network.NetworkSpec` together with
the quantiser's per-layer voltage scales ``S`` (:func:`lava_nt.converters.quantize.quantize`).
Its forward pass *is* the Loihi-compatible integer network of :mod:`lava_nt.spec.fixed` (the
one Lava's fixed-point models run), computed on float64 tensors that hold exact integers, while
surrogate and straight-through gradients reach the trainable parameters:

* every register is what the quantiser would write at the given scales (both apply the one
  definition of the rules, :mod:`lava_nt.spec.quantization`): ``bias_mant << bias_exp
  = round(b S)`` (13-bit mantissa, per-neuron / per-layer / fixed exponent), ``gain_mant =
  round(256 g)`` (12-bit signed), ``w_b_mant << w_b_exp = round(w_b S)``, ``dc = round((1 -
  c_retention) 4096)``, weight mantissas ``2 round(W S / 2**(7+e))`` -- rounding half away from
  zero, clipping to the register widths; the forward uses the rounded value, the backward the
  identity (straight-through estimator, STE) with respect to the float *latent* parameter;
* the dynamics are :func:`~lava_nt.spec.fixed.fixed_ntlif_step` and
  :func:`~lava_nt.spec.fixed.fixed_spiking_bias_step` operation for operation: products of
  integers (exact in float64: every value stays below 2**37), truncation toward zero after the
  12-bit decays and the 8-bit gain shift (STE: gradient of the exact quotient), the 24-bit wrap of
  ``u`` (STE) and the saturation of ``v`` and ``C`` (clamp);
* the spike is ``v > vth << 6`` exactly; its surrogate gradient acts on ``(v - (vth << 6)) / S``,
  i.e. on the float network's ``v - vth``, so surrogate slopes keep their meaning and gradients
  have the float network's magnitude.

A network that ends in a non-spiking integrator readout (``NetworkSpec.readout``) carries it as a
:class:`~lava_nt.qat.readout.QATReadout` at its own scale ``S_r`` (registers by the same rules as
the quantiser's readout): the forward then returns the readout's integer voltage trace, and
``values(trace)`` (what the training loss takes) reduces it over the window (last / mean / max)
and divides by ``S_r``. A network built for graded (real-valued) input takes the data ``x``; its
layers run on the integers ``round(x * input_scale)`` that the fixed-point network takes
(:meth:`QATNetwork.fixed_input`), the first layer's weights divided by ``input_scale`` as the
quantiser divides them. Layers with synaptic delays (``LayerSpec.delay``) delay their weights'
drive as the fixed-point engines do (:func:`~lava_nt.qat.registers.delayed_drive`, one masked
integer drive per distinct delay over the shifted input, :mod:`lava_nt.spec.delay`); the delays
are frozen and carried into every exported spec and model file.

Hence ``QATNetwork(x)`` gives bit for bit the spikes (and readout values) of
:func:`~lava_nt.nn.fixed_emulator.emulate_fixed` and of Lava's fixed-point run of
:meth:`QATNetwork.to_fixed_spec`, which holds the integer mantissas used in training and equals
:func:`~lava_nt.converters.quantize.quantize` of :meth:`QATNetwork.to_float_spec` at the same
scales (tests prove both; :meth:`QATNetwork.check_against_quantizer` compares them on demand).
What is trained is what the chip runs.

Usage::

    net = build_network(160, [400, 800], 2, 50); ...pretrain...
    apply_tuning(net, "nt2")                     # freeze, choose what is trainable
    qat = QATNetwork(net)                        # scales chosen by quantize(net.to_spec())
    train(qat, (x, y), TrainConfig(...), val_data=...)
    fixed = qat.to_fixed_spec()                  # deploy: run_network(fixed, x, "fixed")

The float-vs-PTQ-vs-QAT study on the EEG example lives with the example
(:mod:`lava_nt.examples.eeg.qat_compare`, ``python -m lava_nt.examples.eeg.qat_compare --help``);
see ``docs/qat.md``.

Modules: :mod:`~lava_nt.qat.registers` (the straight-through register quantisers),
:mod:`~lava_nt.qat.recurrences` (fused integer recurrences with hand-written BPTT),
:mod:`~lava_nt.qat.layer` (:class:`QATLayer`), :mod:`~lava_nt.qat.readout` (:class:`QATReadout`),
:mod:`~lava_nt.qat.network` (:class:`QATNetwork`), :mod:`~lava_nt.qat.compare`
(:func:`fixed_spec_differences`).
"""

from lava_nt.qat.compare import fixed_spec_differences
from lava_nt.qat.layer import QATLayer
from lava_nt.qat.network import QATNetwork
from lava_nt.qat.readout import READOUT_TRAINABLE_KINDS, QATReadout
from lava_nt.qat.registers import (
    TRAINABLE_KINDS,
    QATError,
    ste,
)
from lava_nt.spec.quantization import (
    K_MAX,
    QUANT_WEIGHT_EXP_MAX,
    QUANT_WEIGHT_EXP_MIN,
    round_half_away,
)

__all__ = [
    "K_MAX",
    "QUANT_WEIGHT_EXP_MAX",
    "QUANT_WEIGHT_EXP_MIN",
    "READOUT_TRAINABLE_KINDS",
    "TRAINABLE_KINDS",
    "QATError",
    "QATLayer",
    "QATNetwork",
    "QATReadout",
    "fixed_spec_differences",
    "round_half_away",
    "ste",
]
