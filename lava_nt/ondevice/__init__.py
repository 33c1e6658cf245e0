"""On-device tuning: biases (gains, spiking-bias weights) learned by local rules inside one Lava
run, and its twin (numpy or torch).

- :mod:`lava_nt.ondevice.rule`: :class:`OnDeviceRule` (what is tuned and which parameters
  learn, rates, band, feedback matrices, targets) and :func:`make_rule`;
- :mod:`lava_nt.ondevice.twin`: :func:`run_twin`, the per-sample numpy loop;
- :mod:`lava_nt.ondevice.torch_twin`: :func:`run_twin_torch`, the same loop on torch tensors
  (float64 / int64, CPU or GPU);
- :mod:`lava_nt.ondevice.select`: :func:`tune_on_device`, the twin over an ``eta x band`` grid,
  the choice made on a selection split (the EEG pipeline's ``ondevice`` method);
- :mod:`lava_nt.ondevice.lava_engine`: :func:`run_lava <lava_nt.ondevice.lava_engine.run_lava>`,
  the same in one long Lava run (imports Lava when called);
- :mod:`lava_nt.ondevice.readout`: a readout network's value targets and feedback matrix
  (:func:`~lava_nt.ondevice.rule.readout_setup` prepares one the same way for every entry point).

The rules' equations are :mod:`lava_nt.spec.learning` (the opt-in error gate and class weights:
:mod:`lava_nt.spec.error_gate`, re-exported here: :func:`balanced_class_weights`); the guide
is ``docs/on_device.md``.
"""

from lava_nt.ondevice.readout import measure_readout_targets, readout_feedback
from lava_nt.ondevice.rule import (
    FEEDBACK_KINDS,
    OnDeviceRule,
    bias_headroom,
    check_rule,
    derived_feedback,
    feedback_matrices,
    fixed_feedback,
    fixed_rates,
    fixed_readout_rate,
    fixed_update_rates,
    identity_feedback,
    layer_counts,
    make_rule,
    readout_headroom,
    readout_setup,
    sb_weight_headroom,
)
from lava_nt.ondevice.select import OnDeviceChoice, tune_on_device
from lava_nt.ondevice.torch_twin import run_twin_torch
from lava_nt.ondevice.twin import OnDeviceResult, run_twin, tuned_spec
from lava_nt.spec.error_gate import ERROR_GATES, balanced_class_weights

__all__ = [
    "ERROR_GATES",
    "FEEDBACK_KINDS",
    "OnDeviceChoice",
    "OnDeviceResult",
    "OnDeviceRule",
    "balanced_class_weights",
    "bias_headroom",
    "check_rule",
    "derived_feedback",
    "feedback_matrices",
    "fixed_feedback",
    "fixed_rates",
    "fixed_readout_rate",
    "fixed_update_rates",
    "identity_feedback",
    "layer_counts",
    "make_rule",
    "measure_readout_targets",
    "readout_feedback",
    "readout_headroom",
    "readout_setup",
    "run_twin",
    "run_twin_torch",
    "sb_weight_headroom",
    "tune_on_device",
    "tuned_spec",
]
