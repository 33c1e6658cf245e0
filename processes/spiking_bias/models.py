"""ProcessModels of :class:`lava_nt.processes.spiking_bias.process.SpikingBias`.

Both share :class:`AbstractPySpikingBiasModel` (receive, optional per-sample reset, one spec step,
send the fanned-out current and the bias spikes) and differ only in LavaPyTypes and in the spec
step they call: :func:`lava_nt.spec.spiking_bias.spiking_bias_step` or
:func:`lava_nt.spec.fixed.fixed_spiking_bias_step`. The learning spiking bias' models
(:mod:`lava_nt.processes.ondevice.models`) subclass these and fill in the empty ``after_step``.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.lava.run import report_model_errors
from lava_nt.processes._models import AbstractPyResetModel, first, fixed_model, float_model
from lava_nt.processes.spiking_bias.process import SpikingBias
from lava_nt.spec.fixed import (
    FixedSpikingBiasParameters,
    FixedSpikingBiasState,
    fixed_spiking_bias_step,
)
from lava_nt.spec.spiking_bias import SpikingBiasParameters, SpikingBiasState, spiking_bias_step


class AbstractPySpikingBiasModel(AbstractPyResetModel):
    """Common structure: recv ``a_in``, reset if due, spec step, send ``c_out`` and ``s_out``."""

    state_vars = ("u", "v", "C")

    def parameters(self):
        raise NotImplementedError

    def step(self, a, p):
        raise NotImplementedError

    def after_step(self, s_b, p) -> None:
        """Nothing here; a learning model (:mod:`lava_nt.processes.ondevice.models`) learns from
        the step's bias spikes ``s_b`` and parameters ``p``."""

    @report_model_errors
    def run_spk(self) -> None:
        a = self.a_in.recv()
        self.reset_if_due()
        p = self.parameters()
        c, s_b, state = self.step(a, p)
        self.store(state)
        self.c_out.send(c)
        self.s_out.send(s_b)
        self.after_step(s_b, p)


@float_model(SpikingBias)
class PySpikingBiasModelFloat(AbstractPySpikingBiasModel):
    """Floating point: :func:`lava_nt.spec.spiking_bias.spiking_bias_step` on float64 arrays."""

    precision = "float"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    c_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    C: np.ndarray = LavaPyType(np.ndarray, float)
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    vth: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    w_b: np.ndarray = LavaPyType(np.ndarray, float)
    c_retention: np.ndarray = LavaPyType(np.ndarray, float)
    group: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    # fixed-point Vars: unused in this precision
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    w_b_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    w_b_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    dc: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)

    def parameters(self) -> SpikingBiasParameters:
        return SpikingBiasParameters(
            float(first(self.du)),
            float(first(self.dv)),
            float(first(self.vth)),
            self.bias,
            self.w_b,
            self.c_retention,
            self.group,
        )

    def step(self, a, p):
        return spiking_bias_step(a, SpikingBiasState(self.u, self.v, self.C), p)


@fixed_model(SpikingBias)
class PySpikingBiasModelBitAcc(AbstractPySpikingBiasModel):
    """Bit-accurate: :func:`lava_nt.spec.fixed.fixed_spiking_bias_step` on int64 arrays (24-bit
    u, v and C; 12-bit decays; 17-bit vth; 13-bit bias and bias-weight mantissas, 3-bit exps)."""

    precision = "fixed"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    c_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    C: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: int = LavaPyType(int, np.uint16, precision=12)
    dv: int = LavaPyType(int, np.uint16, precision=12)
    vth: int = LavaPyType(int, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    w_b_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    w_b_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    dc: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    group: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    # floating-point Vars: unused in this precision
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    w_b: np.ndarray = LavaPyType(np.ndarray, float)
    c_retention: np.ndarray = LavaPyType(np.ndarray, float)

    def parameters(self) -> FixedSpikingBiasParameters:
        return FixedSpikingBiasParameters(
            int(first(self.du)),
            int(first(self.dv)),
            int(first(self.vth)),
            self.bias_mant.astype(np.int64),
            self.bias_exp.astype(np.int64),
            self.w_b_mant.astype(np.int64),
            self.w_b_exp.astype(np.int64),
            self.dc.astype(np.int64),
            self.group.astype(np.int64),
        )

    def step(self, a, p):
        return fixed_spiking_bias_step(
            np.asarray(a, np.int64), FixedSpikingBiasState(self.u, self.v, self.C), p
        )
