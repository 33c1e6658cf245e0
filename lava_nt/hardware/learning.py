"""The learning cost of on-device tuning: operations per tuning sample and an energy estimate.

On-device bias tuning (:mod:`lava_nt.ondevice`, the rule of :mod:`lava_nt.spec.learning`) adds
these operations to inference, per tuning sample (a window of ``T`` steps with ``learn = 1``):

* **eligibility counter increments**: every neuron of a tuned layer updates its counter ``elig``
  once per step (``n_l * T`` per layer; an increment by 0 is still an update of the register);
* **error counters**: the output-error process counts each output neuron's spikes, one update per
  output neuron per step (``n_out * T``);
* **error messages**: at the end of the window the error process sends one graded spike per
  nonzero error ``e_j`` (an error of 0 sends nothing: with the rule's ``"misclassified"``
  error gate a correctly predicted sample sends no message and causes no delivery);
* **error delivery**: each feedback ``Dense`` turns a graded spike ``e_j`` into one synaptic
  operation per nonzero entry of its column ``B[:, j]`` (fixed point: of the effective 8-bit
  weights Lava's Dense applies), counted from the errors of a real run;
* **bias updates**: one multiply-accumulate and saturation per tuned neuron, once per sample
  (only when the biases learn).

A network that ends in a non-spiking readout (:mod:`lava_nt.spec.readout`; the rule's
"Readout output") has no output spikes to count; instead, per tuning sample:

* **readout value updates**: each readout unit keeps its window value (the last voltage, or a
  running maximum), one register update per unit per step (``n_r * T``; no error counters);
* **readout errors**: at the end of the window each unit computes ``e_j = target_j - value_j``
  (fixed point: shifted by ``err_shift``, saturated; gate and class weights applied), one
  operation per unit (``n_r``), whether or not the error is sent;
* **readout bias updates**: the delta rule ``b_j += eta_r e_j``, one multiply-accumulate and
  saturation per unit (``n_r``; 0 when the readout's rate is 0);
* error messages and their delivery as above: the feedback ``l = B e`` is a dense product
  (``B = W_r^T`` for the last spiking layer), one multiply-accumulate (a graded synaptic op) per
  nonzero entry of ``B[:, j]`` for each nonzero ``e_j`` -- ``n_l * n_r`` for a dense ``B`` and
  errors that are all nonzero, as a readout's usually are.

When gains learn (``rule.learn``), each neuron of a tuned layer also updates its gain
eligibility every step (``n_l * T``) and its gain once per sample (``n_l``). When spiking-bias
weights learn, each bias neuron updates its trace every step (``m * T``), each target neuron its
weight eligibility (``n_l * T``) and sends ``q_i`` back as one graded spike where its error
``l_i`` is nonzero (``q_i = 0`` otherwise; counted from the run's errors), and each bias neuron
updates its weight once per sample (``m``).

:func:`learning_activity` counts them from a run's output (twin or Lava; the errors are
recomputed from the output spike counts, or a readout's values, the labels and learning flags
exactly as the rule computes them), averaged over the tuning samples. :func:`learning_energy`
prices them with the same per-operation figures as the inference estimate
(:data:`lava_nt.hardware.energy.LOIHI1_TABLE2`, Davies et al. 2018, Table 2, **pre-silicon
Loihi 1 figures**; an **estimate**):

=================================  =============================================================
operation                           figure
=================================  =============================================================
eligibility / error counter update  neuron update, 81 pJ active (52 pJ inactive: lower bound):
                                    the counter is one more compartment-like register per step
                                    (also the gain / weight eligibilities and the trace)
error message (graded spike)        within-tile spike, 1.7 pJ (also each ``q_i`` message)
error delivery (graded synop)       synaptic op, 23.6 pJ
bias update (MAC + saturation)      neuron update, 81 pJ active (52 pJ inactive: lower bound)
                                    (also each gain and weight update, and a readout's value
                                    update, error and bias update)
=================================  =============================================================

Not included (as at inference): tile hops, barrier synchronisation, static power, host I/O (the
labels and learning flags the error process holds are loaded once with the run). Loihi's own
learning engine (120 pJ per pairwise-STDP synaptic update) is not used: the rule changes neuron
registers, not synapses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lava_nt.hardware.energy import LOIHI1_TABLE2, EnergyFigures
from lava_nt.spec.error_gate import sample_error
from lava_nt.spec.learning import FixedLearningParameters, population_target
from lava_nt.spec.readout import reduce_readout
from lava_nt.spec.validation import ParameterError

__all__ = ["LayerLearning", "LearningActivity", "learning_activity", "learning_energy"]


@dataclass
class LayerLearning:
    """Per tuning sample, the operations the rule adds to one tuned layer."""

    index: int
    neurons: int
    eligibility_updates: float  # neurons * T
    error_synops: float  # graded synaptic ops of the layer's feedback Dense (mean)
    bias_updates: float  # neurons (0 when the biases do not learn)
    gain_eligibility_updates: float = 0.0  # neurons * T when gains learn
    gain_updates: float = 0.0  # neurons
    trace_updates: float = 0.0  # bias neurons * T when spiking-bias weights learn
    sb_eligibility_updates: float = 0.0  # neurons * T
    sb_messages: float = 0.0  # q messages (mean; neurons with a nonzero error)
    sb_weight_updates: float = 0.0  # bias neurons

    @property
    def extra_updates(self) -> float:
        """Register updates of the gain and weight rules (priced as neuron updates)."""
        return (self.gain_eligibility_updates + self.gain_updates + self.trace_updates
                + self.sb_eligibility_updates + self.sb_weight_updates)  # fmt: skip


@dataclass
class LearningActivity:
    """Result of :func:`learning_activity` (per tuning sample: means over the tuning samples)."""

    T: int
    n_tune: int  # tuning samples of the run (learn = 1)
    n_out: int
    error_counter_updates: float  # n_out * T
    error_messages: float  # nonzero errors sent (mean)
    layers: list[LayerLearning] = field(default_factory=list)
    readout_value_updates: float = 0.0  # n_r * T (a readout network)
    readout_errors: float = 0.0  # n_r
    readout_bias_updates: float = 0.0  # n_r (0 when the readout's rate is 0)

    @property
    def readout_updates(self) -> float:
        """A readout's value, error and bias operations (priced as neuron updates)."""
        return self.readout_value_updates + self.readout_errors + self.readout_bias_updates

    @property
    def eligibility_updates(self) -> float:
        return float(sum(la.eligibility_updates for la in self.layers))

    @property
    def error_synops(self) -> float:
        return float(sum(la.error_synops for la in self.layers))

    @property
    def bias_updates(self) -> float:
        return float(sum(la.bias_updates for la in self.layers))

    @property
    def extra_updates(self) -> float:
        return float(sum(la.extra_updates for la in self.layers))

    @property
    def sb_messages(self) -> float:
        return float(sum(la.sb_messages for la in self.layers))

    def to_dict(self) -> dict:
        return {
            "T": self.T,
            "n_tune": self.n_tune,
            "n_out": self.n_out,
            "per_tuning_sample": {
                "eligibility_updates": self.eligibility_updates,
                "error_counter_updates": self.error_counter_updates,
                "error_messages": self.error_messages,
                "error_synops": self.error_synops,
                "bias_updates": self.bias_updates,
                "gain_and_weight_updates": self.extra_updates,
                "weight_messages": self.sb_messages,
                "readout_value_updates": self.readout_value_updates,
                "readout_errors": self.readout_errors,
                "readout_bias_updates": self.readout_bias_updates,
            },
            "layers": [asdict(la) for la in self.layers],
        }


