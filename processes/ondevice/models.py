"""ProcessModels of on-device tuning (floating point and bit-accurate).

The learning layer's models reuse :class:`lava_nt.processes.ntlif.models.AbstractPyNTLIFModel`
(receive, per-sample reset, one spec step, send) and add the rule of
:mod:`lava_nt.spec.learning`: count the eligibility during the sample's ``learn_steps`` steps and
apply the bias update with the error received on ``err_in`` (a no-op when it is zero). The
output-error models count the output spikes and send the error at the end of each window. The
equations are the spec's; these classes only move values between Vars, ports and spec functions.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_nt.lava.run import report_model_errors
from lava_nt.processes.ntlif.models import (
    AbstractPyNTLIFModel,
    PyNTLIFModelBitAcc,
    PyNTLIFModelFloat,
)
from lava_nt.processes.ondevice.process import LearningNTLIF, OutputError
from lava_nt.spec.learning import (
    FixedLearningParameters,
    LearningParameters,
    Targets,
    bias_update,
    eligibility_step,
    fixed_bias_update,
    fixed_threshold,
    output_error,
    population_target,
)


class AbstractPyLearningNTLIFModel(AbstractPyNTLIFModel):
    """NTLIF step plus eligibility counting and the bias update."""

    def counting(self) -> bool:
        """True during the first ``learn_steps`` steps after a per-sample reset."""
        phase = (self.time_step - self.reset_offset) % self.reset_interval
        return phase < int(np.reshape(self.learn_steps, -1)[0])

    def count_eligibility(self, s, v, p) -> None:
        raise NotImplementedError

    def learn(self, l) -> None:
        raise NotImplementedError

    @report_model_errors
    def run_spk(self) -> None:
        a = self.a_in.recv()
        c = self.c_in.recv()
        l = self.err_in.recv()  # noqa: E741 (the rule's symbol)
        if self.reset_due():
            self.u[:] = 0
            self.v[:] = 0
            self.elig[:] = 0
        p = self.parameters()
        s, state = self.step(a, c, p)
        self.u[:] = state.u
        self.v[:] = state.v
        if self.counting():
            self.count_eligibility(s, state.v, p)
        self.learn(l)
        self.s_out.send(s)


@implements(proc=LearningNTLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLearningNTLIFModelFloat(AbstractPyLearningNTLIFModel):
    """Float learning NTLIF: :func:`lava_nt.spec.ntlif.ntlif_step`, then
    :func:`~lava_nt.spec.learning.eligibility_step` and :func:`~lava_nt.spec.learning.bias_update`
    on float64 arrays."""

    precision = "float"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    c_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    err_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    elig: np.ndarray = LavaPyType(np.ndarray, float)
    learn_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    eta: np.ndarray = LavaPyType(np.ndarray, float)
    band: np.ndarray = LavaPyType(np.ndarray, float)
    # fixed-point Vars: unused in this precision
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    gain_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=12)
    eta_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    band_fixed: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    parameters = PyNTLIFModelFloat.parameters
    step = PyNTLIFModelFloat.step

    def _learning(self) -> LearningParameters:
        return LearningParameters(self.eta, float(np.reshape(self.band, -1)[0]))

    def count_eligibility(self, s, v, p) -> None:
        self.elig[:] = eligibility_step(self.elig, s, v, p.vth, self._learning().band)

    def learn(self, l) -> None:
        self.bias[:] = bias_update(self.bias, np.asarray(l, np.float64), self.elig,
                                   self._learning())  # fmt: skip


@implements(proc=LearningNTLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyLearningNTLIFModelBitAcc(AbstractPyLearningNTLIFModel):
    """Bit-accurate learning NTLIF: :func:`lava_nt.spec.fixed.fixed_ntlif_step`, then the
    integer eligibility and :func:`~lava_nt.spec.learning.fixed_bias_update` on int64."""

    precision = "fixed"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    c_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    err_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: int = LavaPyType(int, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    gain_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=12)
    elig: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    learn_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    eta_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    eta_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    band_fixed: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    # floating-point Vars: unused in this precision
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    eta: np.ndarray = LavaPyType(np.ndarray, float)
    band: np.ndarray = LavaPyType(np.ndarray, float)

    parameters = PyNTLIFModelBitAcc.parameters
    step = PyNTLIFModelBitAcc.step

    def _learning(self) -> FixedLearningParameters:
        return FixedLearningParameters(
            self.eta_mant.astype(np.int64),
            int(np.reshape(self.eta_shift, -1)[0]),
            int(np.reshape(self.band_fixed, -1)[0]),
        )

    def count_eligibility(self, s, v, p) -> None:
        elig = eligibility_step(self.elig.astype(np.int64), s, np.asarray(v, np.int64),
                                fixed_threshold(p.vth), self._learning().band)  # fmt: skip
        self.elig[:] = elig

    def learn(self, l) -> None:
        self.bias_mant[:] = fixed_bias_update(
            self.bias_mant.astype(np.int64),
            np.asarray(l, np.int64),
            self.elig.astype(np.int64),
            self._learning(),
        )


class AbstractPyOutputErrorModel(PyLoihiProcessModel):
    """Count the output spikes of a window; send the error on its last step, else zeros."""

    dtype = np.float64

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
                target = population_target(int(self.labels[b]), self.n, self.targets())
                e = output_error(count, target, self.dtype(self.learn[b]))
        self.e_out.send(e)


@implements(proc=OutputError, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyOutputErrorModelFloat(AbstractPyOutputErrorModel):
    """Float output error: float64 counts and targets."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    count: np.ndarray = LavaPyType(np.ndarray, float)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn: np.ndarray = LavaPyType(np.ndarray, np.int32)
    target_on: np.ndarray = LavaPyType(np.ndarray, float)
    target_off: np.ndarray = LavaPyType(np.ndarray, float)

    def targets(self) -> Targets:
        on, off = (float(np.reshape(t, -1)[0]) for t in (self.target_on, self.target_off))
        return Targets(on, off, self.n_classes)


@implements(proc=OutputError, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyOutputErrorModelBitAcc(AbstractPyOutputErrorModel):
    """Integer output error: int64 counts and targets, sent as 24-bit graded spikes."""

    dtype = np.int64
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    e_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    learn: np.ndarray = LavaPyType(np.ndarray, np.int32)
    target_on: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    target_off: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)

    def targets(self) -> Targets:
        on, off = (int(np.reshape(t, -1)[0]) for t in (self.target_on, self.target_off))
        return Targets(on, off, self.n_classes)
