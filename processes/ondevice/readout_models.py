"""ProcessModels of the learning readout (floating point and bit-accurate).

:class:`~lava_nt.processes.ondevice.process.LearningReadout`'s models reuse
:class:`lava_nt.processes.readout.models.AbstractPyReadoutModel` (receive, per-sample reset, one
spec step, send) and add the window's value and, on its last step, the output error (with the
rule's error gate and class weights, :func:`lava_nt.spec.error_gate.sample_error`) and the
readout bias' delta rule (:mod:`lava_nt.spec.learning`, "Readout output"). The equations are the
spec's; these classes only move values between Vars, ports and spec functions.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.lava.run import report_model_errors
from lava_nt.processes._models import first, fixed_model, float_model
from lava_nt.processes.ondevice.process import LearningReadout
from lava_nt.processes.readout.models import (
    AbstractPyReadoutModel,
    PyReadoutModelBitAcc,
    PyReadoutModelFloat,
)
from lava_nt.spec.error_gate import FixedClassWeights, sample_error
from lava_nt.spec.learning import (
    FixedRate,
    Rate,
    Targets,
    fixed_readout_bias_update,
    population_target,
    readout_bias_update,
    readout_value_step,
)


class AbstractPyLearningReadoutModel(AbstractPyReadoutModel):
    """Readout step, the window's value and, on its last step, the error and the bias update:
    receive ``a_in``, reset if due, step, send ``v_out``, then ``e_out`` (zeros off the last
    step)."""

    dtype = np.float64

    def error(self, value, target, learn, y: int):
        raise NotImplementedError

    def gate(self) -> str:
        return "misclassified" if int(first(self.gate_misclassified)) else "always"

    def update_bias(self, e) -> None:
        raise NotImplementedError

    def window_end(self, value):
        """The error of the sample whose window ends now (after its bias update)."""
        b = int(first(self.sample))
        self.sample[:] = b + 1
        if b >= self.labels.size:
            return np.zeros(value.shape, self.dtype)
        tg = Targets(first(self.target_on), first(self.target_off), int(first(self.n_classes)))
        target = population_target(int(self.labels[b]), value.shape[0], tg)
        e = self.error(
            value, target.astype(self.dtype), self.dtype(self.learn[b]), int(self.labels[b])
        )
        self.update_bias(e)
        return e

    @report_model_errors
    def run_spk(self) -> None:
        a = self.a_in.recv()
        self.reset_if_due()
        v, state = self.step(a)
        self.store(state)
        self.v_out.send(v)
        T = int(first(self.learn_steps))
        phase = (self.time_step - self.reset_offset) % self.reset_interval
        e = np.zeros(self.value.shape, self.dtype)
        if phase < T:
            how = "max" if int(first(self.reduce_max)) else "last"
            value = readout_value_step(np.asarray(self.value, self.dtype),
                                       np.asarray(v, self.dtype), phase == 0, how)  # fmt: skip
            self.value[:] = value
            if phase == T - 1:
                e = self.window_end(value)
        self.e_out.send(e)


@float_model(LearningReadout)
class PyLearningReadoutModelFloat(AbstractPyLearningReadoutModel):
    """Float: :func:`~lava_nt.spec.error_gate.sample_error` (the gate and weights) and
    :func:`~lava_nt.spec.learning.readout_bias_update` on float64 arrays."""

    precision = "float"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    value: np.ndarray = LavaPyType(np.ndarray, float)
    target_on: np.ndarray = LavaPyType(np.ndarray, float)
    target_off: np.ndarray = LavaPyType(np.ndarray, float)
    eta: np.ndarray = LavaPyType(np.ndarray, float)
    sample: np.ndarray = LavaPyType(np.ndarray, np.int32)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn: np.ndarray = LavaPyType(np.ndarray, np.int32)
    n_classes: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    reduce_max: np.ndarray = LavaPyType(np.ndarray, np.int32)
    # fixed-point Vars: unused in this precision
    i_decay: int = LavaPyType(int, np.uint16, precision=13)
    v_decay: int = LavaPyType(int, np.uint16, precision=13)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    eta_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    error_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    w_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    gate_misclassified: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    class_w: np.ndarray = LavaPyType(np.ndarray, float)

    step = PyReadoutModelFloat.step

    def error(self, value, target, learn, y: int):
        return sample_error(value, target, learn, y, int(first(self.n_classes)), self.gate(),
                            np.asarray(self.class_w, np.float64))  # fmt: skip

    def update_bias(self, e) -> None:
        self.bias[:] = readout_bias_update(self.bias, e, Rate(self.eta))


@fixed_model(LearningReadout)
class PyLearningReadoutModelBitAcc(AbstractPyLearningReadoutModel):
    """Bit-accurate: :func:`~lava_nt.spec.error_gate.sample_error` (24-bit, shift ``err_shift +
    w_shift``) and
    :func:`~lava_nt.spec.learning.fixed_readout_bias_update` (13-bit ``bias_mant``) on int64."""

    precision = "fixed"
    dtype = np.int64
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    i_decay: int = LavaPyType(int, np.uint16, precision=13)
    v_decay: int = LavaPyType(int, np.uint16, precision=13)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    value: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    target_on: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    target_off: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    eta_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    sample: np.ndarray = LavaPyType(np.ndarray, np.int32)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn: np.ndarray = LavaPyType(np.ndarray, np.int32)
    n_classes: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    reduce_max: np.ndarray = LavaPyType(np.ndarray, np.int32)
    error_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    gate_misclassified: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    w_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    # floating-point Vars: unused in this precision
    class_w: np.ndarray = LavaPyType(np.ndarray, float)
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    eta: np.ndarray = LavaPyType(np.ndarray, float)

    step = PyReadoutModelBitAcc.step

    def error(self, value, target, learn, y: int):
        cw = FixedClassWeights(np.asarray(self.w_mant, np.int64), int(first(self.w_shift)))
        return sample_error(value, target, learn, y, int(first(self.n_classes)), self.gate(), cw,
                            True, int(first(self.error_shift)))  # fmt: skip

    def update_bias(self, e) -> None:
        r = FixedRate(self.eta_mant.astype(np.int64), int(first(self.eta_shift)))
        self.bias_mant[:] = fixed_readout_bias_update(self.bias_mant.astype(np.int64), e, r)