def learning_activity(rule, output, labels, learn, spec=None) -> LearningActivity:
    """Count the operations the on-device rule adds per tuning sample of a run.

    Args:
        rule: the run's :class:`~lava_nt.ondevice.rule.OnDeviceRule`.
        output: the run's output ``[T, S, n_out]`` (:attr:`OnDeviceResult.output`): spikes, or
            a readout network's readout trace.
        labels: ``[S]`` labels of the samples.
        learn: ``[S]`` flags (1: a tuning sample); at least one must be 1.
        spec: the network: required for a readout network (its reduction); else optional (the
            size of each learning spiking bias, else read from the rule's per-bias-neuron
            rates).
    """
    where = "learning_activity"
    out = np.asarray(output, np.float64)
    n_out = int(np.asarray(rule.feedback[0]).shape[1]) if rule.feedback else 0
    if out.ndim != 3 or out.shape[0] != rule.T or out.shape[2] != n_out:
        raise ParameterError(
            f"{where}: output must be [T={rule.T}, S, n_out={n_out}] spikes, got {out.shape}"
        )
    S = out.shape[1]
    y = np.asarray(labels)
    lr = np.asarray(learn)
    if y.shape != (S,) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{where}: labels must be {S} integers, got {y.dtype} {y.shape}")
    if lr.shape != (S,) or not np.all((lr == 0) | (lr == 1)):
        raise ParameterError(f"{where}: learn must be {S} flags (0 or 1)")
    if not lr.any():
        raise ParameterError(f"{where}: the run has no tuning sample (learn is all 0)")
    readout = getattr(rule, "readout_rate", None) is not None
    if readout and (spec is None or spec.readout is None):
        raise ParameterError(f"{where}: a readout rule needs spec, the network with its readout")
    fixed = isinstance(rule.params[0], FixedLearningParameters)
    B = rule.effective_feedback(fixed)
    fan = [np.count_nonzero(b, axis=0) for b in B]  # nonzero synapses per error neuron
    tune = np.flatnonzero(lr == 1)
    nz = _nonzero_errors(rule, out, y, tune, fixed, spec if readout else None)
    # a neuron's l_i is nonzero where its feedback row meets a nonzero error (no cancellation
    # is assumed: an upper bound of the q messages)
    l_nz = [(nz.astype(np.int64) @ (b != 0).T.astype(np.int64)) > 0 for b in B]
    learns = getattr(rule, "learn", ("bias",))
    sb_rates = getattr(rule, "sb_params", []) if "sb_weight" in learns else []
    act = LearningActivity(T=rule.T, n_tune=len(tune), n_out=n_out,
                           error_counter_updates=0.0 if readout else float(n_out * rule.T),
                           error_messages=float(nz.sum(1).mean()))  # fmt: skip
    if readout:
        r = rule.readout_rate
        moves = np.any(np.asarray(r.eta_mant if fixed else r.eta) != 0)
        act.readout_value_updates = float(n_out * rule.T)
        act.readout_errors = float(n_out)
        act.readout_bias_updates = float(n_out) if moves else 0.0
    for i, (k, b, f) in enumerate(zip(rule.layers, B, fan, strict=True)):
        n = int(b.shape[0])
        la = LayerLearning(index=int(k), neurons=n, eligibility_updates=float(n * rule.T),
                           error_synops=float((nz @ f).mean()),
                           bias_updates=float(n) if "bias" in learns else 0.0)  # fmt: skip
        if "gain" in learns:
            la.gain_eligibility_updates, la.gain_updates = float(n * rule.T), float(n)
        if sb_rates and sb_rates[i] is not None:
            m = _bias_neurons(spec, k, sb_rates[i], where)
            la.trace_updates, la.sb_weight_updates = float(m * rule.T), float(m)
            la.sb_eligibility_updates = float(n * rule.T)
            la.sb_messages = float(l_nz[i].sum(1).mean())
        act.layers.append(la)
    return act


