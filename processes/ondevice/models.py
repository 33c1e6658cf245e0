"""ProcessModels of on-device tuning (floating point and bit-accurate).

A learning model is its inference model plus what learning adds: it subclasses the inference
model of its precision (:class:`~lava_nt.processes.ntlif.models.PyNTLIFModelFloat`, ...), so it
inherits that model's LavaPyTypes, parameters and step, and declares only its extra ports and
registers and its ``after_step``, which the inference model's ``run_spk`` calls after sending its
spikes (a no-op there). The learning layer counts the eligibility during the sample's
``learn_steps`` steps and applies the bias update with the error received on ``err_in`` (a no-op
when it is zero) by the rule of :mod:`lava_nt.spec.learning`; the learning spiking bias keeps the
trace and updates its weights. Registers whose LavaPyType is the same in both precisions (the
rates, the flags) are declared once in the abstract learning model. The output-error models count
the output spikes and send the error at the end of each window. The equations are the spec's;
these classes only move values between Vars, ports and spec functions.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.lava.run import report_model_errors
from lava_nt.processes._models import FLOAT, INT, MANT12, first, fixed_model, float_model
from lava_nt.processes.ntlif.models import (
    AbstractPyNTLIFModel,
    PyNTLIFModelBitAcc,
    PyNTLIFModelFloat,
)
from lava_nt.processes.ondevice.process import (
    LearningNTLIF,
    LearningSpikingBias,
    OutputError,
)
from lava_nt.processes.spiking_bias.models import (
    AbstractPySpikingBiasModel,
    PySpikingBiasModelBitAcc,
    PySpikingBiasModelFloat,
)
from lava_nt.spec.error_gate import FixedClassWeights, sample_error
from lava_nt.spec.learning import (
    FixedLearningParameters,
    FixedRate,
    LearningParameters,
    Rate,
    Targets,
    bias_update,
    eligibility_increment,
    fan_out,
    fixed_bias_update,
    fixed_gain_eligibility_step,
    fixed_gain_update,
    fixed_sb_eligibility_step,
    fixed_sb_signal,
    fixed_sb_trace_step,
    fixed_sb_weight_update,
    fixed_threshold,
    gain_eligibility_step,
    gain_update,
    group_matrix,
    group_sum,
    population_target,
    sb_eligibility_step,
    sb_signal,
    sb_trace_step,
    sb_weight_update,
)


def _flag(var) -> bool:
    return bool(int(first(var)))


class AbstractPyLearningNTLIFModel(AbstractPyNTLIFModel):
    """After the NTLIF step: receive ``l`` on ``err_in`` and the trace on ``trace_in``, count the
    eligibility, update the biases (gains) and send ``q`` of the spiking-bias weight rule on
    ``sb_out`` (zeros unless ``learn_sb``). The eligibilities restart with ``u`` and ``v``."""

    extra_state = ("elig", "elig_gain", "elig_sb")
    learn_steps: np.ndarray = INT
    learn_gain: np.ndarray = INT
    learn_sb: np.ndarray = INT
    # the float rule's registers (unused in fixed point)
    eta: np.ndarray = FLOAT
    band: np.ndarray = FLOAT
    eta_gain: np.ndarray = FLOAT
    # the fixed-point rule's registers (unused in float)
    eta_mant: np.ndarray = MANT12
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    band_fixed: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    eta_gain_mant: np.ndarray = MANT12
    eta_gain_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)

    def counting(self) -> bool:
        """True during the first ``learn_steps`` steps after a per-sample reset."""
        phase = (self.time_step - self.reset_offset) % self.reset_interval
        return phase < int(first(self.learn_steps))

    def count_eligibility(self, s, state, p, trace) -> None:
        raise NotImplementedError

    def learn(self, l) -> None:
        raise NotImplementedError

    def sb_signal(self, l):
        raise NotImplementedError

    def after_step(self, s, state, p) -> None:
        l = self.err_in.recv()  # noqa: E741 (the rule's symbol)
        trace = self.trace_in.recv()  # zeros unless a learning spiking bias is connected
        if self.counting():
            self.count_eligibility(s, state, p, trace)
        self.learn(l)
        self.sb_out.send(self.sb_signal(l))


@float_model(LearningNTLIF)
class PyLearningNTLIFModelFloat(AbstractPyLearningNTLIFModel, PyNTLIFModelFloat):
    """Float learning NTLIF: :func:`lava_nt.spec.ntlif.ntlif_step`, then
    :func:`~lava_nt.spec.learning.eligibility_step` and :func:`~lava_nt.spec.learning.bias_update`
    on float64 arrays."""

    err_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    trace_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    sb_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    elig: np.ndarray = FLOAT
    elig_gain: np.ndarray = FLOAT
    elig_sb: np.ndarray = FLOAT

    def _learning(self) -> LearningParameters:
        return LearningParameters(self.eta, float(first(self.band)))

    def count_eligibility(self, s, state, p, trace) -> None:
        inc = eligibility_increment(s, state.v, p.vth, self._learning().band)
        self.elig[:] = self.elig + inc
        if _flag(self.learn_gain):
            self.elig_gain[:] = gain_eligibility_step(self.elig_gain, inc, state.u, p.bias)
        if _flag(self.learn_sb):
            self.elig_sb[:] = sb_eligibility_step(self.elig_sb, inc, np.asarray(trace, float))

    def learn(self, l) -> None:
        l = np.asarray(l, np.float64)  # noqa: E741 (the rule's symbol)
        self.bias[:] = bias_update(self.bias, l, self.elig, self._learning())
        if _flag(self.learn_gain):
            self.gain[:] = gain_update(self.gain, l, self.elig_gain, Rate(self.eta_gain))

    def sb_signal(self, l):
        if not _flag(self.learn_sb):
            return np.zeros(self.elig_sb.shape)
        return sb_signal(np.asarray(l, np.float64), self.elig_sb)


@fixed_model(LearningNTLIF)
class PyLearningNTLIFModelBitAcc(AbstractPyLearningNTLIFModel, PyNTLIFModelBitAcc):
    """Bit-accurate learning NTLIF: :func:`lava_nt.spec.fixed.fixed_ntlif_step`, then the
    integer eligibility (16-bit count, 24-bit gain and weight eligibilities) and
    :func:`~lava_nt.spec.learning.fixed_bias_update` on int64."""

    err_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    trace_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    sb_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    elig: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    elig_gain: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    elig_sb: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def _learning(self) -> FixedLearningParameters:
        return FixedLearningParameters(
            self.eta_mant.astype(np.int64),
            int(first(self.eta_shift)),
            int(first(self.band_fixed)),
        )

    def count_eligibility(self, s, state, p, trace) -> None:
        inc = eligibility_increment(s, np.asarray(state.v, np.int64), fixed_threshold(p.vth),
                                    self._learning().band)  # fmt: skip
        self.elig[:] = self.elig.astype(np.int64) + inc
        if _flag(self.learn_gain):
            self.elig_gain[:] = fixed_gain_eligibility_step(
                self.elig_gain.astype(np.int64), inc, state.u, p.bias_mant, p.bias_exp
            )
        if _flag(self.learn_sb):
            self.elig_sb[:] = fixed_sb_eligibility_step(
                self.elig_sb.astype(np.int64), inc, np.asarray(trace, np.int64)
            )

    def learn(self, l) -> None:
        l = np.asarray(l, np.int64)  # noqa: E741 (the rule's symbol)
        self.bias_mant[:] = fixed_bias_update(
            self.bias_mant.astype(np.int64), l, self.elig.astype(np.int64), self._learning()
        )
        if _flag(self.learn_gain):
            r = FixedRate(self.eta_gain_mant.astype(np.int64),
                          int(first(self.eta_gain_shift)))  # fmt: skip
            self.gain_mant[:] = fixed_gain_update(
                self.gain_mant.astype(np.int64), l, self.elig_gain.astype(np.int64), r
            )

    def sb_signal(self, l):
        if not _flag(self.learn_sb):
            return np.zeros(self.elig_sb.shape, np.int64)
        return fixed_sb_signal(np.asarray(l, np.int64), self.elig_sb.astype(np.int64))


class AbstractPyLearningSpikingBiasModel(AbstractPySpikingBiasModel):
    """After the spiking-bias step and its sends: update the pre trace (it restarts with the
    state), send it fanned out on ``trace_out``, *then* receive ``q`` from the target (sent in
    the same step) and update the weights."""

    extra_state = ("trace",)
    q_dtype = np.float64
    eta_w: np.ndarray = FLOAT  # float rate (unused in fixed point)
    eta_w_mant: np.ndarray = MANT12  # fixed-point rate (unused in float)
    eta_w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)

    def trace_step(self, s_b, p):
        raise NotImplementedError

    def update_weights(self, Q) -> None:
        raise NotImplementedError

    def after_step(self, s_b, p) -> None:
        trace = self.trace_step(s_b, p)
        self.trace[:] = trace
        self.trace_out.send(fan_out(trace, p.group))
        q = np.asarray(self.q_in.recv(), self.q_dtype)
        self.update_weights(group_sum(q, group_matrix(p.group, self.trace.shape[0])))


@float_model(LearningSpikingBias)
class PyLearningSpikingBiasModelFloat(AbstractPyLearningSpikingBiasModel, PySpikingBiasModelFloat):
    """Float: :func:`~lava_nt.spec.learning.sb_trace_step` and
    :func:`~lava_nt.spec.learning.sb_weight_update` on float64 arrays."""

    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    trace_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    trace: np.ndarray = FLOAT

    def trace_step(self, s_b, p):
        return sb_trace_step(self.trace, s_b, p.c_retention)

    def update_weights(self, Q) -> None:
        self.w_b[:] = sb_weight_update(self.w_b, np.asarray(Q, np.float64), Rate(self.eta_w))


@fixed_model(LearningSpikingBias)
class PyLearningSpikingBiasModelBitAcc(
    AbstractPyLearningSpikingBiasModel, PySpikingBiasModelBitAcc
):
    """Bit-accurate: :func:`~lava_nt.spec.learning.fixed_sb_trace_step` and
    :func:`~lava_nt.spec.learning.fixed_sb_weight_update` on int64 (24-bit trace and ``q``,
    13-bit ``w_b_mant``)."""

    q_dtype = np.int64
    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    trace_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    trace: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def trace_step(self, s_b, p):
        return fixed_sb_trace_step(self.trace.astype(np.int64), s_b, p.dc)

    def update_weights(self, Q) -> None:
        r = FixedRate(self.eta_w_mant.astype(np.int64), int(first(self.eta_w_shift)))
        self.w_b_mant[:] = fixed_sb_weight_update(
            self.w_b_mant.astype(np.int64), np.asarray(Q, np.int64), r
        )


class AbstractPyOutputErrorModel(PyLoihiProcessModel):
    """Count the output spikes of a window; send the error on its last step, else zeros."""

    dtype = np.float64
    labels: np.ndarray = INT
    learn: np.ndarray = INT
    gate_misclassified: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    class_w: np.ndarray = FLOAT  # float class weights (unused in fixed point)
    w_mant: np.ndarray = MANT12  # fixed-point class weights (unused in float)
    w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)

    @report_model_errors
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.n = int(proc_params["shape"][0])
        self.n_classes = int(proc_params["n_classes"])
        self.steps = int(proc_params["steps"])
        self.window = int(proc_params["window"])
        self.first_step = int(proc_params["first_step"])

    def targets(self) -> Targets:
        raise NotImplementedError

    @report_model_errors
    def run_spk(self) -> None:
        s = np.asarray(self.s_in.recv(), self.dtype)
        since = self.time_step - self.first_step
        phase = since % self.window
        e = np.zeros(self.n, self.dtype)
        if since >= 0 and phase < self.steps:
            if phase == 0:
                self.count[:] = 0
            count = np.asarray(self.count, self.dtype) + s
            self.count[:] = count
            b = since // self.window
            if phase == self.steps - 1 and b < self.labels.size:
                y = int(self.labels[b])
                target = population_target(y, self.n, self.targets())
                gate = "misclassified" if int(first(self.gate_misclassified)) else "always"
                e = sample_error(count, target, self.dtype(self.learn[b]), y, self.n_classes,
                                 gate, self.class_weights(), self.dtype is np.int64)  # fmt: skip
        self.e_out.send(e)

    def class_weights(self):
        raise NotImplementedError


@float_model(OutputError)
class PyOutputErrorModelFloat(AbstractPyOutputErrorModel):
    """Float output error: float64 counts and targets."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    count: np.ndarray = FLOAT
    target_on: np.ndarray = FLOAT
    target_off: np.ndarray = FLOAT

    def targets(self) -> Targets:
        on, off = (float(first(t)) for t in (self.target_on, self.target_off))
        return Targets(on, off, self.n_classes)

    def class_weights(self):
        return np.asarray(self.class_w, np.float64)


@fixed_model(OutputError)
class PyOutputErrorModelBitAcc(AbstractPyOutputErrorModel):
    """Integer output error: int64 counts and targets, sent as 24-bit graded spikes."""

    dtype = np.int64
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    target_on: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    target_off: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)

    def targets(self) -> Targets:
        on, off = (int(first(t)) for t in (self.target_on, self.target_off))
        return Targets(on, off, self.n_classes)

    def class_weights(self):
        return FixedClassWeights(np.asarray(self.w_mant, np.int64), int(first(self.w_shift)))
