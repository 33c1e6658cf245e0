"""ProcessModels of the learning readout (floating point and bit-accurate).

:class:`~lava_nt.processes.ondevice.process.LearningReadout`'s models subclass the readout models
of their precision (:mod:`lava_nt.processes.readout.models`: LavaPyTypes, receive, per-sample
reset, one spec step, send) and add only their registers and ``after_step``: the window's value
and, on its last step, the output error (with the rule's error gate and class weights,
:func:`lava_nt.spec.error_gate.sample_error`) and the readout bias' delta rule
(:mod:`lava_nt.spec.learning`, "Readout output"). The equations are the spec's; these classes
only move values between Vars, ports and spec functions.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.processes._models import FLOAT, INT, MANT12, first, fixed_model, float_model
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
    """After the readout step and ``v_out``: the window's value and, on its last step, the error
    and the bias update; sends ``e_out`` (zeros off the last step)."""

    dtype = np.float64
    sample: np.ndarray = INT
    labels: np.ndarray = INT
    learn: np.ndarray = INT
    n_classes: np.ndarray = INT
    learn_steps: np.ndarray = INT
    reduce_max: np.ndarray = INT
    gate_misclassified: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    # the float rule's registers (unused in fixed point)
    eta: np.ndarray = FLOAT
    class_w: np.ndarray = FLOAT
    # the fixed-point rule's registers (unused in float)
    eta_mant: np.ndarray = MANT12
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    error_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    w_mant: np.ndarray = MANT12
    w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)

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

    def after_step(self, v) -> None:
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
class PyLearningReadoutModelFloat(AbstractPyLearningReadoutModel, PyReadoutModelFloat):
    """Float: :func:`~lava_nt.spec.error_gate.sample_error` (the gate and weights) and
    :func:`~lava_nt.spec.learning.readout_bias_update` on float64 arrays."""

    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    value: np.ndarray = FLOAT
    target_on: np.ndarray = FLOAT
    target_off: np.ndarray = FLOAT

    def error(self, value, target, learn, y: int):
        return sample_error(value, target, learn, y, int(first(self.n_classes)), self.gate(),
                            np.asarray(self.class_w, np.float64))  # fmt: skip

    def update_bias(self, e) -> None:
        self.bias[:] = readout_bias_update(self.bias, e, Rate(self.eta))


@fixed_model(LearningReadout)
class PyLearningReadoutModelBitAcc(AbstractPyLearningReadoutModel, PyReadoutModelBitAcc):
    """Bit-accurate: :func:`~lava_nt.spec.error_gate.sample_error` (24-bit, shift ``err_shift +
    w_shift``) and
    :func:`~lava_nt.spec.learning.fixed_readout_bias_update` (13-bit ``bias_mant``) on int64."""

    dtype = np.int64
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    value: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    target_on: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    target_off: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def error(self, value, target, learn, y: int):
        cw = FixedClassWeights(np.asarray(self.w_mant, np.int64), int(first(self.w_shift)))
        return sample_error(value, target, learn, y, int(first(self.n_classes)), self.gate(),
                            cw, True, int(first(self.error_shift)))  # fmt: skip

    def update_bias(self, e) -> None:
        r = FixedRate(self.eta_mant.astype(np.int64), int(first(self.eta_shift)))
        self.bias_mant[:] = fixed_readout_bias_update(self.bias_mant.astype(np.int64), e, r)