def _nonzero_errors(rule, out, y, tune, fixed: bool, spec) -> np.ndarray:
    """``[len(tune), n_out]``: which errors of the tuning samples are nonzero, computed as the
    rule computes them (a gated sample sends nothing) from the output spike counts, or (``spec``
    given: a readout network) from the readout values of the window."""
    n_out = out.shape[2]
    if spec is None:
        scores = out.sum(0)  # [S, n_out] spike counts
        shift = 0
    else:
        scores = reduce_readout(out, spec.readout.reduce)  # [S, n_r] readout values
        shift = int(rule.error_shift)
    if fixed:
        scores = np.rint(scores).astype(np.int64)
    gate, cw = getattr(rule, "error_gate", "always"), getattr(rule, "class_weights", None)
    nz = np.zeros((len(tune), n_out), bool)
    for r, b in enumerate(tune):
        target = population_target(int(y[b]), n_out, rule.targets)
        e = sample_error(scores[b], target, 1, int(y[b]), rule.targets.n_classes, gate, cw,
                         fixed, shift)  # fmt: skip
        nz[r] = e != 0
    return nz


def _bias_neurons(spec, k: int, r, where: str) -> int:
    """Bias neurons of layer ``k``'s spiking bias: from ``spec``, else the size of the rate
    (:func:`~lava_nt.ondevice.rule.make_rule` stores one rate per bias neuron)."""
    if spec is not None:
        return int(spec.layers[k].spiking_bias.m)
    if np.ndim(r[0]) == 0:
        raise ParameterError(f"{where}: layer {k}: pass spec to count the spiking bias' neurons")
    return int(np.size(r[0]))


def learning_energy(activity: LearningActivity, figures: EnergyFigures = LOIHI1_TABLE2) -> dict:
    """Energy per tuning sample (picojoules) of the operations in ``activity``, priced as the
    module docstring states (an estimate from pre-silicon figures); per-layer and total terms."""
    if not isinstance(activity, LearningActivity):
        raise ParameterError(
            f"learning_energy: expected a LearningActivity, got {type(activity).__name__}"
        )
    hi, lo = figures.neuron_update_active_pj, figures.neuron_update_inactive_pj
    layers = []
    spike = figures.spike_within_tile_pj
    for la in activity.layers:
        upd = la.eligibility_updates + la.bias_updates + la.extra_updates
        syn = la.error_synops * figures.synaptic_op_pj + la.sb_messages * spike
        layers.append({"index": la.index, "eligibility_pj": la.eligibility_updates * hi,
                       "error_synops_pj": la.error_synops * figures.synaptic_op_pj,
                       "bias_updates_pj": la.bias_updates * hi,
                       "gain_and_weight_updates_pj": la.extra_updates * hi,
                       "weight_messages_pj": la.sb_messages * spike,
                       "total_pj": upd * hi + syn, "total_low_pj": upd * lo + syn})  # fmt: skip
    counters = activity.eligibility_updates + activity.error_counter_updates
    msg = (activity.error_messages + activity.sb_messages) * spike
    syn = activity.error_synops * figures.synaptic_op_pj
    upd = counters + activity.bias_updates + activity.extra_updates + activity.readout_updates
    total = upd * hi + msg + syn
    low = upd * lo + msg + syn
    return {
        "estimate": True,
        "figures": figures.to_dict(),
        "T": activity.T,
        "layers": layers,
        "eligibility_pj": activity.eligibility_updates * hi,
        "error_counters_pj": activity.error_counter_updates * hi,
        "error_messages_pj": activity.error_messages * spike,
        "weight_messages_pj": activity.sb_messages * spike,
        "error_synops_pj": syn,
        "bias_updates_pj": activity.bias_updates * hi,
        "gain_and_weight_updates_pj": activity.extra_updates * hi,
        "readout_pj": activity.readout_updates * hi,
        "total_pj": total,
        "total_low_pj": low,
        "run_total_pj": total * activity.n_tune,
        "model": "ESTIMATE per tuning sample: (eligibility + error-counter updates + bias, gain "
        "and weight rule updates + a readout's value updates, errors and bias updates) * "
        "E_neuron_update (active; inactive for the lower bound) + "
        "(error + weight messages) * E_spike (within tile) + feedback synops * E_synop; no tile "
        "hops, barrier sync, static power or host I/O",
    }
